/* SPDX-License-Identifier: MIT */
/*
 * multiboot.h - the parts of the Multiboot 1 specification this kernel uses:
 * the magic values, the information structure a boot loader (here qemu's
 * -kernel loader) leaves in memory, and its memory map entries.
 *
 * Only the fields up to the memory map are declared: the kernel reads
 * nothing beyond them, and reserves exactly sizeof(struct multiboot_info).
 */
#ifndef KERNEL_MULTIBOOT_H
#define KERNEL_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_HEADER_MAGIC     0x1BADB002u
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

/* Bits of multiboot_info.flags saying which fields are valid. */
#define MULTIBOOT_INFO_MEMORY  (1u << 0) /* mem_lower, mem_upper */
#define MULTIBOOT_INFO_CMDLINE (1u << 2) /* cmdline */
#define MULTIBOOT_INFO_MMAP    (1u << 6) /* mmap_length, mmap_addr */

#define MULTIBOOT_MEMORY_AVAILABLE 1u

struct multiboot_info {
    uint32_t flags;
    uint32_t mem_lower; /* KiB below 1 MiB */
    uint32_t mem_upper; /* KiB above 1 MiB, up to the first hole */
    uint32_t boot_device;
    uint32_t cmdline; /* physical address of a NUL-terminated string */
    uint32_t mods_count;
    uint32_t mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length; /* bytes of the memory map buffer */
    uint32_t mmap_addr;   /* its physical address */
} __attribute__((packed));

/* One memory map entry; `size` does not count itself, so the next entry is
 * at (char *)entry + size + 4. */
struct multiboot_mmap_entry {
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
} __attribute__((packed));

#endif /* KERNEL_MULTIBOOT_H */
