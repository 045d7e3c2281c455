/* SPDX-License-Identifier: MIT */
/*
 * magazine.c - the magazine and depot layer of the object caches (Bonwick
 * and Adams, "Magazines and Vmem: Extending the Slab Allocator to Many CPUs
 * and Arbitrary Resources", USENIX 2001), and the caches' public fast paths
 * kmem_cache_alloc and kmem_cache_free.
 *
 * Each CPU (in a process: each thread) holds, for every cache it uses, a
 * loaded and a previous magazine: stacks of constructed objects. Allocation
 * pops the loaded magazine, free pushes it; only the owner touches them, so
 * neither takes a lock or an atomic. When the loaded magazine is empty (on
 * allocation) or full (on free) and the previous one can serve, the two are
 * swapped; otherwise the previous magazine is exchanged with the cache's
 * depot, which keeps full and empty magazines under its own lock. Only when
 * the depot has no full magazine does allocation reach the slab layer: it
 * fills a whole magazine there with one lock round-trip. Objects in
 * magazines stay constructed, so no constructor runs on these paths.
 *
 * Magazine sizes suit the object size (63 rounds for objects up to 256
 * bytes, down to 3 for large ones). Magazines come from internal caches
 * kmem_magazine_N, which have no magazines of their own.
 *
 * Every free is checked before it enters a magazine: the object must lie in
 * a live slab of this very cache (virt_to_page -> page -> cache) at the start
 * of an object (the page holds the slab's first object; a bound and a
 * divisibility test by multiplication), and must not be the object on top of
 * the loaded magazine (an immediate double free). The fast paths themselves
 * are inline in cache_fast.h, shared with kmalloc.
 * Failing frees take the slow path, which names the error and panics. A
 * double free of an object deeper in a magazine is found when the magazine
 * goes back to the slab layer (delayed detection is the hardening issue's).
 *
 * Invariants:
 *   M1. A CPU's cc_loaded and cc_prev are its own magazines (or the shared
 *       empty sentinel), never on a depot list, and mag_rounds <=
 *       mag_capacity; mag_round[0] is NULL.
 *   M2. Depot lists hold only full (d_full) or empty (d_empty) magazines of
 *       the cache's size, counted by d_nfull and d_nempty.
 *   M3. An object is in at most one place: a slab's free bitmap, one
 *       magazine, or a user's hands.
 *
 * Lock order: registry lock -> depot lock -> slab lock (c_lock) -> page
 * allocator. The fast paths take none. kmem_cache_destroy and thread exit
 * walk or flush per-CPU caches under the registry lock; a cache must be idle
 * (no thread using it) when it is destroyed, as in Linux and Solaris.
 */
#include <kmem/init.h>

#include "../internal/report.h"
#include "cache_fast.h"
#include "magazine.h"

enum {
    MAX_CACHE_IDS = 4096,
    NR_MAGAZINE_SIZES = 5,
};

static const unsigned int magazine_sizes[NR_MAGAZINE_SIZES] = {3, 7, 15, 31, 63};
static struct kmem_cache magazine_caches[NR_MAGAZINE_SIZES];

/* The empty magazine every per-CPU cache starts with: capacity 0 sends both
 * fast paths to the slow path, which installs real magazines. */
static union {
    struct kmem_magazine m;
    void *storage[sizeof(struct kmem_magazine) / sizeof(void *) + 1]; /* + mag_round[0] */
} empty_magazine;
#define EMPTY_MAGAZINE (&empty_magazine.m)

/* Cache ids: index of a cache in every CPU's array of per-CPU caches. */
static struct kmem_mutex id_lock;
static unsigned long id_map[MAX_CACHE_IDS / (8 * sizeof(unsigned long))];

/* ---- per-CPU caches --------------------------------------------------------- */

static unsigned int magazine_size_for(unsigned int object_size)
{
    if (object_size <= 256)
        return 4; /* 63 rounds */
    if (object_size <= 1024)
        return 3;
    if (object_size <= 4096)
        return 2;
    if (object_size <= 16384)
        return 1;
    return 0;
}

void kmem_magazine_boot(void)
{
    kmem_mutex_init(&id_lock);
    kmem_memset(id_map, 0, sizeof id_map);
    kmem_memset(&empty_magazine, 0, sizeof empty_magazine); /* mag_round[0] is NULL */
    static const char *const names[NR_MAGAZINE_SIZES] = {"kmem_magazine_3", "kmem_magazine_7",
                                                         "kmem_magazine_15", "kmem_magazine_31",
                                                         "kmem_magazine_63"};
    for (unsigned int i = 0; i < NR_MAGAZINE_SIZES; i++)
        kmem_cache_setup_static(
            &magazine_caches[i], names[i],
            (unsigned int)(sizeof(struct kmem_magazine) + (magazine_sizes[i] + 1) * sizeof(void *)),
            0, SLAB_HWCACHE_ALIGN, false);
}

void kmem_magazine_cache_init(struct kmem_cache *c, bool magazines)
{
    c->c_id = KMEM_NO_ID;
    c->c_magsize = 0;
    c->c_magazine_cache = NULL;
    if (!magazines)
        return;
    kmem_mutex_lock(&id_lock);
    for (unsigned int w = 0; w < KMEM_ARRAY_SIZE(id_map); w++) {
        if (~id_map[w]) {
            unsigned int bit = (unsigned int)__builtin_ctzl(~id_map[w]);
            id_map[w] |= 1UL << bit;
            c->c_id = w * (unsigned int)(8 * sizeof(unsigned long)) + bit;
            break;
        }
    }
    kmem_mutex_unlock(&id_lock);
    if (c->c_id == KMEM_NO_ID)
        return; /* out of ids: this cache works from its slabs only */
    unsigned int kind = magazine_size_for(c->c_size);
    c->c_magsize = magazine_sizes[kind];
    c->c_magazine_cache = &magazine_caches[kind];
}

void kmem_magazine_cache_fini(struct kmem_cache *c)
{
    if (c->c_id == KMEM_NO_ID)
        return;
    unsigned int bits = (unsigned int)(8 * sizeof(unsigned long));
    kmem_mutex_lock(&id_lock);
    id_map[c->c_id / bits] &= ~(1UL << (c->c_id % bits));
    kmem_mutex_unlock(&id_lock);
    c->c_id = KMEM_NO_ID;
}

/* Make this CPU's array of per-CPU caches cover id (slow path, rare). */
static KMEM_NOINLINE bool cpu_caches_grow(struct kmem_cpu *cpu, unsigned int id)
{
    unsigned int n = 64;
    while (n <= id)
        n *= 2;
    size_t bytes = n * sizeof(struct kmem_cpu_cache);
    unsigned int order = (unsigned int)get_order(bytes);
    struct page *page = alloc_pages(GFP_KERNEL, order);
    if (!page)
        return false;
    struct kmem_cpu_cache *fresh = pf_page_address(page);
    struct kmem_cpu_cache *old = cpu->cpu_caches;
    unsigned int old_n = cpu->cpu_ncaches;
    for (unsigned int i = 0; i < n; i++) {
        fresh[i].cc_loaded = i < old_n ? old[i].cc_loaded : EMPTY_MAGAZINE;
        fresh[i].cc_prev = i < old_n ? old[i].cc_prev : EMPTY_MAGAZINE;
    }
    /* Swap under the registry lock: kmem_cache_destroy reads other CPUs'
     * arrays under it. */
    kmem_cpu_registry_lock();
    cpu->cpu_caches = fresh;
    cpu->cpu_ncaches = n;
    kmem_cpu_registry_unlock();
    if (old)
        free_pages((unsigned long)old, (unsigned int)get_order(old_n * sizeof *old));
    return true;
}

/* The calling CPU's per-CPU cache of c, or NULL (no magazines for c, or this
 * thread is exiting). */
static struct kmem_cpu_cache *cpu_cache(struct kmem_cache *c)
{
    if (c->c_id == KMEM_NO_ID)
        return NULL;
    struct kmem_cpu *cpu = kmem_this_cpu();
    if (!kmem_cpu_attach_self(cpu))
        return NULL;
    if (c->c_id >= cpu->cpu_ncaches && !cpu_caches_grow(cpu, c->c_id))
        return NULL;
    return &cpu->cpu_caches[c->c_id];
}

/* ---- magazines and the depot ------------------------------------------------ */

static struct kmem_magazine *magazine_new(struct kmem_cache *c)
{
    struct kmem_magazine *m;
    if (!kmem_slab_alloc_bulk(c->c_magazine_cache, GFP_NOWAIT, (void **)&m, 1))
        return NULL;
    m->mag_next = NULL;
    m->mag_rounds = 0;
    m->mag_capacity = c->c_magsize;
    m->mag_round[0] = NULL;
    return m;
}

/* Give a magazine's objects back to the slabs, and the magazine to its cache. */
static void magazine_destroy(struct kmem_cache *c, struct kmem_magazine *m)
{
    if (m == EMPTY_MAGAZINE)
        return;
    if (m->mag_rounds)
        kmem_slab_free_bulk(c, &m->mag_round[1], m->mag_rounds, NULL);
    kmem_slab_free_bulk(c->c_magazine_cache, (void **)&m, 1, NULL);
}

static struct kmem_magazine *depot_take(struct kmem_magazine **list, unsigned long *count)
{
    struct kmem_magazine *m = *list;
    if (m) {
        *list = m->mag_next;
        (*count)--;
    }
    return m;
}

static void depot_give(struct kmem_magazine **list, unsigned long *count, struct kmem_magazine *m)
{
    m->mag_next = *list;
    *list = m;
    (*count)++;
}

void kmem_magazine_depot_purge(struct kmem_cache *c)
{
    struct kmem_depot *d = &c->c_depot;
    kmem_mutex_lock(&d->d_lock);
    struct kmem_magazine *full = d->d_full, *empty = d->d_empty;
    d->d_full = d->d_empty = NULL;
    d->d_nfull = d->d_nempty = 0;
    kmem_mutex_unlock(&d->d_lock);
    while (full) {
        struct kmem_magazine *next = full->mag_next;
        magazine_destroy(c, full);
        full = next;
    }
    while (empty) {
        struct kmem_magazine *next = empty->mag_next;
        magazine_destroy(c, empty);
        empty = next;
    }
}

static void cpu_cache_flush(struct kmem_cache *c, struct kmem_cpu_cache *cc)
{
    magazine_destroy(c, cc->cc_loaded);
    magazine_destroy(c, cc->cc_prev);
    cc->cc_loaded = EMPTY_MAGAZINE;
    cc->cc_prev = EMPTY_MAGAZINE;
}

void kmem_magazine_flush_self(struct kmem_cache *c)
{
    struct kmem_cpu *cpu = kmem_this_cpu();
    if (c->c_id < cpu->cpu_ncaches)
        cpu_cache_flush(c, &cpu->cpu_caches[c->c_id]);
}

struct flush_one {
    struct kmem_cache *cache;
};

static void flush_cpu_of_cache(struct kmem_cpu *cpu, void *arg)
{
    struct kmem_cache *c = ((struct flush_one *)arg)->cache;
    if (c->c_id < cpu->cpu_ncaches)
        cpu_cache_flush(c, &cpu->cpu_caches[c->c_id]);
}

void kmem_magazine_purge_all(struct kmem_cache *c)
{
    if (c->c_id != KMEM_NO_ID) {
        struct flush_one arg = {c};
        kmem_cpu_registry_lock();
        kmem_cpu_for_each_locked(flush_cpu_of_cache, &arg);
        kmem_cpu_registry_unlock();
    }
    kmem_magazine_depot_purge(c);
}

/* Thread exit: return every magazine to its depot (full ones stay full, to
 * be used by other threads), flushing partial ones to the slabs. */
static void flush_cpu_cache(struct kmem_cache *c, void *arg)
{
    struct kmem_cpu *cpu = arg;
    if (c->c_id == KMEM_NO_ID || c->c_id >= cpu->cpu_ncaches)
        return;
    struct kmem_cpu_cache *cc = &cpu->cpu_caches[c->c_id];
    struct kmem_magazine *mags[2] = {cc->cc_loaded, cc->cc_prev};
    cc->cc_loaded = cc->cc_prev = EMPTY_MAGAZINE;
    for (int i = 0; i < 2; i++) {
        struct kmem_magazine *m = mags[i];
        if (m == EMPTY_MAGAZINE)
            continue;
        if (m->mag_rounds == m->mag_capacity || m->mag_rounds == 0) {
            kmem_mutex_lock(&c->c_depot.d_lock);
            if (m->mag_rounds)
                depot_give(&c->c_depot.d_full, &c->c_depot.d_nfull, m);
            else
                depot_give(&c->c_depot.d_empty, &c->c_depot.d_nempty, m);
            kmem_mutex_unlock(&c->c_depot.d_lock);
        } else {
            magazine_destroy(c, m);
        }
    }
}

void kmem_magazine_cpu_flush(struct kmem_cpu *cpu)
{
    if (!cpu->cpu_caches)
        return;
    kmem_slab_for_each_cache(flush_cpu_cache, cpu);
    struct kmem_cpu_cache *caches = cpu->cpu_caches;
    unsigned int n = cpu->cpu_ncaches;
    cpu->cpu_caches = NULL;
    cpu->cpu_ncaches = 0;
    free_pages((unsigned long)caches, (unsigned int)get_order(n * sizeof *caches));
}

/* ---- allocation --------------------------------------------------------------- */

/* Refill: a full magazine from the depot, or one filled from the slabs. */
static void *cpu_cache_alloc(struct kmem_cache *c, struct kmem_cpu_cache *cc, gfp_t gfp)
{
    struct kmem_magazine *m = cc->cc_loaded;
    if (m->mag_rounds)
        return m->mag_round[m->mag_rounds--];
    if (cc->cc_prev->mag_rounds) {
        cc->cc_loaded = cc->cc_prev;
        cc->cc_prev = m;
        return cc->cc_loaded->mag_round[cc->cc_loaded->mag_rounds--];
    }
    struct kmem_depot *d = &c->c_depot;
    kmem_mutex_lock(&d->d_lock);
    struct kmem_magazine *full = depot_take(&d->d_full, &d->d_nfull);
    if (full) {
        if (cc->cc_prev != EMPTY_MAGAZINE)
            depot_give(&d->d_empty, &d->d_nempty, cc->cc_prev);
        cc->cc_prev = m;
        cc->cc_loaded = full;
        kmem_mutex_unlock(&d->d_lock);
        return full->mag_round[full->mag_rounds--];
    }
    kmem_mutex_unlock(&d->d_lock);
    /* No full magazine anywhere: fill the loaded one from the slabs, with one
     * trip through the slab lock for a whole magazine. */
    if (m == EMPTY_MAGAZINE) {
        m = magazine_new(c);
        if (!m)
            return NULL;
        cc->cc_loaded = m;
    }
    m->mag_rounds = kmem_slab_alloc_bulk(c, gfp, &m->mag_round[1], m->mag_capacity);
    if (!m->mag_rounds)
        return NULL;
    return m->mag_round[m->mag_rounds--];
}

KMEM_NOINLINE void *kmem_cache_alloc_slow(struct kmem_cache *c, gfp_t gfp)
{
    void *obj = NULL;
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "kmem_cache_alloc(%s) called before kmem_init", c->c_name);
    struct kmem_cpu_cache *cc = cpu_cache(c);
    if (cc)
        obj = cpu_cache_alloc(c, cc, gfp);
    if (!obj && !kmem_slab_alloc_bulk(c, gfp, &obj, 1))
        return NULL;
    if (gfp & __GFP_ZERO)
        kmem_memset(obj, 0, c->c_object_size);
    return obj;
}

void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
    CACHE_ALLOC(c, gfp);
}

/* ---- free --------------------------------------------------------------------- */

static bool cpu_cache_free(struct kmem_cache *c, struct kmem_cpu_cache *cc, void *obj)
{
    struct kmem_magazine *m = cc->cc_loaded;
    if (m->mag_rounds < m->mag_capacity) {
        m->mag_round[++m->mag_rounds] = obj;
        return true;
    }
    if (cc->cc_prev->mag_rounds == 0 && cc->cc_prev != EMPTY_MAGAZINE) {
        cc->cc_loaded = cc->cc_prev;
        cc->cc_prev = m;
        cc->cc_loaded->mag_round[++cc->cc_loaded->mag_rounds] = obj;
        return true;
    }
    /* Both full (or not yet real): the previous one goes to the depot as a
     * full magazine, the loaded one becomes previous, and an empty magazine
     * from the depot (or a new one) is loaded. */
    struct kmem_depot *d = &c->c_depot;
    kmem_mutex_lock(&d->d_lock);
    struct kmem_magazine *empty = depot_take(&d->d_empty, &d->d_nempty);
    kmem_mutex_unlock(&d->d_lock);
    if (!empty) {
        empty = magazine_new(c);
        if (!empty)
            return false;
    }
    kmem_mutex_lock(&d->d_lock);
    if (cc->cc_prev != EMPTY_MAGAZINE)
        depot_give(&d->d_full, &d->d_nfull, cc->cc_prev);
    kmem_mutex_unlock(&d->d_lock);
    cc->cc_prev = m;
    cc->cc_loaded = empty;
    empty->mag_round[++empty->mag_rounds] = obj;
    return true;
}

KMEM_NOINLINE void kmem_cache_free_slow(struct kmem_cache *c, void *obj, const void *caller)
{
    if (!obj)
        return;                          /* kmem_cache_free(c, NULL) does nothing, as kfree(NULL) */
    kmem_slab_of_object(c, obj, caller); /* names a wrong cache, a foreign or interior pointer */
    struct kmem_cpu_cache *cc = cpu_cache(c);
    if (cc && (obj == cc->cc_loaded->mag_round[cc->cc_loaded->mag_rounds] ||
               obj == cc->cc_prev->mag_round[cc->cc_prev->mag_rounds]))
        kmem_error(KMERR_DOUBLE_FREE,
                   "kmem_cache_free(%s, %p) called from %p: the object was just freed", c->c_name,
                   obj, caller);
    if (!cc || !cpu_cache_free(c, cc, obj))
        kmem_slab_free_bulk(c, &obj, 1, caller);
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
    if (likely(cache_free_fast(c, obj)))
        return;
    kmem_cache_free_slow(c, obj, KMEM_RET_ADDR());
}
