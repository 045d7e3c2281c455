/* SPDX-License-Identifier: MIT */
/*
 * hotplug.c - adding memory to a running machine (Linux's add_memory and
 * online_pages, mm/memory_hotplug.c), and the hook through which the page
 * allocator asks its host for more.
 *
 * A machine may be described with a phys_limit above its RAM: the memmap and
 * the direct map cover [0, phys_limit), but only the RAM regions are frames
 * at boot. kmem_memory_add appends a range above the last frame:
 *
 *   1. under hotplug_lock (one adder at a time), the new frames' struct pages
 *      are initialized (RESERVED, their zone) while nothing can reach them;
 *   2. with both zone locks held (DMA, then Normal: zone index order), the
 *      zones' spans are extended, fr_nr_pfns is published (release), and the
 *      frames are given to the buddy lists as maximal aligned blocks, merging
 *      with a free block they complete.
 *
 * Only then can a frame of the new range be handed out, under a zone lock,
 * so every reader of a new struct page finds it initialized. Readers that
 * test an address against fr_nr_pfns without a lock (kfree's "is it ours")
 * may see the old bound for a moment, but they are only ever asked about
 * memory the buddy system handed out after the store.
 *
 * The watermarks stay as sized at boot (Linux recomputes them on hotplug):
 * their reserve exists for atomic requests, and a host that grows memory on
 * demand is asked before the reserve is touched.
 *
 * Invariants: H1. fr_nr_pfns <= fr_max_pfns, and every struct page below
 * fr_nr_pfns is initialized; H2. zone spans tile [0, fr_nr_pfns) (DMA below
 * 16 MiB, Normal above), so kmem_page_check's B1-B3 hold as after boot.
 *
 * Lock order: hotplug_lock -> zone locks (DMA -> Normal). The grow handler
 * runs with no kmem lock held.
 */
#include <kmem/init.h>

#include "fork.h"
#include "../internal/report.h"
#include "watermark.h"
#include "zone.h"

enum { ERR_NODEV = 19, ERR_INVAL = 22 };

static struct kmem_mutex hotplug_lock;
kmem_grow_fn kmem_grow_handler;

kmem_grow_fn kmem_set_grow_handler(kmem_grow_fn fn)
{
    return __atomic_exchange_n(&kmem_grow_handler, fn, __ATOMIC_ACQ_REL);
}

bool kmem_grow(unsigned long pages)
{
    kmem_grow_fn fn = __atomic_load_n(&kmem_grow_handler, __ATOMIC_ACQUIRE);
    return fn && fn(pages);
}

int kmem_memory_add(phys_addr_t base, size_t size)
{
    if (!kmem_is_up())
        return -ERR_NODEV;
    unsigned long start = (unsigned long)((base + PAGE_SIZE - 1) >> PAGE_SHIFT);
    unsigned long end = (unsigned long)((base + size) >> PAGE_SHIFT);
    if (base + size < base || start >= end)
        return -ERR_INVAL;
    kmem_mutex_lock(&hotplug_lock);
    unsigned long old_end = kmem_frames.fr_nr_pfns;
    if (start < old_end || end > kmem_frames.fr_max_pfns) {
        kmem_mutex_unlock(&hotplug_lock);
        return -ERR_INVAL;
    }
    /* A hole before start stays RESERVED; a zeroed memmap's new frames are
     * tails already. */
    kmem_memmap_init(old_end, kmem_frames.fr_memmap_zeroed ? start : end);

    struct zone *dma = &kmem_zones[KMEM_ZONE_DMA], *normal = &kmem_zones[KMEM_ZONE_NORMAL];
    kmem_mutex_lock(&dma->z_lock);
    kmem_mutex_lock(&normal->z_lock);
    unsigned long dma_end = end < DMA_ZONE_END_PFN ? end : DMA_ZONE_END_PFN;
    if (dma_end > dma->z_end_pfn)
        dma->z_end_pfn = dma_end;
    if (normal->z_start_pfn < dma->z_end_pfn)
        normal->z_start_pfn = dma->z_end_pfn; /* Normal was empty: it starts at 16 MiB */
    if (end > normal->z_end_pfn && end > DMA_ZONE_END_PFN)
        normal->z_end_pfn = end;
    if (normal->z_end_pfn < normal->z_start_pfn)
        normal->z_end_pfn = normal->z_start_pfn;
    __atomic_store_n(&kmem_frames.fr_nr_pfns, end, __ATOMIC_RELEASE);
    struct kmem_region r = {.base = (phys_addr_t)start << PAGE_SHIFT,
                            .size = (phys_addr_t)(end - start) << PAGE_SHIFT};
    kmem_region_give(&r);
    kmem_mutex_unlock(&normal->z_lock);
    kmem_mutex_unlock(&dma->z_lock);
    kmem_mutex_unlock(&hotplug_lock);
    kmem_pages_freed(); /* wake __GFP_NOFAIL waiters: there is memory */
    return 0;
}

void kmem_hotplug_fork_lock(bool lock)
{
    if (lock)
        kmem_mutex_lock(&hotplug_lock);
    else
        kmem_mutex_unlock(&hotplug_lock);
}
