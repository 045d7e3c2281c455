/* SPDX-License-Identifier: MIT */
/*
 * draw.h - the book's scenes played on a running kmem, and the pictures of a
 * timeline written to a directory: what kmem draw does, for kmem demo and
 * others to reuse.
 *
 * Each scene appends its snapshots to a timeline (taken with every slab's
 * objects, for the pictures); its steps continue from the timeline's last
 * step, counting the scene's operations, so scenes can follow each other on
 * one timeline. The caller brings kmem up (kmem_init) and down.
 */
#ifndef KMEM_TOOL_DRAW_H
#define KMEM_TOOL_DRAW_H

#include <stdbool.h>
#include <stddef.h>

#include "snapshot.h"

/* Figure 9.26: the buddy system serving one request of request bytes (the
 * book: 21 KB on a 256 KB machine). Snapshots: the initial state; after
 * alloc_pages(get_order(request)) (every split, the block handed out);
 * after __free_pages (and, if the block went to a per-CPU list, another
 * after drain_all_pages, when the buddies coalesce). A request no free
 * block can hold is a snapshot labelled so (alloc_pages returned NULL).
 * Leaves the page allocator as it found it. false: out of memory for the
 * snapshots (malloc). */
bool draw_scene_book(struct timeline *t, size_t request);

/* Figure 9.27: two caches, "obj-3k" of 3 KB objects and "obj-7k" of 7 KB
 * objects (the book's 3 KB and 7 KB kernel objects), objects allocated and
 * some freed so that there are full, partial and empty slabs, a snapshot
 * after each step. The caches have no magazines (SLAB_CONSISTENCY_CHECKS)
 * so that every allocation and free shows in its slab, as in the book.
 * The caches and the objects still allocated are left in place, for the
 * caller to draw or look at further: draw_scene_caches_end frees the
 * objects and destroys both caches (call it before kmem_exit; calling it
 * when the scene did not run, or twice, does nothing). false: a cache could
 * not be created, kmem ran out of memory (the machine is too small), or
 * out of memory for the snapshots; the scene's caches are then already
 * destroyed. */
bool draw_scene_caches(struct timeline *t);
void draw_scene_caches_end(void);

/* Fragmentation: page blocks of orders 0-3 and kmalloc objects of random
 * sizes allocated until a good part of memory is used, then every other
 * one, at random, freed; snapshots along the way (the fragmentation plot
 * rises). Everything is freed at the end, after the last snapshot.
 * Deterministic (a fixed seed). false: out of memory for the snapshots or
 * the scene's own bookkeeping (malloc). */
bool draw_scene_frag(struct timeline *t);

/* Write the pictures of a timeline into dir (created, with its parents,
 * if missing): buddy-<zone>.svg of the last snapshot for each zone it has
 * (buddy-dma.svg, buddy-normal.svg), slabs.svg of the last snapshot,
 * frag.svg of the whole timeline and report.html (title on top). Prints
 * nothing. 0, or -1 with errno set (EINVAL for an empty timeline). */
int draw_write(const struct timeline *t, const char *dir, const char *title);

/* draw_write, and with each_step also NN-buddy-<zone>.svg and
 * NN-slabs.svg for every snapshot (NN from 01, in timeline order). Calls
 * written(arg, path) for each file written, when written is not NULL. */
typedef void (*draw_written_fn)(void *arg, const char *path);
int draw_write_files(const struct timeline *t, const char *dir, const char *title, bool each_step,
                     draw_written_fn written, void *arg);

#endif /* KMEM_TOOL_DRAW_H */
