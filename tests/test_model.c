/* SPDX-License-Identifier: MIT */
/*
 * test_model.c - randomized model test of the page allocator.
 *
 * A reference model (the live blocks: pfn, order or exact size, interface,
 * pattern seed, and a bitmap of allocated pfns) runs next to kmem through a
 * long random sequence of allocations and frees:
 *   - alloc_pages / __get_free_pages / alloc_pages_exact, orders 0..10
 *     weighted toward small ones, GFP_KERNEL mostly, some GFP_DMA and
 *     GFP_ATOMIC, some __GFP_ZERO;
 *   - frees of a random live block by page, by address, with
 *     free_pages_exact or page by page for exact allocations;
 *   - now and then drain_all_pages.
 * Checked on every step: a new block is naturally aligned, lies in the
 * machine and in one zone (GFP_DMA: in DMA), overlaps no live block, is zero
 * when asked, and comes from Normal when Normal had a block big enough
 * (sampled). Every block is filled with a pattern derived from its pfn and
 * seed and verified before it is freed (an overlap or a stray write shows).
 * A failed allocation must mean that no zone it may use had a free block of
 * that order or more above the request's watermark (GFP_KERNEL: min,
 * GFP_ATOMIC: 3/8 of it), and, for a request that may reclaim, that no page
 * was left on per-CPU lists (they are drained before failing). Every 1000 steps each zone's
 * allocated pages (managed - free - pcp) equal the model's; every 20000 steps kmem_page_check() ==
 * 0 and every live block's pattern is verified. At the end everything is freed and, after
 * drain_all_pages, buddyinfo must read exactly as right after kmem_init.
 *
 * KMEM_TEST_OPS=n sets the number of operations (default 1,000,000 over all
 * seeds and machines); KMEM_TEST_SEED=s runs one seed only (as printed on a
 * failure).
 */
#include "harness.h"

#include <kmem.h>

#include "core/page_frame.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
/* Single-threaded, so ThreadSanitizer learns little from a long run. */
#define DEFAULT_OPS (UNDER_TSAN ? 250000UL : 1000000UL)

enum kind { K_PAGES, K_ADDR, K_EXACT };

struct blk {
    unsigned long pfn;
    unsigned long npages; /* pages the caller owns */
    size_t size;          /* K_EXACT: the size asked for */
    uint64_t seed;        /* pattern seed */
    uint8_t order;        /* K_PAGES, K_ADDR: the block's order */
    uint8_t kind;
};

struct model {
    uint64_t seed; /* of this run: printed on failure */
    size_t mem_size;
    uint64_t rng;
    unsigned long op;
    unsigned long nr_pfns;
    unsigned long dma_end; /* first pfn of Normal */
    bool has_normal;
    unsigned long managed[KMEM_NR_ZONES];
    unsigned long allocated[KMEM_NR_ZONES]; /* pages, per zone */
    struct blk *blks;
    unsigned long nblks;
    uint8_t *used;         /* per pfn: allocated to a live block */
    unsigned int pressure; /* per mille of operations that allocate */
    bool broken;
    /* statistics */
    unsigned long n_alloc, n_fail, n_free, n_exact, n_zero, n_drain, n_pref;
};

static void model_fail_begin(struct model *m, const char *file, int line)
{
    fprintf(stderr, "%s:%d: model failure (seed %#llx, mem_size %zu, op %lu): ", file, line,
            (unsigned long long)m->seed, m->mem_size, m->op);
}

static void model_fail_end(struct model *m)
{
    fprintf(stderr, "\n");
    harness_checks_failed++;
    m->broken = true;
}

#define MFAIL(m, ...)                                                                              \
    do {                                                                                           \
        model_fail_begin((m), __FILE__, __LINE__);                                                 \
        fprintf(stderr, __VA_ARGS__);                                                              \
        model_fail_end(m);                                                                         \
    } while (0)

#define MCHECK(m, cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            model_fail_begin((m), __FILE__, __LINE__);                                             \
            fprintf(stderr, "%s: ", #cond);                                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            model_fail_end(m);                                                                     \
        }                                                                                          \
    } while (0)

static inline uint64_t rnd(struct model *m)
{
    return harness_rand(&m->rng);
}

static inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t *page_words(unsigned long pfn)
{
    return (uint64_t *)phys_to_virt((phys_addr_t)pfn << PAGE_SHIFT);
}

static inline unsigned zone_of(const struct model *m, unsigned long pfn)
{
    return pfn < m->dma_end ? KMEM_ZONE_DMA : KMEM_ZONE_NORMAL;
}

enum { WORDS = PAGE_SIZE / sizeof(uint64_t), FULL_PAGES = 8, ZERO_FULL_PAGES = 16 };

/* The pattern: small blocks are filled whole; larger ones get three words
 * per page (first, last, and one that depends on the page). */
static inline uint64_t page_base(uint64_t seed, unsigned long pfn)
{
    return mix(seed ^ (pfn * 0x100000001b3ULL));
}

static void fill_block(const struct blk *b)
{
    for (unsigned long p = b->pfn; p < b->pfn + b->npages; p++) {
        uint64_t *w = page_words(p);
        uint64_t base = page_base(b->seed, p);
        if (b->npages <= FULL_PAGES) {
            for (unsigned i = 0; i < WORDS; i++)
                w[i] = base + i;
        } else {
            w[0] = base;
            w[WORDS - 1] = base + WORDS - 1;
            unsigned mid = 1 + (unsigned)(base % (WORDS - 2));
            w[mid] = base + mid;
        }
    }
}

static bool check_block(struct model *m, const struct blk *b, const char *when)
{
    for (unsigned long p = b->pfn; p < b->pfn + b->npages; p++) {
        const uint64_t *w = page_words(p);
        uint64_t base = page_base(b->seed, p);
        unsigned bad = WORDS;
        if (b->npages <= FULL_PAGES) {
            for (unsigned i = 0; i < WORDS && bad == WORDS; i++)
                if (w[i] != base + i)
                    bad = i;
        } else {
            unsigned mid = 1 + (unsigned)(base % (WORDS - 2));
            if (w[0] != base)
                bad = 0;
            else if (w[WORDS - 1] != base + WORDS - 1)
                bad = WORDS - 1;
            else if (w[mid] != base + mid)
                bad = mid;
        }
        if (bad != WORDS) {
            MFAIL(m,
                  "%s: block pfn %lu (%lu pages, kind %u) overwritten: page %lu word %u is %#llx, "
                  "expected %#llx",
                  when, b->pfn, b->npages, b->kind, p, bad, (unsigned long long)w[bad],
                  (unsigned long long)(base + bad));
            return false;
        }
    }
    return true;
}

static bool check_zero(struct model *m, unsigned long pfn, unsigned long npages)
{
    for (unsigned long p = pfn; p < pfn + npages; p++) {
        const uint64_t *w = page_words(p);
        if (npages <= ZERO_FULL_PAGES) {
            for (unsigned i = 0; i < WORDS; i++)
                if (w[i]) {
                    MFAIL(m, "__GFP_ZERO block pfn %lu: page %lu word %u is %#llx", pfn, p, i,
                          (unsigned long long)w[i]);
                    return false;
                }
        } else if (w[0] || w[WORDS / 2] || w[WORDS - 1]) {
            MFAIL(m, "__GFP_ZERO block pfn %lu: page %lu is not zero", pfn, p);
            return false;
        }
    }
    return true;
}

static unsigned pick_order(struct model *m)
{
    unsigned r = (unsigned)(rnd(m) % 100);
    static const unsigned char cumulative[NR_PAGE_ORDERS] = {40, 60, 72, 82, 88, 92,
                                                             95, 97, 98, 99, 100};
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++)
        if (r < cumulative[o])
            return o;
    return 0;
}

/* The free pages a request must leave in a zone (the allocator's watermark
 * rule, restated: watermark.c): none with __GFP_MEMALLOC; min, half of it
 * for __GFP_HIGH, 3/8 of it for __GFP_HIGH without reclaim (GFP_ATOMIC);
 * plus the zone's protection against requests that prefer a higher zone. */
static unsigned long request_mark(const struct kmem_zone_info *zi, gfp_t gfp, unsigned preferred)
{
    if ((gfp & (__GFP_MEMALLOC | __GFP_NOMEMALLOC)) == __GFP_MEMALLOC)
        return 0;
    unsigned long min = zi->watermark_min;
    if (gfp & __GFP_HIGH) {
        min -= min / 2;
        if (!(gfp & __GFP_DIRECT_RECLAIM))
            min -= min / 4;
    }
    return min + zi->lowmem_reserve[preferred];
}

/* After a failed allocation of this order: in every zone the request may
 * use, either no free block of this order or more was left, or taking one
 * would have gone below the request's watermark. A request that may reclaim
 * drains the per-CPU lists before it fails, so none may hold pages. */
static void check_failure(struct model *m, gfp_t gfp, unsigned order)
{
    m->n_fail++;
    unsigned preferred = (gfp & __GFP_DMA) || !m->has_normal ? KMEM_ZONE_DMA : KMEM_ZONE_NORMAL;
    for (unsigned zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)zt, &zi))
            continue;
        if (gfp & __GFP_DIRECT_RECLAIM)
            MCHECK(m, zi.pcp_pages == 0,
                   "zone %s holds %lu per-CPU pages after a failed order-%u request", zi.name,
                   zi.pcp_pages, order);
        bool usable = zt == KMEM_ZONE_DMA || !(gfp & __GFP_DMA);
        if (!usable)
            continue;
        unsigned long mark = request_mark(&zi, gfp, preferred);
        unsigned long need = 1UL << order;
        if (zi.free_pages < need || zi.free_pages - (need - 1) <= mark)
            continue; /* the watermark said no */
        for (unsigned o = order; o < NR_PAGE_ORDERS; o++)
            MCHECK(m, zi.nr_free[o] == 0,
                   "order-%u request (gfp %#x) failed while zone %s has %lu free blocks of "
                   "order %u and %lu free pages (mark %lu)",
                   order, gfp, zi.name, zi.nr_free[o], o, zi.free_pages, mark);
    }
}

/* Could Normal serve this request: a block of the order or more, above the
 * request's watermark? */
static bool normal_has_block(unsigned order, gfp_t gfp)
{
    struct kmem_zone_info zi;
    if (!kmem_zone_info(KMEM_ZONE_NORMAL, &zi))
        return false;
    unsigned long mark = request_mark(&zi, gfp, KMEM_ZONE_NORMAL);
    if (zi.free_pages < (1UL << order) || zi.free_pages - ((1UL << order) - 1) <= mark)
        return false;
    for (unsigned o = order; o < NR_PAGE_ORDERS; o++)
        if (zi.nr_free[o])
            return true;
    return false;
}

static void op_alloc(struct model *m)
{
    unsigned order = pick_order(m);
    unsigned r = (unsigned)(rnd(m) % 100);
    gfp_t gfp = r < 80 ? GFP_KERNEL : r < 92 ? GFP_DMA : GFP_ATOMIC;
    if (rnd(m) % 100 < 8)
        gfp |= __GFP_ZERO;
    r = (unsigned)(rnd(m) % 100);
    enum kind kind = r < 65 ? K_PAGES : r < 85 ? K_ADDR : K_EXACT;
    size_t size = 0;
    unsigned long npages = 1UL << order;
    if (kind == K_EXACT) {
        size = 1 + (size_t)(rnd(m) % (PAGE_SIZE << order));
        order = (unsigned)get_order(size);
        npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
    }
    /* Sampled: does Normal have a block big enough? Then it must be used. */
    bool want_normal = false;
    if (!(gfp & __GFP_DMA) && m->has_normal && (m->op & 15) == 0) {
        want_normal = normal_has_block(order, gfp);
        m->n_pref += want_normal;
    }

    unsigned long pfn;
    struct page *page;
    switch (kind) {
    case K_PAGES:
        page = alloc_pages(gfp, order);
        if (!page) {
            check_failure(m, gfp, order);
            return;
        }
        pfn = page_to_pfn(page);
        MCHECK(m, pfn_to_page(pfn) == page, "pfn %lu", pfn);
        MCHECK(m, virt_to_page(page_address(page)) == page, "pfn %lu", pfn);
        break;
    case K_ADDR: {
        unsigned long addr = __get_free_pages(gfp, order);
        if (!addr) {
            check_failure(m, gfp, order);
            return;
        }
        page = virt_to_page((void *)addr);
        MCHECK(m, page != NULL, "addr %#lx", addr);
        if (!page)
            return;
        MCHECK(m, (unsigned long)page_address(page) == addr, "addr %#lx", addr);
        pfn = page_to_pfn(page);
        break;
    }
    default: {
        void *v = alloc_pages_exact(size, gfp);
        if (!v) {
            check_failure(m, gfp, order);
            return;
        }
        page = virt_to_page(v);
        MCHECK(m, page != NULL && page_address(page) == v, "exact %p", v);
        if (!page)
            return;
        pfn = page_to_pfn(page);
        m->n_exact++;
        break;
    }
    }
    m->n_alloc++;

    MCHECK(m, pfn % (1UL << order) == 0, "order-%u block at pfn %lu is misaligned", order, pfn);
    MCHECK(m, pfn + (1UL << order) <= m->nr_pfns, "order-%u block at pfn %lu leaves the machine",
           order, pfn);
    if (m->broken)
        return;
    unsigned zone = zone_of(m, pfn);
    MCHECK(m, zone_of(m, pfn + (1UL << order) - 1) == zone,
           "order-%u block at pfn %lu straddles the zones", order, pfn);
    if (gfp & __GFP_DMA)
        MCHECK(m, zone == KMEM_ZONE_DMA, "GFP_DMA block at pfn %lu", pfn);
    if (want_normal)
        MCHECK(m, zone == KMEM_ZONE_NORMAL,
               "order-%u GFP_KERNEL block from DMA (pfn %lu) while Normal had one", order, pfn);
    for (unsigned long p = pfn; p < pfn + npages; p++)
        if (m->used[p]) {
            MFAIL(m, "new block pfn %lu (%lu pages) overlaps a live block at pfn %lu", pfn, npages,
                  p);
            return;
        }
    if (gfp & __GFP_ZERO) {
        m->n_zero++;
        if (!check_zero(m, pfn, npages))
            return;
    }
    for (unsigned long p = pfn; p < pfn + npages; p++)
        m->used[p] = 1;
    struct blk *b = &m->blks[m->nblks++];
    b->pfn = pfn;
    b->npages = npages;
    b->size = size;
    b->seed = rnd(m);
    b->order = (uint8_t)order;
    b->kind = (uint8_t)kind;
    m->allocated[zone] += npages;
    fill_block(b);
}

static void free_blk(struct model *m, unsigned long idx)
{
    struct blk b = m->blks[idx];
    if (!check_block(m, &b, "before free"))
        return;
    /* White-box: the heads say what kmem thinks it handed out. */
    if (b.kind == K_EXACT) {
        for (unsigned long p = b.pfn; p < b.pfn + b.npages; p++) {
            const struct page *pg = pf_pfn_to_page(p);
            MCHECK(m, pg->pg_state == PS_ALLOC && pg->pg_order == 0,
                   "exact page pfn %lu: state %u order %u", p, pg->pg_state, pg->pg_order);
        }
    } else {
        const struct page *pg = pf_pfn_to_page(b.pfn);
        MCHECK(m, pg->pg_state == PS_ALLOC && pg->pg_order == b.order,
               "block pfn %lu order %u: state %u order %u", b.pfn, b.order, pg->pg_state,
               pg->pg_order);
    }
    if (m->broken)
        return;
    void *addr = page_address(pfn_to_page(b.pfn));
    unsigned r = (unsigned)(rnd(m) % 4);
    switch (b.kind) {
    case K_PAGES:
        if (r == 0)
            free_pages((unsigned long)addr, b.order);
        else
            __free_pages(pfn_to_page(b.pfn), b.order);
        break;
    case K_ADDR:
        if (r == 0)
            __free_pages(virt_to_page(addr), b.order);
        else
            free_pages((unsigned long)addr, b.order);
        break;
    default:
        if (r == 0) {
            /* The kept pages are independent order-0 blocks. */
            for (unsigned long p = b.pfn + b.npages; p-- > b.pfn;)
                __free_page(pfn_to_page(p));
        } else {
            free_pages_exact(addr, b.size);
        }
        break;
    }
    for (unsigned long p = b.pfn; p < b.pfn + b.npages; p++)
        m->used[p] = 0;
    m->allocated[zone_of(m, b.pfn)] -= b.npages;
    m->blks[idx] = m->blks[--m->nblks];
    m->n_free++;
}

static void op_free(struct model *m)
{
    if (m->nblks)
        free_blk(m, (unsigned long)(rnd(m) % m->nblks));
}

static void check_counts(struct model *m)
{
    for (unsigned zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)zt, &zi)) {
            MCHECK(m, m->managed[zt] == 0, "zone %u vanished", zt);
            continue;
        }
        unsigned long kmem_alloc = zi.managed_pages - zi.free_pages - zi.pcp_pages;
        MCHECK(m, zi.managed_pages == m->managed[zt], "zone %s managed %lu, was %lu", zi.name,
               zi.managed_pages, m->managed[zt]);
        MCHECK(m, kmem_alloc == m->allocated[zt],
               "zone %s: kmem has %lu pages allocated (managed %lu free %lu pcp %lu), model %lu",
               zi.name, kmem_alloc, zi.managed_pages, zi.free_pages, zi.pcp_pages,
               m->allocated[zt]);
    }
}

static void check_all_blocks(struct model *m)
{
    for (unsigned long i = 0; i < m->nblks && !m->broken; i++)
        check_block(m, &m->blks[i], "periodic check");
}

static void run_machine(uint64_t seed, size_t mem_size, unsigned long ops)
{
    struct kmem_config cfg = {.mem_size = mem_size};
    REQUIRE(kmem_init(&cfg) == 0);
    struct model m;
    memset(&m, 0, sizeof m);
    m.seed = seed;
    m.mem_size = mem_size;
    m.rng = mix(seed) | 1;
    m.nr_pfns = mem_size / PAGE_SIZE;
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    m.managed[KMEM_ZONE_DMA] = zi.managed_pages;
    m.dma_end = zi.end_pfn;
    m.has_normal = kmem_zone_info(KMEM_ZONE_NORMAL, &zi);
    if (m.has_normal) {
        m.managed[KMEM_ZONE_NORMAL] = zi.managed_pages;
        CHECK_EQ(zi.start_pfn, m.dma_end);
        CHECK_EQ(zi.end_pfn, m.nr_pfns);
    }
    CHECK_EQ(m.managed[0] + m.managed[1], m.nr_pfns);
    m.blks = calloc(m.nr_pfns, sizeof *m.blks);
    m.used = calloc(m.nr_pfns, 1);
    REQUIRE(m.blks && m.used);
    char initial[512], now[512];
    kmem_buddyinfo(initial, sizeof initial);

    static const unsigned pressures[] = {300, 450, 520, 600, 800};
    for (m.op = 0; m.op < ops && !m.broken; m.op++) {
        if (m.op % 4096 == 0)
            m.pressure = pressures[rnd(&m) % (sizeof pressures / sizeof pressures[0])];
        unsigned r = (unsigned)(rnd(&m) % 1000);
        if (r == 0) {
            drain_all_pages();
            m.n_drain++;
        } else if (r <= m.pressure) {
            op_alloc(&m);
        } else {
            op_free(&m);
        }
        if (m.op % 1000 == 999)
            check_counts(&m);
        if (m.op % 20000 == 19999) {
            int v = kmem_page_check();
            MCHECK(&m, v == 0, "kmem_page_check found %d violations", v);
            check_all_blocks(&m);
        }
    }
    fprintf(stderr,
            "  seed %#llx mem_size %zu: %lu ops, %lu allocs (%lu exact, %lu zeroed), %lu failed, "
            "%lu frees, %lu drains, %lu Normal-preference checks, %lu live at the end\n",
            (unsigned long long)seed, mem_size, m.op, m.n_alloc, m.n_exact, m.n_zero, m.n_fail,
            m.n_free, m.n_drain, m.n_pref, m.nblks);

    if (!m.broken) {
        /* Free everything: all of it must come back together. */
        check_counts(&m);
        check_all_blocks(&m);
        MCHECK(&m, kmem_page_check() == 0, "before the final frees");
        while (m.nblks && !m.broken)
            free_blk(&m, m.nblks - 1);
        check_counts(&m);
        drain_all_pages();
        kmem_buddyinfo(now, sizeof now);
        CHECK_STR_EQ(now, initial);
        if (strcmp(now, initial) != 0)
            fprintf(stderr, "  (seed %#llx, mem_size %zu)\n", (unsigned long long)seed, mem_size);
        MCHECK(&m, kmem_page_check() == 0, "after the final frees");
    }
    free(m.blks);
    free(m.used);
    kmem_exit();
}

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    return strtoul(s, NULL, 0);
}

static const uint64_t seeds[] = {0x6b6d656d, 0x5eed0001, 0xdeadbeefcafe};
enum { NR_SEEDS = sizeof seeds / sizeof seeds[0] };

static unsigned long ops_per_seed(void)
{
    unsigned long total = env_ulong("KMEM_TEST_OPS", DEFAULT_OPS);
    return (total + NR_SEEDS - 1) / NR_SEEDS;
}

/* The default machine: DMA and Normal, 4 + 12 blocks of 4 MiB. 70% of the
 * operations of each seed. */
TEST(model_64m)
{
    unsigned long per_seed = ops_per_seed();
    unsigned long ops = per_seed - per_seed * 3 / 10;
    const char *one = getenv("KMEM_TEST_SEED");
    if (one && *one) {
        run_machine(strtoull(one, NULL, 0), 64 * MiB, ops);
        return;
    }
    for (int s = 0; s < NR_SEEDS; s++)
        run_machine(seeds[s], 64 * MiB, ops);
}

/* An odd machine: 20 MiB + 36 KiB, Normal is 1024 + 8 + 1 pages, so blocks
 * end at the zone end and memory is not a power of two. 30% of the
 * operations. */
TEST(model_odd)
{
    unsigned long ops = ops_per_seed() * 3 / 10;
    const char *one = getenv("KMEM_TEST_SEED");
    if (one && *one) {
        run_machine(strtoull(one, NULL, 0), 20 * MiB + 36 * KiB, ops);
        return;
    }
    for (int s = 0; s < NR_SEEDS; s++)
        run_machine(seeds[s] ^ 0x0dd, 20 * MiB + 36 * KiB, ops);
}

/* The book's machine, with no per-CPU lists at all: every free coalesces. */
TEST(model_tiny)
{
    unsigned long ops = ops_per_seed() / 20;
    const char *one = getenv("KMEM_TEST_SEED");
    if (one && *one) {
        run_machine(strtoull(one, NULL, 0), 256 * KiB, ops);
        return;
    }
    run_machine(seeds[0] ^ 0x7, 256 * KiB, ops);
}

int main(void)
{
    RUN(model_64m);
    RUN(model_odd);
    RUN(model_tiny);
    return harness_report();
}
