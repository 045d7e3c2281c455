/* SPDX-License-Identifier: MIT */
/*
 * malloc_under_test.h - how the tests of tests/malloc reach the malloc they
 * test.
 *
 * MT(malloc)(n) calls kmem_malloc when KMEM_TEST_PREFIXED is defined (the
 * sanitizer builds, linked with kmem_malloc_objects: the sanitizer runtime
 * owns the plain names), and plain malloc otherwise (linked with
 * libkmem-malloc.so, or, to develop the tests, with nothing: glibc's).
 *
 * mt_init() finds out whether the malloc in effect is kmem's and prints it;
 * mt_is_kmem then gates the checks of kmem's own choices (where glibc 2.36
 * differs). With KMEM_TEST_EXPECT_KMEM defined (as tests/malloc/CMakeLists.txt
 * does) a malloc that is not kmem's is an error: mt_init() returns false.
 */
#ifndef KMEM_TEST_MALLOC_UNDER_TEST_H
#define KMEM_TEST_MALLOC_UNDER_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <kmem/malloc.h>

#ifdef KMEM_TEST_PREFIXED
#define MT(name) kmem_##name
#else
#define MT(name) name
#endif

/* MT_SANITIZER: 1 when compiled with AddressSanitizer or ThreadSanitizer. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define MT_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define MT_SANITIZER 1
#endif
#endif
#ifndef MT_SANITIZER
#define MT_SANITIZER 0
#endif

typedef int (*mt_info_fn)(struct kmem_malloc_info *);

static bool mt_is_kmem;
static mt_info_fn mt_info_ptr;

/* kmem_malloc_info of the malloc under test; -1 when it is not kmem's. */
static inline int mt_info(struct kmem_malloc_info *info)
{
    return mt_info_ptr ? mt_info_ptr(info) : -1;
}

static inline bool mt_init(void)
{
#ifdef KMEM_TEST_PREFIXED
    mt_info_ptr = kmem_malloc_info;
    void *p = kmem_malloc(1);
    kmem_free(p);
    struct kmem_malloc_info info;
    int rc = kmem_malloc_info(&info);
    mt_is_kmem = true;
    if (p == NULL || rc != 0) {
        fprintf(stderr,
                "malloc under test: kmem_ names, but kmem_malloc(1) = %p and "
                "kmem_malloc_info = %d after it (expected non-NULL and 0)\n",
                p, rc);
        return false;
    }
    fprintf(stderr, "malloc under test: kmem (kmem_ names)\n");
    return true;
#else
    void *sym = dlsym(RTLD_DEFAULT, "kmem_malloc_info");
    void *p = malloc(1);
    free(p);
    int rc = -2;
    if (sym != NULL) {
        mt_info_fn fn = (mt_info_fn)sym; /* POSIX: dlsym's result converts */
        struct kmem_malloc_info info;
        rc = fn(&info);
        if (rc == 0) {
            mt_info_ptr = fn;
            mt_is_kmem = true;
        }
    }
    if (mt_is_kmem) {
        fprintf(stderr, "malloc under test: kmem (plain names, libkmem-malloc.so)\n");
        return true;
    }
#ifdef KMEM_TEST_EXPECT_KMEM
    const bool expected = true;
#else
    const bool expected = false;
#endif
    fprintf(stderr,
            "malloc under test: %s: kmem_malloc_info is %s%s; kmem's own choices not checked\n",
            expected ? "NOT kmem's (error: expected libkmem-malloc.so)" : "not kmem's",
            sym ? "there but returned " : "not found", sym ? (rc == -1 ? "-1" : "nonzero") : "");
    return !expected;
#endif
}

#endif /* KMEM_TEST_MALLOC_UNDER_TEST_H */
