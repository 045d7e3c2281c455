/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_api.c - conformance of libkmem-malloc.so's entry points:
 * malloc, free, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 * memalign, valloc, pvalloc and malloc_usable_size, with glibc's documented
 * behaviour (see kmem/malloc.h).
 *
 * Each check is a TEST of its own; a failure prints file:line with what was
 * expected and what came. Built against glibc (no library), everything but
 * kmem's own choices (gated by mt_is_kmem) must pass as well.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "malloc_under_test.h"

#include "harness.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------------- */

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* A size the compiler cannot see (no folding, no -Walloc-size-larger-than). */
static size_t opaque(size_t x)
{
    volatile size_t v = x;
    return v;
}

static size_t page_size(void)
{
    long n = sysconf(_SC_PAGESIZE);
    return n > 0 ? (size_t)n : 4096;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        harness_checks_failed++;                                                                   \
    } while (0)

static const char *errno_name(int e)
{
    switch (e) {
    case 0:
        return "0";
    case ENOMEM:
        return "ENOMEM";
    case EINVAL:
        return "EINVAL";
    default:
        return strerror(e);
    }
}

/* expr must give NULL and set errno to err; a block that comes is freed. */
#define CHECK_FAILS(expr, err)                                                                     \
    do {                                                                                           \
        errno = 0;                                                                                 \
        void *fails_r_ = (expr);                                                                   \
        int fails_e_ = errno;                                                                      \
        if (fails_r_ != NULL || fails_e_ != (err)) {                                               \
            FAIL("%s: expected NULL with errno %s, got %p with errno %s", #expr, #err, fails_r_,   \
                 errno_name(fails_e_));                                                            \
            MT(free)(fails_r_);                                                                    \
        }                                                                                          \
    } while (0)

#define CHECK_NONNULL(p, what)                                                                     \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            FAIL("%s: expected a block, got NULL (errno %s)", what, errno_name(errno));            \
    } while (0)

#define CHECK_ALIGNED(p, align, what)                                                              \
    do {                                                                                           \
        if ((uintptr_t)(p) % (align) != 0)                                                         \
            FAIL("%s: expected %zu-byte alignment, got %p", what, (size_t)(align), (void *)(p));   \
    } while (0)

/* malloc_usable_size(p) >= n; false (reported) when not, and then the
 * caller must not write n bytes. */
static bool check_usable(const char *file, int line, void *p, size_t n, const char *what)
{
    size_t usable = MT(malloc_usable_size)(p);
    if (usable >= n)
        return true;
    fprintf(stderr, "%s:%d: %s: expected malloc_usable_size >= %zu, got %zu\n", file, line, what, n,
            usable);
    harness_checks_failed++;
    return false;
}

#define CHECK_USABLE(p, n, what) check_usable(__FILE__, __LINE__, p, n, what)

/* The pattern of seed: one 64-bit word per 8 bytes, none repeating. */
static uint64_t pattern_word(size_t w, unsigned seed)
{
    uint64_t x = (uint64_t)w * 0x9e3779b97f4a7c15u + (uint64_t)seed * 0xbf58476d1ce4e5b9u;
    return x ^ x >> 29;
}

static uint8_t pattern_byte(size_t i, unsigned seed)
{
    uint64_t w = pattern_word(i / 8, seed);
    uint8_t b[8];
    memcpy(b, &w, 8);
    return b[i % 8];
}

static void fill(void *p, size_t n, unsigned seed)
{
    uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(i / 8, seed);
        memcpy(b + i, &w, 8);
    }
    for (; i < n; i++)
        b[i] = pattern_byte(i, seed);
}

/* The first offset below n that does not hold the pattern, or n. */
static size_t pattern_mismatch(const void *p, size_t n, unsigned seed)
{
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_word(i / 8, seed), got;
        memcpy(&got, b + i, 8);
        if (got != w)
            break;
    }
    for (; i < n; i++)
        if (b[i] != pattern_byte(i, seed))
            return i;
    return n;
}

#define CHECK_PATTERN(p, n, seed, what)                                                            \
    do {                                                                                           \
        size_t at_ = pattern_mismatch(p, n, seed);                                                 \
        if (at_ != (size_t)(n))                                                                    \
            FAIL("%s: expected the pattern over %zu bytes, byte %zu is 0x%02x not 0x%02x", what,   \
                 (size_t)(n), at_, ((const uint8_t *)(p))[at_], pattern_byte(at_, seed));          \
    } while (0)

/* The first nonzero offset below n, or n. */
static size_t nonzero_at(const void *p, size_t n)
{
    static const uint8_t zero[4096];
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + sizeof zero <= n; i += sizeof zero)
        if (memcmp(b + i, zero, sizeof zero) != 0)
            break;
    for (; i < n; i++)
        if (b[i] != 0)
            return i;
    return n;
}

#define CHECK_ZERO(p, n, what)                                                                     \
    do {                                                                                           \
        size_t at_ = nonzero_at(p, n);                                                             \
        if (at_ != (size_t)(n))                                                                    \
            FAIL("%s: expected %zu zero bytes, byte %zu is 0x%02x", what, (size_t)(n), at_,        \
                 ((const uint8_t *)(p))[at_]);                                                     \
    } while (0)

/* ---- malloc, free, malloc_usable_size --------------------------------------------------- */

TEST(malloc_zero_unique)
{
    enum { N = 64 };
    void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = MT(malloc)(opaque(0));
        CHECK_NONNULL(p[i], "malloc(0)");
        CHECK_ALIGNED(p[i], 16, "malloc(0)");
        for (int j = 0; j < i; j++)
            if (p[i] != NULL && p[i] == p[j])
                FAIL("malloc(0) #%d: expected a unique pointer, got %p again (#%d)", i, p[i], j);
    }
    for (int i = 0; i < N; i++)
        MT(free)(p[i]);
}

TEST(free_null)
{
    MT(free)(NULL); /* no effect */
}

TEST(malloc_usable_size_null)
{
    CHECK_EQ(MT(malloc_usable_size)(NULL), 0);
}

/* Sizes 0 .. 64 KiB one by one where the classes are, then around every
 * power of two up to 64 MiB: 16-byte aligned, usable >= size, both ends
 * writable. */
TEST(malloc_sizes_aligned_usable)
{
    char what[64];
    for (size_t n = 0; n <= 64 * KiB; n += (n < 1100 ? 1 : n < 20000 ? 7 : 61)) {
        uint8_t *p = MT(malloc)(opaque(n));
        snprintf(what, sizeof what, "malloc(%zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, 16, what);
        if (CHECK_USABLE(p, n, what) && n > 0) {
            p[0] = 1;
            p[n - 1] = 2;
        }
        MT(free)(p);
    }
    for (int shift = 4; shift <= 26; shift++) {
        for (int d = -1; d <= 1; d++) {
            size_t n = ((size_t)1 << shift) + (size_t)(ptrdiff_t)d;
            uint8_t *p = MT(malloc)(opaque(n));
            snprintf(what, sizeof what, "malloc(%zu)", n);
            CHECK_NONNULL(p, what);
            if (p == NULL)
                continue;
            CHECK_ALIGNED(p, 16, what);
            if (CHECK_USABLE(p, n, what)) {
                p[0] = 1;
                p[n / 2] = 3;
                p[n - 1] = 2;
            }
            MT(free)(p);
        }
    }
}

/* Many blocks live at once, each written over its whole usable size with a
 * pattern of its own: no two overlap, and the usable size is really usable. */
TEST(malloc_usable_size_writable)
{
    enum { N = 3000 };
    static void *p[N];
    static size_t usable[N];
    uint64_t rng = 12345;
    char what[64];
    for (int i = 0; i < N; i++) {
        uint64_t r = harness_rand(&rng);
        size_t n = i % 100 == 99 ? (size_t)(r % (2 * MiB))
                   : i % 10 == 9 ? (size_t)(r % (64 * KiB))
                                 : (size_t)(r % 600);
        p[i] = MT(malloc)(opaque(n));
        snprintf(what, sizeof what, "malloc(%zu) #%d", n, i);
        CHECK_NONNULL(p[i], what);
        if (p[i] == NULL)
            continue;
        usable[i] = MT(malloc_usable_size)(p[i]);
        if (usable[i] < n)
            FAIL("%s: expected malloc_usable_size >= %zu, got %zu", what, n, usable[i]);
        fill(p[i], usable[i], (unsigned)i);
    }
    for (int i = 0; i < N; i++) {
        if (p[i] == NULL)
            continue;
        snprintf(what, sizeof what, "block #%d of usable size %zu", i, usable[i]);
        CHECK_PATTERN(p[i], usable[i], (unsigned)i, what);
        MT(free)(p[i]);
    }
}

TEST(malloc_large_succeeds)
{
    static const size_t sizes[] = {64 * MiB, 256 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(malloc)(opaque(n));
        char what[64];
        snprintf(what, sizeof what, "malloc(%zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, 16, what);
        if (!CHECK_USABLE(p, n, what)) {
            MT(free)(p);
            continue;
        }
        for (size_t off = 0; off < n; off += 1 * MiB) /* one touch per MiB */
            p[off] = (uint8_t)off;
        p[n - 1] = 7;
        MT(free)(p);
    }
}

TEST(malloc_fails_size_max)
{
    CHECK_FAILS(MT(malloc)(opaque(SIZE_MAX)), ENOMEM);
}

TEST(malloc_fails_ptrdiff_max_plus_1)
{
    CHECK_FAILS(MT(malloc)(opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
}

/* Sizes whose rounding up to a class, a page or an alignment overflows. */
TEST(malloc_fails_near_size_max)
{
    for (size_t k = 0; k <= 64 * KiB + 1; k = k < 64 ? k + 1 : k * 2 - 1) {
        CHECK_FAILS(MT(malloc)(opaque(SIZE_MAX - k)), ENOMEM);
        CHECK_FAILS(MT(malloc)(opaque((size_t)PTRDIFF_MAX + 1 + k)), ENOMEM);
        CHECK_FAILS(MT(malloc)(opaque((size_t)PTRDIFF_MAX - k)), ENOMEM);
    }
    CHECK_FAILS(MT(malloc)(opaque((size_t)1 << 62)), ENOMEM);
    CHECK_FAILS(MT(malloc)(opaque((size_t)1 << 48)), ENOMEM); /* the whole user address space */
}

/* ---- calloc ---------------------------------------------------------------------------- */

TEST(calloc_zeroed)
{
    static const size_t sizes[] = {1,       7,       16,          100,      1000,
                                   4095,    4096,    4097,        16 * KiB, 65537,
                                   1 * MiB, 4 * MiB, 4 * MiB + 1, 8 * MiB,  33 * MiB + 5};
    char what[64];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(calloc)(opaque(1), opaque(n));
        snprintf(what, sizeof what, "calloc(1, %zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, 16, what);
        if (CHECK_USABLE(p, n, what))
            CHECK_ZERO(p, n, what);
        MT(free)(p);
        /* The same size as n elements. */
        p = MT(calloc)(opaque(n), opaque(3));
        snprintf(what, sizeof what, "calloc(%zu, 3)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ZERO(p, n * 3, what);
        MT(free)(p);
    }
}

/* Blocks filled with 0xAA and freed come back from calloc zeroed. */
TEST(calloc_zeroed_recycled)
{
    static const size_t sizes[] = {
        1,     16,       24,           48,     100,     256,     1000,    1024,    3000,   4096,
        10000, 16 * KiB, 16 * KiB + 1, 100000, 1 * MiB, 3 * MiB, 4 * MiB, 5 * MiB, 8 * MiB};
    enum { NSIZES = sizeof sizes / sizeof sizes[0], PER = 12 };
    static void *p[NSIZES][PER];
    char what[64];
    /* 270 MB of memset a round: one round is enough under ThreadSanitizer. */
    int rounds = UNDER_TSAN ? 1 : 3;
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < NSIZES; i++)
            for (int j = 0; j < PER; j++) {
                p[i][j] = MT(malloc)(opaque(sizes[i]));
                if (p[i][j] != NULL)
                    memset(p[i][j], 0xAA, MT(malloc_usable_size)(p[i][j]));
            }
        for (int i = NSIZES - 1; i >= 0; i--)
            for (int j = PER - 1; j >= 0; j--)
                MT(free)(p[i][j]);
        for (int i = 0; i < NSIZES; i++)
            for (int j = 0; j < PER; j++) {
                p[i][j] = MT(calloc)(opaque(1), opaque(sizes[i]));
                snprintf(what, sizeof what, "round %d: calloc(1, %zu) #%d", round, sizes[i], j);
                CHECK_NONNULL(p[i][j], what);
                if (p[i][j] != NULL)
                    CHECK_ZERO(p[i][j], sizes[i], what);
            }
        for (int i = 0; i < NSIZES; i++)
            for (int j = 0; j < PER; j++)
                MT(free)(p[i][j]);
    }
}

/* kmem keeps freed huge areas for reuse: a later request up to twice smaller
 * takes one whole (no page is faulted in again), calloc from it is zeroed,
 * and kmem_malloc_info counts what the cache holds. */
TEST(huge_areas_reused)
{
    if (!mt_is_kmem)
        return;
    struct kmem_malloc_info info;
    uint8_t *big = MT(malloc)(opaque(20 * MiB));
    REQUIRE(big != NULL);
    memset(big, 0xAB, 20 * MiB);
    MT(free)(big);
    REQUIRE(mt_info(&info) == 0);
    size_t cached = info.huge_cached_bytes;
    CHECK(cached >= 20 * MiB); /* older areas make room for the newest */
    uint8_t *again = MT(calloc)(opaque(1), opaque(12 * MiB));
    CHECK(again == big);
    CHECK_NONNULL(again, "calloc(1, 12 MiB) after a free of 20 MiB");
    if (again) {
        CHECK(MT(malloc_usable_size)(again) >= 20 * MiB);
        CHECK_ZERO(again, 12 * MiB, "calloc(1, 12 MiB) from a cached area");
        REQUIRE(mt_info(&info) == 0);
        CHECK_EQ(info.huge_cached_bytes, cached - MT(malloc_usable_size)(again));
    }
    MT(free)(again);
}

/* A product of 0 is malloc(0): a unique block (glibc). */
TEST(calloc_zero_product)
{
    void *a = MT(calloc)(opaque(0), opaque(0));
    void *b = MT(calloc)(opaque(0), opaque(SIZE_MAX));
    void *c = MT(calloc)(opaque(SIZE_MAX), opaque(0));
    CHECK_NONNULL(a, "calloc(0, 0)");
    CHECK_NONNULL(b, "calloc(0, SIZE_MAX)");
    CHECK_NONNULL(c, "calloc(SIZE_MAX, 0)");
    if (a && b && c && (a == b || b == c || a == c))
        FAIL("calloc of 0 bytes: expected unique pointers, got %p %p %p", a, b, c);
    MT(free)(a);
    MT(free)(b);
    MT(free)(c);
}

TEST(calloc_fails_overflow)
{
    CHECK_FAILS(MT(calloc)(opaque(SIZE_MAX / 2 + 1), opaque(2)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque(2), opaque(SIZE_MAX / 2 + 1)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque(SIZE_MAX), opaque(SIZE_MAX)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque((size_t)1 << 32), opaque((size_t)1 << 32)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque(((size_t)1 << 32) + 1), opaque(((size_t)1 << 32) - 1)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque(SIZE_MAX / 3 + 1), opaque(3)), ENOMEM);
}

TEST(calloc_fails_size_max_half_times_4)
{
    CHECK_FAILS(MT(calloc)(opaque(SIZE_MAX / 2), opaque(4)), ENOMEM);
}

TEST(calloc_fails_huge_product)
{
    CHECK_FAILS(MT(calloc)(opaque(SIZE_MAX), opaque(1)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque((size_t)PTRDIFF_MAX + 1), opaque(1)), ENOMEM);
    CHECK_FAILS(MT(calloc)(opaque((size_t)1 << 46), opaque(4)), ENOMEM);
}

/* ---- realloc, reallocarray -------------------------------------------------------------- */

TEST(realloc_null_is_malloc)
{
    static const size_t sizes[] = {0, 1, 100, 5000, 100000, 5 * MiB};
    char what[64];
    void *zero = NULL;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(realloc)(NULL, opaque(n));
        snprintf(what, sizeof what, "realloc(NULL, %zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, 16, what);
        if (CHECK_USABLE(p, n, what)) {
            fill(p, n, 3);
            CHECK_PATTERN(p, n, 3, what);
        }
        if (n == 0 && zero == NULL)
            zero = p; /* keep one to check uniqueness */
        else
            MT(free)(p);
    }
    void *again = MT(realloc)(NULL, opaque(0));
    CHECK_NONNULL(again, "realloc(NULL, 0)");
    if (again != NULL && again == zero)
        FAIL("realloc(NULL, 0): expected a unique pointer, got %p twice", again);
    MT(free)(again);
    MT(free)(zero);
}

/* realloc(p, 0) frees p and returns NULL (glibc). With kmem, 64 rounds of a
 * 64 MiB huge block must not leave the huge areas growing. */
TEST(realloc_zero_frees)
{
    static const size_t sizes[] = {0, 1, 100, 5000, 100000, 5 * MiB, 64 * MiB};
    struct kmem_malloc_info before, after;
    bool info = mt_info(&before) == 0;
    for (int round = 0; round < 64; round++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            uint8_t *p = MT(malloc)(opaque(sizes[i]));
            if (p == NULL) {
                FAIL("round %d: malloc(%zu): expected a block, got NULL", round, sizes[i]);
                continue;
            }
            if (sizes[i] > 0)
                p[0] = 1;
            errno = 0;
            void *r = MT(realloc)(p, opaque(0));
            if (r != NULL) {
                FAIL("round %d: realloc(malloc(%zu), 0): expected NULL, got %p", round, sizes[i],
                     r);
                MT(free)(r);
            }
        }
    }
    if (mt_is_kmem) {
        CHECK(info);
        CHECK_EQ(mt_info(&after), 0);
        if (info && after.huge_bytes > before.huge_bytes + 2 * 64 * MiB)
            FAIL("realloc(p, 0) of 64 huge blocks: expected them freed, huge_bytes went from %zu "
                 "to %zu",
                 before.huge_bytes, after.huge_bytes);
    }
}

/* Grow and shrink through the small, mid and huge ranges and their
 * boundaries: the common prefix survives every move. */
TEST(realloc_keeps_content_up_and_down)
{
    static const size_t chain[] = {
        1,        10,           16,      17,          100,     1000,        1024,    4096,
        16 * KiB, 16 * KiB + 1, 65536,   1 * MiB,     4 * MiB, 4 * MiB + 1, 8 * MiB, 16 * MiB,
        40 * MiB, 9 * MiB,      8 * MiB, 4 * MiB + 1, 4 * MiB, 1 * MiB,     65536,   16 * KiB + 1,
        16 * KiB, 4096,         1024,    1000,        100,     17,          16,      1};
    enum { N = sizeof chain / sizeof chain[0] };
    char what[96];
    for (unsigned seed = 1; seed <= 2; seed++) {
        size_t n = chain[0];
        uint8_t *p = MT(malloc)(n);
        REQUIRE(p != NULL);
        fill(p, n, seed);
        for (int i = 1; i < N; i++) {
            size_t m = chain[i];
            uint8_t *q = MT(realloc)(p, opaque(m));
            snprintf(what, sizeof what, "realloc(%zu -> %zu)", n, m);
            CHECK_NONNULL(q, what);
            if (q == NULL) {
                MT(free)(p);
                return;
            }
            CHECK_ALIGNED(q, 16, what);
            if (!CHECK_USABLE(q, m, what)) {
                MT(free)(q);
                return;
            }
            CHECK_PATTERN(q, n < m ? n : m, seed, what);
            p = q;
            n = m;
            fill(p, n, seed); /* the whole block, for the next move */
        }
        MT(free)(p);
    }
}

/* One step of realloc_grow_by_steps: *p from n to m bytes, its content
 * compared with ref. false when the test cannot go on. */
static bool realloc_step(uint8_t **p, size_t n, size_t m, const uint8_t *ref)
{
    char what[64];
    snprintf(what, sizeof what, "realloc(%zu -> %zu)", n, m);
    uint8_t *q = MT(realloc)(*p, opaque(m));
    CHECK_NONNULL(q, what);
    if (q == NULL)
        return false;
    *p = q;
    size_t keep = n < m ? n : m;
    if (memcmp(q, ref, keep) != 0) {
        CHECK_PATTERN(q, keep, 9, what);
        return false;
    }
    if (m > n)
        memcpy(q + n, ref + n, m - n);
    return true;
}

/* Byte-by-byte growth from 1 to 5000, then by 4099 to 2 MiB, and back down,
 * the whole content checked at every step (against a reference copy). */
TEST(realloc_grow_by_steps)
{
    enum { TOP = 2 << 20 };
    static uint8_t ref[TOP];
    fill(ref, TOP, 9);
    size_t n = 1;
    uint8_t *p = MT(malloc)(n);
    REQUIRE(p != NULL);
    p[0] = ref[0];
    bool ok = true;
    for (size_t m; ok && (m = n + (n < 5000 ? 1 : 4099)) <= TOP; n = m)
        ok = realloc_step(&p, n, m, ref);
    for (size_t m; ok && n > 1; n = m) {
        m = n - (n > 5000 ? 4099 : 1);
        ok = realloc_step(&p, n, m, ref);
    }
    MT(free)(p);
}

/* A failed realloc leaves the block as it was, in every range. */
TEST(realloc_fails_keeps_block)
{
    static const size_t sizes[] = {0, 1, 100, 5000, 100000, 5 * MiB};
    static const size_t huge[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, SIZE_MAX - 4096,
                                  (size_t)1 << 48};
    char what[96];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(malloc)(opaque(n));
        REQUIRE(p != NULL);
        fill(p, n, 5);
        for (size_t j = 0; j < sizeof huge / sizeof huge[0]; j++) {
            errno = 0;
            void *q = MT(realloc)(p, opaque(huge[j]));
            int e = errno;
            if (q != NULL) {
                FAIL("realloc(malloc(%zu), %zu): expected NULL with errno ENOMEM, got %p", n,
                     huge[j], q);
                p = q;
                continue;
            }
            if (e != ENOMEM)
                FAIL("realloc(malloc(%zu), %zu): expected errno ENOMEM, got %s", n, huge[j],
                     errno_name(e));
            snprintf(what, sizeof what, "block of %zu after realloc(p, %zu) failed", n, huge[j]);
            CHECK_USABLE(p, n, what);
            CHECK_PATTERN(p, n, 5, what);
        }
        /* Still a block like any other: it grows and is freed. */
        uint8_t *q = MT(realloc)(p, opaque(n + 1000));
        snprintf(what, sizeof what, "realloc(%zu -> %zu) after a failure", n, n + 1000);
        CHECK_NONNULL(q, what);
        if (q == NULL) {
            MT(free)(p);
            continue;
        }
        CHECK_PATTERN(q, n, 5, what);
        MT(free)(q);
    }
}

TEST(reallocarray_works)
{
    uint32_t *a = MT(reallocarray)(NULL, opaque(10), sizeof *a);
    CHECK_NONNULL(a, "reallocarray(NULL, 10, 4)");
    REQUIRE(a != NULL);
    if (!CHECK_USABLE(a, 10 * sizeof *a, "reallocarray(NULL, 10, 4)")) {
        MT(free)(a);
        return;
    }
    for (uint32_t i = 0; i < 10; i++)
        a[i] = i * 7919;
    for (size_t n = 100; n <= 1000000; n *= 10) {
        uint32_t *b = MT(reallocarray)(a, opaque(n), sizeof *b);
        char what[64];
        snprintf(what, sizeof what, "reallocarray(p, %zu, 4)", n);
        CHECK_NONNULL(b, what);
        if (b == NULL)
            break;
        if (!CHECK_USABLE(b, n * sizeof *b, what)) {
            a = b;
            break;
        }
        uint32_t bad = 0;
        for (uint32_t i = 0; i < 10; i++)
            bad += b[i] != i * 7919;
        if (bad)
            FAIL("%s: expected the first 10 elements kept, %u differ", what, bad);
        b[n - 1] = 1;
        a = b;
    }
    MT(free)(a);
}

/* n * size overflows: NULL, ENOMEM, and the old block is untouched. */
TEST(reallocarray_fails_overflow_keeps_block)
{
    static const size_t counts[][2] = {
        {SIZE_MAX / 2 + 1, 2},   {2, SIZE_MAX / 2 + 1},
        {SIZE_MAX, SIZE_MAX},    {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX / 16 + 1, 16},
    };
    static const size_t sizes[] = {0, 40, 5000, 5 * MiB};
    char what[96];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(malloc)(opaque(n));
        REQUIRE(p != NULL);
        fill(p, n, 11);
        for (size_t j = 0; j < sizeof counts / sizeof counts[0]; j++) {
            errno = 0;
            void *q = MT(reallocarray)(p, opaque(counts[j][0]), opaque(counts[j][1]));
            int e = errno;
            snprintf(what, sizeof what, "reallocarray(malloc(%zu), %zu, %zu)", n, counts[j][0],
                     counts[j][1]);
            if (q != NULL) {
                FAIL("%s: expected NULL with errno ENOMEM, got %p", what, q);
                p = q;
                continue;
            }
            if (e != ENOMEM)
                FAIL("%s: expected errno ENOMEM, got %s", what, errno_name(e));
            CHECK_USABLE(p, n, what);
            CHECK_PATTERN(p, n, 11, what);
        }
        MT(free)(p);
    }
}

/* ---- posix_memalign ----------------------------------------------------------------------- */

TEST(posix_memalign_einval)
{
    static const size_t bad[] = {0,
                                 1,
                                 2,
                                 4,
                                 sizeof(void *) / 2,
                                 3,
                                 12,
                                 24,
                                 48,
                                 sizeof(void *) * 3,
                                 4095,
                                 4097,
                                 4096 + sizeof(void *),
                                 (SIZE_MAX / 2 + 1) | sizeof(void *),
                                 SIZE_MAX,
                                 SIZE_MAX - sizeof(void *) + 1};
    void *const sentinel = (void *)(uintptr_t)0x5e47;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t a = bad[i];
        if (a != 0 && (a & (a - 1)) == 0 && a % sizeof(void *) == 0)
            continue; /* a valid alignment on this machine */
        static const size_t sizes[] = {0, 1, 100};
        for (size_t j = 0; j < 3; j++) {
            void *out = sentinel;
            int rc = MT(posix_memalign)(&out, opaque(a), opaque(sizes[j]));
            if (rc != EINVAL)
                FAIL("posix_memalign(&out, %zu, %zu): expected EINVAL, got %d (%s)", a, sizes[j],
                     rc, errno_name(rc));
            if (out != sentinel) {
                FAIL("posix_memalign(&out, %zu, %zu): expected *out untouched, got %p", a, sizes[j],
                     out);
                if (rc == 0)
                    MT(free)(out);
            }
        }
    }
}

TEST(posix_memalign_enomem)
{
    static const size_t aligns[] = {sizeof(void *), 16, 64, 4096, 1 * MiB};
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4095, (size_t)PTRDIFF_MAX + 1,
                                  (size_t)1 << 48};
    void *const sentinel = (void *)(uintptr_t)0x5e47;
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++)
        for (size_t j = 0; j < sizeof huge / sizeof huge[0]; j++) {
            void *out = sentinel;
            int rc = MT(posix_memalign)(&out, opaque(aligns[i]), opaque(huge[j]));
            if (rc != ENOMEM) {
                FAIL("posix_memalign(&out, %zu, %zu): expected ENOMEM, got %d (%s)", aligns[i],
                     huge[j], rc, errno_name(rc));
                if (rc == 0)
                    MT(free)(out);
            }
        }
}

TEST(posix_memalign_keeps_errno)
{
    static const size_t sizes[] = {0, 1, 100, 5000, 100000, 5 * MiB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *out = NULL;
        errno = 4242;
        int rc = MT(posix_memalign)(&out, opaque(64), opaque(sizes[i]));
        int e = errno;
        CHECK_EQ(rc, 0);
        if (e != 4242)
            FAIL("posix_memalign(&out, 64, %zu) succeeded: expected errno unchanged (4242), got %d",
                 sizes[i], e);
        CHECK_ALIGNED(out, 64, "posix_memalign");
        MT(free)(out);
    }
}

/* ---- aligned_alloc, memalign, valloc, pvalloc -------------------------------------------- */

/* C17 and glibc 2.38 (kmem's choice; glibc 2.36 accepts any alignment). */
TEST(aligned_alloc_einval_not_power_of_two)
{
    if (!mt_is_kmem) {
        fprintf(stderr, "  (not kmem's malloc: skipped)\n");
        return;
    }
    static const size_t bad[] = {3, 12, 24, 48, 100, 1000, 4095, 4097, 3 * MiB, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = MT(aligned_alloc)(opaque(bad[i]), opaque(bad[i] < 100000 ? bad[i] * 4 : 64));
        int e = errno;
        if (p != NULL || e != EINVAL) {
            FAIL("aligned_alloc(%zu, ...): expected NULL with errno EINVAL, got %p with errno %s",
                 bad[i], p, errno_name(e));
            MT(free)(p);
        }
    }
}

TEST(aligned_alloc_fails_huge)
{
    CHECK_FAILS(MT(aligned_alloc)(opaque(16), opaque(SIZE_MAX)), ENOMEM);
    CHECK_FAILS(MT(aligned_alloc)(opaque(16), opaque(SIZE_MAX - 15)), ENOMEM);
    CHECK_FAILS(MT(aligned_alloc)(opaque(4096), opaque(SIZE_MAX - 4095)), ENOMEM);
    CHECK_FAILS(MT(aligned_alloc)(opaque(1 * MiB), opaque(SIZE_MAX - (1 * MiB - 1))), ENOMEM);
    CHECK_FAILS(MT(aligned_alloc)(opaque(64), opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
    CHECK_FAILS(MT(aligned_alloc)(opaque(SIZE_MAX / 2 + 1), opaque(1)), ENOMEM);
}

TEST(memalign_rounds_up_alignment)
{
    static const size_t aligns[][2] = {
        {3, 4},
        {5, 8},
        {24, 32},
        {48, 64},
        {100, 128},
        {1000, 1024},
        {4095, 4096},
        {4097, 8192},
        {12288, 16384},
        {1 * MiB + 1, 2 * MiB},
        {3 * MiB, 4 * MiB},
    };
    char what[64];
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t n = 1000;
        uint8_t *p = MT(memalign)(opaque(aligns[i][0]), opaque(n));
        snprintf(what, sizeof what, "memalign(%zu, %zu)", aligns[i][0], n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, aligns[i][1], what);
        CHECK_ALIGNED(p, 16, what);
        if (CHECK_USABLE(p, n, what)) {
            fill(p, n, 2);
            CHECK_PATTERN(p, n, 2, what);
        }
        MT(free)(p);
    }
}

/* Above SIZE_MAX / 2 + 1 no power of two is left to round up to. */
TEST(memalign_einval_huge_alignment)
{
    CHECK_FAILS(MT(memalign)(opaque(SIZE_MAX / 2 + 2), opaque(1)), EINVAL);
    CHECK_FAILS(MT(memalign)(opaque(SIZE_MAX / 2 + 4096), opaque(64)), EINVAL);
    CHECK_FAILS(MT(memalign)(opaque(SIZE_MAX - 1), opaque(1)), EINVAL);
    CHECK_FAILS(MT(memalign)(opaque(SIZE_MAX), opaque(0)), EINVAL);
    /* SIZE_MAX / 2 + 1 is a power of two: a valid alignment no memory has. */
    CHECK_FAILS(MT(memalign)(opaque(SIZE_MAX / 2 + 1), opaque(1)), ENOMEM);
}

TEST(memalign_fails_huge)
{
    CHECK_FAILS(MT(memalign)(opaque(16), opaque(SIZE_MAX)), ENOMEM);
    CHECK_FAILS(MT(memalign)(opaque(4096), opaque(SIZE_MAX - 4095)), ENOMEM);
    CHECK_FAILS(MT(memalign)(opaque(64), opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
    CHECK_FAILS(MT(memalign)(opaque(2 * MiB), opaque(SIZE_MAX - 1)), ENOMEM);
}

TEST(memalign_zero_alignment_is_malloc)
{
    uint8_t *p = MT(memalign)(opaque(0), opaque(100));
    CHECK_NONNULL(p, "memalign(0, 100)");
    REQUIRE(p != NULL);
    CHECK_ALIGNED(p, 16, "memalign(0, 100)");
    CHECK_USABLE(p, 100, "memalign(0, 100)");
    MT(free)(p);
}

TEST(valloc_page_aligned)
{
    size_t page = page_size();
    const size_t sizes[] = {0, 1, 100, page - 1, page, page + 1, 3 * page, 1 * MiB, 5 * MiB};
    char what[64];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *p = MT(valloc)(opaque(n));
        snprintf(what, sizeof what, "valloc(%zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, page, what);
        if (CHECK_USABLE(p, n, what)) {
            fill(p, n, 4);
            CHECK_PATTERN(p, n, 4, what);
        }
        MT(free)(p);
    }
}

TEST(valloc_fails_huge)
{
    CHECK_FAILS(MT(valloc)(opaque(SIZE_MAX)), ENOMEM);
    CHECK_FAILS(MT(valloc)(opaque(SIZE_MAX - page_size() + 2)), ENOMEM);
    CHECK_FAILS(MT(valloc)(opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
}

TEST(pvalloc_page_rounded)
{
    size_t page = page_size();
    const size_t sizes[] = {1, 100, page - 1, page, page + 1, 3 * page - 5, 1 * MiB + 1, 5 * MiB};
    char what[64];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        size_t rounded = (n + page - 1) / page * page;
        uint8_t *p = MT(pvalloc)(opaque(n));
        snprintf(what, sizeof what, "pvalloc(%zu)", n);
        CHECK_NONNULL(p, what);
        if (p == NULL)
            continue;
        CHECK_ALIGNED(p, page, what);
        if (CHECK_USABLE(p, rounded, what)) {
            fill(p, rounded, 6); /* the whole rounded size is the caller's */
            CHECK_PATTERN(p, rounded, 6, what);
        }
        MT(free)(p);
    }
}

/* pvalloc(0): page-aligned; with kmem a whole page (glibc 2.36 gives a
 * minimum-size block there). */
TEST(pvalloc_zero)
{
    size_t page = page_size();
    uint8_t *p = MT(pvalloc)(opaque(0));
    CHECK_NONNULL(p, "pvalloc(0)");
    REQUIRE(p != NULL);
    CHECK_ALIGNED(p, page, "pvalloc(0)");
    if (mt_is_kmem) {
        if (CHECK_USABLE(p, page, "pvalloc(0)"))
            memset(p, 0x5a, page);
    }
    MT(free)(p);
}

TEST(pvalloc_fails_huge)
{
    CHECK_FAILS(MT(pvalloc)(opaque(SIZE_MAX)), ENOMEM);
    CHECK_FAILS(MT(pvalloc)(opaque(SIZE_MAX - page_size() + 2)), ENOMEM); /* rounding overflows */
    CHECK_FAILS(MT(pvalloc)(opaque((size_t)PTRDIFF_MAX + 1)), ENOMEM);
}

/* ---- the alignment sweep ------------------------------------------------------------------ */

enum sweep_kind { SWEEP_POSIX_MEMALIGN, SWEEP_ALIGNED_ALLOC, SWEEP_MEMALIGN };
static const char *const sweep_names[] = {"posix_memalign", "aligned_alloc", "memalign"};

static void *sweep_alloc(enum sweep_kind kind, size_t align, size_t n)
{
    switch (kind) {
    case SWEEP_POSIX_MEMALIGN: {
        void *out = NULL;
        int rc = MT(posix_memalign)(&out, opaque(align), opaque(n));
        if (rc != 0) {
            errno = rc;
            return NULL;
        }
        return out;
    }
    case SWEEP_ALIGNED_ALLOC:
        return MT(aligned_alloc)(opaque(align), opaque(n));
    case SWEEP_MEMALIGN:
        return MT(memalign)(opaque(align), opaque(n));
    }
    return NULL;
}

/* Every power-of-two alignment up to 1 MiB, seven sizes each, all live at
 * once (they must not overlap): aligned, usable >= size, writable over the
 * whole size, freed by free; in a second round moved by realloc first. */
static void alignment_sweep(enum sweep_kind kind)
{
    const char *name = sweep_names[kind];
    size_t first = kind == SWEEP_POSIX_MEMALIGN ? sizeof(void *) : 1;
    enum { NSIZES = 7 };
    char what[96];
    for (size_t a = first; a <= 1 * MiB; a *= 2) {
        const size_t sizes[NSIZES] = {0, 1, a - 1, a, a + 1, 3 * a, 100000};
        for (int round = 0; round < 2; round++) {
            uint8_t *p[NSIZES];
            for (int i = 0; i < NSIZES; i++) {
                size_t n = sizes[i];
                unsigned seed = (unsigned)(a * 8 + (size_t)i);
                p[i] = sweep_alloc(kind, a, n);
                snprintf(what, sizeof what, "%s(%zu, %zu)", name, a, n);
                CHECK_NONNULL(p[i], what);
                if (p[i] == NULL)
                    continue;
                CHECK_ALIGNED(p[i], a, what);
                CHECK_ALIGNED(p[i], 16, what);
                if (!CHECK_USABLE(p[i], n, what)) {
                    MT(free)(p[i]);
                    p[i] = NULL;
                    continue;
                }
                fill(p[i], n, seed);
            }
            for (int i = 0; i < NSIZES; i++) {
                size_t n = sizes[i];
                unsigned seed = (unsigned)(a * 8 + (size_t)i);
                if (p[i] == NULL)
                    continue;
                snprintf(what, sizeof what, "%s(%zu, %zu) with the others live", name, a, n);
                CHECK_PATTERN(p[i], n, seed, what);
                if (round == 0) {
                    MT(free)(p[i]);
                    continue;
                }
                size_t m = n * 2 + 100;
                uint8_t *q = MT(realloc)(p[i], opaque(m));
                snprintf(what, sizeof what, "realloc(%s(%zu, %zu), %zu)", name, a, n, m);
                CHECK_NONNULL(q, what);
                if (q == NULL) {
                    MT(free)(p[i]);
                    continue;
                }
                CHECK_ALIGNED(q, 16, what);
                if (CHECK_USABLE(q, m, what))
                    CHECK_PATTERN(q, n, seed, what);
                MT(free)(q);
            }
        }
    }
}

TEST(align_sweep_posix_memalign)
{
    alignment_sweep(SWEEP_POSIX_MEMALIGN);
}

TEST(align_sweep_aligned_alloc)
{
    alignment_sweep(SWEEP_ALIGNED_ALLOC);
}

TEST(align_sweep_memalign)
{
    alignment_sweep(SWEEP_MEMALIGN);
}

int main(void)
{
    if (!mt_init()) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(malloc_zero_unique);
    RUN(free_null);
    RUN(malloc_usable_size_null);
    RUN(malloc_sizes_aligned_usable);
    RUN(malloc_usable_size_writable);
    RUN(malloc_large_succeeds);
    RUN(malloc_fails_size_max);
    RUN(malloc_fails_ptrdiff_max_plus_1);
    RUN(malloc_fails_near_size_max);
    RUN(calloc_zeroed);
    RUN(calloc_zeroed_recycled);
    RUN(huge_areas_reused);
    RUN(calloc_zero_product);
    RUN(calloc_fails_overflow);
    RUN(calloc_fails_size_max_half_times_4);
    RUN(calloc_fails_huge_product);
    RUN(realloc_null_is_malloc);
    RUN(realloc_zero_frees);
    RUN(realloc_keeps_content_up_and_down);
    RUN(realloc_grow_by_steps);
    RUN(realloc_fails_keeps_block);
    RUN(reallocarray_works);
    RUN(reallocarray_fails_overflow_keeps_block);
    RUN(posix_memalign_einval);
    RUN(posix_memalign_enomem);
    RUN(posix_memalign_keeps_errno);
    RUN(aligned_alloc_einval_not_power_of_two);
    RUN(aligned_alloc_fails_huge);
    RUN(memalign_rounds_up_alignment);
    RUN(memalign_einval_huge_alignment);
    RUN(memalign_fails_huge);
    RUN(memalign_zero_alignment_is_malloc);
    RUN(valloc_page_aligned);
    RUN(valloc_fails_huge);
    RUN(pvalloc_page_rounded);
    RUN(pvalloc_zero);
    RUN(pvalloc_fails_huge);
    RUN(align_sweep_posix_memalign);
    RUN(align_sweep_aligned_alloc);
    RUN(align_sweep_memalign);
    return harness_report();
}
