/* SPDX-License-Identifier: MIT */
/*
 * magazine.h - the magazine and depot layer of the object caches (see
 * magazine.c).
 */
#ifndef KMEM_MAGAZINE_H
#define KMEM_MAGAZINE_H

#include <kmem/types.h>

#include "../internal/compiler.h"
#include "../internal/lock.h"

struct kmem_cache;
struct kmem_cpu;

/* A magazine: a stack of up to mag_capacity constructed objects in
 * mag_round[1 .. mag_rounds], encoded (below). mag_round[0] is always NULL: popping it means
 * "empty", so the allocation fast path needs no separate emptiness test, and
 * the object on top (mag_round[mag_rounds]) exists even in an empty magazine
 * for the free fast path's immediate double-free test. While a magazine is
 * some CPU's loaded one, its true top is that CPU's cc_top, and mag_rounds
 * is brought up to date only when the slow path looks at it. */
struct kmem_magazine {
    struct kmem_magazine *mag_next; /* on a depot list */
    unsigned int mag_rounds;
    uint16_t mag_capacity; /* at most 2045 */
    bool mag_encoded;      /* rounds XORed with the key (while in the depot) */
    void *mag_round[];
};

/* A full magazine in the depot holds its rounds encoded, XORed with its key:
 * its cache's secret (c_secret, random per cache) XOR the magazine's address
 * (Linux's CONFIG_SLAB_FREELIST_HARDENED, on magazines). The depot is where
 * magazines wait longest and are shared by every CPU: a stray write into one
 * yields an address no one chose, not the attacker's, a round copied into
 * another magazine decodes to garbage, and leaked rounds do not give away
 * heap addresses. A CPU's two magazines hold plain pointers, which the fast
 * paths pop and push without paying for a key on the allocation's chain of
 * dependent loads (that cost 10-25% of a pair's time); the free path checks
 * every pointer before it pushes it, and the rounds are checked again when a
 * magazine goes back to the slabs. KMEM_MAGAZINE_ENCODE=0 (CMake
 * KMEM_HARDENED=OFF) stores plain pointers in the depot too, only to measure
 * what encoding costs. */
#ifndef KMEM_MAGAZINE_ENCODE
#define KMEM_MAGAZINE_ENCODE 1
#endif

static KMEM_ALWAYS_INLINE void *mag_code(uintptr_t key, void *v)
{
    return KMEM_MAGAZINE_ENCODE ? (void *)((uintptr_t)v ^ key) : v;
}

/* One CPU's (thread's) view of one cache: Bonwick and Adams' loaded and
 * previous magazines, and the loaded one's top and end, which is all the
 * fast paths read: allocation pops *cc_top (NULL: empty), free pushes above
 * it unless cc_top == cc_end (full). All four point into a shared empty
 * sentinel of capacity 0 until the CPU gets real magazines, so the fast
 * paths never test for NULL. */
struct kmem_cpu_cache {
    void **cc_top; /* &cc_loaded->mag_round[rounds] */
    void **cc_end; /* &cc_loaded->mag_round[mag_capacity] */
    struct kmem_magazine *cc_loaded;
    struct kmem_magazine *cc_prev;
};

/* The empty sentinel magazine (never written) and a slot's initial state. */
extern KMEM_HIDDEN union kmem_magazine_sentinel {
    struct kmem_magazine m;
    void *words[sizeof(struct kmem_magazine) / sizeof(void *) + 1]; /* + mag_round[0] */
} kmem_empty_magazine;
#define KMEM_EMPTY_MAGAZINE (&kmem_empty_magazine.m)
#define KMEM_EMPTY_ROUND0   (&kmem_empty_magazine.m.mag_round[0])
#define KMEM_CPU_CACHE_INIT                                                                        \
    {                                                                                              \
        KMEM_EMPTY_ROUND0, KMEM_EMPTY_ROUND0, KMEM_EMPTY_MAGAZINE, KMEM_EMPTY_MAGAZINE             \
    }

/* A cache's depot of full and empty magazines, and the magazine size it
 * hands out, which grows while the depot lock is contended (Bonwick and
 * Adams' dynamic magazine resizing). */
struct kmem_depot {
    struct kmem_mutex d_lock;
    unsigned int d_magtype; /* index of the magazine size new magazines get */
    struct kmem_magazine *d_full;
    struct kmem_magazine *d_empty;
    unsigned long d_nfull;
    unsigned long d_nempty;
    unsigned int d_acquired;  /* lock acquisitions in this window */
    unsigned int d_contended; /* of which found the lock held */
    unsigned long d_resizes;  /* magazine size increases so far */
    unsigned long d_epoch;    /* the trim epoch of its last trim (magazine.c) */
    unsigned long d_min_full; /* the fewest full magazines the depot held since then */
    unsigned long d_trimmed;  /* full magazines given back by trims so far */
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
/* Put every slot of an area back on the sentinel (kmem_exit, thread exit). */
void kmem_cpu_slots_reset(struct kmem_cpu *cpu);
/* Rounds of the magazines the cache hands out now (0: no magazines). */
unsigned int kmem_magazine_size(const struct kmem_cache *c);
/* The calling CPU's slot for c, or NULL if it has none (for the checks). */
const struct kmem_cpu_cache *kmem_magazine_slot_self(const struct kmem_cache *c);

#endif /* KMEM_MAGAZINE_H */
