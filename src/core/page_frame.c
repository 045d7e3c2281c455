/* SPDX-License-Identifier: MIT */
/*
 * page_frame.c - the public address translations (see page_frame.h).
 * Each is O(1) arithmetic on the memmap and the direct map; the two that can
 * be handed an address outside the machine return NULL for it.
 */
#include <kmem/platform.h>

#include "page_frame.h"

struct kmem_frames kmem_frames;

size_t kmem_memmap_bytes(phys_addr_t phys_end)
{
    return (size_t)((phys_end + PAGE_SIZE - 1) >> PAGE_SHIFT) * sizeof(struct page);
}

unsigned long page_to_pfn(const struct page *page)
{
    return pf_page_to_pfn(page);
}

struct page *pfn_to_page(unsigned long pfn)
{
    return pfn < pf_nr_pfns() ? pf_pfn_to_page(pfn) : NULL;
}

void *page_address(const struct page *page)
{
    return pf_page_address(page);
}

struct page *virt_to_page(const void *addr)
{
    return kmem_frames.fr_up && pf_virt_valid(addr) ? pf_virt_to_page(addr) : NULL;
}

phys_addr_t virt_to_phys(const volatile void *addr)
{
    return (phys_addr_t)((uintptr_t)addr - (uintptr_t)kmem_frames.fr_direct);
}

void *phys_to_virt(phys_addr_t phys)
{
    return kmem_frames.fr_direct + phys;
}

int get_order(unsigned long size)
{
    /* Linux's definition: the order of the smallest block of at least size
     * bytes; size 0 wraps to the largest value (BITS_PER_LONG - PAGE_SHIFT). */
    size = (size - 1) >> PAGE_SHIFT;
    return size ? (int)(sizeof(long) * 8) - __builtin_clzl(size) : 0;
}
