/* SPDX-License-Identifier: MIT */
/*
 * page_check.c - kmem_page_check: verify every invariant of the page
 * allocator (P1-P2 in page_frame.h, B1-B3 in buddy.c, C1-C3 in pcp.c).
 *
 * It takes every lock in the documented order (registry, each CPU, each
 * zone), so it sees a snapshot in which no block is moving, and then walks
 * the free lists, the per-CPU lists and the whole memmap. Cost O(frames):
 * for tests and debugging, not for fast paths. Each violation is one line
 * "kmem: check: ..."; the first MAX_REPORTED are written.
 */
#include "../internal/report.h"
#include <kmem/init.h>

#include "pcp.h"

enum { MAX_REPORTED = 20 };

struct check {
    int violations;
    unsigned long pcp_pages[KMEM_NR_ZONES]; /* from the per-CPU lists */
    unsigned long pcp_heads[KMEM_NR_ZONES]; /* blocks, from the lists */
};

#define VIOLATION(c, ...)                                                                          \
    do {                                                                                           \
        if ((c)->violations++ < MAX_REPORTED)                                                      \
            kmem_log("check: " __VA_ARGS__);                                                       \
    } while (0)

/* One of an order's two free lists (B1, B2; clean: D1). */
static unsigned long check_free_list(struct check *c, const struct zone *z, unsigned int zi,
                                     unsigned int o, const struct list_head *list, bool clean,
                                     unsigned long *pages, unsigned long *dirty)
{
    unsigned long count = 0;
    const struct list_head *pos;
    for (pos = list->next; pos != list; pos = pos->next) {
        if (pos->next->prev != pos) {
            VIOLATION(c, "zone %s order %u: free list links broken", z->z_name, o);
            break;
        }
        if (++count > z->z_managed_pages) {
            VIOLATION(c, "zone %s order %u: free list does not end", z->z_name, o);
            break;
        }
        const struct page *head = list_entry(pos, struct page, pg_lru);
        if (!pf_page_valid(head)) {
            VIOLATION(c, "zone %s order %u: free list holds %p, not a page", z->z_name, o,
                      (const void *)head);
            break;
        }
        unsigned long pfn = pf_page_to_pfn(head);
        if (head->pg_state != PS_FREE || head->pg_order != o || head->pg_zone != zi)
            VIOLATION(c,
                      "zone %s order %u: pfn %#lx on the free list has state %u order %u zone %u",
                      z->z_name, o, pfn, head->pg_state, head->pg_order, head->pg_zone);
        if (head->pg_private > (1UL << o) ||
            (o >= DISCARD_MIN_ORDER && (head->pg_private == 0) != clean))
            VIOLATION(c, "zone %s order %u: pfn %#lx on the %s list counts %lu dirty frames",
                      z->z_name, o, pfn, clean ? "clean" : "dirty", head->pg_private);
        *dirty += head->pg_private;
        if (pfn & ((1UL << o) - 1))
            VIOLATION(c, "zone %s order %u: free block pfn %#lx is not aligned", z->z_name, o, pfn);
        if (pfn < z->z_start_pfn || pfn + (1UL << o) > z->z_end_pfn)
            VIOLATION(c, "zone %s order %u: free block pfn %#lx leaves the zone", z->z_name, o,
                      pfn);
        unsigned long buddy = pfn ^ (1UL << o);
        if (o < MAX_PAGE_ORDER && buddy >= z->z_start_pfn && buddy < z->z_end_pfn) {
            const struct page *bp = pf_pfn_to_page(buddy);
            if (bp->pg_state == PS_FREE && bp->pg_order == o)
                VIOLATION(c, "zone %s order %u: free buddies pfn %#lx and %#lx not merged",
                          z->z_name, o, pfn, buddy);
        }
        *pages += 1UL << o;
    }
    return count;
}

static void check_free_lists(struct check *c, const struct zone *z, unsigned int zi)
{
    unsigned long pages = 0, dirty = 0;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        const struct free_area *area = &z->z_free_area[o];
        unsigned long order_dirty = 0;
        unsigned long nr_dirty =
            check_free_list(c, z, zi, o, &area->fa_list, false, &pages, &order_dirty);
        unsigned long nr_clean =
            check_free_list(c, z, zi, o, &area->fa_clean, true, &pages, &order_dirty);
        if (nr_dirty + nr_clean != area->fa_nr_free || nr_clean != area->fa_nr_clean)
            VIOLATION(c,
                      "zone %s order %u: %lu dirty + %lu clean blocks listed, nr_free says %lu, "
                      "nr_clean %lu",
                      z->z_name, o, nr_dirty, nr_clean, area->fa_nr_free, area->fa_nr_clean);
        if (nr_clean && o < DISCARD_MIN_ORDER)
            VIOLATION(c, "zone %s order %u: %lu clean blocks below order %u", z->z_name, o,
                      nr_clean, DISCARD_MIN_ORDER);
        if (o >= DISCARD_MIN_ORDER)
            dirty += order_dirty;
    }
    if (pages != z->z_free_pages)
        VIOLATION(c, "zone %s: %lu pages on free lists, z_free_pages says %lu", z->z_name, pages,
                  z->z_free_pages);
    if (dirty != z->z_dirty_pages)
        VIOLATION(c, "zone %s: free blocks count %lu dirty frames, z_dirty_pages says %lu",
                  z->z_name, dirty, z->z_dirty_pages);
}

static void check_pcp_list(void *arg, unsigned int zi, unsigned int order,
                           const struct pcp_list *list)
{
    struct check *c = arg;
    unsigned long count = 0;
    for (const struct page *p = list->pl_head; p; p = pcp_next(p)) {
        if (!pf_page_valid(p)) {
            VIOLATION(c, "per-CPU list zone %u order %u holds %p, not a page", zi, order,
                      (const void *)p);
            return;
        }
        if (++count > kmem_zones[zi].z_managed_pages) {
            VIOLATION(c, "per-CPU list zone %u order %u does not end", zi, order);
            return;
        }
        if (p->pg_state != PS_PCP || p->pg_order != order || p->pg_zone != zi)
            VIOLATION(c, "per-CPU list zone %u order %u: pfn %#lx has state %u order %u zone %u",
                      zi, order, pf_page_to_pfn(p), p->pg_state, p->pg_order, p->pg_zone);
    }
    if (count != list->pl_count)
        VIOLATION(c, "per-CPU list zone %u order %u: %lu blocks, pl_count says %u", zi, order,
                  count, list->pl_count);
    if (list->pl_count > list->pl_high)
        VIOLATION(c, "per-CPU list zone %u order %u: %u blocks above its high mark %u", zi, order,
                  list->pl_count, list->pl_high);
    c->pcp_pages[zi] += count << order;
    c->pcp_heads[zi] += count;
}

/* Walk every frame of the zone's span: each is reserved, or a head whose
 * whole block is tail pages of this zone (P1, P2), and the sums add up (B3). */
static void check_memmap(struct check *c, const struct zone *z, unsigned int zi)
{
    unsigned long nr[PS_SLAB + 1] = {0}, pcp_heads = 0;
    unsigned long pfn = z->z_start_pfn;
    while (pfn < z->z_end_pfn) {
        const struct page *page = pf_pfn_to_page(pfn);
        unsigned int state = page->pg_state;
        if (state != PS_TAIL && page->pg_zone != zi)
            VIOLATION(c, "zone %s: pfn %#lx says zone %u", z->z_name, pfn, page->pg_zone);
        if (state == PS_RESERVED) {
            nr[PS_RESERVED]++;
            pfn++;
            continue;
        }
        if (state == PS_TAIL || state > PS_SLAB) {
            VIOLATION(c, "zone %s: pfn %#lx in state %u belongs to no block", z->z_name, pfn,
                      state);
            pfn++;
            continue;
        }
        unsigned int order = page->pg_order;
        unsigned long size = 1UL << order;
        if (order > MAX_PAGE_ORDER || (pfn & (size - 1)) || pfn + size > z->z_end_pfn) {
            VIOLATION(c, "zone %s: block pfn %#lx order %u is misaligned or leaves the zone",
                      z->z_name, pfn, order);
            pfn++;
            continue;
        }
        for (unsigned long t = pfn + 1; t < pfn + size; t++)
            if (pf_pfn_to_page(t)->pg_state != PS_TAIL) {
                VIOLATION(c, "zone %s: pfn %#lx inside block pfn %#lx order %u has state %u",
                          z->z_name, t, pfn, order, pf_pfn_to_page(t)->pg_state);
                break;
            }
        nr[state] += size;
        pcp_heads += state == PS_PCP;
        pfn += size;
    }
    if (nr[PS_FREE] != z->z_free_pages)
        VIOLATION(c, "zone %s: %lu pages in free blocks, z_free_pages says %lu", z->z_name,
                  nr[PS_FREE], z->z_free_pages);
    if (nr[PS_PCP] != c->pcp_pages[zi] || pcp_heads != c->pcp_heads[zi])
        VIOLATION(c, "zone %s: %lu pages (%lu blocks) marked per-CPU, lists hold %lu (%lu)",
                  z->z_name, nr[PS_PCP], pcp_heads, c->pcp_pages[zi], c->pcp_heads[zi]);
    if (nr[PS_FREE] + nr[PS_PCP] + nr[PS_ALLOC] + nr[PS_SLAB] != z->z_managed_pages)
        VIOLATION(c, "zone %s: free %lu + per-CPU %lu + allocated %lu + slab %lu != managed %lu",
                  z->z_name, nr[PS_FREE], nr[PS_PCP], nr[PS_ALLOC], nr[PS_SLAB],
                  z->z_managed_pages);
}

int kmem_page_check(void)
{
    if (!kmem_is_up())
        return 0;
    struct check c = {0, {0}, {0}};
    pcp_lock_all();
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        kmem_mutex_lock(&kmem_zones[zi].z_lock);
    pcp_visit_locked(check_pcp_list, &c);
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        const struct zone *z = &kmem_zones[zi];
        check_free_lists(&c, z, zi);
        check_memmap(&c, z, zi);
    }
    for (unsigned int zi = KMEM_NR_ZONES; zi-- > 0;)
        kmem_mutex_unlock(&kmem_zones[zi].z_lock);
    pcp_unlock_all();
    if (c.violations > MAX_REPORTED)
        kmem_log("check: %d more violations not shown", c.violations - MAX_REPORTED);
    return c.violations;
}
