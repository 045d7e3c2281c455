/* SPDX-License-Identifier: MIT */
/*
 * buddy.c - the binary buddy system (Knowlton 1965; Knuth, TAOCP vol. 1,
 * 2.5), as in Linux's mm/page_alloc.c.
 *
 * Algorithm. Each zone keeps free_area[order], a list of the free blocks of
 * 2^order frames, for order 0..MAX_PAGE_ORDER. A block of order n starts at a
 * pfn that is a multiple of 2^n; its buddy is the block of the same order at
 * pfn ^ 2^n, and the two together form the block of order n+1 at
 * pfn & ~2^n.
 *   Allocation of order n takes the first block of the smallest order m >= n
 *   that has one, and while m > n splits it: the lower half is kept, the
 *   upper half of order m-1 goes on its free list (the book's A_L/A_R ...
 *   C_L, C_R: the caller receives C_L).
 *   Freeing a block of order n merges it with its buddy while the buddy is a
 *   free block of exactly order n in the same zone, then puts the result on
 *   its list. Both are O(MAX_PAGE_ORDER).
 * Memory that is not a power of two is carved into maximal aligned blocks
 * (buddy_give_range_locked), so a buddy may lie outside the zone or in a
 * hole: such a buddy is never free, and merging stops there.
 *
 * Invariants (checked by kmem_page_check, page_check.c):
 *   B1. Every block on free_area[n] of a zone has its head in state PS_FREE
 *       with pg_order n and pg_zone the zone; it is 2^n-aligned and lies in
 *       the zone's span; fa_nr_free counts both lists exactly, fa_nr_clean
 *       the clean one. A head's pg_private (dirty frames) is at most 2^n;
 *       from DISCARD_MIN_ORDER on, it is 0 exactly on the clean list.
 *   B2. No free block of order n < MAX_PAGE_ORDER has a free buddy of order n
 *       (it would have been merged).
 *   B3. z_free_pages is the sum of 2^n over the blocks on the free lists, and
 *       free + per-CPU + allocated = z_managed_pages.
 *
 * Lock order: per-CPU registry lock -> a CPU's list lock -> zone lock.
 * Everything here runs under the zone lock (the _locked suffix); nothing here
 * allocates or calls a hook but buddy_free's wake of a __GFP_NOFAIL waiter,
 * after the lock is dropped.
 */
#include "../internal/report.h"
#include "watermark.h"
#include "zone.h"

struct zone kmem_zones[KMEM_NR_ZONES];
uint8_t kmem_kernel_zone;

/* A free block's head counts, in pg_private, the frames of it the host may
 * still back ("dirty": touched since the host last dropped them; an estimate
 * after a split). A block with any goes on its order's dirty list (the front:
 * allocation reuses the newest, most likely resident, memory first); one with
 * none, of DISCARD_MIN_ORDER or more, on its clean list (discard.c). Below
 * that order nothing is discarded, so every block is on the dirty list. */
static inline void free_area_add(struct zone *z, struct page *head, unsigned int order,
                                 unsigned long dirty)
{
    struct free_area *area = &z->z_free_area[order];
    head->pg_order = (uint8_t)order;
    head->pg_zone = (uint8_t)(z - kmem_zones); /* heads carry the zone (P2) */
    page_set_state(head, PS_FREE);
    head->pg_private = dirty;
    if (order < DISCARD_MIN_ORDER) {
        list_add(&head->pg_lru, &area->fa_list);
    } else if (dirty == 0) {
        list_add(&head->pg_lru, &area->fa_clean);
        area->fa_nr_clean++;
    } else {
        list_add(&head->pg_lru, &area->fa_list);
        z->z_dirty_pages += dirty;
        if (z->z_dirty_pages > DISCARD_MIN_PAGES) /* no call below the least mark */
            kmem_discard_note_locked(z);
    }
    area->fa_nr_free++;
}

/* Take a free block off its list; returns its dirty frames. */
static inline unsigned long free_area_del(struct zone *z, struct page *head, unsigned int order)
{
    struct free_area *area = &z->z_free_area[order];
    list_del(&head->pg_lru);
    area->fa_nr_free--;
    unsigned long dirty = head->pg_private;
    head->pg_private = 0;
    if (order >= DISCARD_MIN_ORDER) {
        if (dirty == 0)
            area->fa_nr_clean--;
        else
            z->z_dirty_pages -= dirty;
    }
    return dirty;
}

/* Is the block at buddy_pfn a free block of this order that we may merge
 * with? Conditions: inside the zone's span, a free head (never RESERVED, PCP
 * or ALLOC), and of the same order (a free block of another order there is a
 * part of a different, larger or smaller, block structure). */
static inline bool buddy_is_free(const struct zone *z, unsigned long buddy_pfn, unsigned int order)
{
    if (buddy_pfn < z->z_start_pfn || buddy_pfn >= z->z_end_pfn)
        return false;
    const struct page *buddy = pf_pfn_to_page(buddy_pfn);
    return page_state(buddy) == PS_FREE && buddy->pg_order == order;
}

/* Split a block of order high taken from the lists down to order low,
 * keeping the lower half each time; each upper half takes half of the dirty
 * frames left (where they are is not known). */
static inline void expand(struct zone *z, unsigned long pfn, unsigned int low, unsigned int high,
                          unsigned long dirty)
{
    while (high > low) {
        high--;
        struct page *upper = pf_pfn_to_page(pfn + (1UL << high));
        unsigned long upper_dirty = dirty / 2;
        free_area_add(z, upper, high, upper_dirty);
        dirty -= upper_dirty;
    }
}

struct page *buddy_take_locked(struct zone *z, unsigned int order)
{
    for (unsigned int o = order; o <= MAX_PAGE_ORDER; o++) {
        struct free_area *area = &z->z_free_area[o];
        struct list_head *list = !list_empty(&area->fa_list)    ? &area->fa_list
                                 : !list_empty(&area->fa_clean) ? &area->fa_clean
                                                                : NULL;
        if (!list)
            continue;
        struct page *head = list_first_entry(list, struct page, pg_lru);
        unsigned long dirty = free_area_del(z, head, o);
        expand(z, pf_page_to_pfn(head), order, o, dirty);
        head->pg_order = (uint8_t)order;
        z->z_free_pages -= 1UL << order;
        return head;
    }
    return NULL;
}

/* Free [pfn, pfn + 2^order) with dirty of its frames backed by the host. */
static void give_locked(struct zone *z, unsigned long pfn, unsigned int order, unsigned long dirty)
{
    z->z_free_pages += 1UL << order;
    while (order < MAX_PAGE_ORDER) {
        unsigned long buddy_pfn = pfn ^ (1UL << order);
        if (!buddy_is_free(z, buddy_pfn, order))
            break;
        struct page *buddy = pf_pfn_to_page(buddy_pfn);
        dirty += free_area_del(z, buddy, order);
        /* Of the two heads, the higher one becomes a tail page of the
         * merged block (invariant P1). */
        page_set_state(pf_pfn_to_page(pfn | buddy_pfn), PS_TAIL);
        pfn &= buddy_pfn;
        order++;
    }
    free_area_add(z, pf_pfn_to_page(pfn), order, dirty);
}

void buddy_give_locked(struct zone *z, unsigned long pfn, unsigned int order)
{
    give_locked(z, pfn, order, z->z_give_clean ? 0 : 1UL << order);
}

void buddy_give_clean_locked(struct zone *z, unsigned long pfn, unsigned int order)
{
    give_locked(z, pfn, order, 0);
}

void buddy_give_range_locked(struct zone *z, unsigned long start, unsigned long end)
{
    while (start < end) {
        unsigned int order = start ? (unsigned int)__builtin_ctzl(start) : MAX_PAGE_ORDER;
        if (order > MAX_PAGE_ORDER)
            order = MAX_PAGE_ORDER;
        while ((1UL << order) > end - start)
            order--;
        buddy_give_locked(z, start, order);
        start += 1UL << order;
    }
}

struct page *buddy_alloc(struct zone *z, unsigned int order, unsigned long mark)
{
    kmem_mutex_lock(&z->z_lock);
    struct page *page = zone_watermark_ok(z, order, mark) ? buddy_take_locked(z, order) : NULL;
    /* Allocated before the lock drops: a buddy freed right after must not
     * see this block as free (B2, P1). */
    if (page)
        page_set_state(page, PS_ALLOC);
    kmem_mutex_unlock(&z->z_lock);
    return page;
}

void buddy_free(struct zone *z, struct page *page, unsigned int order)
{
    kmem_mutex_lock(&z->z_lock);
    if (unlikely(page_state(page) != PS_ALLOC)) {
        kmem_mutex_unlock(&z->z_lock);
        kmem_error(KMERR_DOUBLE_FREE, "block at pfn %#lx order %u was freed twice at once",
                   pf_page_to_pfn(page), order);
    }
    buddy_give_locked(z, pf_page_to_pfn(page), order);
    kmem_mutex_unlock(&z->z_lock);
    kmem_pages_freed();
    kmem_discard_maybe();
}
