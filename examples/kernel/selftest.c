/* SPDX-License-Identifier: MIT */
/*
 * selftest.c - kmem on the machine's real (emulated) physical memory: each
 * step prints "selftest: NAME ok" or "selftest: NAME FAILED: why".
 *
 *   buddy          the book's example: 21 KB is an order-3 block split off
 *                  a 256 KB one, which leaves one free block each of 128,
 *                  64 and 32 KB right after it; freeing merges them back.
 *   cache_ctor     caches with constructors hand out constructed objects,
 *                  and kmem_cache_check finds nothing wrong.
 *   kmalloc        every class 8 .. 8192 and a large request: ksize, the
 *                  alignment of powers of two, patterns that do not overlap.
 *   fragmentation  order-0 pages with every other one freed stay order-0
 *                  blocks (an order-1 request cannot use them); freeing the
 *                  rest coalesces the zone back exactly.
 *   vmalloc        with every larger block taken and free memory a
 *                  checkerboard, an order-1 request fails yet 4 MiB of
 *                  vmalloc succeeds on scattered frames; its bytes are the
 *                  same through the vmalloc address and the direct map.
 *   stress         a few thousand random operations of every kind, with
 *                  the invariant checkers run periodically.
 *   all_back       every zone has as many free pages as at the start.
 */
#include <kmem.h>

#include "kernel.h"

static int failures;
static const char *step_why; /* the first failure of the running step */

#define EXPECT(cond, why)                                                                          \
    do {                                                                                           \
        if (!(cond) && !step_why)                                                                  \
            step_why = (why);                                                                      \
    } while (0)

static void step_end(const char *name)
{
    if (step_why) {
        kprintf("selftest: %s FAILED: %s\n", name, step_why);
        failures++;
    } else {
        kprintf("selftest: %s ok\n", name);
    }
    step_why = 0;
}

static bool zone(enum kmem_zone_type zt, struct kmem_zone_info *zi)
{
    drain_all_pages(); /* free blocks on per-CPU lists back to the buddy lists */
    return kmem_zone_info(zt, zi);
}

static bool same_free_lists(const struct kmem_zone_info *a, const struct kmem_zone_info *b)
{
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        if (a->nr_free[o] != b->nr_free[o])
            return false;
    return a->free_pages == b->free_pages;
}

/* ---- buddy: the book's 21 KB request -------------------------------------- */

/* Blocks the test holds so that the smallest free block of order >= 3 in
 * zone DMA is a 256 KB one, as in the book. */
static struct page *held[64];
static unsigned int held_order[64], nr_held;

static void hold(struct page *p, unsigned int order)
{
    if (p && nr_held < 64) {
        held[nr_held] = p;
        held_order[nr_held++] = order;
    } else if (p) {
        __free_pages(p, order);
    }
}

static void release_held(void)
{
    while (nr_held) {
        nr_held--;
        __free_pages(held[nr_held], held_order[nr_held]);
    }
}

struct block_query {
    unsigned long pfn;
    unsigned int order;
    bool found_free;
};

static bool find_free_block(void *arg, const struct kmem_block *b)
{
    struct block_query *q = arg;
    if (b->pfn == q->pfn) {
        q->found_free = b->state == KMEM_BLOCK_FREE && b->order == q->order;
        return false;
    }
    return b->pfn < q->pfn; /* the walk is in pfn order: stop past it */
}

static bool free_block_at(unsigned long pfn, unsigned int order)
{
    struct block_query q = {pfn, order, false};
    kmem_page_walk(find_free_block, &q);
    return q.found_free;
}

static void test_buddy(void)
{
    struct kmem_zone_info zi, before, after;
    EXPECT(zone(KMEM_ZONE_DMA, &zi), "no DMA zone");
    for (unsigned int o = 3; o <= 5; o++) /* no smaller candidates than 256 KB */
        for (unsigned long n = zi.nr_free[o]; n; n--)
            hold(alloc_pages(GFP_DMA, o), o);
    zone(KMEM_ZONE_DMA, &zi);
    if (!zi.nr_free[6])
        hold(alloc_pages(GFP_DMA, 6), 6); /* splitting a larger block leaves a 256 KB one */
    zone(KMEM_ZONE_DMA, &before);
    EXPECT(before.nr_free[3] + before.nr_free[4] + before.nr_free[5] == 0 && before.nr_free[6],
           "could not make a 256 KB block the smallest");

    int order = get_order(21 * 1024);
    EXPECT(order == 3, "get_order(21 KB) is not 3");
    struct page *p = alloc_pages(GFP_DMA, (unsigned int)order);
    EXPECT(p, "alloc_pages(GFP_DMA, 3) failed");
    zone(KMEM_ZONE_DMA, &after);
    kprintf("selftest: buddy 21 KB at pfn %lu: free blocks of order 3..6 %lu %lu %lu %lu -> "
            "%lu %lu %lu %lu\n",
            p ? page_to_pfn(p) : 0, before.nr_free[3], before.nr_free[4], before.nr_free[5],
            before.nr_free[6], after.nr_free[3], after.nr_free[4], after.nr_free[5],
            after.nr_free[6]);
    EXPECT(after.nr_free[3] == 1 && after.nr_free[4] == 1 && after.nr_free[5] == 1 &&
               after.nr_free[6] == before.nr_free[6] - 1,
           "the split did not leave one free block each of 32, 64 and 128 KB");
    if (p) {
        unsigned long pfn = page_to_pfn(p);
        EXPECT((pfn & 63) == 0, "the block is not the low end of a 256 KB block (C_L)");
        EXPECT(free_block_at(pfn + 8, 3) && free_block_at(pfn + 16, 4) &&
                   free_block_at(pfn + 32, 5),
               "the buddies D_R, C_R, B_R are not the free blocks after the allocation");
        __free_pages(p, 3);
    }
    zone(KMEM_ZONE_DMA, &after);
    EXPECT(same_free_lists(&before, &after), "the free did not coalesce back to 256 KB");
    release_held();
    EXPECT(kmem_page_check() == 0, "kmem_page_check");
    step_end("buddy");
}

/* ---- caches with constructors ------------------------------------------- */

#define OBJ_MAGIC 0x6b6d656du

struct kobj {
    uint32_t magic;
    uint32_t state; /* 0 constructed and free, 1 in use */
    unsigned char data[112];
};

static unsigned long ctor_calls;

static void kobj_ctor(void *p)
{
    struct kobj *o = p;
    o->magic = OBJ_MAGIC;
    o->state = 0;
    ctor_calls++;
}

static void test_cache_ctor(void)
{
    enum { N = 300 };
    static struct kobj *objs[N];
    struct kmem_cache *c =
        kmem_cache_create("kernel_kobj", sizeof(struct kobj), 0, SLAB_HWCACHE_ALIGN, kobj_ctor);
    EXPECT(c, "kmem_cache_create failed");
    if (!c) {
        step_end("cache_ctor");
        return;
    }
    for (int round = 0; round < 2; round++) { /* the second reuses constructed objects */
        for (int i = 0; i < N; i++) {
            objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
            EXPECT(objs[i], "kmem_cache_alloc failed");
            if (!objs[i])
                continue;
            EXPECT(objs[i]->magic == OBJ_MAGIC && objs[i]->state == 0,
                   "an object came unconstructed");
            EXPECT(((uintptr_t)objs[i] & 63) == 0, "SLAB_HWCACHE_ALIGN object not aligned");
            objs[i]->state = 1;
            objs[i]->data[0] = (unsigned char)i;
        }
        for (int i = 0; i < N; i++)
            EXPECT(!objs[i] || objs[i]->data[0] == (unsigned char)i, "objects overlap");
        struct kmem_cache_info ci;
        kmem_cache_info(c, &ci);
        EXPECT(ci.active_objs >= N, "active_objs is below the objects handed out");
        EXPECT(kmem_cache_check(c) == 0, "kmem_cache_check with objects out");
        for (int i = 0; i < N; i++) {
            if (!objs[i])
                continue;
            objs[i]->state = 0; /* back to the constructed state, as Bonwick asks */
            kmem_cache_free(c, objs[i]);
        }
    }
    kprintf("selftest: cache_ctor %lu constructor calls for %d objects twice\n", ctor_calls, N);
    EXPECT(ctor_calls >= N && ctor_calls < 2 * N, "constructors ran per allocation, not per slab");
    EXPECT(kmem_cache_check(c) == 0, "kmem_cache_check after the frees");
    kmem_cache_shrink(c);
    kmem_cache_destroy(c);
    step_end("cache_ctor");
}

/* ---- kmalloc ---------------------------------------------------------------- */

static unsigned char pattern(uintptr_t seed, size_t i)
{
    return (unsigned char)((seed >> 4) * 31 + i * 7 + 1);
}

static void fill(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern((uintptr_t)p, i);
}

static bool intact(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern((uintptr_t)p, i))
            return false;
    return true;
}

static void test_kmalloc(void)
{
    static const size_t sizes[] = {8,    16,   32, 64, 96,  128,  192,  256,  512,  1024,  2048,
                                   4096, 8192, 1,  24, 100, 1000, 5000, 8191, 8193, 65536, 300000};
    enum { NS = sizeof sizes / sizeof sizes[0], PER = 8 };
    static unsigned char *p[NS][PER];
    for (int s = 0; s < NS; s++) {
        for (int k = 0; k < PER; k++) {
            p[s][k] = kmalloc(sizes[s], GFP_KERNEL);
            EXPECT(p[s][k], "kmalloc failed");
            if (!p[s][k])
                continue;
            size_t n = sizes[s];
            EXPECT(ksize(p[s][k]) >= n, "ksize below the size asked for");
            if ((n & (n - 1)) == 0)
                EXPECT(((uintptr_t)p[s][k] & ((n < 4096 ? n : 4096) - 1)) == 0,
                       "a power-of-two size is not naturally aligned");
            fill(p[s][k], n);
        }
    }
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < PER; k++)
            EXPECT(!p[s][k] || intact(p[s][k], sizes[s]), "kmalloc blocks overlap");
    for (int s = 0; s < NS; s++)
        for (int k = 0; k < PER; k++)
            kfree(p[s][k]);
    EXPECT(kmem_page_check() == 0, "kmem_page_check");
    step_end("kmalloc");
}

/* ---- fragmentation ------------------------------------------------------- */

enum { FRAG_MAX = 16384 };
static struct page *frag[FRAG_MAX];

/* Free the pages of frag[0 .. n) with an even pfn: their buddies (odd pfns)
 * stay allocated, so each becomes a free block of order 0. */
static unsigned long free_even(unsigned long n)
{
    unsigned long freed = 0;
    for (unsigned long i = 0; i < n; i++) {
        if (frag[i] && !(page_to_pfn(frag[i]) & 1)) {
            __free_page(frag[i]);
            frag[i] = 0;
            freed++;
        }
    }
    return freed;
}

static void free_all_frag(unsigned long n)
{
    for (unsigned long i = 0; i < n; i++)
        if (frag[i])
            __free_page(frag[i]), frag[i] = 0;
}

static void test_fragmentation(void)
{
    struct kmem_zone_info start, mid, end;
    zone(KMEM_ZONE_DMA, &start);
    /* Half the zone at most, so that the order-1 request below still finds
     * blocks the checkerboard did not touch. */
    unsigned long N = start.free_pages / 2 < 1024 ? start.free_pages / 2 : 1024;
    unsigned long got = 0;
    for (; got < N; got++)
        if (!(frag[got] = alloc_pages(GFP_DMA, 0)))
            break;
    EXPECT(got == N, "could not allocate the order-0 pages");
    unsigned long freed = free_even(got);
    zone(KMEM_ZONE_DMA, &mid);
    kprintf("selftest: fragmentation freed %lu of %lu pages: DMA free %lu, order-0 blocks %lu "
            "-> %lu\n",
            freed, got, mid.free_pages, start.nr_free[0], mid.nr_free[0]);
    /* A freed page merges only with a buddy that was already free: at most
     * one per order-0 block there was (each merge takes both away). */
    EXPECT(mid.nr_free[0] + start.nr_free[0] >= freed,
           "the freed pages did not stay order-0 blocks");
    struct page *pair = alloc_pages(GFP_DMA, 1);
    EXPECT(pair, "an order-1 request failed while larger blocks remain");
    for (unsigned long i = 0; pair && i < got; i++) {
        unsigned long d = frag[i] ? page_to_pfn(frag[i]) : ~0ul;
        EXPECT(d != page_to_pfn(pair) && d != page_to_pfn(pair) + 1,
               "an order-1 block overlaps a page still allocated");
    }
    if (pair)
        __free_pages(pair, 1);
    free_all_frag(got);
    zone(KMEM_ZONE_DMA, &end);
    EXPECT(same_free_lists(&start, &end), "the zone's free blocks did not coalesce back");
    EXPECT(kmem_page_check() == 0, "kmem_page_check");
    step_end("fragmentation");
}

static struct kmem_cache *caches[256];
static unsigned int nr_caches;

static bool collect_cache(void *arg, struct kmem_cache *c)
{
    (void)arg;
    if (nr_caches < 256)
        caches[nr_caches++] = c;
    return true;
}

/* Give every cache's empty slabs back (outside the walk, which may not
 * free), then the per-CPU lists: what remains allocated is live objects. */
static void shrink_everything(void)
{
    /* Shrinking one cache frees objects of others (magazines, off-slab
     * headers): repeat, last cache first, until nothing more comes back. */
    unsigned long before;
    do {
        before = slab_pages();
        nr_caches = 0;
        kmem_cache_walk(collect_cache, 0);
        for (unsigned int i = nr_caches; i-- > 0;)
            kmem_cache_shrink(caches[i]);
    } while (slab_pages() < before);
    drain_all_pages();
}

/* ---- vmalloc on scattered frames ---------------------------------------------- */

enum { BIG_MAX = 8192 };
static struct page *big[BIG_MAX];
static unsigned int big_order[BIG_MAX];
static unsigned long nr_big;

/* Take every free block from every zone (the reserves and the per-CPU
 * lists too), largest first: afterwards the only free frames will be those
 * the test frees itself, each with its buddy still allocated. */
static void take_all_free_blocks(void)
{
    const gfp_t gfp = GFP_KERNEL | __GFP_MEMALLOC | __GFP_NORETRY | __GFP_NOWARN;
    drain_all_pages();
    for (int o = MAX_PAGE_ORDER; o >= 0; o--) {
        struct page *p;
        while (nr_big < BIG_MAX && (p = alloc_pages(gfp, (unsigned int)o))) {
            big[nr_big] = p;
            big_order[nr_big++] = (unsigned int)o;
        }
    }
}

static void free_large_blocks(void)
{
    while (nr_big) {
        nr_big--;
        __free_pages(big[nr_big], big_order[nr_big]);
    }
}

/* Write through the vmalloc address, read back through the direct map of
 * each page's frame; count the runs of contiguous frames. */
static unsigned long check_vmalloc_area(unsigned char *v, unsigned long pages)
{
    unsigned long runs = 0, prev = ~0ul;
    for (unsigned long i = 0; i < pages; i++)
        fill(v + i * PAGE_SIZE, 64);
    for (unsigned long i = 0; i < pages; i++) {
        struct page *pg = vmalloc_to_page(v + i * PAGE_SIZE);
        EXPECT(pg, "vmalloc_to_page found no page");
        if (!pg)
            continue;
        const unsigned char *d = page_address(pg);
        for (size_t k = 0; k < 64; k++)
            EXPECT(d[k] == pattern((uintptr_t)(v + i * PAGE_SIZE), k),
                   "the direct map does not show what the vmalloc address wrote");
        unsigned long pfn = page_to_pfn(pg);
        runs += pfn != prev + 1;
        prev = pfn;
    }
    return runs;
}

static void test_vmalloc(void)
{
    const unsigned long bytes = 4ul << 20, pages = bytes / PAGE_SIZE;
    /* Warm up vmalloc's own metadata caches while memory is plentiful. */
    void *warm = vmalloc(bytes);
    EXPECT(warm, "vmalloc(4 MiB) failed on a fresh machine");
    vfree(warm);

    enum kmem_zone_type kz = kmem_zone_info(KMEM_ZONE_NORMAL, &(struct kmem_zone_info){0})
                                 ? KMEM_ZONE_NORMAL
                                 : KMEM_ZONE_DMA;
    struct kmem_zone_info zi;
    shrink_everything(); /* compare free pages without the caches' empty slabs */
    zone(kz, &zi);
    /* Enough order-0 pages that half of them, freed, keep the zone above its
     * high watermark with the 4 MiB taken. */
    unsigned long want = 2 * (zi.watermark_high + pages + 512);
    if (want > FRAG_MAX)
        want = FRAG_MAX;
    unsigned long got = 0;
    for (; got < want; got++)
        if (!(frag[got] = alloc_pages(GFP_KERNEL, 0)))
            break;
    take_all_free_blocks();
    unsigned long freed = free_even(got);
    struct kmem_zone_info fz;
    zone(kz, &fz);
    struct page *pair = alloc_pages(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN, 1);
    kprintf("selftest: vmalloc checkerboard: %lu large blocks held, %lu pages freed, zone %s "
            "free %lu, order-1 request %s\n",
            nr_big, freed, fz.name, fz.free_pages, pair ? "succeeded" : "failed");
    EXPECT(!pair, "an order-1 request succeeded on a checkerboard of free frames");
    if (pair)
        __free_pages(pair, 1);

    unsigned char *v = vmalloc(bytes);
    EXPECT(v, "vmalloc(4 MiB) failed on scattered frames");
    if (v) {
        unsigned long runs = check_vmalloc_area(v, pages);
        kprintf("selftest: vmalloc 4 MiB at %p: %lu pages in %lu runs of contiguous frames\n",
                (void *)v, pages, runs);
        EXPECT(runs >= pages / 2, "the frames are not scattered");
        EXPECT(kmem_vmalloc_check() == 0, "kmem_vmalloc_check");
        vfree(v);
    }
    free_large_blocks();
    free_all_frag(got);
    shrink_everything();
    struct kmem_zone_info end;
    zone(kz, &end);
    EXPECT(end.free_pages == zi.free_pages, "pages went missing");
    EXPECT(kmem_page_check() == 0, "kmem_page_check");
    step_end("vmalloc");
}

/* ---- randomized stress ---------------------------------------------------------- */

enum kind { FREE_SLOT, PAGES, KMALLOC, CACHE, VMALLOC };

struct slot {
    enum kind kind;
    unsigned char *p;
    size_t bytes; /* pattern bytes written at p */
    unsigned int order;
    struct page *page;
};

static uint64_t rng = 0x2545f4914f6cdd1dul;

static uint64_t xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static struct kmem_cache *stress_cache;

static void slot_alloc(struct slot *s)
{
    unsigned int r = (unsigned int)(xorshift() % 100);
    if (r < 30) {
        s->order = (unsigned int)(xorshift() % 5);
        s->page = alloc_pages(GFP_KERNEL, s->order);
        s->kind = PAGES;
        s->p = s->page ? page_address(s->page) : 0;
        s->bytes = 256;
    } else if (r < 70) {
        s->bytes = 1 + (size_t)(xorshift() % (xorshift() & 1 ? 256 : 12000));
        s->kind = KMALLOC;
        s->p = kmalloc(s->bytes, GFP_KERNEL);
    } else if (r < 95) {
        s->kind = CACHE;
        s->p = kmem_cache_alloc(stress_cache, GFP_KERNEL);
        s->bytes = sizeof(struct kobj) - 8;
        if (s->p)
            EXPECT(((struct kobj *)s->p)->magic == OBJ_MAGIC, "stress: unconstructed object");
        if (s->p)
            s->p += 8; /* keep the constructed header intact */
    } else {
        s->kind = VMALLOC;
        s->bytes = (1 + xorshift() % 64) * PAGE_SIZE;
        s->p = vmalloc(s->bytes);
    }
    if (!s->p) {
        EXPECT(false, "stress: an allocation failed");
        s->kind = FREE_SLOT;
        return;
    }
    fill(s->p, s->kind == VMALLOC ? 512 : s->bytes);
}

static void slot_free(struct slot *s)
{
    EXPECT(intact(s->p, s->kind == VMALLOC ? 512 : s->bytes), "stress: memory was overwritten");
    switch (s->kind) {
    case PAGES:
        __free_pages(s->page, s->order);
        break;
    case KMALLOC:
        kfree(s->p);
        break;
    case CACHE:
        kmem_cache_free(stress_cache, s->p - 8);
        break;
    case VMALLOC:
        vfree(s->p);
        break;
    case FREE_SLOT:
        break;
    }
    s->kind = FREE_SLOT;
}

static void stress_check(void)
{
    EXPECT(kmem_page_check() == 0, "stress: kmem_page_check");
    EXPECT(kmem_cache_check(stress_cache) == 0, "stress: kmem_cache_check");
    EXPECT(kmem_vmalloc_check() == 0, "stress: kmem_vmalloc_check");
}

static void test_stress(void)
{
    enum { SLOTS = 128, OPS = 4000, CHECK_EVERY = 1000 };
    static struct slot slots[SLOTS];
    stress_cache = kmem_cache_create("kernel_stress", sizeof(struct kobj), 0, 0, kobj_ctor);
    EXPECT(stress_cache, "kmem_cache_create failed");
    if (!stress_cache) {
        step_end("stress");
        return;
    }
    unsigned int vmallocs = 0;
    for (int op = 1; op <= OPS; op++) {
        struct slot *s = &slots[xorshift() % SLOTS];
        if (s->kind != FREE_SLOT) {
            vmallocs -= s->kind == VMALLOC;
            slot_free(s);
        } else {
            slot_alloc(s);
            vmallocs += s->kind == VMALLOC;
        }
        if (op % CHECK_EVERY == 0)
            stress_check();
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].kind != FREE_SLOT)
            slot_free(&slots[i]);
    stress_check();
    (void)vmallocs;
    kmem_cache_destroy(stress_cache);
    step_end("stress");
}

/* ---- everything back --------------------------------------------------------- */

static unsigned long start_free[KMEM_NR_ZONES];

static void record_start(void)
{
    shrink_everything();
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        start_free[zt] = kmem_zone_info((enum kmem_zone_type)zt, &zi) ? zi.free_pages : 0;
    }
}

static void test_all_back(void)
{
    shrink_everything();
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        unsigned long now = kmem_zone_info((enum kmem_zone_type)zt, &zi) ? zi.free_pages : 0;
        kprintf("selftest: all_back zone %d free %lu at the start, %lu now\n", zt, start_free[zt],
                now);
        EXPECT(now == start_free[zt], "a zone has fewer (or more) free pages than at the start");
    }
    EXPECT(kmem_page_check() == 0, "kmem_page_check");
    step_end("all_back");
}

int selftest_run(void)
{
    record_start();
    test_buddy();
    test_cache_ctor();
    test_kmalloc();
    test_fragmentation();
    test_vmalloc();
    test_stress();
    test_all_back();
    kprintf("selftest: %d failed\n", failures);
    return failures;
}
