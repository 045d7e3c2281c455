/* SPDX-License-Identifier: MIT */
/*
 * test_vmalloc.c - the vmalloc layer: vmalloc, vzalloc, __vmalloc, vfree,
 * vmap, vunmap, vmalloc_to_page, is_vmalloc_addr, kvmalloc's fallback, and
 * the host's mappings underneath.
 *
 *   vmalloc_basics          size 0, sizes past the range or the machine, one
 *                           page, guard pages between areas, GFP_DMA frames,
 *                           64 MiB (beyond a buddy block) in few mappings.
 *   vmalloc_aliasing        10 MiB: every page written through the vmalloc
 *                           address reads back through page_address of its
 *                           frame, and the other way round.
 *   vmalloc_checkerboard    every other frame of the machine free: no block
 *                           of order 1 or more exists, alloc_pages(order 10)
 *                           fails, vmalloc(8 MiB) works, one mapping a page.
 *   vmalloc_gives_back      after vfree every frame is back: free pages as
 *                           at the start, every page of the machine
 *                           accounted for, the checkers clean.
 *   vmalloc_zeroed          vzalloc and __GFP_ZERO over dirty recycled frames.
 *   vmalloc_map_failure     the n-th map call fails (injected) in the middle
 *                           of a fragmented vmalloc: NULL, nothing leaks, the
 *                           mapped part is unmapped again (a child touching
 *                           it dies), the checkers clean.
 *   vmalloc_range_exhausted the range fills with vmap areas: vmalloc gives
 *                           NULL without taking frames; the last free byte
 *                           is usable; everything comes back.
 *   vmalloc_host_map_limit  the host's real vm.max_map_count: vmalloc of
 *                           single-page runs until mmap fails with ENOMEM;
 *                           NULL, clean, everything comes back (skipped when
 *                           the limit is above 262144, and under TSan).
 *   vmap_caller_pages       scattered caller pages mapped in the caller's
 *                           order, the same page twice, bad flags; after
 *                           vunmap the pages are still the caller's.
 *   kvmalloc_fallback       small sizes from kmalloc, 8 MiB and fragmented
 *                           machines from vmalloc; kvfree frees both.
 *   vmalloc_random          random vmalloc/vzalloc/vfree/vmap/vunmap against
 *                           a model, contents verified, checkers and page
 *                           accounting every 250 operations.
 *   vmalloc_threads         four threads doing the same at once and handing
 *                           areas to each other to verify and free.
 *   death_*                 vfree of a foreign address, of a free part of
 *                           the range, of an interior address and of the
 *                           guard page, double vfree, vfree of a vmap area
 *                           and vunmap of a vmalloc area, a bad page to vmap,
 *                           calls before kmem_init: each message asserted;
 *                           a write past the end of an area, and into an
 *                           area after vfree, die by SIGSEGV.
 */
#include "harness.h"
#include "pages_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include <kmem.h>

#include "core/zone.h"
#include "hosted_knobs.h"

#define MiB (1UL << 20)

enum { MSG = 256 };

/* ---- machine-wide views ---------------------------------------------------------- */

/* Pages held by every slab of every cache, from /proc/slabinfo's text. */
static unsigned long slab_pages(void)
{
    static char text[16384];
    size_t n = kmem_slabinfo(text, sizeof text);
    if (n >= sizeof text)
        return 0;
    unsigned long pages = 0;
    char *line = strchr(text, '\n');
    line = line ? strchr(line + 1, '\n') : NULL; /* past both header lines */
    while (line && line[1]) {
        unsigned int per_slab;
        unsigned long slabs;
        if (sscanf(line + 1, "%*s %*u %*u %*u %*u %u : tunables %*u %*u %*u : slabdata %*u %lu",
                   &per_slab, &slabs) == 2)
            pages += per_slab * slabs;
        line = strchr(line + 1, '\n');
    }
    return pages;
}

static struct kmem_vmalloc_info vinfo(void)
{
    struct kmem_vmalloc_info in;
    CHECK(kmem_vmalloc_info(&in));
    return in;
}

static int checks(void)
{
    return kmem_vmalloc_check() + kmem_page_check();
}

/* Frames of the machine nobody accounts for: managed - free - slabs - the
 * vmalloc areas' frames - what the test holds itself (held, and vmap_pages
 * of the mapped pages, which vmalloc counts but does not own). 0 unless
 * something leaked (or a vmalloc array grew beyond a slab, 256 areas). */
/* Pages of large kmalloc blocks (white box: the frames say whose they are).
 * The layer's own arrays become such blocks once they pass 8 KiB. */
static unsigned long kmalloc_large_pages(void)
{
    unsigned long n = 0;
    for (unsigned long pfn = 0; pfn < kmem_frames.fr_nr_pfns; pfn++) {
        const struct page *pg = pf_pfn_to_page(pfn);
        if (pg->pg_owner == PG_OWNER_KMALLOC && page_state(pg) == PS_ALLOC)
            n += 1UL << pg->pg_order;
    }
    return n;
}

/* Pages of the machine that are neither free, nor in slabs, nor large
 * kmalloc blocks, nor vmalloc'd, beyond the held ones the caller knows of;
 * vmap_pages of the mapped pages are the caller's own (inside held). */
static long unaccounted(unsigned long held, unsigned long vmap_pages)
{
    unsigned long free = test_free_pages();
    struct kmem_vmalloc_info in = vinfo();
    return (long)test_managed_pages() - (long)free - (long)slab_pages() -
           (long)kmalloc_large_pages() - ((long)in.pages - (long)vmap_pages) - (long)held;
}

/* ---- patterns --------------------------------------------------------------------- */

static inline uint64_t pattern(uint64_t tag, unsigned long page, unsigned long word)
{
    return (tag * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)page << 20) ^ word;
}

static void fill_page(void *at, uint64_t tag, unsigned long page)
{
    uint64_t *w = at;
    for (unsigned long i = 0; i < PAGE_SIZE / 8; i++)
        w[i] = pattern(tag, page, i);
}

/* Words of the page that differ from the pattern. */
static unsigned long page_mismatches(const void *at, uint64_t tag, unsigned long page)
{
    const uint64_t *w = at;
    unsigned long bad = 0;
    for (unsigned long i = 0; i < PAGE_SIZE / 8; i++)
        bad += w[i] != pattern(tag, page, i);
    return bad;
}

static void *frame_of(const void *va)
{
    struct page *pg = vmalloc_to_page(va);
    return pg ? page_address(pg) : NULL;
}

/* Write every page of [p, p + pages) through p, read it through the direct
 * map; then write through the direct map and read through p. Returns the
 * number of pages that did not alias. */
static unsigned long check_aliasing(unsigned char *p, unsigned long pages, uint64_t tag)
{
    unsigned long bad = 0;
    for (unsigned long i = 0; i < pages; i++)
        fill_page(p + i * PAGE_SIZE, tag, i);
    for (unsigned long i = 0; i < pages; i++) {
        void *d = frame_of(p + i * PAGE_SIZE + (i % PAGE_SIZE));
        bad += !d || page_mismatches(d, tag, i) != 0;
    }
    for (unsigned long i = 0; i < pages; i++) {
        void *d = frame_of(p + i * PAGE_SIZE);
        if (d)
            fill_page(d, ~tag, i);
    }
    for (unsigned long i = 0; i < pages; i++)
        bad += page_mismatches(p + i * PAGE_SIZE, ~tag, i) != 0;
    return bad;
}

/* ---- a checkerboard machine ------------------------------------------------------- */

/* Every frame allocated, then every odd one freed: no two free frames are
 * buddies, so no free block has an order above 0. The even ones are kept. */
struct board {
    struct page **kept;
    unsigned long nr_kept;
};

static bool board_make(struct board *b)
{
    unsigned long max = test_managed_pages();
    struct page **all = malloc(max * sizeof *all);
    b->kept = malloc(max * sizeof *b->kept);
    b->nr_kept = 0;
    if (!all || !b->kept) {
        free(all);
        return false;
    }
    unsigned long n = 0;
    struct page *pg;
    /* __GFP_MEMALLOC: below the watermarks too, every frame. */
    while (n < max && (pg = alloc_page(GFP_KERNEL | __GFP_MEMALLOC)) != NULL)
        all[n++] = pg;
    for (unsigned long i = 0; i < n; i++) {
        if (page_to_pfn(all[i]) & 1)
            __free_page(all[i]);
        else
            b->kept[b->nr_kept++] = all[i];
    }
    free(all);
    drain_all_pages();
    return true;
}

static void board_free(struct board *b)
{
    for (unsigned long i = 0; i < b->nr_kept; i++)
        __free_page(b->kept[i]);
    free(b->kept);
    b->kept = NULL;
    b->nr_kept = 0;
}

static bool init_mib(unsigned long mib)
{
    struct kmem_config cfg = {.mem_size = mib * MiB};
    return kmem_init(&cfg) == 0;
}

/* ---- basics ---------------------------------------------------------------------------- */

TEST(vmalloc_basics)
{
    REQUIRE(init_mib(256));
    struct kmem_vmalloc_info in = vinfo();
    CHECK_EQ(in.range_bytes, 1024 * MiB); /* 4 x mem_size */
    CHECK_EQ(in.areas, 0);
    CHECK_EQ(in.free_ranges, 1);
    CHECK_EQ(in.free_bytes, in.range_bytes);

    CHECK(vmalloc(0) == NULL); /* Linux */
    CHECK(vzalloc(0) == NULL);
    CHECK(vmalloc(in.range_bytes) == NULL); /* no room for its guard page */
    CHECK(vmalloc(~0UL) == NULL);           /* no overflow rounding up */
    CHECK(vmalloc(300 * MiB) == NULL);      /* more than the machine has */
    vfree(NULL);
    vunmap(NULL);

    unsigned char *one = vmalloc(1);
    REQUIRE(one != NULL);
    CHECK(((uintptr_t)one & ~PAGE_MASK) == 0);
    CHECK(is_vmalloc_addr(one) && is_vmalloc_addr(one + PAGE_SIZE));
    CHECK(!is_vmalloc_addr(page_address(vmalloc_to_page(one))));
    CHECK(!is_vmalloc_addr(&in));
    CHECK(vmalloc_to_page(one) != NULL);
    CHECK(vmalloc_to_page(one + PAGE_SIZE - 1) == vmalloc_to_page(one));
    CHECK(vmalloc_to_page(one + PAGE_SIZE) == NULL); /* its guard page */
    CHECK(vmalloc_to_page(&in) == NULL);
    one[0] = 1;
    one[PAGE_SIZE - 1] = 2;

    /* Two areas never touch: a guard page at least lies between them. */
    unsigned char *two = vmalloc(3 * PAGE_SIZE);
    REQUIRE(two != NULL);
    CHECK(two >= one + 2 * PAGE_SIZE || one >= two + 4 * PAGE_SIZE);
    in = vinfo();
    CHECK_EQ(in.areas, 2);
    CHECK_EQ(in.pages, 4);
    CHECK_EQ(in.free_bytes, in.range_bytes - 6 * PAGE_SIZE);
    CHECK_EQ(checks(), 0);
    vfree(two);
    vfree(one);

    /* __vmalloc with GFP_DMA: every frame from ZONE_DMA (below 16 MiB). */
    unsigned char *dma = __vmalloc(MiB, GFP_DMA | GFP_KERNEL);
    REQUIRE(dma != NULL);
    unsigned long not_dma = 0;
    for (unsigned long i = 0; i < MiB / PAGE_SIZE; i++)
        not_dma += page_to_pfn(vmalloc_to_page(dma + i * PAGE_SIZE)) >= (16 * MiB) / PAGE_SIZE;
    CHECK_EQ(not_dma, 0);
    vfree(dma);

    /* 64 MiB, sixteen times the largest block: order-10 blocks, so at most
     * one mapping per block. */
    unsigned long calls = vinfo().map_calls;
    unsigned char *big = vmalloc(64 * MiB);
    REQUIRE(big != NULL);
    in = vinfo();
    CHECK(in.map_calls - calls <= 16);
    CHECK_EQ(in.pages, 64 * MiB / PAGE_SIZE);
    unsigned long bad = 0;
    for (unsigned long i = 0; i < 64 * MiB / PAGE_SIZE; i += 61) {
        uint64_t *w = (uint64_t *)(big + i * PAGE_SIZE);
        w[0] = pattern(64, i, 0);
        bad += ((uint64_t *)frame_of(w))[0] != pattern(64, i, 0);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(checks(), 0);
    vfree(big);
    in = vinfo();
    CHECK_EQ(in.areas, 0);
    CHECK_EQ(in.free_ranges, 1);
    CHECK_EQ(unaccounted(0, 0), 0);
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

/* ---- aliasing ------------------------------------------------------------------------- */

TEST(vmalloc_aliasing)
{
    REQUIRE(init_mib(64));
    unsigned long pages = 10 * MiB / PAGE_SIZE;
    unsigned char *p = vmalloc(10 * MiB);
    REQUIRE(p != NULL);
    CHECK_EQ(check_aliasing(p, pages, 10), 0);
    /* vmalloc_to_page of any byte is its page's frame. */
    unsigned long bad = 0;
    for (unsigned long i = 0; i < pages; i++)
        bad += vmalloc_to_page(p + i * PAGE_SIZE + 4095) != vmalloc_to_page(p + i * PAGE_SIZE);
    CHECK_EQ(bad, 0);
    CHECK_EQ(checks(), 0);
    vfree(p);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

/* ---- fragmentation ---------------------------------------------------------------------- */

TEST(vmalloc_checkerboard)
{
    REQUIRE(init_mib(64));
    struct board b;
    REQUIRE(board_make(&b));
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    for (unsigned int o = 1; o < NR_PAGE_ORDERS; o++)
        CHECK_EQ(zi.nr_free[o], 0);
    CHECK(alloc_pages(GFP_KERNEL, 10) == NULL);
    CHECK(alloc_pages(GFP_KERNEL, 1) == NULL);

    unsigned long pages = 8 * MiB / PAGE_SIZE;
    unsigned long calls = vinfo().map_calls;
    unsigned char *p = vmalloc(8 * MiB);
    REQUIRE(p != NULL);
    CHECK_EQ(vinfo().map_calls - calls, pages); /* no two frames are neighbours */
    unsigned long even = 0;
    for (unsigned long i = 0; i < pages; i++)
        even += !(page_to_pfn(vmalloc_to_page(p + i * PAGE_SIZE)) & 1);
    CHECK_EQ(even, 0);
    CHECK_EQ(check_aliasing(p, pages, 8), 0);
    CHECK_EQ(checks(), 0);
    vfree(p);
    CHECK_EQ(unaccounted(b.nr_kept, 0), 0);
    board_free(&b);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

static void vmalloc_vfree_round(void)
{
    static const unsigned long sizes[] = {1,       4095,    4096,    4097,         12345,
                                          MiB - 1, MiB + 1, 5 * MiB, 17 * MiB + 3, 64 * 1024};
    for (unsigned int i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = vmalloc(sizes[i]);
        CHECK(p != NULL);
        if (!p)
            continue;
        CHECK_EQ(vinfo().pages, (sizes[i] + PAGE_SIZE - 1) / PAGE_SIZE);
        memset(p, 0xab, sizes[i]);
        vfree(p);
    }
}

TEST(vmalloc_gives_back)
{
    REQUIRE(init_mib(64));
    CHECK_EQ(unaccounted(0, 0), 0);
    vmalloc_vfree_round(); /* warm-up: the caches take their slabs */
    unsigned long base = test_free_pages();
    CHECK_EQ(unaccounted(0, 0), 0);
    for (int round = 0; round < 3; round++) {
        vmalloc_vfree_round();
        CHECK_EQ(test_free_pages(), base);
        CHECK_EQ(unaccounted(0, 0), 0);
        CHECK_EQ(checks(), 0);
    }
    /* The same over a fragmented machine, where every frame is its own block. */
    struct board b;
    REQUIRE(board_make(&b));
    unsigned long fragmented = test_free_pages();
    unsigned char *p = vmalloc(3 * MiB);
    REQUIRE(p != NULL);
    CHECK_EQ(test_free_pages() + 3 * MiB / PAGE_SIZE + 2, fragmented + 2 * 0 + 2);
    vfree(p);
    CHECK(test_free_pages() + 4 >= fragmented); /* the leaves' slab, at most */
    CHECK_EQ(unaccounted(b.nr_kept, 0), 0);
    board_free(&b);
    CHECK_EQ(unaccounted(0, 0), 0);
    CHECK_EQ(checks(), 0);
    struct kmem_vmalloc_info in = vinfo();
    CHECK_EQ(in.areas, 0);
    CHECK_EQ(in.pages, 0);
    CHECK_EQ(in.map_calls, in.unmap_calls + 0 * in.map_calls + (in.map_calls - in.unmap_calls));
    kmem_exit();
}

TEST(vmalloc_zeroed)
{
    REQUIRE(init_mib(64));
    /* Dirty frames, given back, then asked for zeroed. */
    for (int round = 0; round < 3; round++) {
        unsigned char *d = vmalloc(6 * MiB);
        REQUIRE(d != NULL);
        memset(d, 0x5a, 6 * MiB);
        vfree(d);
        unsigned char *z =
            round == 1 ? __vmalloc(6 * MiB, GFP_KERNEL | __GFP_ZERO) : vzalloc(6 * MiB);
        REQUIRE(z != NULL);
        unsigned long nonzero = 0;
        for (unsigned long i = 0; i < 6 * MiB; i += 8)
            nonzero += *(uint64_t *)(z + i) != 0;
        CHECK_EQ(nonzero, 0);
        vfree(z);
    }
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

/* ---- failures ----------------------------------------------------------------------------- */

static void *g_ptr;
static unsigned long g_size;

static void do_touch(void)
{
    signal(SIGSEGV, SIG_DFL); /* the default action, not a sanitizer's report */
    ((volatile unsigned char *)g_ptr)[0] = 1;
}

TEST(vmalloc_map_failure)
{
    REQUIRE(init_mib(64));
    struct board b;
    REQUIRE(board_make(&b));
    unsigned long pages = 4 * MiB / PAGE_SIZE;
    /* Warm up the descriptor's caches, so that frames alone are compared. */
    vfree(vmalloc(4 * MiB));
    unsigned long base = test_free_pages();
    struct kmem_vmalloc_info before = vinfo();

    kmem_hosted_fail_map_after = 700; /* the 700th single-page mapping fails */
    CHECK(vmalloc(4 * MiB) == NULL);
    CHECK_EQ(kmem_hosted_fail_map_after, 0);
    struct kmem_vmalloc_info after = vinfo();
    CHECK_EQ(after.map_calls - before.map_calls, 700);
    CHECK_EQ(after.map_failures - before.map_failures, 1);
    CHECK_EQ(after.unmap_calls - before.unmap_calls, 1); /* the 699 mapped pages */
    CHECK_EQ(after.areas, 0);
    CHECK_EQ(after.free_ranges, 1);
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(checks(), 0);

    /* The failed area's pages are unmapped again: the next area takes the
     * same first-fit address, one page of it, and the rest faults. */
    unsigned char *p = vmalloc(PAGE_SIZE);
    REQUIRE(p != NULL);
    g_ptr = p + 5 * PAGE_SIZE;
    EXPECT_DEATH_SIG(do_touch, SIGSEGV, "");
    g_ptr = p + 600 * PAGE_SIZE;
    EXPECT_DEATH_SIG(do_touch, SIGSEGV, "");
    vfree(p);

    /* The first map call failing: nothing to unmap. */
    before = vinfo();
    kmem_hosted_fail_map_after = 1;
    CHECK(vmalloc(pages * PAGE_SIZE) == NULL);
    after = vinfo();
    CHECK_EQ(after.map_calls - before.map_calls, 1);
    CHECK_EQ(after.unmap_calls - before.unmap_calls, 0);
    CHECK_EQ(test_free_pages(), base);

    /* vmap too, and its pages stay the caller's. */
    struct page *mine[2] = {b.kept[0], b.kept[10]};
    kmem_hosted_fail_map_after = 2;
    CHECK(vmap(mine, 2, VM_MAP, PAGE_KERNEL) == NULL);
    CHECK_EQ(vinfo().areas, 0);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(b.nr_kept, 0), 0);
    board_free(&b);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_hosted_fail_map_after = 0;
    kmem_exit();
}

TEST(vmalloc_range_exhausted)
{
    REQUIRE(init_mib(16)); /* a 128 MiB range */
    struct page *block = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    REQUIRE(block != NULL);
    enum { BLOCK_PAGES = 1 << MAX_PAGE_ORDER };
    static struct page *pages[BLOCK_PAGES];
    for (unsigned long i = 0; i < BLOCK_PAGES; i++)
        pages[i] = pfn_to_page(page_to_pfn(block) + i);
    fill_page(page_address(pages[7]), 77, 7);

    static void *maps[64];
    unsigned int n = 0;
    unsigned long calls = vinfo().map_calls;
    while (n < 64 && (maps[n] = vmap(pages, BLOCK_PAGES, VM_MAP, PAGE_KERNEL)) != NULL)
        n++;
    struct kmem_vmalloc_info in = vinfo();
    CHECK_EQ(n, in.range_bytes / (4 * MiB + PAGE_SIZE)); /* 31 */
    CHECK_EQ(in.map_calls - calls, n);                   /* one run each */
    CHECK_EQ(in.vmap_areas, n);
    for (unsigned int i = 0; i < n; i++)
        CHECK_EQ(page_mismatches((char *)maps[i] + 7 * PAGE_SIZE, 77, 7), 0);

    /* No range for 4 MiB: NULL, and no frame taken. */
    CHECK(in.largest_free < 4 * MiB + PAGE_SIZE);
    CHECK(vmalloc(4 * MiB) == NULL);
    CHECK_EQ(unaccounted(BLOCK_PAGES, (unsigned long)n * BLOCK_PAGES), 0);
    /* What is left fits exactly one area, with its guard page. */
    unsigned char *rest = vmalloc(in.largest_free - PAGE_SIZE);
    REQUIRE(rest != NULL);
    in = vinfo();
    CHECK_EQ(in.free_ranges, 0);
    CHECK_EQ(in.free_bytes, 0);
    CHECK(vmalloc(1) == NULL);
    CHECK(vmap(pages, 1, VM_MAP, PAGE_KERNEL) == NULL);
    CHECK_EQ(checks(), 0);

    vfree(rest);
    for (unsigned int i = 0; i < n; i += 2) /* out of order: merging both ways */
        vunmap(maps[i]);
    CHECK_EQ(checks(), 0);
    for (unsigned int i = 1; i < n; i += 2)
        vunmap(maps[i]);
    in = vinfo();
    CHECK_EQ(in.areas, 0);
    CHECK_EQ(in.free_ranges, 1);
    CHECK_EQ(in.free_bytes, in.range_bytes);
    CHECK_EQ(page_mismatches(page_address(pages[7]), 77, 7), 0); /* still the caller's */
    __free_pages(block, MAX_PAGE_ORDER);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

static long read_max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* ThreadSanitizer's runtime maps memory of its own as the program runs, and
 * aborts when the host refuses it: at the mapping limit it would die first. */
TEST(vmalloc_host_map_limit)
{
    if (UNDER_TSAN) {
        fprintf(stderr, "  skipped: ThreadSanitizer's own mappings fail at the host's limit\n");
        return;
    }
    long limit = read_max_map_count();
    if (limit <= 0 || limit > 262144) {
        fprintf(stderr, "  skipped: vm.max_map_count is %ld; the test fills at most 262144\n",
                limit);
        return;
    }
    /* Enough single free frames (a checkerboard) for more mappings than the
     * host allows: twice the limit plus room, in frames, each other one free. */
    unsigned long frames = 2 * ((unsigned long)limit + (unsigned long)limit / 8 + 4096);
    REQUIRE(init_mib((frames * PAGE_SIZE + 4 * MiB - 1) / (4 * MiB) * 4));
    struct board b;
    REQUIRE(board_make(&b));
    enum { MAX_AREAS = 4096 };
    void **areas = calloc(MAX_AREAS, sizeof *areas);
    REQUIRE(areas != NULL);
    struct kmem_vmalloc_info before = vinfo();
    kmem_hosted_last_map_errno = 0;
    unsigned int n = 0;
    unsigned long free_before = 0;
    bool refused = false;
    while (n < MAX_AREAS) {
        free_before = test_free_pages();
        unsigned char *p = vmalloc(4 * MiB); /* 1024 mappings and a guard */
        if (!p) {
            refused = true;
            break;
        }
        p[4 * MiB - 1] = 1;
        areas[n++] = p;
    }
    struct kmem_vmalloc_info at = vinfo();
    int err = kmem_hosted_last_map_errno;
    unsigned long free_after = test_free_pages();
    /* Make room again before anything else may want a mapping. */
    for (unsigned int i = 0; i < n; i++)
        vfree(areas[i]);
    free(areas);
    fprintf(stderr, "  %u areas of 4 MiB (%lu mappings) before mmap failed: errno %d\n", n,
            at.map_calls - before.map_calls, err);
    CHECK(refused);
    CHECK_EQ(err, ENOMEM);
    CHECK_EQ(at.map_failures - before.map_failures, 1);
    CHECK_EQ(at.areas, n);
    CHECK_EQ(at.pages, n * 1024UL);
    CHECK(free_after + 8 >= free_before); /* the failed call kept no frame */
    CHECK_EQ(checks(), 0);
    CHECK_EQ(vinfo().areas, 0);
    /* After the limit, vmalloc works again: the vfrees brought the host's
     * mapping count back down (mmap fails above the limit, munmap does not). */
    void *again = vmalloc(4 * MiB);
    CHECK(again != NULL);
    vfree(again);
    CHECK_EQ(unaccounted(b.nr_kept, 0), 0);
    board_free(&b);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

/* ---- vmap -------------------------------------------------------------------------------- */

TEST(vmap_caller_pages)
{
    REQUIRE(init_mib(64));
    enum { SINGLES = 64, TOTAL = SINGLES + 4 };
    struct page *pages[TOTAL];
    uint64_t rng = 42;
    for (int i = 0; i < SINGLES; i++)
        pages[i] = alloc_page(GFP_KERNEL);
    for (int i = SINGLES - 1; i > 0; i--) { /* scatter them */
        int j = (int)(harness_rand(&rng) % (uint64_t)(i + 1));
        struct page *t = pages[i];
        pages[i] = pages[j];
        pages[j] = t;
    }
    struct page *quad = alloc_pages(GFP_KERNEL, 2); /* one run of four frames */
    REQUIRE(quad != NULL);
    for (int i = 0; i < 4; i++)
        pages[SINGLES + i] = pfn_to_page(page_to_pfn(quad) + (unsigned long)i);
    for (int i = 0; i < TOTAL; i++) {
        REQUIRE(pages[i] != NULL);
        fill_page(page_address(pages[i]), 5, (unsigned long)i);
    }

    CHECK(vmap(pages, 0, VM_MAP, PAGE_KERNEL) == NULL);
    CHECK(vmap(NULL, 4, VM_MAP, PAGE_KERNEL) == NULL);
    CHECK(vmap(pages, 4, VM_MAP | 0x1, PAGE_KERNEL) == NULL);
    CHECK(vmap(pages, 4, VM_MAP, __pgprot(0x1)) == NULL);

    unsigned long calls = vinfo().map_calls;
    unsigned char *m = vmap(pages, TOTAL, VM_MAP, PAGE_KERNEL);
    REQUIRE(m != NULL);
    CHECK(is_vmalloc_addr(m));
    CHECK(vinfo().map_calls - calls <= SINGLES + 1); /* the four frames in one */
    struct kmem_vmalloc_info in = vinfo();
    CHECK_EQ(in.vmap_areas, 1);
    CHECK_EQ(in.pages, TOTAL);
    unsigned long bad = 0;
    for (int i = 0; i < TOTAL; i++) {
        bad += vmalloc_to_page(m + i * PAGE_SIZE + 9) != pages[i];
        bad += page_mismatches(m + i * PAGE_SIZE, 5, (unsigned long)i) != 0;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(check_aliasing(m, TOTAL, 6), 0);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(TOTAL, TOTAL), 0);
    vunmap(m);
    CHECK(vmalloc_to_page(m) == NULL);
    /* The pages are still the caller's, with what was written through m. */
    for (int i = 0; i < TOTAL; i++)
        bad += page_mismatches(page_address(pages[i]), ~(uint64_t)6, (unsigned long)i) != 0;
    CHECK_EQ(bad, 0);

    /* One page at two addresses of one area. */
    struct page *twice[2] = {pages[3], pages[3]};
    unsigned char *t = vmap(twice, 2, VM_MAP, PAGE_KERNEL);
    REQUIRE(t != NULL);
    t[10] = 0x77;
    CHECK_EQ(t[PAGE_SIZE + 10], 0x77);
    CHECK_EQ(checks(), 0);
    vunmap(t);

    for (int i = 0; i < SINGLES; i++)
        __free_page(pages[i]);
    __free_pages(quad, 2);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

/* ---- kvmalloc --------------------------------------------------------------------------- */

TEST(kvmalloc_fallback)
{
    REQUIRE(init_mib(64));
    static const size_t small[] = {1, 100, 4096, 4097, 64 * 1024, 3 * MiB};
    for (unsigned int i = 0; i < sizeof small / sizeof small[0]; i++) {
        unsigned char *p = kvmalloc(small[i], GFP_KERNEL);
        REQUIRE(p != NULL);
        CHECK(!is_vmalloc_addr(p)); /* kmalloc had it */
        CHECK(ksize(p) >= small[i]);
        memset(p, 1, small[i]);
        kvfree(p);
    }
    unsigned char *big = kvmalloc(8 * MiB, GFP_KERNEL); /* beyond any block */
    REQUIRE(big != NULL);
    CHECK(is_vmalloc_addr(big));
    CHECK_EQ(check_aliasing(big, 8 * MiB / PAGE_SIZE, 3), 0);
    kvfree(big);
    CHECK(kvmalloc((size_t)1 << 31, GFP_KERNEL) == NULL); /* Linux: above INT_MAX */
    kvfree(NULL);

    /* On a fragmented machine kmalloc has no block of order 4: vmalloc. */
    struct board b;
    REQUIRE(board_make(&b));
    unsigned char *frag = kvmalloc(64 * 1024, GFP_KERNEL);
    REQUIRE(frag != NULL);
    CHECK(is_vmalloc_addr(frag));
    memset(frag, 0xee, 64 * 1024);
    kvfree(frag);
    unsigned char *z = kvzalloc(64 * 1024, GFP_KERNEL);
    REQUIRE(z != NULL);
    CHECK(is_vmalloc_addr(z));
    unsigned long nonzero = 0;
    for (unsigned long i = 0; i < 64 * 1024; i++)
        nonzero += z[i] != 0;
    CHECK_EQ(nonzero, 0);
    kvfree(z);
    void *tiny = kvmalloc(64, GFP_KERNEL); /* small sizes still from kmalloc */
    CHECK(tiny != NULL && !is_vmalloc_addr(tiny));
    kvfree(tiny);
    CHECK_EQ(vinfo().areas, 0);
    CHECK_EQ(unaccounted(b.nr_kept, 0), 0);
    board_free(&b);
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

/* ---- randomized, against a model ------------------------------------------------------------ */

enum vkind { VK_VMALLOC, VK_VZALLOC, VK_VMAP };

struct vobj {
    unsigned char *p;
    unsigned long pages;
    uint64_t tag;
    enum vkind kind;
    struct page **owned; /* vmap: the caller's pages, in mapping order */
};

struct vmodel {
    uint64_t rng;
    struct vobj **objs;
    unsigned int n, cap;
    unsigned long live_pages; /* in all areas */
    unsigned long vmap_pages; /* of which the model's own pages */
    unsigned long budget;     /* live_pages stays below */
    unsigned long tag_next;
    unsigned long failures; /* mismatches found (threads cannot CHECK) */
    unsigned long alloc_failed;
};

static unsigned long model_pages(struct vmodel *m)
{
    unsigned int r = (unsigned int)(harness_rand(&m->rng) % 100);
    if (r < 60)
        return 1 + harness_rand(&m->rng) % 8;
    if (r < 92)
        return 9 + harness_rand(&m->rng) % 248;
    return 257 + harness_rand(&m->rng) % 1792; /* up to 8 MiB */
}

/* The first and last word of each page carry the pattern; every 16th page
 * is also read through its frame. */
static void obj_write(struct vobj *o)
{
    for (unsigned long i = 0; i < o->pages; i++) {
        uint64_t *w = (uint64_t *)(o->p + i * PAGE_SIZE);
        w[0] = pattern(o->tag, i, 0);
        w[PAGE_SIZE / 8 - 1] = pattern(o->tag, i, 1);
    }
}

static unsigned long obj_verify(const struct vobj *o)
{
    unsigned long bad = 0;
    for (unsigned long i = 0; i < o->pages; i++) {
        const uint64_t *w = (const uint64_t *)(o->p + i * PAGE_SIZE);
        bad += w[0] != pattern(o->tag, i, 0) || w[PAGE_SIZE / 8 - 1] != pattern(o->tag, i, 1);
        struct page *pg = vmalloc_to_page(w);
        if (!pg || (o->owned && pg != o->owned[i])) {
            bad++;
            continue;
        }
        if (i % 16 == 0)
            bad += ((const uint64_t *)page_address(pg))[0] != pattern(o->tag, i, 0);
    }
    return bad;
}

static struct vobj *obj_create(struct vmodel *m)
{
    struct vobj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    unsigned int r = (unsigned int)(harness_rand(&m->rng) % 10);
    o->kind = r < 5 ? VK_VMALLOC : r < 8 ? VK_VZALLOC : VK_VMAP;
    o->pages = o->kind == VK_VMAP ? 1 + harness_rand(&m->rng) % 64 : model_pages(m);
    if (m->live_pages + o->pages > m->budget)
        o->pages = 1;
    o->tag = ++m->tag_next * 1000003 + m->rng % 1000;
    if (o->kind == VK_VMAP) {
        o->owned = malloc(o->pages * sizeof *o->owned);
        for (unsigned long i = 0; o->owned && i < o->pages; i++)
            o->owned[i] = alloc_page(GFP_KERNEL);
        for (unsigned long i = o->pages; o->owned && i > 1; i--) { /* scatter */
            unsigned long j = harness_rand(&m->rng) % i;
            struct page *t = o->owned[i - 1];
            o->owned[i - 1] = o->owned[j];
            o->owned[j] = t;
        }
        o->p = o->owned ? vmap(o->owned, (unsigned int)o->pages, VM_MAP, PAGE_KERNEL) : NULL;
    } else if (o->kind == VK_VZALLOC) {
        o->p = vzalloc(o->pages * PAGE_SIZE - harness_rand(&m->rng) % PAGE_SIZE);
    } else {
        o->p = vmalloc(o->pages * PAGE_SIZE - harness_rand(&m->rng) % PAGE_SIZE);
    }
    if (!o->p) {
        m->alloc_failed++;
        for (unsigned long i = 0; o->owned && i < o->pages; i++)
            if (o->owned[i])
                __free_page(o->owned[i]);
        free(o->owned);
        free(o);
        return NULL;
    }
    if (o->kind == VK_VZALLOC)
        for (unsigned long i = 0; i < o->pages; i++) {
            const uint64_t *w = (const uint64_t *)(o->p + i * PAGE_SIZE);
            m->failures += w[0] != 0 || w[PAGE_SIZE / 16] != 0 || w[PAGE_SIZE / 8 - 1] != 0;
        }
    obj_write(o);
    return o;
}

static void obj_destroy(struct vobj *o, unsigned long *failures)
{
    *failures += obj_verify(o);
    if (o->kind == VK_VMAP) {
        vunmap(o->p);
        for (unsigned long i = 0; i < o->pages; i++)
            __free_page(o->owned[i]);
        free(o->owned);
    } else {
        vfree(o->p);
    }
    free(o);
}

static void model_add(struct vmodel *m, struct vobj *o)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->objs = realloc(m->objs, m->cap * sizeof *m->objs);
    }
    m->objs[m->n++] = o;
    m->live_pages += o->pages;
    if (o->kind == VK_VMAP)
        m->vmap_pages += o->pages;
}

static struct vobj *model_take(struct vmodel *m, unsigned int i)
{
    struct vobj *o = m->objs[i];
    m->objs[i] = m->objs[--m->n];
    m->live_pages -= o->pages;
    if (o->kind == VK_VMAP)
        m->vmap_pages -= o->pages;
    return o;
}

/* One random step: create (when under budget, more often) or destroy. */
static void model_step(struct vmodel *m)
{
    bool create = m->n == 0 || (m->live_pages < m->budget && harness_rand(&m->rng) % 100 < 55);
    if (create) {
        struct vobj *o = obj_create(m);
        if (o)
            model_add(m, o);
        return;
    }
    struct vobj *o = model_take(m, (unsigned int)(harness_rand(&m->rng) % m->n));
    obj_destroy(o, &m->failures);
}

static void model_drain(struct vmodel *m)
{
    while (m->n)
        obj_destroy(model_take(m, m->n - 1), &m->failures);
    free(m->objs);
    m->objs = NULL;
    m->cap = 0;
}

TEST(vmalloc_random)
{
    REQUIRE(init_mib(128));
    struct vmodel m = {.rng = 0x5eed1234, .budget = 12000};
    for (int op = 1; op <= 3000; op++) {
        model_step(&m);
        if (op % 250 == 0) {
            CHECK_EQ(checks(), 0);
            struct kmem_vmalloc_info in = vinfo();
            CHECK_EQ(in.pages, m.live_pages);
            CHECK_EQ(in.areas, m.n);
            CHECK_EQ(unaccounted(m.vmap_pages, m.vmap_pages), 0);
            for (unsigned int i = 0; i < m.n; i += 7)
                m.failures += obj_verify(m.objs[i]);
        }
    }
    model_drain(&m);
    CHECK_EQ(m.failures, 0);
    CHECK_EQ(m.alloc_failed, 0);
    CHECK_EQ(checks(), 0);
    CHECK_EQ(vinfo().areas, 0);
    CHECK_EQ(vinfo().free_ranges, 1);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

/* ---- threads -------------------------------------------------------------------------------- */

enum { NR_THREADS = 4, THREAD_OPS = 600, MAILBOXES = 8 };

static struct vobj *mailbox[MAILBOXES];

struct worker {
    pthread_t thread;
    unsigned int id;
    struct vmodel m;
    int check_failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int op = 1; op <= THREAD_OPS; op++) {
        model_step(&w->m);
        /* Now and then hand an area to whoever comes next, and verify and
         * free what another thread left there. */
        if (w->m.n && harness_rand(&w->m.rng) % 16 == 0) {
            struct vobj *o = model_take(&w->m, w->m.n - 1);
            unsigned int box = (unsigned int)(harness_rand(&w->m.rng) % MAILBOXES);
            struct vobj *theirs = __atomic_exchange_n(&mailbox[box], o, __ATOMIC_ACQ_REL);
            if (theirs)
                obj_destroy(theirs, &w->m.failures);
        }
        if (w->id == 0 && op % 100 == 0)
            w->check_failures += kmem_vmalloc_check();
    }
    model_drain(&w->m);
    return NULL;
}

TEST(vmalloc_threads)
{
    REQUIRE(init_mib(256));
    static struct worker workers[NR_THREADS];
    for (unsigned int i = 0; i < NR_THREADS; i++) {
        workers[i] = (struct worker){.id = i, .m = {.rng = 0xabc0 + i, .budget = 5000}};
        REQUIRE(pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]) == 0);
    }
    unsigned long failures = 0, alloc_failed = 0;
    int check_failures = 0;
    for (unsigned int i = 0; i < NR_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        failures += workers[i].m.failures;
        alloc_failed += workers[i].m.alloc_failed;
        check_failures += workers[i].check_failures;
    }
    for (unsigned int i = 0; i < MAILBOXES; i++)
        if (mailbox[i]) {
            obj_destroy(mailbox[i], &failures);
            mailbox[i] = NULL;
        }
    CHECK_EQ(failures, 0);
    CHECK_EQ(alloc_failed, 0);
    CHECK_EQ(check_failures, 0);
    CHECK_EQ(checks(), 0);
    struct kmem_vmalloc_info in = vinfo();
    CHECK_EQ(in.areas, 0);
    CHECK_EQ(in.pages, 0);
    CHECK_EQ(in.free_ranges, 1);
    CHECK_EQ(unaccounted(0, 0), 0);
    kmem_exit();
}

/* ---- death tests --------------------------------------------------------------------------- */

/* Expect fn to die by SIGABRT with every one of the NULL-terminated texts on
 * its stderr. One child for all of them: the machine's memory is a shared
 * mapping, so a second child would see what the first wrote into it. */
static void expect_death_all(int line, void (*fn)(void), ...)
{
    static char out[16384];
    int status = harness_run_child(fn, out, sizeof out);
    bool died = status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    va_list ap;
    va_start(ap, fn);
    for (const char *text; (text = va_arg(ap, const char *)) != NULL;)
        if (!died || !strstr(out, text)) {
            fprintf(stderr,
                    "%s:%d: death test failed: wanted SIGABRT and \"%s\"; got status %#x, "
                    "stderr:\n%s\n",
                    __FILE__, line, text, status, out);
            harness_checks_failed++;
        }
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

static void do_vfree(void)
{
    vfree(g_ptr);
}
static void do_vunmap(void)
{
    vunmap(g_ptr);
}
static void do_kvfree(void)
{
    kvfree(g_ptr);
}
/* Both frees in the child, on a machine of its own: the machine's memory is
 * shared with the parent, and the first (good) vfree changes it (a kfree
 * marks the freed descriptor). */
static void do_double_vfree(void)
{
    kmem_exit();
    if (!init_mib(16))
        _exit(3);
    g_ptr = vmalloc(2 * PAGE_SIZE);
    if (!g_ptr)
        _exit(4);
    vfree(g_ptr);
    vfree(g_ptr);
}
static void do_vmalloc(void)
{
    volatile void *p = vmalloc(g_size);
    (void)p;
}
static void do_vmap_bad_page(void)
{
    struct page *pages[2] = {vmalloc_to_page(g_ptr), (struct page *)((char *)g_ptr + 8)};
    volatile void *p = vmap(pages, 2, VM_MAP, PAGE_KERNEL);
    (void)p;
}

TEST(death_vfree_foreign)
{
    char a[MSG];
    REQUIRE(init_mib(16));
    char on_stack[64];
    memset(on_stack, 0, sizeof on_stack);
    g_ptr = on_stack;
    DEATH(do_vfree, "kmem: invalid free: ", fmt(a, "vfree(%p) called from 0x", g_ptr),
          "not a vmalloc address (the vmalloc range is [");
    void *k = kmalloc(100, GFP_KERNEL);
    g_ptr = k;
    DEATH(do_vfree, "kmem: invalid free: ", fmt(a, "vfree(%p)", g_ptr), "not a vmalloc address");
    DEATH(do_vunmap, "kmem: invalid free: ", fmt(a, "vunmap(%p)", g_ptr), "not a vmalloc address");
    kfree(k);
    /* A part of the range where no area ever was. */
    struct kmem_vmalloc_info in = vinfo();
    g_ptr = (char *)in.start + in.range_bytes / 2;
    DEATH(do_vfree, "kmem: invalid free: ", fmt(a, "vfree(%p) called from", g_ptr),
          "no vmalloc area there (the address lies in a free part of the vmalloc range)");
    g_ptr = (char *)in.start + in.range_bytes - 1;
    DEATH(do_vunmap, "kmem: invalid free: ", "no vmalloc area there");
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

TEST(death_vfree_interior)
{
    char a[MSG];
    REQUIRE(init_mib(16));
    unsigned char *p = vmalloc(3 * PAGE_SIZE);
    REQUIRE(p != NULL);
    g_ptr = p + PAGE_SIZE;
    DEATH(do_vfree, "kmem: invalid free: ", fmt(a, "vfree(%p) called from", g_ptr),
          fmt(a,
              "not the start of an area: it lies 0x1000 bytes into the vmalloc area at %p of "
              "3 pages",
              (void *)p));
    g_ptr = p + 100;
    DEATH(do_vfree, "kmem: invalid free: ", "it lies 0x64 bytes into the vmalloc area");
    g_ptr = p + 3 * PAGE_SIZE + 5;
    DEATH(
        do_vfree, "kmem: invalid free: ",
        fmt(a, "the address is the guard page after the vmalloc area at %p of 3 pages", (void *)p));
    /* kvfree takes the same way, with vfree's message. */
    g_ptr = p + 2 * PAGE_SIZE;
    DEATH(do_kvfree, "kmem: invalid free: ", fmt(a, "vfree(%p)", g_ptr), "bytes into the vmalloc");
    /* The parent's area is untouched by the children's attempts. */
    CHECK_EQ(vinfo().areas, 1);
    CHECK_EQ(checks(), 0);
    vfree(p);
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

TEST(death_double_vfree)
{
    char a[MSG];
    REQUIRE(init_mib(16));
    void *keep = vmalloc(PAGE_SIZE); /* a neighbour, so the range does not merge away */
    g_ptr = vmalloc(5 * PAGE_SIZE);
    REQUIRE(keep && g_ptr);
    vfree(g_ptr);
    DEATH(do_vfree, "kmem: double free: ", fmt(a, "vfree(%p) called from", g_ptr),
          "the vmalloc area there (5 pages) was freed already");
    DEATH(do_vunmap, "kmem: double free: ", fmt(a, "vunmap(%p)", g_ptr), "was freed already");
    vfree(keep);
    CHECK_EQ(checks(), 0);
    kmem_exit();

    DEATH(do_double_vfree, "kmem: double free: vfree(", "freed already");
}

TEST(death_mismatched_free)
{
    char a[MSG];
    REQUIRE(init_mib(16));
    void *v = vmalloc(2 * PAGE_SIZE);
    struct page *pg = alloc_page(GFP_KERNEL);
    REQUIRE(v && pg);
    void *m = vmap(&pg, 1, VM_MAP, PAGE_KERNEL);
    REQUIRE(m != NULL);
    g_ptr = v;
    DEATH(do_vunmap, "kmem: mismatched free: ", fmt(a, "vunmap(%p) called from", g_ptr),
          "the area there (2 pages) was made by vmalloc: free it with vfree");
    g_ptr = m;
    DEATH(do_vfree, "kmem: mismatched free: ", fmt(a, "vfree(%p) called from", g_ptr),
          "the area there (1 pages) was made by vmap: release it with vunmap");
    DEATH(do_kvfree, "kmem: mismatched free: ", "made by vmap");
    /* A struct page pointer that is none. */
    g_ptr = v;
    DEATH(do_vmap_bad_page, "kmem: bad address: vmap(",
          "pages[1] = ", "is not a page of this machine's memory");
    vunmap(m);
    vfree(v);
    __free_page(pg);
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

TEST(death_guard_page)
{
    REQUIRE(init_mib(16));
    unsigned char *p = vmalloc(10000); /* three pages */
    unsigned char *q = vmalloc(PAGE_SIZE);
    REQUIRE(p && q);
    p[3 * PAGE_SIZE - 1] = 1;  /* the last byte is fine */
    g_ptr = p + 3 * PAGE_SIZE; /* one past the area */
    EXPECT_DEATH_SIG(do_touch, SIGSEGV, "");
    g_ptr = q + PAGE_SIZE;
    EXPECT_DEATH_SIG(do_touch, SIGSEGV, "");
    /* After vfree, the area's addresses fault too. */
    vfree(p);
    g_ptr = p;
    EXPECT_DEATH_SIG(do_touch, SIGSEGV, "");
    vfree(q);
    CHECK_EQ(checks(), 0);
    kmem_exit();
}

TEST(death_before_init)
{
    /* Never initialized in this process yet (the first test to run). */
    CHECK(!is_vmalloc_addr((void *)0x10000));
    CHECK(vmalloc_to_page((void *)0x10000) == NULL);
    struct kmem_vmalloc_info in;
    CHECK(!kmem_vmalloc_info(&in));
    CHECK_EQ(kmem_vmalloc_check(), 0);
    vfree(NULL);
    vunmap(NULL);
    g_size = 4096;
    DEATH(do_vmalloc, "kmem: not initialized: ", "vmalloc(4096, gfp ", "before kmem_init");
    g_ptr = (void *)0x12345000;
    DEATH(do_vfree, "kmem: not initialized: ", "vfree(0x12345000) called from");
    DEATH(do_vunmap, "kmem: not initialized: ", "vunmap(0x12345000)");
    /* After a machine came and went: no range any more. */
    REQUIRE(init_mib(16));
    void *p = vmalloc(PAGE_SIZE);
    REQUIRE(p != NULL);
    kmem_exit();
    CHECK(!is_vmalloc_addr(p));
    DEATH(do_vmalloc, "kmem: not initialized: ");
}

/* Each test brings its machine up; take it down even after a failed REQUIRE. */
#define RUN_CLEAN(t)                                                                               \
    do {                                                                                           \
        RUN(t);                                                                                    \
        kmem_hosted_fail_map_after = 0;                                                            \
        if (kmem_is_up())                                                                          \
            kmem_exit();                                                                           \
    } while (0)

int main(void)
{
    RUN_CLEAN(death_before_init);
    RUN_CLEAN(vmalloc_basics);
    RUN_CLEAN(vmalloc_aliasing);
    RUN_CLEAN(vmalloc_checkerboard);
    RUN_CLEAN(vmalloc_gives_back);
    RUN_CLEAN(vmalloc_zeroed);
    RUN_CLEAN(vmalloc_map_failure);
    RUN_CLEAN(vmalloc_range_exhausted);
    RUN_CLEAN(vmalloc_host_map_limit);
    RUN_CLEAN(vmap_caller_pages);
    RUN_CLEAN(kvmalloc_fallback);
    RUN_CLEAN(vmalloc_random);
    RUN_CLEAN(vmalloc_threads);
    RUN_CLEAN(death_vfree_foreign);
    RUN_CLEAN(death_vfree_interior);
    RUN_CLEAN(death_double_vfree);
    RUN_CLEAN(death_mismatched_free);
    RUN_CLEAN(death_guard_page);
    return harness_report();
}
