/* SPDX-License-Identifier: MIT */
/* fork.h - each layer's part of kmem_fork_prepare (fork.c): take or release
 * all of its locks, in its own lock order. */
#ifndef KMEM_FORK_H
#define KMEM_FORK_H

#include <stdbool.h>

void kmem_slab_fork_lock(void);
void kmem_slab_fork_unlock(void);
void pcp_fork_lock_registry(bool lock);
void pcp_fork_lock_cpus(bool lock);
void kmem_shrinker_fork_lock(bool lock);
void kmem_magazine_fork_lock(bool lock);
void kmem_vmalloc_fork_lock(bool lock);
void kmem_hotplug_fork_lock(bool lock);
void kmem_discard_fork_lock(bool lock);

#endif /* KMEM_FORK_H */
