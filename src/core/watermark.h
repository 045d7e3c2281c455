/* SPDX-License-Identifier: MIT */
/*
 * watermark.h - zone watermarks, how deep a request may dig into the
 * reserves they keep, and waiting for freed memory (see watermark.c).
 */
#ifndef KMEM_WATERMARK_H
#define KMEM_WATERMARK_H

#include <kmem/gfp.h>

#include "zone.h"

/* What a request may do, from its GFP flags (Linux's alloc_flags). */
enum alloc_flags {
    ALLOC_NO_WATERMARKS = 1u << 0, /* __GFP_MEMALLOC: every reserve */
    ALLOC_MIN_RESERVE = 1u << 1,   /* __GFP_HIGH: half of the min reserve */
    ALLOC_NON_BLOCK = 1u << 2,     /* cannot reclaim (with MIN_RESERVE: a
                                      quarter of what is left, too) */
};

unsigned int gfp_to_alloc_flags(gfp_t gfp);

/* The free pages zone z must keep after an allocation with these flags for
 * a request whose own zone (the highest it may use) is preferred. */
static inline unsigned long zone_mark(const struct zone *z, unsigned int alloc_flags,
                                      unsigned int preferred)
{
    if (alloc_flags & ALLOC_NO_WATERMARKS)
        return 0;
    unsigned long min = z->z_watermark[WMARK_MIN];
    if (alloc_flags & ALLOC_MIN_RESERVE) {
        min -= min / 2;
        if (alloc_flags & ALLOC_NON_BLOCK)
            min -= min / 4;
    }
    return min + z->z_lowmem_reserve[preferred];
}

/* May a block of this order be taken from z and leave more than mark free
 * pages? (Linux's __zone_watermark_ok: a free block of the order must exist
 * too, which buddy_take_locked finds out.) Zone lock held, or a racy hint. */
static inline bool zone_watermark_ok(const struct zone *z, unsigned int order, unsigned long mark)
{
    unsigned long free = z->z_free_pages;
    return free >= (1UL << order) && free - ((1UL << order) - 1) > mark;
}

/* Size every zone's watermarks and lowmem reserves (at boot, after the
 * zones have their memory). */
void zone_watermarks_init(void);

/* __GFP_NOFAIL: wait until pages are freed to the buddy lists after seq was
 * read with kmem_free_seq(). While anyone waits, the per-CPU page lists keep
 * nothing, so every freed page reaches the buddy lists and wakes a waiter. */
unsigned int kmem_free_seq(void);
void kmem_wait_for_free(unsigned int seq);
/* Pages reached the buddy lists: wake a waiter, if any (no lock held). */
void kmem_pages_freed_slow(void);
extern KMEM_HIDDEN unsigned int kmem_memory_waiters;
static inline void kmem_pages_freed(void)
{
    if (unlikely(__atomic_load_n(&kmem_memory_waiters, __ATOMIC_SEQ_CST)))
        kmem_pages_freed_slow();
}

#endif /* KMEM_WATERMARK_H */
