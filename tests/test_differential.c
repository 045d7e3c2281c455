/* SPDX-License-Identifier: MIT */
/*
 * test_differential.c - kmem against a reference model, millions of random
 * operations: the fuzz target fuzz_kmem's model (tests/fuzz/kmem_model.h)
 * fed by a seeded PRNG instead of a fuzzer, in the normal suite.
 *
 * Each seed runs on a fresh 64 MiB machine: random operations over pages
 * (every order, by page and by address, exact), object caches (created and
 * destroyed as it goes, with constructors, destructors, alignments and the
 * debug flags), kmalloc and krealloc, vmalloc, vmap, kvmalloc, mempools and
 * failure injection, each result checked against the model (sizes,
 * alignment, zeroing, constructed objects, contents kept by krealloc, the
 * byte pattern of every live allocation intact until its free, vmalloc
 * aliasing, shrink results and reserve counts). Every 10000 operations
 * kmem_page_check, kmem_vmalloc_check and kmem_cache_check of every cache
 * must find nothing and the model's vmalloc counts must be kmem's; at the
 * end everything is freed and the pages in use must be those of a fresh
 * machine. A difference aborts with the operation number, the message and
 * the last operations (FZ_TRACE=1 prints them all); the seed is printed
 * before each run, so KMEM_TEST_SEED=s reruns just that one.
 *
 * Default: 4 seeds x 500000 operations (2 million, about 4 s); under
 * AddressSanitizer half of that and under ThreadSanitizer a tenth (about 5
 * and 7 s). KMEM_TEST_OPS=n sets the total. The operations that cost the
 * host most are thinned out (area_every, misc_every: a vmalloc or vmap
 * area is host mappings, a full check walks every frame) and sizes are
 * smaller than the fuzzer's (kmalloc and vmalloc up to 1 MiB, cache objects
 * to 16 KiB): the fuzzer covers the large ones.
 */
#include "harness.h"

#include "fuzz/kmem_model.h"

#define DEFAULT_OPS (UNDER_TSAN ? 200000UL : UNDER_ASAN ? 1000000UL : 2000000UL)

static const uint64_t seeds[] = {0x6b6d656d, 0xd1ff0001, 0x5eedcafe, 0xfeedface2026};
enum { NR_SEEDS = sizeof seeds / sizeof seeds[0] };

static const struct kmem_config machine = {.mem_size = 64 * FZ_MiB};

static const struct fz_config config = {
    .vmalloc_max = 1 * FZ_MiB,
    .kmalloc_max = 1 * FZ_MiB,
    .cache_obj_max = 16 * FZ_KiB,
    .max_objs = FZ_MAX_OBJS,
    .check_every = 10000,
    .area_every = 8,
    .misc_every = 16,
    .faults = true,
};

static unsigned long env_ulong(const char *name, unsigned long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoul(s, NULL, 0) : dflt;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void run_seed(uint64_t seed, unsigned long ops)
{
    fprintf(stderr, "  seed %#llx: %lu operations\n", (unsigned long long)seed, ops);
    int rc = kmem_init(&machine);
    REQUIRE(rc == 0);
    fz_begin(&config);
    struct fz_src src = {.random = true, .rng = mix(seed) | 1};
    /* Phases of 8192 operations, each with its own bound on the live set:
     * nearly empty, a few hundred, memory full. */
    static const unsigned int phases[] = {8, 64, 200, FZ_MAX_OBJS};
    uint64_t rng = mix(seed ^ 0x9a5e);
    while (fzr.op < ops) {
        if (fzr.op % 8192 == 0)
            fz.soft_max = phases[harness_rand(&rng) % (sizeof phases / sizeof phases[0])];
        fz_step(&src);
    }
    unsigned long live = fz.nobjs;
    fz_finish();
    kmem_exit();
    fprintf(stderr,
            "  seed %#llx: %lu allocations (%lu refused), %lu frees, %lu reallocs, %lu checks, "
            "%u live at the end\n",
            (unsigned long long)seed, fz.n_alloc, fz.n_nomem, fz.n_free, fz.n_realloc, fz.n_checks,
            (unsigned)live);
    CHECK(fz.n_alloc > ops / 4);
    CHECK(fz.n_checks >= ops / config.check_every);
}

TEST(differential)
{
    fz_calibrate(&machine);
    unsigned long total = env_ulong("KMEM_TEST_OPS", DEFAULT_OPS);
    const char *one = getenv("KMEM_TEST_SEED");
    if (one && *one) {
        run_seed(strtoull(one, NULL, 0), total);
        return;
    }
    for (int i = 0; i < NR_SEEDS; i++)
        run_seed(seeds[i], (total + NR_SEEDS - 1) / NR_SEEDS);
}

int main(void)
{
    RUN(differential);
    return harness_report();
}
