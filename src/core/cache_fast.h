/* SPDX-License-Identifier: MIT */
/*
 * cache_fast.h - the object caches' fast paths, inline, for kmem_cache_* in
 * magazine.c and for kmalloc/kfree in kmalloc.c (see magazine.c).
 *
 * Allocation pops this CPU's loaded magazine; free checks the object and
 * pushes it. No lock, no atomic, no call: the cache's slot is at a constant
 * offset of this CPU's area, and holds the loaded magazine's top and end.
 * Anything else goes to the noinline slow path. A NULL free fails the
 * direct-map test and is handled there.
 *
 * Free checks (KMEM_FREE_CHECKS, on unless the build turns them off): the
 * object lies in a live slab of this very cache at the start of an object,
 * and is not the object on top of the loaded magazine (an immediate double
 * free) or, for kfree and the malloc's free, not marked as waiting in it (a
 * recent double free; cache_push_marked). They are most of a free's
 * instructions, the price of never letting a bad pointer into a magazine,
 * from where the next allocation would hand it out.
 */
#ifndef KMEM_CACHE_FAST_H
#define KMEM_CACHE_FAST_H

#include "../internal/sanitize.h"
#include "fault.h"
#include "pcp.h"
#include "slab.h"

#ifndef KMEM_FREE_CHECKS
#define KMEM_FREE_CHECKS 1
#endif
/* The free mark of kfree and free (cache_push_marked); off only with
 * KMEM_HARDENED=OFF, to measure what the hardening costs. */
#ifndef KMEM_FREE_MARK
#define KMEM_FREE_MARK 1
#endif
/* The mark: a constant that fits an instruction's 32-bit immediate (x86_64
 * sign-extends it), so that the free writes it with one store and tests it
 * with one compare, with no key to load or combine. It says nothing about
 * the heap: a freed object does not give away its own address or a secret,
 * as glibc's tcache key (random, for the same reason) gives away nothing.
 * It need not be secret: forging it on a live object sends that object's
 * free to the slow path, which finds it in no magazine and frees it; wiping
 * it takes no secret either. A live object whose first word is this value by
 * chance costs its free a look through two magazines, nothing more. */
#define KMEM_FREE_MARK_WORD ((uintptr_t)(intptr_t)(int32_t)0xd3a85f6cU)

void *kmem_cache_alloc_slow(struct kmem_cache *c, gfp_t gfp);
void kmem_cache_free_slow(struct kmem_cache *c, void *obj, const void *caller);

/* Pop an object from this CPU's slot at byte offset off, or NULL if its
 * loaded magazine is empty (the sentinel's too). */
static KMEM_ALWAYS_INLINE void *cache_pop(unsigned long off)
{
    __auto_type cc = kmem_this_cpu_slot(off);
    void **top = cc->cc_top;
    void *obj = *top;
    if (likely(obj)) {
        cc->cc_top = top - 1;
#if KMEM_SAN_ACTIVE
        /* The slot does not name its cache; the object's page does. */
        const struct kmem_cache *c = pf_virt_to_page(obj)->pg_owner_p1;
        kmem_san_obj_alloc(c, obj, c->c_object_size, cache_constructs(c));
#endif
    }
    return obj;
}

/* cache_pop for the caches whose frees mark objects (cache_push_marked):
 * the mark is wiped, so that a later free of the object, if its user never
 * wrote its first word, does not look like a double free (glibc's tcache
 * clears its key the same way). */
static KMEM_ALWAYS_INLINE void *cache_pop_unmark(unsigned long off)
{
    void *obj = cache_pop(off);
    if (!KMEM_SAN_ACTIVE && KMEM_FREE_MARK && likely(obj))
        *(void **)obj = NULL;
    return obj;
}

/* Pop an object for the caller, or go to the slow path (__GFP_ZERO, an
 * empty magazine, a cache without a slot): written as a macro body so that
 * the caller returns straight from the pop. */
#define CACHE_ALLOC(c, gfp)                                                                        \
    do {                                                                                           \
        if (likely(!kmem_gfp_slow((gfp), &kmem_slab_slow_gfp))) {                                  \
            void *obj_ = cache_pop((c)->c_cpu_off);                                                \
            if (likely(obj_))                                                                      \
                return obj_;                                                                       \
        }                                                                                          \
        return kmem_cache_alloc_slow((c), (gfp));                                                  \
    } while (0)

/* Is obj, which lies in a page of a slab of c, the start of one of its
 * objects? The page holds the slab's first object; a bound and a
 * divisibility test (a multiply, no division) place obj on a boundary. */
static KMEM_ALWAYS_INLINE bool cache_object_start(const struct kmem_cache *c,
                                                  const struct page *page, const void *obj)
{
    uintptr_t off = (uintptr_t)obj - page->pg_private;
    return off < c->c_slab_bytes && (uint64_t)off * c->c_div_magic <= c->c_div_limit;
}

/* Is obj the start of an object in a live slab of c? The page names the
 * cache (pg_owner_p1 is a cache only on slab pages, and c is one). */
static KMEM_ALWAYS_INLINE bool cache_owns(const struct kmem_cache *c, const void *obj)
{
    if (unlikely(!pf_virt_valid(obj)))
        return false;
    const struct page *page = pf_virt_to_page(obj);
    return likely(page->pg_owner_p1 == c) && cache_object_start(c, page, obj);
}

/* Push obj onto this CPU's loaded magazine of c, unless the magazine is full
 * or obj is the object just freed (an immediate double free). The object
 * must already be known to be one of c's. */
static KMEM_ALWAYS_INLINE bool cache_push(const struct kmem_cache *c, void *obj)
{
    __auto_type cc = kmem_this_cpu_slot(c->c_cpu_off);
    void **top = cc->cc_top;
    if (likely(top != cc->cc_end && *top != obj)) {
        top[1] = obj;
        cc->cc_top = top + 1;
        kmem_san_obj_free(c, obj, c->c_object_size);
        return true;
    }
    return false;
}

/* Push obj, an object of a cache without a constructor (kmalloc's and the
 * malloc's), marking it free: its first word becomes KMEM_FREE_MARK_WORD. A
 * free of an object whose first word already is the mark (it waits in the
 * loaded or previous magazine: a recent double free, however deep) goes to
 * the slow path, which looks for it there; the mark costs a store here and
 * one in cache_pop_unmark, and its test replaces the top-of-magazine one. A constructed object's
 * state must not be touched, so kmem_cache_free keeps that test. Under a sanitizer the object is
 * not read (it may be poisoned), and the top test is kept. */
static KMEM_ALWAYS_INLINE bool cache_push_marked(const struct kmem_cache *c, void *obj)
{
#if KMEM_SAN_ACTIVE || !KMEM_FREE_MARK
    return cache_push(c, obj);
#else
    __auto_type cc = kmem_this_cpu_slot(c->c_cpu_off);
    void **top = cc->cc_top;
    if (likely(top != cc->cc_end && *(uintptr_t *)obj != KMEM_FREE_MARK_WORD)) {
        *(uintptr_t *)obj = KMEM_FREE_MARK_WORD;
        top[1] = obj;
        cc->cc_top = top + 1;
        return true;
    }
    return false;
#endif
}

/* The whole free fast path of kmem_cache_free: check, then push. Without
 * the checks only NULL (a no-op, in the slow path) is kept out. */
static KMEM_ALWAYS_INLINE bool cache_free_fast(struct kmem_cache *c, void *obj)
{
    if (KMEM_FREE_CHECKS ? unlikely(!cache_owns(c, obj)) : unlikely(!obj))
        return false;
    return cache_push(c, obj);
}

/* kfree's fast path, which the malloc's free shares: if obj is a slab
 * object (its page's pg_u32 is the bytes the slab's objects span, 0 on every
 * other page; NULL and ZERO_SIZE_PTR fail the direct-map test) on an object
 * boundary, push it onto this CPU's magazine of its cache. false: the caller
 * takes its slow path, which classifies obj and names what is wrong. */
static KMEM_ALWAYS_INLINE bool slab_object_free_fast(void *obj)
{
    if (likely(pf_virt_valid(obj))) {
        const struct page *page = pf_virt_to_page(obj);
        uintptr_t off = (uintptr_t)obj - page->pg_private;
        if (likely(off < page->pg_u32)) {
            const struct kmem_cache *c = page->pg_owner_p1;
            return (!KMEM_FREE_CHECKS ||
                    likely((uint64_t)off * c->c_div_magic <= c->c_div_limit)) &&
                   likely(cache_push_marked(c, obj));
        }
    }
    return false;
}

#endif /* KMEM_CACHE_FAST_H */
