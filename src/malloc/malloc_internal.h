/* SPDX-License-Identifier: MIT */
/* malloc_internal.h - what malloc.c (the allocation paths), machine.c (the
 * private machine, its growth, fork and startup) and hardened.c (the
 * hardened mode) say to each other. The recorder (KMEM_TRACE) has its own
 * header, trace_record.h. */
#ifndef KMEM_MALLOC_INTERNAL_H
#define KMEM_MALLOC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kmem_cache;

/* machine.c */
bool kmem_malloc_machine_up(void);
/* Start the machine (or wait for the thread starting it). false: this
 * thread is the one starting it (a recursive call): use the bootstrap. */
bool kmem_malloc_machine_start(void);
void *kmem_malloc_bootstrap(size_t size, size_t align);
bool kmem_malloc_bootstrap_owns(const void *p);
size_t kmem_malloc_bootstrap_size(const void *p);

/* malloc.c */
/* Make the classes; tracing (KMEM_TRACE): without magazines. */
void kmem_malloc_classes_init(bool tracing);
void kmem_malloc_huge_fork_lock(bool lock);
void kmem_malloc_huge_info(size_t *bytes, unsigned long *areas, size_t *cached);

/* The small class that holds want bytes aligned to align, and its index;
 * NULL if none does. */
struct kmem_cache *kmem_malloc_class_for(size_t want, size_t align, unsigned int *index);
struct kmem_cache *kmem_malloc_class(unsigned int index);
/* c's index among the classes, or -1 if c is no class of the malloc. */
int kmem_malloc_class_index(const struct kmem_cache *c);

/* An area mapped outside the machine, listed by its address. */
struct huge_area {
    uintptr_t ha_addr; /* what malloc returned; 0: empty, 1: deleted */
    uintptr_t ha_base; /* the mapping: [base, base + len), the last page a guard */
    size_t ha_len;
    size_t ha_usable; /* hardened.c's: the size asked for */
};
bool kmem_malloc_huge_list(const struct huge_area *a);               /* false: no memory */
bool kmem_malloc_huge_lookup(uintptr_t addr, struct huge_area *out); /* false: none */
bool kmem_malloc_huge_unlist(uintptr_t addr, struct huge_area *out); /* false: none */

/* "free_sized(p, size)" or "free_aligned_sized(p, align, size)" into buf. */
void kmem_malloc_sized_call(char *buf, size_t len, const void *p, size_t size, size_t align,
                            bool aligned);

/* hardened.c: KMEM_MALLOC_HARDENED=1. kmem_malloc_hardened is set by the
 * machine's start, before the classes are made, and never changes after. */
extern bool kmem_malloc_hardened;
bool kmem_hardened_init(void); /* at boot, once the classes are made; false: no memory */
void *kmem_hardened_malloc(size_t size, size_t align, bool zero);
void kmem_hardened_free(void *p, const char *fn, const void *caller);
void kmem_hardened_free_sized(void *p, size_t size, size_t align, bool aligned, const void *caller);
size_t kmem_hardened_usable_size(void *p, const void *caller);
void *kmem_hardened_realloc(void *p, size_t size, const void *caller);
void kmem_hardened_fork_lock(bool lock);

#endif /* KMEM_MALLOC_INTERNAL_H */
