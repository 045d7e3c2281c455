/* SPDX-License-Identifier: MIT */
/*
 * svg.c - the pictures of svg.h, drawn from snapshots only (never from the
 * running allocator), so that replay, draw and demo can draw any moment they
 * kept.
 *
 * buddy: Figure 9.26 of the book. A zone's span is cut into the largest
 *   naturally aligned blocks that fit (its roots: one 256 KB block for the
 *   book's machine); under each root the tree of splits is derived from the
 *   block list (a node is split when its range holds more than one block),
 *   one row of the tree per order, then the blocks side by side as a page
 *   map. Zones of more than TREE_MAX_PAGES pages get no tree: one row per
 *   top-order block (4 MiB), where blocks too narrow to see are merged into
 *   runs shaded by their share of free pages, drawn as one path per colour,
 *   so that a fragmented 1 GiB zone stays around a megabyte.
 * slabs: Figure 9.27. Per cache, its objects (left), the cache (middle) and
 *   its slabs (right), each slab a box of cells, one per object.
 * frag: a line plot over the steps of a timeline, with a hidden marker line
 *   and data-* attributes on the <svg> that the HTML report's script uses to
 *   move the marker to the current step.
 *
 * Colours are fill attributes, not CSS, so that every SVG viewer shows them
 * and inline pictures in one HTML page cannot restyle each other. Text goes
 * through xml_text, which also replaces bytes that are not UTF-8 (labels
 * come from trace files) so the output is always well-formed XML.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"
#include "tool.h"

/* --- colours ------------------------------------------------------------ */

#define COLOUR_FREE      "#8fd18f"
#define COLOUR_PCP       "#f2d16b"
#define COLOUR_ALLOCATED "#e9857c"
#define COLOUR_RESERVED  "#a9a9a9"
#define COLOUR_SPLIT     "#b9cde9"
#define COLOUR_STROKE    "#4d4d4d"
#define COLOUR_TEXT      "#222222"
#define COLOUR_FAINT     "#777777"
#define COLOUR_ROW_BG    "#eeeeee"

/* Slab pictures: a full slab, a partial one, an empty one; objects. */
#define COLOUR_SLAB_FULL    "#f7d4d0"
#define COLOUR_SLAB_PARTIAL "#fbe8b8"
#define COLOUR_SLAB_EMPTY   "#d9f0d9"
#define COLOUR_OBJ_USED     "#d9534f"
#define COLOUR_OBJ_FREE     "#ffffff"
#define COLOUR_CACHE        "#dfe7f5"

/* --- output helpers ----------------------------------------------------- */

/* Coordinates with two decimals at most, printed by %g: short files. */
static double r2(double v)
{
    return round(v * 100.0) / 100.0;
}

/* A <text> element at (x, y) with extra attributes attrs (trusted, may be
 * ""), its content formatted by fmt and escaped. */
static void text_at(FILE *f, double x, double y, const char *attrs, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(f, "<text x=\"%g\" y=\"%g\"%s%s>", r2(x), r2(y), *attrs ? " " : "", attrs);
    tool_xml_text(f, buf);
    fputs("</text>\n", f);
}

static void rect_at(FILE *f, double x, double y, double w, double h, const char *fill,
                    const char *stroke)
{
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"%s\"", r2(x), r2(y),
            r2(w), r2(h), fill);
    if (stroke)
        fprintf(f, " stroke=\"%s\" stroke-width=\"0.8\"", stroke);
    fputs("/>\n", f);
}

/* The document's start: the XML declaration for a file of its own, the
 * <svg> element with its size, extra attributes (trusted), a white page. */
static void svg_begin(FILE *f, bool standalone, double w, double h, const char *kind,
                      const char *extra)
{
    if (standalone)
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"kmem-%s\" width=\"%g\" "
            "height=\"%g\" viewBox=\"0 0 %g %g\" font-family=\"DejaVu Sans, Arial, sans-serif\" "
            "font-size=\"12\" fill=\"" COLOUR_TEXT "\"%s%s>\n",
            kind, r2(w), r2(h), r2(w), r2(h), extra && *extra ? " " : "", extra ? extra : "");
    rect_at(f, 0, 0, w, h, "#ffffff", NULL);
}

static int svg_end(FILE *f)
{
    fputs("</svg>\n", f);
    return ferror(f) ? -1 : 0;
}

/* A growing string, for the paths that gather many small rectangles. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A rectangle as a path piece: "M x y h w v h h -w z". */
static void sbuf_rect(struct sbuf *b, double x, double y, double w, double h)
{
    sbuf_printf(b, "M%g %gh%gv%gh%gz", r2(x), r2(y), r2(w), r2(h), -r2(w));
}

/* One <path> of the rectangles gathered in b, filled with fill. */
static void path_out(FILE *f, const struct sbuf *b, const char *fill, const char *stroke)
{
    if (!b->len)
        return;
    fprintf(f, "<path fill=\"%s\"", fill);
    if (stroke)
        fprintf(f, " stroke=\"%s\" stroke-width=\"0.5\"", stroke);
    fputs(" d=\"", f);
    fwrite(b->p, 1, b->len, f);
    fputs("\"/>\n", f);
}

/* A legend entry: a swatch and its text; returns the x after it. */
static double legend_item(FILE *f, double x, double y, const char *fill, const char *what)
{
    rect_at(f, x, y - 10, 14, 12, fill, COLOUR_STROKE);
    text_at(f, x + 19, y, "font-size=\"11\"", "%s", what);
    return x + 19 + 6.6 * (double)strlen(what) + 18;
}

/* Estimated width of text in pixels (sans-serif at font size px). */
static double text_width(const char *text, double px)
{
    return 0.6 * px * (double)strlen(text);
}

/* "4 KB" for one page, "0" for nothing. */
static const char *size_str(char *buf, size_t len, unsigned long long bytes)
{
    if (!bytes) {
        snprintf(buf, len, "0");
        return buf;
    }
    return tool_size_str(buf, len, bytes);
}

/* --- buddy: the zone's blocks ------------------------------------------- */

/* The blocks of one zone: a slice of the snapshot's pfn-ordered list. */
struct zone_blocks {
    const struct kmem_block *b;
    unsigned long n;
};

static struct zone_blocks zone_blocks_of(const struct snapshot *s, enum kmem_zone_type zone)
{
    struct zone_blocks zb = {NULL, 0};
    unsigned long i = 0;
    while (i < s->nblocks && s->blocks[i].zone != zone)
        i++;
    zb.b = s->blocks + i;
    while (i + zb.n < s->nblocks && s->blocks[i + zb.n].zone == zone)
        zb.n++;
    return zb;
}

/* Index of the first block that starts at pfn or after. */
static unsigned long first_block_from(const struct zone_blocks *zb, unsigned long pfn)
{
    unsigned long lo = 0, hi = zb->n;
    while (lo < hi) {
        unsigned long mid = lo + (hi - lo) / 2;
        if (zb->b[mid].pfn < pfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *state_colour(enum kmem_block_state state)
{
    switch (state) {
    case KMEM_BLOCK_FREE:
        return COLOUR_FREE;
    case KMEM_BLOCK_PCP:
        return COLOUR_PCP;
    case KMEM_BLOCK_ALLOCATED:
        return COLOUR_ALLOCATED;
    case KMEM_BLOCK_RESERVED:
        break;
    }
    return COLOUR_RESERVED;
}

/* The zone's span, cut into the largest naturally aligned blocks that fit:
 * the roots of the trees. Every block of the zone lies inside one root. */
enum { MAX_ROOTS = 64 };

struct roots {
    unsigned long pfn[MAX_ROOTS];
    unsigned int order[MAX_ROOTS];
    unsigned int n, top; /* top: the largest root order */
};

static void roots_of(unsigned long start, unsigned long end, struct roots *r)
{
    r->n = 0;
    r->top = 0;
    for (unsigned long p = start; p < end && r->n < MAX_ROOTS;) {
        unsigned int o = MAX_PAGE_ORDER;
        while (o > 0 && ((p & ((1UL << o) - 1)) || p + (1UL << o) > end))
            o--;
        r->pfn[r->n] = p;
        r->order[r->n] = o;
        if (o > r->top)
            r->top = o;
        r->n++;
        p += 1UL << o;
    }
}

/* What a node (pfn, order) of the tree is: a block, reserved frames only,
 * a hole (no block: outside the zone's frames), or split. */
enum node_kind { NODE_BLOCK, NODE_RESERVED, NODE_HOLE, NODE_SPLIT };

static enum node_kind node_kind(const struct zone_blocks *zb, unsigned long pfn, unsigned int order,
                                const struct kmem_block **block)
{
    unsigned long lo = first_block_from(zb, pfn);
    unsigned long hi = first_block_from(zb, pfn + (1UL << order));
    *block = NULL;
    if (lo == hi)
        return NODE_HOLE;
    const struct kmem_block *b = &zb->b[lo];
    if (hi - lo == 1 && b->pfn == pfn && b->order == order) {
        *block = b;
        return b->state == KMEM_BLOCK_RESERVED ? NODE_RESERVED : NODE_BLOCK;
    }
    /* A run of reserved frames is shown as one reserved leaf, not as a
     * tree down to order 0: nothing was split there. */
    bool all_reserved = hi - lo == (1UL << order);
    for (unsigned long i = lo; all_reserved && i < hi; i++)
        all_reserved = zb->b[i].state == KMEM_BLOCK_RESERVED;
    return all_reserved ? NODE_RESERVED : NODE_SPLIT;
}

/* The smallest order a leaf under (pfn, order) has. */
static unsigned int deepest_leaf(const struct zone_blocks *zb, unsigned long pfn,
                                 unsigned int order)
{
    const struct kmem_block *b;
    if (order == 0 || node_kind(zb, pfn, order, &b) != NODE_SPLIT)
        return order;
    unsigned int left = deepest_leaf(zb, pfn, order - 1);
    unsigned int right = deepest_leaf(zb, pfn + (1UL << (order - 1)), order - 1);
    return left < right ? left : right;
}

/* --- buddy: the tree (small zones) --------------------------------------- */

enum {
    TREE_MAX_PAGES = 1024, /* zones up to this size get the tree */
    BUDDY_W = 1000,
    BUDDY_ML = 20, /* left margin */
    TREE_TOP = 72,
    TREE_ROW = 40, /* per order */
    TREE_BOX = 28,
    STRIP_H = 34,
    HIST_H = 100,
};

struct tree_layout {
    const struct zone_blocks *zb;
    const struct roots *roots;
    unsigned long start, pages; /* the zone's span */
    unsigned int top, deepest;
    double pw;  /* pixels for the span */
    bool names; /* the book's names (A_L, B_R...): one root only */
};

static double tree_x(const struct tree_layout *l, unsigned long pfn)
{
    return BUDDY_ML + (double)(pfn - l->start) * l->pw / (double)l->pages;
}

static double tree_y(const struct tree_layout *l, unsigned int order)
{
    return TREE_TOP + (double)(l->top - order) * TREE_ROW;
}

/* The book's name of a half: level letter by depth below the root (A for
 * the first split), L or R by which half. "" for a root. */
static void half_name(char *buf, size_t len, unsigned int root_order, unsigned long pfn,
                      unsigned int order)
{
    unsigned int depth = root_order - order;
    if (depth == 0 || depth > 26) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, len, "%c_%c", 'A' + (int)depth - 1, ((pfn >> order) & 1) ? 'R' : 'L');
}

static unsigned int root_order_of(const struct roots *r, unsigned long pfn)
{
    for (unsigned int i = 0; i < r->n; i++)
        if (pfn >= r->pfn[i] && pfn < r->pfn[i] + (1UL << r->order[i]))
            return r->order[i];
    return 0;
}

/* Label a box of width w centred at cx, baseline y: "C_L 32 KB", or "32 KB",
 * or nothing, whichever fits. */
static void box_label(FILE *f, double cx, double y, double w, const char *name,
                      unsigned long long bytes)
{
    char size[32], both[64];
    tool_size_str(size, sizeof size, bytes);
    snprintf(both, sizeof both, "%s%s%s", name, *name ? " " : "", size);
    const char *attrs = "text-anchor=\"middle\" font-size=\"11\"";
    if (text_width(both, 11) + 4 <= w)
        text_at(f, cx, y, attrs, "%s", both);
    else if (text_width(size, 11) + 4 <= w)
        text_at(f, cx, y, attrs, "%s", size);
    else if (*name && text_width(name, 11) + 2 <= w)
        text_at(f, cx, y, attrs, "%s", name);
}

/* A box of the tree or the page map, with its tooltip. */
static void block_box(FILE *f, double x0, double x1, double y, double h, const char *fill,
                      const char *tip)
{
    double gap = x1 - x0 >= 4 ? 1 : 0;
    fprintf(f,
            "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"%s\" stroke=\"" COLOUR_STROKE
            "\" stroke-width=\"0.8\"><title>",
            r2(x0 + gap / 2), r2(y), r2(x1 - x0 - gap), r2(h), fill);
    tool_xml_text(f, tip);
    fputs("</title></rect>\n", f);
}

static void block_tip(char *buf, size_t len, unsigned long pfn, unsigned int order,
                      const char *what)
{
    char size[32];
    tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << order);
    if (order)
        snprintf(buf, len, "pfn %lu-%lu, order %u, %s: %s", pfn, pfn + (1UL << order) - 1, order,
                 size, what);
    else
        snprintf(buf, len, "pfn %lu, order 0, %s: %s", pfn, size, what);
}

/* One node of the tree and, if it is split, the edges to its halves and
 * their subtrees. */
static void tree_node(FILE *f, const struct tree_layout *l, unsigned long pfn, unsigned int order,
                      unsigned int root_order)
{
    const struct kmem_block *b;
    enum node_kind kind = node_kind(l->zb, pfn, order, &b);
    if (kind == NODE_HOLE)
        return;
    double x0 = tree_x(l, pfn), x1 = tree_x(l, pfn + (1UL << order)), y = tree_y(l, order);
    const char *fill = kind == NODE_SPLIT      ? COLOUR_SPLIT
                       : kind == NODE_RESERVED ? COLOUR_RESERVED
                                               : state_colour(b->state);
    const char *what = kind == NODE_SPLIT      ? "split into two buddies"
                       : kind == NODE_RESERVED ? "reserved"
                                               : tool_block_state_name(b->state);
    char tip[160], name[8] = "";
    block_tip(tip, sizeof tip, pfn, order, what);
    block_box(f, x0, x1, y, TREE_BOX, fill, tip);
    if (l->names)
        half_name(name, sizeof name, root_order, pfn, order);
    box_label(f, (x0 + x1) / 2, y + TREE_BOX / 2 + 4, x1 - x0, name,
              (unsigned long long)PAGE_SIZE << order);
    if (kind != NODE_SPLIT || order == 0)
        return;
    unsigned long half = 1UL << (order - 1);
    double cy = tree_y(l, order - 1);
    for (int i = 0; i < 2; i++) {
        unsigned long cp = pfn + (unsigned long)i * half;
        const struct kmem_block *cb;
        if (node_kind(l->zb, cp, order - 1, &cb) == NODE_HOLE)
            continue;
        fprintf(f,
                "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"" COLOUR_STROKE
                "\" stroke-width=\"0.8\"/>\n",
                r2((x0 + x1) / 2), r2(y + TREE_BOX), r2((tree_x(l, cp) + tree_x(l, cp + half)) / 2),
                r2(cy));
        tree_node(f, l, cp, order - 1, root_order);
    }
}

/* The page map under the tree: every block side by side, a run of reserved
 * frames as one box, offsets from the zone's start underneath. */
static void page_map_strip(FILE *f, const struct tree_layout *l, double y)
{
    text_at(f, BUDDY_ML, y - 5, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
            "the blocks, as they lie in the zone's pages:");
    double last_tick = -1e9;
    for (unsigned long i = 0; i < l->zb->n; i++) {
        const struct kmem_block *b = &l->zb->b[i];
        unsigned long end = b->pfn + (1UL << b->order);
        if (b->state == KMEM_BLOCK_RESERVED) {
            while (i + 1 < l->zb->n && l->zb->b[i + 1].state == KMEM_BLOCK_RESERVED &&
                   l->zb->b[i + 1].pfn == end) {
                i++;
                end++;
            }
        }
        double x0 = tree_x(l, b->pfn), x1 = tree_x(l, end);
        char tip[160], name[8] = "";
        if (b->state == KMEM_BLOCK_RESERVED)
            snprintf(tip, sizeof tip, "pfn %lu-%lu: %lu reserved frame%s", b->pfn, end - 1,
                     end - b->pfn, end - b->pfn == 1 ? "" : "s");
        else
            block_tip(tip, sizeof tip, b->pfn, b->order, tool_block_state_name(b->state));
        block_box(f, x0, x1, y, STRIP_H, state_colour(b->state), tip);
        if (l->names && b->state != KMEM_BLOCK_RESERVED)
            half_name(name, sizeof name, root_order_of(l->roots, b->pfn), b->pfn, b->order);
        box_label(f, (x0 + x1) / 2, y + STRIP_H / 2 + 4, x1 - x0, name,
                  (unsigned long long)(end - b->pfn) * PAGE_SIZE);
        if (x0 - last_tick >= 48) {
            char off[32];
            size_str(off, sizeof off, (unsigned long long)(b->pfn - l->start) * PAGE_SIZE);
            text_at(f, x0, y + STRIP_H + 12, "font-size=\"9\" fill=\"" COLOUR_FAINT "\"", "%s",
                    off);
            last_tick = x0;
        }
    }
}

/* --- buddy: page-map rows (large zones) ---------------------------------- */

enum {
    ROWS_MAX = 512, /* more top-order blocks than this: rows of several */
    ROWS_LABEL_W = 84,
    ROWS_W = 1024,  /* pixels per row */
    RUN_MIN_PX = 4, /* blocks narrower than this are merged into runs */
};

/* Colour classes of the rows: the block states, then mixed runs by their
 * share of free pages (quarters). */
enum row_class {
    RC_FREE,
    RC_PCP,
    RC_ALLOCATED,
    RC_RESERVED,
    RC_MIXED0,
    RC_COUNT = RC_MIXED0 + 4,
};

static enum row_class class_of_state(enum kmem_block_state state)
{
    switch (state) {
    case KMEM_BLOCK_FREE:
        return RC_FREE;
    case KMEM_BLOCK_PCP:
        return RC_PCP;
    case KMEM_BLOCK_ALLOCATED:
        return RC_ALLOCATED;
    case KMEM_BLOCK_RESERVED:
        break;
    }
    return RC_RESERVED;
}

/* The colour of a class; mixed runs blend allocated into free. */
static void class_colour(enum row_class c, char *buf, size_t len)
{
    static const char *const base[] = {COLOUR_FREE, COLOUR_PCP, COLOUR_ALLOCATED, COLOUR_RESERVED};
    if (c < RC_MIXED0) {
        snprintf(buf, len, "%s", base[c]);
        return;
    }
    /* share of free pages: the middle of the class's quarter */
    double t = ((double)(c - RC_MIXED0) + 0.5) / 4.0;
    const unsigned int a[3] = {0xe9, 0x85, 0x7c}, fr[3] = {0x8f, 0xd1, 0x8f};
    unsigned int rgb[3];
    for (int i = 0; i < 3; i++)
        rgb[i] = (unsigned int)lround((1 - t) * a[i] + t * fr[i]);
    /* darker, so that a run of small blocks never looks like one block */
    snprintf(buf, len, "#%02x%02x%02x", (rgb[0] * 7 / 8) & 0xffu, (rgb[1] * 7 / 8) & 0xffu,
             (rgb[2] * 7 / 8) & 0xffu);
}

/* Pages of a run of small blocks, by state. */
struct run {
    unsigned long start, end;
    unsigned long pages[4]; /* by class RC_FREE..RC_RESERVED */
};

/* Rectangles of one row, same-class neighbours joined; one sbuf of path
 * pieces per class. */
struct row_painter {
    struct sbuf paths[RC_COUNT];
    double y, h;
    bool open, open_solid;
    enum row_class cls;
    double x0, x1;
};

static void painter_flush(struct row_painter *p)
{
    if (!p->open)
        return;
    double w = p->x1 - p->x0;
    /* A gap after a whole block shows where blocks meet. */
    if (p->open_solid && w >= 6)
        w -= 1;
    sbuf_rect(&p->paths[p->cls], p->x0, p->y, w, p->h);
    p->open = false;
}

/* Paint [x0, x1) in class c; solid: a whole block (never joined). */
static void painter_paint(struct row_painter *p, enum row_class c, double x0, double x1, bool solid)
{
    if (p->open && !solid && !p->open_solid && p->cls == c && fabs(p->x1 - x0) < 1e-6) {
        p->x1 = x1;
        return;
    }
    painter_flush(p);
    p->open = true;
    p->open_solid = solid;
    p->cls = c;
    p->x0 = x0;
    p->x1 = x1;
}

struct rows_layout {
    unsigned long base, row_pages, nrows;
    double px_per_page, top, row_h, row_gap;
};

static double rows_x(const struct rows_layout *l, unsigned long pfn)
{
    unsigned long in_row = (pfn - l->base) % l->row_pages;
    return ROWS_LABEL_W + (double)in_row * l->px_per_page;
}

static double rows_y(const struct rows_layout *l, unsigned long row)
{
    return l->top + (double)row * (l->row_h + l->row_gap);
}

static void run_paint(struct row_painter *p, const struct rows_layout *l, struct run *r)
{
    if (r->end == r->start)
        return;
    unsigned long total = 0, kinds = 0;
    enum row_class only = RC_FREE;
    for (int c = 0; c < 4; c++) {
        total += r->pages[c];
        if (r->pages[c]) {
            kinds++;
            only = (enum row_class)c;
        }
    }
    enum row_class c = only;
    if (kinds > 1) {
        double share = (double)(r->pages[RC_FREE] + r->pages[RC_PCP]) / (double)total;
        int q = (int)(share * 4);
        c = (enum row_class)(RC_MIXED0 + (q > 3 ? 3 : q));
    }
    double x0 = rows_x(l, r->start);
    painter_paint(p, c, x0, x0 + (double)(r->end - r->start) * l->px_per_page, false);
    memset(r, 0, sizeof *r);
}

/* Paint every block of the zone into the rows. */
static bool rows_paint(struct row_painter *p, const struct rows_layout *l,
                       const struct zone_blocks *zb)
{
    struct run run = {0, 0, {0}};
    unsigned long row = (unsigned long)-1;
    for (unsigned long i = 0; i < zb->n; i++) {
        const struct kmem_block *b = &zb->b[i];
        unsigned long pages = 1UL << b->order;
        unsigned long brow = (b->pfn - l->base) / l->row_pages;
        if (brow != row) {
            run_paint(p, l, &run);
            painter_flush(p);
            row = brow;
            p->y = rows_y(l, row);
        }
        double w = (double)pages * l->px_per_page;
        if (w >= RUN_MIN_PX) {
            run_paint(p, l, &run);
            double x0 = rows_x(l, b->pfn);
            painter_paint(p, class_of_state(b->state), x0, x0 + w, true);
            continue;
        }
        if (run.end != run.start && run.end != b->pfn)
            run_paint(p, l, &run); /* a hole: runs never span one */
        if (run.end == run.start)
            run.start = run.end = b->pfn;
        run.end += pages;
        run.pages[class_of_state(b->state)] += pages;
        if ((double)(run.end - run.start) * l->px_per_page >= RUN_MIN_PX)
            run_paint(p, l, &run);
    }
    run_paint(p, l, &run);
    painter_flush(p);
    for (int c = 0; c < RC_COUNT; c++)
        if (p->paths[c].failed)
            return false;
    return true;
}

/* --- buddy: the picture --------------------------------------------------- */

static void buddy_title(FILE *f, const struct snapshot *s, const struct kmem_zone_info *z)
{
    char size[32];
    unsigned long span = z->end_pfn - z->start_pfn;
    unsigned long free_pages = z->free_pages + z->pcp_pages;
    tool_size_str(size, sizeof size, (unsigned long long)span * PAGE_SIZE);
    text_at(f, BUDDY_ML, 26, "font-size=\"17\" font-weight=\"bold\"",
            "Zone %s: %s (%lu pages), %lu free (%.0f%%)", z->name, size, span, free_pages,
            z->managed_pages ? 100.0 * (double)free_pages / (double)z->managed_pages : 0.0);
    text_at(f, BUDDY_ML, 46, "font-size=\"12\" fill=\"" COLOUR_FAINT "\"", "step %lu: %s", s->step,
            s->label[0] ? s->label : "(no label)");
}

/* Free memory by block order (the zone's buddyinfo line as bars). */
static void free_histogram(FILE *f, const struct kmem_zone_info *z, double x, double y, double w)
{
    unsigned long total = 0, most = 0;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        unsigned long pages = z->nr_free[o] << o;
        total += pages;
        if (pages > most)
            most = pages;
    }
    text_at(f, x, y, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
            "free pages by block size (buddyinfo: free blocks of each order)");
    double col = w / NR_PAGE_ORDERS, bar_h = 50, base = y + 14 + bar_h;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        unsigned long pages = z->nr_free[o] << o;
        double h = most ? bar_h * (double)pages / (double)most : 0;
        double cx = x + col * (o + 0.5);
        if (h > 0)
            rect_at(f, cx - col * 0.3, base - h, col * 0.6, h, COLOUR_FREE, COLOUR_STROKE);
        text_at(f, cx, base - h - 3, "text-anchor=\"middle\" font-size=\"10\"", "%lu",
                z->nr_free[o]);
        char size[32];
        tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << o);
        text_at(f, cx, base + 12, "text-anchor=\"middle\" font-size=\"10\"", "%s", size);
        if (total && pages)
            text_at(f, cx, base + 24,
                    "text-anchor=\"middle\" font-size=\"9\" fill=\"" COLOUR_FAINT "\"", "%.0f%%",
                    100.0 * (double)pages / (double)total);
    }
}

static void buddy_legend(FILE *f, double y, bool tree)
{
    double x = BUDDY_ML;
    x = legend_item(f, x, y, COLOUR_FREE, "free");
    x = legend_item(f, x, y, COLOUR_PCP, "free, per-CPU cached");
    x = legend_item(f, x, y, COLOUR_ALLOCATED, "allocated");
    x = legend_item(f, x, y, COLOUR_RESERVED, "reserved");
    if (tree) {
        legend_item(f, x, y, COLOUR_SPLIT, "split (parent of smaller blocks)");
        return;
    }
    char mostly_alloc[16], mostly_free[16];
    class_colour(RC_MIXED0, mostly_alloc, sizeof mostly_alloc);
    class_colour((enum row_class)(RC_MIXED0 + 3), mostly_free, sizeof mostly_free);
    x = legend_item(f, x, y, mostly_alloc, "small blocks, mostly allocated");
    legend_item(f, x, y, mostly_free, "small blocks, mostly free");
}

static int buddy_tree(FILE *f, const struct snapshot *s, const struct kmem_zone_info *z,
                      const struct zone_blocks *zb, bool standalone)
{
    struct roots roots;
    roots_of(z->start_pfn, z->end_pfn, &roots);
    struct tree_layout l = {zb,        &roots,    z->start_pfn,           z->end_pfn - z->start_pfn,
                            roots.top, roots.top, BUDDY_W - 2 * BUDDY_ML, roots.n == 1};
    for (unsigned int i = 0; i < roots.n; i++) {
        unsigned int d = deepest_leaf(zb, roots.pfn[i], roots.order[i]);
        if (d < l.deepest)
            l.deepest = d;
    }
    double strip_y = tree_y(&l, l.deepest) + TREE_BOX + 30;
    double hist_y = strip_y + STRIP_H + 36;
    double legend_y = hist_y + HIST_H;
    svg_begin(f, standalone, BUDDY_W, legend_y + 16, "buddy", NULL);
    buddy_title(f, s, z);
    for (unsigned int i = 0; i < roots.n; i++)
        tree_node(f, &l, roots.pfn[i], roots.order[i], roots.order[i]);
    page_map_strip(f, &l, strip_y);
    free_histogram(f, z, BUDDY_ML, hist_y, BUDDY_W - 2 * BUDDY_ML);
    buddy_legend(f, legend_y, true);
    return svg_end(f);
}

static void rows_layout_of(const struct kmem_zone_info *z, struct rows_layout *l)
{
    unsigned long top = 1UL << MAX_PAGE_ORDER;
    l->row_pages = top;
    /* Rows of several top-order blocks (a power of two of them, so that no
     * block straddles two rows) once there would be too many. */
    while ((z->end_pfn - (z->start_pfn & ~(l->row_pages - 1)) + l->row_pages - 1) / l->row_pages >
           ROWS_MAX)
        l->row_pages *= 2;
    l->base = z->start_pfn & ~(l->row_pages - 1);
    l->nrows = (z->end_pfn - l->base + l->row_pages - 1) / l->row_pages;
    l->px_per_page = (double)ROWS_W / (double)l->row_pages;
    l->top = 92;
    l->row_h = l->nrows <= 64 ? 12 : l->nrows <= 256 ? 6 : 4;
    l->row_gap = l->nrows <= 64 ? 2 : 1;
}

/* The row backgrounds (the zone's part of each row), the offsets within a
 * row on top, and a physical address every few rows on the left. */
static void rows_frame(FILE *f, const struct rows_layout *l, const struct kmem_zone_info *z)
{
    struct sbuf bg = {NULL, 0, 0, false};
    for (unsigned long r = 0; r < l->nrows; r++) {
        unsigned long rs = l->base + r * l->row_pages, re = rs + l->row_pages;
        unsigned long a = rs < z->start_pfn ? z->start_pfn : rs;
        unsigned long b = re > z->end_pfn ? z->end_pfn : re;
        sbuf_rect(&bg, rows_x(l, a), rows_y(l, r), (double)(b - a) * l->px_per_page, l->row_h);
    }
    path_out(f, &bg, COLOUR_ROW_BG, NULL);
    free(bg.p);
    char size[32];
    tool_size_str(size, sizeof size, (unsigned long long)l->row_pages * PAGE_SIZE);
    text_at(f, BUDDY_ML, 66, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
            "one row per %s of physical memory; blocks narrower than %d pixels are merged "
            "into shaded runs",
            size, RUN_MIN_PX);
    for (int q = 0; q <= 4; q++) {
        double x = ROWS_LABEL_W + ROWS_W * q / 4.0;
        size_str(size, sizeof size, (unsigned long long)l->row_pages * PAGE_SIZE * (unsigned)q / 4);
        text_at(f, x, l->top - 6,
                "text-anchor=\"middle\" font-size=\"9\" fill=\"" COLOUR_FAINT "\"", "+%s", size);
    }
    unsigned long every = (unsigned long)ceil(13.0 / (l->row_h + l->row_gap));
    for (unsigned long r = 0; r < l->nrows; r += every) {
        size_str(size, sizeof size, (unsigned long long)(l->base + r * l->row_pages) * PAGE_SIZE);
        text_at(f, ROWS_LABEL_W - 6, rows_y(l, r) + l->row_h, "text-anchor=\"end\" font-size=\"9\"",
                "%s", size);
    }
}

static int buddy_rows(FILE *f, const struct snapshot *s, const struct kmem_zone_info *z,
                      const struct zone_blocks *zb, bool standalone)
{
    struct rows_layout l;
    rows_layout_of(z, &l);
    struct row_painter p;
    memset(&p, 0, sizeof p);
    p.h = l.row_h;
    if (!rows_paint(&p, &l, zb)) {
        for (int c = 0; c < RC_COUNT; c++)
            free(p.paths[c].p);
        return -1;
    }
    double width = ROWS_LABEL_W + ROWS_W + BUDDY_ML;
    double hist_y = rows_y(&l, l.nrows) + 24;
    double legend_y = hist_y + HIST_H;
    svg_begin(f, standalone, width, legend_y + 16, "buddy", NULL);
    buddy_title(f, s, z);
    rows_frame(f, &l, z);
    for (int c = 0; c < RC_COUNT; c++) {
        char colour[16];
        class_colour((enum row_class)c, colour, sizeof colour);
        path_out(f, &p.paths[c], colour, NULL);
        free(p.paths[c].p);
    }
    free_histogram(f, z, BUDDY_ML, hist_y, width - 2 * BUDDY_ML);
    buddy_legend(f, legend_y, false);
    return svg_end(f);
}

int svg_buddy(FILE *f, const struct snapshot *s, enum kmem_zone_type zone, bool standalone)
{
    if ((unsigned)zone >= KMEM_NR_ZONES || !s->zones[zone].present) {
        svg_begin(f, standalone, 400, 60, "buddy", NULL);
        text_at(f, 20, 34, "", "zone %d is not present", (int)zone);
        return svg_end(f);
    }
    const struct kmem_zone_info *z = &s->zones[zone].info;
    struct zone_blocks zb = zone_blocks_of(s, zone);
    if (z->end_pfn - z->start_pfn <= TREE_MAX_PAGES)
        return buddy_tree(f, s, z, &zb, standalone);
    return buddy_rows(f, s, z, &zb, standalone);
}

/* --- slabs ---------------------------------------------------------------- */

enum {
    SLABS_W = 1120,
    SLABS_MAX_DRAWN = 32, /* per cache; the rest is a note */
    OBJ_X = 20,
    CACHE_X = 190,
    CACHE_W = 210,
    CACHE_H = 104,
    SLAB_X = 450,
    SLAB_W = 150,
    SLAB_BOX_H = 54,
    SLAB_LABEL_H = 16,
    SLAB_GAP = 12,
    SLABS_PER_ROW = 4,
    SLABS_TOP = 84,
};

static bool cache_drawn_by_default(const struct snap_cache *c)
{
    return !c->internal && c->info.slabs > 0;
}

static unsigned long slabs_drawn(const struct snap_cache *c)
{
    return c->nslabs < SLABS_MAX_DRAWN ? c->nslabs : SLABS_MAX_DRAWN;
}

/* The height of a cache's band: its box, or its rows of slabs. */
static double cache_band_h(const struct snap_cache *c)
{
    unsigned long rows = (slabs_drawn(c) + SLABS_PER_ROW - 1) / SLABS_PER_ROW;
    double slabs_h = (double)rows * (SLAB_LABEL_H + SLAB_BOX_H + SLAB_GAP);
    if (c->nslabs > SLABS_MAX_DRAWN || (c->info.slabs && !c->nslabs))
        slabs_h += 18; /* the note */
    return (slabs_h > CACHE_H ? slabs_h : CACHE_H) + 26;
}

static const char *slab_state(const struct snap_slab *slab)
{
    if (slab->inuse == 0)
        return "empty";
    return slab->inuse >= slab->objects ? "full" : "partial";
}

static const char *slab_fill(const struct snap_slab *slab)
{
    if (slab->inuse == 0)
        return COLOUR_SLAB_EMPTY;
    return slab->inuse >= slab->objects ? COLOUR_SLAB_FULL : COLOUR_SLAB_PARTIAL;
}

/* Is object i of the slab handed out? From the snapshot's map, or, when
 * the snapshot has none, the first inuse objects. */
static bool object_used(const struct snap_slab *slab, unsigned int i)
{
    return slab->used ? slab->used[i] != 0 : i < slab->inuse;
}

/* The grid of n square cells in iw x ih with the largest cells: their size,
 * and its columns and rows. */
static double cell_grid(unsigned int n, double iw, double ih, unsigned int *cols,
                        unsigned int *rows)
{
    double best = 0;
    *cols = *rows = 1;
    for (unsigned int c = 1; c <= n; c++) {
        unsigned int r = (n + c - 1) / c;
        double cell = fmin(iw / c, ih / r);
        if (cell > best) {
            best = cell;
            *cols = c;
            *rows = r;
        }
        if (iw / c < best)
            break; /* more columns only make cells narrower */
    }
    return best;
}

/* A slab: its label, its box, a cell per object (one path per colour). */
static int slab_box(FILE *f, const struct snap_slab *slab, double x, double y)
{
    text_at(f, x, y + 11, "font-size=\"10\"", "%s %u/%u, %u page%s", slab_state(slab), slab->inuse,
            slab->objects, slab->pages, slab->pages == 1 ? "" : "s");
    double by = y + SLAB_LABEL_H;
    fprintf(f,
            "<rect x=\"%g\" y=\"%g\" width=\"%d\" height=\"%d\" rx=\"3\" fill=\"%s\" "
            "stroke=\"" COLOUR_STROKE "\" stroke-width=\"0.8\"><title>slab at 0x%lx: %u of %u "
            "objects in use, %u page%s</title></rect>\n",
            r2(x), r2(by), SLAB_W, SLAB_BOX_H, slab_fill(slab), slab->addr, slab->inuse,
            slab->objects, slab->pages, slab->pages == 1 ? "" : "s");
    unsigned int n = slab->objects;
    if (!n)
        return 0;
    double iw = SLAB_W - 8, ih = SLAB_BOX_H - 8;
    unsigned int cols, rows;
    double cell = cell_grid(n, iw, ih, &cols, &rows);
    double gap = cell >= 8 ? 1 : 0; /* smaller cells: no gap, runs joined */
    double ox = x + 4 + (iw - cell * cols) / 2, oy = by + 4 + (ih - cell * rows) / 2;
    struct sbuf used = {NULL, 0, 0, false}, unused = {NULL, 0, 0, false};
    /* Cells too small for a gap between them: neighbours in a row that are
     * alike become one rectangle (a slab of 498 objects stays small). */
    for (unsigned int i = 0; i < n;) {
        bool u = object_used(slab, i);
        unsigned int run = 1;
        while (!gap && i + run < n && (i + run) % cols != 0 && object_used(slab, i + run) == u)
            run++;
        double cx = ox + (i % cols) * cell, cy = oy + (i / cols) * cell;
        sbuf_rect(u ? &used : &unused, cx + gap / 2, cy + gap / 2, cell * run - gap, cell - gap);
        i += run;
    }
    bool failed = used.failed || unused.failed;
    if (!failed) {
        path_out(f, &used, COLOUR_OBJ_USED, gap ? COLOUR_STROKE : NULL);
        path_out(f, &unused, COLOUR_OBJ_FREE, gap ? COLOUR_STROKE : NULL);
    }
    free(used.p);
    free(unused.p);
    return failed ? -1 : 0;
}

/* The objects of the cache's kind (left): a few icons for those in use. */
static void cache_objects(FILE *f, const struct snap_cache *c, double y)
{
    unsigned int bytes = c->info.object_size;
    const char *bold = "font-size=\"12\" font-weight=\"bold\"";
    if (bytes % 1024 == 0)
        text_at(f, OBJ_X, y + 16, bold, "%u KB objects", bytes / 1024); /* the book's "3 KB" */
    else
        text_at(f, OBJ_X, y + 16, bold, "%u-byte objects", bytes);
    unsigned long shown = c->info.active_objs < 6 ? c->info.active_objs : 6;
    for (unsigned long i = 0; i < shown; i++)
        rect_at(f, OBJ_X + (double)(i % 3) * 26, y + 28 + (double)(i / 3) * 24, 20, 18,
                COLOUR_OBJ_USED, COLOUR_STROKE);
    text_at(f, OBJ_X, y + 90, "font-size=\"10\" fill=\"" COLOUR_FAINT "\"", "%lu in use%s",
            c->info.active_objs, c->info.active_objs > shown ? " (some shown)" : "");
    /* An arrow drawn, not a <marker>: an id would repeat in the HTML report,
     * where the first one may sit in a hidden panel and not render. */
    double ay = r2(y + CACHE_H / 2.0);
    fprintf(f,
            "<path d=\"M%d %gH%d\" stroke=\"" COLOUR_STROKE "\"/>\n"
            "<path d=\"M%d %gl-8 -4v8z\" fill=\"" COLOUR_STROKE "\"/>\n",
            OBJ_X + 86, ay, CACHE_X - 8, CACHE_X - 2, ay);
}

/* The cache (middle): name, sizes, counts. */
static void cache_box(FILE *f, const struct snap_cache *c, double y)
{
    const struct kmem_cache_info *in = &c->info;
    fprintf(f,
            "<rect x=\"%d\" y=\"%g\" width=\"%d\" height=\"%d\" rx=\"6\" fill=\"" COLOUR_CACHE
            "\" stroke=\"" COLOUR_STROKE "\"/>\n",
            CACHE_X, r2(y), CACHE_W, CACHE_H);
    double x = CACHE_X + 10;
    text_at(f, x, y + 20, "font-size=\"13\" font-weight=\"bold\"", "%s", c->name);
    text_at(f, x, y + 38, "font-size=\"11\"", "object %u bytes (slot %u)", in->object_size,
            in->size);
    text_at(f, x, y + 54, "font-size=\"11\"", "%u per slab of %u page%s", in->objs_per_slab,
            in->pages_per_slab, in->pages_per_slab == 1 ? "" : "s");
    text_at(f, x, y + 70, "font-size=\"11\"", "%lu of %lu objects in use", in->active_objs,
            in->total_objs);
    text_at(f, x, y + 86, "font-size=\"11\"", "slabs: %lu full, %lu partial, %lu empty",
            in->full_slabs, in->partial_slabs, in->empty_slabs);
    if (in->magazine_size)
        text_at(f, x, y + 100, "font-size=\"9\" fill=\"" COLOUR_FAINT "\"",
                "magazines of %u rounds (counted as in use)", in->magazine_size);
}

static int cache_band(FILE *f, const struct snap_cache *c, double y)
{
    cache_objects(f, c, y);
    cache_box(f, c, y);
    unsigned long n = slabs_drawn(c);
    for (unsigned long i = 0; i < n; i++) {
        double sx = SLAB_X + (double)(i % SLABS_PER_ROW) * (SLAB_W + SLAB_GAP);
        double sy = y + (double)(i / SLABS_PER_ROW) * (SLAB_LABEL_H + SLAB_BOX_H + SLAB_GAP);
        double mid = sy + SLAB_LABEL_H + SLAB_BOX_H / 2.0;
        /* The cache holds a list of slabs: a line to the first of each
         * row, short links between the slabs of a row. */
        if (i % SLABS_PER_ROW == 0)
            fprintf(f,
                    "<path d=\"M%d %gH%dV%gH%g\" fill=\"none\" stroke=\"#8a8a8a\" "
                    "stroke-width=\"0.8\"/>\n",
                    CACHE_X + CACHE_W, r2(y + CACHE_H / 2.0), SLAB_X - 20, r2(mid), r2(sx));
        else
            fprintf(f,
                    "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#8a8a8a\" "
                    "stroke-width=\"0.8\"/>\n",
                    r2(sx - SLAB_GAP), r2(mid), r2(sx), r2(mid));
        if (slab_box(f, &c->slabs[i], sx, sy) != 0)
            return -1;
    }
    double note_y =
        y +
        (double)((n + SLABS_PER_ROW - 1) / SLABS_PER_ROW) * (SLAB_LABEL_H + SLAB_BOX_H + SLAB_GAP) +
        12;
    if (c->nslabs > n)
        text_at(f, SLAB_X, note_y, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
                "+%lu more slabs (%lu in all: %lu full, %lu partial, %lu empty)", c->nslabs - n,
                c->nslabs, c->info.full_slabs, c->info.partial_slabs, c->info.empty_slabs);
    else if (c->info.slabs && !c->nslabs)
        text_at(f, SLAB_X, note_y, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
                "%lu slabs (this snapshot did not record them one by one)", c->info.slabs);
    return 0;
}

static void slabs_legend(FILE *f, double y)
{
    double x = OBJ_X;
    x = legend_item(f, x, y, COLOUR_OBJ_USED, "object allocated");
    x = legend_item(f, x, y, COLOUR_OBJ_FREE, "object free");
    x = legend_item(f, x, y, COLOUR_SLAB_FULL, "full slab");
    x = legend_item(f, x, y, COLOUR_SLAB_PARTIAL, "partial slab");
    legend_item(f, x, y, COLOUR_SLAB_EMPTY, "empty slab");
}

/* The caches to draw: those named (in that order), or by default. */
static unsigned long caches_chosen(const struct snapshot *s, const char *const *names,
                                   const struct snap_cache **out, unsigned long cap)
{
    unsigned long n = 0;
    if (names) {
        for (; *names && n < cap; names++) {
            const struct snap_cache *c = snapshot_cache(s, *names);
            if (c)
                out[n++] = c;
        }
        return n;
    }
    for (unsigned long i = 0; i < s->ncaches && n < cap; i++)
        if (cache_drawn_by_default(&s->caches[i]))
            out[n++] = &s->caches[i];
    return n;
}

int svg_slabs(FILE *f, const struct snapshot *s, const char *const *caches, bool standalone)
{
    unsigned long cap = s->ncaches ? s->ncaches : 1;
    const struct snap_cache **chosen = malloc(cap * sizeof *chosen);
    if (!chosen)
        return -1;
    unsigned long n = caches_chosen(s, caches, chosen, cap);
    double h = SLABS_TOP;
    for (unsigned long i = 0; i < n; i++)
        h += cache_band_h(chosen[i]);
    if (!n)
        h += 30;
    svg_begin(f, standalone, SLABS_W, h + 30, "slabs", NULL);
    text_at(f, OBJ_X, 26, "font-size=\"17\" font-weight=\"bold\"", "Slab caches");
    text_at(f, OBJ_X, 46, "font-size=\"12\" fill=\"" COLOUR_FAINT "\"", "step %lu: %s", s->step,
            s->label[0] ? s->label : "(no label)");
    const char *head = "font-size=\"12\" font-weight=\"bold\" fill=\"" COLOUR_FAINT "\"";
    text_at(f, OBJ_X, 70, head, "kernel objects");
    text_at(f, CACHE_X, 70, head, "caches");
    text_at(f, SLAB_X, 70, head, "slabs (each a block of physically contiguous pages)");
    double y = SLABS_TOP;
    int rc = 0;
    for (unsigned long i = 0; i < n && rc == 0; i++) {
        rc = cache_band(f, chosen[i], y);
        y += cache_band_h(chosen[i]);
    }
    if (!n) {
        text_at(f, OBJ_X, y + 16, "", "no cache holds a slab (kmem's own caches are not drawn)");
        y += 30;
    }
    free(chosen);
    slabs_legend(f, y + 12);
    int end = svg_end(f);
    return rc ? rc : end;
}

/* --- frag ------------------------------------------------------------------ */

enum {
    FRAG_W = 960,
    FRAG_H = 380,
    FRAG_L = 64, /* plot area */
    FRAG_R = 700,
    FRAG_T = 56,
    FRAG_B = 320,
    FRAG_SERIES_MAX = 5,
};

struct series {
    const char *colour;
    const char *dash; /* NULL: solid */
    char name[80];
    double *v; /* per snapshot; NAN: no value */
};

/* The zone whose indexes are drawn: the largest in the last snapshot. */
static int main_zone(const struct snapshot *s)
{
    int best = -1;
    for (int z = 0; z < KMEM_NR_ZONES; z++)
        if (s->zones[z].present &&
            (best < 0 || s->zones[z].info.managed_pages > s->zones[best].info.managed_pages))
            best = z;
    return best;
}

/* The largest order a block of the zone can have. */
static unsigned int zone_top_order(const struct kmem_zone_info *z)
{
    unsigned int o = 0;
    while (o < MAX_PAGE_ORDER && (2UL << o) <= z->managed_pages)
        o++;
    return o;
}

static double free_share(const struct snapshot *s)
{
    unsigned long free_pages = 0, managed = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        if (!s->zones[z].present)
            continue;
        free_pages += s->zones[z].info.free_pages + s->zones[z].info.pcp_pages;
        managed += s->zones[z].info.managed_pages;
    }
    return managed ? (double)free_pages / (double)managed : NAN;
}

/* Internal fragmentation of the kmalloc caches together; NAN when they
 * hold no slab. */
static double kmalloc_internal(const struct snapshot *s)
{
    unsigned long long slab_bytes = 0, used = 0;
    for (unsigned long i = 0; i < s->ncaches; i++) {
        const struct snap_cache *c = &s->caches[i];
        if (strncmp(c->name, "kmalloc-", 8) != 0)
            continue;
        unsigned long long bytes =
            (unsigned long long)c->info.slabs * c->info.pages_per_slab * PAGE_SIZE;
        slab_bytes += bytes;
        used += (unsigned long long)((1.0 -
                                      frag_internal(&c->info, c->requested_bytes, c->usage_known)) *
                                     (double)bytes);
    }
    return slab_bytes ? 1.0 - (double)used / (double)slab_bytes : NAN;
}

/* The steps' range, for the x axis. */
static void step_range(const struct timeline *t, double *lo, double *hi)
{
    *lo = *hi = 0;
    for (unsigned long i = 0; i < t->n; i++) {
        double st = (double)t->snaps[i]->step;
        if (i == 0 || st < *lo)
            *lo = st;
        if (i == 0 || st > *hi)
            *hi = st;
    }
}

static double frag_x(double step, double lo, double hi)
{
    if (hi <= lo)
        return (FRAG_L + FRAG_R) / 2.0;
    return FRAG_L + (step - lo) / (hi - lo) * (FRAG_R - FRAG_L);
}

static double frag_y(double v)
{
    return FRAG_B - v * (FRAG_B - FRAG_T);
}

/* A tick step of 1, 2 or 5 times a power of ten, giving at most 8 ticks. */
static double nice_step(double span)
{
    double unit = 1;
    while (span / unit > 8) {
        if (span / (unit * 2) <= 8)
            return unit * 2;
        if (span / (unit * 5) <= 8)
            return unit * 5;
        unit *= 10;
    }
    return unit;
}

static void frag_axes(FILE *f, double lo, double hi)
{
    for (int q = 0; q <= 4; q++) {
        double y = frag_y(q / 4.0);
        fprintf(f,
                "<line x1=\"%d\" y1=\"%g\" x2=\"%d\" y2=\"%g\" stroke=\"#dddddd\"/>\n"
                "<text x=\"%d\" y=\"%g\" text-anchor=\"end\" font-size=\"10\">%d%%</text>\n",
                FRAG_L, r2(y), FRAG_R, r2(y), FRAG_L - 6, r2(y + 3), q * 25);
    }
    fprintf(f, "<path d=\"M%d %dV%dH%d\" fill=\"none\" stroke=\"" COLOUR_STROKE "\"/>\n", FRAG_L,
            FRAG_T, FRAG_B, FRAG_R);
    double step = nice_step(hi - lo);
    for (double v = ceil(lo / step) * step; v <= hi + 1e-9; v += step) {
        double x = frag_x(v, lo, hi);
        fprintf(f,
                "<line x1=\"%g\" y1=\"%d\" x2=\"%g\" y2=\"%d\" stroke=\"" COLOUR_STROKE "\"/>\n"
                "<text x=\"%g\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%.0f</text>\n",
                r2(x), FRAG_B, r2(x), FRAG_B + 5, r2(x), FRAG_B + 17, v);
        if (hi <= lo)
            break;
    }
    text_at(f, (FRAG_L + FRAG_R) / 2.0, FRAG_B + 36, "text-anchor=\"middle\" font-size=\"11\"",
            "step (operations done)");
}

/* One series as polylines (broken where it has no value), with dots when
 * there are few points. */
static void frag_line(FILE *f, const struct timeline *t, const struct series *sr, double lo,
                      double hi)
{
    bool open = false;
    for (unsigned long i = 0; i < t->n; i++) {
        if (isnan(sr->v[i])) {
            if (open)
                fputs("\"/>\n", f);
            open = false;
            continue;
        }
        if (!open) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"",
                    sr->colour, sr->dash ? " stroke-dasharray=\"" : "", sr->dash ? sr->dash : "",
                    sr->dash ? "\"" : "");
            open = true;
        } else {
            fputc(' ', f);
        }
        fprintf(f, "%g,%g", r2(frag_x((double)t->snaps[i]->step, lo, hi)), r2(frag_y(sr->v[i])));
    }
    if (open)
        fputs("\"/>\n", f);
    if (t->n > 60)
        return;
    for (unsigned long i = 0; i < t->n; i++)
        if (!isnan(sr->v[i]))
            fprintf(f, "<circle cx=\"%g\" cy=\"%g\" r=\"3\" fill=\"%s\"/>\n",
                    r2(frag_x((double)t->snaps[i]->step, lo, hi)), r2(frag_y(sr->v[i])),
                    sr->colour);
}

/* The series: free pages, the unusable index at three orders of the main
 * zone, the kmalloc caches' internal fragmentation. */
static int frag_series(const struct timeline *t, struct series *sr)
{
    static const char *const colours[] = {"#1f77b4", "#e3b505", "#f28e2b", "#d62728", "#7b4fa0"};
    int zone = main_zone(t->snaps[t->n - 1]);
    unsigned int orders[3] = {0, 3, 9}, norders = 0;
    if (zone >= 0) {
        unsigned int top = zone_top_order(&t->snaps[t->n - 1]->zones[zone].info);
        orders[0] = 0;
        norders = 1;
        if (top >= 3)
            orders[norders++] = 3;
        if (top > 3 || (top > 0 && top < 3))
            orders[norders++] = top < 9 ? top : 9;
    }
    int ns = 0;
    sr[ns].colour = colours[0];
    snprintf(sr[ns++].name, sizeof sr[0].name, "free pages / managed");
    for (unsigned int k = 0; k < norders; k++) {
        sr[ns].colour = colours[1 + k];
        snprintf(sr[ns++].name, sizeof sr[0].name, "unusable index, order %u (%s)", orders[k],
                 t->snaps[t->n - 1]->zones[zone].info.name);
    }
    sr[ns].colour = colours[4];
    sr[ns].dash = "6 4";
    snprintf(sr[ns++].name, sizeof sr[0].name, "kmalloc internal fragmentation");
    for (int k = 0; k < ns; k++) {
        sr[k].v = malloc(t->n * sizeof *sr[k].v);
        if (!sr[k].v)
            return -1;
    }
    for (unsigned long i = 0; i < t->n; i++) {
        const struct snapshot *s = t->snaps[i];
        sr[0].v[i] = free_share(s);
        for (unsigned int k = 0; k < norders; k++)
            sr[1 + k].v[i] = s->zones[zone].present ? s->zones[zone].frag.unusable[orders[k]] : NAN;
        sr[ns - 1].v[i] = kmalloc_internal(s);
    }
    return ns;
}

int svg_frag(FILE *f, const struct timeline *t, bool standalone)
{
    if (t->n == 0) {
        svg_begin(f, standalone, 400, 60, "frag", NULL);
        text_at(f, 20, 34, "", "no snapshots");
        return svg_end(f);
    }
    struct series sr[FRAG_SERIES_MAX];
    memset(sr, 0, sizeof sr);
    int ns = frag_series(t, sr);
    double lo, hi;
    step_range(t, &lo, &hi);
    char extra[200];
    snprintf(extra, sizeof extra,
             "data-x0=\"%d\" data-x1=\"%d\" data-step0=\"%.0f\" data-step1=\"%.0f\"", FRAG_L,
             FRAG_R, lo, hi);
    svg_begin(f, standalone, FRAG_W, FRAG_H, "frag", extra);
    text_at(f, FRAG_L, 26, "font-size=\"17\" font-weight=\"bold\"", "Fragmentation over time");
    text_at(f, FRAG_L, 44, "font-size=\"11\" fill=\"" COLOUR_FAINT "\"",
            "%lu snapshot%s; unusable index: share of free memory in blocks too small for the "
            "order",
            t->n, t->n == 1 ? "" : "s");
    frag_axes(f, lo, hi);
    for (int k = 0; k < ns; k++)
        frag_line(f, t, &sr[k], lo, hi);
    /* The HTML report's script moves this to the current step. */
    fprintf(f,
            "<line class=\"kmem-frag-marker\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
            "stroke=\"#333333\" stroke-width=\"1.5\" stroke-dasharray=\"3 3\" "
            "visibility=\"hidden\"/>\n",
            FRAG_L, FRAG_T - 6, FRAG_L, FRAG_B);
    for (int k = 0; k < ns; k++) {
        double y = FRAG_T + 8 + k * 22.0;
        fprintf(f,
                "<line x1=\"%d\" y1=\"%g\" x2=\"%d\" y2=\"%g\" stroke=\"%s\" "
                "stroke-width=\"2.5\"%s%s%s/>\n",
                FRAG_R + 20, r2(y), FRAG_R + 44, r2(y), sr[k].colour,
                sr[k].dash ? " stroke-dasharray=\"" : "", sr[k].dash ? sr[k].dash : "",
                sr[k].dash ? "\"" : "");
        bool any = false;
        for (unsigned long i = 0; i < t->n && !any; i++)
            any = !isnan(sr[k].v[i]);
        text_at(f, FRAG_R + 50, y + 4, "font-size=\"10\"", "%s%s", sr[k].name,
                any ? "" : " (no data)");
    }
    for (int k = 0; k < FRAG_SERIES_MAX; k++)
        free(sr[k].v);
    int end = svg_end(f);
    return ns < 0 ? -1 : end;
}
