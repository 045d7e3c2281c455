/* SPDX-License-Identifier: MIT */
/*
 * pages_util.h - the page counts tests compare before and after: free pages
 * (buddy lists and per-CPU lists, after draining those), managed pages, and
 * pages in use, summed over the zones.
 */
#ifndef KMEM_TEST_PAGES_UTIL_H
#define KMEM_TEST_PAGES_UTIL_H

#include <kmem.h>

/* Free pages of every zone, in the buddy system and on per-CPU lists. */
static inline unsigned long test_free_pages_now(void)
{
    unsigned long n = 0;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi))
            n += zi.free_pages + zi.pcp_pages;
    }
    return n;
}

/* The same after the per-CPU lists are drained into the buddy system. */
static inline unsigned long test_free_pages(void)
{
    drain_all_pages();
    return test_free_pages_now();
}

static inline unsigned long test_managed_pages(void)
{
    unsigned long n = 0;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi))
            n += zi.managed_pages;
    }
    return n;
}

static inline unsigned long test_pages_in_use(void)
{
    unsigned long free_pages = test_free_pages();
    return test_managed_pages() - free_pages;
}

#endif /* KMEM_TEST_PAGES_UTIL_H */
