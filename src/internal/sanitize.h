/* SPDX-License-Identifier: MIT */
/*
 * sanitize.h - telling AddressSanitizer and valgrind's memcheck what kmem's
 * memory is, so that their reports cover objects kmem keeps cached.
 *
 * The object caches call six hooks:
 *   kmem_san_pool_create(c), kmem_san_pool_destroy(c)   a cache begins, ends
 *   kmem_san_obj_alloc(c, obj, size, constructed)       obj handed to a user
 *   kmem_san_obj_free(c, obj, size)                     the user gave it back
 *   kmem_san_noaccess(p, n)   memory kmem holds for itself (free objects)
 *   kmem_san_access(p, n)     memory kmem uses itself (its descriptors,
 *                             magazines, a slab before its destructor runs)
 * Under ASan (a -fsanitize=address build) alloc and access unpoison, free
 * and noaccess poison. Under memcheck (-DKMEM_VALGRIND=ON: client requests
 * from <valgrind/memcheck.h>) every cache is a mempool: alloc and free are
 * MEMPOOL_ALLOC and MEMPOOL_FREE (a constructed object is then marked
 * defined: its state survives from the last free, as Bonwick's caches
 * promise), noaccess and access mark memory unaddressable and defined. In
 * other builds, the release ones and the freestanding core, they compile
 * to nothing: the fast paths keep their instruction counts.
 */
#ifndef KMEM_SANITIZE_H
#define KMEM_SANITIZE_H

#if defined(__SANITIZE_ADDRESS__)
#define KMEM_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_ASAN_BUILD 1
#endif
#endif

#if defined(KMEM_ASAN_BUILD)
void __asan_poison_memory_region(void const volatile *addr, __SIZE_TYPE__ size);
void __asan_unpoison_memory_region(void const volatile *addr, __SIZE_TYPE__ size);
#define KMEM_SAN_ACTIVE          1
#define kmem_san_pool_create(c)  ((void)(c))
#define kmem_san_pool_destroy(c) ((void)(c))
#define kmem_san_obj_alloc(c, obj, n, ctor)                                                        \
    ((void)(c), (void)(ctor), __asan_unpoison_memory_region((obj), (n)))
#define kmem_san_obj_free(c, obj, n) ((void)(c), __asan_poison_memory_region((obj), (n)))
#define kmem_san_noaccess(p, n)      __asan_poison_memory_region((p), (n))
#define kmem_san_access(p, n)        __asan_unpoison_memory_region((p), (n))
#elif defined(KMEM_VALGRIND_BUILD) && __STDC_HOSTED__ /* not in the freestanding core */
#include <valgrind/memcheck.h>
#define KMEM_SAN_ACTIVE 1
#define kmem_san_pool_create(c)                                                                    \
    do {                                                                                           \
        if (VALGRIND_MEMPOOL_EXISTS(c))                                                            \
            VALGRIND_DESTROY_MEMPOOL(c);                                                           \
        VALGRIND_CREATE_MEMPOOL((c), 0, 0);                                                        \
    } while (0)
#define kmem_san_pool_destroy(c) VALGRIND_DESTROY_MEMPOOL(c)
#define kmem_san_obj_alloc(c, obj, n, ctor)                                                        \
    do {                                                                                           \
        VALGRIND_MEMPOOL_ALLOC((c), (obj), (n));                                                   \
        if (ctor)                                                                                  \
            VALGRIND_MAKE_MEM_DEFINED((obj), (n));                                                 \
    } while (0)
#define kmem_san_obj_free(c, obj, n)                                                               \
    do {                                                                                           \
        (void)(n);                                                                                 \
        VALGRIND_MEMPOOL_FREE((c), (obj));                                                         \
    } while (0)
#define kmem_san_noaccess(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define kmem_san_access(p, n)   ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define KMEM_SAN_ACTIVE                     0
#define kmem_san_pool_create(c)             ((void)(c))
#define kmem_san_pool_destroy(c)            ((void)(c))
#define kmem_san_obj_alloc(c, obj, n, ctor) ((void)(c), (void)(obj), (void)(n), (void)(ctor))
#define kmem_san_obj_free(c, obj, n)        ((void)(c), (void)(obj), (void)(n))
#define kmem_san_noaccess(p, n)             ((void)(p), (void)(n))
#define kmem_san_access(p, n)               ((void)(p), (void)(n))
#endif

#endif /* KMEM_SANITIZE_H */
