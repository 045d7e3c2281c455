/* SPDX-License-Identifier: MIT */
/*
 * fault.c - failure injection (Linux's fault_attr, failslab,
 * fail_page_alloc), see kmem/fault.h for the interface.
 *
 * A target counts the calls that reach its decision and fails one when the
 * count is a multiple of the interval, then with the probability (a
 * xorshift generator), while failures are left. The fast paths of the
 * object caches (CACHE_ALLOC, kmalloc) and of the page allocator test the
 * request's GFP flags against a mask that sends some requests to the slow
 * path (kmem_slab_slow_gfp, kmem_page_slow_gfp: __GFP_ZERO, __GFP_DMA);
 * arming a target sets its mask to every bit, so that every request with
 * flags goes to the slow path, where kmem_fail_slab / kmem_fail_pages
 * decide. The fast paths cost the same: the mask is a memory operand of the
 * test they make anyway.
 *
 * Invariants: F1. a target's mask is all ones exactly while it is armed;
 * F2. injected never exceeds times (when times >= 0).
 *
 * Lock order: none; the counters are atomic. Arm and disarm while no other
 * thread allocates (the fast paths read the masks plainly, as they read a
 * constant), as kmem_init does from the environment.
 */
#include <kmem/fault.h>
#include <kmem/gfp.h>

#include "../internal/compiler.h"
#include "fault.h"

gfp_t kmem_slab_slow_gfp = KMEM_SLAB_SLOW_GFP;
gfp_t kmem_page_slow_gfp = KMEM_PAGE_SLOW_GFP;
int kmem_fail_armed[KMEM_FAIL_NR_TARGETS];

enum { ERR_INVAL = 22, CACHE_NAME_LEN = 32 };

/* The default seed of the probability's generator: the golden ratio's bits
 * in an unsigned long of either width. */
#if __SIZEOF_LONG__ == 8
#define FAIL_RNG_SEED 0x9e3779b97f4a7c15UL
#else
#define FAIL_RNG_SEED 0x9e3779b9UL
#endif

static struct fail_target {
    unsigned long interval;
    unsigned int probability;
    long times;
    char cache[CACHE_NAME_LEN];
    unsigned long calls;
    unsigned long injected;
    unsigned long rng;
} targets[KMEM_FAIL_NR_TARGETS];

static gfp_t *mask_of(enum kmem_fail_target t)
{
    return t == KMEM_FAIL_PAGES ? &kmem_page_slow_gfp : &kmem_slab_slow_gfp;
}

int kmem_fail_set(enum kmem_fail_target t, const struct kmem_fail_config *cfg)
{
    if ((unsigned int)t >= KMEM_FAIL_NR_TARGETS || (cfg && cfg->probability > 100))
        return -ERR_INVAL;
    struct fail_target *f = &targets[t];
    __atomic_store_n(&kmem_fail_armed[t], 0, __ATOMIC_RELEASE);
    *mask_of(t) = t == KMEM_FAIL_PAGES ? KMEM_PAGE_SLOW_GFP : KMEM_SLAB_SLOW_GFP;
    if (!cfg)
        return 0;
    f->interval = cfg->interval ? cfg->interval : 1;
    f->probability = cfg->probability;
    f->times = cfg->times;
    f->cache[0] = '\0';
    if (cfg->cache) {
        unsigned int i = 0;
        for (; cfg->cache[i] && i < CACHE_NAME_LEN - 1; i++)
            f->cache[i] = cfg->cache[i];
        f->cache[i] = '\0';
    }
    __atomic_store_n(&f->calls, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&f->injected, 0, __ATOMIC_RELAXED);
    f->rng = cfg->seed ? cfg->seed : FAIL_RNG_SEED;
    *mask_of(t) = ~(gfp_t)0;
    __atomic_store_n(&kmem_fail_armed[t], 1, __ATOMIC_RELEASE);
    return 0;
}

unsigned long kmem_fail_injected(enum kmem_fail_target t)
{
    return (unsigned int)t < KMEM_FAIL_NR_TARGETS
               ? __atomic_load_n(&targets[t].injected, __ATOMIC_RELAXED)
               : 0;
}

static bool names_equal(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

KMEM_NOINLINE bool kmem_fail_decide(enum kmem_fail_target t, const char *cache, gfp_t gfp)
{
    struct fail_target *f = &targets[t];
    if (gfp & __GFP_NOFAIL)
        return false;
    if (f->cache[0] && (!cache || !names_equal(f->cache, cache)))
        return false;
    unsigned long n = __atomic_add_fetch(&f->calls, 1, __ATOMIC_RELAXED);
    if (n % f->interval)
        return false;
    if (f->probability < 100) {
        /* xorshift64 (xorshift32 where a long is 32 bits): races between
         * threads only perturb the sequence. */
        unsigned long x = __atomic_load_n(&f->rng, __ATOMIC_RELAXED);
#if __SIZEOF_LONG__ == 8
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
#else
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
#endif
        __atomic_store_n(&f->rng, x, __ATOMIC_RELAXED);
        if (x % 100 >= f->probability)
            return false;
    }
    if (f->times >= 0) {
        unsigned long done = __atomic_load_n(&f->injected, __ATOMIC_RELAXED);
        do {
            if (done >= (unsigned long)f->times)
                return false;
        } while (!__atomic_compare_exchange_n(&f->injected, &done, done + 1, false,
                                              __ATOMIC_RELAXED, __ATOMIC_RELAXED));
        return true;
    }
    __atomic_add_fetch(&f->injected, 1, __ATOMIC_RELAXED);
    return true;
}

/* "interval,probability,times[,cache]" */
static const char *parse_number(const char *s, long *out)
{
    bool neg = *s == '-';
    s += neg;
    if (*s < '0' || *s > '9')
        return NULL;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > (__LONG_MAX__ - 9) / 10)
            return NULL; /* too large: refused, not wrapped */
        v = v * 10 + (*s++ - '0');
    }
    *out = neg ? -v : v;
    return s;
}

int kmem_fail_parse(const char *text, struct kmem_fail_config *cfg)
{
    long v[3];
    const char *s = text;
    for (int i = 0; i < 3; i++) {
        if (!s || !(s = parse_number(s, &v[i])))
            return -ERR_INVAL;
        if (i < 2 && *s++ != ',')
            return -ERR_INVAL;
    }
    if (v[0] < 0 || v[1] < 0 || v[1] > 100 || v[2] < -1)
        return -ERR_INVAL;
    kmem_memset(cfg, 0, sizeof *cfg);
    cfg->interval = (unsigned long)v[0];
    cfg->probability = (unsigned int)v[1];
    cfg->times = v[2];
    if (*s == ',' && s[1])
        cfg->cache = s + 1;
    else if (*s)
        return -ERR_INVAL;
    return 0;
}
