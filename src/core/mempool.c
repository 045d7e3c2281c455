/* SPDX-License-Identifier: MIT */
/*
 * mempool.c - memory pools, after Linux's mm/mempool.c (Ingo Molnar, 2001).
 *
 * A pool keeps a reserve of min_nr elements, allocated when it is made.
 * mempool_alloc asks the allocator first, without direct reclaim (a pool
 * exists so that its users need not wait on reclaim while the reserve can
 * serve them); if that fails it takes an element from the reserve; if the
 * reserve is empty it asks again with the caller's full gfp (reclaim
 * included); and if even that fails and the caller may sleep, it waits until
 * mempool_free gives an element back, then starts over. So a GFP_KERNEL
 * mempool_alloc never fails: the reserve guarantees forward progress as long
 * as the elements handed out are given back, which is the contract of a
 * pool. mempool_free refills the reserve first and hands the rest to the
 * pool's free function.
 *
 * The waits sleep on the pool's sequence word (a futex in a process),
 * bumped by every mempool_free that fills the reserve, read before the last
 * attempt so that no free between the attempt and the sleep is missed.
 *
 * Invariant (the tests check it through mempool_reserve and the elements):
 *   MP1. 0 <= mp_curr <= mp_min; mp_elements[0 .. mp_curr) are elements the
 *        allocator handed out and nobody else holds.
 * Lock order: mp_lock is a leaf: the allocator and the pool's callbacks are
 * never called with it held.
 */
#include <kmem/kmalloc.h>
#include <kmem/mempool.h>
#include <kmem/page.h>
#include <kmem/slab.h>

#include "../internal/lock.h"
#include "../internal/report.h"

enum { ERR_NOMEM = 12 };

struct mempool {
    struct kmem_mutex mp_lock;
    int mp_min;  /* elements the reserve should hold */
    int mp_curr; /* elements it holds */
    void **mp_elements;
    mempool_alloc_t *mp_alloc;
    mempool_free_t *mp_free;
    void *mp_data;
    size_t mp_zero_bytes; /* bytes __GFP_ZERO clears in an element (0: unknown) */
    bool mp_pages;        /* elements are struct page pointers */
    unsigned int mp_seq;  /* bumped when an element comes back to the reserve */
    unsigned int mp_waiters;
};

/* ---- the reserve ---------------------------------------------------------------- */

/* mp_curr is written under the lock but read without it by mempool_free's
 * first look and by mempool_reserve, hence the atomic stores. */
static void *reserve_take_locked(mempool_t *pool)
{
    int curr = pool->mp_curr - 1;
    __atomic_store_n(&pool->mp_curr, curr, __ATOMIC_RELAXED);
    return pool->mp_elements[curr];
}

static void reserve_put_locked(mempool_t *pool, void *element)
{
    pool->mp_elements[pool->mp_curr] = element;
    __atomic_store_n(&pool->mp_curr, pool->mp_curr + 1, __ATOMIC_RELAXED);
}

/* Fill the reserve up to its size; false if the allocator gave up. */
static bool reserve_fill(mempool_t *pool)
{
    for (;;) {
        kmem_mutex_lock(&pool->mp_lock);
        bool full = pool->mp_curr >= pool->mp_min;
        kmem_mutex_unlock(&pool->mp_lock);
        if (full)
            return true;
        void *element = pool->mp_alloc(GFP_KERNEL, pool->mp_data);
        if (!element)
            return false;
        kmem_mutex_lock(&pool->mp_lock);
        if (pool->mp_curr < pool->mp_min) {
            reserve_put_locked(pool, element);
            element = NULL;
        }
        kmem_mutex_unlock(&pool->mp_lock);
        if (element)
            pool->mp_free(element, pool->mp_data);
    }
}

static mempool_t *pool_create(int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn,
                              void *pool_data, size_t zero_bytes, bool pages)
{
    if (min_nr < 0 || !alloc_fn || !free_fn)
        return NULL;
    mempool_t *pool = kzalloc(sizeof *pool, GFP_KERNEL);
    if (!pool)
        return NULL;
    pool->mp_elements = kmalloc_array((size_t)(min_nr ? min_nr : 1), sizeof(void *), GFP_KERNEL);
    if (!pool->mp_elements) {
        kfree(pool);
        return NULL;
    }
    kmem_mutex_init(&pool->mp_lock);
    pool->mp_min = min_nr;
    pool->mp_alloc = alloc_fn;
    pool->mp_free = free_fn;
    pool->mp_data = pool_data;
    pool->mp_zero_bytes = zero_bytes;
    pool->mp_pages = pages;
    if (!reserve_fill(pool)) {
        mempool_destroy(pool);
        return NULL;
    }
    return pool;
}

mempool_t *mempool_create(int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn,
                          void *pool_data)
{
    return pool_create(min_nr, alloc_fn, free_fn, pool_data, 0, false);
}

void mempool_destroy(mempool_t *pool)
{
    if (!pool)
        return;
    while (pool->mp_curr)
        pool->mp_free(reserve_take_locked(pool), pool->mp_data);
    kfree(pool->mp_elements);
    kfree(pool);
}

int mempool_resize(mempool_t *pool, int new_min_nr)
{
    if (new_min_nr < 0)
        return -ERR_NOMEM;
    void **fresh = kmalloc_array((size_t)(new_min_nr ? new_min_nr : 1), sizeof(void *), GFP_KERNEL);
    if (!fresh)
        return -ERR_NOMEM;
    /* Surplus elements go back through free_fn, outside the lock. */
    void **surplus = NULL;
    int nr_surplus = 0;
    kmem_mutex_lock(&pool->mp_lock);
    if (pool->mp_curr > new_min_nr) {
        nr_surplus = pool->mp_curr - new_min_nr;
        surplus = pool->mp_elements; /* its tail, read after the swap */
        __atomic_store_n(&pool->mp_curr, new_min_nr, __ATOMIC_RELAXED);
    }
    kmem_memcpy(fresh, pool->mp_elements, (size_t)pool->mp_curr * sizeof(void *));
    void **old = pool->mp_elements;
    pool->mp_elements = fresh;
    pool->mp_min = new_min_nr;
    kmem_mutex_unlock(&pool->mp_lock);
    for (int i = 0; i < nr_surplus; i++)
        pool->mp_free(surplus[new_min_nr + i], pool->mp_data);
    kfree(old);
    return reserve_fill(pool) ? 0 : -ERR_NOMEM;
}

/* ---- allocation and free ------------------------------------------------------------- */

static void *element_zero(mempool_t *pool, void *element)
{
    void *bytes = pool->mp_pages ? page_address(element) : element;
    kmem_memset(bytes, 0, pool->mp_zero_bytes);
    return element;
}

void *mempool_alloc(mempool_t *pool, gfp_t gfp)
{
    if ((gfp & __GFP_ZERO) && !pool->mp_zero_bytes)
        kmem_error(KMERR_BAD_ARGUMENT,
                   "mempool_alloc(%p, gfp %#x) called from %p: __GFP_ZERO on a pool whose "
                   "element size is unknown (mempool_create); zero the element yourself",
                   (void *)pool, gfp, KMEM_RET_ADDR());
    /* The pool is the fallback: no deep reserves, no retries, no warning. */
    gfp_t full = (gfp & ~(gfp_t)__GFP_ZERO) | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN;
    gfp_t first = full & ~(gfp_t)(__GFP_DIRECT_RECLAIM | __GFP_IO);
    for (gfp_t now = first;;) {
        unsigned int seq = __atomic_load_n(&pool->mp_seq, __ATOMIC_SEQ_CST);
        void *element = pool->mp_alloc(now, pool->mp_data);
        if (!element) {
            kmem_mutex_lock(&pool->mp_lock);
            if (pool->mp_curr)
                element = reserve_take_locked(pool);
            kmem_mutex_unlock(&pool->mp_lock);
        }
        if (element)
            return (gfp & __GFP_ZERO) ? element_zero(pool, element) : element;
        if (now != full) {
            now = full; /* the reserve is empty: try reclaim after all */
            continue;
        }
        if (!(gfp & __GFP_DIRECT_RECLAIM))
            return NULL;
        /* Wait for an element to come back (mempool_free). */
        __atomic_fetch_add(&pool->mp_waiters, 1, __ATOMIC_SEQ_CST);
        kmem_pl_lock_wait((int *)(void *)&pool->mp_seq, (int)seq);
        __atomic_fetch_sub(&pool->mp_waiters, 1, __ATOMIC_SEQ_CST);
    }
}

void *mempool_alloc_preallocated(mempool_t *pool)
{
    void *element = NULL;
    kmem_mutex_lock(&pool->mp_lock);
    if (pool->mp_curr)
        element = reserve_take_locked(pool);
    kmem_mutex_unlock(&pool->mp_lock);
    return element;
}

void mempool_free(void *element, mempool_t *pool)
{
    if (!element)
        return;
    if (__atomic_load_n(&pool->mp_curr, __ATOMIC_RELAXED) < pool->mp_min) {
        kmem_mutex_lock(&pool->mp_lock);
        bool kept = pool->mp_curr < pool->mp_min;
        if (kept)
            reserve_put_locked(pool, element);
        kmem_mutex_unlock(&pool->mp_lock);
        if (kept) {
            __atomic_fetch_add(&pool->mp_seq, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&pool->mp_waiters, __ATOMIC_SEQ_CST))
                kmem_pl_lock_wake((int *)(void *)&pool->mp_seq);
            return;
        }
    }
    pool->mp_free(element, pool->mp_data);
}

int mempool_reserve(const mempool_t *pool)
{
    return __atomic_load_n(&pool->mp_curr, __ATOMIC_RELAXED);
}

int mempool_min_nr(const mempool_t *pool)
{
    return pool->mp_min;
}

/* ---- the usual pools ------------------------------------------------------------------- */

void *mempool_alloc_slab(gfp_t gfp, void *pool_data)
{
    return kmem_cache_alloc(pool_data, gfp);
}

void mempool_free_slab(void *element, void *pool_data)
{
    kmem_cache_free(pool_data, element);
}

mempool_t *mempool_create_slab_pool(int min_nr, struct kmem_cache *cache)
{
    return pool_create(min_nr, mempool_alloc_slab, mempool_free_slab, cache, kmem_cache_size(cache),
                       false);
}

void *mempool_kmalloc(gfp_t gfp, void *pool_data)
{
    return kmalloc((size_t)(uintptr_t)pool_data, gfp);
}

void mempool_kfree(void *element, void *pool_data)
{
    (void)pool_data;
    kfree(element);
}

mempool_t *mempool_create_kmalloc_pool(int min_nr, size_t size)
{
    return pool_create(min_nr, mempool_kmalloc, mempool_kfree, (void *)(uintptr_t)size, size,
                       false);
}

void *mempool_alloc_pages(gfp_t gfp, void *pool_data)
{
    return alloc_pages(gfp, (unsigned int)(uintptr_t)pool_data);
}

void mempool_free_pages(void *element, void *pool_data)
{
    __free_pages(element, (unsigned int)(uintptr_t)pool_data);
}

mempool_t *mempool_create_page_pool(int min_nr, int order)
{
    if (order < 0 || order > MAX_PAGE_ORDER)
        return NULL;
    return pool_create(min_nr, mempool_alloc_pages, mempool_free_pages, (void *)(uintptr_t)order,
                       PAGE_SIZE << order, true);
}
