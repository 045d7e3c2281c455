/* SPDX-License-Identifier: MIT */
/*
 * svg.h - the pictures, as standalone SVG documents or as <svg> elements to
 * put into the HTML report (html.h). All are drawn from snapshots only.
 *
 *   buddy: a zone's page map in the style of the book's Figure 9.26: the
 *     tree of splits above, the blocks below, free / allocated / split
 *     (parents of smaller blocks) told apart by colour, with a legend.
 *     Large zones are drawn by page-map rows (one row per top-order block)
 *     with small blocks merged into shaded runs, so any zone fits.
 *   slabs: per cache, in the style of Figure 9.27: the cache, its slabs as
 *     boxes (full, partial, empty), each with its objects as cells
 *     (allocated, free).
 *   frag: fragmentation over time from a timeline: free pages, the
 *     unusable free space index at orders 0, 3 and 9 (or the top order) and
 *     the kmalloc caches' internal fragmentation, one line each, with axes.
 */
#ifndef KMEM_TOOL_SVG_H
#define KMEM_TOOL_SVG_H

#include <stdbool.h>
#include <stdio.h>

#include "snapshot.h"

/* standalone: an XML document with its declaration (a file of its own);
 * otherwise an <svg> element for inline HTML. Each returns 0, or -1 on a
 * write error. */
int svg_buddy(FILE *f, const struct snapshot *s, enum kmem_zone_type zone, bool standalone);
/* caches: NULL-terminated names to draw, or NULL for every cache with a
 * slab that is not kmem's own. */
int svg_slabs(FILE *f, const struct snapshot *s, const char *const *caches, bool standalone);
int svg_frag(FILE *f, const struct timeline *t, bool standalone);

#endif /* KMEM_TOOL_SVG_H */
