/* SPDX-License-Identifier: MIT */
/*
 * watermark.c - zone watermarks and the reserves GFP flags may reach, after
 * Linux's mm/page_alloc.c (calculate_min_free_kbytes,
 * __setup_per_zone_wmarks, setup_per_zone_lowmem_reserve,
 * gfp_to_alloc_flags, __zone_watermark_ok), and the wait of __GFP_NOFAIL.
 *
 * Sizing. The machine keeps min_free_kbytes = sqrt(16 x its memory in KiB)
 * free (Linux's rule: 1 MiB of 64 MiB, 4 MiB of 1 GiB), at most 256 MiB,
 * shared among the zones by their size: that is each zone's min watermark.
 * low = min + max(min / 4, managed / 1000) and high = low + the same step
 * (watermark_scale_factor 10). A lower zone also keeps lowmem_reserve[z] =
 * (the higher zones' memory) / 256 for requests that could have used zone z
 * but fall back (GFP_KERNEL from Normal to DMA), so that they cannot exhaust
 * the DMA zone that GFP_DMA depends on. Zones smaller than
 * PCP_MIN_ZONE_PAGES (the textbook's machines) keep no watermarks at all,
 * as they keep no per-CPU lists, so that they behave as the book says.
 * (Linux's floor of 128 KiB would reserve half of the book's 256 KiB.)
 *
 * Reserves (zone_mark in watermark.h). An allocation may take a block only
 * if more than the mark stays free:
 *   GFP_KERNEL, GFP_NOWAIT:        min
 *   __GFP_HIGH (may reclaim):      min / 2
 *   GFP_ATOMIC (__GFP_HIGH, may not reclaim): 3/8 of min
 *   __GFP_MEMALLOC:                nothing (every page)
 * plus the lowmem reserve when falling back to a lower zone. The per-CPU
 * page lists hand out what they hold without a check (those pages are no
 * longer counted free, as in Linux); their refills are checked.
 *
 * Waiting (__GFP_NOFAIL). When reclaim makes no progress, a __GFP_NOFAIL
 * request waits on kmem_free_seq until pages reach the buddy lists.
 * Registering as a waiter turns the per-CPU lists off (their high mark drops
 * to 0 and they are drained), so that every page another thread frees goes
 * to the buddy lists and bumps the sequence: the wait cannot miss a free
 * that went to some CPU's cache. The sequence is read before the last
 * attempt, so a free between that attempt and the sleep is not lost.
 *
 * Lock order: a waiter takes the per-CPU registry lock (pcp_throttle) and
 * nothing else; kmem_pages_freed_slow is called with no lock held.
 */
#include "pcp.h"
#include "watermark.h"

enum {
    MIN_FREE_KBYTES_MAX = 256 << 10, /* Linux: 262144 */
    WATERMARK_SCALE_FACTOR = 10,     /* in 1/10000 of the zone */
    LOWMEM_RESERVE_RATIO = 256,      /* Linux's ratio for ZONE_DMA */
};

unsigned int kmem_memory_waiters;
static unsigned int free_seq; /* bumped when pages reach the buddy lists while
                                 someone waits; a futex word */

/* ---- sizing ------------------------------------------------------------------ */

static unsigned long int_sqrt(unsigned long x)
{
    unsigned long r = 0, bit = 1UL << (sizeof(long) * 8 - 2);
    while (bit > x)
        bit >>= 2;
    while (bit) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

void zone_watermarks_init(void)
{
    unsigned long managed = 0;
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        managed += kmem_zones[zi].z_managed_pages;
    unsigned long min_free_kbytes = int_sqrt(managed * (PAGE_SIZE >> 10) * 16);
    if (min_free_kbytes > MIN_FREE_KBYTES_MAX)
        min_free_kbytes = MIN_FREE_KBYTES_MAX;
    unsigned long pages_min = min_free_kbytes >> (PAGE_SHIFT - 10);
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        struct zone *z = &kmem_zones[zi];
        for (unsigned int w = 0; w < NR_WMARK; w++)
            z->z_watermark[w] = 0;
        for (unsigned int h = 0; h < KMEM_NR_ZONES; h++)
            z->z_lowmem_reserve[h] = 0;
        if (z->z_managed_pages < PCP_MIN_ZONE_PAGES)
            continue;
        unsigned long min = pages_min * z->z_managed_pages / managed;
        unsigned long step = z->z_managed_pages * WATERMARK_SCALE_FACTOR / 10000;
        if (step < min / 4)
            step = min / 4;
        z->z_watermark[WMARK_MIN] = min;
        z->z_watermark[WMARK_LOW] = min + step;
        z->z_watermark[WMARK_HIGH] = min + 2 * step;
        /* Protection against fallbacks from the zones above. */
        unsigned long above = 0;
        for (unsigned int h = zi + 1; h < KMEM_NR_ZONES; h++) {
            above += kmem_zones[h].z_managed_pages;
            z->z_lowmem_reserve[h] = above / LOWMEM_RESERVE_RATIO;
        }
    }
}

unsigned int gfp_to_alloc_flags(gfp_t gfp)
{
    if ((gfp & (__GFP_MEMALLOC | __GFP_NOMEMALLOC)) == __GFP_MEMALLOC)
        return ALLOC_NO_WATERMARKS;
    unsigned int flags = 0;
    if (gfp & __GFP_HIGH)
        flags |= ALLOC_MIN_RESERVE;
    if (!(gfp & __GFP_DIRECT_RECLAIM) && !(gfp & __GFP_NOMEMALLOC))
        flags |= ALLOC_NON_BLOCK;
    return flags;
}

/* ---- waiting for freed memory ---------------------------------------------------- */

unsigned int kmem_free_seq(void)
{
    return __atomic_load_n(&free_seq, __ATOMIC_SEQ_CST);
}

void kmem_wait_for_free(unsigned int seq)
{
    __atomic_fetch_add(&kmem_memory_waiters, 1, __ATOMIC_SEQ_CST);
    pcp_throttle(true);
    /* Pages freed to the per-CPU lists before the throttle are back on the
     * buddy lists now (the throttle drains them): if any were, the caller's
     * next attempt must see them, so do not sleep. */
    if (__atomic_load_n(&free_seq, __ATOMIC_SEQ_CST) == seq)
        kmem_pl_lock_wait((int *)(void *)&free_seq, (int)seq);
    pcp_throttle(false);
    __atomic_fetch_sub(&kmem_memory_waiters, 1, __ATOMIC_SEQ_CST);
}

void kmem_pages_freed_slow(void)
{
    __atomic_fetch_add(&free_seq, 1, __ATOMIC_SEQ_CST);
    kmem_pl_lock_wake((int *)(void *)&free_seq);
}
