/* SPDX-License-Identifier: MIT */
/*
 * record_prog.c - the program the recording and kmem stat tests run under
 * libkmem-malloc.so (LD_PRELOAD; it is linked with nothing of kmem's).
 *
 *   record_prog calls FILE    every entry point of the malloc family, then
 *                             FILE gets the trace lines those calls must
 *                             have recorded, in order (the trace holds
 *                             them as a subsequence: stdio mallocs too)
 *   record_prog threads N     N threads allocate, reallocate and free, and
 *                             hand blocks to each other to free
 *   record_prog fork SELF     mallocs, then forks: the child allocates
 *                             sizes 12345 and calls exit (its destructors
 *                             run); a second child execs SELF exec, which
 *                             allocates 777 bytes; the parent allocates
 *                             54321 bytes after each
 *   record_prog exec          malloc(777), free, exit 0
 *   record_prog exit N        some allocations, then exit(N)
 *   record_prog signal N      KMEM_STATS=signal: 3 threads allocate while
 *                             the main thread sends itself SIGUSR2 N times;
 *                             exits 0 once KMEM_STATS_FILE holds N reports
 *                             (at least one: signals that come together
 *                             may make one), 1 after 20 s without
 *   record_prog wait          prints "ready", then allocates and frees
 *                             until stdin closes (for kmem stat --pid)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- calls ------------------------------------------------------------------------- */

static char expected[8192];
static size_t expected_len;

/* Append one expected line; pointers are written as the recorder does. */
static void expect(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void expect(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(expected + expected_len, sizeof expected - expected_len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof expected - expected_len)
        expected_len += (size_t)n;
}

static const char *id(const void *p, char *buf)
{
    if (!p)
        return "-";
    snprintf(buf, 24, "%lx", (unsigned long)(uintptr_t)p);
    return buf;
}

#define ID(p) id((p), (char[24]){0})

static int fail(const char *what)
{
    fprintf(stderr, "record_prog: %s\n", what);
    return 1;
}

static void *must(void *p, const char *what)
{
    if (!p) {
        fprintf(stderr, "record_prog: %s failed\n", what);
        exit(1);
    }
    return p;
}

static int calls(const char *file)
{
    char *a = must(malloc(100), "malloc");
    expect("m %s 100\n", ID(a));
    char *c = must(calloc(3, 40), "calloc");
    expect("c %s 3 40\n", ID(c));
    char *r = must(realloc(a, 2000), "realloc grow"); /* 112 -> 2048 bytes: moves */
    expect("r %s %s 2000\n", ID(a), ID(r));
    char *s = must(realloc(r, 1500), "realloc shrink"); /* stays */
    expect("r %s %s 1500\n", ID(r), ID(s));
    char *n = must(realloc(NULL, 50), "realloc(NULL)");
    expect("r - %s 50\n", ID(n));
    if (realloc(n, 0) != NULL)
        return fail("realloc(p, 0) returned a block");
    expect("r %s - 0\n", ID(n));
    char *m = must(memalign(64, 100), "memalign");
    expect("a %s 64 100\n", ID(m));
    void *pm = NULL, *p8 = NULL;
    if (posix_memalign(&pm, 256, 1000) || posix_memalign(&p8, 8, 24))
        return fail("posix_memalign failed");
    expect("a %s 256 1000\n", ID(pm));
    expect("m %s 24\n", ID(p8)); /* an alignment malloc gives anyway */
    char *al = must(aligned_alloc(4096, 8192), "aligned_alloc");
    expect("a %s 4096 8192\n", ID(al));
    char *v = must(valloc(100), "valloc");
    expect("a %s 4096 100\n", ID(v));
    char *pv = must(pvalloc(5000), "pvalloc");
    expect("a %s 4096 8192\n", ID(pv));
    char *mid = must(malloc(100000), "malloc mid");
    expect("m %s 100000\n", ID(mid));
    char *huge = must(malloc(8 << 20), "malloc huge");
    expect("m %s %d\n", ID(huge), 8 << 20);
    memset(huge, 1, 8 << 20);
    char *huge2 = must(realloc(huge, 16 << 20), "realloc huge"); /* mremap */
    expect("r %s %s %d\n", ID(huge), ID(huge2), 16 << 20);
    char *zc = must(calloc(1, 5 << 20), "calloc huge");
    expect("c %s 1 %d\n", ID(zc), 5 << 20);
    for (size_t i = 0; i < (size_t)5 << 20; i += 4096)
        if (zc[i])
            return fail("calloc gave a non-zero byte");
    /* C23's sized frees: the library's (glibc 2.36 has none to link with). */
    void (*free_sized)(void *, size_t) =
        (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*free_aligned_sized)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    if (!free_sized || !free_aligned_sized)
        return fail("no free_sized: not run on libkmem-malloc.so?");
    free(NULL); /* not recorded */
    free_sized(s, 1500);
    expect("f %s\n", ID(s));
    free_aligned_sized(al, 4096, 8192);
    expect("f %s\n", ID(al));
    void *frees[] = {c, m, pm, p8, v, pv, mid, huge2, zc};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++) {
        free(frees[i]);
        expect("f %s\n", ID(frees[i]));
    }
    FILE *f = fopen(file, "w");
    if (!f || fwrite(expected, 1, expected_len, f) != expected_len || fclose(f) != 0)
        return fail("cannot write the expected lines");
    return 0;
}

/* ---- threads ----------------------------------------------------------------------- */

/* Blocks handed from thread to thread: a small locked ring. */
static struct {
    pthread_mutex_t lock;
    void *slot[256];
    unsigned int head, tail;
} ring = {PTHREAD_MUTEX_INITIALIZER, {0}, 0, 0};

static bool ring_put(void *p)
{
    pthread_mutex_lock(&ring.lock);
    bool ok = ring.head - ring.tail < 256;
    if (ok)
        ring.slot[ring.head++ % 256] = p;
    pthread_mutex_unlock(&ring.lock);
    return ok;
}

static void *ring_get(void)
{
    pthread_mutex_lock(&ring.lock);
    void *p = ring.head != ring.tail ? ring.slot[ring.tail++ % 256] : NULL;
    pthread_mutex_unlock(&ring.lock);
    return p;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);
    void *mine[64] = {0};
    for (int i = 0; i < 20000; i++) {
        uint64_t r = next_rand(&seed);
        unsigned int k = (unsigned int)(r % 64);
        size_t size = (r >> 8) % 4 == 0 ? (r >> 16) % 70000 : (r >> 16) % 512;
        switch ((r >> 40) % 4) {
        case 0:
            free(mine[k]);
            mine[k] = malloc(size);
            break;
        case 1:
            mine[k] = realloc(mine[k], size + 1);
            break;
        case 2: /* to another thread */
            if (mine[k] && ring_put(mine[k]))
                mine[k] = NULL;
            break;
        default:
            free(ring_get());
            break;
        }
        if (mine[k])
            *(char *)mine[k] = 1;
    }
    for (int k = 0; k < 64; k++)
        free(mine[k]);
    return NULL;
}

static int threads(int n)
{
    pthread_t t[16];
    if (n < 1 || n > 16)
        return 2;
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i))
            return 1;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (void *p; (p = ring_get());)
        free(p);
    return 0;
}

/* ---- fork ---------------------------------------------------------------------------- */

static int wait_for(pid_t pid)
{
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int forks(const char *self)
{
    void *before = must(malloc(4444), "malloc");
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        void *x = malloc(12345);
        free(before); /* the parent's block: the child's trace would not know it */
        free(x);
        exit(0);
    }
    if (wait_for(child) != 0)
        return fail("the forked child failed");
    free(must(malloc(54321), "malloc after fork"));
    child = fork();
    if (child == 0) {
        execl(self, self, "exec", (char *)NULL);
        _exit(127);
    }
    if (wait_for(child) != 0)
        return fail("the exec'd child failed");
    free(must(malloc(54321), "malloc after exec"));
    free(before);
    return 0;
}

/* ---- kmem stat ----------------------------------------------------------------------- */

static void churn(int rounds)
{
    void *keep[32] = {0};
    for (int i = 0; i < rounds; i++) {
        unsigned int k = (unsigned int)i % 32;
        free(keep[k]);
        keep[k] = malloc((size_t)(i * 37) % 3000 + 1);
    }
    for (int k = 0; k < 32; k++)
        free(keep[k]);
}

static volatile int stop_churn;

static void *churner(void *arg)
{
    (void)arg;
    while (!stop_churn)
        churn(1000);
    return NULL;
}

/* Reports in KMEM_STATS_FILE so far. */
static int reports(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += !strncmp(line, "slabinfo - version", 18);
    fclose(f);
    return n;
}

static int signals(int n)
{
    const char *file = getenv("KMEM_STATS_FILE");
    if (!file)
        return fail("signal needs KMEM_STATS_FILE") + 1;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churner, NULL);
    for (int i = 0; i < n; i++) {
        kill(getpid(), SIGUSR2);
        churn(200);
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    int got = 0;
    for (int waited = 0; waited < 2000 && got < n; waited++) {
        got = reports(file);
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    stop_churn = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    printf("record_prog: %d reports for %d signals\n", got, n);
    return got >= 1 ? 0 : 1;
}

static void *wait_stdin(void *arg)
{
    (void)arg;
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    stop_churn = 1;
    return NULL;
}

static int wait_mode(void)
{
    pthread_t t;
    pthread_create(&t, NULL, wait_stdin, NULL);
    printf("ready\n");
    fflush(stdout);
    while (!stop_churn) {
        churn(100);
        nanosleep(&(struct timespec){0, 1000000L}, NULL);
    }
    pthread_join(t, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "calls") && argc == 3)
        return calls(argv[2]);
    if (!strcmp(mode, "threads") && argc == 3)
        return threads(atoi(argv[2]));
    if (!strcmp(mode, "fork") && argc == 3)
        return forks(argv[2]);
    if (!strcmp(mode, "exec")) {
        free(must(malloc(777), "malloc"));
        return 0;
    }
    if (!strcmp(mode, "exit") && argc == 3) {
        churn(5000);
        void *leak = malloc(1000);
        (void)leak;
        exit(atoi(argv[2]));
    }
    if (!strcmp(mode, "signal") && argc == 3)
        return signals(atoi(argv[2]));
    if (!strcmp(mode, "wait"))
        return wait_mode();
    fprintf(stderr, "usage: record_prog calls FILE | threads N | fork SELF | exec | exit N | "
                    "signal N | wait\n");
    return 2;
}
