/* SPDX-License-Identifier: MIT */
/*
 * kmem/fault.h - failure injection, as Linux's failslab and fail_page_alloc:
 * make allocations fail on purpose, to test that their callers cope.
 *
 * A target (pages: alloc_pages and everything built on it; slab:
 * kmem_cache_alloc and kmalloc's caches, optionally one cache by name) fails
 * a call when, counting the calls it sees, the count is a multiple of
 * `interval` (1: every call), and then with `probability` percent, at most
 * `times` times (-1: no limit). So interval N, probability 100, times 1
 * fails exactly the N-th call. __GFP_NOFAIL requests never fail. The
 * object caches' and the page allocator's fast paths stay as they are; while
 * a target is armed, every call of it takes the slow path, where the
 * decision is made. The malloc's entry points are not covered (they take no
 * GFP flags).
 *
 * From the environment (read by kmem_init): KMEM_FAIL_PAGE_ALLOC and
 * KMEM_FAILSLAB = "interval,probability,times[,cache]".
 */
#ifndef KMEM_FAULT_H
#define KMEM_FAULT_H

#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kmem_fail_target { KMEM_FAIL_PAGES, KMEM_FAIL_SLAB, KMEM_FAIL_NR_TARGETS };

struct kmem_fail_config {
    unsigned long interval;   /* fail only calls whose count is a multiple (0 counts as 1) */
    unsigned int probability; /* then with this many percent (0 .. 100) */
    long times;               /* at most this many failures; -1: no limit */
    const char *cache;        /* KMEM_FAIL_SLAB: only the cache of this name (NULL: all) */
    unsigned long seed;       /* for the probability (0: a fixed default) */
};

/* Arm target with *cfg (copied; the counters start at 0), or disarm it
 * (NULL). 0, or -EINVAL (22) for a bad target or probability. */
KMEM_API int kmem_fail_set(enum kmem_fail_target target, const struct kmem_fail_config *cfg);

/* Failures injected into target since it was last armed. */
KMEM_API unsigned long kmem_fail_injected(enum kmem_fail_target target);

/* Parse "interval,probability,times[,cache]" into *cfg (cache points into
 * the text). 0, or -EINVAL (22). */
KMEM_API int kmem_fail_parse(const char *text, struct kmem_fail_config *cfg);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_FAULT_H */
