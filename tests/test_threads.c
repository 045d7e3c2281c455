/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - the page allocator under threads (clean under TSan/ASan).
 *
 *   threads_random            4 threads: random alloc/free of orders 0..5 with
 *                             patterns written and verified, while the main
 *                             thread runs kmem_page_check, kmem_zone_info and
 *                             kmem_buddyinfo concurrently.
 *   threads_cross_free        producers allocate, consumers verify and free
 *                             (blocks of one thread's per-CPU lists end up on
 *                             another's).
 *   threads_exit_gives_back   threads fill their per-CPU lists and exit: with
 *                             no drain_all_pages, their pages are back.
 *   threads_short_lived       many short threads, some handing their blocks
 *                             to the main thread before they exit.
 *   threads_concurrent_drain  drain_all_pages from the main thread while the
 *                             workers allocate and free.
 *   threads_reinit_live_thread kmem_exit + kmem_init while a thread that used
 *                             kmem is alive and idle; it then uses kmem again.
 *   threads_exact_concurrent_check  alloc_pages_exact/free_pages_exact of
 *                             1..512 pages in 4 threads while the main thread
 *                             runs kmem_page_check: no check may see a
 *                             violation.
 *
 * KMEM_TEST_OPS sets the operations per worker thread (default 600000;
 * 60000 under ThreadSanitizer).
 */
#include "harness.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kmem.h>

enum {
    NR_WORKERS = 4,
    NR_SLOTS = 48, /* live blocks per worker */
    MAX_ORDER_USED = 5,
    DMA_END_PFN = (16 << 20) / 4096,
    INFO_LEN = 1024,
};

static unsigned long ops_per_worker(void)
{
    const char *env = getenv("KMEM_TEST_OPS");
    if (env && *env) {
        unsigned long v = strtoul(env, NULL, 0);
        if (v)
            return v;
    }
    return UNDER_TSAN ? 60000 : 600000;
}

/* ---- machine-wide views ---------------------------------------------------- */

struct totals {
    unsigned long managed, free, pcp;
};

static struct totals totals_now(void)
{
    struct totals t = {0, 0, 0};
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi)) {
            t.managed += zi.managed_pages;
            t.free += zi.free_pages;
            t.pcp += zi.pcp_pages;
        }
    }
    return t;
}

static void buddyinfo(char *buf)
{
    size_t n = kmem_buddyinfo(buf, INFO_LEN);
    if (n >= INFO_LEN)
        buf[INFO_LEN - 1] = '\0';
}

/* ---- blocks with a pattern ------------------------------------------------- */

struct blk {
    struct page *page; /* NULL: slot empty */
    unsigned int order;
    unsigned int exact_pages; /* nonzero: from alloc_pages_exact, this many pages */
    uint64_t tag;
};

static unsigned long blk_pages(const struct blk *b)
{
    return b->exact_pages ? b->exact_pages : 1UL << b->order;
}

static uint64_t word_for(uint64_t tag, unsigned long i)
{
    return (tag + i) * 0x9E3779B97F4A7C15ull;
}

/* Three words per page (first, middle, last): enough for two live blocks
 * sharing a frame to overwrite each other's marks. */
static void blk_fill(const struct blk *b)
{
    char *base = page_address(b->page);
    for (unsigned long i = 0; i < blk_pages(b); i++) {
        uint64_t *w = (uint64_t *)(void *)(base + i * PAGE_SIZE);
        uint64_t v = word_for(b->tag, i);
        w[0] = v;
        w[PAGE_SIZE / 16] = v ^ 0x5555555555555555ull;
        w[PAGE_SIZE / 8 - 1] = ~v;
    }
}

static bool blk_intact(const struct blk *b)
{
    const char *base = page_address(b->page);
    for (unsigned long i = 0; i < blk_pages(b); i++) {
        const uint64_t *w = (const uint64_t *)(const void *)(base + i * PAGE_SIZE);
        uint64_t v = word_for(b->tag, i);
        if (w[0] != v || w[PAGE_SIZE / 16] != (v ^ 0x5555555555555555ull) ||
            w[PAGE_SIZE / 8 - 1] != ~v)
            return false;
    }
    return true;
}

static bool blk_zeroed(const struct blk *b)
{
    const char *base = page_address(b->page);
    for (unsigned long i = 0; i < blk_pages(b); i++) {
        const uint64_t *w = (const uint64_t *)(const void *)(base + i * PAGE_SIZE);
        if (w[0] || w[PAGE_SIZE / 16] || w[PAGE_SIZE / 8 - 1])
            return false;
    }
    return true;
}

/* ---- a worker's state and its error report --------------------------------- */

struct worker {
    pthread_t tid;
    int id;
    unsigned long ops;
    uint64_t rng;
    unsigned long allocs, frees;
    int failures;
    char error[256];
    struct blk slots[NR_SLOTS];
};

#define WFAIL(w, ...)                                                                              \
    do {                                                                                           \
        if ((w)->failures++ == 0)                                                                  \
            snprintf((w)->error, sizeof(w)->error, __VA_ARGS__);                                   \
    } while (0)

static void worker_report(const struct worker *w)
{
    if (w->failures)
        fprintf(stderr, "worker %d: %d failures; first: %s\n", w->id, w->failures, w->error);
    CHECK_EQ(w->failures, 0);
}

static unsigned int pick_order(uint64_t *rng)
{
    unsigned int r = (unsigned int)(harness_rand(rng) % 100);
    if (r < 40)
        return 0;
    if (r < 60)
        return 1;
    if (r < 75)
        return 2;
    if (r < 87)
        return 3;
    if (r < 94)
        return 4;
    return MAX_ORDER_USED;
}

/* Check a freshly allocated block's placement and translations. */
static void blk_check_new(struct worker *w, const struct blk *b, gfp_t gfp)
{
    unsigned long pfn = page_to_pfn(b->page);
    void *va = page_address(b->page);
    if (!b->exact_pages && (pfn & ((1UL << b->order) - 1)))
        WFAIL(w, "order %u block at pfn %#lx is not naturally aligned", b->order, pfn);
    if ((gfp & __GFP_DMA) && pfn + blk_pages(b) > DMA_END_PFN)
        WFAIL(w, "GFP_DMA block at pfn %#lx is above 16 MiB", pfn);
    if (pfn_to_page(pfn) != b->page || virt_to_page(va) != b->page ||
        phys_to_virt(virt_to_phys(va)) != va || virt_to_phys(va) != (phys_addr_t)pfn << PAGE_SHIFT)
        WFAIL(w, "address translations disagree for pfn %#lx", pfn);
    if ((gfp & __GFP_ZERO) && !blk_zeroed(b))
        WFAIL(w, "__GFP_ZERO block at pfn %#lx is not zeroed", pfn);
}

static bool blk_alloc(struct worker *w, struct blk *b)
{
    unsigned int r = (unsigned int)(harness_rand(&w->rng) % 16);
    gfp_t gfp = r == 0   ? (GFP_KERNEL | __GFP_ZERO)
                : r == 1 ? GFP_DMA
                : r == 2 ? GFP_ATOMIC
                         : GFP_KERNEL;
    b->exact_pages = 0;
    b->order = pick_order(&w->rng);
    if (b->order == 0 && (r & 4))
        b->page = alloc_page(gfp);
    else if (r & 8) {
        unsigned long addr = __get_free_pages(gfp, b->order);
        b->page = addr ? virt_to_page((void *)addr) : NULL;
    } else
        b->page = alloc_pages(gfp, b->order);
    if (!b->page) {
        WFAIL(w, "allocation of order %u (gfp %#x) failed", b->order, gfp);
        return false;
    }
    b->tag = ((uint64_t)w->id << 48) ^ (w->allocs++ << 8) ^ harness_rand(&w->rng);
    blk_check_new(w, b, gfp);
    blk_fill(b);
    return true;
}

static void blk_free(struct worker *w, struct blk *b)
{
    if (!blk_intact(b))
        WFAIL(w, "pattern of order %u block at pfn %#lx was overwritten", b->order,
              page_to_pfn(b->page));
    if (b->exact_pages)
        free_pages_exact(page_address(b->page), b->exact_pages * PAGE_SIZE);
    else if (b->order == 0 && (b->tag & 1))
        __free_page(b->page);
    else if (b->tag & 2)
        free_pages((unsigned long)page_address(b->page), b->order);
    else
        __free_pages(b->page, b->order);
    b->page = NULL;
    w->frees++;
}

static void worker_free_all(struct worker *w)
{
    for (int i = 0; i < NR_SLOTS; i++)
        if (w->slots[i].page)
            blk_free(w, &w->slots[i]);
}

/* Random alloc/free over the worker's slots, then free everything. */
static void *random_worker(void *arg)
{
    struct worker *w = arg;
    for (unsigned long op = 0; op < w->ops; op++) {
        struct blk *b = &w->slots[harness_rand(&w->rng) % NR_SLOTS];
        if (b->page)
            blk_free(w, b);
        else
            blk_alloc(w, b);
    }
    worker_free_all(w);
    return NULL;
}

static void workers_start(struct worker *ws, int n, int first_id, unsigned long ops,
                          void *(*fn)(void *))
{
    for (int i = 0; i < n; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].id = first_id + i;
        ws[i].ops = ops;
        ws[i].rng = 0x1234567ull * (uint64_t)(i + 1) + 77;
        int rc = pthread_create(&ws[i].tid, NULL, fn, &ws[i]);
        CHECK_EQ(rc, 0);
    }
}

static void workers_join(struct worker *ws, int n)
{
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].tid, NULL);
        worker_report(&ws[i]);
    }
}

/* Everything is freed and no thread holds per-CPU pages: the machine must be
 * back in its initial state, block for block. */
static void check_pristine(const char *initial, bool expect_no_pcp)
{
    char now[INFO_LEN];
    struct totals t = totals_now();
    if (expect_no_pcp)
        CHECK_EQ(t.pcp, 0);
    CHECK_EQ(t.managed, t.free + t.pcp);
    drain_all_pages();
    t = totals_now();
    CHECK_EQ(t.pcp, 0);
    CHECK_EQ(t.free, t.managed);
    buddyinfo(now);
    CHECK_STR_EQ(now, initial);
    CHECK_EQ(kmem_page_check(), 0);
}

/* ---- (a) random alloc/free, with concurrent checks ---------------------------- */

static int running_workers;

static void *counted_random_worker(void *arg)
{
    random_worker(arg);
    __atomic_sub_fetch(&running_workers, 1, __ATOMIC_RELEASE);
    return NULL;
}

TEST(threads_random)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    struct worker ws[NR_WORKERS];
    __atomic_store_n(&running_workers, NR_WORKERS, __ATOMIC_RELAXED);
    workers_start(ws, NR_WORKERS, 1, ops_per_worker(), counted_random_worker);
    /* Concurrent readers: every snapshot must be consistent. */
    int checks = 0;
    while (__atomic_load_n(&running_workers, __ATOMIC_ACQUIRE) > 0) {
        CHECK_EQ(kmem_page_check(), 0);
        struct totals t = totals_now();
        CHECK(t.free + t.pcp <= t.managed);
        char text[INFO_LEN];
        buddyinfo(text);
        CHECK(strncmp(text, "Node 0, zone      DMA ", 22) == 0);
        checks++;
        usleep(2000);
    }
    workers_join(ws, NR_WORKERS);
    unsigned long allocs = 0;
    for (int i = 0; i < NR_WORKERS; i++) {
        allocs += ws[i].allocs;
        CHECK_EQ(ws[i].allocs, ws[i].frees);
    }
    fprintf(stderr, "  %lu blocks allocated and freed by %d threads; %d concurrent checks\n",
            allocs, NR_WORKERS, checks);
    check_pristine(initial, true);
    kmem_exit();
}

/* ---- (b) cross-thread frees through a queue ----------------------------------- */

enum { QUEUE_CAP = 256, NR_PRODUCERS = 2, NR_CONSUMERS = 2 };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    struct blk items[QUEUE_CAP];
    unsigned int head, count;
    unsigned long remaining; /* blocks still to be consumed */
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .not_empty = PTHREAD_COND_INITIALIZER,
           .not_full = PTHREAD_COND_INITIALIZER};

static void queue_push(const struct blk *b)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == QUEUE_CAP)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    queue.items[(queue.head + queue.count++) % QUEUE_CAP] = *b;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

/* false when every block has been consumed */
static bool queue_pop(struct blk *b)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0 && queue.remaining > 0)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    if (queue.remaining == 0) {
        pthread_mutex_unlock(&queue.lock);
        return false;
    }
    *b = queue.items[queue.head];
    queue.head = (queue.head + 1) % QUEUE_CAP;
    queue.count--;
    if (--queue.remaining == 0)
        pthread_cond_broadcast(&queue.not_empty); /* wake the other consumers */
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
    return true;
}

static void *producer(void *arg)
{
    struct worker *w = arg;
    for (unsigned long i = 0; i < w->ops; i++) {
        struct blk b;
        if (!blk_alloc(w, &b)) {
            /* keep the count right so the consumers finish */
            pthread_mutex_lock(&queue.lock);
            if (--queue.remaining == 0)
                pthread_cond_broadcast(&queue.not_empty);
            pthread_mutex_unlock(&queue.lock);
            continue;
        }
        queue_push(&b);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct worker *w = arg;
    struct blk b;
    while (queue_pop(&b))
        blk_free(w, &b);
    return NULL;
}

TEST(threads_cross_free)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    unsigned long per_producer = ops_per_worker() / 2;
    queue.head = queue.count = 0;
    queue.remaining = per_producer * NR_PRODUCERS;
    struct worker prod[NR_PRODUCERS], cons[NR_CONSUMERS];
    workers_start(cons, NR_CONSUMERS, 20, 0, consumer);
    workers_start(prod, NR_PRODUCERS, 10, per_producer, producer);
    workers_join(prod, NR_PRODUCERS);
    workers_join(cons, NR_CONSUMERS);
    unsigned long made = 0, freed = 0;
    for (int i = 0; i < NR_PRODUCERS; i++)
        made += prod[i].allocs;
    for (int i = 0; i < NR_CONSUMERS; i++)
        freed += cons[i].frees;
    CHECK_EQ(made, per_producer * NR_PRODUCERS);
    CHECK_EQ(freed, made);
    fprintf(stderr, "  %lu blocks allocated by producers, freed by consumers\n", freed);
    /* All four threads exited: their lists were given back. */
    check_pristine(initial, true);
    kmem_exit();
}

/* ---- (c) thread exit gives the per-CPU lists back ----------------------------- */

enum { EXIT_THREADS = 8, EXIT_BLOCKS = 200 };

static pthread_barrier_t exit_barrier;

static void *fill_lists_then_exit(void *arg)
{
    struct worker *w = arg;
    struct blk blocks[EXIT_BLOCKS];
    /* Orders 0..3 only: they are all cached on the per-CPU lists. */
    for (int i = 0; i < EXIT_BLOCKS; i++) {
        blocks[i].order = (unsigned int)(harness_rand(&w->rng) % 4);
        blocks[i].exact_pages = 0;
        blocks[i].page = alloc_pages(GFP_KERNEL, blocks[i].order);
        if (!blocks[i].page) {
            WFAIL(w, "alloc order %u failed", blocks[i].order);
            continue;
        }
        blocks[i].tag = harness_rand(&w->rng);
        blk_fill(&blocks[i]);
    }
    for (int i = 0; i < EXIT_BLOCKS; i++)
        if (blocks[i].page)
            blk_free(w, &blocks[i]);
    pthread_barrier_wait(&exit_barrier); /* main looks at the lists now */
    pthread_barrier_wait(&exit_barrier); /* ... and lets us exit */
    return NULL;
}

TEST(threads_exit_gives_back)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    for (int round = 0; round < 3; round++) {
        pthread_barrier_init(&exit_barrier, NULL, EXIT_THREADS + 1);
        struct worker ws[EXIT_THREADS];
        workers_start(ws, EXIT_THREADS, 1, 0, fill_lists_then_exit);
        pthread_barrier_wait(&exit_barrier);
        struct totals t = totals_now();
        CHECK(t.pcp > 0); /* the live threads' lists hold pages */
        CHECK_EQ(t.managed, t.free + t.pcp);
        CHECK_EQ(kmem_page_check(), 0);
        pthread_barrier_wait(&exit_barrier);
        workers_join(ws, EXIT_THREADS);
        pthread_barrier_destroy(&exit_barrier);
        /* No drain_all_pages: the thread-exit destructor gave the pages back,
         * and they merged, so the machine is as it was. */
        t = totals_now();
        CHECK_EQ(t.pcp, 0);
        CHECK_EQ(t.managed, t.free + t.pcp);
        char now[INFO_LEN];
        buddyinfo(now);
        CHECK_STR_EQ(now, initial);
        CHECK_EQ(kmem_page_check(), 0);
    }
    kmem_exit();
}

/* ---- many short-lived threads ---------------------------------------------- */

enum { SHORT_THREADS = 64, HANDED_MAX = 8 };

struct handed {
    struct worker w;
    struct blk kept[HANDED_MAX]; /* blocks left for the main thread to free */
};

static void *short_lived(void *arg)
{
    struct handed *h = arg;
    struct worker *w = &h->w;
    w->ops = 50;
    random_worker(w);
    /* Odd threads exit holding blocks, which the main thread frees. */
    if (w->id & 1)
        for (int i = 0; i < HANDED_MAX; i++)
            blk_alloc(w, &h->kept[i]);
    return NULL;
}

TEST(threads_short_lived)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    static struct handed hs[SHORT_THREADS];
    memset(hs, 0, sizeof hs);
    /* In waves of 8 live threads. */
    for (int base = 0; base < SHORT_THREADS; base += 8) {
        for (int i = base; i < base + 8; i++) {
            hs[i].w.id = i + 1;
            hs[i].w.rng = 0xabcdefull + (uint64_t)i;
            CHECK_EQ(pthread_create(&hs[i].w.tid, NULL, short_lived, &hs[i]), 0);
        }
        for (int i = base; i < base + 8; i++) {
            pthread_join(hs[i].w.tid, NULL);
            worker_report(&hs[i].w);
        }
    }
    /* Only the blocks handed over are still allocated, and no list is held. */
    struct totals t = totals_now();
    unsigned long handed_pages = 0;
    for (int i = 0; i < SHORT_THREADS; i++)
        for (int k = 0; k < HANDED_MAX; k++)
            if (hs[i].kept[k].page)
                handed_pages += blk_pages(&hs[i].kept[k]);
    CHECK(handed_pages > 0);
    CHECK_EQ(t.pcp, 0);
    CHECK_EQ(t.managed, t.free + handed_pages);
    struct worker me = {.id = 99};
    for (int i = 0; i < SHORT_THREADS; i++)
        for (int k = 0; k < HANDED_MAX; k++)
            if (hs[i].kept[k].page)
                blk_free(&me, &hs[i].kept[k]);
    worker_report(&me);
    check_pristine(initial, false); /* the main thread's own list may hold some */
    kmem_exit();
}

/* ---- (d) drain_all_pages while workers run ---------------------------------- */

TEST(threads_concurrent_drain)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    struct worker ws[NR_WORKERS];
    __atomic_store_n(&running_workers, NR_WORKERS, __ATOMIC_RELAXED);
    workers_start(ws, NR_WORKERS, 1, ops_per_worker(), counted_random_worker);
    unsigned long drains = 0;
    while (__atomic_load_n(&running_workers, __ATOMIC_ACQUIRE) > 0) {
        drain_all_pages();
        if (++drains % 64 == 0) {
            CHECK_EQ(kmem_page_check(), 0);
            struct totals t = totals_now();
            CHECK(t.free + t.pcp <= t.managed);
        }
        if (UNDER_TSAN)
            usleep(20);
    }
    workers_join(ws, NR_WORKERS);
    fprintf(stderr, "  %lu drains while the workers ran\n", drains);
    CHECK(drains > 0);
    check_pristine(initial, true);
    kmem_exit();
}

/* ---- (e) kmem_exit + kmem_init under a live, idle thread -------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int step; /* the main thread's command: the worker runs step 1, 2, ... */
    int done; /* the last step the worker finished */
} handshake = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void hs_set(int *field, int value)
{
    pthread_mutex_lock(&handshake.lock);
    *field = value;
    pthread_cond_broadcast(&handshake.cond);
    pthread_mutex_unlock(&handshake.lock);
}

static void hs_wait(const int *field, int value)
{
    pthread_mutex_lock(&handshake.lock);
    while (*field < value)
        pthread_cond_wait(&handshake.cond, &handshake.lock);
    pthread_mutex_unlock(&handshake.lock);
}

/* Allocate and free some small blocks so that this thread's lists hold pages,
 * and check they came from the current machine. */
static void use_kmem(struct worker *w)
{
    struct blk blocks[32];
    struct totals t = totals_now();
    unsigned long nr_pfns = 0;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi) && zi.end_pfn > nr_pfns)
            nr_pfns = zi.end_pfn;
    }
    if (!t.managed)
        WFAIL(w, "kmem is not up");
    for (int i = 0; i < 32; i++) {
        blocks[i].order = (unsigned int)(i % 4);
        blocks[i].exact_pages = 0;
        blocks[i].page = alloc_pages(GFP_KERNEL, blocks[i].order);
        if (!blocks[i].page) {
            WFAIL(w, "alloc order %u failed", blocks[i].order);
            continue;
        }
        if (page_to_pfn(blocks[i].page) + (1UL << blocks[i].order) > nr_pfns)
            WFAIL(w, "block pfn %#lx is not on this machine (%lu frames)",
                  page_to_pfn(blocks[i].page), nr_pfns);
        blocks[i].tag = harness_rand(&w->rng);
        blk_fill(&blocks[i]);
    }
    for (int i = 0; i < 32; i++)
        if (blocks[i].page)
            blk_free(w, &blocks[i]);
}

static void *reinit_worker(void *arg)
{
    struct worker *w = arg;
    for (int step = 1; step <= 3; step++) {
        hs_wait(&handshake.step, step);
        if (step < 3) /* step 3: exit, with the lists of the second machine */
            use_kmem(w);
        hs_set(&handshake.done, step);
    }
    return NULL;
}

/* The worker exits while the machine is down. */
static void *exit_while_down_worker(void *arg)
{
    struct worker *w = arg;
    use_kmem(w);
    hs_set(&handshake.done, 1);
    hs_wait(&handshake.step, 1);
    return NULL;
}

TEST(threads_reinit_live_thread)
{
    struct kmem_config small = {.mem_size = 24u << 20};
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    handshake.step = handshake.done = 0;
    struct worker w = {.id = 1, .rng = 42};
    REQUIRE(pthread_create(&w.tid, NULL, reinit_worker, &w) == 0);

    hs_set(&handshake.step, 1);
    hs_wait(&handshake.done, 1);
    CHECK(totals_now().pcp > 0); /* the idle worker's lists hold pages */
    kmem_exit();
    CHECK(!kmem_is_up());
    CHECK_EQ(kmem_init(&small), 0);
    buddyinfo(initial);
    struct totals t = totals_now();
    CHECK_EQ(t.pcp, 0);
    CHECK_EQ(t.managed, (24u << 20) / PAGE_SIZE);
    CHECK_EQ(t.free, t.managed);

    hs_set(&handshake.step, 2); /* the worker uses the new machine */
    hs_wait(&handshake.done, 2);
    t = totals_now();
    CHECK(t.pcp > 0); /* it re-attached */
    CHECK_EQ(t.managed, t.free + t.pcp);
    CHECK_EQ(kmem_page_check(), 0);

    hs_set(&handshake.step, 3); /* it exits: its lists go back */
    pthread_join(w.tid, NULL);
    worker_report(&w);
    t = totals_now();
    CHECK_EQ(t.pcp, 0);
    check_pristine(initial, true);
    kmem_exit();

    /* A thread whose area was reset exits while no machine is up; the next
     * machine must not see any trace of it. */
    handshake.step = handshake.done = 0;
    REQUIRE(kmem_init(&small) == 0);
    struct worker w2 = {.id = 2, .rng = 43};
    REQUIRE(pthread_create(&w2.tid, NULL, exit_while_down_worker, &w2) == 0);
    hs_wait(&handshake.done, 1);
    kmem_exit();
    hs_set(&handshake.step, 1);
    pthread_join(w2.tid, NULL);
    worker_report(&w2);
    REQUIRE(kmem_init(&small) == 0);
    t = totals_now();
    CHECK_EQ(t.pcp, 0);
    CHECK_EQ(t.free, t.managed);
    buddyinfo(initial);
    struct worker me = {.id = 3, .rng = 44};
    use_kmem(&me); /* the main thread re-attaches too */
    worker_report(&me);
    check_pristine(initial, false);
    kmem_exit();
}

/* ---- alloc_pages_exact in threads while kmem_page_check runs ----------------- */

/* Exact allocations of up to 512 pages (blocks up to order 9, split into
 * single pages, the tail given back), with patterns, one or two live at once. */
static void *exact_worker(void *arg)
{
    struct worker *w = arg;
    for (unsigned long op = 0; op < w->ops; op++) {
        struct blk *b = &w->slots[harness_rand(&w->rng) % 2];
        if (b->page) {
            blk_free(w, b);
            continue;
        }
        b->order = 0;
        b->exact_pages = 1 + (unsigned int)(harness_rand(&w->rng) % 512);
        void *p = alloc_pages_exact(b->exact_pages * PAGE_SIZE, GFP_KERNEL);
        if (!p) {
            WFAIL(w, "alloc_pages_exact(%u pages) failed", b->exact_pages);
            b->page = NULL;
            continue;
        }
        b->page = virt_to_page(p);
        b->tag = harness_rand(&w->rng);
        blk_fill(b);
    }
    worker_free_all(w);
    __atomic_sub_fetch(&running_workers, 1, __ATOMIC_RELEASE);
    return NULL;
}

TEST(threads_exact_concurrent_check)
{
    char initial[INFO_LEN];
    REQUIRE(kmem_init(NULL) == 0);
    buddyinfo(initial);
    struct worker ws[NR_WORKERS];
    __atomic_store_n(&running_workers, NR_WORKERS, __ATOMIC_RELAXED);
    workers_start(ws, NR_WORKERS, 1, ops_per_worker() / 100 + 1, exact_worker);
    int checks = 0, bad = 0;
    while (__atomic_load_n(&running_workers, __ATOMIC_ACQUIRE) > 0) {
        bad += kmem_page_check() != 0;
        checks++;
        usleep(0); /* let the workers at the locks between checks */
    }
    workers_join(ws, NR_WORKERS);
    fprintf(stderr, "  %d of %d concurrent kmem_page_check calls found violations\n", bad, checks);
    CHECK_EQ(bad, 0);
    check_pristine(initial, true);
    kmem_exit();
}

int main(void)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    fprintf(stderr, "%lu operations per worker thread%s\n", ops_per_worker(),
            UNDER_TSAN ? " (ThreadSanitizer)" : "");
    RUN(threads_random);
    RUN(threads_cross_free);
    RUN(threads_exit_gives_back);
    RUN(threads_short_lived);
    RUN(threads_concurrent_drain);
    RUN(threads_reinit_live_thread);
    RUN(threads_exact_concurrent_check);
    return harness_report();
}
