/* SPDX-License-Identifier: MIT */
/*
 * discard.c - giving the backing of free memory back to the host, with
 * hysteresis (in the spirit of Linux's free page reporting, which hands free
 * blocks of a high order to a hypervisor, and of jemalloc's decay).
 *
 * A free block of order DISCARD_MIN_ORDER (64 KiB) or more is "backed"
 * (dirty) when its memory may be resident in the host, or "discarded"
 * (clean) when the host has dropped it (or never backed it). Each order
 * keeps the two kinds on two lists (buddy.c); allocation takes a dirty block
 * before a clean one of the same order, so resident memory is reused before
 * discarded memory is faulted in again. Each free block counts its dirty
 * frames (buddy.c): a block freed is all dirty, a discarded one all clean,
 * a merged one the sum of its parts, a split one's halves half each (an
 * estimate); z_dirty_pages sums them. So memory given back is not given
 * back again when its block merges with a dirty buddy.
 *
 * When a zone's dirty frames exceed its high mark, a sixteenth of the memory
 * in use but at least DISCARD_MIN_PAGES (4 MiB), the next free path (with
 * no lock held) discards dirty blocks, the largest order first and the
 * oldest of an order first, until half the mark is left. The gap between the
 * two marks is the hysteresis: a program that frees and allocates the same
 * few MiB again and again never discards, so it never pays the host's page
 * faults twice, while one that shrinks for good gives back all but a bounded
 * slack, even when the live objects left are scattered over the whole heap
 * (their free neighbours are blocks of lower orders). Blocks below
 * DISCARD_MIN_ORDER are never discarded.
 *
 * One discard: under the zone lock the block is taken off its list and
 * counted as neither free nor allocated (z_discarding); without the lock the
 * handler drops it; under the lock it goes back through the buddy merge as
 * clean. Only one thread discards at a time (discard_busy), so a burst of
 * frees does not start many.
 *
 * Invariants (checked by kmem_page_check): D1. z_dirty_pages is the sum of
 * the dirty frames of the free blocks of orders >= DISCARD_MIN_ORDER; the
 * clean lists hold no block below that order. D2. free + per-CPU +
 * allocated + z_discarding = managed pages (a block being discarded is
 * marked allocated).
 *
 * Lock order: discard_busy (a try-flag) -> zone lock; the handler runs with
 * no kmem lock held.
 */
#include <kmem/init.h>

#include "fork.h"
#include "watermark.h"
#include "zone.h"

static kmem_discard_fn discard_handler;
int kmem_discard_pending;
static int discard_busy;

kmem_discard_fn kmem_set_discard_handler(kmem_discard_fn fn)
{
    return __atomic_exchange_n(&discard_handler, fn, __ATOMIC_ACQ_REL);
}

static unsigned long high_mark_locked(const struct zone *z)
{
    unsigned long used = z->z_managed_pages - z->z_free_pages;
    unsigned long mark = used >> 4;
    return mark > DISCARD_MIN_PAGES ? mark : DISCARD_MIN_PAGES;
}

void kmem_discard_note_locked(struct zone *z)
{
    if (z->z_dirty_pages > high_mark_locked(z) &&
        __atomic_load_n(&discard_handler, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&kmem_discard_pending, __ATOMIC_RELAXED))
        __atomic_store_n(&kmem_discard_pending, 1, __ATOMIC_RELAXED);
}

/* Take the oldest dirty block of the highest order off its list, if z has more dirty frames than
 * target. */
static struct page *discard_take(struct zone *z, unsigned long target)
{
    kmem_mutex_lock(&z->z_lock);
    struct page *head = NULL;
    if (z->z_dirty_pages > target) {
        for (unsigned int o = MAX_PAGE_ORDER + 1; o-- > DISCARD_MIN_ORDER;) {
            struct free_area *area = &z->z_free_area[o];
            if (list_empty(&area->fa_list))
                continue;
            head = list_entry(area->fa_list.prev, struct page, pg_lru); /* the oldest */
            list_del(&head->pg_lru);
            area->fa_nr_free--;
            z->z_dirty_pages -= head->pg_private;
            head->pg_private = 0;
            z->z_free_pages -= 1UL << o;
            z->z_discarding += 1UL << o;
            page_set_state(head, PS_ALLOC); /* nobody's: not free, never merged */
            break;
        }
    }
    kmem_mutex_unlock(&z->z_lock);
    return head;
}

static void discard_put(struct zone *z, struct page *head)
{
    unsigned int order = head->pg_order;
    kmem_mutex_lock(&z->z_lock);
    z->z_discarding -= 1UL << order;
    buddy_give_clean_locked(z, pf_page_to_pfn(head), order);
    kmem_mutex_unlock(&z->z_lock);
}

/* fork: no discard may be half done in the child (fork.c). */
void kmem_discard_fork_lock(bool lock)
{
    if (!lock) {
        __atomic_store_n(&discard_busy, 0, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_exchange_n(&discard_busy, 1, __ATOMIC_ACQUIRE))
        kmem_pl_yield();
}

void kmem_discard_run(void)
{
    if (__atomic_exchange_n(&discard_busy, 1, __ATOMIC_ACQUIRE))
        return; /* another thread is at it */
    __atomic_store_n(&kmem_discard_pending, 0, __ATOMIC_RELAXED);
    kmem_discard_fn fn = __atomic_load_n(&discard_handler, __ATOMIC_ACQUIRE);
    for (unsigned int zi = 0; fn && zi < KMEM_NR_ZONES; zi++) {
        struct zone *z = &kmem_zones[zi];
        kmem_mutex_lock(&z->z_lock);
        unsigned long target = high_mark_locked(z) / 2;
        kmem_mutex_unlock(&z->z_lock);
        struct page *head;
        while ((head = discard_take(z, target)) != NULL) {
            fn((phys_addr_t)pf_page_to_pfn(head) << PAGE_SHIFT, PAGE_SIZE << head->pg_order);
            discard_put(z, head);
        }
    }
    __atomic_store_n(&discard_busy, 0, __ATOMIC_RELEASE);
    kmem_pages_freed();
}
