/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_threads.c - the malloc under stress from 4 threads, with
 * blocks freed (and reallocated) by threads other than the one that
 * allocated them.
 *
 * Each thread makes NR_OPS random operations on a table of slots: malloc,
 * calloc, posix_memalign, aligned_alloc or memalign into an empty slot;
 * free, realloc or hand over to another thread from a full one. Sizes are
 * mostly 1-512 bytes, some up to 64 KiB and a few 1-4 MiB. Every block holds
 * a pattern derived from the (thread, sequence number) tag it got when it
 * was last written, checked before every free and realloc; a realloc's
 * common prefix must keep the old pattern. Handed-over blocks go through a
 * small mailbox per thread, a ring under a pthread mutex (the only shared
 * state, so the test is race-free by construction: TSan clean); the receiver
 * checks them and frees them, or reallocates them and keeps them.
 *
 * A failure prints the thread, the block and the first wrong word; the exit
 * status is nonzero.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "malloc_under_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define NR_THREADS 4
#define NR_SLOTS   2048
#define MAILBOX    32

/* Operations per thread: fewer when the library itself runs under a
 * sanitizer (the kmem_ names in an ASan or TSan build). MT_THREAD_OPS in the
 * environment overrides. */
#if defined(KMEM_TEST_PREFIXED) && MT_SANITIZER
#define NR_OPS 50000
#else
#define NR_OPS 200000
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

/* Blocks up to DENSE bytes carry the pattern in every 8-byte word; larger
 * ones in every SPARSE-th byte's word past DENSE (and always in their last
 * bytes), so the big blocks cost little to write and check. */
#define DENSE  (64 * KiB)
#define SPARSE 256

struct block {
    uint8_t *p;
    size_t size;
    uint64_t tag; /* thread << 48 | sequence number; 0 for calloc's zeroes */
};

struct mailbox {
    pthread_mutex_t lock;
    struct block ring[MAILBOX];
    unsigned head, count;
};

struct worker {
    int id;
    pthread_t thread;
    uint64_t rng;
    uint64_t seq;
    struct block slots[NR_SLOTS];
    unsigned long ops, sent, received, errors;
};

static struct mailbox mailboxes[NR_THREADS];
static struct worker workers[NR_THREADS];
static atomic_int finished; /* threads done with their operations */
static long nr_ops = NR_OPS;

static uint64_t rnd(struct worker *w)
{
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t pattern_word(uint64_t tag, size_t off)
{
    if (tag == 0)
        return 0; /* calloc's block, not written since */
    uint64_t x = tag * 0x9e3779b97f4a7c15ull ^ (uint64_t)off * 0xbf58476d1ce4e5b9ull;
    return x ^ x >> 31;
}

/* Where the pattern is: the aligned words at offsets 0, 8, 16, ... up to
 * DENSE and every SPARSE bytes after it, as long as they end before the tail,
 * the block's last 8 bytes (at size - 8, maybe unaligned), which always
 * hold the pattern too; a block under 8 bytes is all tail. */
static size_t next_word(size_t off)
{
    return off + (off < DENSE ? 8 : SPARSE);
}

static size_t tail_offset(size_t size)
{
    return size >= 8 ? size - 8 : 0;
}

static size_t tail_length(size_t size)
{
    return size >= 8 ? 8 : size;
}

static void write_pattern(uint8_t *p, size_t size, uint64_t tag)
{
    for (size_t off = 0; off + 16 <= size; off = next_word(off)) {
        uint64_t x = pattern_word(tag, off);
        memcpy(p + off, &x, 8);
    }
    uint64_t x = pattern_word(tag, tail_offset(size));
    memcpy(p + tail_offset(size), &x, tail_length(size));
}

static void print_tag(char *buf, size_t len, uint64_t tag)
{
    if (tag == 0)
        snprintf(buf, len, "calloc's zeroes");
    else
        snprintf(buf, len, "tag thread %d seq %llu", (int)(tag >> 48) - 1,
                 (unsigned long long)(tag & 0xffffffffffffull));
}

static void report(struct worker *w, const char *what, const struct block *b, size_t off, size_t n)
{
    if (w->errors++ >= 10)
        return;
    uint64_t got = 0, want = pattern_word(b->tag, off);
    memcpy(&got, b->p + off, n);
    memset((uint8_t *)&want + n, 0, 8 - n); /* compare what was read */
    char tag[48];
    print_tag(tag, sizeof tag, b->tag);
    fprintf(stderr,
            "%s:%d: thread %d, %s: block %p of %zu bytes (%s): the %zu bytes at offset %zu "
            "hold 0x%016llx, expected 0x%016llx\n",
            __FILE__, __LINE__, w->id, what, (void *)b->p, b->size, tag, n, off,
            (unsigned long long)got, (unsigned long long)want);
}

/* Check the pattern of b over its first len bytes (len <= b->size; the tail
 * only when len is the whole block). */
static bool check_pattern(struct worker *w, const char *what, const struct block *b, size_t len)
{
    for (size_t off = 0; off + 16 <= b->size && off + 8 <= len; off = next_word(off)) {
        uint64_t want = pattern_word(b->tag, off);
        if (memcmp(b->p + off, &want, 8) != 0) {
            report(w, what, b, off, 8);
            return false;
        }
    }
    if (len == b->size) {
        size_t off = tail_offset(b->size), n = tail_length(b->size);
        uint64_t want = pattern_word(b->tag, off);
        if (memcmp(b->p + off, &want, n) != 0) {
            report(w, what, b, off, n);
            return false;
        }
    }
    return true;
}

static size_t random_size(struct worker *w)
{
    uint64_t r = rnd(w);
    unsigned kind = (unsigned)(r % 10000);
    r >>= 16;
    if (kind < 9000)
        return 1 + (size_t)(r % 512);
    if (kind < 9995)
        return 513 + (size_t)(r % (64 * KiB - 512));
    if (kind < 9997)
        return (size_t)(r % 2); /* 0 and 1 */
    return 1 * MiB + (size_t)(r % (3 * MiB + 1));
}

static uint64_t new_tag(struct worker *w)
{
    return (uint64_t)(w->id + 1) << 48 | ++w->seq;
}

static bool allocate(struct worker *w, struct block *b)
{
    size_t size = random_size(w);
    unsigned how = (unsigned)(rnd(w) % 100);
    void *p = NULL;
    const char *name;
    b->tag = new_tag(w);
    if (how < 70) {
        name = "malloc";
        p = MT(malloc)(size);
    } else if (how < 85) {
        name = "calloc";
        p = MT(calloc)(1 + size / 16, 16);
        size = 16 * (1 + size / 16);
        b->tag = 0; /* the pattern of zeroes, checked as any other */
    } else if (how < 92) {
        name = "posix_memalign";
        size_t align = (size_t)8 << (rnd(w) % 10); /* 8 .. 4096 */
        int rc = MT(posix_memalign)(&p, align, size);
        if (rc != 0)
            p = NULL;
        else if ((uintptr_t)p % align)
            goto misaligned;
    } else if (how < 96) {
        name = "aligned_alloc";
        size_t align = (size_t)1 << (rnd(w) % 13); /* 1 .. 4096 */
        size = (size + align - 1) / align * align;
        p = MT(aligned_alloc)(align, size);
        if (p && (uintptr_t)p % align)
            goto misaligned;
    } else {
        name = "memalign";
        size_t align = (size_t)16 << (rnd(w) % 9); /* 16 .. 4096 */
        p = MT(memalign)(align, size);
        if (p && (uintptr_t)p % align)
            goto misaligned;
    }
    if (p == NULL) {
        if (w->errors++ < 10)
            fprintf(stderr, "%s:%d: thread %d: %s of %zu bytes failed (errno %d)\n", __FILE__,
                    __LINE__, w->id, name, size, errno);
        return false;
    }
    b->p = p;
    b->size = size;
    if (b->tag == 0) {
        if (!check_pattern(w, "calloc's zeroes", b, size)) {
            MT(free)(p);
            b->p = NULL;
            return false;
        }
    } else {
        write_pattern(b->p, size, b->tag);
    }
    return true;
misaligned:
    if (w->errors++ < 10)
        fprintf(stderr, "%s:%d: thread %d: %s of %zu bytes: misaligned %p\n", __FILE__, __LINE__,
                w->id, name, size, p);
    MT(free)(p);
    return false;
}

static void release(struct worker *w, struct block *b, const char *what)
{
    check_pattern(w, what, b, b->size);
    MT(free)(b->p);
    b->p = NULL;
}

static void reallocate(struct worker *w, struct block *b, const char *what)
{
    if (!check_pattern(w, what, b, b->size)) {
        MT(free)(b->p);
        b->p = NULL;
        return;
    }
    size_t size = random_size(w);
    if (size == 0)
        size = 1; /* realloc(p, 0) frees: not what is tested here */
    uint8_t *q = MT(realloc)(b->p, size);
    if (q == NULL) {
        if (w->errors++ < 10)
            fprintf(stderr, "%s:%d: thread %d: realloc(%zu -> %zu) failed\n", __FILE__, __LINE__,
                    w->id, b->size, size);
        MT(free)(b->p);
        b->p = NULL;
        return;
    }
    struct block moved = {q, b->size, b->tag};
    if ((uintptr_t)q % 16 && w->errors++ < 10)
        fprintf(stderr, "%s:%d: thread %d: realloc(%zu -> %zu): misaligned %p\n", __FILE__,
                __LINE__, w->id, b->size, size, (void *)q);
    check_pattern(w, "after realloc", &moved, size < b->size ? size : b->size);
    b->p = q;
    b->size = size;
    b->tag = new_tag(w);
    write_pattern(q, size, b->tag);
}

/* Hand b to another thread's mailbox; false when that one is full. */
static bool send(struct worker *w, struct block *b)
{
    int to = (w->id + 1 + (int)(rnd(w) % (NR_THREADS - 1))) % NR_THREADS;
    struct mailbox *m = &mailboxes[to];
    bool sent = false;
    pthread_mutex_lock(&m->lock);
    if (m->count < MAILBOX) {
        m->ring[(m->head + m->count) % MAILBOX] = *b;
        m->count++;
        sent = true;
    }
    pthread_mutex_unlock(&m->lock);
    if (sent) {
        b->p = NULL;
        w->sent++;
    }
    return sent;
}

/* Take everything in this thread's mailbox: check each block; free it, or
 * reallocate it into a free slot. */
static void receive(struct worker *w)
{
    struct block got[MAILBOX];
    unsigned n = 0;
    struct mailbox *m = &mailboxes[w->id];
    pthread_mutex_lock(&m->lock);
    while (m->count > 0) {
        got[n++] = m->ring[m->head];
        m->head = (m->head + 1) % MAILBOX;
        m->count--;
    }
    pthread_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < n; i++) {
        w->received++;
        struct block *slot = &w->slots[rnd(w) % NR_SLOTS];
        if (slot->p == NULL && rnd(w) % 4 == 0) {
            *slot = got[i];
            reallocate(w, slot, "received, before realloc");
        } else {
            release(w, &got[i], "received, before free");
        }
    }
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    for (long op = 0; op < nr_ops; op++) {
        struct block *b = &w->slots[rnd(w) % NR_SLOTS];
        if (b->p == NULL) {
            allocate(w, b);
        } else {
            unsigned what = (unsigned)(rnd(w) % 100);
            if (what < 50)
                release(w, b, "before free");
            else if (what < 70)
                reallocate(w, b, "before realloc");
            else if (what < 90 && !send(w, b))
                release(w, b, "before free (mailbox full)");
        }
        if (op % 16 == 0)
            receive(w);
        w->ops++;
    }
    for (int i = 0; i < NR_SLOTS; i++)
        if (w->slots[i].p != NULL)
            release(w, &w->slots[i], "at the end, before free");
    /* No one sends after finishing: once all have, a last drain empties the
     * mailbox for good. */
    atomic_fetch_add(&finished, 1);
    while (atomic_load(&finished) < NR_THREADS) {
        receive(w);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    receive(w);
    for (int i = 0; i < NR_SLOTS; i++)
        if (w->slots[i].p != NULL)
            release(w, &w->slots[i], "at the end, before free");
    return NULL;
}

int main(void)
{
    if (!mt_init())
        return 1;
    const char *env = getenv("MT_THREAD_OPS");
    if (env != NULL && atol(env) > 0)
        nr_ops = atol(env);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < NR_THREADS; i++) {
        pthread_mutex_init(&mailboxes[i].lock, NULL);
        workers[i].id = i;
        workers[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    }
    for (int i = 0; i < NR_THREADS; i++) {
        int rc = pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]);
        if (rc != 0) {
            fprintf(stderr, "%s:%d: pthread_create: %s\n", __FILE__, __LINE__, strerror(rc));
            return 1;
        }
    }
    unsigned long errors = 0, ops = 0, sent = 0, received = 0;
    for (int i = 0; i < NR_THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        errors += workers[i].errors;
        ops += workers[i].ops;
        sent += workers[i].sent;
        received += workers[i].received;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < NR_THREADS; i++)
        if (mailboxes[i].count != 0) {
            fprintf(stderr, "%s:%d: mailbox %d: expected empty at the end, holds %u\n", __FILE__,
                    __LINE__, i, mailboxes[i].count);
            errors++;
        }
    if (sent != received) {
        fprintf(stderr, "%s:%d: expected every block sent received, sent %lu, received %lu\n",
                __FILE__, __LINE__, sent, received);
        errors++;
    }
    printf("%d threads, %lu operations, %lu blocks handed over, %.2f s: %lu errors\n", NR_THREADS,
           ops, sent, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           errors);
    printf("%s\n", errors ? "FAILED" : "passed");
    return errors ? 1 : 0;
}
