/* SPDX-License-Identifier: MIT */
/*
 * test_asan.c - in an AddressSanitizer build, the objects a cache holds free
 * (in magazines and slabs) are poisoned, so a use after free of an object
 * kmem keeps gets ASan's own report, and what kmem hands out is not.
 *
 *   uaf_cache_read     read an object after kmem_cache_free: ASan reports
 *   uaf_kmalloc_write  write a kmalloc block after kfree: ASan reports
 *   reuse_is_clean     the object handed out again, a constructed object, a
 *                      zeroed one and the pages of destroyed slabs are all
 *                      usable without a report
 *
 * In other builds the poisoning compiles to nothing and the test says so.
 */
#include "harness.h"

#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>

#include <kmem.h>

#include "internal/compiler.h"
#include "internal/sanitize.h"

#ifdef KMEM_ASAN_BUILD
/* fn must stop with ASan's report naming what (ASan exits with status 1,
 * or aborts when ASAN_OPTIONS says abort_on_error=1). */
static void expect_asan_report(void (*fn)(void), const char *what)
{
    static char out[16384];
    int status = harness_run_child(fn, out, sizeof out);
    bool stopped = status != -1 && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0);
    if (!stopped || !strstr(out, "ERROR: AddressSanitizer") || !strstr(out, what)) {
        fprintf(stderr, "expected ASan's report of %s; got status %#x, stderr:\n%s\n", what, status,
                out);
        harness_checks_failed++;
    }
}

static void up(void)
{
    struct kmem_config cfg = {.mem_size = 64u << 20};
    if (kmem_init(&cfg) != 0)
        exit(2);
}

static volatile char sink;

static void uaf_cache_read(void)
{
    up();
    struct kmem_cache *c = kmem_cache_create("asan-objs", 96, 0, 0, NULL);
    char *obj = kmem_cache_alloc(c, GFP_KERNEL);
    obj[0] = 1;
    kmem_cache_free(c, obj);
    sink = obj[40]; /* in this CPU's magazine: poisoned */
}

static void uaf_kmalloc_write(void)
{
    up();
    char *p = kmalloc(200, GFP_KERNEL);
    kfree(p);
    p[10] = 1;
}

TEST(uaf_reported)
{
    expect_asan_report(uaf_cache_read, "use-after-poison");
    expect_asan_report(uaf_kmalloc_write, "use-after-poison");
}

static void ctor_fill(void *obj)
{
    kmem_memset(obj, 0x5a, 64);
}

TEST(reuse_is_clean)
{
    up();
    struct kmem_cache *c = kmem_cache_create("asan-reuse", 64, 0, 0, ctor_fill);
    REQUIRE(c != NULL);
    enum { N = 3000 };
    static char *objs[N];
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < N; i++) {
            REQUIRE((objs[i] = kmem_cache_alloc(c, GFP_KERNEL)) != NULL);
            if (r == 0)
                CHECK_EQ(objs[i][63], 0x5a); /* constructed, readable */
            kmem_memset(objs[i], r, 64);
        }
        for (int i = 0; i < N; i++)
            kmem_cache_free(c, objs[i]);
    }
    char *z = kmem_cache_zalloc(c, GFP_KERNEL);
    REQUIRE(z != NULL);
    CHECK_EQ(z[0], 0);
    kmem_cache_free(c, z);
    kmem_cache_destroy(c); /* its slabs go back to the page allocator */
    unsigned long n = 0;
    struct page *pages[256];
    while (n < 256 && (pages[n] = alloc_pages(GFP_KERNEL, 0)) != NULL) {
        kmem_memset(page_address(pages[n]), 1, PAGE_SIZE); /* no report */
        n++;
    }
    CHECK_EQ(n, 256);
    for (unsigned long i = 0; i < n; i++)
        __free_pages(pages[i], 0);
    for (size_t size = 8; size <= 8192; size *= 2) {
        char *p = kmalloc(size, GFP_KERNEL);
        REQUIRE(p != NULL);
        kmem_memset(p, 7, ksize(p)); /* all of ksize is unpoisoned */
        kfree(p);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}
#endif

int main(void)
{
#ifdef KMEM_ASAN_BUILD
    RUN(uaf_reported);
    RUN(reuse_is_clean);
#else
    printf("test_asan: not an AddressSanitizer build, nothing to check\n");
#endif
    return harness_report();
}
