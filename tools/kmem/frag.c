/* SPDX-License-Identifier: MIT */
/*
 * frag.c - Linux's fragmentation measures (frag.h), from a zone's free block
 * counts and a cache's numbers.
 *
 * Unusable free space index of order j (Linux mm/vmstat.c): the free pages
 * that lie in blocks smaller than 2^j, over all free pages. Extfrag index of
 * order j (mm/compaction.c): when no free block of order >= j exists,
 * 1 - (1 + free_pages / 2^j) / free_blocks; it tends to 0 when the request
 * fails for lack of memory, to 1 when it fails for fragmentation. Linux
 * computes both in thousandths; here they are fractions.
 */
#include "frag.h"

void frag_zone_compute(const struct kmem_zone_info *zone, struct frag_zone *out)
{
    unsigned long free_pages = 0, free_blocks = 0;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        free_pages += zone->nr_free[o] << o;
        free_blocks += zone->nr_free[o];
    }
    out->free_pages = free_pages;
    out->free_blocks = free_blocks;
    for (unsigned int j = 0; j < NR_PAGE_ORDERS; j++) {
        unsigned long suitable_pages = 0, suitable_blocks = 0;
        for (unsigned int o = j; o < NR_PAGE_ORDERS; o++) {
            suitable_pages += zone->nr_free[o] << o;
            suitable_blocks += zone->nr_free[o];
        }
        out->unusable[j] =
            free_pages ? (double)(free_pages - suitable_pages) / (double)free_pages : 1.0;
        if (suitable_blocks)
            out->extfrag[j] = -1.0; /* the allocation would succeed */
        else if (!free_blocks)
            out->extfrag[j] = 0.0; /* nothing free: lack of memory */
        else
            out->extfrag[j] =
                1.0 - (1.0 + (double)free_pages / (double)(1UL << j)) / (double)free_blocks;
    }
}

double frag_internal(const struct kmem_cache_info *info, unsigned long long requested_bytes,
                     bool known)
{
    unsigned long long slab_bytes =
        (unsigned long long)info->slabs * info->pages_per_slab * PAGE_SIZE;
    if (!slab_bytes)
        return 0.0;
    unsigned long long used =
        known ? requested_bytes : (unsigned long long)info->object_size * info->active_objs;
    if (used > slab_bytes)
        used = slab_bytes;
    return 1.0 - (double)used / (double)slab_bytes;
}
