/* SPDX-License-Identifier: MIT */
/*
 * kmem/kmalloc.h - general-purpose kernel allocation: kmalloc and friends.
 *
 * Requests up to KMALLOC_MAX_CACHE_SIZE bytes come from size-class caches
 * kmalloc-8 ... kmalloc-8k (and kmalloc-96, kmalloc-192); power-of-two sizes
 * are naturally aligned. Larger requests are blocks of pages.
 */
#ifndef KMEM_KMALLOC_H
#define KMEM_KMALLOC_H

#include <kmem/gfp.h>
#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KMALLOC_MAX_CACHE_SIZE 8192u
/* kmalloc(0): a unique address that must not be dereferenced. */
#define ZERO_SIZE_PTR       ((void *)16)
#define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)

KMEM_API void *kmalloc(size_t size, gfp_t gfp);
KMEM_API void *kzalloc(size_t size, gfp_t gfp);
/* n * size bytes; NULL if the product overflows. */
KMEM_API void *kmalloc_array(size_t n, size_t size, gfp_t gfp);
KMEM_API void *kcalloc(size_t n, size_t size, gfp_t gfp);
/* Stays in place when new_size fits in ksize(p); krealloc(p, 0) frees p and
 * returns ZERO_SIZE_PTR; on failure p is left untouched and NULL returned. */
KMEM_API void *krealloc(const void *p, size_t new_size, gfp_t gfp);
/* kfree(NULL) and kfree(ZERO_SIZE_PTR) do nothing; anything kmalloc did not
 * hand out is reported and panics. */
KMEM_API void kfree(const void *p);
/* The usable size of p (at least what was asked for). */
KMEM_API size_t ksize(const void *p);

/* kmalloc that falls back to vmalloc (Linux's kvmalloc): up to PAGE_SIZE it
 * is kmalloc; larger sizes try kmalloc with __GFP_NORETRY | __GFP_NOWARN
 * (unless __GFP_NOFAIL, which stays with kmalloc) and, when no contiguous
 * block is to be had or the size is beyond the largest block, take virtually
 * contiguous memory from __vmalloc(size, gfp). More than INT_MAX bytes: NULL.
 * kvfree frees either kind (vfree for a vmalloc address, else kfree); the
 * memory must not be given to ksize or krealloc, which know kmalloc's only. */
KMEM_API void *kvmalloc(size_t size, gfp_t gfp);
KMEM_API void *kvzalloc(size_t size, gfp_t gfp);
KMEM_API void kvfree(const void *p);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_KMALLOC_H */
