/* SPDX-License-Identifier: MIT */
/*
 * kmem/types.h - basic types and constants of kmem's public interface.
 *
 * Freestanding: this header needs only the compiler's own <stddef.h>,
 * <stdint.h> and <stdbool.h>, so a kernel can include it.
 */
#ifndef KMEM_TYPES_H
#define KMEM_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGE_SHIFT     12
#define PAGE_SIZE      (1UL << PAGE_SHIFT)
#define PAGE_MASK      (~(PAGE_SIZE - 1))
#define MAX_PAGE_ORDER 10 /* inclusive: the largest block is 4 MiB */
#define NR_PAGE_ORDERS (MAX_PAGE_ORDER + 1)

/* Public functions are the library's only exported symbols. */
#if defined(__GNUC__) || defined(__clang__)
#define KMEM_API __attribute__((visibility("default")))
#else
#define KMEM_API
#endif

typedef uint64_t phys_addr_t; /* a "physical" address: 0 is the first byte of RAM */
typedef unsigned int gfp_t;   /* get-free-pages flags, see kmem/gfp.h */
typedef unsigned int slab_flags_t;

/* One per page frame. Its layout is private: use the functions of kmem/page.h. */
struct page;

#endif /* KMEM_TYPES_H */
