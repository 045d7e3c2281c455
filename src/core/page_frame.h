/* SPDX-License-Identifier: MIT */
/*
 * page_frame.h - one struct page per physical frame, and the O(1) ways
 * between a page, its pfn, its physical address and its direct-map address.
 *
 * Glossary (used throughout kmem):
 *   frame   4 KiB of physical memory; its number is the pfn (phys >> 12).
 *   page    the struct page describing one frame (the memmap holds them all).
 *   block   2^order frames, naturally aligned; its first page is the head,
 *           the others are its tail pages.
 *   direct map  the mapping of all physical memory at one virtual offset:
 *           virt = direct_base + phys (Linux's linear map).
 *
 * Invariants (checked by kmem_page_check in page_check.c):
 *   P1. Every page of managed memory is exactly one of: the head of a block
 *       (state FREE, PCP or ALLOC, with the block's order), or a tail page
 *       (state TAIL) lying inside such a block. Unmanaged frames are RESERVED.
 *   P2. A head's pfn is a multiple of 2^order, and the whole block lies in
 *       one zone, which the head's pg_zone names (a tail's pg_zone means
 *       nothing: a zeroed memmap's tails are never written).
 * Keeping tail pages in state TAIL costs O(1) per split and merge (only the
 * pages that stop or start being heads change), and lets every free check
 * tell a block's start from an address inside a block.
 */
#ifndef KMEM_PAGE_FRAME_H
#define KMEM_PAGE_FRAME_H

#include <kmem/page.h>
#include <kmem/types.h>

#include "../internal/compiler.h"
#include "../internal/list.h"

enum page_state {
    PS_TAIL = 0,     /* inside a block, not its first page */
    PS_RESERVED = 1, /* not managed: a hole, or memory the host kept */
    PS_FREE = 2,     /* head of a free block on its zone's free_area[order] */
    PS_PCP = 3,      /* head of a free block on a per-CPU list */
    PS_ALLOC = 4,    /* head of an allocated block */
    PS_SLAB = 5,     /* head of an allocated block that is a slab (slab.c);
                        __free_pages refuses it */
};

/* Who holds an allocated block (pg_owner, on every page of the block). */
enum page_owner {
    PG_OWNER_PAGES = 0,   /* alloc_pages' caller */
    PG_OWNER_SLAB = 1,    /* a slab: pg_owner_p0 is its struct slab, p1 its cache */
    PG_OWNER_KMALLOC = 2, /* a large kmalloc block: pg_order is its order */
};

struct page {
    union {
        struct {
            uint8_t pg_order; /* order of the block this page heads */
            uint8_t pg_state; /* enum page_state */
        };
        uint16_t pg_head; /* both at once: one compare checks a free */
    };
    uint8_t pg_zone;  /* enum kmem_zone_type of the frame */
    uint8_t pg_owner; /* enum page_owner, for allocated heads */
    uint32_t pg_u32;  /* 0, but on slab pages: the bytes of the slab's
                         objects (kfree's one test for "a slab page") */
    union {
        struct list_head pg_lru; /* FREE: on the zone's free list;
                                    PCP: pg_lru.next chains the per-CPU list */
        struct {
            void *pg_owner_p0; /* owner-private (a slab, a cache, ...) */
            void *pg_owner_p1;
        };
    };
    unsigned long pg_private; /* owner-private */
#if UINTPTR_MAX == 0xffffffffu
    /* 32-bit: the fields above take 20 bytes; pad to 32 so that the memmap
     * is the same 32 bytes a frame everywhere and pf_page_valid's rotate
     * (a power-of-two size) still checks range and alignment in one compare. */
    uint32_t pg_pad32[3];
#endif
};

KMEM_STATIC_ASSERT(sizeof(struct page) == 32, "struct page is 32 bytes on every machine");

/* pg_head of a head page in state s with order o, computed in unsigned long
 * so that an absurd order never wraps onto a valid word: comparing it with
 * pg_head checks the state and that the order is the block's (so <= 10) at
 * once. With the order in the low byte, s << 8 | o is one add. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PAGE_HEAD_WORD(s, o) (((unsigned long)(s) << 8) + (unsigned long)(o))
#else
#define PAGE_HEAD_WORD(s, o) (((unsigned long)(o) << 8) + (unsigned long)(s))
#endif

/* The machine's frames. Read-mostly: written at boot and shutdown, and
 * fr_nr_pfns grows when memory is added (hotplug.c), which publishes the new
 * frames' initialized struct pages with a release store; readers load it
 * relaxed (a plain load on every machine we know), since a frame they reach
 * through it was handed to them by the buddy system under a lock. */
struct kmem_frames {
    char *fr_direct;           /* virtual address of physical address 0 */
    struct page *fr_memmap;    /* fr_nr_pfns pages, one per frame */
    unsigned long fr_nr_pfns;  /* frames covered: [0, fr_nr_pfns) */
    unsigned long fr_max_pfns; /* the memmap's room: fr_nr_pfns may grow to it */
    bool fr_up;                /* between kmem_boot and kmem_shutdown */
    bool fr_memmap_zeroed;     /* frames never described yet have all-zero struct
                                  pages: a tail page (PS_TAIL is 0) */
};

extern KMEM_HIDDEN struct kmem_frames kmem_frames;

/* A plain load, which the compiler folds into the compare of the fast
 * paths (it folds no atomic load): the bound only grows, a word-sized
 * aligned load sees the old value or the new, and either answer is right
 * for the memory the caller can hold (see above). Under ThreadSanitizer the
 * same load is a relaxed atomic, so that it is checked as one. */
static KMEM_ALWAYS_INLINE unsigned long pf_nr_pfns(void)
{
#if defined(__SANITIZE_THREAD__) || defined(KMEM_TSAN_BUILD)
    return __atomic_load_n(&kmem_frames.fr_nr_pfns, __ATOMIC_RELAXED);
#else
    return kmem_frames.fr_nr_pfns;
#endif
}

static KMEM_ALWAYS_INLINE unsigned long pf_page_to_pfn(const struct page *page)
{
    return (unsigned long)(page - kmem_frames.fr_memmap);
}

static KMEM_ALWAYS_INLINE struct page *pf_pfn_to_page(unsigned long pfn)
{
    return kmem_frames.fr_memmap + pfn;
}

static KMEM_ALWAYS_INLINE void *pf_page_address(const struct page *page)
{
    return kmem_frames.fr_direct + (pf_page_to_pfn(page) << PAGE_SHIFT);
}

/* Is addr in the direct map? Then its page is pf_virt_to_page(addr). */
static KMEM_ALWAYS_INLINE bool pf_virt_valid(const void *addr)
{
    uintptr_t off = (uintptr_t)addr - (uintptr_t)kmem_frames.fr_direct;
    return (off >> PAGE_SHIFT) < pf_nr_pfns();
}

static KMEM_ALWAYS_INLINE struct page *pf_virt_to_page(const void *addr)
{
    uintptr_t off = (uintptr_t)addr - (uintptr_t)kmem_frames.fr_direct;
    return kmem_frames.fr_memmap + (off >> PAGE_SHIFT);
}

/* Is page a real element of the memmap (in range and not misaligned)? */
static KMEM_ALWAYS_INLINE bool pf_page_valid(const struct page *page)
{
    /* Rotating the byte offset right by log2(sizeof(struct page)) gives the
     * index, with any misalignment rotated into the top bits: one compare
     * then checks both the range and the alignment. */
    KMEM_STATIC_ASSERT(sizeof(struct page) == 32, "pf_page_valid assumes 32-byte pages");
    uintptr_t off = (uintptr_t)page - (uintptr_t)kmem_frames.fr_memmap;
    uintptr_t index = (off >> 5) | (off << (sizeof(uintptr_t) * 8 - 5));
    return index < pf_nr_pfns();
}

#endif /* KMEM_PAGE_FRAME_H */
