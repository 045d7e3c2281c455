/* SPDX-License-Identifier: MIT */
/*
 * bench_malloc.c - workloads of a general-purpose malloc, run by bench/run.sh
 * (suite "malloc") once per allocator: it calls plain malloc and free, so
 * LD_PRELOAD picks kmem's libkmem-malloc.so, jemalloc, mimalloc, tcmalloc
 * or (none) glibc.
 *
 * Workloads (the unit of the time column in brackets):
 *   pair32-steady, pair256-steady, pair4k-steady   [ns per pair]
 *                    malloc + free of one size in a loop, 64 others live.
 *   pair32-batch, pair256-batch, pair4k-batch      [ns per pair]
 *                    1000 mallocs, then the 1000 frees in the same order.
 *   prodcons         [ns per pair] one thread mallocs 64-byte blocks, another
 *                    frees them (a ring between): every free is remote.
 *   thread-churn     [us per thread] a thread mallocs 10000 blocks of 16 B -
 *                    1 KiB, frees them but 100, which main frees; joined; 300
 *                    times. RSS at the end: do exited threads' caches return?
 *   big-churn        [us per op] 4 live blocks of 5-25 MiB, one replaced per
 *                    op, every page written; minor faults per op.
 *   grow-shrink      [ns per pair] 256 MiB of blocks of 16 B - 4 KiB, then all
 *                    freed, 3 times; RSS after the last shrink.
 *   frag-random      [ns per pair] sizes log-uniform 16 B - 16 KiB, written
 *                    whole, 50 rounds of 20000 blocks of which a tenth is
 *                    kept; RSS over live bytes at the end (fragmentation).
 * Subcommands:
 *   run --workload W --label L [--reps N]   "msample W L time rss_kib extra"
 *        per repetition (extra: faults per op, or RSS/live; 0 if none)
 *   callgrind --workload W --n N   exactly N pairs inside bench_cg_region()
 *   report FILE...   markdown tables, ratios to glibc and to the best peer,
 *        and the targets
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static inline uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_malloc: malloc(%zu) failed\n", n);
        exit(2);
    }
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* ---- the pair loops ------------------------------------------------------------------------ */

NOINLINE static void steady(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        void *p = xmalloc(size);
        free(p);
    }
}

enum { BATCH = 1000 };
static void *batch_slots[BATCH];

NOINLINE static void batch(size_t size, long n)
{
    for (long r = 0; r < n / BATCH; r++) {
        for (int i = 0; i < BATCH; i++)
            batch_slots[i] = xmalloc(size);
        for (int i = 0; i < BATCH; i++)
            free(batch_slots[i]);
    }
}

NOINLINE void bench_cg_region(void (*fn)(size_t, long), size_t size, long n);
NOINLINE void bench_cg_region(void (*fn)(size_t, long), size_t size, long n)
{
    fn(size, n);
}

static bool pair_workload(const char *w, size_t *size, void (**fn)(size_t, long))
{
    unsigned s;
    char kind[16];
    if (sscanf(w, "pair%u%*[k]-%15s", &s, kind) == 2 && strstr(w, "k-"))
        s *= 1024;
    else if (sscanf(w, "pair%u-%15s", &s, kind) != 2)
        return false;
    *size = s;
    *fn = !strcmp(kind, "steady") ? steady : !strcmp(kind, "batch") ? batch : NULL;
    return *fn != NULL;
}

/* ---- prodcons ----------------------------------------------------------------------------------
 */

enum { RING = 1024 };
static void *ring[RING];
static long prodcons_n;

static void *consumer(void *arg)
{
    (void)arg;
    for (long i = 0; i < prodcons_n; i++) {
        void *p;
        while ((p = __atomic_exchange_n(&ring[i % RING], NULL, __ATOMIC_ACQUIRE)) == NULL)
            ;
        free(p);
    }
    return NULL;
}

static double prodcons(long n)
{
    prodcons_n = n;
    pthread_t t;
    double t0 = now_ns();
    pthread_create(&t, NULL, consumer, NULL);
    for (long i = 0; i < n; i++) {
        void *p = xmalloc(64);
        while (__atomic_load_n(&ring[i % RING], __ATOMIC_ACQUIRE) != NULL)
            ;
        __atomic_store_n(&ring[i % RING], p, __ATOMIC_RELEASE);
    }
    pthread_join(t, NULL);
    return (now_ns() - t0) / (double)n;
}

/* ---- thread churn ------------------------------------------------------------------------------
 */

struct churn_arg {
    void *left[100];
};

static void *churn_thread(void *arg)
{
    struct churn_arg *a = arg;
    enum { N = 10000 };
    static __thread void *v[N];
    for (int i = 0; i < N; i++)
        v[i] = xmalloc(16 + (size_t)(rnd() % 1009));
    for (int i = 0; i < 100; i++)
        a->left[i] = v[i];
    for (int i = 100; i < N; i++)
        free(v[i]);
    return NULL;
}

static double thread_churn(int threads)
{
    double t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        struct churn_arg a;
        pthread_t t;
        pthread_create(&t, NULL, churn_thread, &a);
        pthread_join(t, NULL);
        for (int j = 0; j < 100; j++)
            free(a.left[j]);
    }
    return (now_ns() - t0) / threads / 1000.0;
}

/* ---- big churn ---------------------------------------------------------------------------------
 */

static double big_churn(int ops, double *faults)
{
    enum { LIVE = 4 };
    char *live[LIVE] = {0};
    long f0 = minflt();
    double t0 = now_ns();
    for (int i = 0; i < ops; i++) {
        int k = (int)(rnd() % LIVE);
        free(live[k]);
        size_t n = (5 + rnd() % 21) << 20;
        live[k] = xmalloc(n);
        for (size_t off = 0; off < n; off += 4096)
            live[k][off] = (char)i;
    }
    double t = (now_ns() - t0) / ops / 1000.0;
    *faults = (double)(minflt() - f0) / ops;
    for (int k = 0; k < LIVE; k++)
        free(live[k]);
    return t;
}

/* ---- grow and shrink ---------------------------------------------------------------------------
 */

static double grow_shrink(void)
{
    size_t cap = 1 << 20, n = 0, pairs = 0;
    void **v = xmalloc(cap * sizeof *v);
    double t0 = now_ns();
    for (int r = 0; r < 3; r++) {
        size_t bytes = 0;
        n = 0;
        while (bytes < (256u << 20) && n < cap) {
            size_t s = 16 + (size_t)(rnd() % 4081);
            v[n] = xmalloc(s);
            memset(v[n], 1, s < 64 ? s : 64);
            bytes += s;
            n++;
        }
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        pairs += n;
    }
    double t = (now_ns() - t0) / (double)pairs;
    free(v);
    return t;
}

/* ---- fragmentation -----------------------------------------------------------------------------
 */

static double frag_random(double *ratio)
{
    enum { ROUNDS = 50, PER = 20000 };
    size_t cap = ROUNDS * PER / 10 + PER, kept = 0, live_bytes = 0, pairs = 0;
    void **keep = xmalloc(cap * sizeof *keep);
    size_t *keep_size = xmalloc(cap * sizeof *keep_size);
    static void *round_v[PER];
    static size_t round_s[PER];
    double t0 = now_ns();
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER; i++) {
            size_t s = (size_t)(16.0 * pow(1024.0, (double)(rnd() % 1000000) / 1e6));
            round_v[i] = xmalloc(s);
            memset(round_v[i], 2, s); /* all of it: resident, as live data is */
            round_s[i] = s;
        }
        for (int i = 0; i < PER; i++) {
            if (i % 10 == 0 && kept < cap) {
                keep[kept] = round_v[i];
                keep_size[kept++] = round_s[i];
                live_bytes += round_s[i];
            } else {
                free(round_v[i]);
                pairs++;
            }
        }
    }
    double t = (now_ns() - t0) / (double)(pairs + kept);
    *ratio = (double)rss_kib() * 1024.0 / (double)live_bytes;
    for (size_t i = 0; i < kept; i++)
        free(keep[i]);
    free(keep);
    free(keep_size);
    return t;
}

/* ---- run
 * ------------------------------------------------------------------------------------------ */

static int run(const char *w, const char *label, int reps)
{
    size_t size;
    void (*fn)(size_t, long);
    for (int r = -1; r < reps; r++) { /* r = -1: warmup, not printed */
        double t, extra = 0;
        if (pair_workload(w, &size, &fn)) {
            long n = size >= 4096 ? 2000000 : 10000000;
            void *hold[64];
            for (int i = 0; i < 64; i++)
                hold[i] = xmalloc(size);
            double t0 = now_ns();
            fn(size, n);
            t = (now_ns() - t0) / (double)n;
            for (int i = 0; i < 64; i++)
                free(hold[i]);
        } else if (!strcmp(w, "prodcons")) {
            t = prodcons(5000000);
        } else if (!strcmp(w, "thread-churn")) {
            t = thread_churn(300);
        } else if (!strcmp(w, "big-churn")) {
            t = big_churn(200, &extra);
        } else if (!strcmp(w, "grow-shrink")) {
            t = grow_shrink();
        } else if (!strcmp(w, "frag-random")) {
            t = frag_random(&extra);
        } else {
            fprintf(stderr, "bench_malloc: unknown workload %s\n", w);
            return 1;
        }
        if (r >= 0)
            printf("msample\t%s\t%s\t%.2f\t%ld\t%.3f\n", w, label, t, rss_kib(), extra);
    }
    return 0;
}

static int callgrind(const char *w, long n)
{
    size_t size;
    void (*fn)(size_t, long);
    if (!pair_workload(w, &size, &fn))
        return 1;
    void *hold[64];
    for (int i = 0; i < 64; i++)
        hold[i] = xmalloc(size);
    fn(size, 20000); /* warm up: caches, magazines, the machine */
    n = (n + BATCH - 1) / BATCH * BATCH;
    bench_cg_region(fn, size, n);
    for (int i = 0; i < 64; i++)
        free(hold[i]);
    printf("ops %ld\n", n);
    return 0;
}

/* ---- report
 * ----------------------------------------------------------------------------------------- */

enum { MAX_GROUPS = 256, MAX_SAMPLES = 64 };
struct group {
    char w[32], label[32];
    double t[MAX_SAMPLES], rss[MAX_SAMPLES], extra[MAX_SAMPLES];
    int n;
    double instr, libinstr;
};
static struct group groups[MAX_GROUPS];
static int nr_groups;
static const char *labels[8];
static int nr_labels;
static const char *workloads[32];
static int nr_workloads;

static struct group *group_of(const char *w, const char *label, bool make)
{
    for (int i = 0; i < nr_groups; i++)
        if (!strcmp(groups[i].w, w) && !strcmp(groups[i].label, label))
            return &groups[i];
    if (!make || nr_groups == MAX_GROUPS)
        return NULL;
    struct group *g = &groups[nr_groups++];
    snprintf(g->w, sizeof g->w, "%s", w);
    snprintf(g->label, sizeof g->label, "%s", label);
    g->instr = g->libinstr = -1;
    bool seen = false;
    for (int i = 0; i < nr_labels; i++)
        seen |= !strcmp(labels[i], g->label);
    if (!seen && nr_labels < 8)
        labels[nr_labels++] = g->label;
    seen = false;
    for (int i = 0; i < nr_workloads; i++)
        seen |= !strcmp(workloads[i], g->w);
    if (!seen && nr_workloads < 32)
        workloads[nr_workloads++] = g->w;
    return g;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n == 0)
        return 0;
    double tmp[MAX_SAMPLES];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double minof(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double maxof(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static const char *unit_of(const char *w)
{
    if (!strcmp(w, "thread-churn"))
        return "us/thread";
    if (!strcmp(w, "big-churn"))
        return "us/op";
    return "ns/pair";
}

static int report(int argc, char **argv)
{
    char line[512];
    for (int i = 0; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            char w[32], label[32];
            double t, rss, extra;
            if (sscanf(line, "msample\t%31s\t%31s\t%lf\t%lf\t%lf", w, label, &t, &rss, &extra) ==
                5) {
                struct group *g = group_of(w, label, true);
                if (g && g->n < MAX_SAMPLES) {
                    g->t[g->n] = t;
                    g->rss[g->n] = rss;
                    g->extra[g->n++] = extra;
                }
            } else if (sscanf(line, "instr\t%31s\t%31s\t%lf", w, label, &t) == 3) {
                struct group *g = group_of(w, label, true);
                if (g)
                    g->instr = t;
            } else if (sscanf(line, "libinstr\t%31s\t%31s\t%lf", w, label, &t) == 3) {
                struct group *g = group_of(w, label, true);
                if (g)
                    g->libinstr = t;
            }
        }
        fclose(f);
    }
    printf("| workload | allocator | time | spread (min-max) | samples | x glibc | x best peer | "
           "RSS MiB (end) | extra | instr/op | in library |\n"
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    int slower = 0;
    char slower_list[1024] = "";
    for (int wi = 0; wi < nr_workloads; wi++) {
        const char *w = workloads[wi];
        struct group *glibc = group_of(w, "glibc", false);
        double gmed = glibc && glibc->n ? median(glibc->t, glibc->n) : 0, best = 0;
        for (int li = 0; li < nr_labels; li++) {
            struct group *g = group_of(w, labels[li], false);
            if (g && g->n && strcmp(labels[li], "kmem") && strcmp(labels[li], "glibc")) {
                double m = median(g->t, g->n);
                best = best == 0 || m < best ? m : best;
            }
        }
        for (int li = 0; li < nr_labels; li++) {
            struct group *g = group_of(w, labels[li], false);
            if (!g || !g->n)
                continue;
            double m = median(g->t, g->n);
            printf("| %s | %s | %.1f %s | %.1f-%.1f | %d | %.2f | %.2f | %.1f | ", w, g->label, m,
                   unit_of(w), minof(g->t, g->n), maxof(g->t, g->n), g->n, gmed ? m / gmed : 0,
                   best ? m / best : 0, median(g->rss, g->n) / 1024.0);
            double e = median(g->extra, g->n);
            if (e != 0)
                printf("%.2f%s |", e, !strcmp(w, "frag-random") ? " RSS/live" : " faults/op");
            else
                printf("- |");
            if (g->instr >= 0)
                printf(" %.1f | %.1f |\n", g->instr, g->libinstr);
            else
                printf(" - | - |\n");
            if (!strcmp(g->label, "kmem") && gmed && m > 1.10 * gmed) {
                slower++;
                size_t len = strlen(slower_list);
                snprintf(slower_list + len, sizeof slower_list - len, "%s%s (%.2fx)",
                         len ? ", " : "", w, m / gmed);
            }
        }
    }
    printf("\nTargets (issue 5, item 6):\n\n");
    struct group *s = group_of("pair32-steady", "kmem", false),
                 *b = group_of("pair32-batch", "kmem", false);
    if (s && s->libinstr >= 0)
        printf("- 32 B malloc+free, steady: %.1f instructions in the library (target <= 45): "
               "%s\n",
               s->libinstr, s->libinstr <= 45 ? "met" : "**missed**");
    if (b && b->libinstr >= 0)
        printf("- 32 B malloc+free, batch: %.1f instructions in the library (target <= 50): "
               "%s\n",
               b->libinstr, b->libinstr <= 50 ? "met" : "**missed**");
    printf("- workloads more than 10%% slower than glibc: %s\n", slower ? slower_list : "none");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "report"))
        return report(argc - 2, argv + 2);
    const char *w = NULL, *label = "malloc";
    int reps = 2;
    long n = 200000;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--workload"))
            w = argv[i + 1];
        else if (!strcmp(argv[i], "--label"))
            label = argv[i + 1];
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n"))
            n = atol(argv[i + 1]);
    }
    if (argc < 2 || !w) {
        fprintf(stderr, "usage: bench_malloc run|callgrind --workload W [--label L] [--reps N] "
                        "[--n N]\n       bench_malloc report FILE...\n");
        return 1;
    }
    if (!strcmp(argv[1], "run"))
        return run(w, label, reps < 1 ? 1 : reps > MAX_SAMPLES ? MAX_SAMPLES : reps);
    if (!strcmp(argv[1], "callgrind"))
        return callgrind(w, n);
    return 1;
}
