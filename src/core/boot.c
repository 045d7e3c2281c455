/* SPDX-License-Identifier: MIT */
/*
 * boot.c - bringing the page allocator up over a machine description, and
 * down again.
 *
 * kmem_boot walks the memmap once: every frame starts RESERVED, frames of the
 * RAM regions become managed, the zones' spans are set (DMA below 16 MiB,
 * Normal above), and each region is given to its zone's free lists as
 * maximal aligned blocks. The struct page array must lie outside the RAM it
 * describes (the hosted build maps it separately; a kernel reserves it).
 * A memmap the host says is zero-filled (memmap_zeroed) is not walked: an
 * all-zero struct page is already a tail page, so only the holes are
 * written, and a block's head when the buddy system makes it one (the zone
 * of a page is kept on heads only: free_area_add writes it).
 */
#include <kmem/fault.h>
#include <kmem/init.h>

#include "../internal/report.h"
#include "../internal/sanitize.h"
#include "pcp.h"
#include "shrinker.h"
#include "slab.h"
#include "vmalloc.h"
#include "watermark.h"

enum { ERR_INVAL = 22, ERR_BUSY = 16 };

static const char *const zone_names[KMEM_NR_ZONES] = {"DMA", "Normal"};

static bool desc_valid(const struct kmem_machine_desc *desc, unsigned long *nr_pfns,
                       unsigned long *max_pfns)
{
    if (!desc || !desc->direct_map || !desc->memmap || !desc->ram || desc->nr_ram == 0)
        return false;
    if ((uintptr_t)desc->memmap % 16 != 0 || (uintptr_t)desc->direct_map % PAGE_SIZE != 0)
        return false;
    phys_addr_t prev_end = 0;
    for (unsigned int i = 0; i < desc->nr_ram; i++) {
        const struct kmem_region *r = &desc->ram[i];
        if (r->size == 0 || r->base + r->size < r->base || r->base < prev_end)
            return false; /* empty, wrapping, unsorted or overlapping */
        prev_end = r->base + r->size;
    }
    *nr_pfns = (unsigned long)(prev_end >> PAGE_SHIFT);
    if (desc->phys_limit && (desc->phys_limit < prev_end || desc->phys_limit & ~PAGE_MASK))
        return false;
    /* The direct map must reach every byte described: with 32-bit pointers
     * (or a direct map placed high) RAM beyond it cannot be handed out. */
    phys_addr_t covered = desc->phys_limit ? desc->phys_limit : prev_end;
    if (covered - 1 > (phys_addr_t)(UINTPTR_MAX - (uintptr_t)desc->direct_map))
        return false;
    *max_pfns = desc->phys_limit ? (unsigned long)(desc->phys_limit >> PAGE_SHIFT) : *nr_pfns;
    return *nr_pfns != 0;
}

static void zones_init(unsigned long nr_pfns)
{
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        struct zone *z = &kmem_zones[zi];
        kmem_memset(z, 0, sizeof *z);
        kmem_mutex_init(&z->z_lock);
        z->z_name = zone_names[zi];
        for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
            list_init(&z->z_free_area[o].fa_list);
            list_init(&z->z_free_area[o].fa_clean);
        }
    }
    unsigned long dma_end = nr_pfns < DMA_ZONE_END_PFN ? nr_pfns : DMA_ZONE_END_PFN;
    kmem_zones[KMEM_ZONE_DMA].z_start_pfn = 0;
    kmem_zones[KMEM_ZONE_DMA].z_end_pfn = dma_end;
    kmem_zones[KMEM_ZONE_NORMAL].z_start_pfn = dma_end;
    kmem_zones[KMEM_ZONE_NORMAL].z_end_pfn = nr_pfns;
}

void kmem_memmap_init(unsigned long start_pfn, unsigned long end_pfn)
{
    for (unsigned long pfn = start_pfn; pfn < end_pfn; pfn++) {
        struct page *page = pf_pfn_to_page(pfn);
        kmem_memset(page, 0, sizeof *page);
        page->pg_state = PS_RESERVED;
        page->pg_zone = pfn < DMA_ZONE_END_PFN ? KMEM_ZONE_DMA : KMEM_ZONE_NORMAL;
    }
}

/* Give the whole frames of [base, base + size) to their zones (at boot, or
 * with the zone locks held when memory is added). */
void kmem_region_give(const struct kmem_region *r)
{
    /* An ASan build may map new RAM where an earlier machine's poisoned
     * objects were: it starts unpoisoned. */
    kmem_san_access(kmem_frames.fr_direct + r->base, r->size);
    unsigned long start = (unsigned long)((r->base + PAGE_SIZE - 1) >> PAGE_SHIFT);
    unsigned long end = (unsigned long)((r->base + r->size) >> PAGE_SHIFT);
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        struct zone *z = &kmem_zones[zi];
        unsigned long s = start > z->z_start_pfn ? start : z->z_start_pfn;
        unsigned long e = zone_pfn_end_clamp(end, z);
        if (s >= e)
            continue;
        if (!kmem_frames.fr_memmap_zeroed)
            for (unsigned long pfn = s; pfn < e; pfn++)
                pf_pfn_to_page(pfn)->pg_state = PS_TAIL;
        z->z_give_clean = true; /* the host has not backed it yet */
        buddy_give_range_locked(z, s, e);
        z->z_give_clean = false;
        __atomic_store_n(&z->z_managed_pages, z->z_managed_pages + (e - s), __ATOMIC_RELAXED);
    }
}

int kmem_boot(const struct kmem_machine_desc *desc)
{
    unsigned long nr_pfns, max_pfns;
    if (kmem_frames.fr_up)
        return -ERR_BUSY;
    if (!desc_valid(desc, &nr_pfns, &max_pfns) || !kmem_vmalloc_boot(desc, max_pfns))
        return -ERR_INVAL;
    kmem_frames.fr_direct = desc->direct_map;
    kmem_frames.fr_memmap = desc->memmap;
    kmem_frames.fr_nr_pfns = nr_pfns;
    kmem_frames.fr_max_pfns = max_pfns;
    kmem_frames.fr_memmap_zeroed = desc->memmap_zeroed;
    if (desc->memmap_zeroed) {
        /* Only what lies outside the regions' whole pages is not a tail. */
        unsigned long next = 0;
        for (unsigned int i = 0; i < desc->nr_ram; i++) {
            const struct kmem_region *r = &desc->ram[i];
            unsigned long start = (unsigned long)((r->base + PAGE_SIZE - 1) >> PAGE_SHIFT);
            unsigned long end = (unsigned long)((r->base + r->size) >> PAGE_SHIFT);
            if (start >= end)
                continue; /* no whole page: all of it is a hole */
            kmem_memmap_init(next, start);
            next = end;
        }
        kmem_memmap_init(next, nr_pfns);
    } else {
        kmem_memmap_init(0, nr_pfns);
    }
    zones_init(nr_pfns);
    for (unsigned int i = 0; i < desc->nr_ram; i++)
        kmem_region_give(&desc->ram[i]);
    zone_watermarks_init();
    bool any = false;
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        pcp_zone_init(&kmem_zones[zi]);
        any |= zone_populated(&kmem_zones[zi]);
    }
    if (!any)
        return -ERR_INVAL; /* no whole page in any region */
    kmem_kernel_zone =
        zone_populated(&kmem_zones[KMEM_ZONE_NORMAL]) ? KMEM_ZONE_NORMAL : KMEM_ZONE_DMA;
    __atomic_store_n(&kmem_frames.fr_up, true, __ATOMIC_RELEASE);
    kmem_shrinker_boot();
    kmem_slab_boot(desc->random_seed);
    kmem_kmalloc_boot();
    return 0;
}

void kmem_shutdown(void)
{
    if (!kmem_frames.fr_up)
        return;
    kmem_vmalloc_shutdown(); /* no mapping outlives the machine */
    kmem_slab_shutdown();
    drain_all_pages();
    pcp_reset_all();
    __atomic_store_n(&kmem_frames.fr_up, false, __ATOMIC_RELEASE);
    kmem_memset(kmem_zones, 0, sizeof kmem_zones);
    kmem_frames.fr_memmap = NULL;
    kmem_frames.fr_nr_pfns = 0;
    kmem_frames.fr_max_pfns = 0;
    kmem_frames.fr_memmap_zeroed = false;
    kmem_grow_handler = NULL;
    kmem_set_discard_handler(NULL);
    kmem_fail_set(KMEM_FAIL_PAGES, NULL);
    kmem_fail_set(KMEM_FAIL_SLAB, NULL);
}

bool kmem_is_up(void)
{
    return __atomic_load_n(&kmem_frames.fr_up, __ATOMIC_ACQUIRE);
}
