/* SPDX-License-Identifier: MIT */
/*
 * test_kmalloc_death.c - misuse of kfree and ksize is reported, then panics.
 *
 * Every bad call runs in a forked child (EXPECT_DEATH) and must die by
 * SIGABRT with one "kmem: <error>: ..." line on stderr naming the function and
 * the address handed in:
 *   - kfree of a stack address and of a malloc() address: "invalid free",
 *     "outside managed memory";
 *   - kfree of a pointer inside a kmalloc object: "not the start of an object";
 *   - kfree of an address inside a large kmalloc block: "inside a large
 *     kmalloc block";
 *   - kfree of a page from alloc_pages: "no slab and no kmalloc block";
 *   - a double kfree of a slab object: "double free";
 *   - ksize of a pointer kmalloc did not hand out;
 *   - kfree of an object of one of kmem's internal caches (a cache
 *     descriptor, a magazine): "internal cache";
 *   - kmalloc and kfree before kmem_init (never up, and after kmem_exit):
 *     "not initialized".
 *
 * The machine's memory is a MAP_SHARED mapping, so what a child writes into
 * it (a slab header's free bitmap, say) the parent sees too: a child that
 * frees something before it dies runs on a machine of its own, which the
 * parent takes down without looking at it again.
 */
#include "harness.h"

#include <stdarg.h>
#include <stdbool.h>

#include <kmem.h>

#include "core/pcp.h"
#include "core/slab.h"

enum { MSG = 256 };

/* Expect fn to die by SIGABRT with every one of the NULL-terminated texts on
 * its stderr (one child per text). */
static void expect_death_all(int line, void (*fn)(void), ...)
{
    va_list ap;
    va_start(ap, fn);
    for (const char *text; (text = va_arg(ap, const char *)) != NULL;)
        harness_expect_death(__FILE__, line, fn, SIGABRT, text);
    va_end(ap);
}
#define DEATH(fn, ...) expect_death_all(__LINE__, fn, __VA_ARGS__, (const char *)NULL)

static char *fmt(char *buf, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(char *buf, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, MSG, f, ap);
    va_end(ap);
    return buf;
}

/* State shared with the children. */
static void *g_ptr;
static void *g_other;

static void do_kfree(void)
{
    kfree(g_ptr);
}
static void do_ksize(void)
{
    volatile size_t n = ksize(g_ptr);
    (void)n;
}
static void do_kvfree(void)
{
    kvfree(g_ptr);
}
static void do_double_kfree(void)
{
    kfree(g_ptr);
    kfree(g_ptr);
}
static void do_krealloc(void)
{
    volatile void *q = krealloc(g_ptr, 100000, GFP_KERNEL);
    (void)q;
}

/* ---- foreign addresses ----------------------------------------------------------- */

TEST(death_kfree_foreign)
{
    char a[MSG], b[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    char on_stack[64];
    memset(on_stack, 0, sizeof on_stack);
    g_ptr = on_stack;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr), "outside managed memory");
    DEATH(do_kvfree, "kmem: invalid free: ", "outside managed memory");

    void *heap = malloc(64);
    REQUIRE(heap != NULL);
    g_ptr = heap;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(b, "kfree(%p)", g_ptr), "outside managed memory");
    free(heap);

    /* Just outside the direct map, on either side. */
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    char *first = phys_to_virt(0);
    g_ptr = first - 64;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr), "outside managed memory");
    g_ptr = first + (zi.end_pfn << PAGE_SHIFT);
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr), "outside managed memory");
    /* A small non-NULL address above ZERO_SIZE_PTR. */
    g_ptr = (void *)4096;
    DEATH(do_kfree, "kmem: invalid free: ", "outside managed memory");
    kmem_exit();
}

TEST(death_ksize_foreign)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    char on_stack[64];
    memset(on_stack, 0, sizeof on_stack);
    g_ptr = on_stack;
    DEATH(do_ksize, "kmem: invalid free: ", fmt(a, "ksize(%p)", g_ptr), "outside managed memory");
    void *heap = malloc(64);
    REQUIRE(heap != NULL);
    g_ptr = heap;
    DEATH(do_ksize, fmt(a, "ksize(%p)", g_ptr), "outside managed memory");
    free(heap);

    /* A page of alloc_pages: not kmalloc's. */
    struct page *page = alloc_page(GFP_KERNEL);
    REQUIRE(page != NULL);
    g_ptr = page_address(page);
    DEATH(do_ksize, fmt(a, "ksize(%p)", g_ptr), "no slab and no kmalloc block");
    /* krealloc needs ksize: the same report for a foreign pointer. */
    g_ptr = on_stack;
    DEATH(do_krealloc, "kmem: invalid free: ", "outside managed memory");
    __free_page(page);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- addresses inside what kmalloc handed out --------------------------------------- */

TEST(death_kfree_inside_object)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    char *p = kmalloc(64, GFP_KERNEL);
    REQUIRE(p != NULL);
    REQUIRE(ksize(p) == 64);
    g_ptr = p + 1;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "%p", g_ptr), "not the start of an object");
    g_ptr = p + 32;
    DEATH(do_kfree, "kmem: invalid free: ", "not the start of an object");
    g_ptr = p + 63;
    DEATH(do_kfree, "not the start of an object");

    /* The same in an off-slab class and in kmalloc-96 (not a power of two). */
    char *k = kmalloc(1000, GFP_KERNEL);
    REQUIRE(k != NULL);
    g_ptr = k + 512;
    DEATH(do_kfree, "kmem: invalid free: ", "not the start of an object");
    char *n = kmalloc(90, GFP_KERNEL);
    REQUIRE(n != NULL);
    REQUIRE(ksize(n) == 96);
    g_ptr = n + 64;
    DEATH(do_kfree, "kmem: invalid free: ", "not the start of an object");

    /* The parent's objects are untouched by the children's attempts. */
    kfree(p);
    kfree(k);
    kfree(n);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(death_kfree_inside_large)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    char *p = kmalloc(5 * PAGE_SIZE, GFP_KERNEL); /* an order-3 block */
    REQUIRE(p != NULL);
    REQUIRE(ksize(p) == 8 * PAGE_SIZE);
    g_ptr = p + PAGE_SIZE;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr),
          "inside a large kmalloc block");
    g_ptr = p + 7 * PAGE_SIZE + 8;
    DEATH(do_kfree, "kmem: invalid free: ", "inside a large kmalloc block");
    g_ptr = p + 100;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr),
          "inside a large kmalloc block");
    DEATH(do_ksize, fmt(a, "ksize(%p)", g_ptr), "inside a large kmalloc block");
    kfree(p);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(death_kfree_alloc_pages)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    struct page *page = alloc_page(GFP_KERNEL);
    REQUIRE(page != NULL);
    g_ptr = page_address(page);
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr),
          "no slab and no kmalloc block");
    struct page *big = alloc_pages(GFP_KERNEL, 4);
    REQUIRE(big != NULL);
    g_ptr = page_address(big);
    DEATH(do_kfree, "kmem: invalid free: ", "no slab and no kmalloc block");
    g_ptr = (char *)page_address(big) + 2 * PAGE_SIZE;
    DEATH(do_kfree, "kmem: invalid free: ", "no slab and no kmalloc block");
    /* A free page (never handed out) is no kmalloc block either. */
    __free_pages(big, 4);
    drain_all_pages();
    DEATH(do_kfree, "kmem: invalid free: ", "no slab and no kmalloc block");
    __free_page(page);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- double free (the child writes into the shared memory: own machines) ------------- */

TEST(death_double_kfree_slab)
{
    char a[MSG];
    static const size_t sizes[] = {8, 64, 96, 192, 1000, 8192};
    for (unsigned int i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        REQUIRE(kmem_init(NULL) == 0);
        /* A neighbour keeps the slab alive after the first free. */
        g_other = kmalloc(sizes[i], GFP_KERNEL);
        g_ptr = kmalloc(sizes[i], GFP_KERNEL);
        REQUIRE(g_ptr && g_other);
        DEATH(do_double_kfree, "kmem: double free: ", fmt(a, "%p", g_ptr));
        kmem_exit();
    }

    /* Freed in the parent, freed again in the child. */
    REQUIRE(kmem_init(NULL) == 0);
    g_other = kmalloc(64, GFP_KERNEL);
    g_ptr = kmalloc(64, GFP_KERNEL);
    REQUIRE(g_ptr && g_other);
    kfree(g_ptr);
    DEATH(do_kfree, "kmem: double free: ", fmt(a, "%p", g_ptr));
    kmem_exit();
}

TEST(death_double_kfree_large)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    g_ptr = kmalloc(3 * PAGE_SIZE, GFP_KERNEL);
    REQUIRE(g_ptr != NULL);
    /* The block is no kmalloc block any more: reported, naming kfree and p. */
    DEATH(do_double_kfree, "kmem: ", fmt(a, "kfree(%p)", g_ptr));
    kmem_exit();
}

/* ---- kmem's own objects ------------------------------------------------------------ */

TEST(death_kfree_internal_object)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    /* A cache descriptor is an object of the internal cache "kmem_cache". */
    struct kmem_cache *c = kmem_cache_create("victim", 64, 0, 0, NULL);
    REQUIRE(c != NULL);
    g_ptr = c;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr),
          "internal cache kmem_cache");
    DEATH(do_ksize, "kmem: invalid free: ", "internal cache kmem_cache");
    /* A magazine (white-box: this CPU's loaded one, which now holds obj). */
    void *obj = kmem_cache_alloc(c, GFP_KERNEL);
    REQUIRE(obj != NULL);
    kmem_cache_free(c, obj);
    struct kmem_cpu_cache *cc = (void *)((char *)kmem_this_cpu() + c->c_cpu_off);
    REQUIRE(cc->cc_loaded != KMEM_EMPTY_MAGAZINE && *cc->cc_top == obj);
    g_ptr = cc->cc_loaded;
    DEATH(do_kfree, "kmem: invalid free: ", fmt(a, "kfree(%p)", g_ptr),
          "internal cache kmem_magazine_125");
    kmem_cache_destroy(c);
    kmem_exit();
}

/* ---- before kmem_init -------------------------------------------------------------- */

static void do_kmalloc(void)
{
    volatile void *p = kmalloc(32, GFP_KERNEL);
    (void)p;
}
static void do_kmalloc_large(void)
{
    volatile void *p = kmalloc(100000, GFP_KERNEL);
    (void)p;
}

TEST(death_before_init)
{
    /* Never initialized in this process yet (the first test to run). */
    DEATH(do_kmalloc, "kmem: not initialized: ", "kmalloc(32, gfp ", "before kmem_init");
    DEATH(do_kmalloc_large, "kmem: not initialized: ", "kmalloc(100000, gfp ");
    g_ptr = (void *)0x12345678;
    DEATH(do_kfree, "kmem: not initialized: ", "kfree(0x12345678)");
    kfree(NULL); /* fine at any time */
    kfree(ZERO_SIZE_PTR);
    /* After a machine came and went: the slots are back on the sentinel. */
    REQUIRE(kmem_init(NULL) == 0);
    void *p = kmalloc(32, GFP_KERNEL);
    REQUIRE(p != NULL);
    kfree(p);
    p = kmalloc(32, GFP_KERNEL); /* now in this CPU's magazine */
    kmem_exit();
    DEATH(do_kmalloc, "kmem: not initialized: ", "kmalloc(32, gfp ");
    g_ptr = p;
    DEATH(do_kfree, "kmem: not initialized: ", "kfree(");
}

/* Each test brings its machine up; take it down even after a failed REQUIRE. */
#define RUN_CLEAN(t)                                                                               \
    do {                                                                                           \
        RUN(t);                                                                                    \
        if (kmem_is_up())                                                                          \
            kmem_exit();                                                                           \
    } while (0)

int main(void)
{
    RUN_CLEAN(death_before_init);
    RUN_CLEAN(death_kfree_foreign);
    RUN_CLEAN(death_ksize_foreign);
    RUN_CLEAN(death_kfree_inside_object);
    RUN_CLEAN(death_kfree_inside_large);
    RUN_CLEAN(death_kfree_alloc_pages);
    RUN_CLEAN(death_double_kfree_slab);
    RUN_CLEAN(death_double_kfree_large);
    RUN_CLEAN(death_kfree_internal_object);
    return harness_report();
}
