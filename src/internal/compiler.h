/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - the few compiler features the core leans on, named once.
 */
#ifndef KMEM_COMPILER_H
#define KMEM_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)          __builtin_expect(!!(x), 1)
#define unlikely(x)        __builtin_expect(!!(x), 0)
#define KMEM_NOINLINE      __attribute__((noinline))
#define KMEM_COLD          __attribute__((cold, noinline))
#define KMEM_ALWAYS_INLINE inline __attribute__((always_inline))
#define KMEM_CACHELINE     64
#define KMEM_CACHE_ALIGNED __attribute__((aligned(KMEM_CACHELINE)))
/* Internal data of the core: direct (not GOT) access from inside the library. */
#define KMEM_HIDDEN                   __attribute__((visibility("hidden")))
#define KMEM_UNUSED                   __attribute__((unused))
#define KMEM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define KMEM_RET_ADDR()               __builtin_return_address(0)

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define KMEM_ARRAY_SIZE(a)              (sizeof(a) / sizeof((a)[0]))

/* The core's only use of the C library's memory functions, named so that a
 * grep shows every one (the platform contract promises these four). */
#define kmem_memset(d, c, n) __builtin_memset((d), (c), (n))
#define kmem_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))

/* Bits set in x, without the libgcc helper __builtin_popcountl may call (a
 * freestanding host promises only memset, memcpy, memmove and memcmp). */
static inline unsigned int kmem_popcount(unsigned long x)
{
    unsigned int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* n / d, and n % d in *rem: a 64-bit value divided by a 32-bit one. With
 * 64-bit words it is the compiler's own division. On a 32-bit machine the
 * compiler would call libgcc's __udivdi3/__umoddi3, which a freestanding
 * kernel need not link; there it is long division in 32-bit steps (32
 * iterations; used only off the fast paths: cache setup, printing, random
 * free-list order). */
static inline uint64_t kmem_div64(uint64_t n, uint32_t d, uint32_t *rem)
{
#if UINTPTR_MAX > 0xffffffffu
    *rem = (uint32_t)(n % d);
    return n / d;
#else
    uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
    uint32_t qhi = hi / d, r = hi % d, qlo = 0;
    for (int i = 31; i >= 0; i--) {
        /* r < d before the shift, so 2r + bit < 2d: when the top bit falls
         * out, the true value exceeds d and the wrapped difference is right. */
        uint32_t carry = r >> 31;
        r = (r << 1) | ((lo >> i) & 1u);
        qlo <<= 1;
        if (carry || r >= d) {
            r -= d;
            qlo |= 1u;
        }
    }
    *rem = r;
    return ((uint64_t)qhi << 32) | qlo;
#endif
}

static inline void kmem_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

#endif /* KMEM_COMPILER_H */
