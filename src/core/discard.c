/* SPDX-License-Identifier: MIT */
/*
 * discard.c - giving the backing of free memory back to the host, with
 * hysteresis (in the spirit of Linux's free page reporting, which hands free
 * blocks of a high order to a hypervisor, and of jemalloc's decay).
 *
 * A free block of MAX_PAGE_ORDER (4 MiB) is "backed" (dirty) when its memory
 * may be resident in the host, or "discarded" (clean) when the host has
 * dropped it. Each zone lists its MAX_PAGE_ORDER blocks backed first, newest
 * at the front, then discarded (buddy.c's free_area_add), and counts the
 * backed ones in z_max_dirty. Allocation takes the front: backed memory is
 * reused before discarded memory is faulted in again.
 *
 * When a zone's backed free blocks exceed its high mark, a sixteenth of the
 * memory in use but at least DISCARD_MIN_BLOCKS, the next free path (with no
 * lock held) discards the oldest backed blocks until half the mark is left.
 * The gap between the two marks is the hysteresis: a program that frees and
 * allocates the same few tens of MiB again and again never discards, so it
 * never pays the host's page faults twice, while one that shrinks for good
 * gives back all but a bounded slack. Blocks below MAX_PAGE_ORDER are never
 * discarded: their memory is scattered among allocated pages.
 *
 * One discard: under the zone lock the block is taken off its list (the
 * last backed one) and counted as neither free nor allocated
 * (z_discarding); without the lock the handler drops it; under the lock it
 * goes to the end of the list, discarded. Only one thread discards at a
 * time (discard_busy), so a burst of frees does not start many.
 *
 * Invariants: D1. The first z_max_dirty blocks of free_area[MAX_PAGE_ORDER]
 * are backed; D2. free + per-CPU + allocated + z_discarding * 2^MAX_ORDER
 * = managed pages.
 *
 * Lock order: discard_busy (a try-flag) -> zone lock; the handler runs with
 * no kmem lock held.
 */
#include <kmem/init.h>

#include "fork.h"
#include "watermark.h"
#include "zone.h"

enum { DISCARD_MIN_BLOCKS = 4 };

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
    unsigned long mark = (used >> 4) >> MAX_PAGE_ORDER;
    return mark > DISCARD_MIN_BLOCKS ? mark : DISCARD_MIN_BLOCKS;
}

void kmem_discard_note_locked(struct zone *z)
{
    if (z->z_max_dirty > high_mark_locked(z) &&
        __atomic_load_n(&discard_handler, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&kmem_discard_pending, __ATOMIC_RELAXED))
        __atomic_store_n(&kmem_discard_pending, 1, __ATOMIC_RELAXED);
}

/* Take the oldest backed block of z off its list, if z is above target. */
static struct page *discard_take(struct zone *z, unsigned long target)
{
    struct free_area *area = &z->z_free_area[MAX_PAGE_ORDER];
    kmem_mutex_lock(&z->z_lock);
    struct page *head = NULL;
    if (z->z_max_dirty > target) {
        /* The last backed block: z_max_dirty steps from the front. */
        struct list_head *pos = area->fa_list.next;
        for (unsigned long i = 1; i < z->z_max_dirty; i++)
            pos = pos->next;
        head = list_entry(pos, struct page, pg_lru);
        list_del(&head->pg_lru);
        area->fa_nr_free--;
        z->z_max_dirty--;
        z->z_free_pages -= 1UL << MAX_PAGE_ORDER;
        z->z_discarding++;
        page_set_state(head, PS_ALLOC); /* nobody's: not free, never merged */
    }
    kmem_mutex_unlock(&z->z_lock);
    return head;
}

static void discard_put(struct zone *z, struct page *head)
{
    kmem_mutex_lock(&z->z_lock);
    z->z_discarding--;
    z->z_free_pages += 1UL << MAX_PAGE_ORDER;
    head->pg_order = MAX_PAGE_ORDER;
    page_set_state(head, PS_FREE);
    list_add_tail(&head->pg_lru, &z->z_free_area[MAX_PAGE_ORDER].fa_list);
    z->z_free_area[MAX_PAGE_ORDER].fa_nr_free++;
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
            fn((phys_addr_t)pf_page_to_pfn(head) << PAGE_SHIFT, PAGE_SIZE << MAX_PAGE_ORDER);
            discard_put(z, head);
        }
    }
    __atomic_store_n(&discard_busy, 0, __ATOMIC_RELEASE);
    kmem_pages_freed();
}
