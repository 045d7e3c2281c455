/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_fork.c - the malloc across fork.
 *
 *   single_thread_child   a child of a single-threaded process allocates and
 *                         frees at once, small to huge, and exits 0
 *   blocks_survive_fork   blocks allocated before fork hold their content in
 *                         the child; each side's later writes stay its own
 *                         (the heap is private memory); the child can free
 *                         and reallocate the inherited blocks
 *   fork_while_threads    3 threads malloc, free and use stdio all the time
 *                         while the main thread forks 200 times; each child
 *                         mallocs, frees and uses stdio at once: a child that
 *                         does not exit within 10 s is reported deadlocked
 *   atfork_handlers       pthread_atfork handlers of the program's own that
 *                         malloc in prepare, parent and child
 *
 * Not for the sanitizer builds (KMEM_TEST_PREFIXED): there fork goes through
 * the sanitizer's allocator, not kmem's; the test says "skipped".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "malloc_under_test.h"

#include "harness.h"

#ifndef KMEM_TEST_PREFIXED

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define CHILD_TIMEOUT_MS 10000
#define NR_FORKS         200
#define NR_THREADS       3

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        harness_checks_failed++;                                                                   \
    } while (0)

/* The parent's own watchdog: fork itself (the atfork handlers, the malloc's
 * locks) can hang in the parent too. Armed around every fork and wait, it
 * says where and exits 1 instead of leaving the test to ctest's timeout. */
#define PARENT_TIMEOUT_S (CHILD_TIMEOUT_MS / 1000 + 20)
static char watchdog_message[320];
static volatile sig_atomic_t watchdog_length;

static void watchdog_fired(int sig)
{
    (void)sig;
    ssize_t r = write(STDERR_FILENO, watchdog_message, (size_t)watchdog_length);
    (void)r;
    _exit(1);
}

static void watchdog_arm(const char *what, int n)
{
    int len = snprintf(watchdog_message, sizeof watchdog_message,
                       "%s:%d: %s: parent deadlocked at fork %d (no progress for %d s: in fork, "
                       "its atfork handlers or the wait)\n",
                       __FILE__, __LINE__, what, n, PARENT_TIMEOUT_S);
    watchdog_length = len < (int)sizeof watchdog_message ? len : (int)sizeof watchdog_message - 1;
    alarm(PARENT_TIMEOUT_S);
}

static void watchdog_disarm(void)
{
    alarm(0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Wait for the child of fork number n (what names it) for up to 10 s.
 * Reports a deadlock (and kills the child), a signal or a nonzero exit;
 * true when it exited 0. */
static bool wait_child(pid_t pid, const char *what, int n)
{
    int status = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            FAIL("%s: waitpid of the child of fork %d: %s", what, n, strerror(errno));
            return false;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (ms >= CHILD_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL("%s: child deadlocked at fork %d (no exit after %d s, killed)", what, n,
                 CHILD_TIMEOUT_MS / 1000);
            return false;
        }
        sleep_ms(1);
    }
    if (WIFSIGNALED(status)) {
        FAIL("%s: the child of fork %d died of signal %d (%s)", what, n, WTERMSIG(status),
             strsignal(WTERMSIG(status)));
        return false;
    }
    if (WEXITSTATUS(status) != 0) {
        FAIL("%s: the child of fork %d exited with status %d, expected 0 (see its message above)",
             what, n, WEXITSTATUS(status));
        return false;
    }
    return true;
}

/* The pattern of seed over a block of n bytes: every byte of the first
 * 8 KiB, then one every 16381 (one in four pages or so), and the last byte. */
static size_t next_index(size_t i, size_t n)
{
    if (i + 1 == n)
        return n;
    i += i < 8192 ? 1 : 16381;
    return i < n ? i : n - 1;
}

static uint8_t pattern(size_t i, unsigned seed)
{
    return (uint8_t)(seed + i * 7 + (i >> 9));
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i = next_index(i, n))
        p[i] = pattern(i, seed);
}

/* The first offset below n that does not hold fill's pattern, or n. */
static size_t mismatch(const uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i = next_index(i, n))
        if (p[i] != pattern(i, seed))
            return i;
    return n;
}

/* In a child: print what failed (stderr is unbuffered) and say so in the
 * exit status. */
#define CHILD_CHECK(cond, code)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: in the child: %s failed\n", __FILE__, __LINE__, #cond);        \
            _exit(code);                                                                           \
        }                                                                                          \
    } while (0)

/* What every child does first: allocate and free blocks from every range,
 * realloc through them. 0 when all worked. */
static int child_allocations(void)
{
    static const size_t sizes[] = {0,     1,      16,      100,     1000,    4096,
                                   20000, 100000, 1 * MiB, 5 * MiB, 16 * MiB};
    enum { N = sizeof sizes / sizeof sizes[0] };
    uint8_t *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = MT(malloc)(sizes[i]);
        if (p[i] == NULL)
            return 2;
        fill(p[i], sizes[i], (unsigned)i);
    }
    for (int i = 0; i < N; i++)
        if (mismatch(p[i], sizes[i], (unsigned)i) != sizes[i])
            return 3;
    for (int i = 0; i < N; i += 2)
        MT(free)(p[i]);
    uint8_t *r = MT(realloc)(NULL, 10);
    for (size_t n = 100; r != NULL && n <= 8 * MiB; n *= 9)
        r = MT(realloc)(r, n);
    if (r == NULL)
        return 4;
    MT(free)(r);
    void *a = NULL;
    if (MT(posix_memalign)(&a, 4096, 10000) != 0 || (uintptr_t)a % 4096)
        return 5;
    MT(free)(a);
    uint8_t *z = MT(calloc)(1000, 10);
    if (z == NULL)
        return 6;
    for (int i = 0; i < 10000; i++)
        if (z[i] != 0)
            return 7;
    MT(free)(z);
    for (int i = 1; i < N; i += 2)
        MT(free)(p[i]);
    return 0;
}

/* ---- (a) single-threaded ----------------------------------------------------------------- */

TEST(single_thread_child)
{
    for (int n = 0; n < 5; n++) {
        void *before = MT(malloc)(100 + (size_t)n * 5000); /* something in use at fork */
        fflush(NULL);
        watchdog_arm("single_thread_child", n);
        pid_t pid = fork();
        if (pid < 0) {
            watchdog_disarm();
            FAIL("fork: %s", strerror(errno));
            MT(free)(before);
            return;
        }
        if (pid == 0)
            _exit(child_allocations());
        wait_child(pid, "single_thread_child", n);
        watchdog_disarm();
        MT(free)(before);
        /* The parent goes on as before. */
        CHECK_EQ(child_allocations(), 0);
    }
}

/* ---- (c) blocks allocated before fork ---------------------------------------------------- */

TEST(blocks_survive_fork)
{
    static const size_t sizes[] = {1, 24, 200, 3000, 16 * KiB, 70000, 1 * MiB, 4 * MiB, 12 * MiB};
    enum { N = sizeof sizes / sizeof sizes[0] };
    uint8_t *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = MT(malloc)(sizes[i]);
        REQUIRE(p[i] != NULL);
        fill(p[i], sizes[i], 10 + (unsigned)i);
    }
    int to_child[2], to_parent[2];
    REQUIRE(pipe(to_child) == 0);
    REQUIRE(pipe(to_parent) == 0);
    fflush(NULL);
    watchdog_arm("blocks_survive_fork", 0);
    pid_t pid = fork();
    if (pid < 0) {
        watchdog_disarm();
        FAIL("fork: %s", strerror(errno));
        for (int i = 0; i < N; i++)
            MT(free)(p[i]);
        return;
    }
    if (pid == 0) {
        char c;
        close(to_child[1]);
        close(to_parent[0]);
        /* The parent's content, inherited. */
        for (int i = 0; i < N; i++)
            CHILD_CHECK(mismatch(p[i], sizes[i], 10 + (unsigned)i) == sizes[i], 10);
        /* The child's writes, which the parent must not see. */
        for (int i = 0; i < N; i++)
            fill(p[i], sizes[i], 50 + (unsigned)i);
        CHILD_CHECK(write(to_parent[1], "w", 1) == 1, 11);
        /* The parent has written its own after fork: not seen here. */
        CHILD_CHECK(read(to_child[0], &c, 1) == 1, 12);
        for (int i = 0; i < N; i++)
            CHILD_CHECK(mismatch(p[i], sizes[i], 50 + (unsigned)i) == sizes[i], 13);
        /* The inherited blocks are the child's to resize and free. */
        for (int i = 0; i < N; i++) {
            uint8_t *q = MT(realloc)(p[i], sizes[i] * 2 + 1);
            CHILD_CHECK(q != NULL, 14);
            CHILD_CHECK(mismatch(q, sizes[i], 50 + (unsigned)i) == sizes[i], 15);
            p[i] = q;
        }
        for (int i = 0; i < N; i++)
            MT(free)(p[i]);
        _exit(child_allocations());
    }
    close(to_child[0]);
    close(to_parent[1]);
    char c;
    if (read(to_parent[0], &c, 1) != 1)
        FAIL("blocks_survive_fork: the child did not get to its writes");
    for (int i = 0; i < N; i++) {
        size_t at = mismatch(p[i], sizes[i], 10 + (unsigned)i);
        if (at != sizes[i])
            FAIL("block of %zu bytes, after the child wrote its copy: expected the parent's "
                 "content, byte %zu differs (shared memory?)",
                 sizes[i], at);
        fill(p[i], sizes[i], 90 + (unsigned)i);
    }
    if (write(to_child[1], "p", 1) != 1)
        FAIL("blocks_survive_fork: write to the child: %s", strerror(errno));
    wait_child(pid, "blocks_survive_fork", 0);
    watchdog_disarm();
    close(to_child[1]);
    close(to_parent[0]);
    for (int i = 0; i < N; i++) {
        size_t at = mismatch(p[i], sizes[i], 90 + (unsigned)i);
        if (at != sizes[i])
            FAIL("block of %zu bytes, after the child exited: expected the parent's second "
                 "content, byte %zu differs",
                 sizes[i], at);
        MT(free)(p[i]);
    }
}

/* ---- (b) fork while other threads allocate ------------------------------------------------ */

static atomic_bool threads_stop;
static FILE *devnull;

static void *busy_thread(void *arg)
{
    uint64_t rng = 0x1234567 + (uintptr_t)arg * 0x9e3779b97f4a7c15ull;
    enum { KEEP = 64 };
    void *kept[KEEP] = {0};
    char line[256];
    for (unsigned long i = 0; !atomic_load_explicit(&threads_stop, memory_order_relaxed); i++) {
        uint64_t r = harness_rand(&rng);
        size_t size = r % 100 < 90   ? 1 + (size_t)(r >> 32) % 1024
                      : r % 100 < 99 ? 1 + (size_t)(r >> 32) % (128 * KiB)
                                     : 1 * MiB + (size_t)(r >> 32) % (8 * MiB);
        unsigned slot = (unsigned)(r >> 8) % KEEP;
        MT(free)(kept[slot]);
        kept[slot] = MT(malloc)(size);
        if (kept[slot] != NULL)
            memset(kept[slot], (int)i, size < 4096 ? size : 4096);
        if (i % 8 == 0) {
            int n = snprintf(line, sizeof line, "thread %p op %lu size %zu %.3f %s", arg, i, size,
                             (double)size / 3.0, "text");
            fprintf(devnull, "%s %d %*d\n", line, n, (int)(i % 2000), 7);
        }
        if (i % 64 == 0)
            fflush(devnull);
    }
    for (int k = 0; k < KEEP; k++)
        MT(free)(kept[k]);
    return NULL;
}

static void fork_child_body(int n)
{
    int rc = child_allocations();
    if (rc != 0) {
        fprintf(stderr, "%s:%d: in the child of fork %d: allocations failed (%d)\n", __FILE__,
                __LINE__, n, rc);
        _exit(rc);
    }
    FILE *f = fopen("/dev/null", "w");
    CHILD_CHECK(f != NULL, 20);
    char *s = NULL;
    int len = asprintf(&s, "child of fork %d: %s %.2f", n, "stdio", n / 7.0);
    CHILD_CHECK(len > 0 && s != NULL, 21);
    CHILD_CHECK(fprintf(f, "%s %*d\n", s, 3000, n) > 3000, 22);
    CHILD_CHECK(fflush(f) == 0, 23);
    free(s); /* asprintf's: the malloc in effect */
    CHILD_CHECK(fprintf(devnull, "child %d\n", n) > 0, 24);
    CHILD_CHECK(fflush(devnull) == 0, 25);
    fclose(f);
    _exit(0);
}

TEST(fork_while_threads)
{
    devnull = fopen("/dev/null", "w");
    REQUIRE(devnull != NULL);
    atomic_store(&threads_stop, false);
    pthread_t threads[NR_THREADS];
    for (int i = 0; i < NR_THREADS; i++) {
        int rc = pthread_create(&threads[i], NULL, busy_thread, (void *)(uintptr_t)(i + 1));
        REQUIRE(rc == 0);
    }
    sleep_ms(20); /* let them get going */
    int failed = 0;
    for (int n = 0; n < NR_FORKS && failed < 3; n++) {
        watchdog_arm("fork_while_threads", n);
        pid_t pid = fork();
        if (pid < 0) {
            FAIL("fork %d: %s", n, strerror(errno));
            break;
        }
        if (pid == 0)
            fork_child_body(n);
        if (!wait_child(pid, "fork_while_threads", n))
            failed++;
    }
    watchdog_disarm();
    atomic_store(&threads_stop, true);
    for (int i = 0; i < NR_THREADS; i++)
        pthread_join(threads[i], NULL);
    fclose(devnull);
    devnull = NULL;
}

/* ---- (d) the program's own atfork handlers ------------------------------------------------- */

static atomic_bool atfork_active;
static void *atfork_block; /* allocated in prepare */
static int atfork_prepared, atfork_in_parent;

static void atfork_prepare(void)
{
    if (!atomic_load(&atfork_active))
        return;
    atfork_block = MT(malloc)(5000);
    if (atfork_block != NULL)
        memset(atfork_block, 0x3c, 5000);
    atfork_prepared++;
}

static void atfork_parent(void)
{
    if (!atomic_load(&atfork_active))
        return;
    void *p = MT(malloc)(300);
    if (p != NULL)
        memset(p, 1, 300);
    MT(free)(p);
    MT(free)(atfork_block);
    atfork_block = NULL;
    atfork_in_parent++;
}

static void atfork_child(void)
{
    if (!atomic_load(&atfork_active))
        return;
    /* In the child before fork returns: the block of prepare is there, and
     * malloc works. The exit status tells what failed. */
    const uint8_t *b = atfork_block;
    if (b == NULL || b[0] != 0x3c || b[4999] != 0x3c)
        _exit(30);
    void *p = MT(malloc)(70000);
    if (p == NULL)
        _exit(31);
    memset(p, 2, 70000);
    MT(free)(p);
    MT(free)(atfork_block);
    atfork_block = MT(malloc)(10); /* for the child's body to free */
    if (atfork_block == NULL)
        _exit(32);
}

TEST(atfork_handlers)
{
    static bool registered;
    if (!registered) {
        REQUIRE(pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0);
        registered = true;
    }
    atomic_store(&atfork_active, true);
    for (int n = 0; n < 10; n++) {
        fflush(NULL);
        watchdog_arm("atfork_handlers", n);
        pid_t pid = fork();
        if (pid < 0) {
            watchdog_disarm();
            FAIL("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            MT(free)(atfork_block);
            _exit(child_allocations());
        }
        wait_child(pid, "atfork_handlers", n);
        watchdog_disarm();
        CHECK(atfork_block == NULL); /* freed by the parent handler */
    }
    atomic_store(&atfork_active, false);
    CHECK_EQ(atfork_prepared, 10);
    CHECK_EQ(atfork_in_parent, 10);
}

int main(void)
{
    if (!mt_init()) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_fired;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    RUN(single_thread_child);
    RUN(blocks_survive_fork);
    RUN(fork_while_threads);
    RUN(atfork_handlers);
    return harness_report();
}

#else /* KMEM_TEST_PREFIXED */

int main(void)
{
    printf("test_malloc_fork: skipped (sanitizer build: fork goes through the sanitizer's "
           "allocator)\n");
    return 0;
}

#endif
