/* SPDX-License-Identifier: MIT */
/*
 * test_kmalloc.c - the kmalloc family against its contract (API.md, kmalloc.h).
 *
 *   kmalloc_every_size       sizes 1..8192: non-NULL, ksize is exactly the
 *                            smallest class holding the size (8 ... 8192 with
 *                            96 and 192), all of ksize writable, power-of-two
 *                            classes naturally aligned, 96/192 32/64-aligned.
 *   kmalloc_large_sizes      8193 ... 4 MiB: ksize PAGE_SIZE << get_order,
 *                            page aligned, writable; beyond 4 MiB: NULL.
 *   kmalloc_class_boundaries every class edge: c and c + 1 land in c and the
 *                            next class.
 *   kmalloc_many_per_class   several slabs' worth of each class at once (all
 *                            colours): aligned, disjoint, patterns intact.
 *   kmalloc_zero_and_null    kmalloc(0) == ZERO_SIZE_PTR, kfree(NULL/ZERO_SIZE_PTR)
 *                            do nothing, ksize(NULL) == 0.
 *   kzalloc_kcalloc_zero     dirtied memory comes back zeroed (each class,
 *                            large blocks, kcalloc, kvzalloc).
 *   kcalloc_overflow         kcalloc/kmalloc_array: NULL on overflow, and
 *                            work for products that fit.
 *   krealloc_semantics       in place within ksize, moves with contents
 *                            (slab->slab, slab->large, large->larger),
 *                            krealloc(NULL, n), krealloc(p, 0), failure
 *                            leaves p intact.
 *   kvmalloc_family          kvmalloc/kvzalloc/kvfree small and large.
 *   kmalloc_slabinfo         every kmalloc cache has its /proc/slabinfo line.
 *   kmalloc_memory_returns   after freeing everything the pages come back (up
 *                            to the empty slabs each cache keeps).
 *   kmalloc_model            randomized: kmalloc/kzalloc/kcalloc/krealloc/kfree
 *                            against a model (patterns, overlap bitmap,
 *                            kmem_page_check periodically).
 *   kmalloc_threads          4 threads, cross-thread frees through a queue.
 *
 * KMEM_TEST_OPS sets the model's operations (default 300000); KMEM_TEST_SEED
 * its seed (as printed on a failure).
 */
#include "harness.h"
#include "pages_util.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <kmem.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const size_t classes[] = {8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192};
static const char *const class_names[] = {
    "kmalloc-8",   "kmalloc-16",  "kmalloc-32",  "kmalloc-64",  "kmalloc-96",
    "kmalloc-128", "kmalloc-192", "kmalloc-256", "kmalloc-512", "kmalloc-1k",
    "kmalloc-2k",  "kmalloc-4k",  "kmalloc-8k"};
enum { NR_CLASSES = sizeof classes / sizeof classes[0] };

/* Report at most this many failures of one kind in a loop, then count. */
enum { MAX_REPORTS = 8 };

#define LOOP_CHECK(nfail, cond, ...)                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if ((nfail)++ < MAX_REPORTS) {                                                         \
                fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);           \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fprintf(stderr, "\n");                                                             \
            }                                                                                      \
            harness_checks_failed++;                                                               \
        }                                                                                          \
    } while (0)

/* ---- expectations ------------------------------------------------------------ */

/* The usable size kmalloc(size) must have. */
static size_t expect_ksize(size_t size)
{
    if (size > KMALLOC_MAX_CACHE_SIZE)
        return (size_t)PAGE_SIZE << get_order(size);
    for (unsigned int i = 0; i < NR_CLASSES; i++)
        if (size <= classes[i])
            return classes[i];
    return 0;
}

/* The alignment kmalloc(size) must have. */
static size_t expect_align(size_t size)
{
    size_t c = expect_ksize(size);
    if (size > KMALLOC_MAX_CACHE_SIZE)
        return PAGE_SIZE;
    if (c == 96)
        return 32;
    if (c == 192)
        return 64;
    return c;
}

static int class_index(size_t c)
{
    for (int i = 0; i < NR_CLASSES; i++)
        if (classes[i] == c)
            return i;
    return -1;
}

/* ---- patterns ------------------------------------------------------------------ */

/* The byte at offset i of an object with this seed: position-dependent, so
 * overlapping objects and misplaced copies show. */
static inline uint64_t pattern_word(uint64_t seed, size_t word)
{
    return (seed + word) * 0x9E3779B97F4A7C15ull ^ (seed >> 17);
}

/* Write the pattern over [off, off + len) of p (off a multiple of 8). */
static void fill_range(unsigned char *p, size_t off, size_t len, uint64_t seed)
{
    size_t end = off + len, w = off / 8;
    for (; off + 8 <= end; off += 8, w++) {
        uint64_t v = pattern_word(seed, w);
        memcpy(p + off, &v, 8);
    }
    if (off < end) {
        uint64_t v = pattern_word(seed, w);
        memcpy(p + off, &v, end - off);
    }
}

/* Offset of the first byte of [off, off + len) that differs, or SIZE_MAX. */
static size_t check_range(const unsigned char *p, size_t off, size_t len, uint64_t seed)
{
    size_t end = off + len, w = off / 8;
    for (; off + 8 <= end; off += 8, w++) {
        uint64_t v = pattern_word(seed, w), got;
        memcpy(&got, p + off, 8);
        if (got != v)
            for (unsigned int b = 0; b < 8; b++)
                if (p[off + b] != ((const unsigned char *)&v)[b])
                    return off + b;
    }
    if (off < end) {
        uint64_t v = pattern_word(seed, w);
        for (size_t b = 0; off + b < end; b++)
            if (p[off + b] != ((const unsigned char *)&v)[b])
                return off + b;
    }
    return SIZE_MAX;
}

/* Objects up to FULL_FILL bytes get the pattern over all their bytes; larger
 * ones over the first 64 bytes of every 4 KiB and their last 64 bytes. */
enum { FULL_FILL = 16384, SAMPLE_STRIDE = 4096, SAMPLE_LEN = 64 };

static void fill_obj(void *p, size_t size, uint64_t seed)
{
    if (size <= FULL_FILL) {
        fill_range(p, 0, size, seed);
        return;
    }
    for (size_t off = 0; off < size; off += SAMPLE_STRIDE)
        fill_range(p, off, SAMPLE_LEN, seed);
    size_t tail = (size - SAMPLE_LEN) & ~(size_t)7;
    fill_range(p, tail, size - tail, seed);
}

/* Check what fill_obj(p, size, seed) wrote, within the first limit bytes
 * (after a krealloc to a smaller size). Returns the bad offset or SIZE_MAX. */
static size_t check_obj(const void *p, size_t size, size_t limit, uint64_t seed)
{
    size_t n = size < limit ? size : limit;
    if (size <= FULL_FILL)
        return check_range(p, 0, n, seed);
    for (size_t off = 0; off < n; off += SAMPLE_STRIDE) {
        size_t len = n - off < SAMPLE_LEN ? n - off : SAMPLE_LEN;
        size_t bad = check_range(p, off, len, seed);
        if (bad != SIZE_MAX)
            return bad;
    }
    size_t tail = (size - SAMPLE_LEN) & ~(size_t)7;
    if (tail < n)
        return check_range(p, tail, n - tail, seed);
    return SIZE_MAX;
}

/* Offset of the first non-zero byte of the first n bytes, or SIZE_MAX. */
static size_t first_nonzero(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        if (w)
            break;
    }
    for (; i < n; i++)
        if (b[i])
            return i;
    return SIZE_MAX;
}

/* ---- machine-wide views ---------------------------------------------------------- */

/* The whole /proc/slabinfo text (malloc'ed; free it). */
static char *slabinfo_text(void)
{
    size_t n = kmem_slabinfo(NULL, 0);
    char *buf = malloc(n + 1);
    if (!buf)
        return NULL;
    size_t m = kmem_slabinfo(buf, n + 1);
    if (m != n) {
        fprintf(stderr, "kmem_slabinfo: %zu bytes, then %zu\n", n, m);
        harness_checks_failed++;
    }
    return buf;
}

struct slabline {
    unsigned long active_objs, num_objs;
    unsigned int objsize, objperslab, pagesperslab;
};

/* Find cache name's line in text (the name is the line's first field). */
static bool slabinfo_find(const char *text, const char *name, struct slabline *out)
{
    size_t len = strlen(name);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, name, len) == 0 && line[len] == ' ')
            return sscanf(line + len, "%lu %lu %u %u %u", &out->active_objs, &out->num_objs,
                          &out->objsize, &out->objperslab, &out->pagesperslab) == 5;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

/* Pages the caches may keep in empty slabs after everything was freed: at
 * most SLAB_KEEP_EMPTY (2) per kmalloc cache, and as many for the cache of
 * off-slab headers (the big classes' slab headers live there). */
static unsigned long kept_slab_pages(void)
{
    char *text = slabinfo_text();
    unsigned long pages = 0;
    for (const char *line = text; line && *line;) {
        char name[64];
        struct slabline sl;
        if (sscanf(line, "%63s", name) == 1 &&
            (strncmp(name, "kmalloc-", 8) == 0 || strcmp(name, "kmem_slab") == 0) &&
            slabinfo_find(line, name, &sl))
            pages += 2UL * sl.pagesperslab;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    free(text);
    return pages;
}

/* ---- sizes ---------------------------------------------------------------------- */

/* Check one fresh allocation of size bytes at p; returns false on a failure. */
static bool check_new(void *p, size_t size, unsigned long *nfail)
{
    LOOP_CHECK(*nfail, p != NULL, "kmalloc(%zu) returned NULL", size);
    if (!p)
        return false;
    unsigned long before = *nfail;
    size_t ks = ksize(p), want = expect_ksize(size), align = expect_align(size);
    LOOP_CHECK(*nfail, ks >= size, "kmalloc(%zu): ksize %zu", size, ks);
    LOOP_CHECK(*nfail, ks == want, "kmalloc(%zu): ksize %zu, expected class %zu", size, ks, want);
    LOOP_CHECK(*nfail, (uintptr_t)p % align == 0, "kmalloc(%zu) = %p: not %zu-aligned", size, p,
               align);
    LOOP_CHECK(*nfail, virt_to_page(p) != NULL, "kmalloc(%zu) = %p: not in managed memory", size,
               p);
    return *nfail == before;
}

TEST(kmalloc_every_size)
{
    REQUIRE(kmem_init(NULL) == 0);
    unsigned long nfail = 0;
    for (size_t size = 1; size <= KMALLOC_MAX_CACHE_SIZE; size++) {
        unsigned char *p = kmalloc(size, GFP_KERNEL);
        if (check_new(p, size, &nfail)) {
            /* All of ksize is usable. */
            size_t ks = ksize(p);
            fill_range(p, 0, ks, size);
            size_t bad = check_range(p, 0, ks, size);
            LOOP_CHECK(nfail, bad == SIZE_MAX, "kmalloc(%zu): byte %zu of %zu not kept", size, bad,
                       ks);
        }
        kfree(p);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(kmalloc_large_sizes)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const size_t sizes[] = {8193,    8192 + 4096, 12288,       12289,   16384, 16385,
                                   65536,   100000,      262144,      MiB - 1, MiB,   MiB + 1,
                                   2 * MiB, 3 * MiB,     4 * MiB - 1, 4 * MiB};
    unsigned long nfail = 0;
    for (unsigned int i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        unsigned char *p = kmalloc(size, GFP_KERNEL);
        if (check_new(p, size, &nfail)) {
            size_t ks = ksize(p);
            fill_range(p, 0, ks, size * 7);
            size_t bad = check_range(p, 0, ks, size * 7);
            LOOP_CHECK(nfail, bad == SIZE_MAX, "kmalloc(%zu): byte %zu of %zu not kept", size, bad,
                       ks);
            /* A block of pages, with its own physical placement. */
            CHECK_EQ(virt_to_phys(p) % PAGE_SIZE, 0);
        }
        kfree(p);
    }
    /* Beyond the largest block: NULL, quietly. */
    CHECK(kmalloc(4 * MiB + 1, GFP_KERNEL) == NULL);
    CHECK(kmalloc(8 * MiB, GFP_KERNEL) == NULL);
    CHECK(kmalloc(SIZE_MAX, GFP_KERNEL) == NULL);
    CHECK(kmalloc(SIZE_MAX / 2 + 1, GFP_KERNEL) == NULL);
    CHECK(kzalloc(SIZE_MAX, GFP_KERNEL) == NULL);
    /* GFP_DMA large blocks come from the DMA zone. */
    void *d = kmalloc(3 * PAGE_SIZE, GFP_DMA);
    CHECK(d != NULL);
    if (d) {
        CHECK(virt_to_phys(d) + ksize(d) <= (16u << 20));
        kfree(d);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(kmalloc_class_boundaries)
{
    REQUIRE(kmem_init(NULL) == 0);
    for (unsigned int i = 0; i < NR_CLASSES; i++) {
        size_t c = classes[i];
        size_t next = expect_ksize(c + 1); /* the next class, or pages */
        void *a = kmalloc(c, GFP_KERNEL), *b = kmalloc(c + 1, GFP_KERNEL);
        void *lo = kmalloc(i ? classes[i - 1] + 1 : 1, GFP_KERNEL);
        CHECK(a && b && lo);
        CHECK_EQ(ksize(a), c);
        CHECK_EQ(ksize(lo), c);
        CHECK_EQ(ksize(b), next);
        kfree(a);
        kfree(b);
        kfree(lo);
    }
    /* The two non-power-of-two classes take what fits them. */
    for (size_t s = 65; s <= 96; s++) {
        void *p = kmalloc(s, GFP_KERNEL);
        CHECK_EQ(ksize(p), 96);
        kfree(p);
    }
    for (size_t s = 129; s <= 192; s++) {
        void *p = kmalloc(s, GFP_KERNEL);
        CHECK_EQ(ksize(p), 192);
        kfree(p);
    }
    kmem_exit();
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

TEST(kmalloc_many_per_class)
{
    REQUIRE(kmem_init(NULL) == 0);
    char *text = slabinfo_text();
    REQUIRE(text != NULL);
    unsigned long nfail = 0;
    for (unsigned int i = 0; i < NR_CLASSES; i++) {
        size_t c = classes[i];
        struct slabline sl;
        CHECK(slabinfo_find(text, class_names[i], &sl));
        /* Three slabs and one object: more than one colour. */
        size_t n =
            slabinfo_find(text, class_names[i], &sl) && sl.objperslab ? 3 * sl.objperslab + 1 : 64;
        if (n > 20000)
            n = 20000;
        void **objs = calloc(n, sizeof *objs);
        REQUIRE(objs != NULL);
        for (size_t k = 0; k < n; k++) {
            objs[k] = kmalloc(c, GFP_KERNEL);
            if (check_new(objs[k], c, &nfail))
                fill_range(objs[k], 0, c, (uint64_t)(uintptr_t)objs[k]);
        }
        for (size_t k = 0; k < n; k++)
            if (objs[k]) {
                size_t bad = check_range(objs[k], 0, c, (uint64_t)(uintptr_t)objs[k]);
                LOOP_CHECK(nfail, bad == SIZE_MAX, "kmalloc-%zu object %p: byte %zu overwritten", c,
                           objs[k], bad);
            }
        qsort(objs, n, sizeof *objs, cmp_ptr);
        for (size_t k = 1; k < n; k++)
            LOOP_CHECK(nfail, !objs[k - 1] || (char *)objs[k] - (char *)objs[k - 1] >= (long)c,
                       "kmalloc-%zu objects %p and %p overlap", c, objs[k - 1], objs[k]);
        /* Free in an order unlike the allocation order. */
        uint64_t rng = 0x1234567 + i;
        for (size_t k = n; k > 1; k--) {
            size_t j = harness_rand(&rng) % k;
            void *t = objs[j];
            objs[j] = objs[k - 1];
            objs[k - 1] = t;
        }
        for (size_t k = 0; k < n; k++)
            kfree(objs[k]);
        free(objs);
    }
    free(text);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(kmalloc_zero_and_null)
{
    REQUIRE(kmem_init(NULL) == 0);
    unsigned long before = test_free_pages();
    CHECK(kmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(kzalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(kcalloc(0, 8, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(kcalloc(8, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(kmalloc_array(0, 100, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(ZERO_SIZE_PTR != NULL);
    CHECK(ZERO_OR_NULL_PTR(ZERO_SIZE_PTR));
    CHECK(ZERO_OR_NULL_PTR(NULL));
    kfree(NULL);
    kfree(ZERO_SIZE_PTR);
    kvfree(NULL);
    kvfree(ZERO_SIZE_PTR);
    CHECK_EQ(ksize(NULL), 0);
    CHECK_EQ(ksize(ZERO_SIZE_PTR), 0);
    CHECK_EQ(test_free_pages(), before); /* none of that took memory */
    /* A real allocation is never ZERO_SIZE_PTR nor in the first page. */
    void *p = kmalloc(1, GFP_KERNEL);
    CHECK(!ZERO_OR_NULL_PTR(p));
    kfree(p);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- zeroing ------------------------------------------------------------------------ */

enum { DIRTY_N = 64 };

/* Allocate n objects of size, fill them with 0xff, free them: the memory the
 * next allocations of that size get is dirty. */
static void dirty(size_t size, unsigned int n)
{
    void *objs[DIRTY_N];
    for (unsigned int k = 0; k < n; k++) {
        objs[k] = kmalloc(size, GFP_KERNEL);
        if (objs[k])
            memset(objs[k], 0xff, ksize(objs[k]));
    }
    for (unsigned int k = n; k-- > 0;)
        kfree(objs[k]);
}

/* Allocate n zeroed objects with alloc(size) and check every byte of size. */
static void expect_zeroed(const char *what, void *(*alloc)(size_t size), size_t size,
                          unsigned int n, unsigned long *nfail)
{
    void *objs[DIRTY_N];
    for (unsigned int k = 0; k < n; k++) {
        objs[k] = alloc(size);
        LOOP_CHECK(*nfail, objs[k] != NULL, "%s(%zu) returned NULL", what, size);
        if (!objs[k])
            continue;
        LOOP_CHECK(*nfail, ksize(objs[k]) == expect_ksize(size), "%s(%zu): ksize %zu", what, size,
                   ksize(objs[k]));
        size_t bad = first_nonzero(objs[k], size);
        LOOP_CHECK(*nfail, bad == SIZE_MAX, "%s(%zu) = %p: byte %zu is not zero", what, size,
                   objs[k], bad);
    }
    for (unsigned int k = 0; k < n; k++)
        kfree(objs[k]);
}

static void *do_kzalloc(size_t size)
{
    return kzalloc(size, GFP_KERNEL);
}
static void *do_kcalloc(size_t size)
{
    return size % 4 ? kcalloc(size, 1, GFP_KERNEL) : kcalloc(size / 4, 4, GFP_KERNEL);
}
static void *do_kvzalloc(size_t size)
{
    return kvzalloc(size, GFP_KERNEL);
}

TEST(kzalloc_kcalloc_zero)
{
    REQUIRE(kmem_init(NULL) == 0);
    unsigned long nfail = 0;
    static const size_t large[] = {8193, 20000, 65536, 300000, MiB};
    for (unsigned int i = 0; i < NR_CLASSES; i++) {
        size_t sizes[] = {classes[i], i ? classes[i - 1] + 1 : 1};
        for (unsigned int s = 0; s < 2; s++) {
            dirty(sizes[s], DIRTY_N);
            expect_zeroed("kzalloc", do_kzalloc, sizes[s], DIRTY_N, &nfail);
            dirty(sizes[s], DIRTY_N);
            expect_zeroed("kcalloc", do_kcalloc, sizes[s], DIRTY_N, &nfail);
            dirty(sizes[s], DIRTY_N);
            expect_zeroed("kvzalloc", do_kvzalloc, sizes[s], DIRTY_N, &nfail);
        }
    }
    for (unsigned int i = 0; i < sizeof large / sizeof large[0]; i++) {
        dirty(large[i], 4);
        expect_zeroed("kzalloc", do_kzalloc, large[i], 4, &nfail);
        dirty(large[i], 4);
        expect_zeroed("kcalloc", do_kcalloc, large[i], 4, &nfail);
        dirty(large[i], 4);
        expect_zeroed("kvzalloc", do_kvzalloc, large[i], 4, &nfail);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- kcalloc / kmalloc_array overflow ----------------------------------------------- */

TEST(kcalloc_overflow)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const size_t bad[][2] = {
        {SIZE_MAX / 2, 3},
        {3, SIZE_MAX / 2},
        {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX, 2},
        {2, SIZE_MAX},
        {SIZE_MAX / 2 + 1, 2},
        {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 33) + 1, (size_t)1 << 31},
        {SIZE_MAX / 8 + 1, 8},
        {SIZE_MAX / 4096 + 1, 4096},
    };
    unsigned long before = test_free_pages();
    for (unsigned int i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = bad[i][0], s = bad[i][1];
        CHECK(kcalloc(n, s, GFP_KERNEL) == NULL);
        CHECK(kmalloc_array(n, s, GFP_KERNEL) == NULL);
        CHECK(kcalloc(n, s, GFP_KERNEL | __GFP_NOFAIL) == NULL);
    }
    /* Fits in size_t but not in a block: NULL too. */
    CHECK(kcalloc(SIZE_MAX / 2, 1, GFP_KERNEL) == NULL);
    CHECK(kmalloc_array(4 * MiB + 1, 1, GFP_KERNEL) == NULL);
    CHECK(kcalloc(MiB + 1, 4, GFP_KERNEL) == NULL);
    CHECK_EQ(test_free_pages(), before); /* the failures took nothing */
    /* Products that fit: the exact product is usable, and kcalloc zeroes it. */
    static const size_t good[][2] = {
        {1, 1},    {100, 40}, {3, 64},      {12, 16},     {1, 8192},
        {8192, 1}, {3, 4096}, {1000, 1000}, {256, 16384},
    };
    for (unsigned int i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = good[i][0], s = good[i][1], bytes = n * s;
        unsigned char *a = kmalloc_array(n, s, GFP_KERNEL);
        CHECK(a != NULL);
        if (a) {
            CHECK_EQ(ksize(a), expect_ksize(bytes));
            memset(a, 0xee, bytes);
            kfree(a);
        }
        unsigned char *c = kcalloc(n, s, GFP_KERNEL);
        CHECK(c != NULL);
        if (c) {
            CHECK_EQ(ksize(c), expect_ksize(bytes));
            CHECK_EQ(first_nonzero(c, bytes), SIZE_MAX);
            kfree(c);
        }
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- krealloc ------------------------------------------------------------------------ */

TEST(krealloc_semantics)
{
    REQUIRE(kmem_init(NULL) == 0);

    /* In place within ksize: grow and shrink inside the class. */
    unsigned char *p = kmalloc(20, GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK_EQ(ksize(p), 32);
    fill_range(p, 0, 20, 1);
    CHECK(krealloc(p, 30, GFP_KERNEL) == p);
    CHECK(krealloc(p, 32, GFP_KERNEL) == p);
    CHECK(krealloc(p, 10, GFP_KERNEL) == p);
    CHECK(krealloc(p, 1, GFP_KERNEL) == p);
    CHECK(krealloc(p, 20, GFP_KERNEL) == p);
    CHECK_EQ(check_range(p, 0, 20, 1), SIZE_MAX);
    CHECK_EQ(ksize(p), 32);

    /* slab -> slab: moves, keeps the contents, frees the old object. */
    fill_range(p, 0, 32, 2);
    unsigned char *q = krealloc(p, 33, GFP_KERNEL);
    REQUIRE(q != NULL);
    CHECK(q != p);
    CHECK_EQ(ksize(q), 64);
    CHECK_EQ(check_range(q, 0, 32, 2), SIZE_MAX);
    fill_range(q, 0, 64, 3);
    p = krealloc(q, 150, GFP_KERNEL); /* 64 -> 192 */
    REQUIRE(p != NULL);
    CHECK_EQ(ksize(p), 192);
    CHECK_EQ(check_range(p, 0, 64, 3), SIZE_MAX);
    fill_range(p, 0, 150, 4);
    q = krealloc(p, 5000, GFP_KERNEL); /* 192 -> 8k */
    REQUIRE(q != NULL);
    CHECK_EQ(ksize(q), 8192);
    CHECK_EQ(check_range(q, 0, 150, 4), SIZE_MAX);

    /* slab -> large. */
    fill_range(q, 0, 8192, 5);
    p = krealloc(q, 20000, GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK(p != q);
    CHECK_EQ(ksize(p), 32768); /* 5 pages: an order-3 block */
    CHECK_EQ((uintptr_t)p % PAGE_SIZE, 0);
    CHECK_EQ(check_range(p, 0, 8192, 5), SIZE_MAX);

    /* large, in place: shrink and grow within the block. */
    fill_range(p, 0, 32768, 6);
    CHECK(krealloc(p, 32768, GFP_KERNEL) == p);
    CHECK(krealloc(p, 9000, GFP_KERNEL) == p);
    CHECK(krealloc(p, 100, GFP_KERNEL) == p); /* kept: it fits */
    CHECK(krealloc(p, 30000, GFP_KERNEL) == p);
    CHECK_EQ(ksize(p), 32768);
    CHECK_EQ(check_range(p, 0, 32768, 6), SIZE_MAX);

    /* large -> larger. */
    q = krealloc(p, 300000, GFP_KERNEL);
    REQUIRE(q != NULL);
    CHECK(q != p);
    CHECK_EQ(ksize(q), 512 * KiB);
    CHECK_EQ(check_range(q, 0, 32768, 6), SIZE_MAX);
    fill_range(q, 0, 512 * KiB, 7);
    p = krealloc(q, 3 * MiB, GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK_EQ(ksize(p), 4 * MiB);
    CHECK_EQ(check_range(p, 0, 512 * KiB, 7), SIZE_MAX);

    /* Failure (too big for any block): NULL, and p is untouched and live. */
    fill_range(p, 0, 4 * MiB, 8);
    CHECK(krealloc(p, 4 * MiB + 1, GFP_KERNEL) == NULL);
    CHECK(krealloc(p, SIZE_MAX, GFP_KERNEL) == NULL);
    CHECK_EQ(ksize(p), 4 * MiB);
    CHECK_EQ(check_range(p, 0, 4 * MiB, 8), SIZE_MAX);
    q = kmalloc(40, GFP_KERNEL);
    REQUIRE(q != NULL);
    fill_range(q, 0, 40, 9);
    CHECK(krealloc(q, 8 * MiB, GFP_KERNEL) == NULL);
    CHECK_EQ(ksize(q), 64);
    CHECK_EQ(check_range(q, 0, 40, 9), SIZE_MAX);
    kfree(q);

    /* krealloc(p, 0) frees p (its pages come back) and returns ZERO_SIZE_PTR. */
    unsigned long before = test_free_pages();
    CHECK(krealloc(p, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK_EQ(test_free_pages(), before + (4 * MiB) / PAGE_SIZE);

    /* krealloc(NULL, n) and krealloc(ZERO_SIZE_PTR, n) are kmalloc(n). */
    p = krealloc(NULL, 100, GFP_KERNEL);
    CHECK(p != NULL && !ZERO_OR_NULL_PTR(p));
    CHECK_EQ(ksize(p), 128);
    memset(p, 1, 100);
    q = krealloc(ZERO_SIZE_PTR, 3000, GFP_KERNEL);
    CHECK(q != NULL && !ZERO_OR_NULL_PTR(q));
    CHECK_EQ(ksize(q), 4096);
    memset(q, 2, 3000);
    unsigned char *l = krealloc(NULL, 50000, GFP_KERNEL);
    CHECK(l != NULL);
    CHECK_EQ(ksize(l), 65536);
    memset(l, 3, 50000);
    CHECK(krealloc(NULL, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(krealloc(ZERO_SIZE_PTR, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(krealloc(p, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(krealloc(q, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
    CHECK(krealloc(l, 0, GFP_KERNEL) == ZERO_SIZE_PTR);

    /* A chain of growth through every class and into pages keeps the first
     * bytes all the way. */
    p = NULL;
    size_t have = 0;
    for (size_t s = 1; s <= 40000; s = s * 3 / 2 + 1) {
        q = krealloc(p, s, GFP_KERNEL);
        CHECK(q != NULL);
        if (!q)
            break;
        if (have)
            CHECK_EQ(check_range(q, 0, have, 10), SIZE_MAX);
        CHECK_EQ(ksize(q), expect_ksize(s));
        fill_range(q, 0, s, 10);
        have = s;
        p = q;
    }
    kfree(p);

    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- kvmalloc ------------------------------------------------------------------------ */

static void kv_round(void)
{
    static const size_t sizes[] = {1, 8, 100, 192, 4000, 8192, 8193, 100000, MiB, 4 * MiB};
    for (unsigned int i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t size = sizes[i];
        unsigned char *p = kvmalloc(size, GFP_KERNEL);
        CHECK(p != NULL);
        if (!p)
            continue;
        CHECK(ksize(p) >= size);
        fill_range(p, 0, size, size);
        CHECK_EQ(check_range(p, 0, size, size), SIZE_MAX);
        kvfree(p);
        unsigned char *z = kvzalloc(size, GFP_KERNEL);
        CHECK(z != NULL);
        if (!z)
            continue;
        CHECK_EQ(first_nonzero(z, size), SIZE_MAX);
        fill_range(z, 0, size, ~size);
        CHECK_EQ(check_range(z, 0, size, ~size), SIZE_MAX);
        kvfree(z);
    }
    kvfree(NULL);
    /* kvfree takes kmalloc memory too (as in Linux). */
    kvfree(kmalloc(500, GFP_KERNEL));
    kvfree(kmalloc(50000, GFP_KERNEL));
}

TEST(kvmalloc_family)
{
    REQUIRE(kmem_init(NULL) == 0);
    kv_round(); /* warm-up: the caches fill their magazines */
    unsigned long base = test_free_pages(), keep = kept_slab_pages();
    for (int i = 0; i < 3; i++) {
        kv_round();
        unsigned long now = test_free_pages();
        if (now + keep < base)
            fprintf(stderr, "kvmalloc round %d: %lu pages free, %lu after warm-up\n", i, now, base);
        CHECK(now + keep >= base);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- slabinfo ------------------------------------------------------------------------- */

TEST(kmalloc_slabinfo)
{
    REQUIRE(kmem_init(NULL) == 0);
    /* One live object per class, so every cache has a slab. */
    void *objs[NR_CLASSES];
    for (unsigned int i = 0; i < NR_CLASSES; i++)
        objs[i] = kmalloc(classes[i], GFP_KERNEL);
    char *text = slabinfo_text();
    REQUIRE(text != NULL);
    CHECK(strncmp(text, "slabinfo - version: 2.1\n", 24) == 0);
    for (unsigned int i = 0; i < NR_CLASSES; i++) {
        struct slabline sl;
        bool found = slabinfo_find(text, class_names[i], &sl);
        if (!found)
            fprintf(stderr, "no slabinfo line for %s\n", class_names[i]);
        CHECK(found);
        if (!found)
            continue;
        CHECK_EQ(sl.objsize, classes[i]);
        CHECK(sl.num_objs >= 1);
        CHECK(sl.active_objs <= sl.num_objs);
        CHECK(sl.objperslab >= 1);
        CHECK(sl.pagesperslab >= 1 && (sl.pagesperslab & (sl.pagesperslab - 1)) == 0);
        CHECK((size_t)sl.objperslab * sl.objsize <= (size_t)sl.pagesperslab * PAGE_SIZE);
        CHECK_EQ(class_index(sl.objsize), (int)i);
    }
    free(text);
    for (unsigned int i = 0; i < NR_CLASSES; i++)
        kfree(objs[i]);
    kmem_exit();
}

/* ---- memory comes back ------------------------------------------------------------------ */

/* One round: objects of every class and some large blocks, live together,
 * with patterns, checked and freed in a shuffled order. */
struct robj {
    void *p;
    size_t size;
    uint64_t seed;
};

static void memory_round(uint64_t seed)
{
    enum { PER_CLASS = 700, NR_LARGE = 24 };
    enum { N = NR_CLASSES * PER_CLASS + NR_LARGE };
    static struct robj objs[N];
    uint64_t rng = seed;
    size_t n = 0;
    unsigned long nfail = 0;
    for (unsigned int i = 0; i < NR_CLASSES; i++)
        for (unsigned int k = 0; k < PER_CLASS; k++, n++) {
            size_t lo = i ? classes[i - 1] + 1 : 1;
            objs[n].size = lo + harness_rand(&rng) % (classes[i] - lo + 1);
            objs[n].p = kmalloc(objs[n].size, GFP_KERNEL);
        }
    for (unsigned int k = 0; k < NR_LARGE; k++, n++) {
        objs[n].size = 8193 + harness_rand(&rng) % (300 * KiB);
        objs[n].p = kmalloc(objs[n].size, GFP_KERNEL);
    }
    for (size_t k = 0; k < n; k++) {
        LOOP_CHECK(nfail, objs[k].p != NULL, "kmalloc(%zu) failed", objs[k].size);
        objs[k].seed = harness_rand(&rng);
        if (objs[k].p)
            fill_obj(objs[k].p, objs[k].size, objs[k].seed);
    }
    for (size_t k = n; k > 1; k--) {
        size_t j = harness_rand(&rng) % k;
        struct robj t = objs[j];
        objs[j] = objs[k - 1];
        objs[k - 1] = t;
    }
    for (size_t k = 0; k < n; k++) {
        if (!objs[k].p)
            continue;
        size_t bad = check_obj(objs[k].p, objs[k].size, objs[k].size, objs[k].seed);
        LOOP_CHECK(nfail, bad == SIZE_MAX, "object %p (size %zu): byte %zu overwritten", objs[k].p,
                   objs[k].size, bad);
        LOOP_CHECK(nfail, ksize(objs[k].p) == expect_ksize(objs[k].size), "ksize(%p) %zu for %zu",
                   objs[k].p, ksize(objs[k].p), objs[k].size);
        kfree(objs[k].p);
    }
}

TEST(kmalloc_memory_returns)
{
    REQUIRE(kmem_init(NULL) == 0);
    unsigned long managed = test_managed_pages();
    unsigned long initial = test_free_pages();
    CHECK_EQ(initial, managed); /* booting allocates nothing */
    memory_round(1);            /* warm-up */
    unsigned long baseline = test_free_pages();
    unsigned long keep = kept_slab_pages();
    fprintf(stderr, "memory: %lu pages managed, %lu held after the warm-up round\n", managed,
            managed - baseline);
    CHECK_EQ(kmem_page_check(), 0);
    for (uint64_t round = 2; round < 6; round++) {
        memory_round(round);
        unsigned long now = test_free_pages();
        if (now + keep < baseline)
            fprintf(stderr, "round %llu: %lu pages free, baseline %lu, caches may keep %lu\n",
                    (unsigned long long)round, now, baseline, keep);
        CHECK(now + keep >= baseline);
        CHECK(now <= managed);
        CHECK_EQ(kmem_page_check(), 0);
    }
    /* Large blocks alone come back exactly. */
    unsigned long before = test_free_pages();
    void *big[8];
    for (unsigned int i = 0; i < 8; i++)
        big[i] = kmalloc(8193 + i * 70000, GFP_KERNEL);
    for (unsigned int i = 0; i < 8; i++)
        kfree(big[i]);
    CHECK_EQ(test_free_pages(), before);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- the randomized model ------------------------------------------------------------------ */

struct mobj {
    unsigned char *p;
    size_t size; /* asked for */
    size_t ks;   /* ksize at allocation */
    uint64_t seed;
};

struct model {
    uint64_t seed, rng;
    unsigned long op, ops;
    struct mobj *objs;
    size_t nobjs, max_objs;
    size_t large_bytes, max_large_bytes;
    /* One bit per 8 bytes of the direct map: covered by a live object. */
    uint64_t *used;
    uintptr_t direct;
    size_t direct_bytes;
    bool broken;
    unsigned long n_alloc, n_zalloc, n_calloc, n_free, n_realloc, n_inplace, n_large, n_fail;
};

#define MFAIL(m, ...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: model failure (seed %#llx, op %lu): ", __FILE__, __LINE__,         \
                (unsigned long long)(m)->seed, (m)->op);                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        harness_checks_failed++;                                                                   \
        (m)->broken = true;                                                                        \
    } while (0)

static inline uint64_t mrand(struct model *m)
{
    return harness_rand(&m->rng);
}

/* Mostly small, some up to 8 KiB, a few large (mostly up to 64 KiB). */
static size_t model_size(struct model *m)
{
    unsigned int r = (unsigned int)(mrand(m) % 1000);
    if (r < 450)
        return 1 + mrand(m) % 64;
    if (r < 750)
        return 1 + mrand(m) % 256;
    if (r < 900)
        return 1 + mrand(m) % 1024;
    if (r < 970)
        return 1 + mrand(m) % 8192;
    if (r < 994)
        return 8193 + mrand(m) % (56 * KiB);
    if (r < 999)
        return 64 * KiB + mrand(m) % (960 * KiB);
    return MiB + mrand(m) % (3 * MiB + 1);
}

/* Set or clear the bits of [p, p + len); returns false if any bit was
 * already in the wanted state (overlap on set, model corruption on clear). */
static bool model_mark(struct model *m, const void *p, size_t len, bool set)
{
    uintptr_t off = (uintptr_t)p - m->direct;
    if (off >= m->direct_bytes || len > m->direct_bytes - off)
        return false;
    size_t b = off / 8, e = (off + len + 7) / 8;
    bool ok = true;
    while (b < e) {
        size_t w = b / 64;
        unsigned int lo = (unsigned int)(b % 64);
        unsigned int hi = e - b >= 64 - lo ? 64 : lo + (unsigned int)(e - b);
        uint64_t mask = (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
        if (set) {
            if (m->used[w] & mask)
                ok = false;
            m->used[w] |= mask;
        } else {
            if ((m->used[w] & mask) != mask)
                ok = false;
            m->used[w] &= ~mask;
        }
        b = w * 64 + hi;
    }
    return ok;
}

static bool model_check_obj(struct model *m, const struct mobj *o, const char *when)
{
    size_t bad = check_obj(o->p, o->size, o->size, o->seed);
    if (bad != SIZE_MAX) {
        MFAIL(m, "%s: object %p (size %zu, ksize %zu) byte %zu overwritten", when, (void *)o->p,
              o->size, o->ks, bad);
        return false;
    }
    return true;
}

/* Check a new object of size at p (zeroed: its size bytes must be 0) and
 * claim its range. */
static bool model_new(struct model *m, struct mobj *o, bool zeroed)
{
    size_t ks = ksize(o->p), want = expect_ksize(o->size), align = expect_align(o->size);
    if (ks != want) {
        MFAIL(m, "kmalloc(%zu) = %p: ksize %zu, expected %zu", o->size, (void *)o->p, ks, want);
        return false;
    }
    if ((uintptr_t)o->p % align) {
        MFAIL(m, "kmalloc(%zu) = %p: not %zu-aligned", o->size, (void *)o->p, align);
        return false;
    }
    if (!model_mark(m, o->p, ks, true)) {
        MFAIL(m, "kmalloc(%zu) = %p (ksize %zu) overlaps a live object or is outside memory",
              o->size, (void *)o->p, ks);
        return false;
    }
    o->ks = ks;
    if (zeroed) {
        size_t n = o->size > FULL_FILL ? FULL_FILL : o->size;
        size_t bad = first_nonzero(o->p, n);
        if (bad == SIZE_MAX && o->size > n)
            bad = first_nonzero(o->p + o->size - 64, 64) == SIZE_MAX ? SIZE_MAX : o->size - 64;
        if (bad != SIZE_MAX) {
            MFAIL(m, "zeroing allocation of %zu at %p: byte %zu not zero", o->size, (void *)o->p,
                  bad);
            return false;
        }
    }
    o->seed = mrand(m);
    fill_obj(o->p, o->size, o->seed);
    return true;
}

/* A failed allocation is acceptable only for a large block when no free
 * block of its order or more is left. */
static void model_failed(struct model *m, size_t size)
{
    m->n_fail++;
    if (size <= KMALLOC_MAX_CACHE_SIZE) {
        MFAIL(m, "allocation of %zu bytes failed", size);
        return;
    }
    unsigned int order = (unsigned int)get_order(size);
    drain_all_pages();
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)zt, &zi))
            continue;
        for (unsigned int o = order; o < NR_PAGE_ORDERS; o++)
            if (zi.nr_free[o]) {
                MFAIL(m, "allocation of %zu bytes (order %u) failed with a free order-%u block",
                      size, order, o);
                return;
            }
    }
}

static void model_alloc(struct model *m)
{
    size_t size = model_size(m);
    if (size > KMALLOC_MAX_CACHE_SIZE &&
        m->large_bytes + ((size_t)PAGE_SIZE << get_order(size)) > m->max_large_bytes)
        size = 1 + mrand(m) % 512;
    struct mobj o = {.size = size};
    unsigned int how = (unsigned int)(mrand(m) % 20);
    bool zeroed = false;
    if (how < 2) {
        o.p = kzalloc(size, GFP_KERNEL);
        zeroed = true;
        m->n_zalloc++;
    } else if (how < 3 && size % 8 == 0) {
        o.p = kcalloc(size / 8, 8, GFP_KERNEL);
        zeroed = true;
        m->n_calloc++;
    } else if (how < 4) {
        o.p = kmalloc_array(1, size, GFP_KERNEL);
    } else {
        o.p = kmalloc(size, GFP_KERNEL);
    }
    m->n_alloc++;
    if (!o.p) {
        model_failed(m, size);
        return;
    }
    if (!model_new(m, &o, zeroed))
        return;
    if (size > KMALLOC_MAX_CACHE_SIZE) {
        m->large_bytes += o.ks;
        m->n_large++;
    }
    m->objs[m->nobjs++] = o;
}

static void model_drop(struct model *m, size_t i)
{
    struct mobj *o = &m->objs[i];
    if (o->ks > KMALLOC_MAX_CACHE_SIZE)
        m->large_bytes -= o->ks;
    m->objs[i] = m->objs[--m->nobjs];
}

static void model_free(struct model *m)
{
    size_t i = mrand(m) % m->nobjs;
    struct mobj *o = &m->objs[i];
    model_check_obj(m, o, "before kfree");
    if (ksize(o->p) != o->ks)
        MFAIL(m, "ksize(%p) changed from %zu to %zu", (void *)o->p, o->ks, ksize(o->p));
    if (!model_mark(m, o->p, o->ks, false))
        MFAIL(m, "model: %p not marked", (void *)o->p);
    if (mrand(m) % 8 == 0)
        kvfree(o->p);
    else
        kfree(o->p);
    m->n_free++;
    model_drop(m, i);
}

static void model_realloc(struct model *m)
{
    size_t i = mrand(m) % m->nobjs;
    struct mobj *o = &m->objs[i];
    size_t size = model_size(m);
    if (size > o->ks && size > KMALLOC_MAX_CACHE_SIZE &&
        m->large_bytes + ((size_t)PAGE_SIZE << get_order(size)) > m->max_large_bytes)
        size = 1 + mrand(m) % 512;
    if (!model_check_obj(m, o, "before krealloc"))
        return;
    m->n_realloc++;
    unsigned char *q = krealloc(o->p, size, GFP_KERNEL);
    if (!q) {
        model_failed(m, size);
        model_check_obj(m, o, "after a failed krealloc"); /* untouched */
        return;
    }
    size_t keep = o->size < size ? o->size : size;
    if (size <= o->ks) {
        if (q != o->p) {
            MFAIL(m, "krealloc(%p, %zu) with ksize %zu moved to %p", (void *)o->p, size, o->ks,
                  (void *)q);
            return;
        }
        m->n_inplace++;
        size_t bad = check_obj(q, o->size, keep, o->seed);
        if (bad != SIZE_MAX) {
            MFAIL(m, "krealloc in place of %p from %zu to %zu: byte %zu changed", (void *)q,
                  o->size, size, bad);
            return;
        }
        o->size = size;
        o->seed = mrand(m);
        fill_obj(q, size, o->seed);
        return;
    }
    /* Moved: the old object is gone, the new one keeps the old contents. */
    size_t bad = check_obj(q, o->size, keep, o->seed);
    if (bad != SIZE_MAX) {
        MFAIL(m, "krealloc(%p, %zu) = %p from %zu: byte %zu not copied", (void *)o->p, size,
              (void *)q, o->size, bad);
        return;
    }
    if (!model_mark(m, o->p, o->ks, false))
        MFAIL(m, "model: %p not marked", (void *)o->p);
    struct mobj n = {.p = q, .size = size};
    model_drop(m, i);
    if (!model_new(m, &n, false))
        return;
    if (n.ks > KMALLOC_MAX_CACHE_SIZE)
        m->large_bytes += n.ks;
    m->objs[m->nobjs++] = n;
}

static void model_verify_all(struct model *m, const char *when)
{
    for (size_t i = 0; i < m->nobjs && !m->broken; i++)
        model_check_obj(m, &m->objs[i], when);
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    return strtoul(s, NULL, 0);
}

static void model_run(uint64_t seed, unsigned long ops)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct model m = {
        .seed = seed, .rng = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull, .ops = ops};
    if (!m.rng)
        m.rng = 1;
    m.max_objs = 3000;
    m.max_large_bytes = 20 * MiB;
    m.objs = calloc(m.max_objs, sizeof *m.objs);
    m.direct = (uintptr_t)phys_to_virt(0);
    unsigned long end_pfn = 0;
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi) && zi.end_pfn > end_pfn)
            end_pfn = zi.end_pfn;
    }
    m.direct_bytes = (size_t)end_pfn << PAGE_SHIFT;
    m.used = calloc(m.direct_bytes / 8 / 64 + 1, sizeof *m.used);
    REQUIRE(m.objs && m.used);
    unsigned long initial = test_free_pages();

    /* Phases of growth and shrinkage: the live set swings between empty and
     * max_objs, so slabs fill, drain and are given back. */
    unsigned int alloc_permille = 600;
    for (m.op = 0; m.op < ops && !m.broken; m.op++) {
        if (m.op % 50000 == 0)
            alloc_permille = m.op / 50000 % 2 ? 350 : 650;
        unsigned int r = (unsigned int)(mrand(&m) % 1000);
        if (m.nobjs == 0 || (r < alloc_permille && m.nobjs < m.max_objs))
            model_alloc(&m);
        else if (r < alloc_permille + (1000 - alloc_permille) * 3 / 4 || m.nobjs >= m.max_objs)
            model_free(&m);
        else
            model_realloc(&m);
        if (m.op % 20000 == 19999) {
            model_verify_all(&m, "periodic check");
            int bad = kmem_page_check();
            if (bad)
                MFAIL(&m, "kmem_page_check() = %d", bad);
        }
    }
    model_verify_all(&m, "at the end");
    while (m.nobjs && !m.broken)
        model_free(&m);
    CHECK_EQ(kmem_page_check(), 0);
    /* Not a check: freed objects may stay cached in magazines (see
     * kmalloc_memory_returns for what comes back). */
    fprintf(stderr, "model: %lu pages still held by the caches after freeing all\n",
            initial - test_free_pages());
    fprintf(stderr,
            "model seed %#llx: %lu ops, %lu allocs (%lu kzalloc, %lu kcalloc, %lu large), %lu "
            "frees, %lu kreallocs (%lu in place), %lu failed\n",
            (unsigned long long)seed, m.op, m.n_alloc, m.n_zalloc, m.n_calloc, m.n_large, m.n_free,
            m.n_realloc, m.n_inplace, m.n_fail);
    free(m.objs);
    free(m.used);
    kmem_exit();
}

TEST(kmalloc_model)
{
    unsigned long ops = env_ul("KMEM_TEST_OPS", 300000);
    const char *one = getenv("KMEM_TEST_SEED");
    if (one && *one) {
        model_run(strtoull(one, NULL, 0), ops);
        return;
    }
    model_run(0x6b6d616c6c6f63ull, ops / 2);
    model_run(0x5eed0002ull, ops - ops / 2);
}

/* ---- threads --------------------------------------------------------------------------- */

enum { NR_THREADS = 4, QUEUE_CAP = 1024, LOCAL_CAP = 64 };

struct qitem {
    void *p;
    size_t size;
    uint64_t seed;
};

static struct {
    pthread_mutex_t lock;
    struct qitem items[QUEUE_CAP];
    size_t head, count;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool queue_push(struct qitem it)
{
    bool ok = false;
    pthread_mutex_lock(&queue.lock);
    if (queue.count < QUEUE_CAP) {
        queue.items[(queue.head + queue.count++) % QUEUE_CAP] = it;
        ok = true;
    }
    pthread_mutex_unlock(&queue.lock);
    return ok;
}

static bool queue_pop(struct qitem *it)
{
    bool ok = false;
    pthread_mutex_lock(&queue.lock);
    if (queue.count) {
        *it = queue.items[queue.head];
        queue.head = (queue.head + 1) % QUEUE_CAP;
        queue.count--;
        ok = true;
    }
    pthread_mutex_unlock(&queue.lock);
    return ok;
}

struct worker {
    pthread_t tid;
    int id;
    unsigned long ops;
    uint64_t rng;
    unsigned long allocs, frees, cross, reallocs;
    int failures;
    char error[256];
    struct qitem local[LOCAL_CAP];
    unsigned int nlocal;
};

#define WFAIL(w, ...)                                                                              \
    do {                                                                                           \
        if ((w)->failures++ == 0)                                                                  \
            snprintf((w)->error, sizeof(w)->error, __VA_ARGS__);                                   \
    } while (0)

static size_t worker_size(struct worker *w)
{
    unsigned int r = (unsigned int)(harness_rand(&w->rng) % 100);
    if (r < 70)
        return 1 + harness_rand(&w->rng) % 256;
    if (r < 97)
        return 1 + harness_rand(&w->rng) % 8192;
    return 8193 + harness_rand(&w->rng) % (24 * KiB);
}

static void worker_verify_free(struct worker *w, struct qitem *it)
{
    size_t bad = check_obj(it->p, it->size, it->size, it->seed);
    if (bad != SIZE_MAX)
        WFAIL(w, "object %p (size %zu) byte %zu overwritten", it->p, it->size, bad);
    /* After an in-place krealloc, ksize is the original class's. */
    if (ksize(it->p) < it->size)
        WFAIL(w, "ksize(%p) = %zu for size %zu", it->p, ksize(it->p), it->size);
    kfree(it->p);
    w->frees++;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (unsigned long i = 0; i < w->ops; i++) {
        unsigned int r = (unsigned int)(harness_rand(&w->rng) % 100);
        if (r < 45 && w->nlocal < LOCAL_CAP) {
            struct qitem it = {.size = worker_size(w), .seed = harness_rand(&w->rng)};
            it.p = kmalloc(it.size, GFP_KERNEL);
            w->allocs++;
            if (!it.p) {
                WFAIL(w, "kmalloc(%zu) failed", it.size);
                continue;
            }
            if ((uintptr_t)it.p % expect_align(it.size))
                WFAIL(w, "kmalloc(%zu) = %p misaligned", it.size, it.p);
            fill_obj(it.p, it.size, it.seed);
            w->local[w->nlocal++] = it;
        } else if (r < 65 && w->nlocal) {
            unsigned int k = (unsigned int)(harness_rand(&w->rng) % w->nlocal);
            struct qitem it = w->local[k];
            w->local[k] = w->local[--w->nlocal];
            if (queue_push(it))
                w->cross++;
            else
                worker_verify_free(w, &it);
        } else if (r < 82) {
            struct qitem it;
            if (queue_pop(&it))
                worker_verify_free(w, &it);
        } else if (r < 88 && w->nlocal) {
            unsigned int k = (unsigned int)(harness_rand(&w->rng) % w->nlocal);
            struct qitem *it = &w->local[k];
            size_t size = worker_size(w);
            void *q = krealloc(it->p, size, GFP_KERNEL);
            w->reallocs++;
            if (!q) {
                WFAIL(w, "krealloc(%p, %zu) failed", it->p, size);
                continue;
            }
            size_t bad = check_obj(q, it->size, size, it->seed);
            if (bad != SIZE_MAX)
                WFAIL(w, "krealloc(%p, %zu) = %p: byte %zu not kept", it->p, size, q, bad);
            it->p = q;
            it->size = size;
            it->seed = harness_rand(&w->rng);
            fill_obj(q, size, it->seed);
        } else if (w->nlocal) {
            unsigned int k = (unsigned int)(harness_rand(&w->rng) % w->nlocal);
            struct qitem it = w->local[k];
            w->local[k] = w->local[--w->nlocal];
            worker_verify_free(w, &it);
        }
    }
    while (w->nlocal)
        worker_verify_free(w, &w->local[--w->nlocal]);
    return NULL;
}

TEST(kmalloc_threads)
{
    REQUIRE(kmem_init(NULL) == 0);
    unsigned long ops = UNDER_TSAN ? 40000 : 400000;
    const char *env = getenv("KMEM_TEST_OPS");
    if (env && *env && strtoul(env, NULL, 0))
        ops = strtoul(env, NULL, 0) / NR_THREADS + 1;
    static struct worker workers[NR_THREADS];
    for (int i = 0; i < NR_THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].id = i;
        workers[i].ops = ops;
        workers[i].rng = 0x7468726561640000ull + (uint64_t)i * 0x9E3779B97F4A7C15ull;
    }
    for (int i = 0; i < NR_THREADS; i++)
        REQUIRE(pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]) == 0);
    for (int i = 0; i < NR_THREADS; i++)
        pthread_join(workers[i].tid, NULL);
    /* What is left in the queue was allocated by other threads. */
    struct worker main_w = {.id = -1};
    struct qitem it;
    while (queue_pop(&it))
        worker_verify_free(&main_w, &it);
    unsigned long allocs = 0, frees = main_w.frees, cross = 0;
    for (int i = 0; i < NR_THREADS; i++) {
        if (workers[i].failures)
            fprintf(stderr, "worker %d: %d failures; first: %s\n", i, workers[i].failures,
                    workers[i].error);
        CHECK_EQ(workers[i].failures, 0);
        allocs += workers[i].allocs;
        frees += workers[i].frees;
        cross += workers[i].cross;
    }
    if (main_w.failures)
        fprintf(stderr, "main: %d failures; first: %s\n", main_w.failures, main_w.error);
    CHECK_EQ(main_w.failures, 0);
    /* Every successful allocation was freed once (failures were counted). */
    CHECK(frees <= allocs);
    CHECK(cross > 0);
    fprintf(stderr, "threads: %lu allocs, %lu frees, %lu handed to another thread\n", allocs, frees,
            cross);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
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
    RUN_CLEAN(kmalloc_every_size);
    RUN_CLEAN(kmalloc_large_sizes);
    RUN_CLEAN(kmalloc_class_boundaries);
    RUN_CLEAN(kmalloc_many_per_class);
    RUN_CLEAN(kmalloc_zero_and_null);
    RUN_CLEAN(kzalloc_kcalloc_zero);
    RUN_CLEAN(kcalloc_overflow);
    RUN_CLEAN(krealloc_semantics);
    RUN_CLEAN(kvmalloc_family);
    RUN_CLEAN(kmalloc_slabinfo);
    RUN_CLEAN(kmalloc_memory_returns);
    RUN_CLEAN(kmalloc_model);
    RUN_CLEAN(kmalloc_threads);
    return harness_report();
}
