/* SPDX-License-Identifier: MIT */
/*
 * kfs.h - the freestanding test's own little "kernel": what stubs.c offers
 * selftest.c. No C library header anywhere in this directory.
 */
#ifndef KFS_H
#define KFS_H

#include <stddef.h>

/* The memory functions every freestanding C environment provides (stubs.c);
 * there is no <string.h> here. */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Raw system calls (x86_64 or i386 Linux). */
void kfs_write(int fd, const char *text, size_t len);
_Noreturn void kfs_exit(int status);

/* Output helpers for the self-test (stdout). */
void kfs_puts(const char *s);
void kfs_putu(unsigned long v);

/* What the hooks saw. */
extern unsigned int kfs_attach_calls; /* kmem_pl_cpu_attach */
extern unsigned int kfs_write_calls;  /* kmem_pl_write */
extern unsigned int kfs_map_calls;    /* kmem_pl_map */
extern unsigned int kfs_unmap_calls;  /* kmem_pl_unmap */

/* Back [ram, ram + ram_bytes) (page-aligned, not used yet) with a memfd
 * mapped MAP_SHARED over it, and reserve a vmalloc range of vmalloc_bytes.
 * Returns the range, or 0 if the host refused (then there is no vmalloc:
 * kmem_pl_map fails). */
void *kfs_machine_setup(void *ram, size_t ram_bytes, size_t vmalloc_bytes);

/* Print the sizes of the core's structures (sizes.c). */
void kfs_print_sizes(void);

/* The status kmem_pl_panic exits with. */
#define KFS_PANIC_STATUS 99

/* The self-test; argv[1] "panic" makes it misuse kmem on purpose. */
int kfs_main(int argc, char **argv);

/* Called by _start with the initial stack pointer. */
int kfs_start(long *sp);

#endif /* KFS_H */
