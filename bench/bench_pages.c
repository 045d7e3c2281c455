/* SPDX-License-Identifier: MIT */
/*
 * bench_pages.c - benchmarks of the page allocator, and the same loops on
 * malloc so that other allocators can be compared in the same run.
 * bench/run.sh is the one command that builds and runs everything.
 *
 * Workloads (one "op" is always one PAIR: one allocation and one free):
 *   pair0     alloc_pages(GFP_KERNEL, 0) + __free_pages(page, 0) in a loop,
 *             with LIVE other order-0 pages held (steady state: the per-CPU
 *             list serves every request).
 *   batch0    allocate BATCH order-0 pages, then free them in the same order
 *             (the per-CPU lists overflow: refills and drains through the
 *             zone lock are part of the cost).
 *   mixed0-8  SLOTS live blocks; each step frees one slot's block and
 *             allocates a new block of a random order 0..8 into it. Slots
 *             and orders come from a sequence precomputed before timing, so
 *             no random number is drawn in the loop.
 * Allocators (--alloc):
 *   kmem      alloc_pages / __free_pages on a machine of --mem-mib MiB.
 *   malloc    malloc(4096 << order) / free: whichever malloc is loaded, so
 *             LD_PRELOAD picks jemalloc, mimalloc, tcmalloc or (none) glibc.
 *   aligned   aligned_alloc(4096, 4096 << order) / free: the same, with the
 *             page alignment a page allocator guarantees.
 * kmem itself never calls malloc, so LD_PRELOAD does not change its figures
 * (run.sh runs the kmem rows without it anyway).
 *
 * Subcommands:
 *   run        time the workloads on 1 and 2 threads (each thread runs its
 *              own loop on its own blocks); print one "sample" line per
 *              repetition: workload, threads, label, ns/op, aggregate Mops/s.
 *   callgrind  run exactly --n ops of one workload inside bench_cg_region()
 *              (after a warmup outside it), for
 *              valgrind --tool=callgrind --toggle-collect=bench_cg_region;
 *              instructions/op = collected Ir / the printed op count.
 *   report     read sample and instr lines (files or stdin), print markdown.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kmem.h>

#define BENCH_INLINE   static inline __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline))

enum {
    LIVE = 64,           /* pair0: other order-0 pages held during the loop */
    BATCH = 1000,        /* batch0: pages allocated before any is freed */
    SLOTS = 64,          /* mixed0-8: live blocks per thread (a power of 2) */
    MIXED_MAX_ORDER = 8, /* mixed0-8: orders 0..8, uniformly */
    SEQ_LEN = 1 << 16,   /* mixed0-8: precomputed steps (a power of 2) */
    CHUNK = 1024,        /* ops between two clock readings */
    MAX_THREADS = 2,
    MAX_REPS = 64,
};

/* ---- allocators ------------------------------------------------------------ */

enum kind { KIND_KMEM, KIND_MALLOC, KIND_ALIGNED, NR_KINDS };
static const char *const kind_names[NR_KINDS] = {"kmem", "malloc", "aligned"};

static BENCH_NOINLINE _Noreturn void out_of_memory(enum kind k, unsigned int order)
{
    fprintf(stderr, "bench_pages: %s: allocation of order %u failed\n", kind_names[k], order);
    exit(2);
}

/* Make p opaque to the optimizer, so that no malloc/free pair is elided. */
BENCH_INLINE void escape(void *p)
{
    __asm__ volatile("" : : "r"(p));
}

/* Always inlined with a constant k: each loop below is compiled once per
 * allocator, with a direct call and no indirection in the timed path. */
BENCH_INLINE void *blk_alloc(enum kind k, unsigned int order)
{
    void *p;
    if (k == KIND_KMEM)
        p = alloc_pages(GFP_KERNEL, order);
    else if (k == KIND_MALLOC)
        p = malloc((size_t)PAGE_SIZE << order);
    else
        p = aligned_alloc(PAGE_SIZE, (size_t)PAGE_SIZE << order);
    if (__builtin_expect(p == NULL, 0))
        out_of_memory(k, order);
    escape(p);
    return p;
}

BENCH_INLINE void blk_free(enum kind k, void *p, unsigned int order)
{
    if (k == KIND_KMEM)
        __free_pages(p, order);
    else
        free(p);
}

/* ---- workloads ------------------------------------------------------------- */

enum workload { WL_PAIR, WL_BATCH, WL_MIXED, NR_WORKLOADS };
static const char *const wl_names[NR_WORKLOADS] = {"pair0", "batch0", "mixed0-8"};
static const long wl_chunk[NR_WORKLOADS] = {CHUNK, BATCH, CHUNK};

/* One thread's blocks. */
struct wstate {
    void *live[LIVE];
    void *batch[BATCH];
    void *slot[SLOTS];
    unsigned char slot_order[SLOTS];
    uint16_t *seq; /* SEQ_LEN steps: slot | order << 6 */
    uint32_t pos;  /* next step */
};

BENCH_INLINE void loop_pair(enum kind k, struct wstate *st, long n)
{
    (void)st;
    for (long i = 0; i < n; i++) {
        void *p = blk_alloc(k, 0);
        blk_free(k, p, 0);
    }
}

/* n is a multiple of BATCH. */
BENCH_INLINE void loop_batch(enum kind k, struct wstate *st, long n)
{
    for (long done = 0; done < n; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            st->batch[i] = blk_alloc(k, 0);
        for (int i = 0; i < BATCH; i++)
            blk_free(k, st->batch[i], 0);
    }
}

BENCH_INLINE void loop_mixed(enum kind k, struct wstate *st, long n)
{
    const uint16_t *seq = st->seq;
    uint32_t pos = st->pos;
    for (long i = 0; i < n; i++) {
        unsigned int step = seq[pos++ & (SEQ_LEN - 1)];
        unsigned int s = step & (SLOTS - 1), order = step >> 6;
        blk_free(k, st->slot[s], st->slot_order[s]);
        st->slot[s] = blk_alloc(k, order);
        st->slot_order[s] = (unsigned char)order;
    }
    st->pos = pos;
}

typedef void (*loop_fn)(struct wstate *st, long n);

#define DEFINE_LOOPS(K, name)                                                                      \
    static BENCH_NOINLINE void pair_##name(struct wstate *st, long n)                              \
    {                                                                                              \
        loop_pair(K, st, n);                                                                       \
    }                                                                                              \
    static BENCH_NOINLINE void batch_##name(struct wstate *st, long n)                             \
    {                                                                                              \
        loop_batch(K, st, n);                                                                      \
    }                                                                                              \
    static BENCH_NOINLINE void mixed_##name(struct wstate *st, long n)                             \
    {                                                                                              \
        loop_mixed(K, st, n);                                                                      \
    }

DEFINE_LOOPS(KIND_KMEM, kmem)
DEFINE_LOOPS(KIND_MALLOC, malloc)
DEFINE_LOOPS(KIND_ALIGNED, aligned)

static const loop_fn loops[NR_WORKLOADS][NR_KINDS] = {
    {pair_kmem, pair_malloc, pair_aligned},
    {batch_kmem, batch_malloc, batch_aligned},
    {mixed_kmem, mixed_malloc, mixed_aligned},
};

/* xorshift64*: only used to build the sequence, before timing. */
static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1DULL;
}

static void wl_setup(enum workload wl, enum kind k, struct wstate *st, unsigned int tid)
{
    memset(st, 0, sizeof *st);
    if (wl == WL_PAIR) {
        for (int i = 0; i < LIVE; i++)
            st->live[i] = blk_alloc(k, 0);
    } else if (wl == WL_MIXED) {
        st->seq = malloc(SEQ_LEN * sizeof *st->seq);
        if (!st->seq)
            out_of_memory(KIND_MALLOC, 0);
        uint64_t x = 0x9E3779B97F4A7C15ULL * (tid + 1);
        for (int i = 0; i < SEQ_LEN; i++) {
            uint64_t r = rng_next(&x);
            unsigned int order = (unsigned int)((r >> 32) % (MIXED_MAX_ORDER + 1));
            st->seq[i] = (uint16_t)((r & (SLOTS - 1)) | (order << 6));
        }
        for (int s = 0; s < SLOTS; s++) {
            unsigned int order = st->seq[s] >> 6;
            st->slot[s] = blk_alloc(k, order);
            st->slot_order[s] = (unsigned char)order;
        }
        st->pos = SLOTS;
    }
}

static void wl_teardown(enum workload wl, enum kind k, struct wstate *st)
{
    if (wl == WL_PAIR) {
        for (int i = 0; i < LIVE; i++)
            blk_free(k, st->live[i], 0);
    } else if (wl == WL_MIXED) {
        for (int s = 0; s < SLOTS; s++)
            blk_free(k, st->slot[s], st->slot_order[s]);
        free(st->seq);
    }
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

struct job {
    enum workload wl;
    enum kind kind;
    unsigned int nthreads;
    int reps;
    double warmup_ns, dur_ns;
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
    loop_fn fn = loops[job->wl][job->kind];
    long chunk = wl_chunk[job->wl];
    struct wstate *st = malloc(sizeof *st);
    if (!st)
        out_of_memory(KIND_MALLOC, 0);
    wl_setup(job->wl, job->kind, st, w->tid);
    double ns, cpu;
    run_for(fn, chunk, st, job->warmup_ns, &ns, &cpu);
    for (int r = 0; r < job->reps; r++) {
        pthread_barrier_wait(&job->barrier); /* all threads start together */
        job->res[w->tid][r].ops = run_for(fn, chunk, st, job->dur_ns, &ns, &cpu);
        job->res[w->tid][r].ns = ns;
        job->res[w->tid][r].cpu = cpu;
        pthread_barrier_wait(&job->barrier); /* and nobody tears down early */
    }
    wl_teardown(job->wl, job->kind, st);
    free(st);
    return NULL;
}

static int run_job(struct job *job, const char *label)
{
    struct worker workers[MAX_THREADS];
    if (pthread_barrier_init(&job->barrier, NULL, job->nthreads) != 0)
        return -1;
    for (unsigned int t = 0; t < job->nthreads; t++) {
        workers[t] = (struct worker){.job = job, .tid = t};
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "bench_pages: pthread_create failed\n");
            exit(2);
        }
    }
    for (unsigned int t = 0; t < job->nthreads; t++)
        pthread_join(workers[t].thread, NULL);
    pthread_barrier_destroy(&job->barrier);
    for (int r = 0; r < job->reps; r++) {
        double mops = 0, ns_per_op = 0, cpu = 0;
        for (unsigned int t = 0; t < job->nthreads; t++) {
            mops += job->res[t][r].ops / job->res[t][r].ns * 1e3;
            ns_per_op += job->res[t][r].ns / job->res[t][r].ops;
            cpu += job->res[t][r].cpu;
        }
        printf("sample\t%s\t%u\t%s\t%.3f\t%.3f\t%.3f\n", wl_names[job->wl], job->nthreads, label,
               ns_per_op / job->nthreads, mops, cpu / job->nthreads);
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

/* ---- report ---------------------------------------------------------------- */

enum { MAX_GROUPS = 256, MAX_SAMPLES = 512, MAX_INSTR = 256, NAME_LEN = 48 };

struct group {
    char wl[NAME_LEN], alloc[NAME_LEN];
    unsigned int threads;
    int n;     /* samples */
    int fails; /* runs that failed (run.sh writes a "fail" line for each) */
    double mops[MAX_SAMPLES], ns[MAX_SAMPLES], cpu[MAX_SAMPLES];
};

struct instr {
    char wl[NAME_LEN], alloc[NAME_LEN];
    double per_op;
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
    } else if (nf == 4 && strcmp(field[0], "instr") == 0 && nr_instrs < MAX_INSTR) {
        struct instr *in = &instrs[nr_instrs++];
        snprintf(in->wl, NAME_LEN, "%s", field[1]);
        snprintf(in->alloc, NAME_LEN, "%s", field[2]);
        in->per_op = atof(field[3]);
        name_add(names_wl, &nr_names_wl, field[1]);
        name_add(names_alloc, &nr_names_alloc, field[2]);
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

static int report(int argc, char **argv)
{
    char line[512];
    for (int i = 0; i < argc || (argc == 0 && i == 0); i++) {
        FILE *f = argc ? fopen(argv[i], "r") : stdin;
        if (!f) {
            fprintf(stderr, "bench_pages: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof line, f))
            report_line(line);
        if (f != stdin)
            fclose(f);
    }
    printf("| workload | threads | allocator | ns/op | Mops/s | spread Mops/s (min-max) | samples "
           "| CPU %% | x kmem | x glibc | instr/op |\n");
    printf("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int w = 0; w < nr_names_wl; w++) {
        for (unsigned int t = 1; t <= MAX_THREADS; t++) {
            double kmem = group_mops(names_wl[w], t, "kmem");
            double glibc = group_mops(names_wl[w], t, "glibc");
            for (int a = 0; a < nr_names_alloc; a++) {
                struct group *g = group_find(names_wl[w], t, names_alloc[a], false);
                if (!g)
                    continue;
                if (!g->n) {
                    printf(
                        "| %s | %u | %s | FAILED | - | - | 0 (%d runs failed) | - | - | - | - |\n",
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
                const struct instr *in = NULL;
                for (int i = 0; i < nr_instrs && t == 1; i++)
                    if (strcmp(instrs[i].wl, g->wl) == 0 && strcmp(instrs[i].alloc, g->alloc) == 0)
                        in = &instrs[i];
                if (in)
                    printf(" %.1f |\n", in->per_op);
                else
                    printf(" - |\n");
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
    return 0;
}

/* ---- command line ---------------------------------------------------------- */

static _Noreturn void usage(int status)
{
    fprintf(
        status ? stderr : stdout,
        "usage: bench_pages run [--alloc kmem|malloc|aligned] [--label NAME]\n"
        "                       [--workload pair0|batch0|mixed0-8|all] [--threads 1|2|all]\n"
        "                       [--ms MS] [--warmup-ms MS] [--reps N] [--mem-mib MIB]\n"
        "       bench_pages callgrind [--alloc ...] --workload W [--n OPS] [--mem-mib MIB]\n"
        "       bench_pages report [FILE...]\n"
        "One op is one pair (an allocation and a free). run prints lines\n"
        "  sample <workload> <threads> <label> <ns/op per thread> <aggregate Mops/s> <CPU share>\n"
        "callgrind prints 'ops <N>': run it under\n"
        "  valgrind --tool=callgrind --toggle-collect=bench_cg_region\n"
        "and divide the collected Ir by N. Peers: run the malloc and aligned kinds\n"
        "with LD_PRELOAD=<allocator.so> (none: glibc).\n");
    exit(status);
}

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static long arg_long(const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bench_pages: bad number '%s'\n", s);
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
            int k = lookup(kind_names, NR_KINDS, val);
            if (k < 0)
                usage(1);
            kind = (enum kind)k;
        } else if (strcmp(opt, "--label") == 0) {
            label = val;
        } else if (strcmp(opt, "--workload") == 0) {
            if (strcmp(val, "all") != 0) {
                wl_first = wl_last = lookup(wl_names, NR_WORKLOADS, val);
                if (wl_first < 0)
                    usage(1);
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
            fprintf(stderr, "bench_pages: kmem_init(%ld MiB): %d\n", mem_mib, rc);
            return 2;
        }
    }

    if (cg) {
        /* One thread (this one); the warmup fills the caches outside the
         * collected region, so the figure is the steady state. */
        enum workload wl = (enum workload)wl_first;
        loop_fn fn = loops[wl][kind];
        long chunk = wl_chunk[wl];
        n = (n + chunk - 1) / chunk * chunk;
        struct wstate *st = malloc(sizeof *st);
        if (!st)
            out_of_memory(KIND_MALLOC, 0);
        wl_setup(wl, kind, st, 0);
        fn(st, chunk * 16);
        bench_cg_region(fn, st, n);
        wl_teardown(wl, kind, st);
        free(st);
        printf("ops\t%ld\n", n);
    } else {
        static struct job job;
        for (int wl = wl_first; wl <= wl_last; wl++)
            for (unsigned int t = thr_first; t <= thr_last; t++) {
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
        int errors = kmem_page_check();
        kmem_exit();
        if (errors) {
            fprintf(stderr, "bench_pages: kmem_page_check found %d errors\n", errors);
            return 3;
        }
    }
    return 0;
}
