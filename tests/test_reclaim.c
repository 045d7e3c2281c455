/* SPDX-License-Identifier: MIT */
/*
 * test_reclaim.c - object caches give memory back to the page allocator
 * when a request that may reclaim (GFP_KERNEL) would fail: the owner's
 * reclaim callback runs, the depot's magazines and the empty slabs go back,
 * and the request succeeds. A request that may not reclaim (GFP_NOWAIT)
 * fails instead, with every structure intact.
 */
#include "harness.h"

#include <kmem.h>

enum { OBJ_SIZE = 256, MACHINE = 8 << 20 };

static int reclaim_calls;
static void on_reclaim(void *priv)
{
    (void)priv;
    reclaim_calls++;
}

/* Fill the machine with objects, free them all: their memory now sits in the
 * cache (magazines, depot, slabs), not in the buddy lists. */
static struct kmem_cache *park_memory_in_cache(void)
{
    struct kmem_cache_ops ops = {.reclaim = on_reclaim};
    struct kmem_cache *c = kmem_cache_create_ops("parked", OBJ_SIZE, 0, 0, &ops);
    size_t max = MACHINE / OBJ_SIZE;
    void **objs = malloc(max * sizeof *objs);
    size_t n = 0;
    while (n < max && (objs[n] = kmem_cache_alloc(c, GFP_NOWAIT)))
        n++;
    for (size_t i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    free(objs);
    return c;
}

static unsigned long free_pages_now(void)
{
    struct kmem_zone_info zi;
    drain_all_pages();
    kmem_zone_info(KMEM_ZONE_DMA, &zi);
    return zi.free_pages + zi.pcp_pages;
}

/* The pages GFP_KERNEL and GFP_NOWAIT leave free (the min watermark). */
static unsigned long reserve_pages(void)
{
    struct kmem_zone_info zi;
    kmem_zone_info(KMEM_ZONE_DMA, &zi);
    return zi.watermark_min;
}

TEST(gfp_kernel_reclaims_from_caches)
{
    struct kmem_config cfg = {.mem_size = MACHINE};
    REQUIRE(kmem_init(&cfg) == 0);
    struct kmem_cache *c = park_memory_in_cache();
    unsigned long parked_free = free_pages_now();
    /* Nearly everything is in the cache: GFP_NOWAIT stopped at the reserve. */
    CHECK(reserve_pages() > 0);
    CHECK(parked_free < reserve_pages() + 64);

    /* No reclaim allowed: a 1 MiB block is not to be had. */
    CHECK(alloc_pages(GFP_NOWAIT, 8) == NULL);
    CHECK_EQ(reclaim_calls, 0);
    CHECK_EQ(kmem_page_check(), 0);
    CHECK_EQ(kmem_cache_check(c), 0);

    /* GFP_KERNEL may reclaim: the cache gives its spare memory back. */
    struct page *big = alloc_pages(GFP_KERNEL, 8);
    CHECK(big != NULL);
    CHECK(reclaim_calls >= 1);
    struct kmem_cache_info info;
    kmem_cache_info(c, &info);
    CHECK_EQ(info.depot_full, 0);
    CHECK_EQ(kmem_page_check(), 0);
    CHECK_EQ(kmem_cache_check(c), 0);
    if (big)
        __free_pages(big, 8);

    /* The cache still works after giving its memory back. */
    void *o = kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(o != NULL);
    kmem_cache_free(c, o);
    kmem_cache_destroy(c);
    kmem_exit();
}

TEST(kmalloc_memory_is_reclaimed_for_pages)
{
    struct kmem_config cfg = {.mem_size = MACHINE};
    REQUIRE(kmem_init(&cfg) == 0);
    unsigned long initial = free_pages_now();
    /* kmalloc everything, free everything: the memory sits in kmalloc-256. */
    size_t max = MACHINE / 256;
    void **objs = malloc(max * sizeof *objs);
    size_t n = 0;
    while (n < max && (objs[n] = kmalloc(200, GFP_NOWAIT)))
        n++;
    CHECK(n > max / 2);
    for (size_t i = 0; i < n; i++)
        kfree(objs[i]);
    free(objs);
    CHECK(free_pages_now() < initial / 4);
    /* Page by page, GFP_KERNEL gets (nearly) the whole machine back, down to
     * the min watermark: all but
     * the slabs of the objects in this thread's own loaded and previous
     * magazines (2 x 125 objects of kmalloc-256, 15 to a slab, plus the
     * magazines themselves), which reclaim leaves alone, as Bonwick's reap
     * does: at most 2 * 125 / 15 + 2 = 18 slabs when freed objects cluster,
     * and they do here. */
    unsigned long got = 0;
    struct page **pages = malloc(initial * sizeof *pages);
    while (got < initial && (pages[got] = alloc_pages(GFP_KERNEL, 0)))
        got++;
    unsigned long reserve = reserve_pages();
    if (got + 18 + reserve < initial)
        fprintf(stderr, "got %lu of %lu pages (%lu reserved)\n", got, initial, reserve);
    CHECK(got + 18 + reserve >= initial);
    CHECK(got + reserve <= initial); /* the reserve stays */
    CHECK_EQ(kmem_page_check(), 0);
    for (unsigned long i = 0; i < got; i++)
        __free_pages(pages[i], 0);
    free(pages);
    kmem_exit();
}

int main(void)
{
    RUN(gfp_kernel_reclaims_from_caches);
    RUN(kmalloc_memory_is_reclaimed_for_pages);
    return harness_report();
}
