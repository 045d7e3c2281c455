/* SPDX-License-Identifier: MIT */
/*
 * zone.h - zones and their buddy free lists (see buddy.c for the algorithm).
 *
 * Functions ending in _locked expect the zone's z_lock to be held.
 */
#ifndef KMEM_ZONE_H
#define KMEM_ZONE_H

#include <kmem/info.h>

#include "../internal/lock.h"
#include "page_frame.h"

#define DMA_ZONE_END_PFN ((16UL << 20) >> PAGE_SHIFT) /* physical < 16 MiB */

/* Free blocks of one order. Those the host may still back in part ("dirty":
 * touched since the host last dropped them) are on fa_list, newest first;
 * those it has dropped entirely ("clean", discard.c; orders >=
 * DISCARD_MIN_ORDER only) on fa_clean. A free head's pg_private counts its
 * dirty frames. */
struct free_area {
    struct list_head fa_list;  /* heads of dirty free blocks, LIFO */
    struct list_head fa_clean; /* heads of clean free blocks, LIFO */
    unsigned long fa_nr_free;  /* blocks on both lists */
    unsigned long fa_nr_clean; /* of which on fa_clean */
};

/* Free blocks below this order (64 KiB) are never given back to the host:
 * their memory lies among allocated pages, and a call per 4 KiB page would
 * cost more than the memory is worth. */
#define DISCARD_MIN_ORDER 4
/* The least high mark of dirty free frames (discard.c): below it no zone
 * discards, so the buddy paths need not ask. */
#define DISCARD_MIN_PAGES ((4UL << 20) >> PAGE_SHIFT)

enum zone_watermark { WMARK_MIN, WMARK_LOW, WMARK_HIGH, NR_WMARK };

struct zone {
    struct kmem_mutex z_lock;   /* protects everything below that changes */
    unsigned long z_free_pages; /* frames in blocks on the free lists */
    /* Frames an allocation must leave free (watermark.c; fixed after boot):
     * min for ordinary requests, low and high for reclaim's targets, and
     * lowmem_reserve[z] more when a request that could have used the higher
     * zone z falls back to this one (Linux's lowmem protection). */
    unsigned long z_watermark[NR_WMARK];
    unsigned long z_lowmem_reserve[KMEM_NR_ZONES];
    struct free_area z_free_area[NR_PAGE_ORDERS];
    unsigned long z_start_pfn; /* span [start, end); holes are RESERVED */
    unsigned long z_end_pfn;
    unsigned long z_managed_pages; /* frames the buddy system owns (grows
                                      only when memory is added) */
    /* Giving memory back (discard.c): z_dirty_pages sums the dirty frames of
     * the free blocks of orders >= DISCARD_MIN_ORDER. */
    unsigned long z_dirty_pages;
    unsigned long z_discarding; /* frames off the lists being discarded */
    bool z_give_clean;          /* boot and hotplug: new blocks are clean */
    unsigned int z_pcp_batch;   /* frames moved per per-CPU refill/drain */
    unsigned int z_pcp_high;    /* frames a per-CPU list may hold; 0: none */
    const char *z_name;
} KMEM_CACHE_ALIGNED;

extern KMEM_HIDDEN struct zone kmem_zones[KMEM_NR_ZONES];

/* The zone GFP_KERNEL tries first: Normal when populated, else DMA. */
extern KMEM_HIDDEN uint8_t kmem_kernel_zone;

/* Relaxed: memory added at run time (hotplug.c) grows z_managed_pages. */
static inline bool zone_populated(const struct zone *z)
{
    return __atomic_load_n(&z->z_managed_pages, __ATOMIC_RELAXED) != 0;
}

static inline unsigned long zone_pfn_end_clamp(unsigned long pfn, const struct zone *z)
{
    return pfn < z->z_end_pfn ? pfn : z->z_end_pfn;
}

/* Take a free block of exactly this order, splitting a larger one if needed
 * (the lower half is kept, the upper halves go back on the free lists).
 * The head is returned with state still PS_FREE for the caller to set; NULL
 * if no block of this order or larger is free. */
struct page *buddy_take_locked(struct zone *z, unsigned int order);

/* Return the block [pfn, pfn + 2^order) to the free lists, merging it with its
 * buddy while that is free and of the same order. */
void buddy_give_locked(struct zone *z, unsigned long pfn, unsigned int order);
/* The same for a block whose memory the host has dropped (discard.c): it
 * counts no dirty frames, so the merged block counts only its parts'. */
void buddy_give_clean_locked(struct zone *z, unsigned long pfn, unsigned int order);

/* Give the frames [start, end) to the free lists as maximal aligned blocks. */
void buddy_give_range_locked(struct zone *z, unsigned long start, unsigned long end);

/* Atomic accessors for the state byte: the owner of a block changes its
 * head's state (ALLOC <-> PCP) under its CPU lock while the buddy code of
 * another CPU may read it under the zone lock to decide a merge. */
static KMEM_ALWAYS_INLINE void page_set_state(struct page *page, enum page_state s)
{
    __atomic_store_n(&page->pg_state, (uint8_t)s, __ATOMIC_RELAXED);
}

static KMEM_ALWAYS_INLINE enum page_state page_state(const struct page *page)
{
    return (enum page_state)__atomic_load_n(&page->pg_state, __ATOMIC_RELAXED);
}

static KMEM_ALWAYS_INLINE uint16_t page_head_word(const struct page *page)
{
    return __atomic_load_n(&page->pg_head, __ATOMIC_RELAXED);
}

/* Unlocked forms: take the zone lock for one block. buddy_alloc returns it
 * already in PS_ALLOC (marked under the lock), or NULL if taking it would
 * leave mark or fewer free pages (the caller's watermark). buddy_free re-checks,
 * under the lock, that the head is still allocated, so that two racing frees
 * of one block cannot both reach the free lists. */
struct page *buddy_alloc(struct zone *z, unsigned int order, unsigned long mark);
void buddy_free(struct zone *z, struct page *page, unsigned int order);

/* Giving free memory back to the host (discard.c). kmem_discard_pending
 * says a zone holds more backed free blocks than its high mark; free paths
 * call kmem_discard_run with no lock held to bring it to the low mark. */
extern KMEM_HIDDEN int kmem_discard_pending;
void kmem_discard_note_locked(struct zone *z);
void kmem_discard_run(void);
static inline void kmem_discard_maybe(void)
{
    if (unlikely(__atomic_load_n(&kmem_discard_pending, __ATOMIC_RELAXED)))
        kmem_discard_run();
}

/* Boot and hotplug (boot.c, hotplug.c). */
struct kmem_region;
void kmem_memmap_init(unsigned long start_pfn, unsigned long end_pfn);
void kmem_region_give(const struct kmem_region *r); /* zone locks held after boot */
extern KMEM_HIDDEN kmem_grow_fn kmem_grow_handler;
/* Ask the host's grow handler for memory; true: retry the request. */
bool kmem_grow(unsigned long pages);
#endif /* KMEM_ZONE_H */
