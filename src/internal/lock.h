/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the core's two locks, built on compiler atomics and two platform
 * hooks, so that the same code runs in a process and in a kernel.
 *
 * kmem_mutex: for the zone and the registry of per-CPU areas, which several
 *   threads contend. Drepper's three-state futex mutex ("Futexes Are
 *   Tricky", 2011): 0 free, 1 locked, 2 locked and maybe waiters. Uncontended
 *   lock and unlock are one atomic instruction each; waiters sleep in
 *   kmem_pl_lock_wait.
 * kmem_spin: for one CPU's page lists, which only their owner takes on the
 *   fast path and drain_all_pages takes from elsewhere, rarely and briefly.
 *   Lock is one exchange, unlock a plain release store (no atomic RMW), and
 *   the fast path only ever try-locks it.
 */
#ifndef KMEM_LOCK_H
#define KMEM_LOCK_H

#include <stdbool.h>

#include <kmem/platform.h>

#include "compiler.h"

struct kmem_mutex {
    int word; /* 0 free, 1 locked, 2 locked with (possible) waiters */
};

struct kmem_spin {
    int word; /* 0 free, 1 locked */
};

#define KMEM_MUTEX_INIT                                                                            \
    {                                                                                              \
        0                                                                                          \
    }
#define KMEM_SPIN_INIT                                                                             \
    {                                                                                              \
        0                                                                                          \
    }

void kmem_mutex_lock_slow(struct kmem_mutex *m);
void kmem_spin_lock_slow(struct kmem_spin *s);

static inline bool kmem_mutex_trylock(struct kmem_mutex *m)
{
    int expected = 0;
    return __atomic_compare_exchange_n(&m->word, &expected, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

static inline void kmem_mutex_lock(struct kmem_mutex *m)
{
    if (unlikely(!kmem_mutex_trylock(m)))
        kmem_mutex_lock_slow(m);
}

static inline void kmem_mutex_unlock(struct kmem_mutex *m)
{
    if (unlikely(__atomic_exchange_n(&m->word, 0, __ATOMIC_RELEASE) == 2))
        kmem_pl_lock_wake(&m->word);
}

static inline bool kmem_mutex_is_locked(const struct kmem_mutex *m)
{
    return __atomic_load_n(&m->word, __ATOMIC_RELAXED) != 0;
}

/* Reinitialize (after kmem_exit, or in a fork child later): no thread may hold it. */
static inline void kmem_mutex_init(struct kmem_mutex *m)
{
    __atomic_store_n(&m->word, 0, __ATOMIC_RELAXED);
}

static inline bool kmem_spin_trylock(struct kmem_spin *s)
{
#if defined(__GNUC__) && !defined(__clang__)
    /* GCC compiles fetch_or of bit 0 to one "lock bts" and a carry test. */
    return !(__atomic_fetch_or(&s->word, 1, __ATOMIC_ACQUIRE) & 1);
#else
    /* Clang makes a cmpxchg loop of that fetch_or; an exchange is one xchg. */
    return __atomic_exchange_n(&s->word, 1, __ATOMIC_ACQUIRE) == 0;
#endif
}

static inline void kmem_spin_lock(struct kmem_spin *s)
{
    if (unlikely(!kmem_spin_trylock(s)))
        kmem_spin_lock_slow(s);
}

static inline void kmem_spin_unlock(struct kmem_spin *s)
{
    __atomic_store_n(&s->word, 0, __ATOMIC_RELEASE);
}

static inline void kmem_spin_init(struct kmem_spin *s)
{
    __atomic_store_n(&s->word, 0, __ATOMIC_RELAXED);
}

#endif /* KMEM_LOCK_H */
