/* SPDX-License-Identifier: MIT */
/*
 * shrinker.h - callbacks the page allocator runs when memory is short
 * (Linux's shrinkers): each object cache registers one that gives back its
 * depot's magazines and its empty slabs.
 */
#ifndef KMEM_SHRINKER_H
#define KMEM_SHRINKER_H

#include "../internal/list.h"

struct kmem_shrinker {
    /* Give memory back; returns roughly how many pages it freed. Called with
     * no kmem lock held but the shrinker lock; it may free, never allocate. */
    unsigned long (*sh_scan)(struct kmem_shrinker *sh);
    struct list_head sh_link;
};

void kmem_shrinker_register(struct kmem_shrinker *sh);
void kmem_shrinker_unregister(struct kmem_shrinker *sh);

/* Run every shrinker once (a reclaim pass); returns the pages they freed. */
unsigned long kmem_shrink_all(void);

void kmem_shrinker_boot(void);

#endif /* KMEM_SHRINKER_H */
