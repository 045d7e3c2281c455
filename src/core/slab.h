/* SPDX-License-Identifier: MIT */
/*
 * slab.h - the slab layer's structures (see slab.c for the algorithm).
 *
 * Functions ending in _locked expect the cache's c_lock to be held.
 */
#ifndef KMEM_SLAB_INTERNAL_H
#define KMEM_SLAB_INTERNAL_H

#include <kmem/slab.h>

#include "../internal/lock.h"
#include "magazine.h"
#include "page_frame.h"
#include "shrinker.h"

enum {
    CACHE_NAME_MAX = 32,
    SLAB_ONSLAB_LIMIT = 512, /* objects smaller than this keep their slab
                                header on the slab (PAGE_SIZE / 8) */
    SLAB_KEEP_EMPTY = 2,     /* empty slabs a cache keeps for reuse */
    SLAB_MIN_ALIGN = 8,
};

/* A slab: one buddy block cut into objects. Its free objects are the set
 * bits of sl_free_map, so nothing is ever written into a free object (its
 * constructed state is preserved) and a double free is one bit test. */
struct slab {
    struct list_head sl_link; /* on its cache's full, partial or empty list */
    struct kmem_cache *sl_cache;
    char *sl_objs;               /* the first object (after the colour offset) */
    struct page *sl_page;        /* head page of the block */
    unsigned int sl_inuse;       /* objects handed out */
    unsigned int sl_hint;        /* lowest word of sl_free_map that may have a set bit */
    unsigned long sl_free_map[]; /* bit i set: object i is free */
};

struct kmem_cache {
    /* What the fast paths read (cache_fast.h), together in one cache line. */
    unsigned long c_cpu_off;    /* byte offset of this cache's slot in every
                                   CPU's area (KMEM_CPU_NO_SLOT: the sentinel,
                                   no fast path) */
    unsigned long c_slab_bytes; /* c_objs_per_slab * c_size */
    uint64_t c_div_magic;       /* 2^64 / c_size rounded up: off is a multiple
                                   of c_size iff off * magic <= magic - 1
                                   (Lemire, Kaser, Kurz 2019), no division */
    uint64_t c_div_limit;       /* c_div_magic - 1 */
    unsigned int c_size;        /* stride: object size rounded to c_align */
    unsigned int c_object_size; /* bytes asked for */
    unsigned int c_id;          /* the magazine layer's id; KMEM_NO_ID */
    unsigned int c_objs_per_slab;

    /* Identity and geometry (read-only after creation). */
    char c_name[CACHE_NAME_MAX];
    unsigned int c_align;
    slab_flags_t c_flags;
    void (*c_ctor)(void *obj);   /* Linux-style constructor */
    struct kmem_cache_ops c_ops; /* Bonwick-style ctor, dtor, reclaim */
    unsigned int c_order;        /* each slab is a block of this order */
    unsigned int c_map_words;    /* words of sl_free_map */
    unsigned int c_header;       /* bytes of struct slab with its map */
    unsigned int c_waste;        /* bytes of a slab used by neither objects
                                    nor an on-slab header */
    unsigned int c_colour_step;  /* bytes between two colours */
    unsigned int c_colours;      /* number of colour offsets (>= 1) */
    bool c_offslab;              /* header in the kmem_slab cache, not on the slab */
    bool c_internal;             /* kmem's own (slab headers, caches, magazines):
                                    kfree refuses its objects */

    uintptr_t c_secret; /* the key of its magazines' rounds (magazine.h), random */
    uint64_t c_rand;    /* SLAB_FREELIST_RANDOM: xorshift state, under c_lock */
    bool c_marks_free;  /* kmalloc's and the malloc's caches: a free writes its mark
                           into the object (cache_push_marked); other caches' objects
                           keep the state they were freed in */

    /* Debugging (slab_debug.c; all 0 for a cache without debug flags). */
    slab_flags_t c_debug;   /* SLAB_DEBUG_FLAGS in effect: no magazines then */
    unsigned int c_redzone; /* red zone: bytes [c_object_size, c_redzone) */
    unsigned int c_track;   /* two struct kmem_track (alloc, free) from here */

    /* Slab lists (under c_lock). */
    struct kmem_mutex c_lock;
    struct list_head c_full;
    struct list_head c_partial;
    struct list_head c_empty;
    unsigned long c_nr_slabs; /* on all three lists */
    unsigned long c_nr_empty;
    unsigned long c_nr_full;
    unsigned long c_inuse;      /* objects handed out by the slab layer */
    unsigned int c_colour_next; /* colour of the next slab */
    unsigned long c_grown;      /* slabs built so far (statistics) */
    unsigned long c_reaped;     /* slabs given back so far */

    struct list_head c_link; /* on the list of caches (slab_caches) */

    struct kmem_depot c_depot;       /* full and empty magazines (magazine.c) */
    struct kmem_shrinker c_shrinker; /* registered with the page allocator */
};

/* The slab layer's bulk interface (the magazine layer builds on it): move up
 * to n objects between the cache's slabs and objs[]. Each takes c_lock once.
 * slab_alloc_bulk returns how many it got (0: no memory). */
unsigned int kmem_slab_alloc_bulk(struct kmem_cache *cache, gfp_t gfp, void **objs, unsigned int n);
void kmem_slab_free_bulk(struct kmem_cache *cache, void *const *objs, unsigned int n,
                         const void *caller);

/* Set up a cache whose descriptor the caller owns (static): no memory is
 * allocated until its first object is. Any power-of-two alignment up to the
 * slab block works (slabs are naturally aligned blocks): kmalloc-8k's 8 KiB.
 * Only at boot, before other threads run. */
void kmem_cache_setup_static(struct kmem_cache *c, const char *name, unsigned int size,
                             unsigned int align, slab_flags_t flags, bool magazines);

/* Full checks of a free of obj to c (wrong cache, outside any slab, not the
 * start of an object); returns its slab or reports and panics. */
struct slab *kmem_slab_of_object(struct kmem_cache *c, const void *obj, const void *caller);

/* kfree's and ksize's checked slow paths, with fn naming the caller's
 * function in reports (kmalloc.c; the malloc's free is one). */
void kmem_kfree_named(const void *p, const char *fn, const void *caller);
size_t kmem_ksize_named(const void *p, const char *fn, const void *caller);

/* Does c construct its objects (so their state outlives a free)? */
static KMEM_ALWAYS_INLINE bool cache_constructs(const struct kmem_cache *c)
{
    return c->c_ctor || c->c_ops.ctor;
}

/* The slab that holds obj, or NULL if obj is in no live slab. */
static inline struct slab *kmem_obj_slab(const void *obj)
{
    if (!pf_virt_valid(obj))
        return NULL;
    struct page *page = pf_virt_to_page(obj);
    struct slab *slab = page->pg_owner_p0;
    if (page->pg_owner != PG_OWNER_SLAB || !slab || slab->sl_page->pg_state != PS_SLAB)
        return NULL;
    return slab;
}

/* ---- slab_debug.c: the debug switches (SLAB_DEBUG_FLAGS) ---- */

/* The debug flags a new cache gets: those it was created with, and those
 * kmem_slab_debug_set named for it (not for kmem's internal caches). Poison
 * is dropped for caches that construct their objects, as in Linux (a free
 * object must keep its constructed state). */
slab_flags_t kmem_debug_flags_for(const char *name, slab_flags_t flags, bool internal, bool ctor);
/* Lay out a debug cache's objects: red zone and tracks after the object,
 * then the stride (c_size) rounded to the alignment. */
void kmem_debug_layout(struct kmem_cache *c);
/* A new slab's objects are free: red zones inactive, poisoned, no owners. */
void kmem_debug_slab_init(struct kmem_cache *c, struct slab *slab);
/* An object leaves (alloc) or enters (free) its slab, under c_lock. Either
 * unlocks c_lock and reports when it finds the object or slab damaged. */
void kmem_debug_alloc_locked(struct kmem_cache *c, struct slab *slab, void *obj);
void kmem_debug_free_locked(struct kmem_cache *c, struct slab *slab, void *obj, const void *caller);
/* kmem_cache_destroy found obj still allocated: log it (with its owner). */
void kmem_debug_leak(const struct kmem_cache *c, const void *obj);

/* Is bit idx of the slab's free map set (the object free in its slab)? */
static inline bool slab_obj_is_free(const struct slab *slab, unsigned int idx)
{
    unsigned int bits = (unsigned int)(8 * sizeof(unsigned long));
    return slab->sl_free_map[idx / bits] & (1UL << (idx % bits));
}

/* Call fn for every cache, under the list lock (fn may take c_lock). */
void kmem_slab_for_each_cache(void (*fn)(struct kmem_cache *c, void *arg), void *arg);

/* Boot and shutdown of the slab layer (called by kmem_boot/kmem_shutdown);
 * seed (kmem_machine_desc.random_seed) makes the caches' secrets. */
void kmem_slab_boot(uint64_t seed);
void kmem_slab_shutdown(void);
void kmem_kmalloc_boot(void); /* kmalloc.c: its caches, after kmem_slab_boot */

#endif /* KMEM_SLAB_INTERNAL_H */
