/* SPDX-License-Identifier: MIT */
/*
 * kmem/slab.h - object caches (Bonwick 1994; Bonwick and Adams 2001) with
 * Linux's interface: a cache per kind of object, objects kept constructed.
 */
#ifndef KMEM_SLAB_H
#define KMEM_SLAB_H

#include <kmem/gfp.h>
#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Cache flags (Linux's values). */
#define SLAB_CONSISTENCY_CHECKS 0x00000100u /* check slab and object on every alloc and free */
#define SLAB_RED_ZONE           0x00000400u /* guard bytes around objects (debugging) */
#define SLAB_POISON             0x00000800u /* fill free objects with a pattern (debugging) */
#define SLAB_HWCACHE_ALIGN      0x00002000u /* align objects on cache lines */
#define SLAB_STORE_USER         0x00010000u /* remember who allocated and freed (debugging) */
#define SLAB_PANIC              0x00040000u /* panic if the cache cannot be created */
#define SLAB_TRACE              0x00200000u /* log every alloc and free (debugging) */
/* kmem's own: pack tightly, for caches of very many objects (the malloc's
 * classes): slabs may be larger so that at most 1/32 of each is wasted
 * (instead of Bonwick's 1/8), slab headers live off the slab from 256-byte
 * objects on (instead of 512), magazines start at 5 rounds and grow to the
 * usual size with use, and the depot keeps only its working set of full
 * magazines: those no one took during an interval (8 MiB of objects freed
 * into the depot) go back to their slabs, so memory follows use without
 * waiting for reclaim. */
#define SLAB_TIGHT_PACK 0x00100000u

/* kmem's own: hand out a new slab's objects in random order (Linux's
 * CONFIG_SLAB_FREELIST_RANDOM), so that where the next object lies cannot
 * be guessed from the last; also for every cache with KMEM_RANDOM=1. */
#define SLAB_FREELIST_RANDOM 0x00400000u

/* The debug flags: a cache with any of them has no magazines, so that every
 * alloc and free reaches the slab, where they are checked. */
#define SLAB_DEBUG_FLAGS                                                                           \
    (SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE)

struct kmem_cache;

/* Create a cache of objects of size bytes, aligned to align (0: the default,
 * at least 8), constructed by ctor (may be NULL) once when their slab is
 * built. NULL on failure (a bad argument or no memory), unless SLAB_PANIC. */
KMEM_API struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
                                              unsigned int align, slab_flags_t flags,
                                              void (*ctor)(void *));

/* Bonwick's full form: ctor and dtor receive the cache's private argument;
 * dtor runs when a slab is freed, once per object; reclaim is called when
 * memory is short, so that the owner can free objects it caches itself. */
struct kmem_cache_ops {
    void (*ctor)(void *obj, void *priv);
    void (*dtor)(void *obj, void *priv);
    void (*reclaim)(void *priv);
    void *priv;
};
KMEM_API struct kmem_cache *kmem_cache_create_ops(const char *name, unsigned int size,
                                                  unsigned int align, slab_flags_t flags,
                                                  const struct kmem_cache_ops *ops);

/* An object in its constructed state (or, for zalloc, zeroed). NULL when no
 * memory is left. */
KMEM_API void *kmem_cache_alloc(struct kmem_cache *cache, gfp_t gfp);
#define kmem_cache_zalloc(cache, gfp) kmem_cache_alloc((cache), (gfp) | __GFP_ZERO)

/* Return obj, in its constructed state, to its cache. Freeing to another
 * cache, twice, or a pointer that is no object of this cache panics. */
KMEM_API void kmem_cache_free(struct kmem_cache *cache, void *obj);

/* Give the cache's empty slabs (and cached magazines) back to the page
 * allocator. Returns 0 if the cache holds no slab afterwards. */
KMEM_API int kmem_cache_shrink(struct kmem_cache *cache);

/* Destroy an empty cache. Objects still allocated are reported by name and
 * count, and their slabs are left alone (never freed under them). */
KMEM_API void kmem_cache_destroy(struct kmem_cache *cache);

/* What a cache is made of, and how full it is. */
struct kmem_cache_info {
    const char *name;
    unsigned int object_size; /* bytes asked for */
    unsigned int size;        /* bytes per object with alignment padding */
    unsigned int align;
    unsigned int objs_per_slab;
    unsigned int pages_per_slab;
    unsigned int waste_per_slab; /* bytes of a slab no object or header uses */
    unsigned int colours;        /* distinct colour offsets of its slabs */
    bool offslab;                /* slab headers kept off the slab */
    unsigned long active_objs;   /* objects allocated */
    unsigned long total_objs;    /* objects in all slabs */
    unsigned long slabs, full_slabs, partial_slabs, empty_slabs;
    unsigned int magazine_size;     /* rounds per magazine now (0: no magazines);
                                       grows while the depot is contended */
    unsigned long depot_full;       /* full magazines in the depot */
    unsigned long depot_empty;      /* empty magazines in the depot */
    unsigned long magazine_resizes; /* times the magazine size grew */
    unsigned long depot_trimmed;    /* full magazines the depot gave back beyond its working
                                       set (SLAB_TIGHT_PACK caches) */
    bool internal;                  /* kmem's own (cache descriptors, slab headers,
                                       magazines): kfree refuses its objects */
};
KMEM_API void kmem_cache_info(struct kmem_cache *cache, struct kmem_cache_info *info);

/* Call fn for every cache, kmem's own included, with the list of caches
 * locked: fn may call kmem_cache_info and kmem_slab_walk on the cache it is
 * given, but must not create or destroy caches, nor allocate from them.
 * Stops early when fn returns false. Returns the number of caches visited
 * (0 before kmem_init). */
typedef bool (*kmem_cache_fn)(void *arg, struct kmem_cache *cache);
KMEM_API unsigned long kmem_cache_walk(kmem_cache_fn fn, void *arg);

/* One slab of a cache, as kmem_slab_walk reports it (the picture of
 * Figure 9.27: which objects of the slab are handed out). */
struct kmem_slab_view {
    const void *addr;              /* the slab's block: its first page */
    const void *objects_addr;      /* its first object (after the colour offset) */
    unsigned int objects;          /* objects in the slab */
    unsigned int inuse;            /* handed out by the slab layer: to users or
                                      to magazines (0: empty, objects: full) */
    unsigned int pages;            /* pages of the block */
    const unsigned long *free_map; /* bit i set: object i is free (words of
                                      8 * sizeof(long) bits); valid during the call */
};

/* Call fn for every slab of cache, full ones first, then partial, then
 * empty, with the cache locked (fn must not call kmem). Stops early when fn
 * returns false. Returns the number of slabs visited. */
typedef bool (*kmem_slab_fn)(void *arg, const struct kmem_slab_view *slab);
KMEM_API unsigned long kmem_slab_walk(struct kmem_cache *cache, kmem_slab_fn fn, void *arg);

/* Verify every invariant of the cache (S1-S4 in src/core/slab.c); each
 * violation is one "kmem: check: ..." line. Returns their number. */
KMEM_API int kmem_cache_check(struct kmem_cache *cache);

/* The debug switches for caches created from now on (kmalloc's and the
 * malloc's caches are created at boot: set them before kmem_init, or use
 * the environment: KMEM_DEBUG is read by kmem_init and libkmem-malloc.so).
 * The syntax is Linux's slab_debug: letters, optionally followed by cache
 * names, blocks separated by ';':
 *   F  consistency checks (SLAB_CONSISTENCY_CHECKS)  Z  red zones (SLAB_RED_ZONE)
 *   P  poisoning (SLAB_POISON)      U  owner tracking, with call stacks (SLAB_STORE_USER)
 *   T  trace every alloc and free (SLAB_TRACE)       -  none
 * "FZPU" (or "" or "1": F, Z, P and U) applies to every cache, "FZ,kmalloc-64,malloc-*"
 * only to the caches named (a trailing '*' matches a prefix), "FZ,kmalloc-64;P,foo" gives
 * each its own. Returns 0, or -EINVAL (and changes nothing) for a bad spec. NULL clears. */
KMEM_API int kmem_slab_debug_set(const char *spec);

/* SLAB_FREELIST_RANDOM for every cache created from now on (KMEM_RANDOM=1 in
 * the environment sets it for kmem_init and libkmem-malloc.so). */
KMEM_API void kmem_slab_random_set(bool on);

/* Walk every object of the cache (or of every cache) and report each that is
 * damaged: a red zone written (Z), a free object written after its free
 * (P), a slab whose free map disagrees with its count (all caches). Each is
 * one "kmem: validate: ..." line (with U, followed by its owner's stacks);
 * nothing panics. Returns the number of damaged objects and slabs. */
KMEM_API int kmem_cache_validate(struct kmem_cache *cache);
KMEM_API int kmem_validate(void);

KMEM_API const char *kmem_cache_name(const struct kmem_cache *cache);
KMEM_API unsigned int kmem_cache_size(const struct kmem_cache *cache); /* object size */

#ifdef __cplusplus
}
#endif

#endif /* KMEM_SLAB_H */
