/* SPDX-License-Identifier: MIT */
/*
 * kmem.h - kernel memory allocation as a library: buddy page allocator,
 * slab object caches, kmalloc and vmalloc, with Linux's interface.
 * See docs/DESIGN.md for the big theory statement.
 */
#ifndef KMEM_H
#define KMEM_H

#include <kmem/fault.h>
#include <kmem/gfp.h>
#include <kmem/info.h>
#include <kmem/init.h>
#include <kmem/kmalloc.h>
#include <kmem/mempool.h>
#include <kmem/page.h>
#include <kmem/slab.h>
#include <kmem/types.h>
#include <kmem/vmalloc.h>

#endif /* KMEM_H */
