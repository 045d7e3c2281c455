/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_hardened.c - the hardened mode (KMEM_MALLOC_HARDENED=1) and
 * sized free.
 *
 * The mode is chosen once, when the malloc starts, so a forked child cannot
 * switch it: the program runs its default-mode tests, then runs itself
 * again (fork and exec of /proc/self/exe) with KMEM_MALLOC_HARDENED=1 for
 * the hardened ones, and fails if that run fails. Started with the variable
 * already set, it runs only the hardened tests.
 *
 * Default mode: the misuses it catches at once (an immediate double free,
 * an invalid and an unaligned free) die with their message; free_sized and
 * free_aligned_sized take every size a block can have been asked for and
 * stop at one it cannot.
 *
 * Hardened mode: every classic misuse dies, by SIGABRT with its message or
 * by SIGSEGV: double free small and large, immediate and after the block
 * left the quarantine, invalid, unaligned and wild frees, 1- and 8-byte
 * overflows of small and large blocks, writes after free of small and
 * large blocks, a read after free of a large one, a dereference of
 * malloc(0), malloc_usable_size of a bad pointer, a sized free with the
 * wrong size. And the whole family works: alignment, calloc's zeroes,
 * realloc's bytes, a random mixed workload, four threads freeing each
 * other's blocks, fork.
 *
 * Under a sanitizer (the kmem_ names) the hardened run gets handle_segv=0
 * in ASAN_OPTIONS/TSAN_OPTIONS, so that the misuses that end in SIGSEGV
 * die by the signal rather than by the sanitizer's report and exit status
 * 1; started by hand without it, they are skipped, saying why. The small
 * blocks' misuses are kmem's to catch under ASan too: to ASan a block
 * waiting in the quarantine is still allocated (the cache handed it out),
 * and the hardened mode reads a freed block's metadata unchecked.
 */
#include "malloc_under_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef KMEM_TEST_PREFIXED
/* C23's, which glibc's headers before 2.41 do not declare. */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);
#endif

static void *volatile sink;
static char *volatile vp;

/* Do faults reach us as SIGSEGV? Not under a sanitizer whose handler takes
 * them (it reports and exits with status 1), unless told handle_segv=0, as
 * run_hardened does. */
static bool segv_is_a_signal(void)
{
    if (!MT_SANITIZER)
        return true;
    const char *a = getenv("ASAN_OPTIONS"), *t = getenv("TSAN_OPTIONS");
    return (a && strstr(a, "handle_segv=0")) || (t && strstr(t, "handle_segv=0"));
}

/* Other blocks freed after the one under test: more than the quarantine
 * holds (8192), so that it has left it (fewer under a sanitizer, which
 * makes each slow). */
enum { CHURN = MT_SANITIZER ? 20000 : 100000 };

/* The workloads check every byte they wrote: a sanitizer's instrumentation
 * makes that slow, so they do a quarter of the operations there (a tenth
 * under ThreadSanitizer, the slowest). */
enum { OPS_SCALE = UNDER_TSAN ? 10 : MT_SANITIZER ? 4 : 1 };

static void churn(size_t size)
{
    for (int i = 0; i < CHURN; i++) {
        void *q = MT(malloc)(size);
        sink = q;
        MT(free)(q);
    }
}

/* ---- default mode ---------------------------------------------------------------------- */

static void do_double_free_now(void)
{
    void *p = MT(malloc)(48);
    MT(free)(p);
    MT(free)(p);
}

static void do_invalid_free_mid(void)
{
    char *p = MT(malloc)(64 * 1024);
    MT(free)(p + 8192); /* a page inside a buddy block: never handed out */
}

static void do_unaligned_free(void)
{
    char *p = MT(malloc)(64);
    MT(free)(p + 1);
}

static void do_wild_free(void)
{
    char local[64];
    sink = local;
    MT(free)(sink);
}

TEST(default_mode_bad_frees_die_with_their_message)
{
    EXPECT_DEATH(do_double_free_now, "kmem: double free: ");
    EXPECT_DEATH(do_invalid_free_mid, "kmem: invalid free: ");
    EXPECT_DEATH(do_unaligned_free, "not the start of an object");
    EXPECT_DEATH(do_wild_free, "not an address this malloc handed out");
}

/* Sizes a block may be freed with: what it was asked for, and what realloc
 * kept it at. */
TEST(default_mode_sized_free_takes_the_right_sizes)
{
    static const size_t sizes[] = {
        0,    1,    15,    16,    17,     100,     255,     256,           257,    1000,
        4096, 5000, 16384, 16385, 100000, 1 << 20, 4 << 20, (4 << 20) + 1, 9 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *p = MT(malloc)(sizes[i]);
        REQUIRE(p != NULL);
        MT(free_sized)(p, sizes[i]);
        p = MT(calloc)(1, sizes[i]);
        REQUIRE(p != NULL);
        MT(free_sized)(p, sizes[i]);
        /* realloc down to half stays in place; the new size is the size. */
        p = MT(malloc)(sizes[i]);
        REQUIRE(p != NULL);
        char *q = MT(realloc)(p, sizes[i] / 2 + 1);
        REQUIRE(q != NULL);
        MT(free_sized)(q, sizes[i] / 2 + 1);
    }
    static const size_t aligns[] = {8, 16, 32, 64, 256, 4096, 65536, 1 << 20, 8 << 20};
    for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t size = (sizes[i] + aligns[a] - 1) / aligns[a] * aligns[a];
            if (!size)
                size = aligns[a];
            void *p = MT(aligned_alloc)(aligns[a], size);
            REQUIRE(p != NULL);
            CHECK(((uintptr_t)p & (aligns[a] - 1)) == 0);
            MT(free_aligned_sized)(p, aligns[a], size);
        }
    }
    MT(free_sized)(NULL, 100);
    MT(free_aligned_sized)(NULL, 64, 100);
}

static void do_sized_small_too_large(void)
{
    MT(free_sized)(MT(malloc)(100), 1000);
}

static void do_sized_small_too_small(void)
{
    MT(free_sized)(MT(malloc)(1000), 10);
}

static void do_sized_mid(void)
{
    MT(free_sized)(MT(malloc)(100000), 40000);
}

static void do_sized_huge(void)
{
    MT(free_sized)(MT(malloc)(16 << 20), 1 << 20);
}

static void do_aligned_sized_misaligned(void)
{
    char *p = MT(aligned_alloc)(64, 128);
    MT(free_aligned_sized)(p + 16, 64, 128);
}

static void do_aligned_sized_wrong(void)
{
    void *p = MT(aligned_alloc)(64, 128);
    MT(free_aligned_sized)(p, 64, 4096);
}

TEST(default_mode_sized_free_stops_at_a_wrong_size)
{
    EXPECT_DEATH(do_sized_small_too_large, "kmem: size mismatch: free_sized(");
    EXPECT_DEATH(do_sized_small_too_large, "an object of 112 bytes in cache malloc-112");
    EXPECT_DEATH(do_sized_small_too_small, "an object of 1024 bytes in cache malloc-1024");
    EXPECT_DEATH(do_sized_mid, "a block of 131072 bytes");
    EXPECT_DEATH(do_sized_huge, "an area of 16777216 bytes");
    EXPECT_DEATH(do_aligned_sized_misaligned, "not aligned to 64 bytes");
    EXPECT_DEATH(do_aligned_sized_wrong, "free_aligned_sized(");
}

/* ---- hardened mode: misuse ------------------------------------------------------------- */

static void do_h_double_free_small(void)
{
    void *p = MT(malloc)(100);
    MT(free)(p);
    MT(free)(p);
}

static void do_h_double_free_large(void)
{
    void *p = MT(malloc)(100000);
    MT(free)(p);
    MT(free)(p);
}

/* Neighbours kept live, so that the block's slab stays a slab; the others
 * freed are of another class, so that its slot is not handed out again. */
static void do_h_double_free_delayed(void)
{
    void *before = MT(malloc)(48), *p = MT(malloc)(48), *after = MT(malloc)(48);
    sink = before;
    sink = after;
    MT(free)(p);
    churn(200);
    MT(free)(p);
}

/* The same with blocks of its own class freed meanwhile: its slot cycles
 * through them, and is found in the quarantine or just out of it. */
static void do_h_double_free_delayed_same_class(void)
{
    void *before = MT(malloc)(48), *p = MT(malloc)(48), *after = MT(malloc)(48);
    sink = before;
    sink = after;
    MT(free)(p);
    churn(48);
    MT(free)(p);
}

static void do_h_double_free_zero(void)
{
    void *p = MT(malloc)(0);
    MT(free)(p);
    MT(free)(p);
}

static void do_h_invalid_free(void)
{
    /* A class nothing else uses: a fresh slab, whose next object was never
     * handed out. */
    char *a = MT(malloc)(3000), *b = MT(malloc)(3000);
    MT(free)(b + (b - a));
}

static void do_h_invalid_free_large(void)
{
    char *p = MT(malloc)(100000);
    MT(free)(p + 4096);
}

static void do_h_unaligned_free(void)
{
    char *p = MT(malloc)(64);
    MT(free)(p + 8);
}

static void do_h_wild_free_stack(void)
{
    char local[64];
    sink = local;
    MT(free)(sink);
}

static void do_h_wild_free_random(void)
{
    sink = (void *)(uintptr_t)0x12345670;
    MT(free)(sink);
}

static void do_h_overflow_small_1(void)
{
    vp = MT(malloc)(100);
    vp[100] = 'x';
    MT(free)(vp);
}

static void do_h_overflow_small_1_nul(void)
{
    vp = MT(malloc)(37);
    vp[37] = '\0'; /* the classic off-by-one terminator */
    MT(free)(vp);
}

static void do_h_overflow_small_8(void)
{
    vp = MT(malloc)(64);
    memcpy(vp + 64, "AAAAAAAA", 8);
    MT(free)(vp);
}

static void do_h_overflow_seen_by_realloc(void)
{
    vp = MT(malloc)(100);
    vp[101] = 'x';
    sink = MT(realloc)(vp, 200);
}

static void do_h_overflow_seen_by_usable_size(void)
{
    vp = MT(malloc)(100);
    vp[100] = 'x';
    sink = (void *)(uintptr_t)MT(malloc_usable_size)(vp);
}

static void do_h_overflow_large_1_guard(void)
{
    vp = MT(malloc)(100000); /* a multiple of 16: ends at the guard page */
    vp[100000] = 'x';
}

static void do_h_overflow_large_8_guard(void)
{
    vp = MT(malloc)(100000);
    memcpy(vp + 100000, "AAAAAAAA", 8);
}

static void do_h_overflow_large_1_canary(void)
{
    vp = MT(malloc)(100001); /* 15 bytes of canary before the guard */
    vp[100001] = 'x';
    MT(free)(vp);
}

static void do_h_overflow_large_8_canary(void)
{
    vp = MT(malloc)(100004); /* 12 bytes of canary */
    memcpy(vp + 100004, "AAAAAAAA", 8);
    MT(free)(vp);
}

static void do_h_underflow_large(void)
{
    vp = MT(malloc)(100001);
    vp[-1] = 'x';
    MT(free)(vp);
}

static void do_h_write_after_free_small(void)
{
    vp = MT(malloc)(100);
    MT(free)(vp);
    vp[10] = 'x';
    churn(200);
}

static void do_h_write_after_free_large(void)
{
    vp = MT(malloc)(100000);
    MT(free)(vp);
    vp[10] = 'x';
}

static void do_h_read_after_free_large(void)
{
    vp = MT(malloc)(100000);
    memset(vp, 1, 100000);
    MT(free)(vp);
    sink = (void *)(uintptr_t)vp[10];
}

static void do_h_deref_malloc0_read(void)
{
    vp = MT(malloc)(0);
    sink = (void *)(uintptr_t)vp[0];
}

static void do_h_deref_malloc0_write(void)
{
    vp = MT(malloc)(0);
    vp[0] = 'x';
}

static void do_h_usable_size_wild(void)
{
    char local[64];
    sink = local;
    sink = (void *)(uintptr_t)MT(malloc_usable_size)(sink);
}

static void do_h_usable_size_freed(void)
{
    void *p = MT(malloc)(100);
    MT(free)(p);
    sink = (void *)(uintptr_t)MT(malloc_usable_size)(p);
}

static void do_h_usable_size_interior(void)
{
    char *p = MT(malloc)(100);
    sink = (void *)(uintptr_t)MT(malloc_usable_size)(p + 16);
}

static void do_h_realloc_freed(void)
{
    void *p = MT(malloc)(100);
    MT(free)(p);
    sink = MT(realloc)(p, 200);
}

static void do_h_sized_small(void)
{
    MT(free_sized)(MT(malloc)(100), 101);
}

static void do_h_sized_large(void)
{
    MT(free_sized)(MT(malloc)(100000), 99999);
}

static void do_h_sized_zero(void)
{
    MT(free_sized)(MT(malloc)(0), 1);
}

static void do_h_aligned_sized(void)
{
    MT(free_aligned_sized)(MT(aligned_alloc)(64, 100), 64, 128);
}

TEST(hardened_double_and_invalid_frees_die)
{
    EXPECT_DEATH(do_h_double_free_small, "kmem: double free: free(");
    EXPECT_DEATH(do_h_double_free_small, "in the quarantine");
    EXPECT_DEATH(do_h_double_free_large, "kmem: double free: free(");
    EXPECT_DEATH(do_h_double_free_delayed, "has left the quarantine");
    EXPECT_DEATH(do_h_double_free_delayed_same_class, "kmem: double free: free(");
    EXPECT_DEATH(do_h_double_free_zero, "kmem: double free: free(");
    EXPECT_DEATH(do_h_invalid_free, "kmem: invalid free: free(");
    EXPECT_DEATH(do_h_invalid_free_large, "kmem: invalid free: free(");
    EXPECT_DEATH(do_h_unaligned_free, "not the start of a block: +8 into the block at");
    EXPECT_DEATH(do_h_wild_free_stack, "not an address this malloc handed out");
    EXPECT_DEATH(do_h_wild_free_random, "not an address this malloc handed out");
    EXPECT_DEATH(do_h_realloc_freed, "kmem: double free: realloc(");
}

TEST(hardened_overflows_die)
{
    EXPECT_DEATH(do_h_overflow_small_1, "kmem: red zone overwritten: free(");
    EXPECT_DEATH(do_h_overflow_small_1, "heap overflow");
    EXPECT_DEATH(do_h_overflow_small_1_nul, "heap overflow");
    EXPECT_DEATH(do_h_overflow_small_8, "heap overflow");
    EXPECT_DEATH(do_h_overflow_seen_by_realloc, "kmem: red zone overwritten: realloc(");
    EXPECT_DEATH(do_h_overflow_seen_by_usable_size, "red zone overwritten: malloc_usable_size(");
    EXPECT_DEATH(do_h_overflow_large_1_canary, "heap overflow");
    EXPECT_DEATH(do_h_overflow_large_8_canary, "heap overflow");
    EXPECT_DEATH(do_h_underflow_large, "heap underflow");
    if (!segv_is_a_signal()) {
        fprintf(stderr, "skipped: overflows onto the guard page (the sanitizer's SIGSEGV "
                        "handler exits with its own report)\n");
        return;
    }
    EXPECT_DEATH_SIG(do_h_overflow_large_1_guard, SIGSEGV, "");
    EXPECT_DEATH_SIG(do_h_overflow_large_8_guard, SIGSEGV, "");
}

TEST(hardened_uses_after_free_die)
{
    EXPECT_DEATH(do_h_write_after_free_small, "kmem: write after free: ");
    EXPECT_DEATH(do_h_write_after_free_small, "byte +10 is 0x78");
    if (!segv_is_a_signal()) {
        fprintf(stderr, "skipped: accesses to PROT_NONE memory (the sanitizer's SIGSEGV "
                        "handler exits with its own report)\n");
        return;
    }
    EXPECT_DEATH_SIG(do_h_write_after_free_large, SIGSEGV, "");
    EXPECT_DEATH_SIG(do_h_read_after_free_large, SIGSEGV, "");
    EXPECT_DEATH_SIG(do_h_deref_malloc0_read, SIGSEGV, "");
    EXPECT_DEATH_SIG(do_h_deref_malloc0_write, SIGSEGV, "");
}

TEST(hardened_bad_usable_size_and_sizes_die)
{
    EXPECT_DEATH(do_h_usable_size_wild, "malloc_usable_size(");
    EXPECT_DEATH(do_h_usable_size_wild, "not an address this malloc handed out");
    EXPECT_DEATH(do_h_usable_size_freed, "kmem: bad argument: malloc_usable_size(");
    EXPECT_DEATH(do_h_usable_size_interior, "+16 into the block at");
    EXPECT_DEATH(do_h_sized_small, "kmem: size mismatch: free_sized(");
    EXPECT_DEATH(do_h_sized_small, "it was allocated with 100 bytes");
    EXPECT_DEATH(do_h_sized_large, "it was allocated with 100000 bytes");
    EXPECT_DEATH(do_h_sized_zero, "it was allocated with 0 bytes");
    EXPECT_DEATH(do_h_aligned_sized, "kmem: size mismatch: free_aligned_sized(");
}

/* ---- hardened mode: what works ------------------------------------------------------------ */

static bool is_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

TEST(hardened_family_works)
{
    static const size_t sizes[] = {0,     1,     15,    16,     17,     100,     1000,   4096,
                                   16368, 16369, 16384, 100000, 100001, 1 << 20, 5 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *p = MT(malloc)(n);
        REQUIRE(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        CHECK_EQ(MT(malloc_usable_size)(p), n);
        memset(p, 0xab, n);
        /* calloc zeroes, also a block just freed and reused. */
        MT(free)(p);
        p = MT(calloc)(1, n);
        REQUIRE(p != NULL);
        CHECK(is_zero(p, n));
        memset(p, 0x5a, n);
        MT(free_sized)(p, n);
        /* realloc keeps the bytes, both ways. */
        p = MT(malloc)(n);
        REQUIRE(p != NULL);
        for (size_t j = 0; j < n; j++)
            p[j] = (char)(j * 7);
        char *q = MT(realloc)(p, 2 * n + 10);
        REQUIRE(q != NULL);
        bool same = true;
        for (size_t j = 0; j < n; j++)
            same &= q[j] == (char)(j * 7);
        CHECK(same);
        CHECK_EQ(MT(malloc_usable_size)(q), 2 * n + 10);
        q = MT(realloc)(q, n / 2);
        if (n / 2) {
            REQUIRE(q != NULL);
            same = true;
            for (size_t j = 0; j < n / 2; j++)
                same &= q[j] == (char)(j * 7);
            CHECK(same);
            MT(free)(q);
        } else if (q) {
            MT(free)(q);
        }
    }
    /* Every alignment is honoured, by every entry point. */
    for (size_t align = 16; align <= (4 << 20); align *= 4) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = NULL;
            CHECK_EQ(MT(posix_memalign)(&p, align, n), 0);
            CHECK(((uintptr_t)p & (align - 1)) == 0);
            memset(p, 1, n);
            MT(free)(p);
            size_t rounded = (n + align - 1) / align * align;
            p = MT(aligned_alloc)(align, rounded);
            REQUIRE(p != NULL);
            CHECK(((uintptr_t)p & (align - 1)) == 0);
            memset(p, 1, rounded);
            MT(free_aligned_sized)(p, align, rounded);
            p = MT(memalign)(align, n);
            REQUIRE(p != NULL);
            CHECK(((uintptr_t)p & (align - 1)) == 0);
            MT(free)(p);
        }
    }
    void *p = MT(valloc)(100);
    CHECK(p && ((uintptr_t)p & 4095) == 0);
    MT(free)(p);
    p = MT(pvalloc)(100);
    CHECK(p && ((uintptr_t)p & 4095) == 0);
    CHECK_EQ(MT(malloc_usable_size)(p), 4096);
    memset(p, 1, 4096);
    MT(free)(p);
    /* malloc(0): unique, free of it is fine. */
    void *z[64];
    for (int i = 0; i < 64; i++) {
        z[i] = MT(malloc)(0);
        REQUIRE(z[i] != NULL);
        CHECK_EQ(MT(malloc_usable_size)(z[i]), 0);
        for (int j = 0; j < i; j++)
            CHECK(z[i] != z[j]);
    }
    for (int i = 0; i < 64; i++)
        MT(free)(z[i]);
    /* Failures are failures, not aborts. */
    volatile size_t too_much = SIZE_MAX / 2; /* volatile: no compile-time warning */
    errno = 0;
    CHECK(MT(malloc)(too_much) == NULL);
    CHECK_EQ(errno, ENOMEM);
    CHECK(MT(calloc)(too_much, 4) == NULL);
    p = MT(realloc)(NULL, 100);
    CHECK(p != NULL);
    CHECK(MT(realloc)(p, 0) == NULL); /* frees it */
    MT(free)(NULL);
}

/* A block of the workload: its first bytes say its size and seed, the rest
 * follows from them, so that any damage shows. */
static void fill(char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(seed + i * 131);
}

static bool intact(const char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (char)(seed + i * 131))
            return false;
    return true;
}

static size_t random_size(uint64_t *rng)
{
    uint64_t r = harness_rand(rng);
    switch (r % 16) {
    case 0:
        return (size_t)(r >> 8) % 300000; /* large now and then */
    case 1:
    case 2:
        return (size_t)(r >> 8) % 20000;
    default:
        return (size_t)(r >> 8) % 512;
    }
}

TEST(hardened_random_workload_runs_clean)
{
    enum { SLOTS = 2048, OPS = 150000 / OPS_SCALE };
    static struct {
        char *p;
        size_t n;
        uint64_t seed;
    } slot[SLOTS];
    uint64_t rng = 0x1234567;
    int bad = 0;
    for (int op = 0; op < OPS; op++) {
        unsigned int i = (unsigned int)(harness_rand(&rng) % SLOTS);
        uint64_t r = harness_rand(&rng);
        if (slot[i].p && !intact(slot[i].p, slot[i].n, slot[i].seed))
            bad++;
        if (slot[i].p && (r & 3) == 0) {
            size_t n = random_size(&rng);
            char *q = MT(realloc)(slot[i].p, n);
            if (n == 0) {
                slot[i].p = NULL;
                continue;
            }
            if (!q) {
                bad++;
                continue;
            }
            size_t kept = n < slot[i].n ? n : slot[i].n;
            if (!intact(q, kept, slot[i].seed))
                bad++;
            slot[i].p = q;
            slot[i].n = n;
            fill(q, n, slot[i].seed);
        } else if (slot[i].p) {
            if (r & 4)
                MT(free_sized)(slot[i].p, slot[i].n);
            else
                MT(free)(slot[i].p);
            slot[i].p = NULL;
        } else {
            size_t n = random_size(&rng);
            char *q;
            if ((r & 12) == 0) {
                q = MT(calloc)(1, n);
                if (q && !is_zero(q, n))
                    bad++;
            } else if ((r & 12) == 4) {
                size_t align = (size_t)16 << (r >> 8) % 10;
                q = MT(memalign)(align, n);
                if (q && ((uintptr_t)q & (align - 1)))
                    bad++;
            } else {
                q = MT(malloc)(n);
            }
            if (!q) {
                bad++;
                continue;
            }
            if (MT(malloc_usable_size)(q) != n)
                bad++;
            slot[i].p = q;
            slot[i].n = n;
            slot[i].seed = r;
            fill(q, n, r);
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slot[i].p && !intact(slot[i].p, slot[i].n, slot[i].seed))
            bad++;
        MT(free)(slot[i].p);
        slot[i].p = NULL;
    }
    CHECK_EQ(bad, 0);
}

/* Four threads take blocks from a shared table, check and free or realloc
 * them, and put new ones in: most frees are of another thread's blocks. */
enum { T_THREADS = 4, T_SLOTS = 1024, T_OPS = 40000 / OPS_SCALE };

struct tblock {
    size_t n;
    uint64_t seed;
    char bytes[];
};

static struct tblock *_Atomic tslots[T_SLOTS];
static int _Atomic tbad;

static struct tblock *tnew(size_t n, uint64_t seed)
{
    struct tblock *b = MT(malloc)(sizeof *b + n);
    if (!b)
        return NULL;
    b->n = n;
    b->seed = seed;
    fill(b->bytes, n, seed);
    return b;
}

static void *tworker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    for (int op = 0; op < T_OPS; op++) {
        unsigned int i = (unsigned int)(harness_rand(&rng) % T_SLOTS);
        struct tblock *b = atomic_exchange(&tslots[i], NULL);
        if (b) {
            if (!intact(b->bytes, b->n, b->seed))
                atomic_fetch_add(&tbad, 1);
            if (harness_rand(&rng) & 1) {
                size_t n = random_size(&rng);
                struct tblock *q = MT(realloc)(b, sizeof *b + n);
                if (!q) {
                    atomic_fetch_add(&tbad, 1);
                    continue;
                }
                size_t kept = n < q->n ? n : q->n;
                if (!intact(q->bytes, kept, q->seed))
                    atomic_fetch_add(&tbad, 1);
                q->n = n;
                fill(q->bytes, n, q->seed);
                b = atomic_exchange(&tslots[i], q);
                if (b)
                    MT(free)(b);
            } else {
                MT(free_sized)(b, sizeof *b + b->n);
            }
        } else {
            struct tblock *q = tnew(random_size(&rng), harness_rand(&rng));
            if (!q) {
                atomic_fetch_add(&tbad, 1);
                continue;
            }
            b = atomic_exchange(&tslots[i], q);
            if (b)
                MT(free)(b);
        }
    }
    return NULL;
}

TEST(hardened_threads_free_each_others_blocks)
{
    pthread_t t[T_THREADS];
    for (uintptr_t i = 0; i < T_THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, tworker, (void *)(i + 1)) == 0);
    for (int i = 0; i < T_THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < T_SLOTS; i++) {
        struct tblock *b = atomic_exchange(&tslots[i], NULL);
        if (b && !intact(b->bytes, b->n, b->seed))
            atomic_fetch_add(&tbad, 1);
        MT(free)(b);
    }
    CHECK_EQ(atomic_load(&tbad), 0);
}

static atomic_int fork_stop;

static void *fork_churner(void *arg)
{
    (void)arg;
    while (!atomic_load(&fork_stop)) {
        void *p = MT(malloc)(100), *q = MT(malloc)(50000);
        MT(free)(p);
        MT(free)(q);
    }
    return NULL;
}

/* The quarantine's lock is among those fork takes: a child forked while
 * another thread frees can use the heap. */
TEST(hardened_fork_while_freeing)
{
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, fork_churner, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int j = 0; j < 20000; j++) {
                void *p = MT(malloc)((size_t)j % 3000);
                MT(free)(p);
            }
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    atomic_store(&fork_stop, 1);
    pthread_join(t, NULL);
}

/* ---- the two runs ----------------------------------------------------------------------- */

/* Add opt to the sanitizer options in the environment variable name. */
static void add_option(const char *name, const char *opt)
{
    const char *old = getenv(name);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? ":" : "", opt);
    setenv(name, buf, 1);
}

/* This program again, with KMEM_MALLOC_HARDENED=1; its exit status. Under
 * a sanitizer, faults are left to their default action there, so that the
 * misuses that end in SIGSEGV are tested too. */
static int run_hardened(char **argv)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("KMEM_MALLOC_HARDENED", "1", 1);
        if (MT_SANITIZER) {
            add_option("ASAN_OPTIONS", "handle_segv=0");
            add_option("TSAN_OPTIONS", "handle_segv=0");
        }
        execv("/proc/self/exe", argv);
        perror("execv /proc/self/exe");
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *env = getenv("KMEM_MALLOC_HARDENED");
    bool hardened = env && !strcmp(env, "1");
    if (!mt_init())
        return 1;
    if (!mt_is_kmem) {
        fprintf(stderr, "skipped: only kmem's malloc has these modes\n");
        return 0;
    }
    if (!hardened) {
        fprintf(stderr, "default mode\n");
        RUN(default_mode_bad_frees_die_with_their_message);
        RUN(default_mode_sized_free_takes_the_right_sizes);
        RUN(default_mode_sized_free_stops_at_a_wrong_size);
        int rc = harness_report();
        fprintf(stderr, "hardened mode (this program again, KMEM_MALLOC_HARDENED=1)\n");
        int hrc = run_hardened(argv);
        if (hrc != 0)
            fprintf(stderr, "the hardened run failed: status %d\n", hrc);
        return rc || hrc;
    }
    /* The mode is on: the usable size is the size asked for. */
    void *p = MT(malloc)(100);
    size_t usable = MT(malloc_usable_size)(p);
    MT(free)(p);
    if (usable != 100) {
        fprintf(stderr, "KMEM_MALLOC_HARDENED=1 but malloc_usable_size(malloc(100)) = %zu\n",
                usable);
        return 1;
    }
    RUN(hardened_double_and_invalid_frees_die);
    RUN(hardened_overflows_die);
    RUN(hardened_uses_after_free_die);
    RUN(hardened_bad_usable_size_and_sizes_die);
    RUN(hardened_family_works);
    RUN(hardened_random_workload_runs_clean);
    RUN(hardened_threads_free_each_others_blocks);
    RUN(hardened_fork_while_freeing);
    return harness_report();
}
