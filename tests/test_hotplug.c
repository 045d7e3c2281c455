/* SPDX-License-Identifier: MIT */
/*
 * test_hotplug.c - memory added to a running machine (kmem_memory_add) and
 * the grow handler the page allocator asks first.
 *
 *   hotplug_add          a machine booted with 32 MiB of a 256 MiB space:
 *                        sections appended at the end become free blocks,
 *                        the zone grows, the checkers stay clean, every page
 *                        can be allocated and freed.
 *   hotplug_bad_ranges   below the last frame, beyond the limit, empty,
 *                        wrapping: -EINVAL, nothing changed.
 *   hotplug_grow_handler alloc_pages past the end of memory calls the
 *                        handler, which adds a section; GFP_NOWAIT does not
 *                        call it; a handler that refuses gives NULL.
 *   hotplug_threads      two threads allocate while a third adds sections.
 *   discard_hysteresis   free 4 MiB blocks beyond the slack go to the discard
 *                        handler (oldest first), down to half the mark; a
 *                        free/alloc cycle of a few blocks discards nothing;
 *                        backed blocks are handed out before discarded ones.
 *   discard_scattered    with live pages scattered over the heap, their free
 *                        neighbours of 64 KiB and more are given back.
 */
#include "harness.h"
#include "pages_util.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include <kmem.h>
#include <kmem/platform.h>

#define MiB (1UL << 20)
enum { SPACE = 256 * MiB, BOOT = 32 * MiB };

static char *direct;
static void *memmap;

static bool boot_machine(void)
{
    size_t align = PAGE_SIZE << MAX_PAGE_ORDER;
    char *raw = mmap(NULL, SPACE + align, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    memmap = mmap(NULL, kmem_memmap_bytes(SPACE), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED || memmap == MAP_FAILED)
        return false;
    direct = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    struct kmem_region ram = {.base = 0, .size = BOOT};
    struct kmem_machine_desc desc = {
        .direct_map = direct, .ram = &ram, .nr_ram = 1, .memmap = memmap, .phys_limit = SPACE};
    return kmem_boot(&desc) == 0;
}

/* Allocate order-0 pages until none is left (__GFP_MEMALLOC: the reserve
 * too, and no reclaim); returns how many, freed again. */
static unsigned long drain_count(void)
{
    enum { MAX = 70000 };
    static struct page *held[MAX];
    unsigned long n = 0;
    while (n < MAX && (held[n] = alloc_pages(__GFP_MEMALLOC, 0)) != NULL) {
        ((char *)page_address(held[n]))[0] = 1;
        n++;
    }
    for (unsigned long i = 0; i < n; i++)
        __free_pages(held[i], 0);
    return n;
}

TEST(hotplug_add)
{
    REQUIRE(boot_machine());
    CHECK_EQ(test_managed_pages(), BOOT / PAGE_SIZE);
    CHECK_EQ(kmem_memory_add(BOOT, 32 * MiB), 0);
    CHECK_EQ(kmem_memory_add(64 * MiB, 6 * MiB + 4096), 0); /* not a whole block */
    CHECK_EQ(test_managed_pages(), (70 * MiB + 4096) / PAGE_SIZE);
    CHECK_EQ(kmem_page_check(), 0);
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    CHECK_EQ(zi.end_pfn, (70 * MiB + 4096) / PAGE_SIZE);
    /* The new memory is usable: more pages than the boot memory had. */
    CHECK(drain_count() > BOOT / PAGE_SIZE);
    /* A block straddling the old end merges: an order-10 block at 28 MiB. */
    struct page *big = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    CHECK(big != NULL);
    if (big)
        __free_pages(big, MAX_PAGE_ORDER);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_shutdown();
}

TEST(hotplug_bad_ranges)
{
    REQUIRE(boot_machine());
    unsigned long before = test_managed_pages();
    CHECK_EQ(kmem_memory_add(BOOT - PAGE_SIZE, 8 * MiB), -22); /* overlaps */
    CHECK_EQ(kmem_memory_add(SPACE - 4 * MiB, 8 * MiB), -22);  /* beyond the limit */
    CHECK_EQ(kmem_memory_add(BOOT, 0), -22);
    CHECK_EQ(kmem_memory_add(BOOT + 100, 4000), -22); /* no whole page */
    CHECK_EQ(kmem_memory_add(~(phys_addr_t)0 - 4096, 8192), -22);
    CHECK_EQ(test_managed_pages(), before);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_shutdown();
    CHECK_EQ(kmem_memory_add(BOOT, 8 * MiB), -19); /* not up */
}

static int grow_calls;
static unsigned long grow_next = BOOT;

static bool grow_section(unsigned long pages)
{
    grow_calls++;
    (void)pages;
    if (grow_next + 16 * MiB > SPACE)
        return false;
    if (kmem_memory_add(grow_next, 16 * MiB) != 0)
        return false;
    grow_next += 16 * MiB;
    return true;
}

static bool grow_refuse(unsigned long pages)
{
    (void)pages;
    grow_calls++;
    return false;
}

TEST(hotplug_grow_handler)
{
    REQUIRE(boot_machine());
    grow_calls = 0;
    grow_next = BOOT;
    CHECK(kmem_set_grow_handler(grow_section) == NULL);
    /* Fill the boot memory with GFP_KERNEL blocks: the handler is asked for
     * more instead of a failure. */
    enum { N = 2000 };
    static struct page *held[N];
    for (int i = 0; i < N; i++) {
        held[i] = alloc_pages(GFP_KERNEL, 4); /* 64 KiB: 125 MiB in all */
        REQUIRE(held[i] != NULL);
    }
    CHECK(grow_calls >= 5);
    CHECK(test_managed_pages() > (125 * MiB) / PAGE_SIZE);
    int calls = grow_calls;
    /* Requests that may not sleep do not ask. */
    while (alloc_pages(GFP_NOWAIT, 4) != NULL) {
    }
    CHECK_EQ(grow_calls, calls);
    CHECK(kmem_set_grow_handler(grow_refuse) == grow_section);
    struct page *p;
    unsigned long more = 0;
    static struct page *rest[70000];
    while (more < 70000 && (p = alloc_pages(GFP_KERNEL | __GFP_NORETRY, 0)) != NULL)
        rest[more++] = p;
    CHECK(grow_calls > calls);
    for (unsigned long i = 0; i < more; i++)
        __free_pages(rest[i], 0);
    for (int i = 0; i < N; i++)
        __free_pages(held[i], 4);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_set_grow_handler(NULL);
    kmem_shutdown();
}

static volatile int stop;

static void *churn(void *arg)
{
    (void)arg;
    enum { K = 512 };
    struct page *mine[K] = {0};
    unsigned long rng = (unsigned long)(uintptr_t)&mine;
    for (int it = 0; it < 200000 && !__atomic_load_n(&stop, __ATOMIC_RELAXED); it++) {
        rng = rng * 6364136223846793005UL + 1442695040888963407UL;
        unsigned int i = (unsigned int)(rng >> 33) % K;
        if (mine[i]) {
            __free_pages(mine[i], 0);
            mine[i] = NULL;
        } else {
            mine[i] = alloc_pages(GFP_KERNEL, 0);
        }
    }
    for (int i = 0; i < K; i++)
        if (mine[i])
            __free_pages(mine[i], 0);
    return NULL;
}

TEST(hotplug_threads)
{
    REQUIRE(boot_machine());
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (unsigned long at = BOOT; at + 8 * MiB <= SPACE; at += 8 * MiB)
        CHECK_EQ(kmem_memory_add(at, 8 * MiB), 0);
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(test_managed_pages(), SPACE / PAGE_SIZE);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_shutdown();
}

static unsigned long discards;
static size_t discarded_bytes;
static phys_addr_t last_discard;
enum { DISCARD_ORDER_MIN = 4 }; /* 64 KiB: smaller free blocks are never discarded */

static void count_discard(phys_addr_t phys, size_t bytes)
{
    discards++;
    last_discard = phys;
    discarded_bytes += bytes;
    CHECK(bytes >= PAGE_SIZE << DISCARD_ORDER_MIN && (bytes & (bytes - 1)) == 0);
    CHECK_EQ(phys % bytes, 0);
    memset(direct + phys, 0x5a, bytes); /* contents need not survive */
}

static unsigned long discarded(void)
{
    struct kmem_zone_info zi;
    return kmem_zone_info(KMEM_ZONE_NORMAL, &zi) ? zi.discarded_pages : 0;
}

TEST(discard_hysteresis)
{
    REQUIRE(boot_machine());
    REQUIRE(kmem_memory_add(BOOT, SPACE - BOOT) == 0);
    discards = 0;
    kmem_set_discard_handler(count_discard);
    /* Everything is untouched so far: all of it counts as not backed. */
    unsigned long all_clean = discarded();
    CHECK(all_clean > (SPACE - 32 * MiB) / PAGE_SIZE);
    enum { N = 48 };
    struct page *blk[N];
    for (int i = 0; i < N; i++)
        REQUIRE((blk[i] = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER)) != NULL);
    /* Two blocks out and back, many times: within the slack, no discard. */
    for (int r = 0; r < 100; r++) {
        __free_pages(blk[0], MAX_PAGE_ORDER);
        __free_pages(blk[1], MAX_PAGE_ORDER);
        blk[0] = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
        blk[1] = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
        REQUIRE(blk[0] && blk[1]);
    }
    CHECK_EQ(discards, 0);
    /* Free all 48: the backed free blocks pass the mark (4: little is in
     * use), and the oldest are discarded down to 2 backed ones. */
    for (int i = 0; i < N; i++)
        __free_pages(blk[i], MAX_PAGE_ORDER);
    CHECK(discards >= N - 4);
    CHECK(discards <= N);
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    CHECK(zi.nr_free[MAX_PAGE_ORDER] - zi.discarded_pages / (1UL << MAX_PAGE_ORDER) <= 4);
    CHECK_EQ(kmem_page_check(), 0);
    /* The backed ones come first: the next block is not one just discarded. */
    struct page *again = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    REQUIRE(again != NULL);
    CHECK(((phys_addr_t)page_to_pfn(again) << PAGE_SHIFT) != last_discard);
    __free_pages(again, MAX_PAGE_ORDER);
    CHECK(drain_count() > (SPACE - 32 * MiB) / PAGE_SIZE); /* all still usable */
    CHECK_EQ(kmem_page_check(), 0);
    kmem_shutdown();
}

/* Live pages scattered over the whole heap (one page kept in every 128 KiB)
 * leave no free 4 MiB block, but their free neighbours of 64 KiB and more
 * are given back, down to the slack; what is left works as before. */
TEST(discard_scattered)
{
    REQUIRE(boot_machine());
    REQUIRE(kmem_memory_add(BOOT, SPACE - BOOT) == 0);
    discards = 0;
    discarded_bytes = 0;
    kmem_set_discard_handler(count_discard);
    enum { N = (128 * MiB) / PAGE_SIZE, STRIDE = 32 };
    static struct page *pg[N];
    for (int i = 0; i < N; i++) {
        REQUIRE((pg[i] = alloc_pages(GFP_KERNEL, 0)) != NULL);
        memset(page_address(pg[i]), 1, PAGE_SIZE); /* backed now */
    }
    for (int i = 0; i < N; i++)
        if (page_to_pfn(pg[i]) % STRIDE != 0) {
            __free_pages(pg[i], 0);
            pg[i] = NULL;
        }
    drain_all_pages();
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    printf("  %lu discards, %zu MiB given back; 4 MiB blocks free: %lu\n", discards,
           discarded_bytes >> 20, zi.nr_free[MAX_PAGE_ORDER]);
    CHECK(discards > 0);
    /* Of every 128 KiB, the kept page leaves free blocks of 4, 8, 16, 32 and
     * 64 KiB: the 64 KiB one (64 MiB in all) is given back, all but the
     * slack (at most a sixteenth of the memory in use, or 4 MiB). */
    size_t eligible = (size_t)(N / STRIDE) * (STRIDE - 16) * PAGE_SIZE;
    CHECK(discarded_bytes >= eligible - 16 * MiB);
    CHECK(discarded_bytes <= eligible);
    CHECK_EQ(kmem_page_check(), 0);
    for (int i = 0; i < N; i++)
        if (pg[i])
            __free_pages(pg[i], 0);
    CHECK(drain_count() > (SPACE - 32 * MiB) / PAGE_SIZE); /* all still usable */
    CHECK_EQ(kmem_page_check(), 0);
    kmem_shutdown();
}

int main(void)
{
    RUN(hotplug_add);
    RUN(hotplug_bad_ranges);
    RUN(hotplug_grow_handler);
    RUN(hotplug_threads);
    RUN(discard_hysteresis);
    RUN(discard_scattered);
    return harness_report();
}
