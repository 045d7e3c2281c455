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
