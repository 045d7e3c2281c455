/* SPDX-License-Identifier: MIT */
/*
 * test_hardening.c - the always-on hardening of the object caches.
 *
 *   encoded rounds      a full magazine in the depot holds pointers XORed
 *                       with its key (the cache's secret and the magazine's
 *                       address); every cache has its own secret; a damaged
 *                       round is reported as a corrupted free list when the
 *                       magazine goes back to the slabs
 *   recent double free  kfree of an object that waits deep in the loaded
 *                       magazine is caught (the free mark); a reused object
 *                       whose first word is never written frees cleanly
 *   slab free map       a bit past the slab's last object is refused
 *   random order        SLAB_FREELIST_RANDOM and KMEM_RANDOM=1 hand a
 *                       slab's objects out in an unpredictable order, and
 *                       the invariants hold
 */
#include "death_util.h"

#include <kmem.h>

#include "core/cache_fast.h"
#include "core/magazine.h"
#include "core/slab.h"
#include "internal/sanitize.h"

static void up(void)
{
    struct kmem_config cfg = {.mem_size = 32 << 20};
    kmem_exit();
    if (kmem_init(&cfg) != 0)
        _exit(3);
}

TEST(rounds_encoded)
{
    up();
    struct kmem_cache *a = kmem_cache_create("enc_a", 64, 0, 0, NULL);
    struct kmem_cache *b = kmem_cache_create("enc_b", 64, 0, 0, NULL);
    REQUIRE(a && b);
    CHECK(a->c_secret != b->c_secret);
    /* Enough frees that full magazines go to the depot. */
    enum { N = 2000 };
    static void *objs[N];
    for (int i = 0; i < N; i++)
        REQUIRE((objs[i] = kmem_cache_alloc(a, GFP_KERNEL)) != NULL);
    for (int i = 0; i < N; i++)
        kmem_cache_free(a, objs[i]);
    struct kmem_magazine *m = a->c_depot.d_full;
    REQUIRE(m && m->mag_rounds > 0);
    void *raw = m->mag_round[1];
    void *obj = mag_code(a->c_secret ^ (uintptr_t)m, raw);
    CHECK(kmem_obj_slab(obj) && kmem_obj_slab(obj)->sl_cache == a);
    if (KMEM_MAGAZINE_ENCODE) {
        CHECK(m->mag_encoded);
        CHECK(raw != obj); /* what a leak of the depot would show */
        CHECK(kmem_obj_slab(raw) == NULL);
    }
    /* A CPU's own magazines hold plain pointers. */
    const struct kmem_cpu_cache *cc = kmem_magazine_slot_self(a);
    REQUIRE(cc && cc->cc_loaded != KMEM_EMPTY_MAGAZINE);
    CHECK(!cc->cc_loaded->mag_encoded);
    CHECK(*cc->cc_top == objs[N - 1]);
    /* Taken back from the depot, they decode to the same objects. */
    for (int i = 0; i < N; i++)
        REQUIRE((objs[i] = kmem_cache_alloc(a, GFP_KERNEL)) != NULL);
    CHECK_EQ(kmem_cache_check(a), 0);
    for (int i = 0; i < N; i++)
        kmem_cache_free(a, objs[i]);
    CHECK_EQ(kmem_cache_check(a), 0);
    kmem_cache_destroy(a);
    kmem_cache_destroy(b);
    kmem_exit();
}

/* An object reused without its first word written is freed again cleanly:
 * the free mark is wiped when it is allocated. */
TEST(mark_wiped_on_reuse)
{
    up();
    for (int i = 0; i < 100000; i++) {
        char *p = kmalloc(32, GFP_KERNEL);
        REQUIRE(p);
        p[20] = 1; /* never the first word */
        kfree(p);
    }
    CHECK_EQ(kmem_validate(), 0);
    kmem_exit();
}

/* A live object whose first word happens to be the mark's value is freed
 * like any other: its free looks through the magazines, finds it in none,
 * and pushes it. Its neighbours' frees are not disturbed. */
TEST(mark_value_in_live_object)
{
    up();
    void *held[8];
    for (int i = 0; i < 8; i++)
        REQUIRE((held[i] = kmalloc(48, GFP_KERNEL)) != NULL);
    struct kmem_cache *c48 = (struct kmem_cache *)pf_virt_to_page(held[0])->pg_owner_p1;
    for (int i = 0; i < 1000; i++) {
        uintptr_t *p = kmalloc(48, GFP_KERNEL);
        REQUIRE(p);
        p[0] = KMEM_FREE_MARK_WORD;
        kfree(p);
        if (i % 100 == 0)
            CHECK_EQ(kmem_cache_check(c48), 0);
    }
    for (int i = 0; i < 8; i++)
        kfree(held[i]);
    CHECK_EQ(kmem_validate(), 0);
    kmem_exit();
}

static void recent_double_kfree(void)
{
    up();
    void *p = kmalloc(64, GFP_KERNEL), *q[10];
    for (int i = 0; i < 10; i++)
        q[i] = kmalloc(64, GFP_KERNEL);
    announce("p", p);
    kfree(p);
    for (int i = 0; i < 10; i++)
        kfree(q[i]);
    kfree(p); /* 10 frees later: deep in the magazine */
}

static void corrupted_round(void)
{
    up();
    struct kmem_cache *c = kmem_cache_create("round_c", 64, 0, 0, NULL);
    void *p[4];
    for (int i = 0; i < 4; i++)
        p[i] = kmem_cache_alloc(c, GFP_KERNEL);
    for (int i = 0; i < 4; i++)
        kmem_cache_free(c, p[i]);
    const struct kmem_cpu_cache *cc = kmem_magazine_slot_self(c);
    announce("mag", cc->cc_loaded);
    cc->cc_loaded->mag_round[2] = (void *)0x4141414141414141UL; /* a stray write */
    kmem_cache_shrink(c); /* the magazine goes back to the slabs: decoded */
}

static void free_map_past_end(void)
{
    up();
    struct kmem_cache *c = kmem_cache_create("map_c", 100, 0, SLAB_TRACE, NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    struct slab *slab = kmem_obj_slab(p);
    unsigned int objs = c->c_objs_per_slab, last = c->c_map_words - 1;
    for (unsigned int w = 0; w < c->c_map_words; w++)
        slab->sl_free_map[w] = 0;
    slab->sl_free_map[last] = 1UL << (objs % (8 * sizeof(long)));
    announce("slab", slab);
    kmem_cache_alloc(c, GFP_KERNEL);
}

TEST(hardening_deaths)
{
    if (!KMEM_SAN_ACTIVE && KMEM_FREE_MARK) /* under a sanitizer objects are not marked */
        DEATH(recent_double_kfree, "kmem: double free: kmem_cache_free(kmalloc-64, {p})",
              "the object is already free (it waits in this CPU's magazine, 10 frees ago)");
    DEATH(corrupted_round, "kmem: corrupted free list: magazine {mag} of cache round_c: round 2",
          "is 0x4141414141414141, no object of the cache");
    DEATH(free_map_past_end, "kmem: corrupted free list: slab {slab} of cache map_c",
          "its free map marks object");
}

/* Objects of fresh slabs in allocation order: how many lie above their
 * predecessor. */
static unsigned int ascending_runs(struct kmem_cache *c, void **objs, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        if (!objs[i])
            abort();
        for (unsigned int j = 0; j < i; j++)
            CHECK(objs[j] != objs[i]);
    }
    unsigned int asc = 0;
    for (unsigned int i = 1; i < n; i++)
        asc += (char *)objs[i] > (char *)objs[i - 1];
    return asc;
}

TEST(random_order)
{
    up();
    enum { N = 300 };
    void *objs[N];
    struct kmem_cache *plain = kmem_cache_create("plain", 96, 0, 0, NULL);
    struct kmem_cache *rnd = kmem_cache_create("rnd", 96, 0, SLAB_FREELIST_RANDOM, NULL);
    REQUIRE(plain && rnd);
    unsigned int asc_plain = ascending_runs(plain, objs, N);
    for (unsigned int i = 0; i < N; i++)
        kmem_cache_free(plain, objs[i]);
    unsigned int asc_rnd = ascending_runs(rnd, objs, N);
    CHECK_EQ(kmem_cache_check(rnd), 0);
    for (unsigned int i = 0; i < N; i++)
        kmem_cache_free(rnd, objs[i]);
    fprintf(stderr, "  ascending neighbours: plain %u, random %u of %u\n", asc_plain, asc_rnd,
            N - 1);
    /* Without: one address order (descending: a magazine pops what the slab
     * filled it with last first). With: about half each way. */
    CHECK(asc_plain < N / 10 || asc_plain > N * 9 / 10);
    CHECK(asc_rnd > N / 4 && asc_rnd < N * 3 / 4);
    CHECK_EQ(kmem_cache_check(rnd), 0);
    kmem_cache_destroy(plain);
    kmem_cache_destroy(rnd);

    /* KMEM_RANDOM=1: every cache, kmalloc's too. */
    kmem_exit();
    setenv("KMEM_RANDOM", "1", 1);
    up();
    unsetenv("KMEM_RANDOM");
    struct kmem_cache *any = kmem_cache_create("any", 96, 0, 0, NULL);
    REQUIRE(any);
    CHECK(any->c_flags & SLAB_FREELIST_RANDOM);
    void *k = kmalloc(96, GFP_KERNEL);
    CHECK(kmem_obj_slab(k)->sl_cache->c_flags & SLAB_FREELIST_RANDOM);
    kfree(k);
    kmem_cache_destroy(any);
    kmem_exit();
    kmem_slab_random_set(false);
}

int main(void)
{
    RUN(rounds_encoded);
    RUN(mark_wiped_on_reuse);
    RUN(mark_value_in_live_object);
    RUN(hardening_deaths);
    RUN(random_order);
    return harness_report();
}
