/* SPDX-License-Identifier: MIT */
/*
 * kmem/vmalloc.h - virtually contiguous memory: vmalloc and vmap (Linux's
 * mm/vmalloc.c interface).
 *
 * An area is a run of virtual addresses in the machine's vmalloc range,
 * mapped page by page onto frames that need not be contiguous: the bytes at
 * addr + i * PAGE_SIZE are the bytes of page_address(vmalloc_to_page(addr +
 * i * PAGE_SIZE)), the same memory through two addresses. Every area is
 * followed by an unmapped guard page, so running off its end faults. Sizes
 * beyond a buddy block (4 MiB) work: vmalloc(64 << 20) is fine.
 *
 * vmalloc takes the frames itself (the largest blocks it can get, so that
 * few mappings are needed) and vfree gives them back; vmap maps frames the
 * caller owns, and vunmap leaves them the caller's. Out of memory, out of
 * virtual range, or a mapping the host refuses: NULL, and nothing leaks.
 * Freeing what is not the start of a live area of the right kind (never
 * allocated, an interior address, twice, vfree of a vmap area or vunmap of a
 * vmalloc area) is reported and panics. Every function is thread-safe.
 *
 * The range comes from the platform (struct kmem_machine_desc in
 * kmem/platform.h; hosted: 4 x mem_size, at least 128 MiB, at most 4 TiB).
 * A machine without one has no vmalloc: every allocation returns NULL.
 */
#ifndef KMEM_VMALLOC_H
#define KMEM_VMALLOC_H

#include <kmem/gfp.h>
#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Page protections for vmap (Linux's pgprot_t). Mappings are kernel
 * read-write: PAGE_KERNEL is the one protection this platform maps. */
typedef struct {
    unsigned long pgprot;
} pgprot_t;
#define __pgprot(x)   ((pgprot_t){(x)})
#define pgprot_val(x) ((x).pgprot)
#define PAGE_KERNEL   __pgprot(0x3UL) /* present | writable */

/* vmap flags (Linux's values). VM_MAP is the only one vmap accepts. */
#define VM_MAP 0x00000004UL

/* size bytes (rounded up to whole pages), virtually contiguous. NULL for
 * size 0, as Linux. __vmalloc is the lecture's vmalloc(size, gfp_mask): the
 * gfp flags govern the frames and the bookkeeping (GFP_KERNEL may reclaim,
 * __GFP_ZERO zeroes, __GFP_NOFAIL never fails for want of frames). */
KMEM_API void *vmalloc(unsigned long size); /* __vmalloc(size, GFP_KERNEL) */
KMEM_API void *vzalloc(unsigned long size); /* the same, zeroed */
KMEM_API void *__vmalloc(unsigned long size, gfp_t gfp);

/* Unmap the area at addr, give back its frames and its range. vfree(NULL)
 * does nothing. */
KMEM_API void vfree(const void *addr);

/* The frame mapped at addr (any byte of a live vmalloc or vmap area), or
 * NULL if nothing is mapped there. */
KMEM_API struct page *vmalloc_to_page(const void *addr);

/* Does addr lie in the vmalloc range (mapped or not)? O(1), no lock. */
KMEM_API bool is_vmalloc_addr(const void *addr);

/* Map count frames (any pages of this machine, in this order) at a new
 * virtually contiguous address. flags must be VM_MAP and prot PAGE_KERNEL;
 * anything else, count 0, or no range left: NULL. The frames stay the
 * caller's: vunmap unmaps them and frees nothing; vunmap(NULL) does nothing. */
KMEM_API void *vmap(struct page **pages, unsigned int count, unsigned long flags, pgprot_t prot);
KMEM_API void vunmap(const void *addr);

/* ---- Looking inside -------------------------------------------------------- */

struct kmem_vmalloc_info {
    void *start;                /* the vmalloc range [start, start + range_bytes) */
    unsigned long range_bytes;  /* 0: this machine has no vmalloc */
    unsigned long areas;        /* live areas, vmalloc and vmap */
    unsigned long vmap_areas;   /* of which made by vmap */
    unsigned long pages;        /* pages mapped in live areas */
    unsigned long free_ranges;  /* free runs of the range (first fit walks them) */
    unsigned long free_bytes;   /* bytes in them */
    unsigned long largest_free; /* bytes of the largest */
    unsigned long map_calls;    /* kmem_pl_map calls since boot */
    unsigned long unmap_calls;  /* kmem_pl_unmap calls since boot */
    unsigned long map_failures; /* kmem_pl_map calls that failed */
};

/* Fill *info from one consistent snapshot. false if kmem is not up. */
KMEM_API bool kmem_vmalloc_info(struct kmem_vmalloc_info *info);

/* Verify every invariant of the vmalloc layer (V1-V5, src/core/vmalloc.c):
 * each violation is written as one "kmem: check: ..." line. Returns their
 * number; 0 means consistent. */
KMEM_API int kmem_vmalloc_check(void);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_VMALLOC_H */
