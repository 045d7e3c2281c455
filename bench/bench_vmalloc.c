/* SPDX-License-Identifier: MIT */
/*
 * bench_vmalloc.c - vmalloc + vfree against the malloc + free of the same
 * size in other allocators, run by bench/run.sh (suite "vmalloc").
 *
 * Workloads: one op is one vmalloc(n pages) + vfree, for n = 1, 16, 256 and
 * 2048 (8 MiB), on two machines:
 *   fresh       a new 1 GiB machine: large free blocks, so vmalloc maps each
 *               physically contiguous run of frames with one call;
 *   fragmented  the same machine with every other page held (a checkerboard):
 *               no block above order 0 exists, every frame is its own run.
 * and two ways:
 *   -           allocate and free only (the allocator's own cost);
 *   touch       write one byte of every page in between (the page faults a
 *               fresh mapping takes, which every allocator pays for memory
 *               it has just mapped).
 * Allocators (--alloc): kmem (vmalloc/vfree), malloc (malloc/free of n
 * pages; LD_PRELOAD picks glibc, jemalloc, mimalloc or tcmalloc). malloc
 * has no fragmented machine: its rows are measured once, under "fresh".
 * The kmem run also times "host-floor": the host calls a fragmented
 * vmalloc + vfree cannot avoid, without kmem (one mmap of a memfd page into
 * a PROT_NONE reservation per page, one mmap over all of them to reserve the
 * range again), so the table shows what kmem adds to them.
 *
 * Subcommands:
 *   run     print "vsample <workload> <label> <ns per page> <map calls per
 *           op> <CPU share>" lines, one per repetition;
 *   report  read them and print a markdown table: median ns per page, spread,
 *           ratios to kmem, mapping calls per op, and the target
 *           (at most 1 us per page for 8 MiB).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <kmem.h>

enum { MAX_SAMPLES = 64, MAX_GROUPS = 128, NAME_LEN = 48 };

static const unsigned long sizes[] = {1, 16, 256, 2048}; /* pages */

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static __attribute__((noinline)) void *op_alloc(bool kmem, size_t bytes)
{
    void *p = kmem ? vmalloc(bytes) : malloc(bytes);
    if (!p) {
        fprintf(stderr, "bench_vmalloc: allocation of %zu bytes failed\n", bytes);
        exit(2);
    }
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static __attribute__((noinline)) void op_free(bool kmem, void *p)
{
    if (kmem)
        vfree(p);
    else
        free(p);
}

/* Hold every other page of the machine (its checkerboard): held[] keeps
 * them to give back. */
static struct page **held;
static unsigned long nr_held;

static void fragment(void)
{
    unsigned long cap = 1UL << 20;
    struct page **all = malloc(cap * sizeof *all);
    held = malloc(cap / 2 * sizeof *held);
    unsigned long n = 0;
    struct page *p;
    while (n < cap && (p = alloc_pages(GFP_KERNEL | __GFP_MEMALLOC, 0)) != NULL)
        all[n++] = p;
    for (unsigned long i = 0; i < n; i++) {
        if (page_to_pfn(all[i]) % 2)
            held[nr_held++] = all[i];
        else
            __free_page(all[i]);
    }
    free(all);
    drain_all_pages();
}

static unsigned long map_calls(void)
{
    struct kmem_vmalloc_info in;
    return kmem_vmalloc_info(&in) ? in.map_calls : 0;
}

/* The host's floor for one fragmented op of n pages: the mappings alone. */
static int floor_fd = -1;
static char *floor_range;

static void floor_op(unsigned long pages)
{
    const int reserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
    for (unsigned long i = 0; i < pages; i++)
        if (mmap(floor_range + i * 4096, 4096, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_FIXED | MAP_POPULATE, floor_fd,
                 (off_t)(2 * i * 4096)) == MAP_FAILED) {
            fprintf(stderr, "bench_vmalloc: host-floor mmap: %s\n", strerror(errno));
            exit(2);
        }
    if (mmap(floor_range, pages * 4096, PROT_NONE, reserve, -1, 0) == MAP_FAILED) {
        fprintf(stderr, "bench_vmalloc: host-floor reserve: %s\n", strerror(errno));
        exit(2);
    }
}

static void floor_setup(unsigned long max_pages)
{
    floor_fd = memfd_create("bench-floor", 0);
    floor_range = mmap(NULL, (max_pages + 1) * 4096, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (floor_fd < 0 || floor_range == MAP_FAILED ||
        ftruncate(floor_fd, (off_t)(2 * max_pages * 4096)) != 0) {
        fprintf(stderr, "bench_vmalloc: host-floor setup: %s\n", strerror(errno));
        exit(2);
    }
}

static void run_floor(unsigned long pages, int reps, double ms)
{
    for (int r = -1; r < reps; r++) {
        double t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t;
        unsigned long ops = 0;
        double limit = r < 0 ? ms / 4 : ms;
        do {
            floor_op(pages);
            ops++;
            t = clock_ns(CLOCK_MONOTONIC);
        } while (t - t0 < limit * 1e6);
        double cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / (t - t0);
        if (r >= 0)
            printf("vsample\t%lu/fragmented\thost-floor\t%.2f\t%.2f\t%.3f\n", pages,
                   (t - t0) / (double)ops / (double)pages, (double)pages, cpu);
    }
}

/* Repetitions of ms each of the op, after a warmup; one line each. */
static void run(bool kmem, const char *label, const char *machine, unsigned long pages, bool touch,
                int reps, double ms)
{
    size_t bytes = pages * 4096;
    char wl[NAME_LEN];
    snprintf(wl, sizeof wl, "%lu%s/%s", pages, touch ? "+touch" : "", machine);
    for (int r = -1; r < reps; r++) {
        double t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t;
        unsigned long ops = 0, m0 = kmem ? map_calls() : 0;
        double limit = r < 0 ? ms / 4 : ms; /* the first round warms up */
        do {
            for (int k = 0; k < 8; k++) {
                char *p = op_alloc(kmem, bytes);
                if (touch)
                    for (unsigned long i = 0; i < pages; i++)
                        ((volatile char *)p)[i * 4096] = 1;
                op_free(kmem, p);
            }
            ops += 8;
            t = clock_ns(CLOCK_MONOTONIC);
        } while (t - t0 < limit * 1e6);
        double cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / (t - t0);
        if (r >= 0)
            printf("vsample\t%s\t%s\t%.2f\t%.2f\t%.3f\n", wl, label,
                   (t - t0) / (double)ops / (double)pages,
                   kmem ? (double)(map_calls() - m0) / (double)ops : -1.0, cpu);
    }
}

/* ---- report ------------------------------------------------------------------------ */

struct group {
    char wl[NAME_LEN], label[NAME_LEN];
    double ns[MAX_SAMPLES], maps;
    int n;
};
static struct group groups[MAX_GROUPS];
static int nr_groups;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(struct group *g)
{
    qsort(g->ns, (size_t)g->n, sizeof g->ns[0], cmp_double);
    return g->n % 2 ? g->ns[g->n / 2] : (g->ns[g->n / 2 - 1] + g->ns[g->n / 2]) / 2;
}

static struct group *find(const char *wl, const char *label)
{
    for (int i = 0; i < nr_groups; i++)
        if (!strcmp(groups[i].wl, wl) && !strcmp(groups[i].label, label))
            return &groups[i];
    return NULL;
}

static int report(int argc, char **argv)
{
    char line[512];
    for (int i = 0; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            fprintf(stderr, "bench_vmalloc: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        while (fgets(line, sizeof line, f)) {
            char wl[NAME_LEN], label[NAME_LEN];
            double ns, maps, cpu;
            if (sscanf(line, "vsample\t%47s\t%47s\t%lf\t%lf\t%lf", wl, label, &ns, &maps, &cpu) !=
                5)
                continue;
            struct group *g = find(wl, label);
            if (!g && nr_groups < MAX_GROUPS) {
                g = &groups[nr_groups++];
                snprintf(g->wl, NAME_LEN, "%s", wl);
                snprintf(g->label, NAME_LEN, "%s", label);
            }
            if (g && g->n < MAX_SAMPLES) {
                g->ns[g->n++] = ns;
                g->maps = maps;
            }
        }
        fclose(f);
    }
    printf("| workload (pages, machine) | allocator | ns per page | spread (min-max) | samples | "
           "time x kmem | map calls per op |\n|---|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < nr_groups; i++) {
        struct group *g = &groups[i];
        double med = median(g);
        /* malloc runs on the host's fresh memory only: its rows carry the
         * "fresh" workload names and compare with kmem's fresh rows. */
        struct group *k = find(g->wl, "kmem");
        double kmed = k ? median(k) : 0;
        printf("| %s | %s | %.1f | %.1f-%.1f | %d |", g->wl, g->label, med, g->ns[0],
               g->ns[g->n - 1], g->n);
        if (kmed > 0)
            printf(" %.2f |", med / kmed);
        else
            printf(" - |");
        if (g->maps >= 0)
            printf(" %.1f |\n", g->maps);
        else
            printf(" - |\n");
    }
    printf("\nTarget (issue 4, item 6): vmalloc + vfree of 8 MiB at most 1 us (1000 ns) per page "
           "on average.\n\n| workload | ns per page | verdict |\n|---|---:|---|\n");
    for (int i = 0; i < nr_groups; i++) {
        struct group *g = &groups[i];
        if (strcmp(g->label, "kmem") || strncmp(g->wl, "2048", 4))
            continue;
        double med = median(g);
        printf("| %s | %.1f | %s |\n", g->wl, med, med <= 1000 ? "met" : "**missed**");
    }
    return 0;
}

/* ---- command line -------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "report"))
        return report(argc - 2, argv + 2);
    if (argc < 2 || strcmp(argv[1], "run")) {
        fprintf(stderr, "usage: bench_vmalloc run [--alloc kmem|malloc] [--label L] [--ms MS] "
                        "[--reps N] [--mem-mib MIB]\n       bench_vmalloc report FILE...\n");
        return 1;
    }
    bool kmem = true;
    const char *label = NULL;
    double ms = 40;
    int reps = 2;
    size_t mem_mib = 1024;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--alloc"))
            kmem = !strcmp(argv[i + 1], "kmem");
        else if (!strcmp(argv[i], "--label"))
            label = argv[i + 1];
        else if (!strcmp(argv[i], "--ms"))
            ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mem-mib"))
            mem_mib = (size_t)atol(argv[i + 1]);
    }
    if (!label)
        label = kmem ? "kmem" : "malloc";
    if (reps < 1 || reps > MAX_SAMPLES)
        reps = 2;
    if (kmem) {
        struct kmem_config cfg = {.mem_size = mem_mib << 20};
        if (kmem_init(&cfg) != 0) {
            fprintf(stderr, "bench_vmalloc: kmem_init failed\n");
            return 2;
        }
    }
    for (int touch = 0; touch < 2; touch++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            run(kmem, label, "fresh", sizes[s], touch, reps, ms);
    if (kmem) {
        fragment();
        for (int touch = 0; touch < 2; touch++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                run(kmem, label, "fragmented", sizes[s], touch, reps, ms);
        while (nr_held)
            __free_page(held[--nr_held]);
        floor_setup(sizes[sizeof sizes / sizeof sizes[0] - 1]);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            run_floor(sizes[s], reps, ms);
        int bad = kmem_vmalloc_check() + kmem_page_check();
        kmem_exit();
        if (bad) {
            fprintf(stderr, "bench_vmalloc: %d check failures\n", bad);
            return 3;
        }
    }
    return 0;
}
