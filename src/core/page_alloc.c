/* SPDX-License-Identifier: MIT */
/*
 * page_alloc.c - the page allocator's public interface: zone selection by
 * GFP flags, the per-CPU fast paths, and the checks on every free.
 *
 * Fast paths (inline here, no call): an order <= PCP_MAX_ORDER request of the
 * kernel zone pops the calling CPU's list; a free of an allocated head
 * pushes it. Everything else (empty or full list, __GFP_ZERO, GFP_DMA, large
 * orders, errors) goes to a noinline *_slow function.
 *
 * Zone fallback: GFP_KERNEL tries Normal, then DMA; GFP_DMA tries DMA only.
 * Each zone keeps its watermark reserve (watermark.c): a block is taken only
 * if more than the request's mark stays free (GFP_KERNEL: the min
 * watermark; __GFP_HIGH and GFP_ATOMIC reach into it; __GFP_MEMALLOC takes
 * anything). When every zone fails, a request that may reclaim runs the
 * shrinkers (the object caches give back spare memory), drains the blocks
 * cached on all CPUs' lists, and tries again while that makes progress;
 * __GFP_NORETRY tries once, __GFP_NOFAIL waits for frees until it succeeds.
 * A request that may not reclaim (GFP_ATOMIC, GFP_NOWAIT) fails at once.
 *
 * Free checks: the block must be a head in PS_ALLOC of the given order, or
 * the error is named (double free, wrong order, invalid free, bad address)
 * with the address, the pfn, the order and the caller, then panic.
 */
#include "../internal/report.h"
#include "fault.h"
#include "pcp.h"
#include "shrinker.h"
#include "watermark.h"

/* ---- allocation ---------------------------------------------------------- */

enum { MAX_RECLAIM_RETRIES = 16 }; /* reclaim passes while they make progress */

static struct page *alloc_from_zone(struct zone *z, unsigned int order, unsigned long mark)
{
    if (order <= PCP_MAX_ORDER && z->z_pcp_high)
        return pcp_alloc_slow(z, order, mark);
    return buddy_alloc(z, order, mark);
}

/* One attempt over the request's zones, each with its watermark. */
static struct page *alloc_from_zonelist(gfp_t gfp, unsigned int order, unsigned int alloc_flags)
{
    static const uint8_t kernel_zonelist[] = {KMEM_ZONE_NORMAL, KMEM_ZONE_DMA};
    static const uint8_t dma_zonelist[] = {KMEM_ZONE_DMA};
    const uint8_t *zonelist = (gfp & __GFP_DMA) ? dma_zonelist : kernel_zonelist;
    size_t nr =
        (gfp & __GFP_DMA) ? KMEM_ARRAY_SIZE(dma_zonelist) : KMEM_ARRAY_SIZE(kernel_zonelist);
    /* The highest zone the request may use: its lowmem protection applies
     * in the zones below. */
    unsigned int preferred = (gfp & __GFP_DMA) ? KMEM_ZONE_DMA : kmem_kernel_zone;
    for (size_t i = 0; i < nr; i++) {
        struct zone *z = &kmem_zones[zonelist[i]];
        if (!zone_populated(z))
            continue;
        struct page *page = alloc_from_zone(z, order, zone_mark(z, alloc_flags, preferred));
        if (page)
            return page;
    }
    return NULL;
}

/* Direct reclaim (the request may block): the shrinkers give back what the
 * caches hold spare, the per-CPU lists are drained, and the request tries
 * again, while reclaim makes progress (__GFP_NORETRY: once). __GFP_NOFAIL
 * then reaches into half of the min reserve and, failing that, waits for
 * other threads to free pages, for as long as it takes. */
static KMEM_NOINLINE struct page *alloc_pages_reclaim(gfp_t gfp, unsigned int order,
                                                      unsigned int alloc_flags)
{
    for (unsigned int retries = 0;; retries++) {
        unsigned int seq = kmem_free_seq();
        unsigned long progress = kmem_shrink_all();
        drain_all_pages();
        struct page *page = alloc_from_zonelist(gfp, order, alloc_flags);
        if (page)
            return page;
        if (!(gfp & __GFP_NOFAIL)) {
            if ((gfp & __GFP_NORETRY) || !progress || retries >= MAX_RECLAIM_RETRIES)
                return NULL;
            continue;
        }
        page = alloc_from_zonelist(gfp, order, alloc_flags | ALLOC_MIN_RESERVE);
        if (!page) {
            kmem_wait_for_free(seq);
            retries = 0;
            continue;
        }
        /* Others may wait too: what woke this one may suffice for them. */
        if (__atomic_load_n(&kmem_memory_waiters, __ATOMIC_SEQ_CST))
            kmem_pages_freed_slow();
        return page;
    }
}

static KMEM_NOINLINE struct page *alloc_pages_slow(gfp_t gfp, unsigned int order)
{
    if (order > MAX_PAGE_ORDER)
        return NULL;
    if (unlikely(!kmem_frames.fr_up))
        kmem_error(KMERR_NOT_UP, "alloc_pages(gfp %#x, order %u) called before kmem_init", gfp,
                   order);
    if (kmem_fail_pages(gfp))
        return NULL; /* injected (fault.c) */
    unsigned int alloc_flags = gfp_to_alloc_flags(gfp);
    struct page *page = alloc_from_zonelist(gfp, order, alloc_flags);
    /* A host that adds memory on demand is asked before anything is
     * reclaimed: growing is cheaper than emptying the caches. */
    while (!page && (gfp & __GFP_DIRECT_RECLAIM) && kmem_grow(1UL << order))
        page = alloc_from_zonelist(gfp, order, alloc_flags);
    if (!page && (gfp & __GFP_DIRECT_RECLAIM))
        page = alloc_pages_reclaim(gfp, order, alloc_flags);
    if (!page)
        return NULL;
    page->pg_owner = PG_OWNER_PAGES;
    if (gfp & __GFP_ZERO)
        kmem_memset(pf_page_address(page), 0, PAGE_SIZE << order);
    return page;
}

struct page *alloc_pages(gfp_t gfp, unsigned int order)
{
    if (likely(order <= PCP_MAX_ORDER && !kmem_gfp_slow(gfp, &kmem_page_slow_gfp))) {
        struct kmem_cpu *cpu = kmem_this_cpu();
        if (likely(kmem_spin_trylock(&cpu->cpu_lock))) {
            struct pcp_list *list = cpu_list(cpu, kmem_kernel_zone, order);
            struct page *page = list->pl_head;
            if (likely(page)) {
                list->pl_head = pcp_next(page);
                list->pl_count--;
                page_set_state(page, PS_ALLOC);
                kmem_spin_unlock(&cpu->cpu_lock);
                return page;
            }
            kmem_spin_unlock(&cpu->cpu_lock);
        }
    }
    return alloc_pages_slow(gfp, order);
}

unsigned long __get_free_pages(gfp_t gfp, unsigned int order)
{
    struct page *page = alloc_pages(gfp, order);
    return page ? (unsigned long)pf_page_address(page) : 0;
}

unsigned long get_zeroed_page(gfp_t gfp)
{
    return __get_free_pages(gfp | __GFP_ZERO, 0);
}

/* ---- freeing -------------------------------------------------------------- */

/* Name what is wrong with freeing page (given to fn as arg) with this order,
 * or return if nothing is. */
static void free_diagnose(const struct page *page, unsigned int order, const char *fn,
                          const void *arg, const void *caller)
{
    if (!kmem_frames.fr_up)
        kmem_error(KMERR_NOT_UP, "%s(%p, order %u) called from %p before kmem_init", fn, arg, order,
                   caller);
    if (!pf_page_valid(page))
        kmem_error(KMERR_BAD_ADDRESS,
                   "%s(%p, order %u) called from %p: not a page of this machine's memory", fn, arg,
                   order, caller);
    unsigned long pfn = pf_page_to_pfn(page);
    unsigned long long phys = (unsigned long long)pfn << PAGE_SHIFT;
    switch (page_state(page)) {
    case PS_FREE:
    case PS_PCP:
        kmem_error(KMERR_DOUBLE_FREE,
                   "%s(%p, order %u) called from %p: block at pfn %#lx (phys %#llx) of order %u "
                   "is already free",
                   fn, arg, order, caller, pfn, phys, page->pg_order);
    case PS_TAIL:
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p, order %u) called from %p: pfn %#lx (phys %#llx) is not the first page "
                   "of an allocated block (it lies inside a block, or was freed and merged)",
                   fn, arg, order, caller, pfn, phys);
    case PS_RESERVED:
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p, order %u) called from %p: pfn %#lx (phys %#llx) is reserved memory, "
                   "never handed out",
                   fn, arg, order, caller, pfn, phys);
    case PS_SLAB:
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p, order %u) called from %p: block at pfn %#lx (phys %#llx) is a slab "
                   "of a kmem_cache, not a block of pages",
                   fn, arg, order, caller, pfn, phys);
    case PS_ALLOC:
        if (page->pg_order != order || order > MAX_PAGE_ORDER)
            kmem_error(KMERR_WRONG_ORDER,
                       "%s(%p, order %u) called from %p: block at pfn %#lx (phys %#llx) was "
                       "allocated with order %u",
                       fn, arg, order, caller, pfn, phys, page->pg_order);
        return;
    }
    kmem_error(KMERR_CORRUPTION, "%s(%p, order %u) called from %p: pfn %#lx has bad state %u", fn,
               arg, order, caller, pfn, page->pg_state);
}

static KMEM_NOINLINE void free_pages_slow(struct page *page, unsigned int order, const char *fn,
                                          const void *arg, const void *caller)
{
    free_diagnose(page, order, fn, arg, caller);
    struct zone *z = &kmem_zones[page->pg_zone];
    if (order <= PCP_MAX_ORDER && z->z_pcp_high)
        pcp_free_slow(z, page, order);
    else
        buddy_free(z, page, order);
}

/* The common fast path of __free_pages and free_pages. */
static KMEM_ALWAYS_INLINE bool free_pages_fast(struct page *page, unsigned int order)
{
    if (likely(order <= PCP_MAX_ORDER && pf_page_valid(page) &&
               page_head_word(page) == PAGE_HEAD_WORD(PS_ALLOC, order))) {
        struct kmem_cpu *cpu = kmem_this_cpu();
        if (likely(kmem_spin_trylock(&cpu->cpu_lock))) {
            struct pcp_list *list = cpu_list(cpu, page->pg_zone, order);
            if (likely(list->pl_count < list->pl_high)) {
                pcp_set_next(page, list->pl_head);
                list->pl_head = page;
                list->pl_count++;
                page_set_state(page, PS_PCP);
                kmem_spin_unlock(&cpu->cpu_lock);
                return true;
            }
            kmem_spin_unlock(&cpu->cpu_lock);
        }
    }
    return false;
}

void __free_pages(struct page *page, unsigned int order)
{
    if (likely(free_pages_fast(page, order)))
        return;
    free_pages_slow(page, order, "__free_pages", page, KMEM_RET_ADDR());
}

void free_pages(unsigned long addr, unsigned int order)
{
    const void *virt = (const void *)addr;
    if (likely(pf_virt_valid(virt) && (addr & ~PAGE_MASK) == 0)) {
        struct page *page = pf_virt_to_page(virt);
        if (likely(free_pages_fast(page, order)))
            return;
        free_pages_slow(page, order, "free_pages", virt, KMEM_RET_ADDR());
        return;
    }
    if (addr == 0)
        return; /* Linux: free_pages(0, order) does nothing */
    if (!kmem_frames.fr_up)
        kmem_error(KMERR_NOT_UP, "free_pages(%p, order %u) called from %p before kmem_init", virt,
                   order, KMEM_RET_ADDR());
    if (pf_virt_valid(virt))
        kmem_error(KMERR_INVALID_FREE,
                   "free_pages(%p, order %u) called from %p: address is not page aligned", virt,
                   order, KMEM_RET_ADDR());
    kmem_error(KMERR_BAD_ADDRESS,
               "free_pages(%p, order %u) called from %p: address is outside the direct map of "
               "managed memory",
               virt, order, KMEM_RET_ADDR());
}

/* ---- exact sizes ---------------------------------------------------------- */

void *alloc_pages_exact(size_t size, gfp_t gfp)
{
    if (size == 0 || size > (PAGE_SIZE << MAX_PAGE_ORDER))
        return NULL;
    unsigned int order = (unsigned int)get_order(size);
    struct page *head = alloc_pages(gfp, order);
    if (!head)
        return NULL;
    unsigned long pfn = pf_page_to_pfn(head);
    unsigned long used = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
    unsigned long total = 1UL << order;
    /* Under the zone lock, so that the page walk and the checker never see
     * a half-split block: each kept page becomes its own order-0 allocated
     * block (free_pages_exact frees them one by one, as Linux's split_page),
     * and the tail goes back at once as maximal aligned blocks. */
    struct zone *z = &kmem_zones[head->pg_zone];
    kmem_mutex_lock(&z->z_lock);
    for (unsigned long i = 0; i < used; i++) {
        struct page *page = pf_pfn_to_page(pfn + i);
        page->pg_order = 0;
        page->pg_zone = head->pg_zone; /* a tail until now: no zone of its own */
        page->pg_owner = PG_OWNER_PAGES;
        page_set_state(page, PS_ALLOC);
    }
    if (used < total)
        buddy_give_range_locked(z, pfn + used, pfn + total);
    kmem_mutex_unlock(&z->z_lock);
    return pf_page_address(head);
}

void free_pages_exact(void *virt, size_t size)
{
    unsigned long addr = (unsigned long)virt;
    unsigned long end = addr + ((size + PAGE_SIZE - 1) & PAGE_MASK);
    for (; addr < end; addr += PAGE_SIZE)
        free_pages(addr, 0);
}
