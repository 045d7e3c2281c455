/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - what kmem looks like at one moment: every zone's counters,
 * every block of the page allocator (kmem_page_walk), every cache with every
 * slab and which of its objects are handed out (kmem_cache_walk,
 * kmem_slab_walk), the /proc texts, and the fragmentation measures of
 * frag.h. Replay takes a series of them (a timeline); the pictures (svg.h,
 * html.h) and the JSON output draw from them only.
 */
#ifndef KMEM_TOOL_SNAPSHOT_H
#define KMEM_TOOL_SNAPSHOT_H

#include <kmem.h>

#include "frag.h"

struct snap_slab {
    unsigned long addr;   /* the slab's block (an address in kmem's direct map) */
    unsigned int objects; /* objects in the slab */
    unsigned int inuse;   /* handed out (to users or to magazines) */
    unsigned int pages;   /* pages of the block */
    unsigned char *used;  /* objects entries: 1 handed out, 0 free */
};

struct snap_cache {
    char name[32];
    struct kmem_cache_info info; /* info.name points at name above */
    unsigned long nslabs;
    struct snap_slab *slabs; /* full, then partial, then empty */
    /* What the program asked for, when the caller knows (replay does):
     * live objects and the bytes they asked for; 0 and 0 if unknown. */
    unsigned long live_objects;
    unsigned long long requested_bytes;
    bool usage_known; /* the two above were filled in (even if 0) */
    bool internal;    /* kmem's own cache (kmem_slab, magazines...) */
};

struct snap_zone {
    bool present;
    struct kmem_zone_info info;
    struct frag_zone frag;
};

struct snapshot {
    unsigned long step; /* operations done before it */
    char label[96];     /* what it shows ("after line 120: kfree 17") */
    struct snap_zone zones[KMEM_NR_ZONES];
    struct kmem_block *blocks; /* every block, in pfn order */
    unsigned long nblocks;
    struct snap_cache *caches; /* every cache with at least one slab, or all */
    unsigned long ncaches;
    char *buddyinfo; /* the texts of /proc/buddyinfo, /proc/slabinfo */
    char *slabinfo;
};

/* Take a snapshot of the kmem running in this process. with_slabs: also
 * every slab's objects (bigger; the pictures need them). all_caches: also
 * caches that hold no slab. NULL when out of memory (malloc). */
struct snapshot *snapshot_take(unsigned long step, const char *label, bool with_slabs,
                               bool all_caches);
void snapshot_free(struct snapshot *s);

/* The cache called name in s, or NULL. */
const struct snap_cache *snapshot_cache(const struct snapshot *s, const char *name);
struct snap_cache *snapshot_cache_mut(struct snapshot *s, const char *name);

/* A series of snapshots, in step order. */
struct timeline {
    struct snapshot **snaps;
    unsigned long n, cap;
};
bool timeline_add(struct timeline *t, struct snapshot *s); /* takes s; false: no memory */
void timeline_free(struct timeline *t);

#endif /* KMEM_TOOL_SNAPSHOT_H */
