/* SPDX-License-Identifier: MIT */
/*
 * sizes.c - the sizes of the core's per-machine and per-CPU structures as
 * this build lays them out (x86_64 or i686, KMEM_NR_CPUS, KMEM_CPU_SLOTS):
 * the numbers docs/PORTING.md quotes. It reads the core's internal headers,
 * which the self-test proper (selftest.c) does not: that one uses only the
 * public interface, as a kernel does.
 */
#include "../../src/core/page_frame.h"
#include "../../src/core/pcp.h"
#include "../../src/core/slab.h"
#include "../../src/core/zone.h"
#include "kfs.h"

/* The memmap's 32 bytes a frame hold on every machine (page_frame.h pads
 * the 20 bytes of a 32-bit struct page). */
KMEM_STATIC_ASSERT(sizeof(struct page) == 32, "32 bytes of memmap a frame");

static void line(const char *what, unsigned long bytes)
{
    kfs_puts("freestanding: sizeof ");
    kfs_puts(what);
    kfs_puts(" = ");
    kfs_putu(bytes);
    kfs_puts("\n");
}

void kfs_print_sizes(void)
{
    line("(void *)", sizeof(void *));
    line("struct page", sizeof(struct page));
    line("struct kmem_cpu (one CPU's area)", sizeof(struct kmem_cpu));
    line("kmem_cpu_area (KMEM_NR_CPUS areas)", sizeof kmem_cpu_area);
    line("struct kmem_cpu_cache (one slot)", sizeof(struct kmem_cpu_cache));
    line("struct kmem_cache", sizeof(struct kmem_cache));
    line("struct zone", sizeof(struct zone));
    kfs_puts("freestanding: KMEM_NR_CPUS = ");
    kfs_putu(KMEM_NR_CPUS);
    kfs_puts(", KMEM_CPU_SLOTS = ");
    kfs_putu(KMEM_CPU_SLOTS);
    kfs_puts("\n");
}
