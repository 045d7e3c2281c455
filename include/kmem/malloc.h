/* SPDX-License-Identifier: MIT */
/*
 * kmem/malloc.h - the user-level malloc built on kmem's layers
 * (libkmem-malloc.so).
 *
 * Linked, or loaded with LD_PRELOAD, libkmem-malloc.so provides malloc, free,
 * calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign,
 * valloc, pvalloc and malloc_usable_size with glibc's documented behaviour.
 * Each is also exported under a kmem_ name (kmem_malloc, kmem_free, ...),
 * the same functions, for programs that want kmem's malloc next to another
 * one, and for tests built with a sanitizer that owns the plain names.
 *
 * The memory is a private machine of its own (never the memfd of
 * kmem_init), so it survives fork as any heap does.
 *
 * KMEM_MALLOC_HARDENED=1 in the environment when the first malloc runs
 * turns on the hardened mode (src/malloc/hardened.c): canaries after small
 * blocks, a guard page after large ones, a quarantine that delays reuse and
 * checks freed blocks stayed untouched, inaccessible malloc(0) blocks; every
 * overflow, use after free, double or invalid free then stops the program
 * (SIGABRT with a "kmem: ..." line, or SIGSEGV). malloc_usable_size then
 * answers the size asked for. Several times slower; off, it costs nothing.
 */
#ifndef KMEM_MALLOC_H
#define KMEM_MALLOC_H

#include <stddef.h>

#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

KMEM_API void *kmem_malloc(size_t size);
KMEM_API void kmem_free(void *p);
KMEM_API void *kmem_calloc(size_t n, size_t size);
KMEM_API void *kmem_realloc(void *p, size_t size);
KMEM_API void *kmem_reallocarray(void *p, size_t n, size_t size);
KMEM_API int kmem_posix_memalign(void **out, size_t alignment, size_t size);
KMEM_API void *kmem_aligned_alloc(size_t alignment, size_t size);
KMEM_API void *kmem_memalign(size_t alignment, size_t size);
KMEM_API void *kmem_valloc(size_t size);
KMEM_API void *kmem_pvalloc(size_t size);
KMEM_API size_t kmem_malloc_usable_size(void *p);

/* C23's sized frees (also exported as free_sized and free_aligned_sized):
 * free p, which was allocated with size bytes (by malloc, calloc or
 * realloc; by aligned_alloc with alignment for the second). A size or
 * alignment that is not the block's is reported ("kmem: size mismatch:
 * ...") and the program stopped: in the default mode when the block could
 * not have been asked for with it (more than the block holds, or less than
 * half of a block above 256 bytes); in the hardened mode unless it is
 * exactly the size asked for. NULL does nothing. */
KMEM_API void kmem_free_sized(void *p, size_t size);
KMEM_API void kmem_free_aligned_sized(void *p, size_t alignment, size_t size);

/* A snapshot of the malloc's machine. */
struct kmem_malloc_info {
    size_t reserved_bytes;  /* address space reserved for "physical memory" */
    size_t memory_bytes;    /* of which added to the buddy system (sections) */
    unsigned long sections; /* sections added so far */
    size_t free_bytes;      /* free in the buddy system and per-CPU lists */
    size_t discarded_bytes; /* free and given back to the host (not resident) */
    size_t huge_bytes;      /* in huge areas mapped outside the machine */
    unsigned long huge_areas;
    size_t huge_cached_bytes; /* freed huge areas kept mapped for reuse (resident) */
};

/* Fill *info; 0, or -1 if the malloc has not started yet. */
KMEM_API int kmem_malloc_info(struct kmem_malloc_info *info);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_MALLOC_H */
