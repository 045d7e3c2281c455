/* SPDX-License-Identifier: MIT */
/*
 * kmem/info.h - looking inside: Linux's /proc texts, zone counters and the
 * invariant checkers tests call after random operation sequences.
 */
#ifndef KMEM_INFO_H
#define KMEM_INFO_H

#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The text of /proc/buddyinfo: one line per populated zone,
 * "Node 0, zone      DMA      1      0 ...", with the free blocks of each of
 * the NR_PAGE_ORDERS orders. snprintf semantics: returns the length the full
 * text needs and writes at most len bytes, NUL included. */
KMEM_API size_t kmem_buddyinfo(char *buf, size_t len);

/* The text of /proc/slabinfo, version 2.1: a header, then one line per cache
 * ("name active_objs num_objs objsize objperslab pagesperslab : tunables
 * limit batchcount sharedfactor : slabdata active_slabs num_slabs
 * sharedavail"). snprintf semantics, as kmem_buddyinfo. */
KMEM_API size_t kmem_slabinfo(char *buf, size_t len);

enum kmem_zone_type { KMEM_ZONE_DMA, KMEM_ZONE_NORMAL, KMEM_NR_ZONES };

struct kmem_zone_info {
    const char *name;                      /* "DMA", "Normal" */
    unsigned long start_pfn;               /* first frame of the zone's span */
    unsigned long end_pfn;                 /* one past its last frame */
    unsigned long managed_pages;           /* frames given to the buddy system */
    unsigned long free_pages;              /* frames on the buddy free lists */
    unsigned long pcp_pages;               /* frames on per-CPU lists */
    unsigned long discarded_pages;         /* free frames the host does not back:
                                              never touched, or given back
                                              (kmem_set_discard_handler) */
    unsigned long nr_free[NR_PAGE_ORDERS]; /* free blocks of each order */
    unsigned int pcp_batch;                /* blocks moved per refill or drain (order 0) */
    unsigned int pcp_high;                 /* a per-CPU list longer than this drains */
    /* Watermarks (Linux's min/low/high, in pages): GFP_KERNEL leaves at
     * least watermark_min free; __GFP_HIGH may go down to min / 2, GFP_ATOMIC
     * to 3/8 of min, __GFP_MEMALLOC to 0. A request that could have used the
     * higher zone h leaves lowmem_reserve[h] more (0 for h = this zone). */
    unsigned long watermark_min, watermark_low, watermark_high;
    unsigned long lowmem_reserve[KMEM_NR_ZONES];
};

/* The text of Linux's /proc/zoneinfo, the part a machine like this one has:
 * per populated zone its free pages, watermarks min/low/high, spanned,
 * present and managed pages, and its lowmem protection. snprintf semantics. */
KMEM_API size_t kmem_zoneinfo(char *buf, size_t len);

/* Fill *info for zone type zt. Returns false if the zone is empty (or kmem is
 * not up). allocated = managed - free - pcp. */
KMEM_API bool kmem_zone_info(enum kmem_zone_type zt, struct kmem_zone_info *info);

/* One block of the page allocator, as kmem_page_walk reports it. */
enum kmem_block_state {
    KMEM_BLOCK_FREE,      /* on the zone's free lists */
    KMEM_BLOCK_PCP,       /* free, cached on a per-CPU list */
    KMEM_BLOCK_ALLOCATED, /* handed out */
    KMEM_BLOCK_RESERVED,  /* a frame kmem does not manage (one frame per call) */
};

struct kmem_block {
    enum kmem_zone_type zone;
    unsigned long pfn;  /* first frame */
    unsigned int order; /* 2^order frames (0 for a reserved frame) */
    enum kmem_block_state state;
};

/* Call fn for every block of every zone in pfn order, from one consistent
 * snapshot (all locks are held: fn must not call kmem). Stops early when fn
 * returns false. Returns the number of blocks visited. */
typedef bool (*kmem_block_fn)(void *arg, const struct kmem_block *block);
KMEM_API unsigned long kmem_page_walk(kmem_block_fn fn, void *arg);

/* Verify every invariant of the page allocator (see src/core/buddy.c): each
 * violation is written as one "kmem: check: ..." line. Returns their number;
 * 0 means consistent. Takes every lock, so it sees a quiescent snapshot. */
KMEM_API int kmem_page_check(void);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_INFO_H */
