/* SPDX-License-Identifier: MIT */
/*
 * kernel.h - what the example kernel's files share: the virtual layout, the
 * serial console, the boot page tables, exiting qemu, and the self-test.
 *
 * Layout (x86_64, 4-level paging):
 *   0 .. 1 GiB                identity map (2 MiB pages, boot.S): the kernel
 *                             image at 1 MiB, its stack, the boot allocations
 *   DIRECT_MAP_BASE + p       physical address p, for all RAM the memory
 *                             map reports (2 MiB pages, paging.c)
 *   VMALLOC_START .. +64 MiB  vmalloc's range: 4 KiB PTEs written by
 *                             kmem_pl_map into page tables reserved at boot
 */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIRECT_MAP_BASE 0xffff888000000000ul
#define VMALLOC_START   0xffffc90000000000ul
#define VMALLOC_SIZE    (64ul << 20)
#define IDENTITY_LIMIT  (1ul << 30) /* what boot.S maps 1:1 */

/* Values written to the isa-debug-exit port; qemu exits with (v << 1) | 1. */
enum exit_code {
    EXIT_PASS = 0x10,      /* status 33: the self-test passed */
    EXIT_FAIL = 0x11,      /* status 35: a self-test step failed */
    EXIT_PANIC = 0x12,     /* status 37: kmem_pl_panic */
    EXIT_EXCEPTION = 0x13, /* status 39: a CPU exception */
    EXIT_BOOT = 0x14,      /* status 41: bad multiboot data, no memory */
};

/* serial.c: COM1, polled. */
void serial_init(void);
void serial_write(const char *s, size_t len);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* platform.c: the memory functions the core (and gcc) call, ... */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
/* ... leaving qemu, and the exception handlers. */
_Noreturn void qemu_exit(enum exit_code code);
_Noreturn void kernel_fail(enum exit_code code, const char *why);
void idt_init(void);

/* paging.c */
struct boot_range {
    uint64_t start, end; /* physical, [start, end) */
    const char *what;
};
/* The boot allocator: page-aligned, zeroed memory carved upwards from *next,
 * which must stay inside the identity map and the available RAM. */
struct boot_carve {
    uint64_t next;
    uint64_t limit;
};
void *carve_pages(struct boot_carve *carve, size_t bytes);
/* Build the direct map over the available RAM of the map (2 MiB pages), and
 * the page tables of the vmalloc range (every PT, none of its PTEs set). */
void paging_map_direct(struct boot_carve *carve, const struct boot_range *ram, unsigned int nr);
void paging_map_vmalloc(struct boot_carve *carve);
/* The vmalloc range's PTEs: one per 4 KiB page, contiguous. */
uint64_t *vmalloc_ptes(void);

/* kernel.c: reports on the serial port. */
void print_zones(const char *tag);                                  /* "tag: name=DMA ..." */
void print_block(const char *name, size_t (*text)(char *, size_t)); /* --- name --- */
unsigned long slab_pages(void); /* pages held by every cache's slabs */

/* selftest.c: 0 when every step passed. */
int selftest_run(void);

#endif /* KERNEL_KERNEL_H */
