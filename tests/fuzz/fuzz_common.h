/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h - what the fuzz targets and the differential test share:
 * the byte source (a fuzzer's input, or a seeded PRNG), the trace of the
 * last operations and the failure report, the byte patterns written into
 * allocations and their checks, and what the machine holds once every
 * cache is shrunk (pages in use, objects per cache, for the "nothing
 * leaked" check at the end). Everything is static inline: each program
 * uses a part.
 *
 * Works with either copy of the core: the kernel API's (kmem_init's
 * machine) or the malloc's (its private machine), whichever is linked.
 */
#ifndef KMEM_TEST_FUZZ_COMMON_H
#define KMEM_TEST_FUZZ_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem.h>

#include "pages_util.h"

#include "core/page_frame.h" /* struct page: who owns a block */
#include "core/slab.h"       /* kmem_slab_for_each_cache: every cache, for the checks */

/* The byte loops that write and verify patterns run over every byte the
 * model touches: the fuzzer's comparison tracing there would cost most of
 * the time and tell nothing (the branches are the same for every input). */
#if defined(__clang__) && __clang_major__ >= 13
#define FZ_NO_COVERAGE __attribute__((noinline, no_sanitize("coverage")))
#else
#define FZ_NO_COVERAGE
#endif

#define FZ_KiB ((size_t)1 << 10)
#define FZ_MiB ((size_t)1 << 20)

/* ---- the byte source ------------------------------------------------------------------ */

struct fz_src {
    const uint8_t *p; /* the fuzzer's bytes (random == false) */
    size_t n;
    uint64_t rng; /* xorshift64* state (random == true) */
    bool random;
};

static inline uint8_t fz_u8(struct fz_src *s)
{
    if (s->random) {
        uint64_t x = s->rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s->rng = x;
        return (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
    }
    if (!s->n)
        return 0;
    s->n--;
    return *s->p++;
}

static inline unsigned fz_u16(struct fz_src *s)
{
    unsigned lo = fz_u8(s);
    return lo | (unsigned)fz_u8(s) << 8;
}

static inline uint32_t fz_u32(struct fz_src *s)
{
    uint32_t lo = fz_u16(s);
    return lo | (uint32_t)fz_u16(s) << 16;
}

static inline bool fz_more(const struct fz_src *s)
{
    return s->random || s->n > 0;
}

/* A size up to max: mostly small, some up to a page and 64 KiB, some up to
 * max, and the edges (powers of two, one off them). */
static inline size_t fz_size(struct fz_src *s, size_t max)
{
    unsigned c = fz_u8(s);
    size_t n;
    if (c < 120)
        n = 1 + fz_u8(s);
    else if (c < 184)
        n = 1 + fz_u16(s) % 4096;
    else if (c < 232)
        n = 1 + fz_u16(s);
    else if (c < 240)
        n = 1 + fz_u32(s) % max;
    else {
        unsigned k = fz_u8(s);
        n = (size_t)1 << (k % 25);
        n += (k & 0x40) ? 1 : 0;
        n -= (k & 0x80) && n > 1 ? 1 : 0;
    }
    return n > max ? max : n;
}

/* ---- the run: operation count, trace, failures ------------------------------------------ */

enum { FZ_TRACE = 24 };

struct fz_trace {
    unsigned long op;
    const char *what;
    unsigned long a, b, c;
};

struct fz_run {
    unsigned long op; /* operations done */
    struct fz_trace trace[FZ_TRACE];
    unsigned long ntrace;
    bool trace_all; /* FZ_TRACE=1: print every operation */
};

static struct fz_run fzr;

static inline void fz_run_begin(void)
{
    memset(&fzr, 0, sizeof fzr);
    const char *t = getenv("FZ_TRACE");
    fzr.trace_all = t && *t && *t != '0';
}

static inline void fz_trace_dump(void)
{
    unsigned long first = fzr.ntrace > FZ_TRACE ? fzr.ntrace - FZ_TRACE : 0;
    fprintf(stderr, "fuzz model: the last operations (of %lu):\n", fzr.ntrace);
    for (unsigned long i = first; i < fzr.ntrace; i++) {
        const struct fz_trace *t = &fzr.trace[i % FZ_TRACE];
        fprintf(stderr, "  #%lu %s %#lx %#lx %#lx\n", t->op, t->what, t->a, t->b, t->c);
    }
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void fz_fail(const char *fmt, ...)
{
    fprintf(stderr, "fuzz model: FAILED at operation #%lu: ", fzr.op);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fz_trace_dump();
    fflush(stderr);
    abort();
}

/* FZ_CHECK(cond, format, ...): fail with the message unless cond holds. */
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz model: %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
            fz_fail(__VA_ARGS__);                                                                  \
        }                                                                                          \
    } while (0)

/* Record what the operation does: a, b, c are its arguments and result. */
static inline void fz_note(const char *what, unsigned long a, unsigned long b, unsigned long c)
{
    struct fz_trace *t = &fzr.trace[fzr.ntrace++ % FZ_TRACE];
    *t = (struct fz_trace){fzr.op, what, a, b, c};
    if (fzr.trace_all)
        fprintf(stderr, "#%lu %s %#lx %#lx %#lx\n", fzr.op, what, a, b, c);
}

static inline void fz_panic(const char *message)
{
    fprintf(stderr, "fuzz model: kmem panicked at operation #%lu: %s\n", fzr.op, message);
    fz_trace_dump();
    fflush(stderr);
    abort();
}

/* ---- patterns --------------------------------------------------------------------------- */

enum { FZ_FULL = 4096, FZ_EDGE = 64, FZ_PAGE_BYTES = 16, FZ_ZERO_FULL = 16 * 1024 };

/* The pattern: 8 bytes per word, a function of the seed and the word's
 * offset in the object, so that a block moved or copied to the wrong place
 * shows as well as one overwritten. */
static inline uint64_t fz_pat_word(uint8_t seed, size_t word)
{
    return ((uint64_t)seed * 0x0101010101010101ULL) ^ ((word + 1) * 0x9E3779B97F4A7C15ULL);
}

static inline uint8_t fz_pat(uint8_t seed, size_t off)
{
    return (uint8_t)(fz_pat_word(seed, off >> 3) >> ((off & 7) * 8));
}

/* The byte ranges a pattern covers in an object of n bytes: all of a small
 * one; the edges of a large one and the first bytes of every page (of every
 * 64th of it beyond 256 KiB: a fresh page costs a fault, and large blocks
 * are many). */
struct fz_it {
    size_t n, off, stride;
    int stage;
};

FZ_NO_COVERAGE static inline bool fz_next(struct fz_it *it, size_t full, size_t *a, size_t *b)
{
    switch (it->stage) {
    case 0:
        if (it->n == 0)
            return false;
        if (it->n <= full) {
            *a = 0, *b = it->n, it->stage = 3;
            return true;
        }
        it->stride = it->n <= 256 * FZ_KiB ? PAGE_SIZE : (it->n / 64) & PAGE_MASK;
        *a = 0, *b = FZ_EDGE, it->stage = 1, it->off = it->stride;
        return true;
    case 1:
        if (it->off < it->n) {
            *a = it->off;
            *b = it->off + FZ_PAGE_BYTES < it->n ? it->off + FZ_PAGE_BYTES : it->n;
            it->off += it->stride;
            return true;
        }
        *a = it->n - FZ_EDGE, *b = it->n, it->stage = 3;
        return true;
    default:
        return false;
    }
}

/* Write the pattern over [a, b): the bytes up to a word boundary one by
 * one, then whole words. */
FZ_NO_COVERAGE static inline void fz_fill_range(uint8_t *p, size_t a, size_t b, uint8_t seed)
{
    for (; a < b && (a & 7); a++)
        p[a] = fz_pat(seed, a);
    for (; a + 8 <= b; a += 8) {
        uint64_t w = fz_pat_word(seed, a >> 3);
        memcpy(p + a, &w, 8);
    }
    for (; a < b; a++)
        p[a] = fz_pat(seed, a);
}

FZ_NO_COVERAGE static inline void fz_fill(uint8_t *p, size_t n, uint8_t seed)
{
    struct fz_it it = {n, 0, 0, 0};
    size_t a, b;
    while (fz_next(&it, FZ_FULL, &a, &b))
        fz_fill_range(p, a, b, seed);
}

/* Does [a, b) hold the pattern (constant: every byte seed)? Word by word,
 * then the byte that differs is looked for only when there is one. */
FZ_NO_COVERAGE static inline size_t fz_verify_range(const uint8_t *p, size_t a, size_t b,
                                                    uint8_t seed, bool constant)
{
    size_t i = a;
    for (; i < b && (i & 7); i++)
        if (p[i] != (constant ? seed : fz_pat(seed, i)))
            return i;
    uint64_t cw = (uint64_t)seed * 0x0101010101010101ULL;
    for (; i + 8 <= b; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != (constant ? cw : fz_pat_word(seed, i >> 3)))
            break;
    }
    for (; i < b; i++)
        if (p[i] != (constant ? seed : fz_pat(seed, i)))
            return i;
    return SIZE_MAX;
}

/* The first offset below limit where the pattern of an n-byte object is not
 * there, or SIZE_MAX. */
FZ_NO_COVERAGE static inline size_t fz_verify(const uint8_t *p, size_t n, uint8_t seed,
                                              size_t limit)
{
    struct fz_it it = {n, 0, 0, 0};
    size_t a, b;
    while (fz_next(&it, FZ_FULL, &a, &b)) {
        size_t bad = fz_verify_range(p, a, b < limit ? b : limit, seed, false);
        if (bad != SIZE_MAX)
            return bad;
    }
    return SIZE_MAX;
}

/* The first offset that is not byte v (every byte up to full, else the
 * pattern's ranges), or SIZE_MAX. */
FZ_NO_COVERAGE static inline size_t fz_verify_const(const uint8_t *p, size_t n, uint8_t v,
                                                    size_t full)
{
    struct fz_it it = {n, 0, 0, 0};
    size_t a, b;
    while (fz_next(&it, full, &a, &b)) {
        size_t bad = fz_verify_range(p, a, b, v, true);
        if (bad != SIZE_MAX)
            return bad;
    }
    return SIZE_MAX;
}

static inline void fz_check_zero(const uint8_t *p, size_t n, const char *what)
{
    size_t bad = fz_verify_const(p, n, 0, FZ_ZERO_FULL);
    if (bad != SIZE_MAX)
        fz_fail("%s: %p (%zu bytes) is not zeroed: byte %zu is %#x", what, (const void *)p, n, bad,
                p[bad]);
}

/* ---- page counts ---------------------------------------------------------------------------- */

/* tests/pages_util.h, without its drain: the model drains when it must. */
#define fz_pages_free    test_free_pages_now
#define fz_pages_managed test_managed_pages

/* Give every cache its empty slabs back, and the per-CPU lists their
 * pages: pass after pass, since freeing one cache's magazines frees objects
 * of the magazine caches and off-slab headers of kmem_slab, until a pass
 * frees nothing more. Returns the pages in use then. */
static inline void fz_collect_cb(struct kmem_cache *c, void *arg)
{
    struct kmem_cache **list = arg;
    for (int i = 0; i < 256; i++)
        if (!list[i]) {
            list[i] = c;
            return;
        }
}

static inline unsigned long fz_pages_in_use(void)
{
    static struct kmem_cache *list[257];
    unsigned long in_use = ~0UL;
    for (int pass = 0; pass < 16; pass++) {
        memset(list, 0, sizeof list);
        kmem_slab_for_each_cache(fz_collect_cb, list);
        for (int i = 0; list[i]; i++)
            kmem_cache_shrink(list[i]);
        drain_all_pages();
        unsigned long now = fz_pages_managed() - fz_pages_free();
        if (now == in_use)
            break;
        in_use = now;
    }
    return in_use;
}

static inline void fz_check_cache_cb(struct kmem_cache *c, void *arg)
{
    int *bad = arg;
    int v = kmem_cache_check(c);
    if (v)
        fprintf(stderr, "fuzz model: kmem_cache_check(%s) = %d\n", kmem_cache_name(c), v);
    *bad += v;
}

/* What holds the pages still in use (for a failure report): the first
 * allocated blocks with their owners (white-box: the struct page), and the
 * caches that hold slabs. */
static inline bool fz_dump_block(void *arg, const struct kmem_block *b)
{
    unsigned *n = arg;
    if (b->state != KMEM_BLOCK_ALLOCATED)
        return true;
    const struct page *pg = pf_pfn_to_page(b->pfn);
    fprintf(stderr, "  allocated: pfn %#lx order %u, state %u, owner %u\n", b->pfn, b->order,
            pg->pg_state, pg->pg_owner);
    return ++*n < 32;
}

static inline void fz_dump_cache_cb(struct kmem_cache *c, void *arg)
{
    (void)arg;
    struct kmem_cache_info ci;
    kmem_cache_info(c, &ci);
    if (ci.slabs)
        fprintf(stderr, "  cache %s: %lu slabs of %u pages, %lu of %lu objects active\n", ci.name,
                ci.slabs, ci.pages_per_slab, ci.active_objs, ci.total_objs);
}

static inline void fz_dump_in_use(void)
{
    unsigned n = 0;
    kmem_page_walk(fz_dump_block, &n);
    kmem_slab_for_each_cache(fz_dump_cache_cb, NULL);
    struct kmem_vmalloc_info vi;
    if (kmem_vmalloc_info(&vi) && vi.range_bytes)
        fprintf(stderr,
                "  vmalloc: %lu areas (%lu vmap), %lu pages; %lu free ranges of %lu bytes, the "
                "largest %lu, range %lu\n",
                vi.areas, vi.vmap_areas, vi.pages, vi.free_ranges, vi.free_bytes, vi.largest_free,
                vi.range_bytes);
}

/* What the machine holds once everything is freed and every cache shrunk:
 * the pages in use, those of slabs and of large kmalloc blocks, empty slabs
 * left, and a signature naming the objects still allocated per cache
 * ("kmalloc-256:1 ...") and the large kmalloc pages. kmem keeps some
 * memory of its own for good (the vmalloc layer's arrays), and which slabs
 * those objects share depends on the history; the signature and "every
 * page in use is a slab holding them, or a large kmalloc block" do not. */
struct fz_usage {
    unsigned long in_use, slab_pages, large_pages, empty_slabs;
    char sig[1024];
    size_t len;
};

static inline void fz_usage_cache(struct kmem_cache *c, void *arg)
{
    struct fz_usage *u = arg;
    struct kmem_cache_info ci;
    kmem_cache_info(c, &ci);
    u->slab_pages += ci.slabs * ci.pages_per_slab;
    u->empty_slabs += ci.empty_slabs;
    if (ci.active_objs && u->len < sizeof u->sig)
        u->len += (size_t)snprintf(u->sig + u->len, sizeof u->sig - u->len, "%s:%lu ", ci.name,
                                   ci.active_objs);
}

static inline bool fz_usage_block(void *arg, const struct kmem_block *b)
{
    struct fz_usage *u = arg;
    if (b->state == KMEM_BLOCK_ALLOCATED && pf_pfn_to_page(b->pfn)->pg_owner == PG_OWNER_KMALLOC)
        u->large_pages += 1UL << b->order;
    return true;
}

static inline void fz_usage(struct fz_usage *u)
{
    memset(u, 0, sizeof *u);
    u->in_use = fz_pages_in_use();
    kmem_slab_for_each_cache(fz_usage_cache, u);
    kmem_page_walk(fz_usage_block, u);
    if (u->len < sizeof u->sig)
        snprintf(u->sig + u->len, sizeof u->sig - u->len, "large-kmalloc-pages:%lu",
                 u->large_pages);
}

/* The machine holds what it held in *base, and nothing more. */
static inline void fz_usage_check(const struct fz_usage *base, const char *when)
{
    struct fz_usage now;
    fz_usage(&now);
    if (strcmp(now.sig, base->sig) || now.empty_slabs ||
        now.in_use != now.slab_pages + now.large_pages)
        fz_dump_in_use();
    FZ_CHECK(!strcmp(now.sig, base->sig), "%s: still allocated: %s; expected: %s", when, now.sig,
             base->sig);
    FZ_CHECK(now.empty_slabs == 0, "%s: %lu empty slabs left after every cache was shrunk", when,
             now.empty_slabs);
    FZ_CHECK(now.in_use == now.slab_pages + now.large_pages,
             "%s: %lu pages in use, of which %lu are slabs and %lu large kmalloc blocks: %lu "
             "pages nobody holds",
             when, now.in_use, now.slab_pages, now.large_pages,
             now.in_use - now.slab_pages - now.large_pages);
}

/* kmem_cache_check of every cache; the violations in all. */
static inline int fz_check_caches(void)
{
    int v = 0;
    kmem_slab_for_each_cache(fz_check_cache_cb, &v);
    return v;
}

#endif /* KMEM_TEST_FUZZ_COMMON_H */
