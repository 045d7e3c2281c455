/* SPDX-License-Identifier: MIT */
/*
 * kmem/mempool.h - memory pools (Linux's mempool_t): a reserve of elements
 * set aside at creation, so that an allocation that must not fail (an I/O
 * path, say) can still go on when the allocator cannot serve it, once an
 * element comes back.
 */
#ifndef KMEM_MEMPOOL_H
#define KMEM_MEMPOOL_H

#include <kmem/gfp.h>
#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kmem_cache;

typedef void *(mempool_alloc_t)(gfp_t gfp, void *pool_data);
typedef void(mempool_free_t)(void *element, void *pool_data);
typedef struct mempool mempool_t;

/* A pool that keeps min_nr elements in reserve, made with alloc_fn (called
 * now with GFP_KERNEL) and given back with free_fn. NULL if the reserve
 * cannot be filled. */
KMEM_API mempool_t *mempool_create(int min_nr, mempool_alloc_t *alloc_fn, mempool_free_t *free_fn,
                                   void *pool_data);
/* Free the reserve and the pool (every element must be back). NULL: nothing. */
KMEM_API void mempool_destroy(mempool_t *pool);
/* Grow or shrink the reserve to new_min_nr elements: 0, or -ENOMEM (-12). */
KMEM_API int mempool_resize(mempool_t *pool, int new_min_nr);

/* An element: from the allocator (tried without direct reclaim first), else
 * from the reserve; if both fail and gfp may reclaim (GFP_KERNEL), reclaim
 * is tried and then the call waits until an element is given back, so it
 * never returns NULL; otherwise (GFP_ATOMIC, GFP_NOWAIT) NULL. __GFP_ZERO
 * zeroes every element, from wherever it came, for the pools whose element
 * size is known (the slab, kmalloc and page pools below); it is refused for
 * other pools. */
KMEM_API void *mempool_alloc(mempool_t *pool, gfp_t gfp);
/* An element from the reserve only, or NULL. */
KMEM_API void *mempool_alloc_preallocated(mempool_t *pool);
/* Give element back: to the reserve if it is short, else to free_fn. NULL:
 * nothing. */
KMEM_API void mempool_free(void *element, mempool_t *pool);

/* Pools of a cache's objects, of kmalloc'd buffers of a size, of page
 * blocks of an order (elements are their struct page pointers, as in
 * Linux), and their callbacks. */
KMEM_API mempool_t *mempool_create_slab_pool(int min_nr, struct kmem_cache *cache);
KMEM_API void *mempool_alloc_slab(gfp_t gfp, void *pool_data);
KMEM_API void mempool_free_slab(void *element, void *pool_data);
KMEM_API mempool_t *mempool_create_kmalloc_pool(int min_nr, size_t size);
KMEM_API void *mempool_kmalloc(gfp_t gfp, void *pool_data);
KMEM_API void mempool_kfree(void *element, void *pool_data);
KMEM_API mempool_t *mempool_create_page_pool(int min_nr, int order);
KMEM_API void *mempool_alloc_pages(gfp_t gfp, void *pool_data);
KMEM_API void mempool_free_pages(void *element, void *pool_data);

/* How many elements the reserve holds now, and should hold. */
KMEM_API int mempool_reserve(const mempool_t *pool);
KMEM_API int mempool_min_nr(const mempool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_MEMPOOL_H */
