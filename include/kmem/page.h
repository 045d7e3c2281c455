/* SPDX-License-Identifier: MIT */
/*
 * kmem/page.h - the page allocator: a binary buddy system over zones DMA
 * (physical < 16 MiB) and Normal, with per-CPU lists for small orders.
 *
 * A block of order n is 2^n contiguous frames whose first pfn is a multiple
 * of 2^n. Every function here is thread-safe once kmem is up.
 */
#ifndef KMEM_PAGE_H
#define KMEM_PAGE_H

#include <kmem/gfp.h>
#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocate a block of 2^order frames. NULL when order > MAX_PAGE_ORDER (no
 * message) or when no block is free (every structure stays intact). */
KMEM_API struct page *alloc_pages(gfp_t gfp, unsigned int order);
#define alloc_page(gfp) alloc_pages((gfp), 0)

/* Free a block. The order must be the one it was allocated with; a double
 * free, a wrong order or a page that heads no allocated block is reported
 * and panics. */
KMEM_API void __free_pages(struct page *page, unsigned int order);
#define __free_page(page) __free_pages((page), 0)

/* The same, by direct-map virtual address (0 on failure). */
KMEM_API unsigned long __get_free_pages(gfp_t gfp, unsigned int order);
#define __get_free_page(gfp) __get_free_pages((gfp), 0)
KMEM_API unsigned long get_zeroed_page(gfp_t gfp);
KMEM_API void free_pages(unsigned long addr, unsigned int order);
#define free_page(addr) free_pages((addr), 0)

/* Exactly PAGE_ALIGN(size) bytes: the block is split into single pages and
 * the pages past the end go back at once. Free with the same size. */
KMEM_API void *alloc_pages_exact(size_t size, gfp_t gfp);
KMEM_API void free_pages_exact(void *virt, size_t size);

/* Address translation, O(1). pfn_to_page and virt_to_page return NULL for an
 * address that is not managed memory of this machine. */
KMEM_API void *page_address(const struct page *page);
KMEM_API struct page *virt_to_page(const void *addr);
KMEM_API unsigned long page_to_pfn(const struct page *page);
KMEM_API struct page *pfn_to_page(unsigned long pfn);
KMEM_API phys_addr_t virt_to_phys(const volatile void *addr);
KMEM_API void *phys_to_virt(phys_addr_t phys);

/* The order of the smallest block holding size bytes (Linux's get_order:
 * size 0 gives BITS_PER_LONG - PAGE_SHIFT). */
KMEM_API int get_order(unsigned long size);

/* Return every block held on per-CPU (per-thread) lists to the buddy lists. */
KMEM_API void drain_all_pages(void);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_PAGE_H */
