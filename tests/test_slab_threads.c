/* SPDX-License-Identifier: MIT */
/*
 * test_slab_threads.c - the object caches under threads (clean under TSan
 * and ASan).
 *
 *   slab_threads_random       4 threads allocate and free at random from
 *                             shared caches (some with constructors), with
 *                             patterns written and verified and every live
 *                             object's bytes claimed in a shared bitmap (no
 *                             two live objects overlap), while the main
 *                             thread runs kmem_cache_check, kmem_cache_info
 *                             and kmem_slabinfo concurrently.
 *   slab_threads_cross_free   2 producers allocate, 2 consumers verify and
 *                             free (through a mutex-protected queue): objects
 *                             go back from another thread than their own.
 *   slab_threads_create_destroy  threads create, use and destroy caches of
 *                             their own while others do the same.
 *   slab_threads_exit_while_destroying  short-lived threads use the shared
 *                             caches and exit (returning their per-thread
 *                             state) while two threads create and destroy
 *                             caches of their own.
 *
 * At the end of each: every object freed, kmem_cache_check() == 0, and after
 * shrinking and destroying the caches the page allocator has every page back.
 * KMEM_TEST_OPS sets the operations per thread (default 400000; 40000 under
 * ThreadSanitizer).
 */
#include "harness.h"
#include "pages_util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kmem.h>

#include "core/slab.h"

enum {
    NR_WORKERS = 4,
    NR_SLOTS = 96, /* live objects per worker */
    MEM_SIZE = 64 << 20,
    TEXT_LEN = 1 << 16,
};

static unsigned long ops_per_thread(void)
{
    const char *env = getenv("KMEM_TEST_OPS");
    if (env && *env) {
        unsigned long v = strtoul(env, NULL, 0);
        if (v)
            return v;
    }
    return UNDER_TSAN ? 40000 : 400000;
}

/* ---- machine-wide views ------------------------------------------------------ */

/* White-box: give every cache's empty slabs back (the internal caches:
 * "kmem_cache", "kmem_slab", the magazines' and kmalloc's), so that page
 * counts compare exactly however many slabs those grew to. Called when no
 * cache of the test's own is left. */
static void collect_cache(struct kmem_cache *c, void *arg)
{
    struct kmem_cache **out = arg;
    for (int i = 0; i < 63; i++)
        if (!out[i]) {
            out[i] = c;
            return;
        }
}

static void shrink_internal(void)
{
    struct kmem_cache *all[64] = {NULL};
    kmem_slab_for_each_cache(collect_cache, all);
    int n = 0;
    /* Twice: shrinking a cache with off-slab headers frees objects of
     * "kmem_slab", which may then hold empty slabs again. */
    for (int pass = 0; pass < 2; pass++)
        for (n = 0; all[n]; n++)
            kmem_cache_shrink(all[n]);
    CHECK(n >= 2 && n < 63);
}

/* ---- the shared caches ---------------------------------------------------------- */

struct tcache {
    const char *name;
    unsigned int size, align;
    bool ctor;
    struct kmem_cache *c;
    uint64_t ctor_seed;
};

static struct tcache tcaches[] = {
    {"t-32", 32, 0, false, NULL, 0},     {"t-64-ctor", 64, 0, true, NULL, 0},
    {"t-200", 200, 64, false, NULL, 0},  {"t-1000-ctor", 1000, 0, true, NULL, 0},
    {"t-3072", 3072, 0, false, NULL, 0}, {"t-20000-ctor", 20000, 0, true, NULL, 0},
};
enum { NR_TCACHES = sizeof tcaches / sizeof tcaches[0] };

static inline uint64_t pattern_word(uint64_t seed, uintptr_t addr, size_t i)
{
    return (seed ^ (addr + 8 * i)) * 0x9E3779B97F4A7C15ull + i;
}

static void pattern_fill(void *p, size_t size, uint64_t seed)
{
    uint64_t *w = p;
    for (size_t i = 0; i < size / 8; i++)
        w[i] = pattern_word(seed, (uintptr_t)p, i);
}

static bool pattern_ok(const void *p, size_t size, uint64_t seed)
{
    const uint64_t *w = p;
    for (size_t i = 0; i < size / 8; i++)
        if (w[i] != pattern_word(seed, (uintptr_t)p, i))
            return false;
    return true;
}

static void tcache_ctor(void *obj, void *priv)
{
    const struct tcache *t = priv;
    pattern_fill(obj, t->size, t->ctor_seed);
}

static void tcaches_create(void)
{
    for (int k = 0; k < NR_TCACHES; k++) {
        struct tcache *t = &tcaches[k];
        t->ctor_seed = 0xC7000000ull + (uint64_t)k;
        struct kmem_cache_ops ops = {tcache_ctor, NULL, NULL, t};
        t->c = t->ctor ? kmem_cache_create_ops(t->name, t->size, t->align, 0, &ops)
                       : kmem_cache_create(t->name, t->size, t->align, 0, NULL);
        CHECK(t->c != NULL);
    }
}

/* Every object freed: check, shrink and destroy the shared caches. */
static void tcaches_destroy(void)
{
    for (int k = 0; k < NR_TCACHES; k++) {
        struct tcache *t = &tcaches[k];
        if (!t->c)
            continue;
        CHECK_EQ(kmem_cache_check(t->c), 0);
        /* The threads are gone and every object is free: nothing may keep a
         * slab of the cache once it is shrunk. */
        CHECK_EQ(kmem_cache_shrink(t->c), 0);
        struct kmem_cache_info in;
        kmem_cache_info(t->c, &in);
        CHECK_EQ(in.active_objs, 0);
        CHECK_EQ(in.slabs, 0);
        CHECK_EQ(kmem_cache_check(t->c), 0);
        kmem_cache_destroy(t->c);
        t->c = NULL;
    }
}

/* ---- who owns which bytes: one bit per 8 bytes of the machine ------------------ */

static uint64_t granules[MEM_SIZE / 8 / 64];

/* Claim (or release) the granules of [p, p + size) atomically; false if any
 * was already claimed (released): two live objects would overlap. */
static bool granules_mark(const void *p, size_t size, bool claim)
{
    uint64_t first = virt_to_phys(p) >> 3, end = first + (size + 7) / 8;
    bool ok = true;
    for (uint64_t g = first; g < end;) {
        uint64_t word = g / 64, lo = g % 64;
        uint64_t hi = end - word * 64 < 64 ? end - word * 64 : 64;
        uint64_t mask = (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
        uint64_t old = claim ? __atomic_fetch_or(&granules[word], mask, __ATOMIC_RELAXED)
                             : __atomic_fetch_and(&granules[word], ~mask, __ATOMIC_RELAXED);
        if (claim ? (old & mask) != 0 : (old & mask) != mask)
            ok = false;
        g = word * 64 + hi;
    }
    return ok;
}

/* ---- a worker and its objects ----------------------------------------------------- */

struct obj {
    void *p; /* NULL: slot empty */
    int k;   /* its cache */
    uint64_t seed;
};

struct worker {
    pthread_t tid;
    int id;
    unsigned long ops;
    uint64_t rng;
    unsigned long allocs, frees;
    int failures;
    char error[256];
    struct obj slots[NR_SLOTS];
};

#define WFAIL(w, ...)                                                                              \
    do {                                                                                           \
        if ((w)->failures++ == 0)                                                                  \
            snprintf((w)->error, sizeof(w)->error, __VA_ARGS__);                                   \
    } while (0)

static void worker_report(const struct worker *w)
{
    if (w->failures)
        fprintf(stderr, "worker %d: %d failures; first: %s\n", w->id, w->failures, w->error);
    CHECK_EQ(w->failures, 0);
}

/* Allocate from cache k: constructed state (or zeroed) checked, then our
 * own pattern written and the bytes claimed. */
static bool obj_alloc(struct worker *w, struct obj *o, int k)
{
    struct tcache *t = &tcaches[k];
    bool zero = harness_rand(&w->rng) % 16 == 0;
    void *p = zero ? kmem_cache_zalloc(t->c, GFP_KERNEL) : kmem_cache_alloc(t->c, GFP_KERNEL);
    if (!p) {
        WFAIL(w, "%s: allocation failed", t->name);
        return false;
    }
    if (!granules_mark(p, t->size, true))
        WFAIL(w, "%s: object %p overlaps a live object", t->name, p);
    struct page *pg = virt_to_page(p);
    if (!pg || pg->pg_owner != PG_OWNER_SLAB || pg->pg_owner_p1 != t->c)
        WFAIL(w, "%s: object %p is in no slab of its cache", t->name, p);
    if (zero) {
        const unsigned char *b = p;
        for (unsigned int i = 0; i < t->size; i++)
            if (b[i]) {
                WFAIL(w, "%s: zalloc object %p is not zeroed", t->name, p);
                break;
            }
    } else if (t->ctor && !pattern_ok(p, t->size, t->ctor_seed)) {
        WFAIL(w, "%s: object %p is not in its constructed state", t->name, p);
    }
    o->p = p;
    o->k = k;
    o->seed = harness_rand(&w->rng);
    pattern_fill(p, t->size, o->seed);
    w->allocs++;
    return true;
}

/* Verify our pattern, return the object constructed, release and free it. */
static void obj_free(struct worker *w, struct obj *o)
{
    struct tcache *t = &tcaches[o->k];
    if (!pattern_ok(o->p, t->size, o->seed))
        WFAIL(w, "%s: object %p was overwritten while live", t->name, o->p);
    if (t->ctor)
        pattern_fill(o->p, t->size, t->ctor_seed);
    if (!granules_mark(o->p, t->size, false))
        WFAIL(w, "%s: object %p was not claimed", t->name, o->p);
    kmem_cache_free(t->c, o->p);
    o->p = NULL;
    w->frees++;
}

static int pick_cache(uint64_t *rng)
{
    /* the large caches less often: they cost more pages and more bytes */
    unsigned int r = (unsigned int)(harness_rand(rng) % 32);
    return r < 8 ? 0 : r < 15 ? 1 : r < 21 ? 2 : r < 26 ? 3 : r < 30 ? 4 : 5;
}

static void workers_start(struct worker *ws, int n, int first_id, unsigned long ops,
                          void *(*fn)(void *))
{
    for (int i = 0; i < n; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].id = first_id + i;
        ws[i].ops = ops;
        ws[i].rng = 0x9876543ull * (uint64_t)(i + 1) + 11;
        CHECK_EQ(pthread_create(&ws[i].tid, NULL, fn, &ws[i]), 0);
    }
}

static void workers_join(struct worker *ws, int n)
{
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].tid, NULL);
        worker_report(&ws[i]);
    }
}

/* ---- random alloc/free with concurrent checks -------------------------------------- */

static int running_workers;

static void *random_worker(void *arg)
{
    struct worker *w = arg;
    for (unsigned long op = 0; op < w->ops; op++) {
        struct obj *o = &w->slots[harness_rand(&w->rng) % NR_SLOTS];
        if (o->p)
            obj_free(w, o);
        else
            obj_alloc(w, o, pick_cache(&w->rng));
    }
    for (int i = 0; i < NR_SLOTS; i++)
        if (w->slots[i].p)
            obj_free(w, &w->slots[i]);
    __atomic_sub_fetch(&running_workers, 1, __ATOMIC_RELEASE);
    return NULL;
}

static char text[TEXT_LEN];

TEST(slab_threads_random)
{
    REQUIRE(kmem_init(NULL) == 0);
    memset(granules, 0, sizeof granules);
    unsigned long base = test_free_pages();
    tcaches_create();
    struct worker ws[NR_WORKERS];
    __atomic_store_n(&running_workers, NR_WORKERS, __ATOMIC_RELAXED);
    workers_start(ws, NR_WORKERS, 1, ops_per_thread(), random_worker);
    int checks = 0, bad = 0;
    while (__atomic_load_n(&running_workers, __ATOMIC_ACQUIRE) > 0) {
        for (int k = 0; k < NR_TCACHES; k++) {
            bad += kmem_cache_check(tcaches[k].c) != 0;
            struct kmem_cache_info in;
            kmem_cache_info(tcaches[k].c, &in);
            if (in.active_objs > in.total_objs ||
                in.slabs != in.full_slabs + in.partial_slabs + in.empty_slabs)
                bad++;
        }
        size_t n = kmem_slabinfo(text, sizeof text);
        if (n >= sizeof text || !strstr(text, "t-64-ctor"))
            bad++;
        checks++;
        usleep(1000);
    }
    workers_join(ws, NR_WORKERS);
    unsigned long allocs = 0;
    for (int i = 0; i < NR_WORKERS; i++) {
        allocs += ws[i].allocs;
        CHECK_EQ(ws[i].allocs, ws[i].frees);
    }
    fprintf(stderr, "  %lu objects allocated and freed by %d threads; %d concurrent checks\n",
            allocs, NR_WORKERS, checks);
    CHECK_EQ(bad, 0);
    tcaches_destroy();
    shrink_internal();
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- cross-thread frees through a queue ------------------------------------------ */

enum { QUEUE_CAP = 512, NR_PRODUCERS = 2, NR_CONSUMERS = 2 };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct obj items[QUEUE_CAP];
    unsigned int head, count;
    unsigned long remaining; /* objects still to be consumed */
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .not_empty = PTHREAD_COND_INITIALIZER,
           .not_full = PTHREAD_COND_INITIALIZER};

static void queue_push(const struct obj *o)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_CAP)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.items[(queue.head + queue.count++) % QUEUE_CAP] = *o;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

static void queue_skip(void)
{
    pthread_mutex_lock(&queue.lock);
    if (--queue.remaining == 0)
        pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

/* false when every object has been consumed */
static bool queue_pop(struct obj *o)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0 && queue.remaining > 0)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    if (queue.remaining == 0) {
        pthread_mutex_unlock(&queue.lock);
        return false;
    }
    *o = queue.items[queue.head];
    queue.head = (queue.head + 1) % QUEUE_CAP;
    queue.count--;
    if (--queue.remaining == 0)
        pthread_cond_broadcast(&queue.not_empty); /* wake the other consumers */
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
    return true;
}

/* Producers also free some of their own objects, so that every slab sees
 * frees from its own thread and from others. */
static void *producer(void *arg)
{
    struct worker *w = arg;
    for (unsigned long i = 0; i < w->ops; i++) {
        struct obj o;
        if (!obj_alloc(w, &o, pick_cache(&w->rng))) {
            queue_skip();
            continue;
        }
        struct obj *mine = &w->slots[harness_rand(&w->rng) % 16];
        if (harness_rand(&w->rng) % 4 == 0) {
            if (mine->p)
                obj_free(w, mine);
            *mine = o;
            queue_skip(); /* this one is not queued */
            continue;
        }
        queue_push(&o);
    }
    for (int i = 0; i < 16; i++)
        if (w->slots[i].p)
            obj_free(w, &w->slots[i]);
    return NULL;
}

static void *consumer(void *arg)
{
    struct worker *w = arg;
    struct obj o;
    while (queue_pop(&o))
        obj_free(w, &o);
    return NULL;
}

TEST(slab_threads_cross_free)
{
    REQUIRE(kmem_init(NULL) == 0);
    memset(granules, 0, sizeof granules);
    unsigned long base = test_free_pages();
    tcaches_create();
    unsigned long per_producer = ops_per_thread();
    queue.head = queue.count = 0;
    queue.remaining = per_producer * NR_PRODUCERS;
    struct worker prod[NR_PRODUCERS], cons[NR_CONSUMERS];
    workers_start(cons, NR_CONSUMERS, 20, 0, consumer);
    workers_start(prod, NR_PRODUCERS, 10, per_producer, producer);
    workers_join(prod, NR_PRODUCERS);
    workers_join(cons, NR_CONSUMERS);
    unsigned long made = 0, freed = 0, cross = 0;
    for (int i = 0; i < NR_PRODUCERS; i++) {
        made += prod[i].allocs;
        freed += prod[i].frees;
    }
    for (int i = 0; i < NR_CONSUMERS; i++) {
        freed += cons[i].frees;
        cross += cons[i].frees;
    }
    CHECK_EQ(made, per_producer * NR_PRODUCERS);
    CHECK_EQ(freed, made);
    CHECK(cross > made / 2);
    fprintf(stderr, "  %lu objects allocated by producers, %lu of them freed by consumers\n", made,
            cross);
    tcaches_destroy();
    shrink_internal();
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- caches created and destroyed concurrently ----------------------------------- */

static void *create_destroy_worker(void *arg)
{
    struct worker *w = arg;
    static const unsigned int sizes[] = {24, 136, 700, 5000};
    unsigned long rounds = w->ops / 200 + 1;
    for (unsigned long r = 0; r < rounds; r++) {
        char name[32];
        unsigned int size = sizes[(w->id + r) % 4];
        snprintf(name, sizeof name, "own-%d-%lu", w->id, r % 100);
        struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, NULL);
        if (!c) {
            WFAIL(w, "kmem_cache_create(%s) failed", name);
            continue;
        }
        void *objs[40];
        unsigned int n = 1 + (unsigned int)(harness_rand(&w->rng) % 40);
        for (unsigned int i = 0; i < n; i++) {
            objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
            if (!objs[i]) {
                WFAIL(w, "%s: allocation failed", name);
                n = i;
                break;
            }
            pattern_fill(objs[i], size, (uint64_t)w->id << 32 | i);
        }
        for (unsigned int i = 0; i < n; i++) {
            if (!pattern_ok(objs[i], size, (uint64_t)w->id << 32 | i))
                WFAIL(w, "%s: object %p was overwritten", name, objs[i]);
            kmem_cache_free(c, objs[i]);
        }
        if (kmem_cache_check(c) != 0)
            WFAIL(w, "%s: kmem_cache_check failed", name);
        kmem_cache_destroy(c);
        w->allocs += n;
        w->frees += n;
    }
    __atomic_sub_fetch(&running_workers, 1, __ATOMIC_RELEASE);
    return NULL;
}

TEST(slab_threads_create_destroy)
{
    REQUIRE(kmem_init(NULL) == 0);
    shrink_internal();
    unsigned long base = test_free_pages();
    struct worker ws[NR_WORKERS];
    __atomic_store_n(&running_workers, NR_WORKERS, __ATOMIC_RELAXED);
    workers_start(ws, NR_WORKERS, 1, ops_per_thread(), create_destroy_worker);
    int views = 0, bad = 0;
    while (__atomic_load_n(&running_workers, __ATOMIC_ACQUIRE) > 0) {
        size_t n = kmem_slabinfo(text, sizeof text);
        if (n >= sizeof text || strncmp(text, "slabinfo - version: 2.1\n", 24) != 0)
            bad++;
        views++;
        usleep(200);
    }
    workers_join(ws, NR_WORKERS);
    CHECK_EQ(bad, 0);
    /* No cache of theirs is left. */
    kmem_slabinfo(text, sizeof text);
    CHECK(strstr(text, "own-") == NULL);
    unsigned long allocs = 0;
    for (int i = 0; i < NR_WORKERS; i++)
        allocs += ws[i].allocs;
    fprintf(stderr, "  %lu caches created and destroyed, %lu objects, %d slabinfo views\n",
            (ops_per_thread() / 200 + 1) * NR_WORKERS, allocs, views);
    shrink_internal();
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- threads exit while caches are created and destroyed ------------------------ */

/* A thread that exits returns its per-thread state of every cache while
 * other threads create and destroy caches of their own (idle caches: no
 * thread uses a cache being destroyed). */

static int churn_stop;

static void *churn_worker(void *arg)
{
    struct worker *w = arg;
    static const unsigned int sizes[] = {40, 300, 2000};
    unsigned long r = 0;
    while (!__atomic_load_n(&churn_stop, __ATOMIC_ACQUIRE)) {
        char name[32];
        snprintf(name, sizeof name, "churn-%d", w->id);
        struct kmem_cache *c = kmem_cache_create(name, sizes[r++ % 3], 0, 0, NULL);
        if (!c) {
            WFAIL(w, "kmem_cache_create(%s) failed", name);
            break;
        }
        void *p = kmem_cache_alloc(c, GFP_KERNEL);
        if (!p)
            WFAIL(w, "%s: allocation failed", name);
        else
            kmem_cache_free(c, p);
        kmem_cache_destroy(c);
        w->allocs++;
    }
    return NULL;
}

/* Uses the shared caches briefly, then exits. */
static void *short_lived(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 8; i++) {
        struct obj o;
        if (obj_alloc(w, &o, i % NR_TCACHES))
            obj_free(w, &o);
    }
    return NULL;
}

TEST(slab_threads_exit_while_destroying)
{
    REQUIRE(kmem_init(NULL) == 0);
    memset(granules, 0, sizeof granules);
    shrink_internal();
    unsigned long base = test_free_pages();
    tcaches_create();
    struct worker churn[2];
    __atomic_store_n(&churn_stop, 0, __ATOMIC_RELAXED);
    workers_start(churn, 2, 1, 0, churn_worker);
    unsigned long rounds = ops_per_thread() / 2000 + 10;
    for (unsigned long r = 0; r < rounds; r++) {
        struct worker sl[2];
        workers_start(sl, 2, 10, 0, short_lived);
        workers_join(sl, 2);
    }
    __atomic_store_n(&churn_stop, 1, __ATOMIC_RELEASE);
    workers_join(churn, 2);
    fprintf(stderr, "  %lu short-lived threads exited while %lu caches came and went\n", 2 * rounds,
            churn[0].allocs + churn[1].allocs);
    tcaches_destroy();
    shrink_internal();
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* Each test brings its machine up; take it down even after a failed REQUIRE. */
#define RUN_CLEAN(t)                                                                               \
    do {                                                                                           \
        RUN(t);                                                                                    \
        kmem_exit();                                                                               \
    } while (0)

int main(void)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    fprintf(stderr, "%lu operations per thread%s\n", ops_per_thread(),
            UNDER_TSAN ? " (ThreadSanitizer)" : "");
    RUN_CLEAN(slab_threads_random);
    RUN_CLEAN(slab_threads_cross_free);
    RUN_CLEAN(slab_threads_create_destroy);
    RUN_CLEAN(slab_threads_exit_while_destroying);
    return harness_report();
}
