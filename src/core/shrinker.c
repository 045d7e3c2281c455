/* SPDX-License-Identifier: MIT */
/*
 * shrinker.c - the list of shrinkers and the reclaim pass.
 *
 * The page allocator calls kmem_shrink_all when a request that may reclaim
 * (__GFP_DIRECT_RECLAIM, as GFP_KERNEL) finds no free block, then drains the
 * per-CPU lists and tries once more. The pass holds shrinker_lock, so two
 * threads short of memory do not run the same shrinkers at once, and
 * registration waits for a running pass.
 *
 * Lock order: shrinker_lock -> (a shrinker's locks: depot, slab) -> page
 * allocator. Nothing takes shrinker_lock while holding another kmem lock.
 */
#include "fork.h"
#include "shrinker.h"

#include "../internal/lock.h"

static struct kmem_mutex shrinker_lock;
static struct list_head shrinkers = {&shrinkers, &shrinkers};

void kmem_shrinker_boot(void)
{
    kmem_mutex_init(&shrinker_lock);
    list_init(&shrinkers);
}

void kmem_shrinker_register(struct kmem_shrinker *sh)
{
    kmem_mutex_lock(&shrinker_lock);
    list_add_tail(&sh->sh_link, &shrinkers);
    kmem_mutex_unlock(&shrinker_lock);
}

void kmem_shrinker_unregister(struct kmem_shrinker *sh)
{
    kmem_mutex_lock(&shrinker_lock);
    list_del(&sh->sh_link);
    kmem_mutex_unlock(&shrinker_lock);
}

unsigned long kmem_shrink_all(void)
{
    unsigned long freed = 0;
    kmem_mutex_lock(&shrinker_lock);
    struct list_head *pos;
    list_for_each (pos, &shrinkers)
        freed += list_entry(pos, struct kmem_shrinker, sh_link)
                     ->sh_scan(list_entry(pos, struct kmem_shrinker, sh_link));
    kmem_mutex_unlock(&shrinker_lock);
    return freed;
}

void kmem_shrinker_fork_lock(bool lock)
{
    if (lock)
        kmem_mutex_lock(&shrinker_lock);
    else
        kmem_mutex_unlock(&shrinker_lock);
}
