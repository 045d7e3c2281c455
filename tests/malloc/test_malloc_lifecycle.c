/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_lifecycle.c - the malloc across a process's and its threads'
 * lives: before main, in thread-specific-data destructors, at exit, and
 * through thousands of threads that come and go.
 *
 *   before_main            a constructor mallocs (the machine starts there)
 *                          and the blocks are intact in main.
 *   thread_destructors     a pthread key destructor frees and mallocs after
 *                          the thread's own caches may have been returned.
 *   exited_threads_return  2000 threads each allocate and free 1 MiB in
 *                          small objects, one after another: their caches
 *                          come back, so the memory is reused and the
 *                          process's footprint stays bounded.
 *   free_after_exit        blocks allocated by threads that have exited are
 *                          freed by main.
 *   rss_follows_use        512 MiB in 64 KiB blocks, freed: the resident size
 *                          comes back down (kmem only; glibc keeps it).
 *   at_exit                an atexit handler frees and mallocs.
 */
#include "malloc_under_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char *early[16];

__attribute__((constructor)) static void before_main_ctor(void)
{
    for (int i = 0; i < 16; i++) {
        early[i] = MT(malloc)(100 + (size_t)i * 1000);
        if (early[i])
            memset(early[i], 'a' + i, 100 + (size_t)i * 1000);
    }
}

TEST(before_main)
{
    for (int i = 0; i < 16; i++) {
        REQUIRE(early[i] != NULL);
        for (size_t j = 0; j < 100 + (size_t)i * 1000; j++)
            if (early[i][j] != 'a' + i) {
                CHECK(early[i][j] == 'a' + i);
                break;
            }
        MT(free)(early[i]);
    }
}

static pthread_key_t key;
static int destructor_runs;

static void key_destructor(void *p)
{
    MT(free)(p);
    void *q = MT(malloc)(200);
    CHECK(q != NULL);
    if (q)
        memset(q, 1, 200);
    MT(free)(q);
    __atomic_fetch_add(&destructor_runs, 1, __ATOMIC_RELAXED);
}

static void *with_key(void *arg)
{
    (void)arg;
    void *p = MT(malloc)(64);
    pthread_setspecific(key, p);
    return NULL;
}

TEST(thread_destructors)
{
    REQUIRE(pthread_key_create(&key, key_destructor) == 0);
    for (int i = 0; i < 50; i++) {
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, with_key, NULL) == 0);
        pthread_join(t, NULL);
    }
    CHECK_EQ(destructor_runs, 50);
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

enum { CHURN_BLOCKS = 8192, CHURN_SIZE = 128 }; /* 1 MiB per thread */

static void *churn(void *arg)
{
    (void)arg;
    void **v = MT(malloc)(CHURN_BLOCKS * sizeof *v);
    if (!v)
        return (void *)1;
    for (int i = 0; i < CHURN_BLOCKS; i++) {
        v[i] = MT(malloc)(CHURN_SIZE);
        if (!v[i])
            return (void *)1;
        memset(v[i], i, CHURN_SIZE);
    }
    for (int i = 0; i < CHURN_BLOCKS; i++)
        MT(free)(v[i]);
    MT(free)(v);
    return NULL;
}

TEST(exited_threads_return)
{
    int threads = MT_SANITIZER ? 200 : 2000;
    long before = rss_kib();
    for (int i = 0; i < threads; i++) {
        pthread_t t;
        void *ret = (void *)1;
        REQUIRE(pthread_create(&t, NULL, churn, NULL) == 0);
        pthread_join(t, &ret);
        CHECK(ret == NULL);
    }
    long grown = rss_kib() - before;
    fprintf(stderr, "  %d threads of 1 MiB each: resident size grew by %ld KiB\n", threads, grown);
    /* Without their caches coming back, 2000 threads would leave up to 2 GiB
     * behind; with them, a few threads' worth. */
    CHECK(grown < 64 * 1024);
}

struct handoff {
    void *blocks[64];
};

static void *leave_blocks(void *arg)
{
    struct handoff *h = arg;
    for (int i = 0; i < 64; i++) {
        h->blocks[i] = MT(malloc)((size_t)(i + 1) * 48);
        if (h->blocks[i])
            memset(h->blocks[i], i, (size_t)(i + 1) * 48);
    }
    return NULL;
}

TEST(free_after_exit)
{
    for (int r = 0; r < 20; r++) {
        struct handoff h = {{0}};
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, leave_blocks, &h) == 0);
        pthread_join(t, NULL);
        for (int i = 0; i < 64; i++) {
            REQUIRE(h.blocks[i] != NULL);
            CHECK_EQ(((unsigned char *)h.blocks[i])[(size_t)(i + 1) * 48 - 1], (unsigned char)i);
            MT(free)(h.blocks[i]);
        }
    }
}

TEST(rss_follows_use)
{
    if (!mt_is_kmem || MT_SANITIZER) {
        fprintf(stderr, "  skipped: only kmem's malloc promises this\n");
        return;
    }
    enum { SIZE = 64 * 1024, N = (512 << 20) / SIZE };
    static void *v[N];
    long before = rss_kib();
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            v[i] = MT(malloc)(SIZE);
            REQUIRE(v[i] != NULL);
            memset(v[i], 1, SIZE);
        }
        long full = rss_kib();
        for (int i = 0; i < N; i++)
            MT(free)(v[i]);
        long after = rss_kib();
        fprintf(stderr, "  round %d: %ld KiB at 1 GiB in use, %ld KiB after the frees\n", round,
                full - before, after - before);
        CHECK(full - before > 450 * 1024);
        /* The slack kept: 4 blocks of 4 MiB and a sixteenth of the use. */
        CHECK(after - before < 96 * 1024);
    }
}

static void at_exit_handler(void)
{
    void *p = MT(malloc)(1000);
    if (p)
        memset(p, 2, 1000);
    MT(free)(p);
}

TEST(at_exit)
{
    CHECK_EQ(atexit(at_exit_handler), 0);
}

int main(void)
{
    if (!mt_init())
        return 1;
    RUN(before_main);
    RUN(thread_destructors);
    RUN(exited_threads_return);
    RUN(free_after_exit);
    RUN(rss_follows_use);
    RUN(at_exit);
    return harness_report();
}
