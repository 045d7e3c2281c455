/* SPDX-License-Identifier: MIT */
/*
 * test_book.c - the textbook's buddy example, step by step (Silberschatz,
 * Galvin, Gagne, "Operating System Concepts", the buddy-system figure:
 * 9.26 in the 9th edition, 10.26 in the 10th).
 *
 * A 256 KiB segment is one free block of 64 pages (order 6). A request for
 * 21 KB is rounded up to 32 KiB (order 3): the 256 KiB block splits into
 * A_L and A_R (128 KiB each), A_L into B_L and B_R (64 KiB), B_L into C_L and
 * C_R (32 KiB), and C_L satisfies the request. Freeing it coalesces
 * everything back into the one 256 KiB block.
 */
#include "harness.h"

#include <kmem.h>

#include "core/page_frame.h"

#define KiB 1024UL

/* Linux's /proc/buddyinfo line: "Node %d, zone %8s " then "%6lu " per order. */
static void buddy_line(char *buf, size_t len, const char *zone, const unsigned long *nr_free)
{
    int n = snprintf(buf, len, "Node 0, zone %8s ", zone);
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        n += snprintf(buf + n, len - (size_t)n, "%6lu ", nr_free[o]);
    snprintf(buf + n, len - (size_t)n, "\n");
}

/* The expected text of a one-zone (DMA) machine with these free blocks. */
static void expect_dma(char *buf, size_t len, const unsigned long *nr_free)
{
    buddy_line(buf, len, "DMA", nr_free);
}

static void check_buddyinfo(const char *expected)
{
    char got[512];
    size_t n = kmem_buddyinfo(got, sizeof got);
    CHECK_EQ(n, strlen(expected));
    CHECK_STR_EQ(got, expected);
}

/* The white-box view of the block headed by pfn. */
static void check_head(unsigned long pfn, enum page_state state, unsigned int order)
{
    const struct page *p = pf_pfn_to_page(pfn);
    if (p->pg_state != state || p->pg_order != order)
        fprintf(stderr, "pfn %lu: state %u order %u, expected state %u order %u\n", pfn,
                p->pg_state, p->pg_order, (unsigned)state, order);
    CHECK_EQ(p->pg_state, state);
    CHECK_EQ(p->pg_order, order);
    CHECK_EQ(p->pg_zone, KMEM_ZONE_DMA);
}

static void check_tails(unsigned long first, unsigned long end)
{
    for (unsigned long pfn = first; pfn < end; pfn++)
        CHECK_EQ(pf_pfn_to_page(pfn)->pg_state, PS_TAIL);
}

static void check_zone(unsigned long free_pages, const unsigned long *nr_free)
{
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    CHECK_STR_EQ(zi.name, "DMA");
    CHECK_EQ(zi.start_pfn, 0);
    CHECK_EQ(zi.end_pfn, 64);
    CHECK_EQ(zi.managed_pages, 64);
    CHECK_EQ(zi.free_pages, free_pages);
    CHECK_EQ(zi.pcp_pages, 0);
    CHECK_EQ(zi.pcp_high, 0);
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        CHECK_EQ(zi.nr_free[o], nr_free[o]);
    struct kmem_zone_info none;
    CHECK(!kmem_zone_info(KMEM_ZONE_NORMAL, &none));
}

/* The public view of the blocks: kmem_page_walk, in pfn order. */
struct walked {
    unsigned long pfn;
    unsigned int order;
    enum kmem_block_state state;
};

struct walk {
    struct walked blocks[80];
    int n;
};

static bool walk_one(void *arg, const struct kmem_block *block)
{
    struct walk *w = arg;
    if (w->n < 80)
        w->blocks[w->n] = (struct walked){block->pfn, block->order, block->state};
    w->n++;
    CHECK_EQ(block->zone, KMEM_ZONE_DMA);
    return true;
}

static void check_walk(const struct walked *expected, int n)
{
    struct walk w = {.n = 0};
    CHECK_EQ(kmem_page_walk(walk_one, &w), n);
    CHECK_EQ(w.n, n);
    for (int i = 0; i < n && i < w.n; i++) {
        CHECK_EQ(w.blocks[i].pfn, expected[i].pfn);
        CHECK_EQ(w.blocks[i].order, expected[i].order);
        CHECK_EQ(w.blocks[i].state, expected[i].state);
    }
}

/* One free order-6 block of 64 pages at pfn 0: the whole segment. */
static void check_whole_segment(void)
{
    static const unsigned long whole[NR_PAGE_ORDERS] = {0, 0, 0, 0, 0, 0, 1};
    char expected[256];
    expect_dma(expected, sizeof expected, whole);
    check_buddyinfo(expected);
    check_zone(64, whole);
    check_head(0, PS_FREE, 6);
    check_tails(1, 64);
    check_walk((const struct walked[]){{0, 6, KMEM_BLOCK_FREE}}, 1);
    CHECK_EQ(kmem_page_check(), 0);
}

static int book_up(void)
{
    struct kmem_config cfg = {.mem_size = 256 * KiB};
    return kmem_init(&cfg);
}

TEST(book_initial_state)
{
    REQUIRE(book_up() == 0);
    /* The literal text, as Linux prints it. */
    check_buddyinfo("Node 0, zone      DMA      0      0      0      0      0      0      1      0"
                    "      0      0      0 \n");
    check_whole_segment();
    kmem_exit();
}

TEST(book_split_21k)
{
    REQUIRE(book_up() == 0);
    CHECK_EQ(get_order(21 * KiB), 3);

    struct page *cl = alloc_pages(GFP_KERNEL, 3);
    REQUIRE(cl != NULL);
    CHECK_EQ(page_to_pfn(cl), 0); /* C_L: the lowest 32 KiB */
    CHECK(page_address(cl) == phys_to_virt(0));
    CHECK_EQ(kmem_page_check(), 0);

    /* C_R (pfn 8, order 3), B_R (pfn 16, order 4) and A_R (pfn 32, order 5)
     * are free; C_L is allocated. */
    static const unsigned long split[NR_PAGE_ORDERS] = {0, 0, 0, 1, 1, 1, 0};
    char expected[256];
    expect_dma(expected, sizeof expected, split);
    check_buddyinfo(expected);
    check_buddyinfo("Node 0, zone      DMA      0      0      0      1      1      1      0      0"
                    "      0      0      0 \n");
    check_zone(56, split);
    check_head(0, PS_ALLOC, 3);
    check_tails(1, 8);
    check_head(8, PS_FREE, 3);
    check_tails(9, 16);
    check_head(16, PS_FREE, 4);
    check_tails(17, 32);
    check_head(32, PS_FREE, 5);
    check_tails(33, 64);
    check_walk((const struct walked[]){{0, 3, KMEM_BLOCK_ALLOCATED},
                                       {8, 3, KMEM_BLOCK_FREE},
                                       {16, 4, KMEM_BLOCK_FREE},
                                       {32, 5, KMEM_BLOCK_FREE}},
               4);

    /* The whole 32 KiB is usable. */
    memset(page_address(cl), 0x5a, 32 * KiB);
    CHECK_EQ(kmem_page_check(), 0);

    /* Freeing C_L merges it with C_R, then B_R, then A_R. */
    __free_pages(cl, 3);
    check_whole_segment();

    /* And it happens again the same way (the free lists are LIFO, but there
     * is only one block of each order). */
    cl = alloc_pages(GFP_KERNEL, 3);
    REQUIRE(cl != NULL);
    CHECK_EQ(page_to_pfn(cl), 0);
    check_buddyinfo(expected);
    __free_pages(cl, 3);
    check_whole_segment();
    kmem_exit();
}

/* The same request through the address-based interface. */
TEST(book_split_by_address)
{
    REQUIRE(book_up() == 0);
    unsigned long addr = __get_free_pages(GFP_KERNEL, (unsigned int)get_order(21 * KiB));
    REQUIRE(addr != 0);
    CHECK(addr == (unsigned long)phys_to_virt(0));
    CHECK_EQ(virt_to_phys((void *)addr), 0);
    static const unsigned long split[NR_PAGE_ORDERS] = {0, 0, 0, 1, 1, 1, 0};
    check_zone(56, split);
    CHECK_EQ(kmem_page_check(), 0);
    free_pages(addr, 3);
    check_whole_segment();
    kmem_exit();
}

TEST(book_exact_21k)
{
    REQUIRE(book_up() == 0);
    void *p = alloc_pages_exact(21 * KiB, GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK(p == phys_to_virt(0));
    CHECK_EQ(kmem_page_check(), 0);

    /* Six pages kept (24 KiB = PAGE_ALIGN(21 KiB)), each its own order-0
     * allocated block; pages 6-7 went back as one order-1 block. */
    for (unsigned long pfn = 0; pfn < 6; pfn++)
        check_head(pfn, PS_ALLOC, 0);
    check_head(6, PS_FREE, 1);
    check_tails(7, 8);
    check_head(8, PS_FREE, 3);
    check_head(16, PS_FREE, 4);
    check_head(32, PS_FREE, 5);
    check_walk((const struct walked[]){{0, 0, KMEM_BLOCK_ALLOCATED},
                                       {1, 0, KMEM_BLOCK_ALLOCATED},
                                       {2, 0, KMEM_BLOCK_ALLOCATED},
                                       {3, 0, KMEM_BLOCK_ALLOCATED},
                                       {4, 0, KMEM_BLOCK_ALLOCATED},
                                       {5, 0, KMEM_BLOCK_ALLOCATED},
                                       {6, 1, KMEM_BLOCK_FREE},
                                       {8, 3, KMEM_BLOCK_FREE},
                                       {16, 4, KMEM_BLOCK_FREE},
                                       {32, 5, KMEM_BLOCK_FREE}},
               10);

    static const unsigned long exact[NR_PAGE_ORDERS] = {0, 1, 0, 1, 1, 1, 0};
    char expected[256];
    expect_dma(expected, sizeof expected, exact);
    check_buddyinfo(expected);
    check_buddyinfo("Node 0, zone      DMA      0      1      0      1      1      1      0      0"
                    "      0      0      0 \n");
    check_zone(58, exact);

    /* All 24 KiB are usable. */
    memset(p, 0xa5, 24 * KiB);
    for (unsigned long i = 0; i < 6; i++)
        CHECK(virt_to_page((char *)p + i * PAGE_SIZE) == pfn_to_page(i));
    CHECK_EQ(kmem_page_check(), 0);

    free_pages_exact(p, 21 * KiB);
    check_whole_segment();
    kmem_exit();
}

/* kmem_buddyinfo has snprintf's semantics. */
TEST(book_buddyinfo_snprintf)
{
    REQUIRE(book_up() == 0);
    char full[256];
    size_t n = kmem_buddyinfo(full, sizeof full);
    CHECK_EQ(n, 100); /* 13 + 9 + 11 * 7 + 1 */
    CHECK_EQ(strlen(full), n);

    /* Exactly enough room for the text and its NUL. */
    char exact[101];
    memset(exact, 'x', sizeof exact);
    CHECK_EQ(kmem_buddyinfo(exact, sizeof exact), n);
    CHECK_STR_EQ(exact, full);

    /* One byte short: the last character is dropped, still NUL-terminated. */
    char shorter[100];
    memset(shorter, 'x', sizeof shorter);
    CHECK_EQ(kmem_buddyinfo(shorter, sizeof shorter), n);
    CHECK_EQ(shorter[99], '\0');
    CHECK(memcmp(shorter, full, 99) == 0);

    /* A small buffer: the full length, and a truncated, terminated prefix. */
    char small[16 + 4];
    memset(small, 'x', sizeof small);
    CHECK_EQ(kmem_buddyinfo(small, 16), n);
    CHECK_EQ(small[15], '\0');
    CHECK(memcmp(small, full, 15) == 0);
    for (size_t i = 16; i < sizeof small; i++)
        CHECK_EQ(small[i], 'x'); /* nothing written past len */

    char one[2] = {'x', 'x'};
    CHECK_EQ(kmem_buddyinfo(one, 1), n);
    CHECK_EQ(one[0], '\0');
    CHECK_EQ(one[1], 'x');

    /* len 0 writes nothing at all, and NULL is fine with it. */
    char none[4] = {'x', 'x', 'x', 'x'};
    CHECK_EQ(kmem_buddyinfo(none, 0), n);
    for (size_t i = 0; i < sizeof none; i++)
        CHECK_EQ(none[i], 'x');
    CHECK_EQ(kmem_buddyinfo(NULL, 0), n);
    kmem_exit();

    /* Not up: the empty text. */
    char after[8] = {'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'};
    CHECK_EQ(kmem_buddyinfo(after, sizeof after), 0);
    CHECK_EQ(after[0], '\0');
}

int main(void)
{
    RUN(book_initial_state);
    RUN(book_split_21k);
    RUN(book_split_by_address);
    RUN(book_exact_21k);
    RUN(book_buddyinfo_snprintf);
    return harness_report();
}
