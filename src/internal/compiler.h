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

/* AddressSanitizer awareness: in an ASan build the objects a cache holds free
 * (in slabs and magazines) are poisoned, so a use after free of an object
 * kmem keeps gets ASan's report, and unpoisoned when they are handed out.
 * Elsewhere these cost nothing. */
#if defined(__SANITIZE_ADDRESS__)
#define KMEM_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_ASAN_BUILD 1
#endif
#endif
#ifdef KMEM_ASAN_BUILD
void __asan_poison_memory_region(void const volatile *addr, __SIZE_TYPE__ size);
void __asan_unpoison_memory_region(void const volatile *addr, __SIZE_TYPE__ size);
#define kmem_asan_poison(p, n)   __asan_poison_memory_region((p), (n))
#define kmem_asan_unpoison(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define kmem_asan_poison(p, n)   ((void)(p), (void)(n))
#define kmem_asan_unpoison(p, n) ((void)(p), (void)(n))
#endif

#endif /* KMEM_COMPILER_H */
