/* SPDX-License-Identifier: MIT */
/*
 * cache_fast.h - the object caches' fast paths, inline, for kmem_cache_* in
 * magazine.c and for kmalloc/kfree in kmalloc.c (see magazine.c).
 *
 * Allocation pops this CPU's loaded magazine; free checks the object and
 * pushes it. No lock, no atomic, no call. Anything else goes to the noinline
 * slow path. A NULL free fails the direct-map test and is handled there.
 */
#ifndef KMEM_CACHE_FAST_H
#define KMEM_CACHE_FAST_H

#include "pcp.h"
#include "slab.h"

void *kmem_cache_alloc_slow(struct kmem_cache *c, gfp_t gfp);
void kmem_cache_free_slow(struct kmem_cache *c, void *obj, const void *caller);

/* The magazine an allocation may pop: this CPU's loaded magazine of c, or
 * NULL (no per-CPU cache yet, or __GFP_ZERO, which the slow path handles). */
static KMEM_ALWAYS_INLINE struct kmem_magazine *cache_alloc_magazine(struct kmem_cache *c,
                                                                     gfp_t gfp)
{
    struct kmem_cpu *cpu = kmem_this_cpu();
    unsigned int id = c->c_id;
    if (likely(id < cpu->cpu_ncaches && !(gfp & __GFP_ZERO)))
        return cpu->cpu_caches[id].cc_loaded;
    return NULL;
}

/* Pop an object for the caller, or go to the slow path: written as a macro
 * body so that the caller returns straight from the pop. */
#define CACHE_ALLOC(c, gfp)                                                                        \
    do {                                                                                           \
        struct kmem_magazine *mag_ = cache_alloc_magazine((c), (gfp));                             \
        if (likely(mag_ && mag_->mag_rounds))                                                      \
            return mag_->mag_round[mag_->mag_rounds--];                                            \
        return kmem_cache_alloc_slow((c), (gfp));                                                  \
    } while (0)

/* Is obj the start of an object in a live slab of c? The page names the
 * cache and the slab's first object; a bound and a divisibility test (a
 * multiply, no division) place obj on an object boundary. */
static KMEM_ALWAYS_INLINE bool cache_owns(const struct kmem_cache *c, const void *obj)
{
    if (unlikely(!pf_virt_valid(obj)))
        return false;
    const struct page *page = pf_virt_to_page(obj);
    if (unlikely(page->pg_owner_p1 != c))
        return false;
    uintptr_t off = (uintptr_t)obj - page->pg_private;
    return off < c->c_slab_bytes && (uint64_t)off * c->c_div_magic <= c->c_div_limit;
}

/* Push obj onto this CPU's loaded magazine, unless it is not an object of c,
 * it is the object just freed (an immediate double free), or the magazine
 * is full. */
static KMEM_ALWAYS_INLINE bool cache_free_fast(struct kmem_cache *c, void *obj)
{
    struct kmem_cpu *cpu = kmem_this_cpu();
    unsigned int id = c->c_id;
    if (likely(id < cpu->cpu_ncaches && cache_owns(c, obj))) {
        struct kmem_magazine *m = cpu->cpu_caches[id].cc_loaded;
        unsigned int r = m->mag_rounds;
        if (likely(r < m->mag_capacity && m->mag_round[r] != obj)) {
            m->mag_round[r + 1] = obj;
            m->mag_rounds = r + 1;
            return true;
        }
    }
    return false;
}

#endif /* KMEM_CACHE_FAST_H */
