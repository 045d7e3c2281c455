/* SPDX-License-Identifier: MIT */
/*
 * test_mempool.c - memory pools (src/core/mempool.c).
 *
 *   mempool_reserve_and_callbacks  the reserve is filled at creation, used
 *                                  only when the allocator fails, refilled by
 *                                  frees first; destroy gives it back.
 *   mempool_under_exhaustion       with every page taken: GFP_KERNEL gets the
 *                                  reserve, GFP_ATOMIC then NULL, GFP_KERNEL
 *                                  waits until an element is given back.
 *   mempool_zero                   __GFP_ZERO zeroes elements of the slab,
 *                                  kmalloc and page pools, from the reserve
 *                                  too; refused (death) for a custom pool.
 *   mempool_resize_grow_shrink     the reserve follows mempool_resize.
 *   mempool_threads_exhausted      threads allocating and freeing through one
 *                                  page pool on a machine with no page left
 *                                  all make progress (no lost wake-up).
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <kmem.h>

#define MiB ((size_t)1 << 20)

static int machine_up(size_t size)
{
    struct kmem_config cfg = {.mem_size = size};
    return kmem_init(&cfg);
}

/* Every page of the machine, so that the allocator fails. */
static struct page **hog;
static unsigned long nr_hog;

static void hog_all(void)
{
    hog = calloc(1 << 20, sizeof *hog);
    nr_hog = 0;
    struct page *p;
    while ((p = alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, 0)) != NULL)
        hog[nr_hog++] = p;
}

static void hog_free(void)
{
    while (nr_hog)
        __free_page(hog[--nr_hog]);
    free(hog);
}

/* A custom pool's callbacks, counting their calls. */
static atomic_int allocs, frees;
static void *count_alloc(gfp_t gfp, void *data)
{
    atomic_fetch_add(&allocs, 1);
    return kmalloc((size_t)(uintptr_t)data, gfp);
}
static void count_free(void *element, void *data)
{
    (void)data;
    atomic_fetch_add(&frees, 1);
    kfree(element);
}

TEST(mempool_reserve_and_callbacks)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    atomic_store(&allocs, 0);
    atomic_store(&frees, 0);
    mempool_t *pool = mempool_create(4, count_alloc, count_free, (void *)(uintptr_t)128);
    REQUIRE(pool != NULL);
    CHECK_EQ(atomic_load(&allocs), 4);
    CHECK_EQ(mempool_reserve(pool), 4);
    CHECK_EQ(mempool_min_nr(pool), 4);
    /* Memory is plentiful: elements come from the allocator, the reserve
     * stays full, and frees go back through free_fn. */
    void *e[8];
    for (int i = 0; i < 8; i++) {
        e[i] = mempool_alloc(pool, GFP_KERNEL);
        REQUIRE(e[i] != NULL);
        memset(e[i], i, 128);
    }
    CHECK_EQ(mempool_reserve(pool), 4);
    CHECK_EQ(atomic_load(&allocs), 12);
    for (int i = 0; i < 8; i++)
        mempool_free(e[i], pool);
    CHECK_EQ(atomic_load(&frees), 8);
    mempool_free(NULL, pool);
    /* The reserve alone. */
    for (int i = 0; i < 4; i++)
        CHECK((e[i] = mempool_alloc_preallocated(pool)) != NULL);
    CHECK(mempool_alloc_preallocated(pool) == NULL);
    CHECK_EQ(mempool_reserve(pool), 0);
    for (int i = 0; i < 4; i++)
        mempool_free(e[i], pool); /* refill the reserve, not free_fn */
    CHECK_EQ(mempool_reserve(pool), 4);
    CHECK_EQ(atomic_load(&frees), 8);
    mempool_destroy(pool);
    CHECK_EQ(atomic_load(&frees), 12);
    mempool_destroy(NULL);
    CHECK(mempool_create(-1, count_alloc, count_free, NULL) == NULL);
    CHECK(mempool_create(1, NULL, count_free, NULL) == NULL);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

static mempool_t *blocking_pool;
static atomic_int blocked_done;
static void *blocked_alloc(void *arg)
{
    void **out = arg;
    *out = mempool_alloc(blocking_pool, GFP_KERNEL);
    atomic_store(&blocked_done, 1);
    return NULL;
}

TEST(mempool_under_exhaustion)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    struct kmem_cache *c = kmem_cache_create("bio", 200, 0, 0, NULL);
    mempool_t *pool = mempool_create_slab_pool(3, c);
    REQUIRE(pool != NULL);
    kmem_cache_shrink(c); /* nothing spare in the cache but its last slab */
    hog_all();
    /* What that slab still has free comes first; then the reserve. */
    void *e[64];
    int n = 0;
    while (n < 64 && (e[n] = mempool_alloc(pool, GFP_ATOMIC)) != NULL)
        n++;
    CHECK(n >= 3 && n < 64);
    CHECK_EQ(mempool_reserve(pool), 0);
    CHECK(mempool_alloc(pool, GFP_NOWAIT) == NULL);
    /* GFP_KERNEL waits for a free. */
    blocking_pool = pool;
    atomic_store(&blocked_done, 0);
    void *got = NULL;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, blocked_alloc, &got) == 0);
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_EQ(atomic_load(&blocked_done), 0);
    void *given = e[--n];
    mempool_free(given, pool);
    pthread_join(t, NULL);
    CHECK_EQ(atomic_load(&blocked_done), 1);
    CHECK(got == given);
    e[n++] = got;
    while (n)
        mempool_free(e[--n], pool);
    CHECK_EQ(mempool_reserve(pool), 3);
    hog_free();
    mempool_destroy(pool);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

static bool zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

static void zero_custom_pool(void)
{
    if (machine_up(16 * MiB) != 0)
        _exit(3);
    mempool_t *pool = mempool_create(1, count_alloc, count_free, (void *)(uintptr_t)64);
    mempool_alloc(pool, GFP_KERNEL | __GFP_ZERO);
}

TEST(mempool_zero)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    struct kmem_cache *c = kmem_cache_create("zeroed", 300, 0, 0, NULL);
    mempool_t *pools[3] = {mempool_create_slab_pool(2, c), mempool_create_kmalloc_pool(2, 5000),
                           mempool_create_page_pool(2, 1)};
    const size_t bytes[3] = {300, 5000, 2 * PAGE_SIZE};
    for (int k = 0; k < 3; k++) {
        REQUIRE(pools[k] != NULL);
        /* Dirty the reserve's elements: take them, scribble, give back. */
        void *e[2];
        for (int i = 0; i < 2; i++) {
            e[i] = mempool_alloc_preallocated(pools[k]);
            REQUIRE(e[i] != NULL);
            memset(k == 2 ? page_address(e[i]) : e[i], 0xcd, bytes[k]);
        }
        for (int i = 0; i < 2; i++)
            mempool_free(e[i], pools[k]);
    }
    kmem_cache_shrink(c);
    hog_all();
    kmem_cache_shrink(c);
    for (int k = 0; k < 3; k++) {
        void *e = mempool_alloc(pools[k], GFP_KERNEL | __GFP_ZERO);
        REQUIRE(e != NULL);
        CHECK(zeroed(k == 2 ? page_address(e) : e, bytes[k]));
        mempool_free(e, pools[k]);
    }
    hog_free();
    for (int k = 0; k < 3; k++)
        mempool_destroy(pools[k]);
    kmem_cache_destroy(c);
    kmem_exit();
    EXPECT_DEATH(zero_custom_pool, "kmem: bad argument: mempool_alloc(");
    EXPECT_DEATH(zero_custom_pool, "element size is unknown");
    CHECK(mempool_create_page_pool(1, MAX_PAGE_ORDER + 1) == NULL);
}

TEST(mempool_resize_grow_shrink)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    atomic_store(&allocs, 0);
    atomic_store(&frees, 0);
    mempool_t *pool = mempool_create(2, count_alloc, count_free, (void *)(uintptr_t)64);
    REQUIRE(pool != NULL);
    CHECK_EQ(mempool_resize(pool, 10), 0);
    CHECK_EQ(mempool_reserve(pool), 10);
    CHECK_EQ(atomic_load(&allocs), 10);
    CHECK_EQ(mempool_resize(pool, 3), 0);
    CHECK_EQ(mempool_reserve(pool), 3);
    CHECK_EQ(atomic_load(&frees), 7);
    CHECK_EQ(mempool_min_nr(pool), 3);
    CHECK_EQ(mempool_resize(pool, 0), 0);
    CHECK_EQ(mempool_reserve(pool), 0);
    void *e = mempool_alloc(pool, GFP_KERNEL);
    CHECK(e != NULL);
    mempool_free(e, pool);
    CHECK_EQ(mempool_reserve(pool), 0);
    mempool_destroy(pool);
    CHECK_EQ(atomic_load(&allocs), atomic_load(&frees));
    kmem_exit();
}

/* Three threads, each holding one element at a time of a pool of 2, with no
 * pages to be had: they wait for each other's frees, and all finish. (Two
 * elements held at once by one thread could deadlock, as in Linux.) */
static mempool_t *shared_pool;
static void *pool_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        struct page *a = mempool_alloc(shared_pool, GFP_KERNEL);
        if (!a)
            return (void *)1;
        *(volatile char *)page_address(a) = 1; /* the page's memory, not its struct */
        mempool_free(a, shared_pool);
    }
    return NULL;
}

TEST(mempool_threads_exhausted)
{
    REQUIRE(machine_up(16 * MiB) == 0);
    shared_pool = mempool_create_page_pool(2, 0);
    REQUIRE(shared_pool != NULL);
    hog_all();
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        REQUIRE(pthread_create(&t[i], NULL, pool_worker, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        void *r = (void *)1;
        pthread_join(t[i], &r);
        CHECK(r == NULL);
    }
    CHECK_EQ(mempool_reserve(shared_pool), 2);
    hog_free();
    mempool_destroy(shared_pool);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

int main(void)
{
    RUN(mempool_reserve_and_callbacks);
    RUN(mempool_under_exhaustion);
    RUN(mempool_zero);
    RUN(mempool_resize_grow_shrink);
    RUN(mempool_threads_exhausted);
    return harness_report();
}
