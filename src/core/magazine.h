/* SPDX-License-Identifier: MIT */
/*
 * magazine.h - the magazine and depot layer of the object caches (see
 * magazine.c).
 */
#ifndef KMEM_MAGAZINE_H
#define KMEM_MAGAZINE_H

#include "../internal/lock.h"

struct kmem_cache;
struct kmem_cpu;

/* A magazine: a stack of up to mag_capacity constructed objects in
 * mag_round[1 .. mag_rounds]. mag_round[0] is always NULL, so "the object on
 * top" (mag_round[mag_rounds]) exists even in an empty magazine, and the free
 * fast path's immediate double-free test needs no emptiness test. */
struct kmem_magazine {
    struct kmem_magazine *mag_next; /* on a depot list */
    unsigned int mag_rounds;
    unsigned int mag_capacity;
    void *mag_round[];
};

/* One CPU's (thread's) view of one cache: Bonwick and Adams' loaded and
 * previous magazines. Both point at a shared empty sentinel of capacity 0
 * until the CPU gets real magazines, so the fast paths never test for NULL. */
struct kmem_cpu_cache {
    struct kmem_magazine *cc_loaded;
    struct kmem_magazine *cc_prev;
};

/* A cache's depot of full and empty magazines. */
struct kmem_depot {
    struct kmem_mutex d_lock;
    struct kmem_magazine *d_full;
    struct kmem_magazine *d_empty;
    unsigned long d_nfull;
    unsigned long d_nempty;
};

#define KMEM_NO_ID 0xffffffffu /* a cache without magazines */

void kmem_magazine_boot(void);
/* Give a new cache its id and magazine size (or none: KMEM_NO_ID). */
void kmem_magazine_cache_init(struct kmem_cache *c, bool magazines);
/* Return every magazine of the cache, of every CPU and of the depot, to the
 * slab layer (kmem_cache_destroy; the cache must be idle). */
void kmem_magazine_purge_all(struct kmem_cache *c);
/* Release the cache's id (after a successful purge, when destroying it). */
void kmem_magazine_cache_fini(struct kmem_cache *c);
/* Return the calling CPU's magazines of the cache to the slab layer. */
void kmem_magazine_flush_self(struct kmem_cache *c);
/* Return the depot's magazines to the slab layer (shrink, reclaim). */
void kmem_magazine_depot_purge(struct kmem_cache *c);
/* A thread exits: return its magazines (registry lock held). */
void kmem_magazine_cpu_flush(struct kmem_cpu *cpu);

#endif /* KMEM_MAGAZINE_H */
