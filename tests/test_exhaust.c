/* SPDX-License-Identifier: MIT */
/*
 * test_exhaust.c - running out of memory: every managed page can be handed
 * out exactly once, then every request fails cleanly with the structures
 * intact, and freeing everything coalesces back to the initial blocks. Also
 * out-of-memory for a large order while small pages are free (fragmentation),
 * and pages cached on another thread's per-CPU lists, which the allocator must
 * drain before it gives up.
 *
 * "Every page" is what a request that may use every reserve gets
 * (__GFP_MEMALLOC, GFP_ALL below); ordinary requests stop at the zones'
 * watermarks, which test_gfp.c covers.
 */
#include "harness.h"

#include <pthread.h>
#include <semaphore.h>

#include <kmem.h>

/* A request that ignores the watermarks: the whole machine. */
#define GFP_ALL (GFP_KERNEL | __GFP_MEMALLOC)

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int machine_up(size_t size)
{
    struct kmem_config cfg = {.mem_size = size};
    return kmem_init(&cfg);
}

static void buddyinfo(char *buf, size_t len)
{
    size_t n = kmem_buddyinfo(buf, len);
    if (n >= len)
        fprintf(stderr, "buddyinfo truncated (%zu bytes)\n", n);
}

/* Everything was freed: after a drain the zones must read as they did at
 * the start (fully coalesced). A macro, so a failure names the caller's line. */
#define CHECK_BACK_TO(initial)                                                                     \
    do {                                                                                           \
        char back_[512];                                                                           \
        drain_all_pages();                                                                         \
        buddyinfo(back_, sizeof back_);                                                            \
        CHECK_STR_EQ(back_, initial);                                                              \
    } while (0)

static unsigned long total(unsigned long (*field)(const struct kmem_zone_info *))
{
    unsigned long sum = 0;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi))
            sum += field(&zi);
    }
    return sum;
}

static unsigned long f_managed(const struct kmem_zone_info *zi)
{
    return zi->managed_pages;
}
static unsigned long f_free(const struct kmem_zone_info *zi)
{
    return zi->free_pages;
}
static unsigned long f_pcp(const struct kmem_zone_info *zi)
{
    return zi->pcp_pages;
}

/* A record of the pages handed out: each pfn at most once. */
struct handout {
    unsigned long *pfns;
    unsigned char *seen;
    unsigned long n, cap, nr_pfns, dupes;
};

static void handout_init(struct handout *h, unsigned long nr_pfns)
{
    h->pfns = calloc(nr_pfns, sizeof *h->pfns);
    h->seen = calloc(nr_pfns, 1);
    h->n = 0;
    h->cap = nr_pfns;
    h->nr_pfns = nr_pfns;
    h->dupes = 0;
}

static void handout_fini(struct handout *h)
{
    free(h->pfns);
    free(h->seen);
}

/* Record a block; false if it overlaps one already handed out. */
static bool handout_add(struct handout *h, unsigned long pfn, unsigned int order)
{
    if (pfn + (1UL << order) > h->nr_pfns || h->n >= h->cap) {
        h->dupes++;
        return false;
    }
    bool ok = true;
    for (unsigned long i = pfn; i < pfn + (1UL << order); i++) {
        if (h->seen[i])
            ok = false;
        h->seen[i] = 1;
    }
    if (!ok)
        h->dupes++;
    h->pfns[h->n++] = pfn;
    return ok;
}

/* Allocate blocks of this order until the allocator says no. */
static unsigned long exhaust(struct handout *h, gfp_t gfp, unsigned int order)
{
    unsigned long got = 0;
    struct page *p;
    while ((p = alloc_pages(gfp, order)) != NULL) {
        unsigned long pfn = page_to_pfn(p);
        if (pfn % (1UL << order) != 0) {
            fprintf(stderr, "pfn %lu of an order-%u block is misaligned\n", pfn, order);
            h->dupes++;
        }
        if (!handout_add(h, pfn, order)) {
            fprintf(stderr, "pfn %lu order %u handed out twice\n", pfn, order);
            break;
        }
        got++;
    }
    return got;
}

/* Nothing at all can be allocated, by any interface. */
static void check_nothing_left(void)
{
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        CHECK(alloc_pages(GFP_KERNEL, o) == NULL);
        CHECK(alloc_pages(GFP_DMA, o) == NULL);
        CHECK(alloc_pages(GFP_ATOMIC, o) == NULL);
        CHECK(alloc_pages(GFP_KERNEL | __GFP_ZERO, o) == NULL);
        CHECK_EQ(__get_free_pages(GFP_KERNEL, o), 0);
    }
    CHECK_EQ(__get_free_page(GFP_KERNEL), 0);
    CHECK_EQ(get_zeroed_page(GFP_KERNEL), 0);
    CHECK(alloc_pages_exact(PAGE_SIZE, GFP_KERNEL) == NULL);
    CHECK(alloc_pages_exact(3 * PAGE_SIZE, GFP_KERNEL) == NULL);
    CHECK_EQ(total(f_free), 0);
    CHECK_EQ(total(f_pcp), 0);
}

static void free_all(struct handout *h, unsigned int order)
{
    for (unsigned long i = 0; i < h->n; i++)
        __free_pages(pfn_to_page(h->pfns[i]), order);
    h->n = 0;
    memset(h->seen, 0, h->nr_pfns);
}

/* Exhaust with order-0 pages, check, free, check that all coalesced. */
static void exhaust_order0(size_t mem_size, unsigned long expect_pages, const char *expect_text)
{
    REQUIRE(machine_up(mem_size) == 0);
    char initial[512];
    buddyinfo(initial, sizeof initial);
    CHECK_STR_EQ(initial, expect_text);
    unsigned long managed = total(f_managed);
    CHECK_EQ(managed, expect_pages);

    struct handout h;
    handout_init(&h, mem_size / PAGE_SIZE);
    unsigned long got = exhaust(&h, GFP_ALL, 0);
    CHECK_EQ(got, managed);
    CHECK_EQ(h.dupes, 0);
    /* Every managed pfn exactly once. */
    unsigned long seen = 0;
    for (unsigned long pfn = 0; pfn < h.nr_pfns; pfn++)
        seen += h.seen[pfn];
    CHECK_EQ(seen, managed);

    check_nothing_left();
    CHECK_EQ(kmem_page_check(), 0);

    /* The pages are really ours: write each, then read it back. */
    for (unsigned long i = 0; i < h.n; i++)
        *(unsigned long *)page_address(pfn_to_page(h.pfns[i])) = h.pfns[i] * 2654435761UL;
    for (unsigned long i = 0; i < h.n; i++)
        CHECK_EQ(*(unsigned long *)page_address(pfn_to_page(h.pfns[i])), h.pfns[i] * 2654435761UL);

    free_all(&h, 0);
    CHECK_BACK_TO(initial);
    CHECK_EQ(total(f_free), managed);
    CHECK_EQ(kmem_page_check(), 0);

    /* And it can all be taken again. */
    got = exhaust(&h, GFP_ALL, 0);
    CHECK_EQ(got, managed);
    CHECK_EQ(h.dupes, 0);
    CHECK_EQ(kmem_page_check(), 0);
    free_all(&h, 0);
    CHECK_BACK_TO(initial);
    handout_fini(&h);
    kmem_exit();
}

static const char text_64m[] =
    "Node 0, zone      DMA      0      0      0      0      0      0      0      0      0      0"
    "      4 \n"
    "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0"
    "     12 \n";
static const char text_256k[] =
    "Node 0, zone      DMA      0      0      0      0      0      0      1      0      0      0"
    "      0 \n";

TEST(exhaust_order0_64m)
{
    exhaust_order0(64 * MiB, 16384, text_64m);
}

TEST(exhaust_order0_256k)
{
    exhaust_order0(256 * KiB, 64, text_256k);
}

TEST(exhaust_order0_odd)
{
    /* 20 MiB + 36 KiB: Normal ends in a non-power-of-two tail. */
    exhaust_order0(20 * MiB + 36 * KiB, 5129,
                   "Node 0, zone      DMA      0      0      0      0      0      0      0      0"
                   "      0      0      4 \n"
                   "Node 0, zone   Normal      1      0      0      1      0      0      0      0"
                   "      0      0      1 \n");
}

TEST(exhaust_order10)
{
    REQUIRE(kmem_init(NULL) == 0);
    char initial[512];
    buddyinfo(initial, sizeof initial);
    struct handout h;
    handout_init(&h, 16384);
    unsigned long got = exhaust(&h, GFP_ALL, MAX_PAGE_ORDER);
    CHECK_EQ(got, 16);
    CHECK_EQ(h.dupes, 0);
    /* Normal's 12 first, then DMA's 4. */
    for (unsigned long i = 0; i < h.n && i < 16; i++)
        CHECK(i < 12 ? h.pfns[i] >= 4096 : h.pfns[i] < 4096);
    check_nothing_left();
    CHECK_EQ(kmem_page_check(), 0);
    free_all(&h, MAX_PAGE_ORDER);
    CHECK_BACK_TO(initial);

    /* Every order in turn, each to exhaustion. */
    for (unsigned int o = 0; o <= MAX_PAGE_ORDER; o++) {
        got = exhaust(&h, GFP_ALL, o);
        CHECK_EQ(got, 16384UL >> o);
        CHECK_EQ(h.dupes, 0);
        check_nothing_left();
        CHECK_EQ(kmem_page_check(), 0);
        free_all(&h, o);
        CHECK_BACK_TO(initial);
    }
    handout_fini(&h);
    kmem_exit();
}

/* Fragmentation: free pages that are not buddies of each other, so no block
 * of order 1 exists although half the memory is free. */
TEST(oom_large_order_while_fragmented)
{
    REQUIRE(kmem_init(NULL) == 0);
    char initial[512];
    buddyinfo(initial, sizeof initial);
    struct handout h;
    handout_init(&h, 16384);
    CHECK_EQ(exhaust(&h, GFP_ALL, 0), 16384);

    /* Free every other page: pfn 4k+1 and 4k+2 are adjacent but not buddies
     * (1's buddy is 0, 2's is 3), so nothing merges. */
    static unsigned char held[16384];
    memset(held, 1, sizeof held);
    for (unsigned long pfn = 0; pfn < 16384; pfn++) {
        if (pfn % 4 == 1 || pfn % 4 == 2) {
            __free_page(pfn_to_page(pfn));
            held[pfn] = 0;
        }
    }
    CHECK_EQ(total(f_free) + total(f_pcp), 8192);
    CHECK_EQ(kmem_page_check(), 0);

    /* No order >= 1 block anywhere: the request fails, nothing breaks. */
    for (unsigned int o = 1; o <= MAX_PAGE_ORDER; o++) {
        CHECK(alloc_pages(GFP_KERNEL, o) == NULL);
        CHECK(alloc_pages(GFP_DMA, o) == NULL);
        CHECK_EQ(__get_free_pages(GFP_KERNEL, o), 0);
    }
    CHECK(alloc_pages_exact(2 * PAGE_SIZE, GFP_KERNEL) == NULL);
    CHECK_EQ(kmem_page_check(), 0);
    CHECK_EQ(total(f_free) + total(f_pcp), 8192);
    /* The failed attempts drained the per-CPU lists into the buddy lists,
     * where every free block is a single page. */
    struct kmem_zone_info zi;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        REQUIRE(kmem_zone_info((enum kmem_zone_type)zt, &zi));
        CHECK_EQ(zi.pcp_pages, 0);
        CHECK_EQ(zi.nr_free[0], zi.free_pages);
        for (int o = 1; o < NR_PAGE_ORDERS; o++)
            CHECK_EQ(zi.nr_free[o], 0);
    }

    /* Single pages are still there, and they are the freed ones. */
    struct page *p = alloc_page(GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK(!held[page_to_pfn(p)]);
    struct page *d = alloc_page(GFP_DMA);
    REQUIRE(d != NULL);
    CHECK(!held[page_to_pfn(d)] && page_to_pfn(d) < 4096);
    __free_page(d);
    __free_page(p);

    /* Free one more page, 4k+3: with 4k+2 it forms an order-1 block (and
     * with 4k+1 nothing, since 4k is still held). */
    __free_page(pfn_to_page(4099));
    held[4099] = 0;
    struct page *two = alloc_pages(GFP_KERNEL, 1);
    REQUIRE(two != NULL);
    CHECK_EQ(page_to_pfn(two), 4098);
    CHECK(alloc_pages(GFP_KERNEL, 1) == NULL);
    __free_pages(two, 1);
    CHECK_EQ(kmem_page_check(), 0);

    for (unsigned long pfn = 0; pfn < 16384; pfn++)
        if (held[pfn])
            __free_page(pfn_to_page(pfn));
    CHECK_BACK_TO(initial);
    CHECK_EQ(kmem_page_check(), 0);
    handout_fini(&h);
    kmem_exit();
}

/* An order-10 request in the middle of order-0 traffic, when only a part of
 * the memory is in use but no 4 MiB block is whole. */
TEST(oom_order10_one_page_per_block)
{
    REQUIRE(kmem_init(NULL) == 0);
    char initial[512];
    buddyinfo(initial, sizeof initial);
    struct handout h;
    handout_init(&h, 16384);
    CHECK_EQ(exhaust(&h, GFP_ALL, 0), 16384);
    /* Keep one page of each 4 MiB block, free the rest. */
    for (unsigned long pfn = 0; pfn < 16384; pfn++)
        if (pfn % 1024 != 513)
            __free_page(pfn_to_page(pfn));
    CHECK(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER) == NULL);
    CHECK(alloc_pages(GFP_DMA, MAX_PAGE_ORDER) == NULL);
    CHECK_EQ(kmem_page_check(), 0);
    /* Order 9 works: the lower half of each block is whole. */
    struct page *half = alloc_pages(GFP_KERNEL, 9);
    REQUIRE(half != NULL);
    CHECK_EQ(page_to_pfn(half) % 1024, 0);
    __free_pages(half, 9);
    for (unsigned long pfn = 513; pfn < 16384; pfn += 1024)
        __free_page(pfn_to_page(pfn));
    CHECK_BACK_TO(initial);
    /* Now it does. */
    struct page *big = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    CHECK(big != NULL);
    if (big)
        __free_pages(big, MAX_PAGE_ORDER);
    CHECK_EQ(kmem_page_check(), 0);
    handout_fini(&h);
    kmem_exit();
}

/* ---- pages held on another thread's per-CPU lists ------------------------ */

struct holder {
    sem_t ready;   /* the holder has filled its per-CPU lists */
    sem_t release; /* the main thread is done */
    unsigned long pcp_pages_held;
    int failed;
};

static void *holder_main(void *arg)
{
    struct holder *hd = arg;
    /* Allocate and free blocks of every per-CPU order in both zones: the
     * frees land on this thread's lists. */
    static struct page *blocks[4][200];
    for (unsigned int o = 0; o <= 3; o++) {
        for (int i = 0; i < 200; i++) {
            blocks[o][i] = alloc_pages(i % 4 == 3 ? GFP_DMA : GFP_KERNEL, o);
            if (!blocks[o][i])
                hd->failed++;
        }
    }
    for (unsigned int o = 0; o <= 3; o++)
        for (int i = 0; i < 200; i++)
            if (blocks[o][i])
                __free_pages(blocks[o][i], o);
    sem_post(&hd->ready);
    /* Stay alive (so the lists are not given back at thread exit) until the
     * main thread has exhausted the memory. */
    while (sem_wait(&hd->release) != 0)
        ;
    return NULL;
}

static void holder_start(struct holder *hd, pthread_t *t)
{
    memset(hd, 0, sizeof *hd);
    sem_init(&hd->ready, 0, 0);
    sem_init(&hd->release, 0, 0);
    if (pthread_create(t, NULL, holder_main, hd) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        abort();
    }
    while (sem_wait(&hd->ready) != 0)
        ;
    CHECK_EQ(hd->failed, 0);
}

static void holder_stop(struct holder *hd, pthread_t t)
{
    sem_post(&hd->release);
    pthread_join(t, NULL);
    sem_destroy(&hd->ready);
    sem_destroy(&hd->release);
}

TEST(exhaust_with_pages_on_other_threads_lists)
{
    REQUIRE(kmem_init(NULL) == 0);
    char initial[512];
    buddyinfo(initial, sizeof initial);
    struct holder hd;
    pthread_t t;
    struct handout h;
    handout_init(&h, 16384);

    /* Round 1: single pages. The other thread's lists hold pages of both
     * zones while it waits. */
    holder_start(&hd, &t);
    struct kmem_zone_info dma, normal;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &normal));
    CHECK(dma.pcp_pages > 0);
    CHECK(normal.pcp_pages > 0);
    fprintf(stderr, "  other thread holds %lu DMA and %lu Normal pages on its lists\n",
            dma.pcp_pages, normal.pcp_pages);
    CHECK_EQ(kmem_page_check(), 0);
    /* The main thread still gets every managed page. */
    unsigned long got = exhaust(&h, GFP_ALL, 0);
    CHECK_EQ(got, 16384);
    CHECK_EQ(h.dupes, 0);
    CHECK_EQ(total(f_pcp), 0);
    CHECK_EQ(kmem_page_check(), 0);
    free_all(&h, 0);
    drain_all_pages();
    holder_stop(&hd, t);

    /* Round 2: 4 MiB blocks only. The other thread's order-0..3 blocks must
     * be drained and merged for all 16 order-10 blocks to exist. */
    holder_start(&hd, &t);
    CHECK(total(f_pcp) > 0);
    got = exhaust(&h, GFP_ALL, MAX_PAGE_ORDER);
    CHECK_EQ(got, 16);
    CHECK_EQ(h.dupes, 0);
    CHECK_EQ(total(f_pcp), 0);
    CHECK_EQ(kmem_page_check(), 0);
    free_all(&h, MAX_PAGE_ORDER);
    holder_stop(&hd, t);

    /* Round 3: DMA only, with DMA pages on the other thread's lists (GFP_KERNEL
     * | GFP_DMA: GFP_DMA alone may not reclaim, so it would not drain them). */
    holder_start(&hd, &t);
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    CHECK(dma.pcp_pages > 0);
    got = exhaust(&h, GFP_KERNEL | GFP_DMA | __GFP_MEMALLOC, 0);
    CHECK_EQ(got, 4096);
    CHECK_EQ(h.dupes, 0);
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &dma));
    CHECK_EQ(dma.pcp_pages, 0);
    CHECK_EQ(dma.free_pages, 0);
    CHECK_EQ(kmem_page_check(), 0);
    free_all(&h, 0);
    holder_stop(&hd, t);

    /* Round 4: the holder exits while holding pages: they come back at
     * thread exit, with no drain_all_pages from us (this one empties the
     * main thread's own lists first). */
    drain_all_pages();
    CHECK_EQ(total(f_pcp), 0);
    holder_start(&hd, &t);
    CHECK(total(f_pcp) > 0);
    holder_stop(&hd, t);
    CHECK_EQ(total(f_pcp), 0);
    got = exhaust(&h, GFP_ALL, MAX_PAGE_ORDER);
    CHECK_EQ(got, 16);
    free_all(&h, MAX_PAGE_ORDER);

    CHECK_BACK_TO(initial);
    CHECK_EQ(kmem_page_check(), 0);
    handout_fini(&h);
    kmem_exit();
}

int main(void)
{
    RUN(exhaust_order0_64m);
    RUN(exhaust_order0_256k);
    RUN(exhaust_order0_odd);
    RUN(exhaust_order10);
    RUN(oom_large_order_while_fragmented);
    RUN(oom_order10_one_page_per_block);
    RUN(exhaust_with_pages_on_other_threads_lists);
    return harness_report();
}
