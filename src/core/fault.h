/* SPDX-License-Identifier: MIT */
/*
 * fault.h - the hooks of failure injection (fault.c) in the allocators.
 */
#ifndef KMEM_CORE_FAULT_H
#define KMEM_CORE_FAULT_H

#include <kmem/fault.h>
#include <kmem/gfp.h>

#include "../internal/compiler.h"

/* The GFP bits that send a request from the fast path to the slow one; all
 * of them while the target is armed (fault.c, F1). */
#define KMEM_SLAB_SLOW_GFP ((gfp_t)__GFP_ZERO)
#define KMEM_PAGE_SLOW_GFP ((gfp_t)(__GFP_DMA | __GFP_ZERO))
extern KMEM_HIDDEN gfp_t kmem_slab_slow_gfp;
extern KMEM_HIDDEN gfp_t kmem_page_slow_gfp;
extern KMEM_HIDDEN int kmem_fail_armed[KMEM_FAIL_NR_TARGETS];

bool kmem_fail_decide(enum kmem_fail_target t, const char *cache, gfp_t gfp);

/* Does a request with these flags leave the fast path (gfp & *mask)? On x86
 * one test with the mask as its memory operand, as the constant was: a
 * plain C and costs a copy, since the slow path still needs gfp. */
static KMEM_ALWAYS_INLINE bool kmem_gfp_slow(gfp_t gfp, const gfp_t *mask)
{
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GCC_ASM_FLAG_OUTPUTS__)
    bool slow;
    __asm__("testl %2, %1" : "=@ccnz"(slow) : "m"(*mask), "r"(gfp));
    return slow;
#else
    return (gfp & *mask) != 0;
#endif
}

/* Should this slow-path request fail on purpose? */
static inline bool kmem_fail_slab(const char *cache, gfp_t gfp)
{
    return unlikely(__atomic_load_n(&kmem_fail_armed[KMEM_FAIL_SLAB], __ATOMIC_ACQUIRE)) &&
           kmem_fail_decide(KMEM_FAIL_SLAB, cache, gfp);
}

static inline bool kmem_fail_pages(gfp_t gfp)
{
    return unlikely(__atomic_load_n(&kmem_fail_armed[KMEM_FAIL_PAGES], __ATOMIC_ACQUIRE)) &&
           kmem_fail_decide(KMEM_FAIL_PAGES, NULL, gfp);
}

#endif /* KMEM_CORE_FAULT_H */
