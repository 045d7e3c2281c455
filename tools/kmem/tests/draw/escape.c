/* SPDX-License-Identifier: MIT */
/*
 * escape.c - the pictures of snapshots whose texts are hostile: a label
 * and a title with XML's special characters, control characters and bytes
 * that are not UTF-8 (labels come from trace files), a cache named with
 * '<' and '&'. Writes DIR/buddy.svg, slabs.svg, frag.svg and report.html;
 * check_pictures.py then requires them to be well-formed and the texts to
 * come back whole. Also a zone whose size is no power of two (several
 * roots), and a snapshot taken without slab details.
 *
 * usage: kmem_draw_escape DIR (an existing directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem.h>

#include "../../html.h"
#include "../../snapshot.h"
#include "../../svg.h"

static const char label[] = "tricky <label> & \"quotes\" 'apos' \xff\xfe\x01 end";
static const char title[] = "report <title> & \"more\"";

static int write_to(const char *dir, const char *name, int (*fn)(FILE *, const void *),
                    const void *arg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    int rc = fn(f, arg);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "escape: writing %s failed\n", path);
        return -1;
    }
    return 0;
}

static int buddy(FILE *f, const void *t)
{
    const struct timeline *tl = t;
    return svg_buddy(f, tl->snaps[tl->n - 1], KMEM_ZONE_DMA, true);
}

static int slabs(FILE *f, const void *t)
{
    const struct timeline *tl = t;
    return svg_slabs(f, tl->snaps[tl->n - 1], NULL, true);
}

static int frag(FILE *f, const void *t)
{
    return svg_frag(f, t, true);
}

static int report(FILE *f, const void *t)
{
    return html_report(f, t, title);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: kmem_draw_escape DIR\n");
        return 2;
    }
    /* 300 KB: 75 pages, roots of 256, 32, 8 and 4 KB. */
    struct kmem_config cfg = {.mem_size = 300 * 1024};
    if (kmem_init(&cfg) != 0)
        return 1;
    struct timeline t = {NULL, 0, 0};
    struct kmem_cache *c = kmem_cache_create("obj<&>", 200, 0, 0, NULL);
    void *obj = c ? kmem_cache_alloc(c, GFP_KERNEL) : NULL;
    struct page *page = alloc_pages(GFP_KERNEL, 1);
    struct snapshot *bare = snapshot_take(1, "no slab details", false, false);
    struct snapshot *full = snapshot_take(2, label, true, false);
    if (!obj || !page || !bare || !full || !timeline_add(&t, bare) || !timeline_add(&t, full)) {
        fprintf(stderr, "escape: setting up failed\n");
        return 1;
    }
    int rc = write_to(argv[1], "buddy.svg", buddy, &t) | write_to(argv[1], "slabs.svg", slabs, &t) |
             write_to(argv[1], "frag.svg", frag, &t) | write_to(argv[1], "report.html", report, &t);
    /* The snapshot without slab details, drawn on its own. */
    struct timeline first = {t.snaps, 1, 1};
    rc |= write_to(argv[1], "bare-slabs.svg", slabs, &first);
    timeline_free(&t);
    __free_pages(page, 1);
    kmem_cache_free(c, obj);
    kmem_cache_destroy(c);
    kmem_exit();
    return rc ? 1 : 0;
}
