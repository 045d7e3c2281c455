/* SPDX-License-Identifier: MIT */
/*
 * frag.h - fragmentation measures, as Linux defines them.
 *
 * External (per zone and order, from the free block counts):
 *   - unusable free space index (mm/vmstat.c, unusable_free_index): the
 *     fraction of free memory that lies in blocks too small for an
 *     allocation of this order; 0 = all free memory is usable for it,
 *     1 = none is (or nothing is free).
 *   - extfrag index (mm/compaction.c, __fragmentation_index): for a failing
 *     allocation of this order, whether it fails for lack of memory (towards
 *     0) or because the free memory is fragmented (towards 1); -1 when a
 *     free block of this order or larger exists (the allocation succeeds),
 *     as Linux's -1000.
 * Internal (per cache): bytes the objects' users asked for against the bytes
 * of the slabs that hold them.
 */
#ifndef KMEM_TOOL_FRAG_H
#define KMEM_TOOL_FRAG_H

#include <kmem.h>

struct frag_zone {
    unsigned long free_pages;        /* on the buddy free lists */
    unsigned long free_blocks;       /* free blocks of every order */
    double unusable[NR_PAGE_ORDERS]; /* 0..1 */
    double extfrag[NR_PAGE_ORDERS];  /* below 1 (negative when less is free than the order needs,
                                        as Linux), or -1: a block of this order is free */
};

void frag_zone_compute(const struct kmem_zone_info *zone, struct frag_zone *out);

/* Internal fragmentation of a cache: 1 - requested / (slab bytes of its
 * slabs) when the bytes requested are known (known: even 0, when nothing is
 * live: every slab byte is then wasted); otherwise 1 - object_size * active
 * / slab bytes, which counts objects parked in magazines as used and so
 * shows only the rounding to the object size and the slab's leftover. 0
 * when the cache holds no slab. */
double frag_internal(const struct kmem_cache_info *info, unsigned long long requested_bytes,
                     bool known);

#endif /* KMEM_TOOL_FRAG_H */
