/* SPDX-License-Identifier: MIT */
/*
 * lock.c - contended paths of the core's locks (see src/internal/lock.h).
 */
#include "../internal/lock.h"

enum { SPINS_BEFORE_SLEEP = 100, SPINS_BEFORE_YIELD = 64 };

KMEM_NOINLINE void kmem_mutex_lock_slow(struct kmem_mutex *m)
{
    /* Critical sections are short: spin a little before sleeping. */
    for (int i = 0; i < SPINS_BEFORE_SLEEP; i++) {
        if (__atomic_load_n(&m->word, __ATOMIC_RELAXED) == 0 && kmem_mutex_trylock(m))
            return;
        kmem_cpu_relax();
    }
    /* Mark the lock contended so the holder's unlock wakes us, and sleep
     * until we take it in that state. */
    while (__atomic_exchange_n(&m->word, 2, __ATOMIC_ACQUIRE) != 0)
        kmem_pl_lock_wait(&m->word, 2);
}

KMEM_NOINLINE void kmem_spin_lock_slow(struct kmem_spin *s)
{
    for (;;) {
        for (int i = 0; __atomic_load_n(&s->word, __ATOMIC_RELAXED) != 0; i++) {
            if (i < SPINS_BEFORE_YIELD)
                kmem_cpu_relax();
            else
                kmem_pl_yield(); /* the holder may have been preempted */
        }
        if (kmem_spin_trylock(s))
            return;
    }
}
