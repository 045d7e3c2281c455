/* SPDX-License-Identifier: MIT */
/*
 * test_fault.c - failure injection (kmem/fault.h), and every caller coping
 * with every injected failure.
 *
 *   fail_pages_every      interval 1, probability 100: alloc_pages fails,
 *                         __GFP_NOFAIL does not, disarming restores
 *   fail_slab_one_cache   only the named cache fails; kmalloc and others not
 *   fail_nth_times        interval 3, times 2: exactly calls 3 and 6 fail
 *   fail_probability      50 %: about half of 10000 calls fail
 *   fail_parse            the environment's syntax, and bad texts refused
 *   fail_env              KMEM_FAILSLAB is read by kmem_init
 *   fail_every_point      a mixed scenario (caches, kmalloc, pages, vmalloc,
 *                         mempool) run with the N-th call of each target
 *                         failing, for every N until none is left: it sees
 *                         NULL, unwinds, the invariants hold, and as many
 *                         pages are in use afterwards as before
 */
#include "harness.h"
#include "pages_util.h"

#include <kmem.h>

static void up(void)
{
    struct kmem_config cfg = {.mem_size = 64u << 20};
    if (kmem_init(&cfg) != 0) {
        fprintf(stderr, "kmem_init failed\n");
        exit(2);
    }
}

static const struct kmem_fail_config always = {.interval = 1, .probability = 100, .times = -1};

TEST(fail_pages_every)
{
    up();
    REQUIRE(kmem_fail_set(KMEM_FAIL_PAGES, &always) == 0);
    CHECK(alloc_pages(GFP_KERNEL, 0) == NULL);
    CHECK(alloc_pages(GFP_ATOMIC, 3) == NULL);
    CHECK(__get_free_pages(GFP_KERNEL, 1) == 0);
    CHECK(vmalloc(1 << 20) == NULL);
    struct page *p = alloc_pages(GFP_KERNEL | __GFP_NOFAIL, 0);
    CHECK(p != NULL);
    CHECK(kmem_fail_injected(KMEM_FAIL_PAGES) >= 4);
    REQUIRE(kmem_fail_set(KMEM_FAIL_PAGES, NULL) == 0);
    struct page *q = alloc_pages(GFP_KERNEL, 0);
    CHECK(q != NULL);
    __free_pages(p, 0);
    __free_pages(q, 0);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(fail_slab_one_cache)
{
    up();
    struct kmem_cache *victim = kmem_cache_create("victim", 64, 0, 0, NULL);
    struct kmem_cache *other = kmem_cache_create("other", 64, 0, 0, NULL);
    REQUIRE(victim && other);
    struct kmem_fail_config f = always;
    f.cache = "victim";
    REQUIRE(kmem_fail_set(KMEM_FAIL_SLAB, &f) == 0);
    for (int i = 0; i < 1000; i++) {
        CHECK(kmem_cache_alloc(victim, GFP_KERNEL) == NULL);
        void *o = kmem_cache_alloc(other, GFP_KERNEL);
        CHECK(o != NULL);
        kmem_cache_free(other, o);
        void *k = kmalloc(100, GFP_KERNEL);
        CHECK(k != NULL);
        kfree(k);
    }
    CHECK_EQ(kmem_fail_injected(KMEM_FAIL_SLAB), 1000);
    f.cache = NULL; /* every cache, kmalloc's too */
    REQUIRE(kmem_fail_set(KMEM_FAIL_SLAB, &f) == 0);
    CHECK(kmalloc(100, GFP_KERNEL) == NULL);
    CHECK(kmem_cache_alloc(other, GFP_KERNEL) == NULL);
    CHECK(kmem_cache_zalloc(other, GFP_KERNEL) == NULL);
    kmem_fail_set(KMEM_FAIL_SLAB, NULL);
    kmem_cache_destroy(victim);
    kmem_cache_destroy(other);
    kmem_exit();
}

TEST(fail_nth_times)
{
    up();
    struct kmem_fail_config f = {.interval = 3, .probability = 100, .times = 2};
    REQUIRE(kmem_fail_set(KMEM_FAIL_PAGES, &f) == 0);
    int failed_at[8], n = 0;
    struct page *held[12];
    for (int call = 1; call <= 12; call++) {
        held[call - 1] = alloc_pages(GFP_KERNEL, 0);
        if (!held[call - 1] && n < 8)
            failed_at[n++] = call;
    }
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_EQ(failed_at[0], 3);
        CHECK_EQ(failed_at[1], 6);
    }
    for (int i = 0; i < 12; i++)
        if (held[i])
            __free_pages(held[i], 0);
    kmem_fail_set(KMEM_FAIL_PAGES, NULL);
    kmem_exit();
}

TEST(fail_probability)
{
    up();
    struct kmem_fail_config f = {.interval = 1, .probability = 50, .times = -1, .seed = 42};
    REQUIRE(kmem_fail_set(KMEM_FAIL_PAGES, &f) == 0);
    int fails = 0;
    for (int i = 0; i < 10000; i++) {
        struct page *p = alloc_pages(GFP_KERNEL, 0);
        if (p)
            __free_pages(p, 0);
        else
            fails++;
    }
    CHECK(fails > 4500 && fails < 5500);
    CHECK_EQ(kmem_fail_injected(KMEM_FAIL_PAGES), (unsigned long)fails);
    kmem_fail_set(KMEM_FAIL_PAGES, NULL);
    kmem_exit();
}

TEST(fail_parse)
{
    struct kmem_fail_config f;
    CHECK_EQ(kmem_fail_parse("10,100,-1", &f), 0);
    CHECK_EQ(f.interval, 10);
    CHECK_EQ(f.probability, 100);
    CHECK_EQ(f.times, -1);
    CHECK(f.cache == NULL);
    CHECK_EQ(kmem_fail_parse("1,50,3,dentry", &f), 0);
    CHECK(f.cache && !strcmp(f.cache, "dentry"));
    CHECK_EQ(kmem_fail_parse("1,101,3", &f), -22);
    CHECK_EQ(kmem_fail_parse("1,50", &f), -22);
    CHECK_EQ(kmem_fail_parse("x,50,1", &f), -22);
    CHECK_EQ(kmem_fail_parse("1,50,1junk", &f), -22);
    CHECK_EQ(kmem_fail_parse("99999999999999999999999,100,1", &f), -22);
    CHECK_EQ(kmem_fail_set(KMEM_FAIL_NR_TARGETS, &f), -22);
}

TEST(fail_env)
{
    setenv("KMEM_FAILSLAB", "1,100,-1,envcache", 1);
    up();
    unsetenv("KMEM_FAILSLAB");
    struct kmem_cache *c = kmem_cache_create("envcache", 32, 0, 0, NULL);
    REQUIRE(c != NULL);
    CHECK(kmem_cache_alloc(c, GFP_KERNEL) == NULL);
    CHECK_EQ(kmem_fail_injected(KMEM_FAIL_SLAB), 1);
    kmem_cache_destroy(c);
    kmem_exit();
    up(); /* kmem_exit disarmed it; the variable is gone */
    c = kmem_cache_create("envcache", 32, 0, 0, NULL);
    void *o = kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(o != NULL);
    kmem_cache_free(c, o);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* ---- every failure point of a mixed scenario ------------------------------------- */

static void ctor_mark(void *obj)
{
    *(unsigned long *)obj = 0xabcdef;
}

/* Caches, objects, kmalloc of every class and some large blocks, pages of
 * orders 0-4, vmalloc, a mempool: all taken, then all given back; on a NULL,
 * everything taken so far is given back. true if it ran to the end. */
static bool scenario(void)
{
    enum { OBJS = 300, KM = 14, PAGES = 5 };
    static void *objs[OBJS], *km[KM];
    static struct page *pages[PAGES];
    void *v1 = NULL, *v2 = NULL;
    mempool_t *pool = NULL;
    bool ok = false;
    int nobj = 0, nkm = 0, npages = 0;
    struct kmem_cache *c = kmem_cache_create("scenario", 200, 0, 0, ctor_mark);
    if (!c)
        return false;
    for (; nobj < OBJS; nobj++)
        if (!(objs[nobj] = kmem_cache_alloc(c, GFP_KERNEL)))
            goto out;
    for (; nkm < KM; nkm++)
        if (!(km[nkm] = kmalloc((size_t)8 << nkm, GFP_KERNEL))) /* 8 B .. 64 KiB */
            goto out;
    for (; npages < PAGES; npages++)
        if (!(pages[npages] = alloc_pages(GFP_KERNEL, (unsigned int)npages)))
            goto out;
    if (!(v1 = vmalloc(64 << 10)) || !(v2 = vzalloc(1 << 20)))
        goto out;
    if (!(pool = mempool_create_slab_pool(4, c)))
        goto out;
    void *e = mempool_alloc(pool, GFP_KERNEL);
    if (e)
        mempool_free(e, pool);
    ok = e != NULL;
out:
    if (pool)
        mempool_destroy(pool);
    vfree(v2);
    vfree(v1);
    while (npages--)
        __free_pages(pages[npages], (unsigned int)npages);
    while (nkm--)
        kfree(km[nkm]);
    while (nobj--)
        kmem_cache_free(c, objs[nobj]);
    kmem_cache_destroy(c);
    return ok;
}

TEST(fail_every_point)
{
    up();
    REQUIRE(scenario()); /* uninjected: it runs through */
    REQUIRE(scenario()); /* and leaves kmem's caches in their steady state */
    unsigned long base = test_pages_in_use();
    for (int t = 0; t < KMEM_FAIL_NR_TARGETS; t++) {
        unsigned long points = 0;
        for (unsigned long n = 1;; n++) {
            struct kmem_fail_config f = {.interval = n, .probability = 100, .times = 1};
            REQUIRE(kmem_fail_set((enum kmem_fail_target)t, &f) == 0);
            bool ok = scenario();
            unsigned long injected = kmem_fail_injected((enum kmem_fail_target)t);
            kmem_fail_set((enum kmem_fail_target)t, NULL);
            if (injected == 0) {
                CHECK(ok); /* past the last call: nothing failed */
                break;
            }
            points++;
            CHECK_EQ(kmem_page_check(), 0);
            unsigned long now = test_pages_in_use();
            if (now != base) {
                /* A failure may leave kmem's own caches a slab richer: run
                 * the scenario once more, it must come back to the base. */
                REQUIRE(scenario());
                now = test_pages_in_use();
            }
            if (now != base) {
                fprintf(stderr,
                        "target %d, call %lu failing: %lu pages in use afterwards, %lu before\n", t,
                        n, now, base);
                harness_checks_failed++;
            }
            if (n > 100000)
                break;
        }
        printf("  target %s: %lu failure points, each handled\n", t ? "slab" : "pages", points);
        CHECK(points > (t ? 300u : 8u));
    }
    kmem_exit();
}

int main(void)
{
    RUN(fail_pages_every);
    RUN(fail_slab_one_cache);
    RUN(fail_nth_times);
    RUN(fail_probability);
    RUN(fail_parse);
    RUN(fail_env);
    RUN(fail_every_point);
    return harness_report();
}
