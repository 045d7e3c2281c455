/* SPDX-License-Identifier: MIT */
/*
 * slab_info.c - looking inside the caches: /proc/slabinfo text, per-cache
 * numbers, and kmem_cache_check, which verifies S1-S4 of slab.c.
 */
#include <kmem/info.h>
#include <kmem/init.h>

#include "../internal/fmt.h"
#include "../internal/report.h"
#include "pcp.h"
#include "slab.h"

#define BITS_PER_WORD (8 * sizeof(unsigned long))

void kmem_cache_info(struct kmem_cache *c, struct kmem_cache_info *info)
{
    kmem_mutex_lock(&c->c_lock);
    info->name = c->c_name;
    info->object_size = c->c_object_size;
    info->size = c->c_size;
    info->align = c->c_align;
    info->objs_per_slab = c->c_objs_per_slab;
    info->pages_per_slab = 1u << c->c_order;
    info->waste_per_slab = c->c_waste;
    info->colours = c->c_colours;
    info->offslab = c->c_offslab;
    info->internal = c->c_internal;
    info->active_objs = c->c_inuse;
    info->total_objs = c->c_nr_slabs * c->c_objs_per_slab;
    info->slabs = c->c_nr_slabs;
    info->full_slabs = c->c_nr_full;
    info->empty_slabs = c->c_nr_empty;
    info->partial_slabs = c->c_nr_slabs - c->c_nr_full - c->c_nr_empty;
    kmem_mutex_unlock(&c->c_lock);
    kmem_mutex_lock(&c->c_depot.d_lock);
    info->magazine_size = kmem_magazine_size(c);
    info->magazine_resizes = c->c_depot.d_resizes;
    info->depot_full = c->c_depot.d_nfull;
    info->depot_trimmed = c->c_depot.d_trimmed;
    info->depot_empty = c->c_depot.d_nempty;
    kmem_mutex_unlock(&c->c_depot.d_lock);
}

struct cache_walk {
    kmem_cache_fn fn;
    void *arg;
    unsigned long n;
    bool stopped;
};

static void cache_walk_one(struct kmem_cache *c, void *arg)
{
    struct cache_walk *w = arg;
    if (w->stopped)
        return;
    w->n++;
    w->stopped = !w->fn(w->arg, c);
}

unsigned long kmem_cache_walk(kmem_cache_fn fn, void *arg)
{
    struct cache_walk w = {fn, arg, 0, false};
    if (kmem_is_up())
        kmem_slab_for_each_cache(cache_walk_one, &w);
    return w.n;
}

/* The slabs of one list; false if fn asked to stop. */
static bool slab_walk_list(const struct kmem_cache *c, const struct list_head *list,
                           kmem_slab_fn fn, void *arg, unsigned long *n)
{
    const struct list_head *pos;
    list_for_each (pos, list) {
        const struct slab *slab = list_entry(pos, struct slab, sl_link);
        struct kmem_slab_view view = {
            .addr = pf_page_address(slab->sl_page),
            .objects_addr = slab->sl_objs,
            .objects = c->c_objs_per_slab,
            .inuse = slab->sl_inuse,
            .pages = 1u << c->c_order,
            .free_map = slab->sl_free_map,
        };
        ++*n;
        if (!fn(arg, &view))
            return false;
    }
    return true;
}

unsigned long kmem_slab_walk(struct kmem_cache *c, kmem_slab_fn fn, void *arg)
{
    unsigned long n = 0;
    kmem_mutex_lock(&c->c_lock);
    if (slab_walk_list(c, &c->c_full, fn, arg, &n) && slab_walk_list(c, &c->c_partial, fn, arg, &n))
        slab_walk_list(c, &c->c_empty, fn, arg, &n);
    kmem_mutex_unlock(&c->c_lock);
    return n;
}

struct text {
    char *buf;
    size_t len;
    size_t n;
};

static void slabinfo_line(struct kmem_cache *c, void *arg)
{
    struct text *t = arg;
    struct kmem_cache_info in;
    kmem_cache_info(c, &in);
    /* Linux's s_show: "%-17s %6lu %6lu %6u %4u %4d" : tunables : slabdata.
     * The tunables are the magazine layer's: limit is the magazine size,
     * batchcount and sharedfactor the full and empty magazines in the depot.
     * active_objs counts objects in magazines as in use, as Linux counts
     * those in its per-CPU arrays. */
    t->n = kmem_text_append(t->buf, t->len, t->n,
                            "%-17s %6lu %6lu %6u %4u %4u : tunables %4u %4u %4u : slabdata %6lu "
                            "%6lu %6u\n",
                            in.name, in.active_objs, in.total_objs, in.size, in.objs_per_slab,
                            in.pages_per_slab, in.magazine_size, (unsigned int)in.depot_full,
                            (unsigned int)in.depot_empty, in.slabs - in.empty_slabs, in.slabs, 0u);
}

size_t kmem_slabinfo(char *buf, size_t len)
{
    struct text t = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    if (!kmem_is_up())
        return 0;
    t.n = kmem_text_append(buf, len, 0,
                           "slabinfo - version: 2.1\n"
                           "# name            <active_objs> <num_objs> <objsize> <objperslab> "
                           "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
                           "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
    kmem_slab_for_each_cache(slabinfo_line, &t);
    return t.n;
}

/* ---- kmem_cache_check ------------------------------------------------------ */

#define VIOLATION(count, ...)                                                                      \
    do {                                                                                           \
        if ((*(count))++ < 20)                                                                     \
            kmem_log("check: " __VA_ARGS__);                                                       \
    } while (0)

static unsigned int popcount_map(const struct kmem_cache *c, const struct slab *slab, int *bad)
{
    unsigned int free = 0;
    for (unsigned int w = 0; w < c->c_map_words; w++) {
        unsigned long word = slab->sl_free_map[w];
        unsigned int valid = c->c_objs_per_slab - w * (unsigned int)BITS_PER_WORD;
        if (valid < BITS_PER_WORD && (word >> valid))
            VIOLATION(bad, "cache %s: slab %p marks objects past its last free", c->c_name,
                      (const void *)slab);
        if (w < slab->sl_hint && word)
            VIOLATION(bad, "cache %s: slab %p has free objects below its hint", c->c_name,
                      (const void *)slab);
        free += kmem_popcount(word);
    }
    return free;
}

static void check_pages(const struct kmem_cache *c, const struct slab *slab, int *bad)
{
    const struct page *head = slab->sl_page;
    if (!pf_page_valid(head) || head->pg_state != PS_SLAB || head->pg_order != c->c_order) {
        VIOLATION(bad, "cache %s: slab %p head page is not a slab block of order %u", c->c_name,
                  (const void *)slab, c->c_order);
        return;
    }
    unsigned long pfn = pf_page_to_pfn(head);
    for (unsigned long i = 0; i < (1UL << c->c_order); i++) {
        const struct page *p = pf_pfn_to_page(pfn + i);
        if (p->pg_owner != PG_OWNER_SLAB || p->pg_owner_p0 != slab || p->pg_owner_p1 != c ||
            p->pg_private != (unsigned long)slab->sl_objs || p->pg_u32 != c->c_slab_bytes)
            VIOLATION(bad, "cache %s: page pfn %#lx of slab %p does not point back to it",
                      c->c_name, pfn + i, (const void *)slab);
    }
}

static unsigned long check_list(struct kmem_cache *c, struct list_head *list, int kind, int *bad,
                                unsigned long *inuse)
{
    static const char *const names[] = {"full", "partial", "empty"};
    unsigned long n = 0;
    struct list_head *pos;
    list_for_each (pos, list) {
        if (++n > c->c_nr_slabs + 1) {
            VIOLATION(bad, "cache %s: %s list does not end", c->c_name, names[kind]);
            break;
        }
        struct slab *slab = list_entry(pos, struct slab, sl_link);
        if (slab->sl_cache != c)
            VIOLATION(bad, "cache %s: slab %p on its %s list belongs to another cache", c->c_name,
                      (void *)slab, names[kind]);
        unsigned int u = slab->sl_inuse, objs = c->c_objs_per_slab;
        bool ok = kind == 0 ? u == objs : kind == 1 ? (u > 0 && u < objs) : u == 0;
        if (!ok)
            VIOLATION(bad, "cache %s: slab %p with %u of %u objects in use is on the %s list",
                      c->c_name, (void *)slab, u, objs, names[kind]);
        unsigned int free = popcount_map(c, slab, bad);
        if (free != objs - u)
            VIOLATION(bad, "cache %s: slab %p map has %u free objects, counts say %u", c->c_name,
                      (void *)slab, free, objs - u);
        check_pages(c, slab, bad);
        *inuse += u;
    }
    return n;
}

/* M3: every object in rounds 1 .. n of m is an object of this cache that
 * its slab counts as in use. */
static void check_rounds(struct kmem_cache *c, const struct kmem_magazine *m, unsigned int n,
                         int *bad)
{
    uintptr_t key = m->mag_encoded ? c->c_secret ^ (uintptr_t)m : 0;
    for (unsigned int r = 1; r <= n && r <= m->mag_capacity; r++) {
        void *obj = mag_code(key, m->mag_round[r]);
        struct slab *slab = kmem_obj_slab(obj);
        if (!slab || slab->sl_cache != c) {
            VIOLATION(bad, "cache %s: magazine %p holds %p, no object of the cache", c->c_name,
                      (const void *)m, obj);
            continue;
        }
        size_t off = (size_t)((char *)obj - slab->sl_objs);
        if (off % c->c_size) {
            VIOLATION(bad, "cache %s: magazine %p holds %p, inside an object", c->c_name,
                      (const void *)m, obj);
            continue;
        }
        size_t idx = off / c->c_size;
        if (slab->sl_free_map[idx / BITS_PER_WORD] & (1UL << (idx % BITS_PER_WORD)))
            VIOLATION(bad, "cache %s: object %p is both in a magazine and free in its slab",
                      c->c_name, obj);
    }
}

/* M2, M3: depot magazines are full or empty as listed, of the cache's size,
 * and every object in them is an object of this cache that its slab counts
 * as in use. Called with the depot lock and c_lock held. */
static void check_depot_list(struct kmem_cache *c, struct kmem_magazine *m, unsigned long count,
                             bool full, int *bad)
{
    unsigned long n = 0;
    for (; m; m = m->mag_next) {
        if (++n > count) {
            VIOLATION(bad, "cache %s: depot %s list longer than its count %lu", c->c_name,
                      full ? "full" : "empty", count);
            return;
        }
        if (m->mag_capacity != kmem_magazine_size(c) ||
            m->mag_rounds != (full ? m->mag_capacity : 0u) || m->mag_round[0] != NULL ||
            m->mag_encoded != (full && KMEM_MAGAZINE_ENCODE))
            VIOLATION(bad, "cache %s: depot magazine %p (%u of %u rounds) on the %s list",
                      c->c_name, (void *)m, m->mag_rounds, m->mag_capacity,
                      full ? "full" : "empty");
        if (full)
            check_rounds(c, m, m->mag_rounds, bad);
    }
    if (n != count)
        VIOLATION(bad, "cache %s: depot %s list holds %lu magazines, its count says %lu", c->c_name,
                  full ? "full" : "empty", n, count);
}

/* M1, M4 and M3 for the calling CPU's slot of c (its loaded magazine's
 * rounds are where cc_top is). Other CPUs' slots are theirs alone. */
static void check_self_slot(struct kmem_cache *c, int *bad)
{
    const struct kmem_cpu_cache *sentinel = &kmem_this_cpu()->cpu_slots[0];
    if (sentinel->cc_loaded != KMEM_EMPTY_MAGAZINE || sentinel->cc_prev != KMEM_EMPTY_MAGAZINE ||
        sentinel->cc_top != KMEM_EMPTY_MAGAZINE->mag_round ||
        sentinel->cc_end != sentinel->cc_top || *KMEM_EMPTY_ROUND0 ||
        kmem_empty_magazine.m.mag_capacity)
        VIOLATION(bad, "this CPU's sentinel slot is not on the empty sentinel magazine");
    const struct kmem_cpu_cache *cc = kmem_magazine_slot_self(c);
    if (!cc)
        return;
    const struct kmem_magazine *loaded = cc->cc_loaded, *prev = cc->cc_prev;
    if (cc->cc_end != &loaded->mag_round[loaded->mag_capacity] || cc->cc_top < loaded->mag_round ||
        cc->cc_top > cc->cc_end) {
        VIOLATION(bad, "cache %s: this CPU's loaded magazine %p and its top and end disagree",
                  c->c_name, (const void *)loaded);
        return;
    }
    if (loaded->mag_round[0] || prev->mag_round[0])
        VIOLATION(bad, "cache %s: a magazine of this CPU lost its NULL round 0", c->c_name);
    if (loaded->mag_encoded || prev->mag_encoded)
        VIOLATION(bad, "cache %s: a magazine of this CPU holds encoded rounds", c->c_name);
    if (prev->mag_rounds > prev->mag_capacity ||
        (prev->mag_rounds != 0 && prev->mag_rounds != prev->mag_capacity)) {
        VIOLATION(bad, "cache %s: this CPU's previous magazine %p holds %u of %u rounds", c->c_name,
                  (const void *)prev, prev->mag_rounds, prev->mag_capacity);
        return;
    }
    check_rounds(c, loaded, (unsigned int)(cc->cc_top - loaded->mag_round), bad);
    check_rounds(c, prev, prev->mag_rounds, bad);
}

int kmem_cache_check(struct kmem_cache *c)
{
    int bad = 0;
    unsigned long inuse = 0;
    kmem_mutex_lock(&c->c_depot.d_lock);
    kmem_mutex_lock(&c->c_lock);
    check_depot_list(c, c->c_depot.d_full, c->c_depot.d_nfull, true, &bad);
    check_depot_list(c, c->c_depot.d_empty, c->c_depot.d_nempty, false, &bad);
    check_self_slot(c, &bad);
    unsigned long full = check_list(c, &c->c_full, 0, &bad, &inuse);
    unsigned long partial = check_list(c, &c->c_partial, 1, &bad, &inuse);
    unsigned long empty = check_list(c, &c->c_empty, 2, &bad, &inuse);
    if (full != c->c_nr_full || empty != c->c_nr_empty || full + partial + empty != c->c_nr_slabs)
        VIOLATION(&bad,
                  "cache %s: lists hold %lu full, %lu partial, %lu empty; counts say %lu, "
                  "%lu of %lu",
                  c->c_name, full, partial, empty, c->c_nr_full, c->c_nr_empty, c->c_nr_slabs);
    if (inuse != c->c_inuse)
        VIOLATION(&bad, "cache %s: slabs have %lu objects in use, the cache says %lu", c->c_name,
                  inuse, c->c_inuse);
    if (c->c_waste * 8 > (PAGE_SIZE << c->c_order) && c->c_order < MAX_PAGE_ORDER)
        VIOLATION(&bad, "cache %s: a slab wastes %u of %lu bytes", c->c_name, c->c_waste,
                  PAGE_SIZE << c->c_order);
    kmem_mutex_unlock(&c->c_lock);
    kmem_mutex_unlock(&c->c_depot.d_lock);
    return bad;
}
