/* SPDX-License-Identifier: MIT */
/*
 * test_magazine.c - the magazine layer's own machinery (magazine.c).
 *
 *   magazine_slots            kmalloc's caches have the fixed slots its fast
 *                             path assumes, user caches slots of their own,
 *                             every thread starts on the sentinel, and the
 *                             calling CPU's slot passes kmem_cache_check (M1).
 *   magazine_overflow_caches  caches whose ids have no slot (200 caches) still
 *                             keep freed objects in magazines, through the
 *                             slow path, and give them back when a thread
 *                             exits; then all the pages come back.
 *   magazine_single_thread_no_resize  without contention the size stays.
 *   magazine_resize_contended a contended depot lock grows the magazines
 *                             step by step up to the size limit of the
 *                             objects (Bonwick and Adams 2001), and the depot
 *                             keeps only magazines of the current size (M2).
 *   magazine_resize_threads   two threads churning batches through the depot
 *                             while it grows: contents intact, checks clean.
 */
#include "harness.h"
#include "pages_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <kmem.h>

#include "core/pcp.h"
#include "core/slab.h"

enum { BATCH = 1000, MAX_CACHES = 200 };

static void up(void)
{
    struct kmem_config cfg = {.mem_size = 256u << 20};
    if (kmem_init(&cfg) != 0) {
        fprintf(stderr, "kmem_init failed\n");
        exit(2);
    }
}

static void shrink_one(struct kmem_cache *c, void *arg)
{
    (void)arg;
    kmem_cache_shrink(c);
}

/* Every cache's spare slabs and magazines back (the internal ones too).
 * Twice: shrinking a cache with off-slab headers frees headers into
 * "kmem_slab", which may have been shrunk before it in the first pass. */
static void shrink_all(void)
{
    kmem_slab_for_each_cache(shrink_one, NULL);
    kmem_slab_for_each_cache(shrink_one, NULL);
}

static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    memset(&in, 0, sizeof in);
    kmem_cache_info(c, &in);
    return in;
}

/* A batch: BATCH objects allocated, stamped, checked and freed again. */
static bool batch(struct kmem_cache *c, uint64_t stamp)
{
    static _Thread_local void *objs[BATCH];
    for (int i = 0; i < BATCH; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        if (!objs[i])
            return false;
        *(uint64_t *)objs[i] = stamp ^ (uint64_t)(uintptr_t)objs[i];
    }
    bool ok = true;
    for (int i = 0; i < BATCH; i++) {
        ok &= *(uint64_t *)objs[i] == (stamp ^ (uint64_t)(uintptr_t)objs[i]);
        kmem_cache_free(c, objs[i]);
    }
    return ok;
}

/* ---- slots ---------------------------------------------------------------------- */

static void *slots_of_new_thread(void *arg)
{
    (void)arg;
    struct kmem_cpu *cpu = kmem_this_cpu();
    long bad = 0;
    for (unsigned int i = 0; i < KMEM_CPU_SLOTS; i++)
        bad += cpu->cpu_slots[i].cc_loaded != KMEM_EMPTY_MAGAZINE ||
               cpu->cpu_slots[i].cc_prev != KMEM_EMPTY_MAGAZINE ||
               cpu->cpu_slots[i].cc_top != KMEM_EMPTY_ROUND0 ||
               cpu->cpu_slots[i].cc_end != KMEM_EMPTY_ROUND0;
    return (void *)bad;
}

TEST(magazine_slots)
{
    up();
    /* A thread that never ran kmem has every slot on the sentinel. */
    pthread_t t;
    void *bad = (void *)1;
    REQUIRE(pthread_create(&t, NULL, slots_of_new_thread, NULL) == 0);
    pthread_join(t, &bad);
    CHECK(bad == NULL);

    /* kmalloc-32 is class 2: slot 3 (slot 0 is the sentinel). */
    void *p = kmalloc(32, GFP_KERNEL);
    struct kmem_cache *k32 = virt_to_page(p)->pg_owner_p1;
    CHECK_STR_EQ(kmem_cache_name(k32), "kmalloc-32");
    CHECK_EQ(k32->c_cpu_off, KMEM_CPU_SLOT_OFF(3));
    CHECK(kmem_this_cpu()->cpu_slots[3].cc_loaded != KMEM_EMPTY_MAGAZINE);
    kfree(p);

    struct kmem_cache *a = kmem_cache_create("slot-a", 40, 0, 0, NULL);
    struct kmem_cache *b = kmem_cache_create("slot-b", 40, 0, 0, NULL);
    REQUIRE(a && b);
    CHECK(a->c_cpu_off != KMEM_CPU_NO_SLOT && b->c_cpu_off != KMEM_CPU_NO_SLOT &&
          a->c_cpu_off != b->c_cpu_off);
    void *objs[300];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 300; i++)
            objs[i] = kmem_cache_alloc(i % 2 ? a : b, GFP_KERNEL);
        for (int i = 0; i < 300; i++)
            kmem_cache_free(i % 2 ? a : b, objs[i]);
        CHECK_EQ(kmem_cache_check(a), 0);
        CHECK_EQ(kmem_cache_check(b), 0);
    }
    /* The freed ids (and so the slots) are reused, clean. */
    unsigned long off_a = a->c_cpu_off;
    kmem_cache_destroy(a);
    struct kmem_cache *a2 = kmem_cache_create("slot-a2", 100, 0, 0, NULL);
    REQUIRE(a2);
    CHECK_EQ(a2->c_cpu_off, off_a);
    CHECK_EQ(kmem_cache_check(a2), 0);
    void *q = kmem_cache_alloc(a2, GFP_KERNEL);
    CHECK(q && virt_to_page(q)->pg_owner_p1 == a2);
    kmem_cache_free(a2, q);
    CHECK_EQ(kmem_cache_check(a2), 0);
    kmem_cache_destroy(a2);
    kmem_cache_destroy(b);
    kmem_exit();
}

/* ---- caches without a slot ----------------------------------------------------- */

static struct kmem_cache *many[MAX_CACHES];

static void *use_many(void *arg)
{
    (void)arg;
    void *objs[8];
    long bad = 0;
    for (int c = 0; c < MAX_CACHES; c++) {
        for (int i = 0; i < 8; i++)
            objs[i] = kmem_cache_alloc(many[c], GFP_KERNEL);
        for (int i = 0; i < 8; i++)
            kmem_cache_free(many[c], objs[i]);
        bad += kmem_cache_check(many[c]);
    }
    return (void *)bad;
}

TEST(magazine_overflow_caches)
{
    up();
    shrink_all();
    unsigned long start = test_free_pages();
    char name[32];
    int slotless = 0;
    for (int c = 0; c < MAX_CACHES; c++) {
        snprintf(name, sizeof name, "many-%d", c);
        many[c] = kmem_cache_create(name, 24 + (unsigned int)c % 5 * 8, 0, 0, NULL);
        REQUIRE(many[c]);
        slotless += many[c]->c_cpu_off == KMEM_CPU_NO_SLOT;
    }
    CHECK(slotless >= MAX_CACHES - (KMEM_CPU_SLOTS - 1));
    void *bad = (void *)1;
    CHECK(use_many(NULL) == NULL);
    /* The first allocation filled a magazine from the slabs; the freed
     * objects went back into it, with a slot or not: the slabs still count
     * the whole magazine as in use, and nothing is in the depot. */
    for (int c = 0; c < MAX_CACHES; c++) {
        struct kmem_cache_info in = info_of(many[c]);
        CHECK_EQ(in.active_objs, in.magazine_size);
        CHECK_EQ(in.depot_full + in.depot_empty, 0);
        kmem_cache_shrink(many[c]); /* this thread's magazines too */
        CHECK_EQ(info_of(many[c]).active_objs, 0);
    }
    /* Another thread's magazines are returned when it exits: its full
     * loaded magazine to the depot, for other threads. */
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, use_many, NULL) == 0);
    pthread_join(t, &bad);
    CHECK(bad == NULL);
    for (int c = 0; c < MAX_CACHES; c++) {
        struct kmem_cache_info in = info_of(many[c]);
        CHECK_EQ(in.depot_full, 1);
        CHECK_EQ(in.active_objs, in.magazine_size);
        CHECK_EQ(kmem_cache_check(many[c]), 0);
        kmem_cache_shrink(many[c]);
        CHECK_EQ(info_of(many[c]).active_objs, 0);
    }
    for (int c = 0; c < MAX_CACHES; c++)
        kmem_cache_destroy(many[c]);
    shrink_all();
    /* All but this thread's array of slots for caches without one, which
     * it keeps while it lives. */
    struct kmem_cpu *cpu = kmem_this_cpu();
    CHECK(cpu->cpu_noverflow >= MAX_CACHES - (KMEM_CPU_SLOTS - 1));
    size_t overflow_pages =
        (cpu->cpu_noverflow * sizeof(struct kmem_cpu_cache) + PAGE_SIZE - 1) / PAGE_SIZE;
    CHECK_EQ(test_free_pages(), start - overflow_pages);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- dynamic magazine resizing --------------------------------------------------- */

TEST(magazine_single_thread_no_resize)
{
    up();
    struct kmem_cache *c = kmem_cache_create("quiet", 64, 0, 0, NULL);
    REQUIRE(c);
    CHECK_EQ(info_of(c).magazine_size, 125);
    bool ok = true;
    for (int i = 0; i < 300; i++)
        ok &= batch(c, (uint64_t)i);
    CHECK(ok);
    struct kmem_cache_info in = info_of(c);
    CHECK_EQ(in.magazine_size, 125);
    CHECK_EQ(in.magazine_resizes, 0);
    CHECK(in.depot_full + in.depot_empty > 0); /* the batches went through the depot */
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* A SLAB_TIGHT_PACK cache's depot keeps about 1 MiB of objects in full
 * magazines: after 100000 objects are freed, the rest are back in their
 * slabs and the empty slabs back in the page allocator. A plain cache keeps
 * them all until reclaim. */
/* A SLAB_TIGHT_PACK cache's depot keeps its working set: when every object is
 * freed, at most two trim intervals (8 MiB of objects each) stay in full
 * magazines, and the slabs behind the rest go back; a plain cache keeps them
 * all (reclaim takes them). */
TEST(magazine_tight_depot_bounded)
{
    up();
    enum { N = 200000, SIZE = 256 };
    static void *objs[N];
    struct kmem_cache *tight = kmem_cache_create("tight", SIZE, 0, SLAB_TIGHT_PACK, NULL);
    struct kmem_cache *plain = kmem_cache_create("plain", SIZE, 0, 0, NULL);
    REQUIRE(tight && plain);
    struct kmem_cache *both[2] = {tight, plain};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N; i++)
            REQUIRE((objs[i] = kmem_cache_alloc(both[k], GFP_KERNEL)) != NULL);
        for (int i = 0; i < N; i++)
            kmem_cache_free(both[k], objs[i]);
    }
    struct kmem_cache_info t = info_of(tight), p = info_of(plain);
    unsigned long kept = t.depot_full * t.magazine_size * (unsigned long)t.size;
    CHECK(kept <= (16UL << 20) + 5UL * t.magazine_size * t.size);
    CHECK(t.depot_full >= 4);
    CHECK(t.depot_trimmed > 0);
    CHECK(t.active_objs <= (t.depot_full + 2) * t.magazine_size);
    CHECK(t.total_objs < (unsigned long)N * 3 / 4); /* the slabs went back */
    CHECK_EQ(p.depot_trimmed, 0);
    CHECK(p.depot_full * p.magazine_size > (unsigned long)N / 2); /* parked */
    CHECK_EQ(kmem_cache_check(tight), 0);
    CHECK_EQ(kmem_cache_check(plain), 0);
    kmem_cache_destroy(tight);
    kmem_cache_destroy(plain);
    kmem_exit();
}

/* When a heap of many classes shrinks, the trim epochs are shared: the depots
 * together keep about two epochs (8 MiB of objects each), not that much per
 * class. 8 caches, 12 MiB of objects each, freed interleaved. */
TEST(magazine_tight_depots_bounded_together)
{
    up();
    enum { CACHES = 8, BYTES = 12 << 20 };
    static const unsigned int sizes[CACHES] = {64, 128, 256, 512, 1024, 2048, 3072, 4096};
    struct kmem_cache *c[CACHES];
    static void *objs[CACHES][(12 << 20) / 64];
    unsigned int n[CACHES];
    for (int k = 0; k < CACHES; k++) {
        char name[32];
        snprintf(name, sizeof name, "together-%u", sizes[k]);
        REQUIRE((c[k] = kmem_cache_create(name, sizes[k], 0, SLAB_TIGHT_PACK, NULL)) != NULL);
        n[k] = BYTES / sizes[k];
        for (unsigned int i = 0; i < n[k]; i++)
            REQUIRE((objs[k][i] = kmem_cache_alloc(c[k], GFP_KERNEL)) != NULL);
    }
    for (unsigned int i = 0; i < (12 << 20) / 64; i++)
        for (int k = 0; k < CACHES; k++)
            if (i < n[k])
                kmem_cache_free(c[k], objs[k][i]);
    unsigned long kept = 0, floors = 0;
    for (int k = 0; k < CACHES; k++) {
        struct kmem_cache_info t = info_of(c[k]);
        kept += t.depot_full * t.magazine_size * (unsigned long)t.size;
        floors += 5UL * t.magazine_size * t.size;
        CHECK_EQ(kmem_cache_check(c[k]), 0);
    }
    printf("  depots keep %lu KiB of %u MiB freed\n", kept >> 10, CACHES * (BYTES >> 20));
    CHECK(kept <= (16UL << 20) + floors);
    for (int k = 0; k < CACHES; k++)
        kmem_cache_destroy(c[k]);
    kmem_exit();
}

/* A batch cycle shorter than the trim interval (1000 objects of 4 KiB:
 * 4 MiB into the depot per cycle) keeps its magazines: after the first
 * cycle no trim happens and the slabs stay as they are. */
TEST(magazine_tight_depot_keeps_working_set)
{
    up();
    enum { N = 1000, SIZE = 4096, CYCLES = 40 };
    static void *objs[N];
    struct kmem_cache *c = kmem_cache_create("tight4k", SIZE, 0, SLAB_TIGHT_PACK, NULL);
    REQUIRE(c);
    unsigned long slabs_after_first = 0;
    for (int r = 0; r < CYCLES; r++) {
        for (int i = 0; i < N; i++)
            REQUIRE((objs[i] = kmem_cache_alloc(c, GFP_KERNEL)) != NULL);
        for (int i = 0; i < N; i++)
            kmem_cache_free(c, objs[i]);
        if (r == 0)
            slabs_after_first = info_of(c).total_objs;
    }
    struct kmem_cache_info t = info_of(c);
    CHECK_EQ(t.depot_trimmed, 0);
    CHECK_EQ(t.total_objs, slabs_after_first);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* A SLAB_TIGHT_PACK cache starts with 5-round magazines and earns the usual
 * size (125 rounds for small objects) with depot traffic, on one thread
 * without contention; a class used a little keeps its small magazines. */
TEST(magazine_tight_ramps_with_traffic)
{
    up();
    enum { N = 2000 };
    static void *objs[N];
    struct kmem_cache *busy = kmem_cache_create("ramp-busy", 64, 0, SLAB_TIGHT_PACK, NULL);
    struct kmem_cache *idle = kmem_cache_create("ramp-idle", 64, 0, SLAB_TIGHT_PACK, NULL);
    REQUIRE(busy && idle);
    CHECK_EQ(info_of(busy).magazine_size, 5);
    for (int i = 0; i < 20; i++)
        REQUIRE((objs[i] = kmem_cache_alloc(idle, GFP_KERNEL)) != NULL);
    for (int i = 0; i < 20; i++)
        kmem_cache_free(idle, objs[i]);
    for (int r = 0; r < 40; r++) {
        for (int i = 0; i < N; i++)
            REQUIRE((objs[i] = kmem_cache_alloc(busy, GFP_KERNEL)) != NULL);
        for (int i = 0; i < N; i++)
            kmem_cache_free(busy, objs[i]);
    }
    CHECK_EQ(info_of(busy).magazine_size, 125);
    CHECK_EQ(info_of(idle).magazine_size, 5);
    CHECK_EQ(kmem_cache_check(busy), 0);
    CHECK_EQ(kmem_cache_check(idle), 0);
    kmem_cache_destroy(busy);
    kmem_cache_destroy(idle);
    kmem_exit();
}

static _Atomic int holder_stop;

/* Contend on c's depot lock: take it, and keep it until a depot visit of
 * another thread is blocked on it (the lock word says so: 2), so that every
 * hold makes exactly one acquisition contended, however the threads are
 * scheduled; then let it go and take it again. */
static void *depot_holder(void *arg)
{
    struct kmem_depot *d = &((struct kmem_cache *)arg)->c_depot;
    while (!holder_stop) {
        kmem_mutex_lock(&d->d_lock);
        while (!holder_stop && __atomic_load_n(&d->d_lock.word, __ATOMIC_RELAXED) != 2)
            sched_yield();
        kmem_mutex_unlock(&d->d_lock);
    }
    return NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Grow c's magazines by contention until they reach `want` rounds (at most
 * 30 s, for a machine busy with other work). Returns the batches it took,
 * or -1 if an object came back wrong. */
static int resize_by_contention(struct kmem_cache *c, unsigned int want)
{
    holder_stop = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, depot_holder, c) != 0)
        return -1;
    int batches = 0;
    bool ok = true;
    double end = now_s() + 30;
    while (info_of(c).magazine_size < want && now_s() < end)
        ok &= batch(c, (uint64_t)batches++);
    holder_stop = 1;
    pthread_join(t, NULL);
    return ok ? batches : -1;
}

TEST(magazine_resize_contended)
{
    up();
    shrink_all();
    unsigned long start = test_free_pages();
    struct kmem_cache *c = kmem_cache_create("contended", 64, 0, 0, NULL);
    REQUIRE(c);
    int batches = resize_by_contention(c, 1021);
    CHECK(batches > 0);
    struct kmem_cache_info in = info_of(c);
    CHECK_EQ(in.magazine_size, 1021); /* 125 -> 253 -> 509 -> 1021 */
    CHECK_EQ(in.magazine_resizes, 3);
    CHECK_EQ(kmem_cache_check(c), 0);
    /* Now a batch of 1000 fits in this CPU's loaded magazine: it does not
     * visit the depot, so however contended the depot lock is, the size
     * stays. First a few uncontended batches, so that this CPU's magazines
     * are of the new size (the old ones are given back as they reach the
     * depot; until then a batch visits it, and under a slow sanitizer those
     * visits could be contended enough for one more resize). */
    for (int i = 0; i < 10; i++)
        CHECK(batch(c, (uint64_t)i));
    CHECK_EQ(info_of(c).magazine_size, 1021);
    holder_stop = 0;
    pthread_t holder;
    REQUIRE(pthread_create(&holder, NULL, depot_holder, c) == 0);
    for (int i = 0; i < 200; i++)
        CHECK(batch(c, (uint64_t)i));
    holder_stop = 1;
    pthread_join(holder, NULL);
    CHECK_EQ(kmem_cache_check(c), 0);
    CHECK_EQ(info_of(c).magazine_size, 1021);
    CHECK_EQ(info_of(c).magazine_resizes, 3);

    /* 4 KiB objects stop where a magazine would hold more than 256 KiB of
     * them: 13 -> 29 -> 61 rounds, and no further. */
    struct kmem_cache *big = kmem_cache_create("contended-4k", 4096, 0, 0, NULL);
    REQUIRE(big);
    CHECK_EQ(info_of(big).magazine_size, 13);
    CHECK(resize_by_contention(big, 61) > 0);
    CHECK_EQ(info_of(big).magazine_size, 61);
    holder_stop = 0;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, depot_holder, big) == 0);
    for (int i = 0; i < 200; i++)
        CHECK(batch(big, (uint64_t)i));
    holder_stop = 1;
    pthread_join(t, NULL);
    CHECK_EQ(info_of(big).magazine_size, 61);
    CHECK_EQ(kmem_cache_check(big), 0);

    kmem_cache_destroy(big);
    kmem_cache_destroy(c);
    shrink_all();
    CHECK_EQ(test_free_pages(), start);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* Two threads whose batches pass magazines through one depot while its
 * magazines grow: every object comes back with its stamp, once. */
static struct kmem_cache *shared;

static void *churn(void *arg)
{
    long bad = 0;
    /* At least 600 batches, and on until the magazines have grown. */
    double end = now_s() + 30;
    for (int i = 0; i < 600 || (kmem_magazine_size(shared) == 125 && now_s() < end); i++)
        bad += !batch(shared, (uint64_t)(uintptr_t)arg * 1000003u + (uint64_t)i);
    return (void *)bad;
}

TEST(magazine_resize_threads)
{
    up();
    shrink_all();
    unsigned long start = test_free_pages();
    shared = kmem_cache_create("shared", 48, 0, 0, NULL);
    REQUIRE(shared);
    holder_stop = 0;
    pthread_t holder, a, b;
    REQUIRE(pthread_create(&holder, NULL, depot_holder, shared) == 0);
    REQUIRE(pthread_create(&a, NULL, churn, (void *)1) == 0);
    REQUIRE(pthread_create(&b, NULL, churn, (void *)2) == 0);
    void *bad_a = (void *)1, *bad_b = (void *)1;
    pthread_join(a, &bad_a);
    pthread_join(b, &bad_b);
    holder_stop = 1;
    pthread_join(holder, NULL);
    CHECK(bad_a == NULL && bad_b == NULL);
    struct kmem_cache_info in = info_of(shared);
    CHECK(in.magazine_size > 125);
    CHECK_EQ(in.active_objs, in.depot_full * in.magazine_size); /* the rest is in slabs */
    CHECK_EQ(kmem_cache_check(shared), 0);
    kmem_cache_destroy(shared);
    shrink_all();
    CHECK_EQ(test_free_pages(), start);
    kmem_exit();
}

int main(void)
{
    RUN(magazine_slots);
    RUN(magazine_overflow_caches);
    RUN(magazine_single_thread_no_resize);
    RUN(magazine_tight_depot_bounded);
    RUN(magazine_tight_depot_keeps_working_set);
    RUN(magazine_tight_depots_bounded_together);
    RUN(magazine_tight_ramps_with_traffic);
    RUN(magazine_resize_contended);
    RUN(magazine_resize_threads);
    return harness_report();
}
