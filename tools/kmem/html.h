/* SPDX-License-Identifier: MIT */
/*
 * html.h - the report page: one self-contained HTML file (no network: inline
 * CSS, SVG and a few lines of script) with the buddy picture, the slab
 * picture and the /proc texts of every snapshot of a timeline behind a
 * slider, and the fragmentation plot over the whole timeline.
 */
#ifndef KMEM_TOOL_HTML_H
#define KMEM_TOOL_HTML_H

#include <stdio.h>

#include "snapshot.h"

/* 0, or -1 on a write error. */
int html_report(FILE *f, const struct timeline *t, const char *title);

#endif /* KMEM_TOOL_HTML_H */
