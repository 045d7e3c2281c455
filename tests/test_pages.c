/* SPDX-License-Identifier: MIT */
/*
 * test_pages.c - unit tests of the page allocator's interface: get_order,
 * the address translations, natural alignment, orders out of range, zeroing,
 * zones and their fallback, carving odd memory sizes, bringing machines up
 * and down, per-CPU lists and their draining, and kmem_page_check finding a
 * damaged structure (white-box).
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include <kmem.h>

#include "core/page_frame.h"

#define KiB      ((size_t)1 << 10)
#define MiB      ((size_t)1 << 20)
#define DMA_PFNS 4096UL /* 16 MiB */

static int machine_up(size_t size)
{
    struct kmem_config cfg = {.mem_size = size};
    return kmem_init(&cfg);
}

/* The /proc/buddyinfo text of a machine with these free-block counts
 * (normal NULL: no Normal zone). */
static void buddy_text(char *buf, size_t len, const unsigned long *dma, const unsigned long *normal)
{
    int n = 0;
    for (int zi = 0; zi < 2; zi++) {
        const unsigned long *nr = zi ? normal : dma;
        if (!nr)
            continue;
        n += snprintf(buf + n, len - (size_t)n, "Node 0, zone %8s ", zi ? "Normal" : "DMA");
        for (int o = 0; o < NR_PAGE_ORDERS; o++)
            n += snprintf(buf + n, len - (size_t)n, "%6lu ", nr[o]);
        n += snprintf(buf + n, len - (size_t)n, "\n");
    }
}

static const unsigned long nr_64m_dma[NR_PAGE_ORDERS] = {[10] = 4};
static const unsigned long nr_64m_normal[NR_PAGE_ORDERS] = {[10] = 12};

static void check_buddyinfo(const unsigned long *dma, const unsigned long *normal)
{
    char expected[512], got[512];
    buddy_text(expected, sizeof expected, dma, normal);
    size_t n = kmem_buddyinfo(got, sizeof got);
    CHECK_EQ(n, strlen(expected));
    CHECK_STR_EQ(got, expected);
}

static unsigned long zone_managed(enum kmem_zone_type zt)
{
    struct kmem_zone_info zi;
    return kmem_zone_info(zt, &zi) ? zi.managed_pages : 0;
}

static unsigned long zone_free(enum kmem_zone_type zt)
{
    struct kmem_zone_info zi;
    return kmem_zone_info(zt, &zi) ? zi.free_pages : 0;
}

static unsigned long zone_pcp(enum kmem_zone_type zt)
{
    struct kmem_zone_info zi;
    return kmem_zone_info(zt, &zi) ? zi.pcp_pages : 0;
}

/* Capture what kmem writes to stderr (fd 2) between the two calls. */
struct capture {
    int saved;
    int fd;
};

static void capture_begin(struct capture *c)
{
    char name[] = "/tmp/kmem-test-stderr-XXXXXX";
    fflush(stderr);
    c->fd = mkstemp(name);
    if (c->fd >= 0)
        unlink(name);
    c->saved = dup(STDERR_FILENO);
    if (c->fd >= 0)
        dup2(c->fd, STDERR_FILENO);
}

static long capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    if (c->fd < 0)
        return -1;
    struct stat st;
    long size = fstat(c->fd, &st) == 0 ? (long)st.st_size : -1;
    close(c->fd);
    return size;
}

static bool all_bytes(const void *p, int c, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return false;
    return true;
}

/* ---- get_order ----------------------------------------------------------- */

TEST(get_order_values)
{
    CHECK_EQ(get_order(0), (int)(sizeof(long) * CHAR_BIT) - PAGE_SHIFT); /* 52 */
    CHECK_EQ(get_order(0), 52);
    CHECK_EQ(get_order(1), 0);
    CHECK_EQ(get_order(100), 0);
    CHECK_EQ(get_order(4095), 0);
    CHECK_EQ(get_order(4096), 0);
    CHECK_EQ(get_order(4097), 1);
    CHECK_EQ(get_order(8192), 1);
    CHECK_EQ(get_order(8193), 2);
    CHECK_EQ(get_order(16384), 2);
    CHECK_EQ(get_order(16385), 3);
    CHECK_EQ(get_order(21 * 1024), 3);
    CHECK_EQ(get_order(32768), 3);
    CHECK_EQ(get_order(32769), 4);
    CHECK_EQ(get_order(1UL << 20), 8);
    CHECK_EQ(get_order(4UL << 20), 10);
    CHECK_EQ(get_order((4UL << 20) + 1), 11);
    CHECK_EQ(get_order(8UL << 20), 11);
    CHECK_EQ(get_order(1UL << 40), 28);
    CHECK_EQ(get_order(ULONG_MAX), 52);
    for (int o = 0; o <= 40; o++) {
        CHECK_EQ(get_order(PAGE_SIZE << o), o);
        CHECK_EQ(get_order((PAGE_SIZE << o) - 1), o);
        CHECK_EQ(get_order((PAGE_SIZE << o) + 1), o + 1);
    }
}

/* ---- translations ------------------------------------------------------ */

static void check_translations(struct page *p, unsigned int order)
{
    unsigned long pfn = page_to_pfn(p);
    char *addr = page_address(p);
    CHECK(pfn_to_page(pfn) == p);
    CHECK(addr == phys_to_virt((phys_addr_t)pfn << PAGE_SHIFT));
    CHECK(virt_to_phys(addr) == (phys_addr_t)pfn << PAGE_SHIFT);
    CHECK(virt_to_page(addr) == p);
    for (unsigned long i = 0; i < (1UL << order); i++) {
        char *in = addr + i * PAGE_SIZE + 123;
        phys_addr_t phys = ((phys_addr_t)(pfn + i) << PAGE_SHIFT) + 123;
        CHECK(virt_to_page(in) == pfn_to_page(pfn + i));
        CHECK(virt_to_phys(in) == phys);
        CHECK(phys_to_virt(phys) == in);
        CHECK(page_address(pfn_to_page(pfn + i)) == addr + i * PAGE_SIZE);
        CHECK_EQ(page_to_pfn(virt_to_page(in)), pfn + i);
    }
    char *last = addr + (PAGE_SIZE << order) - 1;
    CHECK(virt_to_page(last) == pfn_to_page(pfn + (1UL << order) - 1));
}

TEST(translations_round_trip)
{
    REQUIRE(kmem_init(NULL) == 0);
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        struct page *p = alloc_pages(GFP_KERNEL, o);
        REQUIRE(p != NULL);
        check_translations(p, o);
        unsigned long addr = __get_free_pages(GFP_DMA, o);
        REQUIRE(addr != 0);
        CHECK(virt_to_page((void *)addr) != NULL);
        check_translations(virt_to_page((void *)addr), o);
        free_pages(addr, o);
        __free_pages(p, o);
    }

    /* The edges of the machine. */
    const unsigned long nr = 16384;
    CHECK(pfn_to_page(0) != NULL);
    CHECK(pfn_to_page(nr - 1) != NULL);
    CHECK(pfn_to_page(nr - 1) == pfn_to_page(0) + (nr - 1));
    CHECK(pfn_to_page(nr) == NULL);
    CHECK(pfn_to_page(nr + 1000) == NULL);
    CHECK(pfn_to_page(ULONG_MAX) == NULL);
    char *base = phys_to_virt(0);
    CHECK(virt_to_page(base) == pfn_to_page(0));
    CHECK(virt_to_phys(base) == 0);
    CHECK(virt_to_page(base + 64 * MiB - 1) == pfn_to_page(nr - 1));
    CHECK(virt_to_page(base + 64 * MiB) == NULL);
    CHECK(virt_to_page(base - 1) == NULL);
    CHECK(virt_to_page(base - PAGE_SIZE) == NULL);
    CHECK(page_address(pfn_to_page(nr - 1)) == base + (nr - 1) * PAGE_SIZE);

    /* Foreign pointers: the stack, the C heap, static data, NULL. */
    int local = 0;
    CHECK(virt_to_page(&local) == NULL);
    void *heap = malloc(64);
    CHECK(virt_to_page(heap) == NULL);
    free(heap);
    static char data[16];
    CHECK(virt_to_page(data) == NULL);
    CHECK(virt_to_page(NULL) == NULL);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();

    /* Nothing is managed memory once the machine is down. */
    CHECK(pfn_to_page(0) == NULL);
    CHECK(virt_to_page(base) == NULL);
}

/* ---- natural alignment ------------------------------------------------- */

TEST(blocks_naturally_aligned)
{
    REQUIRE(kmem_init(NULL) == 0);
    enum { PER_ORDER = 5 };
    struct page *held[NR_PAGE_ORDERS][PER_ORDER] = {{NULL}};
    /* A small page first, so that the larger blocks come from split ones. */
    struct page *small = alloc_page(GFP_KERNEL);
    REQUIRE(small != NULL);
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        for (int i = 0; i < PER_ORDER; i++) {
            gfp_t gfp = i == PER_ORDER - 1 ? GFP_DMA : GFP_KERNEL;
            struct page *p = alloc_pages(gfp, o);
            REQUIRE(p != NULL);
            unsigned long pfn = page_to_pfn(p);
            CHECK_EQ(pfn % (1UL << o), 0);
            CHECK_EQ((uintptr_t)page_address(p) % (PAGE_SIZE << o), 0);
            CHECK_EQ(virt_to_phys(page_address(p)) % (PAGE_SIZE << o), 0);
            if (gfp == GFP_DMA)
                CHECK(pfn + (1UL << o) <= DMA_PFNS);
            held[o][i] = p;
        }
    }
    CHECK_EQ(kmem_page_check(), 0);
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++)
        for (int i = 0; i < PER_ORDER; i++)
            __free_pages(held[o][i], o);
    __free_page(small);
    drain_all_pages();
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- orders out of range ------------------------------------------------ */

TEST(order_too_large)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct capture cap;
    capture_begin(&cap);
    struct page *p11 = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1);
    struct page *p12 = alloc_pages(GFP_KERNEL, 12);
    struct page *p64 = alloc_pages(GFP_KERNEL, 64);
    struct page *pmax = alloc_pages(GFP_KERNEL, UINT_MAX);
    struct page *pdma = alloc_pages(GFP_DMA, MAX_PAGE_ORDER + 1);
    struct page *pzero = alloc_pages(GFP_KERNEL | __GFP_ZERO, MAX_PAGE_ORDER + 1);
    struct page *patomic = alloc_pages(GFP_ATOMIC, MAX_PAGE_ORDER + 1);
    unsigned long a11 = __get_free_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1);
    unsigned long a20 = __get_free_pages(GFP_DMA, 20);
    long written = capture_end(&cap);
    CHECK(p11 == NULL);
    CHECK(p12 == NULL);
    CHECK(p64 == NULL);
    CHECK(pmax == NULL);
    CHECK(pdma == NULL);
    CHECK(pzero == NULL);
    CHECK(patomic == NULL);
    CHECK_EQ(a11, 0);
    CHECK_EQ(a20, 0);
    CHECK_EQ(written, 0); /* no message */
    /* More than the largest block, exactly. */
    CHECK(alloc_pages_exact((PAGE_SIZE << MAX_PAGE_ORDER) + 1, GFP_KERNEL) == NULL);

    /* Nothing moved. */
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(zone_free(KMEM_ZONE_DMA) + zone_free(KMEM_ZONE_NORMAL), 16384);
    CHECK_EQ(kmem_page_check(), 0);

    /* The largest order itself works. */
    struct page *big = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    CHECK(big != NULL);
    if (big)
        __free_pages(big, MAX_PAGE_ORDER);
    kmem_exit();
}

/* ---- zeroing ------------------------------------------------------------- */

TEST(zeroed_pages_small_machine)
{
    /* No per-CPU lists: every page goes straight back to the buddy lists. */
    REQUIRE(machine_up(256 * KiB) == 0);
    char *pages[64];
    for (int i = 0; i < 64; i++) {
        pages[i] = (char *)__get_free_page(GFP_KERNEL);
        REQUIRE(pages[i] != NULL);
        memset(pages[i], 0xcc, PAGE_SIZE);
    }
    CHECK_EQ(__get_free_page(GFP_KERNEL), 0);
    for (int i = 0; i < 64; i++)
        free_page((unsigned long)pages[i]);

    /* Every block handed out with __GFP_ZERO is all zero. */
    struct page *blocks[8];
    for (int i = 0; i < 8; i++) {
        blocks[i] = alloc_pages(GFP_KERNEL | __GFP_ZERO, 3);
        REQUIRE(blocks[i] != NULL);
        CHECK(all_bytes(page_address(blocks[i]), 0, 8 * PAGE_SIZE));
        memset(page_address(blocks[i]), 0x77, 8 * PAGE_SIZE);
    }
    for (int i = 0; i < 8; i++)
        __free_pages(blocks[i], 3);

    /* get_zeroed_page, every page of the machine. */
    for (int i = 0; i < 64; i++) {
        pages[i] = (char *)get_zeroed_page(GFP_KERNEL);
        REQUIRE(pages[i] != NULL);
        CHECK(all_bytes(pages[i], 0, PAGE_SIZE));
        memset(pages[i], 0x11, PAGE_SIZE);
    }
    CHECK_EQ(get_zeroed_page(GFP_KERNEL), 0);
    for (int i = 0; i < 64; i++)
        free_page((unsigned long)pages[i]);

    /* The whole machine at once, zeroed. */
    struct page *all = alloc_pages(GFP_KERNEL | __GFP_ZERO, 6);
    REQUIRE(all != NULL);
    CHECK(all_bytes(page_address(all), 0, 64 * PAGE_SIZE));
    __free_pages(all, 6);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(zeroed_pages_default_machine)
{
    REQUIRE(kmem_init(NULL) == 0);
    /* A dirtied page comes back zeroed (the per-CPU list is LIFO, so it is
     * most likely the same page). */
    for (int round = 0; round < 50; round++) {
        char *p = (char *)__get_free_page(GFP_KERNEL);
        REQUIRE(p != NULL);
        memset(p, 0xff, PAGE_SIZE);
        free_page((unsigned long)p);
        char *z = (char *)get_zeroed_page(GFP_KERNEL);
        REQUIRE(z != NULL);
        CHECK(all_bytes(z, 0, PAGE_SIZE));
        free_page((unsigned long)z);
    }
    for (unsigned int o = 1; o <= 3; o++) {
        struct page *p = alloc_pages(GFP_KERNEL, o);
        REQUIRE(p != NULL);
        memset(page_address(p), 0xee, PAGE_SIZE << o);
        __free_pages(p, o);
        struct page *z = alloc_pages(GFP_KERNEL | __GFP_ZERO, o);
        REQUIRE(z != NULL);
        CHECK(all_bytes(page_address(z), 0, PAGE_SIZE << o));
        __free_pages(z, o);
    }
    /* Dirty all of DMA, then take it back zeroed. */
    struct page *dma[4];
    for (int i = 0; i < 4; i++) {
        dma[i] = alloc_pages(GFP_DMA | __GFP_MEMALLOC, MAX_PAGE_ORDER);
        REQUIRE(dma[i] != NULL);
        memset(page_address(dma[i]), 0xab, PAGE_SIZE << MAX_PAGE_ORDER);
    }
    for (int i = 0; i < 4; i++)
        __free_pages(dma[i], MAX_PAGE_ORDER);
    for (int i = 0; i < 4; i++) {
        dma[i] = alloc_pages(GFP_DMA | __GFP_ZERO | __GFP_MEMALLOC, MAX_PAGE_ORDER);
        REQUIRE(dma[i] != NULL);
        CHECK(all_bytes(page_address(dma[i]), 0, PAGE_SIZE << MAX_PAGE_ORDER));
    }
    for (int i = 0; i < 4; i++)
        __free_pages(dma[i], MAX_PAGE_ORDER);
    /* alloc_pages_exact honours __GFP_ZERO too. */
    char *e = alloc_pages_exact(5 * PAGE_SIZE, GFP_KERNEL);
    REQUIRE(e != NULL);
    memset(e, 0x3c, 5 * PAGE_SIZE);
    free_pages_exact(e, 5 * PAGE_SIZE);
    e = alloc_pages_exact(5 * PAGE_SIZE, GFP_KERNEL | __GFP_ZERO);
    REQUIRE(e != NULL);
    CHECK(all_bytes(e, 0, 5 * PAGE_SIZE));
    free_pages_exact(e, 5 * PAGE_SIZE);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- zones --------------------------------------------------------------- */

TEST(zones_default_machine)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_zone_info dma, normal, bad;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &normal));
    CHECK(!kmem_zone_info(KMEM_NR_ZONES, &bad));
    CHECK(!kmem_zone_info((enum kmem_zone_type) - 1, &bad));
    CHECK_STR_EQ(dma.name, "DMA");
    CHECK_EQ(dma.start_pfn, 0);
    CHECK_EQ(dma.end_pfn, 4096);
    CHECK_EQ(dma.managed_pages, 4096);
    CHECK_EQ(dma.free_pages, 4096);
    CHECK_EQ(dma.pcp_pages, 0);
    CHECK_EQ(dma.nr_free[MAX_PAGE_ORDER], 4);
    CHECK_STR_EQ(normal.name, "Normal");
    CHECK_EQ(normal.start_pfn, 4096);
    CHECK_EQ(normal.end_pfn, 16384);
    CHECK_EQ(normal.managed_pages, 12288);
    CHECK_EQ(normal.free_pages, 12288);
    CHECK_EQ(normal.pcp_pages, 0);
    CHECK_EQ(normal.nr_free[MAX_PAGE_ORDER], 12);
    for (int o = 0; o < MAX_PAGE_ORDER; o++) {
        CHECK_EQ(dma.nr_free[o], 0);
        CHECK_EQ(normal.nr_free[o], 0);
    }
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    check_buddyinfo((const unsigned long[NR_PAGE_ORDERS]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4},
                    (const unsigned long[NR_PAGE_ORDERS]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12});
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(gfp_kernel_prefers_normal_then_falls_back)
{
    REQUIRE(kmem_init(NULL) == 0);
    /* Every order comes from Normal while it has room. */
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        struct page *p = alloc_pages(GFP_KERNEL, o);
        REQUIRE(p != NULL);
        CHECK(page_to_pfn(p) >= DMA_PFNS);
        unsigned long a = __get_free_pages(GFP_KERNEL, o);
        REQUIRE(a != 0);
        CHECK(page_to_pfn(virt_to_page((void *)a)) >= DMA_PFNS);
        free_pages(a, o);
        __free_pages(p, o);
    }
    drain_all_pages();

    /* Use up Normal: its 12 order-10 blocks. */
    struct page *normal[12];
    for (int i = 0; i < 12; i++) {
        normal[i] = alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, MAX_PAGE_ORDER);
        REQUIRE(normal[i] != NULL);
        CHECK(page_to_pfn(normal[i]) >= DMA_PFNS);
    }
    CHECK_EQ(zone_free(KMEM_ZONE_NORMAL) + zone_pcp(KMEM_ZONE_NORMAL), 0);

    /* Now GFP_KERNEL falls back to DMA, for every order. */
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        struct page *p = alloc_pages(GFP_KERNEL, o);
        REQUIRE(p != NULL);
        CHECK(page_to_pfn(p) + (1UL << o) <= DMA_PFNS);
        __free_pages(p, o);
    }
    struct page *dma[4];
    for (int i = 0; i < 4; i++) {
        dma[i] = alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, MAX_PAGE_ORDER);
        REQUIRE(dma[i] != NULL);
        CHECK(page_to_pfn(dma[i]) < DMA_PFNS);
    }
    /* Both zones are full. */
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        CHECK(alloc_pages(GFP_KERNEL, o) == NULL);
        CHECK(alloc_pages(GFP_DMA, o) == NULL);
    }
    CHECK_EQ(kmem_page_check(), 0);
    for (int i = 0; i < 12; i++)
        __free_pages(normal[i], MAX_PAGE_ORDER);
    for (int i = 0; i < 4; i++)
        __free_pages(dma[i], MAX_PAGE_ORDER);
    drain_all_pages();
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(gfp_dma_only_from_dma)
{
    REQUIRE(kmem_init(NULL) == 0);
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        struct page *p = alloc_pages(GFP_DMA, o);
        REQUIRE(p != NULL);
        CHECK(page_to_pfn(p) + (1UL << o) <= DMA_PFNS);
        unsigned long a = __get_free_pages(GFP_DMA | __GFP_ZERO, o);
        REQUIRE(a != 0);
        CHECK(virt_to_phys((void *)a) + (PAGE_SIZE << o) <= 16 * MiB);
        free_pages(a, o);
        __free_pages(p, o);
    }

    /* Take all of DMA, reserves included: 4096 single pages. */
    static unsigned long pfns[4096];
    unsigned long n = 0;
    for (;;) {
        struct page *p = alloc_pages(GFP_KERNEL | GFP_DMA | __GFP_MEMALLOC, 0);
        if (!p)
            break;
        REQUIRE(n < 4096);
        pfns[n++] = page_to_pfn(p);
        CHECK(pfns[n - 1] < DMA_PFNS);
    }
    CHECK_EQ(n, 4096);
    /* DMA is exhausted, Normal is not: GFP_DMA still fails. */
    CHECK_EQ(zone_free(KMEM_ZONE_NORMAL) + zone_pcp(KMEM_ZONE_NORMAL), 12288);
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++)
        CHECK(alloc_pages(GFP_DMA, o) == NULL);
    CHECK_EQ(__get_free_pages(GFP_DMA, 0), 0);
    CHECK_EQ(get_zeroed_page(GFP_DMA), 0);
    CHECK(alloc_pages_exact(3 * PAGE_SIZE, GFP_DMA) == NULL);
    /* GFP_KERNEL is served from Normal. */
    struct page *k = alloc_pages(GFP_KERNEL, 0);
    REQUIRE(k != NULL);
    CHECK(page_to_pfn(k) >= DMA_PFNS);
    __free_page(k);
    CHECK_EQ(kmem_page_check(), 0);
    for (unsigned long i = 0; i < n; i++)
        __free_page(pfn_to_page(pfns[i]));
    drain_all_pages();
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(small_machine_has_only_dma)
{
    static const size_t sizes[] = {16 * MiB, 8 * MiB, 1 * MiB};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        REQUIRE(machine_up(sizes[s]) == 0);
        unsigned long pages = sizes[s] / PAGE_SIZE;
        struct kmem_zone_info dma, normal;
        REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
        CHECK(!kmem_zone_info(KMEM_ZONE_NORMAL, &normal));
        CHECK_EQ(dma.start_pfn, 0);
        CHECK_EQ(dma.end_pfn, pages);
        CHECK_EQ(dma.managed_pages, pages);
        unsigned long nr[NR_PAGE_ORDERS] = {0};
        if (pages >= 1024)
            nr[10] = pages / 1024;
        else
            nr[get_order(sizes[s])] = 1;
        check_buddyinfo(nr, NULL);

        /* GFP_KERNEL works (from DMA), and so does GFP_DMA. */
        for (unsigned int o = 0; o <= 3; o++) {
            struct page *p = alloc_pages(GFP_KERNEL, o);
            REQUIRE(p != NULL);
            CHECK(page_to_pfn(p) < pages);
            struct page *d = alloc_pages(GFP_DMA, o);
            REQUIRE(d != NULL);
            CHECK(page_to_pfn(d) < pages);
            CHECK(d != p);
            __free_pages(d, o);
            __free_pages(p, o);
        }
        unsigned long count = 0;
        struct page *p;
        /* All of it through GFP_KERNEL, with the reserves (the watermarks are
         * test_gfp.c's). */
        static unsigned long pfns[4096];
        while ((p = alloc_page(GFP_KERNEL | __GFP_MEMALLOC)) != NULL) {
            REQUIRE(count < 4096);
            pfns[count++] = page_to_pfn(p);
        }
        CHECK_EQ(count, pages);
        CHECK_EQ(kmem_page_check(), 0);
        for (unsigned long i = 0; i < count; i++)
            __free_page(pfn_to_page(pfns[i]));
        drain_all_pages();
        check_buddyinfo(nr, NULL);
        CHECK_EQ(kmem_page_check(), 0);
        kmem_exit();
    }
}

/* ---- odd sizes ----------------------------------------------------------- */

struct carve_case {
    size_t size;
    unsigned long dma[NR_PAGE_ORDERS];
    unsigned long normal[NR_PAGE_ORDERS];
    bool has_normal;
};

TEST(odd_sizes_carved_into_aligned_blocks)
{
    static const struct carve_case cases[] = {
        /* 25 pages: 16 + 8 + 1. */
        {100 * KiB, {[0] = 1, [3] = 1, [4] = 1}, {0}, false},
        /* Not a whole number of pages: rounded down. */
        {100 * KiB + 100, {[0] = 1, [3] = 1, [4] = 1}, {0}, false},
        {100 * KiB + PAGE_SIZE - 1, {[0] = 1, [3] = 1, [4] = 1}, {0}, false},
        /* 63 pages: 32 + 16 + 8 + 4 + 2 + 1. */
        {63 * PAGE_SIZE, {1, 1, 1, 1, 1, 1}, {0}, false},
        {PAGE_SIZE, {[0] = 1}, {0}, false},
        {2 * PAGE_SIZE - 1, {[0] = 1}, {0}, false},
        {4 * MiB + PAGE_SIZE - 1, {[10] = 1}, {0}, false},
        /* 3 order-10 blocks, then 1023 pages = 512 + 256 + ... + 1. */
        {16 * MiB - PAGE_SIZE, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3}, {0}, false},
        /* 20 MiB + 12 KiB: Normal is 1027 pages = 1024 + 2 + 1. */
        {20 * MiB + 12 * KiB, {[10] = 4}, {[0] = 1, [1] = 1, [10] = 1}, true},
        /* 20 MiB + 36 KiB: Normal 1033 pages = 1024 + 8 + 1. */
        {20 * MiB + 36 * KiB, {[10] = 4}, {[0] = 1, [3] = 1, [10] = 1}, true},
        /* One page of Normal. */
        {16 * MiB + PAGE_SIZE, {[10] = 4}, {[0] = 1}, true},
        /* Normal 1541 pages = 1024 + 512 + 4 + 1. */
        {16 * MiB + 6 * MiB + 20 * KiB, {[10] = 4}, {[0] = 1, [2] = 1, [9] = 1, [10] = 1}, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const struct carve_case *cc = &cases[c];
        fprintf(stderr, "  mem_size %zu\n", cc->size);
        REQUIRE(machine_up(cc->size) == 0);
        unsigned long pages = cc->size / PAGE_SIZE;
        check_buddyinfo(cc->dma, cc->has_normal ? cc->normal : NULL);
        CHECK_EQ(zone_managed(KMEM_ZONE_DMA) + zone_managed(KMEM_ZONE_NORMAL), pages);
        CHECK_EQ(zone_free(KMEM_ZONE_DMA) + zone_free(KMEM_ZONE_NORMAL), pages);
        struct kmem_zone_info zi;
        CHECK_EQ(kmem_zone_info(KMEM_ZONE_NORMAL, &zi), cc->has_normal);
        if (cc->has_normal) {
            CHECK_EQ(zi.start_pfn, DMA_PFNS);
            CHECK_EQ(zi.end_pfn, pages);
        }
        CHECK_EQ(kmem_page_check(), 0);

        /* Every page can be handed out exactly once (reserves included), and
         * all of them come back together into the same blocks. */
        static unsigned long pfns[8192];
        static unsigned char seen[8192];
        memset(seen, 0, sizeof seen);
        unsigned long n = 0;
        struct page *p;
        while ((p = alloc_page(GFP_KERNEL | __GFP_MEMALLOC)) != NULL) {
            REQUIRE(n < pages);
            unsigned long pfn = page_to_pfn(p);
            REQUIRE(pfn < pages);
            CHECK(!seen[pfn]);
            seen[pfn] = 1;
            pfns[n++] = pfn;
        }
        CHECK_EQ(n, pages);
        CHECK_EQ(kmem_page_check(), 0);
        for (unsigned long i = 0; i < n; i++)
            __free_page(pfn_to_page(pfns[i]));
        drain_all_pages();
        check_buddyinfo(cc->dma, cc->has_normal ? cc->normal : NULL);
        CHECK_EQ(kmem_page_check(), 0);

        /* A block never straddles the zone end: the largest allocations
         * all fit inside. */
        for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
            struct page *b = alloc_pages(GFP_KERNEL, o);
            if (b) {
                CHECK(page_to_pfn(b) + (1UL << o) <= pages);
                CHECK(page_to_pfn(b) >= DMA_PFNS || page_to_pfn(b) + (1UL << o) <= DMA_PFNS);
                __free_pages(b, o);
            }
        }
        kmem_exit();
    }
}

/* ---- bringing machines up and down --------------------------------------- */

TEST(init_defaults)
{
    CHECK(!kmem_is_up());
    REQUIRE(kmem_init(NULL) == 0);
    CHECK(kmem_is_up());
    CHECK_EQ(zone_managed(KMEM_ZONE_DMA), 4096);
    CHECK_EQ(zone_managed(KMEM_ZONE_NORMAL), 12288);
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    kmem_exit();
    CHECK(!kmem_is_up());

    /* A zeroed mem_size is the default too. */
    struct kmem_config zero = {0};
    REQUIRE(kmem_init(&zero) == 0);
    CHECK_EQ(zone_managed(KMEM_ZONE_DMA) + zone_managed(KMEM_ZONE_NORMAL),
             KMEM_DEFAULT_MEM_SIZE / PAGE_SIZE);
    kmem_exit();
}

TEST(init_twice_is_busy)
{
    REQUIRE(machine_up(256 * KiB) == 0);
    CHECK_EQ(kmem_init(NULL), -EBUSY);
    CHECK_EQ(machine_up(64 * MiB), -EBUSY);
    /* The running machine is untouched. */
    CHECK(kmem_is_up());
    CHECK_EQ(zone_managed(KMEM_ZONE_DMA), 64);
    CHECK(!kmem_zone_info(KMEM_ZONE_NORMAL, &(struct kmem_zone_info){0}));
    struct page *p = alloc_pages(GFP_KERNEL, 6);
    CHECK(p != NULL);
    if (p)
        __free_pages(p, 6);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(init_bad_config)
{
    CHECK_EQ(machine_up(100), -EINVAL);
    CHECK(!kmem_is_up());
    CHECK_EQ(machine_up(1), -EINVAL);
    CHECK_EQ(machine_up(PAGE_SIZE - 1), -EINVAL);
    CHECK_EQ(machine_up(KMEM_MAX_MEM_SIZE + PAGE_SIZE), -EINVAL);
    CHECK_EQ(machine_up(KMEM_MAX_MEM_SIZE + 1), -EINVAL);
    CHECK_EQ(machine_up(SIZE_MAX), -EINVAL);
    CHECK_EQ(machine_up(SIZE_MAX & PAGE_MASK), -EINVAL);
    CHECK(!kmem_is_up());
    /* A failed init leaves nothing behind: a good one follows. */
    REQUIRE(machine_up(256 * KiB) == 0);
    CHECK_EQ(zone_managed(KMEM_ZONE_DMA), 64);
    kmem_exit();
}

TEST(init_exit_init_fresh_memory)
{
    REQUIRE(kmem_init(NULL) == 0);
    /* Dirty pages of both zones, leave some allocated and some on per-CPU
     * lists when the machine goes down. */
    unsigned long dirty_pfns[64];
    int nd = 0;
    for (int i = 0; i < 32; i++) {
        char *a = (char *)__get_free_page(GFP_KERNEL);
        char *d = (char *)__get_free_pages(GFP_DMA, 1);
        REQUIRE(a && d);
        memset(a, 0xa1, PAGE_SIZE);
        memset(d, 0xd1, 2 * PAGE_SIZE);
        dirty_pfns[nd++] = page_to_pfn(virt_to_page(a));
        dirty_pfns[nd++] = page_to_pfn(virt_to_page(d));
        if (i % 2) {
            free_page((unsigned long)a);
            free_pages((unsigned long)d, 1);
        }
    }
    CHECK(zone_pcp(KMEM_ZONE_NORMAL) + zone_pcp(KMEM_ZONE_DMA) > 0);
    kmem_exit();
    CHECK(!kmem_is_up());

    /* Fresh: all memory free and zero, no per-CPU pages left over. */
    REQUIRE(kmem_init(NULL) == 0);
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(zone_pcp(KMEM_ZONE_NORMAL) + zone_pcp(KMEM_ZONE_DMA), 0);
    CHECK_EQ(zone_free(KMEM_ZONE_NORMAL) + zone_free(KMEM_ZONE_DMA), 16384);
    CHECK_EQ(kmem_page_check(), 0);
    for (int i = 0; i < nd; i++)
        CHECK(all_bytes(phys_to_virt((phys_addr_t)dirty_pfns[i] << PAGE_SHIFT), 0, PAGE_SIZE));
    /* The per-CPU lists work again. */
    for (int i = 0; i < 100; i++) {
        struct page *p = alloc_page(GFP_KERNEL);
        REQUIRE(p != NULL);
        __free_page(p);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();

    /* A different machine next: the book's 256 KiB. */
    REQUIRE(machine_up(256 * KiB) == 0);
    check_buddyinfo((const unsigned long[NR_PAGE_ORDERS]){[6] = 1}, NULL);
    struct page *p = alloc_pages(GFP_KERNEL, 0);
    REQUIRE(p != NULL);
    CHECK_EQ(page_to_pfn(p), 0);
    __free_page(p);
    check_buddyinfo((const unsigned long[NR_PAGE_ORDERS]){[6] = 1}, NULL);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();

    /* And back to a big one. */
    REQUIRE(kmem_init(NULL) == 0);
    p = alloc_pages(GFP_KERNEL, 0);
    REQUIRE(p != NULL);
    CHECK(page_to_pfn(p) >= DMA_PFNS);
    __free_page(p);
    drain_all_pages();
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(exit_when_down_is_harmless)
{
    CHECK(!kmem_is_up());
    kmem_exit();
    kmem_exit();
    drain_all_pages();
    CHECK(!kmem_is_up());
    CHECK_EQ(kmem_page_check(), 0);
    struct kmem_zone_info zi;
    CHECK(!kmem_zone_info(KMEM_ZONE_DMA, &zi));
    char buf[8] = "xxxxxxx";
    CHECK_EQ(kmem_buddyinfo(buf, sizeof buf), 0);
    CHECK_EQ(buf[0], '\0');
    REQUIRE(machine_up(256 * KiB) == 0);
    kmem_exit();
    kmem_exit();
}

/* ---- per-CPU lists ------------------------------------------------------- */

TEST(drain_all_pages_returns_pcp_pages)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_zone_info normal, dma;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &normal));
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    CHECK(normal.pcp_high > 0);
    CHECK(normal.pcp_batch > 0);
    CHECK(dma.pcp_high > 0);
    CHECK(dma.pcp_batch > 0);

    static struct page *held[300];
    for (unsigned int o = 0; o <= 3; o++) {
        for (int i = 0; i < 300; i++) {
            held[i] = alloc_pages(i % 3 == 2 ? GFP_DMA : GFP_KERNEL, o);
            REQUIRE(held[i] != NULL);
        }
        for (int i = 0; i < 300; i++)
            __free_pages(held[i], o);
    }
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &normal));
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    CHECK(normal.pcp_pages > 0);
    CHECK(dma.pcp_pages > 0);
    CHECK_EQ(normal.free_pages + normal.pcp_pages, normal.managed_pages);
    CHECK_EQ(dma.free_pages + dma.pcp_pages, dma.managed_pages);
    CHECK_EQ(kmem_page_check(), 0);

    drain_all_pages();
    struct kmem_zone_info n2, d2;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &n2));
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &d2));
    CHECK_EQ(n2.pcp_pages, 0);
    CHECK_EQ(d2.pcp_pages, 0);
    CHECK_EQ(n2.free_pages, normal.free_pages + normal.pcp_pages);
    CHECK_EQ(d2.free_pages, dma.free_pages + dma.pcp_pages);
    CHECK(n2.free_pages > normal.free_pages);
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    CHECK_EQ(kmem_page_check(), 0);
    drain_all_pages(); /* nothing left: harmless */
    check_buddyinfo(nr_64m_dma, nr_64m_normal);
    kmem_exit();
}

TEST(pcp_lists_only_for_big_zones)
{
    /* 256 KiB: 64 pages, no per-CPU lists; a free coalesces at once. */
    REQUIRE(machine_up(256 * KiB) == 0);
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    CHECK_EQ(zi.pcp_high, 0);
    CHECK_EQ(zi.pcp_batch, 0);
    struct page *p[16];
    for (int i = 0; i < 16; i++) {
        p[i] = alloc_page(GFP_KERNEL);
        REQUIRE(p[i] != NULL);
    }
    for (int i = 0; i < 16; i++)
        __free_page(p[i]);
    CHECK_EQ(zone_pcp(KMEM_ZONE_DMA), 0);
    CHECK_EQ(zone_free(KMEM_ZONE_DMA), 64);
    check_buddyinfo((const unsigned long[NR_PAGE_ORDERS]){[6] = 1}, NULL);
    kmem_exit();

    /* The threshold is 1024 pages, per zone. */
    static const struct {
        size_t size;
        bool dma_pcp, normal_pcp;
    } cases[] = {
        {4 * MiB - PAGE_SIZE, false, false},
        {4 * MiB, true, false},
        {20 * MiB - PAGE_SIZE, true, false},
        {20 * MiB, true, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        REQUIRE(machine_up(cases[c].size) == 0);
        REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
        CHECK_EQ(zi.pcp_high > 0, cases[c].dma_pcp);
        if (kmem_zone_info(KMEM_ZONE_NORMAL, &zi))
            CHECK_EQ(zi.pcp_high > 0, cases[c].normal_pcp);
        else
            CHECK(!cases[c].normal_pcp);
        /* Whatever the sizing, frees of small blocks end up coalesced. */
        for (int i = 0; i < 16; i++) {
            p[i] = alloc_pages(GFP_KERNEL, (unsigned)i % 4);
            REQUIRE(p[i] != NULL);
        }
        for (int i = 0; i < 16; i++)
            __free_pages(p[i], (unsigned)i % 4);
        if (!cases[c].dma_pcp && !cases[c].normal_pcp)
            CHECK_EQ(zone_pcp(KMEM_ZONE_DMA) + zone_pcp(KMEM_ZONE_NORMAL), 0);
        drain_all_pages();
        CHECK_EQ(zone_free(KMEM_ZONE_DMA) + zone_free(KMEM_ZONE_NORMAL), cases[c].size / PAGE_SIZE);
        CHECK_EQ(kmem_page_check(), 0);
        kmem_exit();
    }
}

/* ---- kmem_page_check finds damage (white-box) ----------------------------- */

TEST(page_check_detects_corruption)
{
    REQUIRE(machine_up(256 * KiB) == 0);
    CHECK_EQ(kmem_page_check(), 0);
    struct page *head = pf_pfn_to_page(0);
    REQUIRE(head->pg_state == PS_FREE && head->pg_order == 6);

    fprintf(stderr, "  (the check lines below are expected)\n");
    /* A free head with the wrong order. */
    head->pg_order = 5;
    CHECK(kmem_page_check() > 0);
    head->pg_order = 6;
    CHECK_EQ(kmem_page_check(), 0);

    /* A tail page claiming to head an allocated block. */
    struct page *tail = pf_pfn_to_page(7);
    REQUIRE(tail->pg_state == PS_TAIL);
    tail->pg_state = PS_ALLOC;
    tail->pg_order = 0;
    CHECK(kmem_page_check() > 0);
    tail->pg_state = PS_TAIL;
    CHECK_EQ(kmem_page_check(), 0);

    /* An allocated block whose head lost its state. */
    struct page *p = alloc_pages(GFP_KERNEL, 2);
    REQUIRE(p != NULL);
    CHECK_EQ(kmem_page_check(), 0);
    uint8_t saved = p->pg_state;
    p->pg_state = PS_FREE; /* free, but on no list */
    CHECK(kmem_page_check() > 0);
    p->pg_state = saved;
    CHECK_EQ(kmem_page_check(), 0);

    /* An allocated head with an order its pfn cannot have (misaligned). */
    __free_pages(p, 2);
    struct page *a = alloc_page(GFP_KERNEL);
    struct page *b = alloc_page(GFP_KERNEL);
    REQUIRE(a && b);
    CHECK_EQ(page_to_pfn(a), 0);
    CHECK_EQ(page_to_pfn(b), 1);
    b->pg_order = 1; /* the wrong order for its pfn */
    CHECK(kmem_page_check() > 0);
    b->pg_order = 0;
    CHECK_EQ(kmem_page_check(), 0);
    __free_page(b);
    __free_page(a);
    check_buddyinfo((const unsigned long[NR_PAGE_ORDERS]){[6] = 1}, NULL);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

int main(void)
{
    RUN(get_order_values);
    RUN(translations_round_trip);
    RUN(blocks_naturally_aligned);
    RUN(order_too_large);
    RUN(zeroed_pages_small_machine);
    RUN(zeroed_pages_default_machine);
    RUN(zones_default_machine);
    RUN(gfp_kernel_prefers_normal_then_falls_back);
    RUN(gfp_dma_only_from_dma);
    RUN(small_machine_has_only_dma);
    RUN(odd_sizes_carved_into_aligned_blocks);
    RUN(init_defaults);
    RUN(init_twice_is_busy);
    RUN(init_bad_config);
    RUN(init_exit_init_fresh_memory);
    RUN(exit_when_down_is_harmless);
    RUN(drain_all_pages_returns_pcp_pages);
    RUN(pcp_lists_only_for_big_zones);
    RUN(page_check_detects_corruption);
    return harness_report();
}
