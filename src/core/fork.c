/* SPDX-License-Identifier: MIT */
/*
 * fork.c - making kmem's state safe to copy into a child process
 * (the pthread_atfork protocol of glibc's malloc and jemalloc).
 *
 * fork copies memory but only the calling thread. A lock another thread held
 * at that instant stays held forever in the child, and the structure it
 * guarded may be half updated. So kmem_fork_prepare takes every kmem lock,
 * in the global lock order, before the fork; afterwards kmem_fork_parent and
 * kmem_fork_child release them (in the child, the forking thread is their
 * holder and its only thread). With every lock held, no structure is in the
 * middle of a change: the per-CPU page lists change only under their CPU's
 * lock, and the lock-free magazine fast paths change a CPU's own slot with
 * one store, which the copy sees whole.
 *
 * In the child, the CPU areas of the threads that did not survive keep their
 * magazines and page lists (as every allocator's thread caches do); they are
 * bounded by the magazine and per-CPU list sizes.
 *
 * The global lock order (each file's own order is a part of it):
 *   discard_busy -> hotplug_lock -> shrinker_lock -> registry_lock ->
 *   slab_caches_lock -> per cache (depot lock -> slab lock) -> every CPU's
 *   list lock -> zone locks (DMA -> Normal) -> vs_lock -> id_lock.
 * registry_lock comes before the cache list because a thread's exit holds it
 * while it walks the list to return its magazines (kmem_cpu_detach); the
 * first version had them the other way round and deadlocked a fork racing
 * a thread exit (Python's test_threading found it, about 1 run in 24).
 */
#include <kmem/init.h>

#include "fork.h"
#include "zone.h"

void kmem_fork_prepare(void)
{
    kmem_discard_fork_lock(true);
    kmem_hotplug_fork_lock(true);
    kmem_shrinker_fork_lock(true);
    pcp_fork_lock_registry(true);
    kmem_slab_fork_lock();
    pcp_fork_lock_cpus(true);
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        kmem_mutex_lock(&kmem_zones[zi].z_lock);
    kmem_vmalloc_fork_lock(true);
    kmem_magazine_fork_lock(true);
}

static void fork_unlock_all(void)
{
    kmem_magazine_fork_lock(false);
    kmem_vmalloc_fork_lock(false);
    for (unsigned int zi = KMEM_NR_ZONES; zi-- > 0;)
        kmem_mutex_unlock(&kmem_zones[zi].z_lock);
    pcp_fork_lock_cpus(false);
    kmem_slab_fork_unlock();
    pcp_fork_lock_registry(false);
    kmem_shrinker_fork_lock(false);
    kmem_hotplug_fork_lock(false);
    kmem_discard_fork_lock(false);
}

void kmem_fork_parent(void)
{
    fork_unlock_all();
}

void kmem_fork_child(void)
{
    fork_unlock_all();
}
