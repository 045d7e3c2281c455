/* SPDX-License-Identifier: MIT */
/*
 * test_gfp.c - GFP flags and watermarks (src/core/watermark.c).
 *
 *   watermarks_sized_like_linux    min/low/high and the lowmem reserve of a
 *                                  64 MiB and a 1 GiB machine, by Linux's
 *                                  formulas; none on the textbook's 256 KiB;
 *                                  kmem_zoneinfo's text.
 *   reserves_by_gfp                GFP_KERNEL stops at min; then
 *                                  __GFP_HIGH reaches half of it, GFP_ATOMIC
 *                                  3/8, __GFP_MEMALLOC the rest, exactly.
 *   lowmem_reserve_protects_dma    GFP_KERNEL falling back to DMA leaves the
 *                                  lowmem reserve that GFP_DMA may use.
 *   reclaim_only_when_allowed      GFP_NOWAIT and GFP_ATOMIC never run the
 *                                  shrinkers; GFP_KERNEL does and succeeds.
 *   retry_policy                   a shrinker that frees a little each pass:
 *                                  GFP_KERNEL retries while that is progress
 *                                  (17 passes), __GFP_NORETRY makes one, a
 *                                  shrinker that frees nothing ends it.
 *   nofail_waits_for_a_free        __GFP_NOFAIL blocks until another thread
 *                                  frees pages (through its own per-CPU
 *                                  lists), then succeeds; two waiters both.
 *   zero_on_every_path             __GFP_ZERO from the per-CPU lists, the
 *                                  buddy lists, after reclaim, for slabs and
 *                                  kmalloc of reclaimed (dirty) memory.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <kmem.h>

#include "core/shrinker.h"

#define MiB ((size_t)1 << 20)

static int machine_up(size_t size)
{
    struct kmem_config cfg = {.mem_size = size};
    return kmem_init(&cfg);
}

static struct kmem_zone_info zone(enum kmem_zone_type zt)
{
    struct kmem_zone_info zi;
    memset(&zi, 0, sizeof zi);
    kmem_zone_info(zt, &zi);
    return zi;
}

/* A stack of order-0 pages taken with one gfp until it fails. */
struct stack {
    struct page **pages;
    unsigned long n, cap;
};

static void stack_init(struct stack *s, unsigned long cap)
{
    s->pages = calloc(cap, sizeof *s->pages);
    s->n = 0;
    s->cap = cap;
}

static unsigned long take_all(struct stack *s, gfp_t gfp)
{
    unsigned long got = 0;
    struct page *p;
    while (s->n < s->cap && (p = alloc_pages(gfp, 0)) != NULL) {
        s->pages[s->n++] = p;
        got++;
    }
    return got;
}

static void give_back(struct stack *s, unsigned long n)
{
    while (n-- && s->n)
        __free_page(s->pages[--s->n]);
}

static void stack_fini(struct stack *s)
{
    give_back(s, s->n);
    free(s->pages);
}

/* ---- sizing ------------------------------------------------------------------------ */

TEST(watermarks_sized_like_linux)
{
    /* 64 MiB: min_free_kbytes = sqrt(65536 * 16) = 1024 KiB = 256 pages,
     * shared 1:3 between DMA (4096 pages) and Normal (12288). */
    REQUIRE(machine_up(64 * MiB) == 0);
    struct kmem_zone_info dma = zone(KMEM_ZONE_DMA), normal = zone(KMEM_ZONE_NORMAL);
    CHECK_EQ(dma.watermark_min, 64);
    CHECK_EQ(dma.watermark_low, 80); /* + max(64 / 4, 4096 / 1000) */
    CHECK_EQ(dma.watermark_high, 96);
    CHECK_EQ(normal.watermark_min, 192);
    CHECK_EQ(normal.watermark_low, 240);
    CHECK_EQ(normal.watermark_high, 288);
    CHECK_EQ(dma.lowmem_reserve[KMEM_ZONE_DMA], 0);
    CHECK_EQ(dma.lowmem_reserve[KMEM_ZONE_NORMAL], 48); /* 12288 / 256 */
    CHECK_EQ(normal.lowmem_reserve[KMEM_ZONE_NORMAL], 0);
    char text[1024];
    size_t n = kmem_zoneinfo(text, sizeof text);
    CHECK(n < sizeof text);
    CHECK_STR_EQ(text, "Node 0, zone      DMA\n  pages free     4096\n        min      64\n"
                       "        low      80\n        high     96\n        spanned  4096\n"
                       "        present  4096\n        managed  4096\n"
                       "        protection: (0, 48)\n"
                       "Node 0, zone   Normal\n  pages free     12288\n        min      192\n"
                       "        low      240\n        high     288\n        spanned  12288\n"
                       "        present  12288\n        managed  12288\n"
                       "        protection: (0, 0)\n");
    char small[16];
    CHECK_EQ(kmem_zoneinfo(small, sizeof small), n); /* snprintf semantics */
    CHECK_EQ(strlen(small), sizeof small - 1);
    kmem_exit();

    /* 1 GiB: sqrt(1048576 * 16) = 4096 KiB = 1024 pages; Normal's step is
     * its size / 1000 (258 > 1008 / 4 = 252). */
    REQUIRE(machine_up(1024 * MiB) == 0);
    dma = zone(KMEM_ZONE_DMA);
    normal = zone(KMEM_ZONE_NORMAL);
    CHECK_EQ(dma.watermark_min, 1024 * 4096 / 262144);
    CHECK_EQ(normal.watermark_min, 1024UL * 258048 / 262144);
    CHECK_EQ(normal.watermark_low, normal.watermark_min + 258);
    CHECK_EQ(normal.watermark_high, normal.watermark_min + 2 * 258);
    CHECK_EQ(dma.lowmem_reserve[KMEM_ZONE_NORMAL], 258048 / 256);
    kmem_exit();

    /* The textbook's machine keeps no reserve: the book's figures hold. */
    REQUIRE(machine_up(256 << 10) == 0);
    dma = zone(KMEM_ZONE_DMA);
    CHECK_EQ(dma.watermark_min + dma.watermark_low + dma.watermark_high, 0);
    struct page *all = alloc_pages(GFP_KERNEL, 6);
    CHECK(all != NULL);
    if (all)
        __free_pages(all, 6);
    kmem_exit();
}

/* ---- reserves ----------------------------------------------------------------------- */

TEST(reserves_by_gfp)
{
    REQUIRE(machine_up(64 * MiB) == 0);
    struct stack s;
    stack_init(&s, 16384);
    /* GFP_KERNEL: down to min in Normal, to min + the lowmem reserve in DMA. */
    take_all(&s, GFP_KERNEL);
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).free_pages, 192);
    CHECK_EQ(zone(KMEM_ZONE_DMA).free_pages, 64 + 48);
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).pcp_pages + zone(KMEM_ZONE_DMA).pcp_pages, 0);
    CHECK(alloc_pages(GFP_NOWAIT, 0) == NULL);
    CHECK(alloc_pages(GFP_KERNEL, 0) == NULL);
    /* __GFP_HIGH (may reclaim): half of min. */
    CHECK_EQ(take_all(&s, GFP_KERNEL | __GFP_HIGH), (192 - 96) + (112 - (32 + 48)));
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).free_pages, 96);
    /* GFP_ATOMIC: half, then a quarter of that off too: 3/8 of min. */
    CHECK_EQ(take_all(&s, GFP_ATOMIC), (96 - 72) + ((32 + 48) - (24 + 48)));
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).free_pages, 72);
    CHECK_EQ(zone(KMEM_ZONE_DMA).free_pages, 24 + 48);
    /* GFP_DMA may use DMA's lowmem reserve (it protects DMA for it): its
     * mark is DMA's own min, 64, below GFP_ATOMIC's 24 + 48 there. */
    CHECK_EQ(take_all(&s, GFP_DMA), 72 - 64);
    CHECK_EQ(zone(KMEM_ZONE_DMA).free_pages, 64);
    /* __GFP_MEMALLOC: everything. */
    CHECK_EQ(take_all(&s, GFP_KERNEL | __GFP_MEMALLOC), 72 + 64);
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).free_pages + zone(KMEM_ZONE_DMA).free_pages, 0);
    CHECK(alloc_pages(GFP_KERNEL | __GFP_MEMALLOC | __GFP_NOMEMALLOC, 0) == NULL);
    CHECK_EQ(s.n, 16384);
    CHECK_EQ(kmem_page_check(), 0);
    stack_fini(&s);
    drain_all_pages();
    CHECK_EQ(zone(KMEM_ZONE_NORMAL).free_pages + zone(KMEM_ZONE_DMA).free_pages, 16384);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(lowmem_reserve_protects_dma)
{
    REQUIRE(machine_up(64 * MiB) == 0);
    struct stack s;
    stack_init(&s, 16384);
    /* Normal gone entirely. */
    while (zone(KMEM_ZONE_NORMAL).free_pages + zone(KMEM_ZONE_NORMAL).pcp_pages) {
        struct page *p = alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, 0);
        REQUIRE(p != NULL);
        s.pages[s.n++] = p;
    }
    unsigned long before = s.n;
    /* GFP_KERNEL falls back to DMA but leaves min + reserve = 112. */
    take_all(&s, GFP_KERNEL);
    CHECK_EQ(zone(KMEM_ZONE_DMA).free_pages, 112);
    CHECK_EQ(s.n - before, 4096 - 112);
    /* GFP_KERNEL | GFP_DMA is a DMA request: its mark is DMA's min only. */
    CHECK_EQ(take_all(&s, GFP_KERNEL | GFP_DMA), 48);
    CHECK_EQ(zone(KMEM_ZONE_DMA).free_pages, 64);
    CHECK_EQ(kmem_page_check(), 0);
    stack_fini(&s);
    kmem_exit();
}

/* ---- reclaim ---------------------------------------------------------------------- */

static int reclaim_calls;
static void on_reclaim(void *priv)
{
    (void)priv;
    reclaim_calls++;
}

/* Objects filling the machine, then freed: the memory sits in the cache. */
static struct kmem_cache *park(size_t machine, bool dirty)
{
    struct kmem_cache_ops ops = {.reclaim = on_reclaim};
    struct kmem_cache *c = kmem_cache_create_ops("parked", 256, 0, 0, &ops);
    size_t max = machine / 256;
    void **objs = malloc(max * sizeof *objs);
    size_t n = 0;
    while (n < max && (objs[n] = kmem_cache_alloc(c, GFP_NOWAIT))) {
        if (dirty)
            memset(objs[n], 0x5a, 256);
        n++;
    }
    for (size_t i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    free(objs);
    return c;
}

TEST(reclaim_only_when_allowed)
{
    REQUIRE(machine_up(8 * MiB) == 0);
    reclaim_calls = 0;
    struct kmem_cache *c = park(8 * MiB, false);
    /* 1 MiB: more than any reserve holds. */
    CHECK(alloc_pages(GFP_NOWAIT, 8) == NULL);
    CHECK(alloc_pages(GFP_ATOMIC, 8) == NULL);
    CHECK(alloc_pages(GFP_DMA, 8) == NULL);
    CHECK(alloc_pages(GFP_NOWAIT | __GFP_NOFAIL, 8) == NULL); /* NOFAIL needs reclaim */
    CHECK_EQ(reclaim_calls, 0);
    struct page *p = alloc_pages(GFP_KERNEL, 8);
    CHECK(p != NULL);
    CHECK(reclaim_calls >= 1);
    if (p)
        __free_pages(p, 8);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* A shrinker that gives back one of its pages per pass. */
static struct {
    struct kmem_shrinker sh;
    struct page *pages[64];
    int n;
    int calls;
} trickle;

static unsigned long trickle_scan(struct kmem_shrinker *sh)
{
    (void)sh;
    trickle.calls++;
    if (!trickle.n)
        return 0;
    __free_page(trickle.pages[--trickle.n]);
    return 1;
}

TEST(retry_policy)
{
    REQUIRE(machine_up(8 * MiB) == 0);
    trickle.sh.sh_scan = trickle_scan;
    trickle.n = trickle.calls = 0;
    for (; trickle.n < 64; trickle.n++)
        trickle.pages[trickle.n] = alloc_page(GFP_KERNEL);
    /* Everything else in use, reserves included (before the shrinker is
     * there: this request may reclaim too). */
    struct stack s;
    stack_init(&s, 2048);
    take_all(&s, GFP_KERNEL | __GFP_MEMALLOC);
    kmem_shrinker_register(&trickle.sh);
    /* An order-8 block cannot come from one page a pass: GFP_KERNEL makes
     * progress every pass, and gives up after the first pass and 16 retries. */
    CHECK(alloc_pages(GFP_KERNEL, 8) == NULL);
    CHECK_EQ(trickle.calls, 17);
    CHECK_EQ(trickle.n, 64 - 17);
    trickle.calls = 0;
    CHECK(alloc_pages(GFP_KERNEL | __GFP_NORETRY, 8) == NULL);
    CHECK_EQ(trickle.calls, 1);
    trickle.calls = 0;
    CHECK(alloc_pages(GFP_KERNEL | __GFP_RETRY_MAYFAIL, 8) == NULL);
    CHECK_EQ(trickle.calls, 17);
    /* Without progress the first pass ends it. */
    int left = trickle.n;
    while (trickle.n)
        __free_page(trickle.pages[--trickle.n]);
    take_all(&s, GFP_KERNEL | __GFP_MEMALLOC); /* the freed pages too (a pass or two) */
    trickle.calls = 0;
    CHECK(alloc_pages(GFP_KERNEL, 0) == NULL);
    CHECK_EQ(trickle.calls, 1);
    CHECK(left > 0);
    kmem_shrinker_unregister(&trickle.sh);
    CHECK_EQ(kmem_page_check(), 0);
    stack_fini(&s);
    kmem_exit();
}

/* ---- __GFP_NOFAIL --------------------------------------------------------------------- */

static struct stack hog;
static atomic_int waiters_done;
static atomic_long freed_at_ns;

static long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

struct waiter {
    pthread_t t;
    unsigned int order;
    struct page *page;
    long returned_ns;
};

static void *nofail_waiter(void *arg)
{
    struct waiter *w = arg;
    w->page = alloc_pages(GFP_KERNEL | __GFP_NOFAIL, w->order);
    w->returned_ns = now_ns();
    atomic_fetch_add(&waiters_done, 1);
    return NULL;
}

/* The pages go back from this thread (the main one), which has per-CPU
 * lists of its own: the frees must still reach the buddy lists. */
TEST(nofail_waits_for_a_free)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    stack_init(&hog, 4096);
    take_all(&hog, GFP_KERNEL | __GFP_MEMALLOC);
    CHECK_EQ(hog.n, 4096);
    atomic_store(&waiters_done, 0);
    struct waiter w[2] = {{.order = 0}, {.order = 2}};
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&w[i].t, NULL, nofail_waiter, &w[i]) == 0);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_EQ(atomic_load(&waiters_done), 0); /* both wait */
    /* Free more than the reserve __GFP_NOFAIL may use (half of min), one
     * page at a time. */
    struct kmem_zone_info dma = zone(KMEM_ZONE_DMA);
    atomic_store(&freed_at_ns, now_ns());
    give_back(&hog, dma.watermark_min + 64);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i].t, NULL);
    CHECK_EQ(atomic_load(&waiters_done), 2);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].page != NULL);
        CHECK(w[i].returned_ns >= atomic_load(&freed_at_ns));
        if (w[i].page)
            __free_pages(w[i].page, w[i].order);
    }
    CHECK_EQ(kmem_page_check(), 0);
    /* The per-CPU lists cache again once nobody waits. */
    struct page *p = alloc_page(GFP_KERNEL);
    REQUIRE(p != NULL);
    __free_page(p);
    CHECK(zone(KMEM_ZONE_DMA).pcp_pages > 0);
    stack_fini(&hog);
    kmem_exit();
}

/* ---- __GFP_ZERO ------------------------------------------------------------------------- */

static bool zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

TEST(zero_on_every_path)
{
    REQUIRE(machine_up(8 * MiB) == 0);
    /* From this CPU's lists: a dirty page freed, then asked for zeroed. */
    struct page *p = alloc_page(GFP_KERNEL);
    REQUIRE(p != NULL);
    memset(page_address(p), 0xa5, PAGE_SIZE);
    __free_page(p);
    p = alloc_page(GFP_KERNEL | __GFP_ZERO);
    REQUIRE(p != NULL);
    CHECK(zeroed(page_address(p), PAGE_SIZE));
    __free_page(p);
    /* From memory that reclaim gets back out of a cache of dirty objects. */
    struct kmem_cache *c = park(8 * MiB, true);
    struct page *big = alloc_pages(GFP_KERNEL | __GFP_ZERO, 6);
    REQUIRE(big != NULL);
    CHECK(zeroed(page_address(big), PAGE_SIZE << 6));
    __free_pages(big, 6);
    kmem_cache_destroy(c);
    /* Objects of a new cache and kmalloc, on reused dirty pages. */
    c = park(8 * MiB, true);
    kmem_cache_shrink(c);
    struct kmem_cache *d = kmem_cache_create("fresh", 512, 0, 0, NULL);
    for (int i = 0; i < 100; i++) {
        void *o = kmem_cache_zalloc(d, GFP_KERNEL);
        REQUIRE(o != NULL);
        CHECK(zeroed(o, 512));
        memset(o, 0x77, 512);
        kmem_cache_free(d, o);
        char *k = kzalloc(3000, GFP_KERNEL);
        REQUIRE(k != NULL);
        CHECK(zeroed(k, 3000));
        memset(k, 0x66, 3000);
        kfree(k);
        k = kmalloc(100000, GFP_KERNEL | __GFP_ZERO);
        REQUIRE(k != NULL);
        CHECK(zeroed(k, 100000));
        memset(k, 0x55, 100000);
        kfree(k);
    }
    kmem_cache_destroy(d);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

int main(void)
{
    RUN(watermarks_sized_like_linux);
    RUN(reserves_by_gfp);
    RUN(lowmem_reserve_protects_dma);
    RUN(reclaim_only_when_allowed);
    RUN(retry_policy);
    RUN(nofail_waits_for_a_free);
    RUN(zero_on_every_path);
    return harness_report();
}
