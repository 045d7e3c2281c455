/* SPDX-License-Identifier: MIT */
/* malloc_internal.h - what malloc.c (the allocation paths) and machine.c
 * (the private machine, its growth, fork and startup) say to each other. */
#ifndef KMEM_MALLOC_INTERNAL_H
#define KMEM_MALLOC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* machine.c */
bool kmem_malloc_machine_up(void);
/* Start the machine (or wait for the thread starting it). false: this
 * thread is the one starting it (a recursive call): use the bootstrap. */
bool kmem_malloc_machine_start(void);
void *kmem_malloc_bootstrap(size_t size, size_t align);
bool kmem_malloc_bootstrap_owns(const void *p);
size_t kmem_malloc_bootstrap_size(const void *p);

/* malloc.c */
void kmem_malloc_classes_init(void);
void kmem_malloc_huge_fork_lock(bool lock);
void kmem_malloc_huge_info(size_t *bytes, unsigned long *areas, size_t *cached);

#endif /* KMEM_MALLOC_INTERNAL_H */
