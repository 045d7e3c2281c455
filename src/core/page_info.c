/* SPDX-License-Identifier: MIT */
/*
 * page_info.c - looking inside the page allocator: Linux's /proc/buddyinfo
 * and /proc/zoneinfo texts and per-zone counters. Readers take each zone's lock for a consistent
 * line; per-CPU counts take every CPU's lock.
 */
#include "../internal/fmt.h"
#include <kmem/init.h>

#include "pcp.h"

struct pcp_count {
    unsigned long pages[KMEM_NR_ZONES];
};

static void count_list(void *arg, unsigned int zone, unsigned int order,
                       const struct pcp_list *list)
{
    struct pcp_count *c = arg;
    c->pages[zone] += (unsigned long)list->pl_count << order;
}

size_t kmem_buddyinfo(char *buf, size_t len)
{
    size_t n = 0;
    if (len)
        buf[0] = '\0';
    if (!kmem_is_up())
        return 0;
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
        struct zone *z = &kmem_zones[zi];
        if (!zone_populated(z))
            continue;
        unsigned long counts[NR_PAGE_ORDERS];
        kmem_mutex_lock(&z->z_lock);
        for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++)
            counts[o] = z->z_free_area[o].fa_nr_free;
        kmem_mutex_unlock(&z->z_lock);
        /* Linux: "Node %d, zone %8s " then "%6lu " per order, then "\n". */
        n = kmem_text_append(buf, len, n, "Node 0, zone %8s ", z->z_name);
        for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++)
            n = kmem_text_append(buf, len, n, "%6lu ", counts[o]);
        n = kmem_text_append(buf, len, n, "\n");
    }
    return n;
}

bool kmem_zone_info(enum kmem_zone_type zt, struct kmem_zone_info *info)
{
    if ((unsigned)zt >= KMEM_NR_ZONES || !kmem_is_up())
        return false;
    struct zone *z = &kmem_zones[zt];
    if (!zone_populated(z))
        return false;
    struct pcp_count pcp = {{0}};
    pcp_lock_all();
    pcp_visit_locked(count_list, &pcp);
    kmem_mutex_lock(&z->z_lock);
    info->name = z->z_name;
    info->start_pfn = z->z_start_pfn;
    info->end_pfn = z->z_end_pfn;
    info->managed_pages = z->z_managed_pages;
    info->free_pages = z->z_free_pages;
    info->pcp_pages = pcp.pages[zt];
    info->discarded_pages = 0;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        info->nr_free[o] = z->z_free_area[o].fa_nr_free;
        info->discarded_pages += z->z_free_area[o].fa_nr_clean << o;
    }
    info->pcp_batch = z->z_pcp_batch;
    info->pcp_high = z->z_pcp_high;
    info->watermark_min = z->z_watermark[WMARK_MIN];
    info->watermark_low = z->z_watermark[WMARK_LOW];
    info->watermark_high = z->z_watermark[WMARK_HIGH];
    for (unsigned int h = 0; h < KMEM_NR_ZONES; h++)
        info->lowmem_reserve[h] = z->z_lowmem_reserve[h];
    kmem_mutex_unlock(&z->z_lock);
    pcp_unlock_all();
    return true;
}

size_t kmem_zoneinfo(char *buf, size_t len)
{
    size_t n = 0;
    if (len)
        buf[0] = '\0';
    for (unsigned int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)zt, &zi))
            continue;
        /* Linux's zoneinfo_show_print: "Node %d, zone %8s", then the
         * counters indented as there. */
        n = kmem_text_append(buf, len, n,
                             "Node 0, zone %8s\n  pages free     %lu\n        min      %lu\n"
                             "        low      %lu\n        high     %lu\n"
                             "        spanned  %lu\n        present  %lu\n"
                             "        managed  %lu\n        protection: (",
                             zi.name, zi.free_pages, zi.watermark_min, zi.watermark_low,
                             zi.watermark_high, zi.end_pfn - zi.start_pfn, zi.managed_pages,
                             zi.managed_pages);
        for (unsigned int h = 0; h < KMEM_NR_ZONES; h++)
            n = kmem_text_append(buf, len, n, h ? ", %lu" : "%lu", zi.lowmem_reserve[h]);
        n = kmem_text_append(buf, len, n, ")\n");
    }
    return n;
}

static const enum kmem_block_state state_of[] = {
    [PS_FREE] = KMEM_BLOCK_FREE,         [PS_PCP] = KMEM_BLOCK_PCP,
    [PS_ALLOC] = KMEM_BLOCK_ALLOCATED,   [PS_SLAB] = KMEM_BLOCK_ALLOCATED,
    [PS_RESERVED] = KMEM_BLOCK_RESERVED,
};

unsigned long kmem_page_walk(kmem_block_fn fn, void *arg)
{
    if (!kmem_is_up())
        return 0;
    unsigned long visited = 0;
    bool more = true;
    pcp_lock_all();
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        kmem_mutex_lock(&kmem_zones[zi].z_lock);
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES && more; zi++) {
        const struct zone *z = &kmem_zones[zi];
        unsigned long pfn = z->z_start_pfn;
        while (pfn < z->z_end_pfn && more) {
            const struct page *page = pf_pfn_to_page(pfn);
            unsigned int state = page->pg_state;
            struct kmem_block block = {(enum kmem_zone_type)zi, pfn, 0, KMEM_BLOCK_RESERVED};
            if (state != PS_RESERVED && state != PS_TAIL && state <= PS_SLAB) {
                block.order = page->pg_order;
                block.state = state_of[state];
            }
            more = fn(arg, &block);
            visited++;
            pfn += 1UL << block.order;
        }
    }
    for (unsigned int zi = KMEM_NR_ZONES; zi-- > 0;)
        kmem_mutex_unlock(&kmem_zones[zi].z_lock);
    pcp_unlock_all();
    return visited;
}
