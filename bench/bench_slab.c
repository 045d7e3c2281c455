/* SPDX-License-Identifier: MIT */
/*
 * bench_slab.c - benchmarks of the object caches and kmalloc, and the same
 * loops on malloc so that other allocators can be compared in the same run.
 * bench/run.sh is the one command that builds and runs everything (this and
 * bench_pages.c, whose structure and output this file follows).
 *
 * Workloads (one "op" is always one PAIR: one allocation and one free):
 *   cache64-steady     kmem_cache_alloc + kmem_cache_free of a 64-byte cache
 *                      in a loop, with LIVE other objects of it held (steady
 *                      state: the loaded magazine serves every request).
 *   cache64-batch      allocate BATCH objects, then free them in the same
 *                      order (more than two magazines: exchanges with the
 *                      depot are part of the cost).
 *   kmalloc32-steady, kmalloc32-batch, kmalloc256-steady, kmalloc256-batch
 *                      the same with kmalloc(32 or 256, GFP_KERNEL) + kfree.
 *   prodcons           two threads: a producer allocates 64-byte objects
 *                      (kmem_cache_alloc) and passes them through a bounded
 *                      single-producer single-consumer ring to a consumer,
 *                      which frees them (kmem_cache_free): every object is
 *                      freed by the thread that did not allocate it.
 * Allocators (--alloc):
 *   kmem      the calls above, on a machine of --mem-mib MiB.
 *   malloc    malloc(size) / free of the same size (64, 32, 256): whichever
 *             malloc is loaded, so LD_PRELOAD picks jemalloc, mimalloc,
 *             tcmalloc or (none) glibc.
 * kmem itself never calls malloc, so LD_PRELOAD does not change its figures
 * (run.sh runs the kmem rows without it anyway).
 *
 * Subcommands:
 *   run        time the workloads on 1 and 2 threads (each thread runs its
 *              own loop on its own objects; prodcons always has 2); print one
 *              "sample" line per repetition: workload, threads, label, ns/op,
 *              aggregate Mops/s, CPU share. For prodcons ns/op is wall-clock
 *              time per pair (the two threads together).
 *   callgrind  run exactly --n ops of one workload inside bench_cg_region()
 *              (after a warmup outside it), for
 *              valgrind --tool=callgrind --toggle-collect=bench_cg_region;
 *              instructions/op = collected Ir / the printed op count.
 *              prodcons under callgrind: the producer allocates BATCH objects
 *              into an array, then the consumer frees them, in turns (a
 *              barrier between; no spinning is counted).
 *   report     read sample, instr and libinstr lines (files or stdin), print
 *              markdown, with the targets checked.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kmem.h>

#define BENCH_INLINE      static inline __attribute__((always_inline))
#define BENCH_NOINLINE    __attribute__((noinline))
#define BENCH_UNLIKELY(x) __builtin_expect(!!(x), 0)

enum {
    LIVE = 64,                 /* steady: other objects held during the loop */
    BATCH = 1000,              /* batch: objects allocated before any is freed */
    CHUNK = 1024,              /* ops between two clock readings */
    RING = 1024,               /* prodcons: ring slots (a power of 2) */
    PUBLISH = 32,              /* prodcons: items between two index publications */
    SPINS_BEFORE_YIELD = 4096, /* prodcons: pauses before a wait yields */
    CG_PC_ROUNDS = 4,          /* prodcons under callgrind: warmup rounds of BATCH */
    MAX_THREADS = 2,
    MAX_REPS = 64,
};

/* ---- allocators ------------------------------------------------------------ */

enum kind { KIND_KMEM, KIND_MALLOC, NR_KINDS };
static const char *const kind_names[NR_KINDS] = {"kmem", "malloc"};

/* How one object is allocated and freed. */
enum api { API_CACHE, API_KMALLOC, API_MALLOC };

static BENCH_NOINLINE _Noreturn void out_of_memory(size_t size)
{
    fprintf(stderr, "bench_slab: allocation of %zu bytes failed\n", size);
    exit(2);
}

/* Make p opaque to the optimizer, so that no malloc/free pair is elided. */
BENCH_INLINE void escape(void *p)
{
    __asm__ volatile("" : : "r"(p));
}

/* Always inlined with a constant api: each loop below is compiled once per
 * allocator and size, with a direct call and no indirection in the timed
 * path. */
BENCH_INLINE void *obj_alloc(enum api a, struct kmem_cache *c, size_t size)
{
    void *p;
    if (a == API_CACHE)
        p = kmem_cache_alloc(c, GFP_KERNEL);
    else if (a == API_KMALLOC)
        p = kmalloc(size, GFP_KERNEL);
    else
        p = malloc(size);
    if (BENCH_UNLIKELY(p == NULL))
        out_of_memory(size);
    escape(p);
    return p;
}

BENCH_INLINE void obj_free(enum api a, struct kmem_cache *c, void *p)
{
    if (a == API_CACHE)
        kmem_cache_free(c, p);
    else if (a == API_KMALLOC)
        kfree(p);
    else
        free(p);
}

/* One step of a wait for the other thread of prodcons: spin a while, then
 * yield, in case the other thread is not running (a busy machine). */
static BENCH_NOINLINE void ring_wait(unsigned int *spins)
{
    if (++*spins < SPINS_BEFORE_YIELD) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    } else {
        sched_yield();
    }
}

/* ---- workloads ------------------------------------------------------------- */

/* The single-producer single-consumer ring of prodcons. Each side keeps a
 * private copy of both indices and publishes its own every PUBLISH items, and
 * always before it waits, so the index lines move between the cores once
 * per PUBLISH items rather than once per item. A NULL item ends a round. */
struct ring {
    _Alignas(64) _Atomic unsigned long head; /* items published by the producer */
    _Alignas(64) _Atomic unsigned long tail; /* items consumed by the consumer */
    _Alignas(64) void *slot[RING];
};

/* One thread's objects. */
struct wstate {
    struct kmem_cache *cache; /* the 64-byte cache (kmem, cache64 and prodcons) */
    struct ring *ring;        /* prodcons */
    void **shared;            /* prodcons under callgrind: BATCH objects */
    void *live[LIVE];
    void *batch[BATCH];
};

BENCH_INLINE void loop_steady(enum api a, size_t size, struct wstate *st, long n)
{
    struct kmem_cache *c = st->cache;
    for (long i = 0; i < n; i++) {
        void *p = obj_alloc(a, c, size);
        obj_free(a, c, p);
    }
}

/* n is a multiple of BATCH. */
BENCH_INLINE void loop_batch(enum api a, size_t size, struct wstate *st, long n)
{
    struct kmem_cache *c = st->cache;
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            st->batch[i] = obj_alloc(a, c, size);
        for (int i = 0; i < BATCH; i++)
            obj_free(a, c, st->batch[i]);
    }
}

/* prodcons, producer: n allocations (n a multiple of PUBLISH), then the
 * index published. */
BENCH_INLINE void loop_produce(enum api a, size_t size, struct wstate *st, long n)
{
    struct kmem_cache *c = st->cache;
    struct ring *r = st->ring;
    unsigned long head = atomic_load_explicit(&r->head, memory_order_relaxed);
    unsigned long tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (long i = 0; i < n; i++) {
        void *p = obj_alloc(a, c, size);
        if (BENCH_UNLIKELY(head - tail == RING)) {
            atomic_store_explicit(&r->head, head, memory_order_release);
            unsigned int spins = 0;
            do {
                ring_wait(&spins);
                tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            } while (head - tail == RING);
        }
        r->slot[head++ & (RING - 1)] = p;
        if (head % PUBLISH == 0)
            atomic_store_explicit(&r->head, head, memory_order_release);
    }
    atomic_store_explicit(&r->head, head, memory_order_release);
}

/* prodcons, consumer: free until the NULL that ends the round; returns the
 * objects freed. */
BENCH_INLINE long loop_consume(enum api a, struct wstate *st)
{
    struct kmem_cache *c = st->cache;
    struct ring *r = st->ring;
    unsigned long tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned long head = atomic_load_explicit(&r->head, memory_order_acquire);
    long n = 0;
    for (;;) {
        if (tail == head) {
            atomic_store_explicit(&r->tail, tail, memory_order_release);
            unsigned int spins = 0;
            do {
                ring_wait(&spins);
                head = atomic_load_explicit(&r->head, memory_order_acquire);
            } while (tail == head);
        }
        void *p = r->slot[tail++ & (RING - 1)];
        if (tail % PUBLISH == 0)
            atomic_store_explicit(&r->tail, tail, memory_order_release);
        if (!p)
            break;
        obj_free(a, c, p);
        n++;
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return n;
}

/* prodcons under callgrind: the two halves of a pair, on a shared array. */
BENCH_INLINE void loop_alloc_only(enum api a, size_t size, struct wstate *st, long n)
{
    struct kmem_cache *c = st->cache;
    for (long i = 0; i < n; i++)
        st->shared[i] = obj_alloc(a, c, size);
}

BENCH_INLINE void loop_free_only(enum api a, struct wstate *st, long n)
{
    struct kmem_cache *c = st->cache;
    for (long i = 0; i < n; i++)
        obj_free(a, c, st->shared[i]);
}

typedef void (*loop_fn)(struct wstate *st, long n);
typedef long (*consume_fn)(struct wstate *st);

#define DEFINE_LOOPS(A, SIZE, name)                                                                \
    static BENCH_NOINLINE void steady_##name(struct wstate *st, long n)                            \
    {                                                                                              \
        loop_steady(A, SIZE, st, n);                                                               \
    }                                                                                              \
    static BENCH_NOINLINE void batch_##name(struct wstate *st, long n)                             \
    {                                                                                              \
        loop_batch(A, SIZE, st, n);                                                                \
    }

#define DEFINE_PC_LOOPS(A, SIZE, name)                                                             \
    static BENCH_NOINLINE void produce_##name(struct wstate *st, long n)                           \
    {                                                                                              \
        loop_produce(A, SIZE, st, n);                                                              \
    }                                                                                              \
    static BENCH_NOINLINE long consume_##name(struct wstate *st)                                   \
    {                                                                                              \
        return loop_consume(A, st);                                                                \
    }                                                                                              \
    static BENCH_NOINLINE void allocs_##name(struct wstate *st, long n)                            \
    {                                                                                              \
        loop_alloc_only(A, SIZE, st, n);                                                           \
    }                                                                                              \
    static BENCH_NOINLINE void frees_##name(struct wstate *st, long n)                             \
    {                                                                                              \
        loop_free_only(A, st, n);                                                                  \
    }

DEFINE_LOOPS(API_CACHE, 64, cache64)
DEFINE_LOOPS(API_KMALLOC, 32, kmalloc32)
DEFINE_LOOPS(API_KMALLOC, 256, kmalloc256)
DEFINE_LOOPS(API_MALLOC, 64, malloc64)
DEFINE_LOOPS(API_MALLOC, 32, malloc32)
DEFINE_LOOPS(API_MALLOC, 256, malloc256)
DEFINE_PC_LOOPS(API_CACHE, 64, cache64)
DEFINE_PC_LOOPS(API_MALLOC, 64, malloc64)

enum workload {
    WL_CACHE64_STEADY,
    WL_CACHE64_BATCH,
    WL_KMALLOC32_STEADY,
    WL_KMALLOC32_BATCH,
    WL_KMALLOC256_STEADY,
    WL_KMALLOC256_BATCH,
    WL_PRODCONS,
    NR_WORKLOADS
};

static const struct wl_spec {
    const char *name;
    size_t size;
    enum api api[NR_KINDS]; /* kmem's, malloc's */
    bool batch, prodcons;
    loop_fn fn[NR_KINDS]; /* steady or batch: the timed loop */
    loop_fn produce[NR_KINDS], allocs[NR_KINDS], frees[NR_KINDS];
    consume_fn consume[NR_KINDS];
} wls[NR_WORKLOADS] = {
    [WL_CACHE64_STEADY] = {.name = "cache64-steady",
                           .size = 64,
                           .api = {API_CACHE, API_MALLOC},
                           .fn = {steady_cache64, steady_malloc64}},
    [WL_CACHE64_BATCH] = {.name = "cache64-batch",
                          .size = 64,
                          .api = {API_CACHE, API_MALLOC},
                          .batch = true,
                          .fn = {batch_cache64, batch_malloc64}},
    [WL_KMALLOC32_STEADY] = {.name = "kmalloc32-steady",
                             .size = 32,
                             .api = {API_KMALLOC, API_MALLOC},
                             .fn = {steady_kmalloc32, steady_malloc32}},
    [WL_KMALLOC32_BATCH] = {.name = "kmalloc32-batch",
                            .size = 32,
                            .api = {API_KMALLOC, API_MALLOC},
                            .batch = true,
                            .fn = {batch_kmalloc32, batch_malloc32}},
    [WL_KMALLOC256_STEADY] = {.name = "kmalloc256-steady",
                              .size = 256,
                              .api = {API_KMALLOC, API_MALLOC},
                              .fn = {steady_kmalloc256, steady_malloc256}},
    [WL_KMALLOC256_BATCH] = {.name = "kmalloc256-batch",
                             .size = 256,
                             .api = {API_KMALLOC, API_MALLOC},
                             .batch = true,
                             .fn = {batch_kmalloc256, batch_malloc256}},
    [WL_PRODCONS] = {.name = "prodcons",
                     .size = 64,
                     .api = {API_CACHE, API_MALLOC},
                     .prodcons = true,
                     .produce = {produce_cache64, produce_malloc64},
                     .allocs = {allocs_cache64, allocs_malloc64},
                     .frees = {frees_cache64, frees_malloc64},
                     .consume = {consume_cache64, consume_malloc64}},
};

static long wl_chunk(enum workload wl)
{
    return wls[wl].batch ? BATCH : CHUNK;
}

static struct kmem_cache *cache64; /* created by main for kmem */

static struct wstate *wstate_new(enum workload wl, enum kind k)
{
    struct wstate *st = calloc(1, sizeof *st);
    if (!st)
        out_of_memory(sizeof *st);
    st->cache = cache64;
    if (!wls[wl].batch && !wls[wl].prodcons)
        for (int i = 0; i < LIVE; i++)
            st->live[i] = obj_alloc(wls[wl].api[k], st->cache, wls[wl].size);
    return st;
}

static void wstate_free(enum workload wl, enum kind k, struct wstate *st)
{
    if (!wls[wl].batch && !wls[wl].prodcons)
        for (int i = 0; i < LIVE; i++)
            obj_free(wls[wl].api[k], st->cache, st->live[i]);
    free(st);
}

/* ---- timing ---------------------------------------------------------------- */

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Run chunks of ops for at least dur_ns; returns the ops done, *ns the time
 * and *cpu the share of it this thread was on a CPU (below 1: it slept in a
 * lock or was preempted, by the other thread or by another process). */
static double run_for(loop_fn fn, long chunk, struct wstate *st, double dur_ns, double *ns,
                      double *cpu)
{
    double ops = 0, c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC), t;
    do {
        fn(st, chunk);
        ops += (double)chunk;
        t = clock_ns(CLOCK_MONOTONIC);
    } while (t - t0 < dur_ns);
    *ns = t - t0;
    *cpu = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / *ns;
    return ops;
}

/* One prodcons round of at least dur_ns. The producer (tid 0) allocates in
 * chunks until the time is up, then sends NULL; the consumer (tid 1) frees
 * until the NULL. The consumer's count and wall time are the round's. */
static double pc_round(const struct wl_spec *w, enum kind k, unsigned int tid, struct wstate *st,
                       double dur_ns, double *ns, double *cpu)
{
    double ops = 0, c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC), t;
    if (tid == 0) {
        do {
            w->produce[k](st, CHUNK);
            t = clock_ns(CLOCK_MONOTONIC);
        } while (t - t0 < dur_ns);
        /* The end of the round: one NULL (never an object). */
        struct ring *r = st->ring;
        unsigned long head = atomic_load_explicit(&r->head, memory_order_relaxed);
        unsigned int spins = 0;
        while (head - atomic_load_explicit(&r->tail, memory_order_acquire) == RING)
            ring_wait(&spins);
        r->slot[head & (RING - 1)] = NULL;
        atomic_store_explicit(&r->head, head + 1, memory_order_release);
    } else {
        ops = (double)w->consume[k](st);
        t = clock_ns(CLOCK_MONOTONIC);
    }
    *ns = t - t0;
    *cpu = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / *ns;
    return ops;
}

struct job {
    enum workload wl;
    enum kind kind;
    unsigned int nthreads;
    int reps;
    double warmup_ns, dur_ns;
    struct ring *ring; /* prodcons */
    pthread_barrier_t barrier;
    struct {
        double ops, ns, cpu;
    } res[MAX_THREADS][MAX_REPS];
};

struct worker {
    struct job *job;
    unsigned int tid;
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct job *job = w->job;
    const struct wl_spec *spec = &wls[job->wl];
    struct wstate *st = wstate_new(job->wl, job->kind);
    st->ring = job->ring;
    double ns, cpu;
    if (spec->prodcons) {
        pthread_barrier_wait(&job->barrier);
        pc_round(spec, job->kind, w->tid, st, job->warmup_ns, &ns, &cpu);
    } else {
        run_for(spec->fn[job->kind], wl_chunk(job->wl), st, job->warmup_ns, &ns, &cpu);
    }
    for (int r = 0; r < job->reps; r++) {
        pthread_barrier_wait(&job->barrier); /* all threads start together */
        if (spec->prodcons)
            job->res[w->tid][r].ops = pc_round(spec, job->kind, w->tid, st, job->dur_ns, &ns, &cpu);
        else
            job->res[w->tid][r].ops =
                run_for(spec->fn[job->kind], wl_chunk(job->wl), st, job->dur_ns, &ns, &cpu);
        job->res[w->tid][r].ns = ns;
        job->res[w->tid][r].cpu = cpu;
        pthread_barrier_wait(&job->barrier); /* and nobody tears down early */
    }
    wstate_free(job->wl, job->kind, st);
    return NULL;
}

static void spawn(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    if (pthread_create(thread, NULL, fn, arg) != 0) {
        fprintf(stderr, "bench_slab: pthread_create failed\n");
        exit(2);
    }
}

static int run_job(struct job *job, const char *label)
{
    struct worker workers[MAX_THREADS];
    bool pc = wls[job->wl].prodcons;
    if (pthread_barrier_init(&job->barrier, NULL, job->nthreads) != 0)
        return -1;
    if (pc) {
        job->ring = aligned_alloc(64, sizeof *job->ring);
        if (!job->ring)
            out_of_memory(sizeof *job->ring);
        memset(job->ring, 0, sizeof *job->ring);
    }
    for (unsigned int t = 0; t < job->nthreads; t++) {
        workers[t] = (struct worker){.job = job, .tid = t};
        spawn(&workers[t].thread, worker_main, &workers[t]);
    }
    for (unsigned int t = 0; t < job->nthreads; t++)
        pthread_join(workers[t].thread, NULL);
    pthread_barrier_destroy(&job->barrier);
    free(job->ring);
    for (int r = 0; r < job->reps; r++) {
        double mops = 0, ns_per_op = 0, cpu = 0;
        for (unsigned int t = 0; t < job->nthreads; t++) {
            cpu += job->res[t][r].cpu / job->nthreads;
            if (!pc) {
                mops += job->res[t][r].ops / job->res[t][r].ns * 1e3;
                ns_per_op += job->res[t][r].ns / job->res[t][r].ops / job->nthreads;
            }
        }
        if (pc) { /* the consumer's count over the consumer's time */
            mops = job->res[1][r].ops / job->res[1][r].ns * 1e3;
            ns_per_op = job->res[1][r].ns / job->res[1][r].ops;
        }
        printf("sample\t%s\t%u\t%s\t%.3f\t%.3f\t%.3f\n", wls[job->wl].name, job->nthreads, label,
               ns_per_op, mops, cpu);
    }
    fflush(stdout);
    return 0;
}

/* The only function callgrind collects in (--toggle-collect=bench_cg_region). */
BENCH_NOINLINE void bench_cg_region(loop_fn fn, struct wstate *st, long n);
BENCH_NOINLINE void bench_cg_region(loop_fn fn, struct wstate *st, long n)
{
    fn(st, n);
}

/* prodcons under callgrind: in turns, the producer allocates BATCH objects
 * into the shared array and the consumer frees them (valgrind runs one
 * thread at a time anyway; waiting in the barrier is outside the region). */
struct cg_pc {
    const struct wl_spec *w;
    enum kind kind;
    long rounds;
    void **shared;
    pthread_barrier_t barrier;
};

struct cg_worker {
    struct cg_pc *pc;
    unsigned int tid;
    pthread_t thread;
};

static void *cg_pc_main(void *arg)
{
    struct cg_worker *cw = arg;
    struct cg_pc *pc = cw->pc;
    struct wstate *st = wstate_new(WL_PRODCONS, pc->kind);
    st->shared = pc->shared;
    loop_fn fn = cw->tid == 0 ? pc->w->allocs[pc->kind] : pc->w->frees[pc->kind];
    for (long r = 0; r < CG_PC_ROUNDS + pc->rounds; r++) {
        if (cw->tid == 1)
            pthread_barrier_wait(&pc->barrier); /* the producer's turn */
        if (r < CG_PC_ROUNDS)
            fn(st, BATCH);
        else
            bench_cg_region(fn, st, BATCH);
        if (cw->tid == 0)
            pthread_barrier_wait(&pc->barrier); /* the consumer's turn */
        pthread_barrier_wait(&pc->barrier);     /* both done */
    }
    wstate_free(WL_PRODCONS, pc->kind, st);
    return NULL;
}

static void callgrind_run(enum workload wl, enum kind k, long n)
{
    if (wls[wl].prodcons) {
        static struct cg_pc pc;
        struct cg_worker workers[2];
        pc = (struct cg_pc){.w = &wls[wl], .kind = k, .rounds = n / BATCH};
        pc.shared = malloc(BATCH * sizeof *pc.shared);
        if (!pc.shared)
            out_of_memory(BATCH * sizeof *pc.shared);
        if (pthread_barrier_init(&pc.barrier, NULL, 2) != 0) {
            fprintf(stderr, "bench_slab: pthread_barrier_init failed\n");
            exit(2);
        }
        for (unsigned int t = 0; t < 2; t++) {
            workers[t] = (struct cg_worker){.pc = &pc, .tid = t};
            spawn(&workers[t].thread, cg_pc_main, &workers[t]);
        }
        for (unsigned int t = 0; t < 2; t++)
            pthread_join(workers[t].thread, NULL);
        pthread_barrier_destroy(&pc.barrier);
        free(pc.shared);
        return;
    }
    /* One thread (this one); the warmup fills the magazines outside the
     * collected region, so the figure is the steady state. */
    loop_fn fn = wls[wl].fn[k];
    struct wstate *st = wstate_new(wl, k);
    fn(st, wl_chunk(wl) * 16);
    bench_cg_region(fn, st, n);
    wstate_free(wl, k, st);
}

/* ---- report ---------------------------------------------------------------- */

enum { MAX_GROUPS = 256, MAX_SAMPLES = 512, MAX_INSTR = 256, NAME_LEN = 48 };

struct group {
    char wl[NAME_LEN], alloc[NAME_LEN];
    unsigned int threads;
    int n;     /* samples */
    int fails; /* runs that failed (run.sh writes a "fail" line for each) */
    double mops[MAX_SAMPLES], ns[MAX_SAMPLES], cpu[MAX_SAMPLES];
};

/* Instructions per pair of one workload and allocator: of the whole loop, and
 * of the allocator's functions alone (the loop's own instructions removed). */
struct instr {
    char wl[NAME_LEN], alloc[NAME_LEN];
    double per_op, lib_per_op;
};

static struct group groups[MAX_GROUPS];
static int nr_groups;
static struct instr instrs[MAX_INSTR];
static int nr_instrs;
static char names_wl[MAX_GROUPS][NAME_LEN], names_alloc[MAX_GROUPS][NAME_LEN];
static int nr_names_wl, nr_names_alloc;

static void name_add(char names[][NAME_LEN], int *nr, const char *name)
{
    for (int i = 0; i < *nr; i++)
        if (strcmp(names[i], name) == 0)
            return;
    snprintf(names[(*nr)++], NAME_LEN, "%s", name);
}

static struct group *group_find(const char *wl, unsigned int threads, const char *alloc,
                                bool create)
{
    for (int i = 0; i < nr_groups; i++)
        if (groups[i].threads == threads && strcmp(groups[i].wl, wl) == 0 &&
            strcmp(groups[i].alloc, alloc) == 0)
            return &groups[i];
    if (!create || nr_groups == MAX_GROUPS)
        return NULL;
    struct group *g = &groups[nr_groups++];
    snprintf(g->wl, NAME_LEN, "%s", wl);
    snprintf(g->alloc, NAME_LEN, "%s", alloc);
    g->threads = threads;
    name_add(names_wl, &nr_names_wl, wl);
    name_add(names_alloc, &nr_names_alloc, alloc);
    return g;
}

static struct instr *instr_find(const char *wl, const char *alloc, bool create)
{
    for (int i = 0; i < nr_instrs; i++)
        if (strcmp(instrs[i].wl, wl) == 0 && strcmp(instrs[i].alloc, alloc) == 0)
            return &instrs[i];
    if (!create || nr_instrs == MAX_INSTR)
        return NULL;
    struct instr *in = &instrs[nr_instrs++];
    snprintf(in->wl, NAME_LEN, "%s", wl);
    snprintf(in->alloc, NAME_LEN, "%s", alloc);
    in->per_op = in->lib_per_op = -1;
    name_add(names_wl, &nr_names_wl, wl);
    name_add(names_alloc, &nr_names_alloc, alloc);
    return in;
}

static void report_line(char *line)
{
    char *field[8];
    int nf = 0;
    for (char *save = NULL, *f = strtok_r(line, "\t\n", &save); f && nf < 8;
         f = strtok_r(NULL, "\t\n", &save))
        field[nf++] = f;
    if (nf == 7 && strcmp(field[0], "sample") == 0) {
        struct group *g = group_find(field[1], (unsigned int)atoi(field[2]), field[3], true);
        if (g && g->n < MAX_SAMPLES) {
            g->ns[g->n] = atof(field[4]);
            g->cpu[g->n] = atof(field[6]);
            g->mops[g->n++] = atof(field[5]);
        }
    } else if (nf >= 4 && strcmp(field[0], "fail") == 0) {
        struct group *g = group_find(field[1], (unsigned int)atoi(field[2]), field[3], true);
        if (g)
            g->fails++;
    } else if (nf == 4 && strcmp(field[0], "instr") == 0) {
        struct instr *in = instr_find(field[1], field[2], true);
        if (in)
            in->per_op = atof(field[3]);
    } else if (nf == 4 && strcmp(field[0], "libinstr") == 0) {
        struct instr *in = instr_find(field[1], field[2], true);
        if (in)
            in->lib_per_op = atof(field[3]);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double group_mops(const char *wl, unsigned int threads, const char *alloc)
{
    struct group *g = group_find(wl, threads, alloc, false);
    return g && g->n ? median(g->mops, g->n) : 0;
}

static void print_ratio(double x, double base)
{
    if (x > 0 && base > 0)
        printf(" %.2f |", x / base);
    else
        printf(" - |");
}

static void print_count(double x)
{
    if (x >= 0)
        printf(" %.1f |", x);
    else
        printf(" - |");
}

/* The lowest thread count a workload was run with (its instr row). */
static unsigned int first_threads(const char *wl)
{
    unsigned int t = MAX_THREADS;
    for (int i = 0; i < nr_groups; i++)
        if (strcmp(groups[i].wl, wl) == 0 && groups[i].threads < t)
            t = groups[i].threads;
    return t;
}

/* The targets (issue 3, item 10), checked on kmem's figures. */
static void report_targets(void)
{
    static const struct {
        const char *wl, *what;
        double max;
    } instr_targets[] = {
        {"cache64-steady", "cache pair, steady: at most 30", 30},
        {"cache64-batch", "cache pair, batch: at most 2 x 30", 60},
        {"kmalloc32-steady", "kmalloc pair (32 B), steady: at most 45", 45},
        {"kmalloc256-steady", "kmalloc pair (256 B), steady: at most 45", 45},
        {"kmalloc32-batch", "(no target; by the cache's rule 2 x 45)", 90},
        {"kmalloc256-batch", "(no target; by the cache's rule 2 x 45)", 90},
    };
    printf("\nTargets (issue 3, item 10) on kmem's figures: instructions per pair, of the whole\n"
           "loop and of the library's two calls alone (the loop's own instructions removed),\n"
           "for kmem and for kmem built without its free checks (kmem-nochecks, to show what\n"
           "they cost); two-thread scaling of the aggregate pairs/s (median).\n\n");
    printf("| target | build | whole loop | verdict | in the library | verdict |\n");
    printf("|---|---|---:|---|---:|---|\n");
    for (size_t k = 0; k < 2 * (sizeof instr_targets / sizeof instr_targets[0]); k++) {
        size_t i = k / 2;
        const char *build = k % 2 ? "kmem-nochecks" : "kmem";
        const struct instr *in = instr_find(instr_targets[i].wl, build, false);
        if (k % 2 && !in)
            continue;
        double max = instr_targets[i].max;
        printf("| %s: %s | %s |", instr_targets[i].wl, instr_targets[i].what, build);
        double v[2] = {in ? in->per_op : -1, in ? in->lib_per_op : -1};
        for (int j = 0; j < 2; j++) {
            if (v[j] < 0)
                printf(" - | - |");
            else if (v[j] <= max)
                printf(" %.1f | met (%.1f under) |", v[j], max - v[j]);
            else
                printf(" %.1f | **missed** by %.1f (%+.0f%%) |", v[j], v[j] - max,
                       (v[j] / max - 1) * 100);
        }
        printf("\n");
    }
    for (int w = 0; w < nr_names_wl; w++) {
        double one = group_mops(names_wl[w], 1, "kmem"), two = group_mops(names_wl[w], 2, "kmem");
        struct group *g = group_find(names_wl[w], 2, "kmem", false);
        if (one <= 0 || two <= 0 || !g)
            continue;
        /* Below 90% CPU the threads waited for a CPU (or slept): on a busy
         * machine a miss says nothing about kmem. */
        double cpu = median(g->cpu, g->n) * 100;
        printf("| %s: two threads at least 1.9x one | kmem | %.2fx | %s", names_wl[w], two / one,
               two / one >= 1.9 ? "met" : "**missed**");
        if (cpu < 90)
            printf(" (inconclusive: the threads were on a CPU %.0f%% of the time)", cpu);
        printf(" | | |\n");
    }
}

static int report(int argc, char **argv)
{
    char line[512];
    for (int i = 0; i < argc || (argc == 0 && i == 0); i++) {
        FILE *f = argc ? fopen(argv[i], "r") : stdin;
        if (!f) {
            fprintf(stderr, "bench_slab: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof line, f))
            report_line(line);
        if (f != stdin)
            fclose(f);
    }
    printf("| workload | threads | allocator | ns/op | Mops/s | spread Mops/s (min-max) | samples "
           "| CPU %% | x kmem | x glibc | instr/op | in library |\n");
    printf("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int w = 0; w < nr_names_wl; w++) {
        unsigned int t_instr = first_threads(names_wl[w]);
        for (unsigned int t = 1; t <= MAX_THREADS; t++) {
            double kmem = group_mops(names_wl[w], t, "kmem");
            double glibc = group_mops(names_wl[w], t, "glibc");
            for (int a = 0; a < nr_names_alloc; a++) {
                struct group *g = group_find(names_wl[w], t, names_alloc[a], false);
                if (!g)
                    continue;
                if (!g->n) {
                    printf("| %s | %u | %s | FAILED | - | - | 0 (%d runs failed) | - | - | - | - "
                           "| - |\n",
                           g->wl, t, g->alloc, g->fails);
                    continue;
                }
                double mops = median(g->mops, g->n); /* sorts g->mops */
                printf("| %s | %u | %s | %.1f | %.1f | %.1f-%.1f |", g->wl, t, g->alloc,
                       median(g->ns, g->n), mops, g->mops[0], g->mops[g->n - 1]);
                if (g->fails)
                    printf(" %d (%d runs failed) |", g->n, g->fails);
                else
                    printf(" %d |", g->n);
                printf(" %.0f |", median(g->cpu, g->n) * 100);
                print_ratio(mops, kmem);
                print_ratio(mops, glibc);
                const struct instr *in = t == t_instr ? instr_find(g->wl, g->alloc, false) : NULL;
                print_count(in ? in->per_op : -1);
                print_count(in ? in->lib_per_op : -1);
                printf("\n");
            }
        }
    }
    printf("\nScaling (aggregate Mops/s, medians): 2 threads / 1 thread\n\n");
    printf("| workload | allocator | 1 thread | 2 threads | 2T/1T |\n");
    printf("|---|---|---:|---:|---:|\n");
    for (int w = 0; w < nr_names_wl; w++)
        for (int a = 0; a < nr_names_alloc; a++) {
            double one = group_mops(names_wl[w], 1, names_alloc[a]);
            double two = group_mops(names_wl[w], 2, names_alloc[a]);
            if (one > 0 && two > 0)
                printf("| %s | %s | %.1f | %.1f | %.2f |\n", names_wl[w], names_alloc[a], one, two,
                       two / one);
        }
    report_targets();
    return 0;
}

/* ---- command line ---------------------------------------------------------- */

static _Noreturn void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: bench_slab run [--alloc kmem|malloc] [--label NAME]\n"
            "                      [--workload W|all] [--threads 1|2|all]\n"
            "                      [--ms MS] [--warmup-ms MS] [--reps N] [--mem-mib MIB]\n"
            "       bench_slab callgrind [--alloc ...] --workload W [--n OPS] [--mem-mib MIB]\n"
            "       bench_slab report [FILE...]\n"
            "Workloads: cache64-steady cache64-batch kmalloc32-steady kmalloc32-batch\n"
            "           kmalloc256-steady kmalloc256-batch prodcons (2 threads only)\n"
            "One op is one pair (an allocation and a free). run prints lines\n"
            "  sample <workload> <threads> <label> <ns/op per thread> <aggregate Mops/s> <CPU "
            "share>\n"
            "(prodcons: ns/op is wall-clock time per pair). callgrind prints 'ops <N>': run it\n"
            "under valgrind --tool=callgrind --toggle-collect=bench_cg_region and divide the\n"
            "collected Ir by N. Peers: run the malloc kind with LD_PRELOAD=<allocator.so>\n"
            "(none: glibc).\n");
    exit(status);
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench_slab: bad number '%s'\n", s);
        usage(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage(1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "report") == 0)
        return report(argc - 2, argv + 2);
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
        usage(0);
    bool cg = strcmp(cmd, "callgrind") == 0;
    if (!cg && strcmp(cmd, "run") != 0)
        usage(1);

    enum kind kind = KIND_KMEM;
    const char *label = NULL;
    int wl_first = 0, wl_last = NR_WORKLOADS - 1;
    unsigned int thr_first = 1, thr_last = MAX_THREADS;
    long ms = 60, warmup_ms = 20, reps = 2, mem_mib = 1024, n = 200000;
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val)
            usage(1);
        i++;
        if (strcmp(opt, "--alloc") == 0) {
            if (strcmp(val, "kmem") == 0)
                kind = KIND_KMEM;
            else if (strcmp(val, "malloc") == 0)
                kind = KIND_MALLOC;
            else
                usage(1);
        } else if (strcmp(opt, "--label") == 0) {
            label = val;
        } else if (strcmp(opt, "--workload") == 0) {
            if (strcmp(val, "all") != 0) {
                wl_first = -1;
                for (int w = 0; w < NR_WORKLOADS; w++)
                    if (strcmp(wls[w].name, val) == 0)
                        wl_first = w;
                if (wl_first < 0)
                    usage(1);
                wl_last = wl_first;
            }
        } else if (strcmp(opt, "--threads") == 0) {
            if (strcmp(val, "all") != 0)
                thr_first = thr_last = (unsigned int)arg_long(val, 1, MAX_THREADS);
        } else if (strcmp(opt, "--ms") == 0) {
            ms = arg_long(val, 1, 100000);
        } else if (strcmp(opt, "--warmup-ms") == 0) {
            warmup_ms = arg_long(val, 0, 100000);
        } else if (strcmp(opt, "--reps") == 0) {
            reps = arg_long(val, 1, MAX_REPS);
        } else if (strcmp(opt, "--mem-mib") == 0) {
            mem_mib = arg_long(val, 16, 1L << 20);
        } else if (strcmp(opt, "--n") == 0) {
            n = arg_long(val, 1, 1L << 40);
        } else {
            usage(1);
        }
    }
    if (!label)
        label = kind_names[kind];
    if (kind == KIND_KMEM) {
        struct kmem_config cfg = {.mem_size = (size_t)mem_mib << 20};
        int rc = kmem_init(&cfg);
        if (rc != 0) {
            fprintf(stderr, "bench_slab: kmem_init(%ld MiB): %d\n", mem_mib, rc);
            return 2;
        }
        cache64 = kmem_cache_create("bench-64", 64, 0, 0, NULL);
        if (!cache64) {
            fprintf(stderr, "bench_slab: kmem_cache_create failed\n");
            return 2;
        }
    }

    if (cg) {
        enum workload wl = (enum workload)wl_first;
        long chunk = wls[wl].prodcons ? BATCH : wl_chunk(wl);
        n = (n + chunk - 1) / chunk * chunk;
        callgrind_run(wl, kind, n);
        printf("ops\t%ld\n", n);
    } else {
        static struct job job;
        for (int wl = wl_first; wl <= wl_last; wl++)
            for (unsigned int t = thr_first; t <= thr_last; t++) {
                if (wls[wl].prodcons && t != 2)
                    continue; /* a producer and a consumer */
                job = (struct job){.wl = (enum workload)wl,
                                   .kind = kind,
                                   .nthreads = t,
                                   .reps = (int)reps,
                                   .warmup_ns = (double)warmup_ms * 1e6,
                                   .dur_ns = (double)ms * 1e6};
                if (run_job(&job, label) != 0)
                    return 2;
            }
    }

    if (kind == KIND_KMEM) {
        /* Every object went back (threads return their magazines when they
         * exit), so the cache can go; then the full checks. */
        int errors = kmem_cache_check(cache64);
        kmem_cache_destroy(cache64);
        errors += kmem_page_check();
        kmem_exit();
        if (errors) {
            fprintf(stderr, "bench_slab: kmem checks found %d errors\n", errors);
            return 3;
        }
    }
    return 0;
}
