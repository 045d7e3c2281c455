/* SPDX-License-Identifier: MIT */
/*
 * demo.c - kmem demo: the two figures of "Operating System Concepts"
 * (Silberschatz, Galvin, Gagne), section "Kernel memory allocation", run on
 * kmem's real allocators and drawn in the terminal, step by step; the same
 * steps as pictures (SVG, and an HTML report) in a folder; and at the end
 * every invariant checked (kmem_page_check, kmem_cache_check). Also kmem
 * buddyinfo: /proc/buddyinfo of a fresh machine.
 *
 * The scenes are played by draw.h (draw_scene_book, draw_scene_caches),
 * which snapshot the allocator after each step (snapshot.h); this file
 * tells and draws those snapshots, and draw_write_files draws them again as
 * pictures, so the terminal and the pictures show one and the same run.
 *
 * Part 1, the buddy system (Figure 9.26): a 21 KB request on a 256 KB
 * segment is rounded to 32 KB; the segment is split into buddies A_L and
 * A_R, A_L into B_L and B_R, B_L into C_L and C_R, and C_L satisfies the
 * request. Freeing it coalesces the buddies back into one segment.
 * alloc_pages does all of its splits inside one call, and __free_pages all
 * of its merges, so only the states before and after a call can be seen.
 * Those are read from the allocator (kmem_page_walk); the trees in between
 * are reconstructed from them by the buddy rule (a split halves a free
 * block, a merge joins two free buddies), never assumed: with other --mem
 * and --request values the same code tells their own story (no split
 * needed, a per-CPU batch, a request that fails).
 *
 * Part 2, the slab allocator (Figure 9.27): two caches, of 3 KB and of 7 KB
 * objects, each slab drawn as a row of cells (# in use, . free) after each
 * step, with the caches' geometry from kmem_cache_info and their
 * /proc/slabinfo lines.
 *
 * Everything printed is deterministic (no addresses or timings), so that
 * tests/golden/demo.txt can hold the default run's output.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <kmem.h>

#include "draw.h"
#include "snapshot.h"
#include "tool.h"

/* ---- the buddy tree ------------------------------------------------------------ */

/* A node of a buddy tree: the block of 2^order frames at pfn. */
struct node {
    unsigned long pfn;
    unsigned int order;
};

/* What one tree shows: its leaves (blocks), in pfn order. */
struct view {
    struct kmem_block *leaves;
    unsigned long n, cap;
};

/* A list of nodes: the splits or the merges of a story. */
struct nodes {
    struct node *v;
    unsigned long n, cap;
};

/* The story of one call: the tree's root, the request's block (its path
 * from the root names the halves A_L, A_R, B_L, ... as the book does), and
 * a note to print next to up to two nodes. */
struct story {
    struct node root;
    bool whole; /* root is all of memory: "the segment" */
    struct node req;
    struct node note_at[2];
    const char *note[2];
};

static void *xrealloc(void *p, size_t bytes)
{
    p = realloc(p, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "kmem demo: out of memory\n");
        exit(1);
    }
    return p;
}

static unsigned long node_pages(struct node n)
{
    return 1UL << n.order;
}

static bool node_eq(struct node a, struct node b)
{
    return a.pfn == b.pfn && a.order == b.order;
}

/* Does a contain the frame pfn? */
static bool node_has(struct node a, unsigned long pfn)
{
    return pfn >= a.pfn && pfn < a.pfn + node_pages(a);
}

static struct node node_half(struct node n, bool upper)
{
    struct node h = {n.pfn + (upper ? node_pages(n) / 2 : 0), n.order - 1};
    return h;
}

static struct node block_node(const struct kmem_block *b)
{
    struct node n = {b->pfn, b->order};
    return n;
}

static void view_add(struct view *v, const struct kmem_block *b)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->leaves = xrealloc(v->leaves, v->cap * sizeof *v->leaves);
    }
    v->leaves[v->n++] = *b;
}

static void nodes_add(struct nodes *l, struct node n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = n;
}

static bool nodes_have(const struct nodes *l, unsigned long from, unsigned long to, struct node n)
{
    for (unsigned long i = from; i < to; i++)
        if (node_eq(l->v[i], n))
            return true;
    return false;
}

/* The leaf of v that is exactly n, or NULL. */
static const struct kmem_block *view_leaf(const struct view *v, struct node n)
{
    for (unsigned long i = 0; i < v->n; i++)
        if (node_eq(block_node(&v->leaves[i]), n))
            return &v->leaves[i];
    return NULL;
}

/* The block of snapshot s that holds frame pfn, or NULL. */
static const struct kmem_block *snapshot_block_at(const struct snapshot *s, unsigned long pfn)
{
    for (unsigned long i = 0; i < s->nblocks; i++) {
        struct node n = block_node(&s->blocks[i]);
        if (node_has(n, pfn) && (s->blocks[i].state != KMEM_BLOCK_RESERVED || n.pfn == pfn))
            return &s->blocks[i];
    }
    return NULL;
}

/* The blocks of s that lie inside root: the leaves of root's tree. */
static void view_of_snapshot(const struct snapshot *s, struct node root, struct view *out)
{
    out->n = 0;
    for (unsigned long i = 0; i < s->nblocks; i++)
        if (node_has(root, s->blocks[i].pfn))
            view_add(out, &s->blocks[i]);
}

/* The nodes of root's tree that are split in v (those that are no leaf of
 * v: the leaves tile root), in the order the buddy system splits them: a
 * split keeps the lower half and frees the upper, so the next request for
 * a small block takes that lower half or splits it further; a node comes
 * before its halves, the lower half's subtree before the upper's (preorder).
 * Reversed, an order in which the merges can join them back: every node
 * after both its halves. */
static void split_nodes_below(const struct view *v, struct node n, struct nodes *out)
{
    if (view_leaf(v, n) || n.order == 0)
        return;
    nodes_add(out, n);
    split_nodes_below(v, node_half(n, false), out);
    split_nodes_below(v, node_half(n, true), out);
}

static void split_nodes(const struct view *v, struct node root, struct nodes *out)
{
    out->n = 0;
    split_nodes_below(v, root, out);
}

/* The tree in which exactly the nodes split[from..to) are split: each other
 * node reached from root is a leaf, in its state in leaves if it is one
 * there, else free (a block not yet split, or already merged). */
static void view_build(struct node n, const struct view *leaves, const struct nodes *split,
                       unsigned long from, unsigned long to, struct view *out)
{
    if (nodes_have(split, from, to, n)) {
        view_build(node_half(n, false), leaves, split, from, to, out);
        view_build(node_half(n, true), leaves, split, from, to, out);
        return;
    }
    const struct kmem_block *b = view_leaf(leaves, n);
    struct kmem_block free_block = {KMEM_ZONE_DMA, n.pfn, n.order, KMEM_BLOCK_FREE};
    if (!b && leaves->n)
        free_block.zone = leaves->leaves[0].zone;
    view_add(out, b ? b : &free_block);
}

/* The book's name of node n: the halves made by splitting a block on the
 * request's path are A_L and A_R at the first level, B_L and B_R at the
 * second, and so on. Other nodes have no name (""). */
static const char *node_name(const struct story *st, struct node n, char *buf, size_t len)
{
    buf[0] = '\0';
    if (node_eq(n, st->root)) {
        snprintf(buf, len, "%s", st->whole ? "segment" : "block");
    } else if (n.order < st->root.order) {
        struct node parent = {n.pfn & ~((2UL << n.order) - 1), n.order + 1};
        if (node_has(parent, st->req.pfn) && parent.order > st->req.order)
            snprintf(buf, len, "%c_%c", 'A' + (int)(st->root.order - n.order - 1),
                     (n.pfn >> n.order) & 1 ? 'R' : 'L');
    }
    return buf;
}

static const char *pfn_range(struct node n, char *buf, size_t len)
{
    if (n.order == 0)
        snprintf(buf, len, "%lu", n.pfn);
    else
        snprintf(buf, len, "%lu-%lu", n.pfn, n.pfn + node_pages(n) - 1);
    return buf;
}

/* How the text calls node n: "A_L", "the 256 KB segment", "the 4 MB block
 * at pfn 1024-2047", or for a node without a name "pfn 8-11". */
static const char *node_called(const struct story *st, struct node n, char *buf, size_t len)
{
    char name[16], size[32], pfns[32];
    node_name(st, n, name, sizeof name);
    tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << n.order);
    pfn_range(n, pfns, sizeof pfns);
    if (node_eq(n, st->root) && st->whole)
        snprintf(buf, len, "the %s segment", size);
    else if (node_eq(n, st->root))
        snprintf(buf, len, "the %s block at pfn %s", size, pfns);
    else if (name[0])
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "pfn %s", pfns);
    return buf;
}

/* One line of a drawn tree, before the columns are aligned. */
struct tree_row {
    char head[96]; /* branches and name: "|   +-- B_L" */
    char size[16];
    char pfns[32];
    char state[96];
};

struct tree_rows {
    struct tree_row *v;
    unsigned long n, cap;
};

static struct tree_row *tree_row_new(struct tree_rows *rows)
{
    if (rows->n == rows->cap) {
        rows->cap = rows->cap ? rows->cap * 2 : 16;
        rows->v = xrealloc(rows->v, rows->cap * sizeof *rows->v);
    }
    struct tree_row *r = &rows->v[rows->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static const char *story_note(const struct story *st, struct node n)
{
    for (int i = 0; i < 2; i++)
        if (st->note[i] && node_eq(st->note_at[i], n))
            return st->note[i];
    return NULL;
}

/* Rows of the subtree at n: indent is the branches of its ancestors
 * ("|   " where more siblings follow, "    " where none do), branch its own
 * ("+-- " for a lower half, "`-- " for an upper one, "" for the root). */
static void tree_rows_add(const struct story *st, const struct view *v, struct node n,
                          const char *indent, const char *branch, struct tree_rows *rows)
{
    const struct kmem_block *leaf = view_leaf(v, n);
    struct tree_row *r = tree_row_new(rows);
    char name[16];
    snprintf(r->head, sizeof r->head, "%s%s%s", indent, branch,
             node_name(st, n, name, sizeof name));
    tool_size_str(r->size, sizeof r->size, (unsigned long long)PAGE_SIZE << n.order);
    pfn_range(n, r->pfns, sizeof r->pfns);
    const char *note = story_note(st, n);
    snprintf(r->state, sizeof r->state, "%s%s%s",
             leaf ? tool_block_state_name(leaf->state) : "split", note ? "  <- " : "",
             note ? note : "");
    if (leaf)
        return;
    char below[96];
    snprintf(below, sizeof below, "%s%s", indent,
             !branch[0]         ? ""
             : branch[0] == '+' ? "|   "
                                : "    ");
    tree_rows_add(st, v, node_half(n, false), below, "+-- ", rows);
    tree_rows_add(st, v, node_half(n, true), below, "`-- ", rows);
}

static size_t column_width(const struct tree_rows *rows, size_t offset)
{
    size_t w = 0;
    for (unsigned long i = 0; i < rows->n; i++) {
        size_t len = strlen((const char *)&rows->v[i] + offset);
        if (len > w)
            w = len;
    }
    return w;
}

/* Draw v as a tree under st.root: one row per node, the halves of a split
 * block below it, lower half first; columns size, frames and state. */
static void tree_print(const struct story *st, const struct view *v)
{
    struct tree_rows rows = {0};
    tree_rows_add(st, v, st->root, "    ", "", &rows);
    int head_w = (int)column_width(&rows, offsetof(struct tree_row, head));
    int size_w = (int)column_width(&rows, offsetof(struct tree_row, size));
    int pfns_w = (int)column_width(&rows, offsetof(struct tree_row, pfns));
    for (unsigned long i = 0; i < rows.n; i++) {
        const struct tree_row *r = &rows.v[i];
        printf("%-*s  %*s  pfn %-*s  %s\n", head_w, r->head, size_w, r->size, pfns_w, r->pfns,
               r->state);
    }
    free(rows.v);
}

/* ---- the page map and /proc/buddyinfo ------------------------------------------ */

enum { MAP_WIDTH = 64 };

/* The state of the frames [pfn, pfn + n) in v: '#' all allocated, '.' all
 * free, ':' both. */
static char map_cell(const struct view *v, unsigned long pfn, unsigned long n)
{
    bool used = false, unused = false;
    for (unsigned long i = 0; i < v->n; i++) {
        const struct kmem_block *b = &v->leaves[i];
        unsigned long end = b->pfn + (1UL << b->order);
        if (b->pfn >= pfn + n || end <= pfn)
            continue;
        if (b->state == KMEM_BLOCK_ALLOCATED || b->state == KMEM_BLOCK_RESERVED)
            used = true;
        else
            unused = true;
    }
    return used && unused ? ':' : used ? '#' : '.';
}

/* The root's frames in a line: one character per frame (or per group of
 * frames), '|' where a block of two characters or more begins, followed by
 * its name where it fits. */
static void map_print(const struct story *st, const struct view *v)
{
    unsigned long pages = node_pages(st->root);
    unsigned long per = pages > MAP_WIDTH ? pages / MAP_WIDTH : 1;
    unsigned long cells = pages / per;
    char line[MAP_WIDTH + 2];
    for (unsigned long c = 0; c < cells; c++)
        line[c] = map_cell(v, st->root.pfn + c * per, per);
    for (unsigned long i = 0; i < v->n; i++) {
        const struct kmem_block *b = &v->leaves[i];
        unsigned long first = (b->pfn - st->root.pfn) / per;
        unsigned long width = (1UL << b->order) / per;
        if (width < 2)
            continue; /* its cell shows the state of the blocks it shares */
        line[first] = '|';
        char name[16];
        node_name(st, block_node(b), name, sizeof name);
        if (strlen(name) + 1 < width && !node_eq(block_node(b), st->root))
            memcpy(&line[first + 1], name, strlen(name));
    }
    line[cells] = '|';
    line[cells + 1] = '\0';
    printf("  page map of the %s (%lu frame%s a character; # allocated, . free%s):\n    %s\n",
           st->whole ? "segment" : "block", per, per == 1 ? "" : "s", per == 1 ? "" : ", : both",
           line);
}

/* /proc/buddyinfo's numbers at snapshot s (its zones' kmem_zone_info: the
 * same counts), in columns narrow enough for a terminal. */
static void buddyinfo_print(const struct snapshot *s)
{
    printf("  /proc/buddyinfo, free blocks of each order (a block is 2^order pages):\n");
    printf("    %-20s", "order");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        printf("%4d", o);
    printf("\n");
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        const struct snap_zone *zone = &s->zones[z];
        if (!zone->present)
            continue;
        printf("    Node 0, zone %7s", zone->info.name);
        for (int o = 0; o < NR_PAGE_ORDERS; o++)
            printf("%4lu", zone->info.nr_free[o]);
        printf("\n");
    }
}

static struct snapshot *snapshot_now(const char *label)
{
    struct snapshot *s = snapshot_take(0, label, false, false);
    if (!s) {
        fprintf(stderr, "kmem demo: out of memory\n");
        exit(1);
    }
    return s;
}

/* ---- part 1: the splits --------------------------------------------------------- */

static void print_size(unsigned long long bytes)
{
    tool_print_size(stdout, bytes);
}

static void print_machine(size_t mem, const struct snapshot *s)
{
    printf("Physical memory: ");
    print_size(mem);
    printf(" = %zu pages of %lu KB", mem / PAGE_SIZE, PAGE_SIZE / 1024);
    const char *sep = ", in zone";
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        if (!s->zones[z].present)
            continue;
        printf("%s %s", sep, s->zones[z].info.name);
        sep = " and";
    }
    printf(".\nThe buddy system keeps the free blocks of 2^order pages, a list per order:\n");
    buddyinfo_print(s);
}

/* The frames the buddy system manages, in every zone. */
static unsigned long machine_pages(const struct snapshot *s)
{
    unsigned long pages = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++)
        if (s->zones[z].present)
            pages += s->zones[z].info.managed_pages;
    return pages;
}

/* The request, and how the buddy system rounds it. */
static void print_request(size_t request, int order)
{
    printf("\nThe kernel requests ");
    print_size(request);
    printf(": alloc_pages(GFP_KERNEL, get_order(%zu) = %d).\n", request, order);
    if (order > MAX_PAGE_ORDER) {
        printf("That is more than the largest block, 2^%d pages = ", MAX_PAGE_ORDER);
        print_size((unsigned long long)PAGE_SIZE << MAX_PAGE_ORDER);
        printf(".\n");
        return;
    }
    printf("The buddy system hands out blocks of 2^order pages only: 2^%d pages = ", order);
    print_size((unsigned long long)PAGE_SIZE << order);
    unsigned long long waste = ((unsigned long long)PAGE_SIZE << order) - request;
    if (waste) {
        printf(",\nwhich wastes ");
        print_size(waste);
        printf(" inside the block (internal fragmentation)");
    }
    printf(".\n");
}

/* How many leaves of v are on a per-CPU list. */
static unsigned long view_count(const struct view *v, enum kmem_block_state state)
{
    unsigned long n = 0;
    for (unsigned long i = 0; i < v->n; i++)
        n += v->leaves[i].state == state;
    return n;
}

enum { TREES_MAX = 12 }; /* more steps than this: only the last tree is drawn */

/* How the splits begin: the request fits a free block whole, or the
 * smallest larger free block (the root) is halved, and the tree before. */
static void splits_begin(struct story *st, const struct view *final, const struct nodes *splits,
                         struct view *v)
{
    if (splits->n == 0) {
        printf("A free block of order %u exists: it is taken whole, nothing is split.\n",
               st->req.order);
        return;
    }
    char size[32];
    tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << st->root.order);
    printf("No free block of order %u: the smallest larger free block, %s (order %u,\n"
           "pfn %lu-%lu), is split in halves, two buddies, until a half has the size.\n",
           st->req.order, size, st->root.order, st->root.pfn,
           st->root.pfn + node_pages(st->root) - 1);
    printf("alloc_pages makes every split within the one call: the first and the last\n"
           "tree are the blocks before and after it (kmem_page_walk), the trees between\n"
           "follow by the buddy rule. The tree before the call:\n");
    v->n = 0;
    view_build(st->root, final, splits, 0, 0, v);
    st->note_at[0] = st->root;
    st->note[0] = "split next";
    tree_print(st, v);
}

/* Split k (from 1) of splits: what it halves, and the tree it leaves; the
 * last one's tree has the request's block, marked with request_note. */
static void split_step(struct story *st, const struct view *final, const struct nodes *splits,
                       unsigned long k, const char *request_note, struct view *v)
{
    struct node n = splits->v[k - 1];
    char size[32], name[96], lo[96], hi[96];
    tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << (n.order - 1));
    printf("Split %lu: %s into %s and %s (%s each)\n", k, node_called(st, n, name, sizeof name),
           node_called(st, node_half(n, false), lo, sizeof lo),
           node_called(st, node_half(n, true), hi, sizeof hi), size);
    bool last = k == splits->n;
    if (!last && splits->n > TREES_MAX)
        return;
    v->n = 0;
    view_build(st->root, final, splits, 0, k, v);
    st->note_at[0] = last ? st->root : splits->v[k];
    st->note[0] = last ? NULL : "split next";
    st->note_at[1] = st->req;
    st->note[1] = last ? request_note : NULL;
    tree_print(st, v);
}

/* The splits alloc_pages made to get the request's block out of st->root,
 * a block free before the call: each drawn as the tree it leaves. */
static void tell_splits(struct story *st, const struct snapshot *after, const char *request_note)
{
    struct view final = {0}, v = {0};
    struct nodes splits = {0};
    view_of_snapshot(after, st->root, &final);
    split_nodes(&final, st->root, &splits);
    splits_begin(st, &final, &splits, &v);
    for (unsigned long k = 1; k <= splits.n; k++)
        split_step(st, &final, &splits, k, request_note, &v);
    if (splits.n == 0) {
        st->note_at[1] = st->req;
        st->note[1] = request_note;
        tree_print(st, &final);
    }
    unsigned long pcp = view_count(&final, KMEM_BLOCK_PCP);
    if (pcp)
        printf("The call also took %lu more block%s of order %u for this CPU's list (a batch\n"
               "refill, so that the next requests need not lock the zone).\n",
               pcp, pcp == 1 ? "" : "s", st->req.order);
    st->note[0] = st->note[1] = NULL;
    free(final.leaves);
    free(v.leaves);
    free(splits.v);
}

/* ---- part 1: the merges --------------------------------------------------------- */

/* Why a freed block did not coalesce: its buddy is not there, or not free
 * and whole. */
static void tell_no_merge(const struct story *st, const struct snapshot *drained)
{
    unsigned long buddy = st->req.pfn ^ node_pages(st->req);
    const struct kmem_block *b = snapshot_block_at(drained, buddy);
    printf("Its buddy (pfn %lu) %s, so nothing coalesces.\n", buddy,
           !b ? "lies outside the zone" : "is not a free block of the same order");
}

/* Merge m (from 1) of the free: it undoes the split made last among those
 * left (splits are in preorder, so from the end every node comes after
 * both its halves), then the tree it leaves. m = 0: the tree before. */
static void merge_step(const struct story *ms, const struct view *before,
                       const struct nodes *splits, unsigned long m, struct view *v)
{
    unsigned long left = splits->n - m;
    if (m > 0) {
        struct node n = splits->v[left];
        char name[96], lo[96], hi[96], size[32];
        printf("Merge %lu: %s + %s -> %s (%s)\n", m,
               node_called(ms, node_half(n, false), lo, sizeof lo),
               node_called(ms, node_half(n, true), hi, sizeof hi),
               node_called(ms, n, name, sizeof name),
               tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << n.order));
        if (m < splits->n && splits->n > TREES_MAX)
            return;
    }
    v->n = 0;
    view_build(ms->root, before, splits, 0, left, v);
    tree_print(ms, v);
}

/* The merges the free of the request's block made, from the tree before the
 * free (after: the request still allocated) to the block that holds it
 * after (drained: once every per-CPU list went back). */
static void tell_merges(const struct story *st, const struct snapshot *after,
                        const struct snapshot *freed, const struct snapshot *drained)
{
    const struct kmem_block *on_free = snapshot_block_at(freed, st->req.pfn);
    if (on_free && on_free->state == KMEM_BLOCK_PCP)
        printf("The block goes onto this CPU's per-CPU list of order %u, where nothing\n"
               "coalesces; drain_all_pages() gives every per-CPU block back to the buddy lists.\n",
               st->req.order);
    /* The tree of the merges is rooted at the block the freed one ended in;
     * its leaves are the blocks before the free, all free now. */
    struct story ms = *st;
    ms.root = block_node(snapshot_block_at(drained, st->req.pfn));
    struct view before = {0}, v = {0};
    struct nodes splits = {0};
    view_of_snapshot(after, ms.root, &before);
    for (unsigned long i = 0; i < before.n; i++)
        if (before.leaves[i].state == KMEM_BLOCK_PCP ||
            node_eq(block_node(&before.leaves[i]), st->req))
            before.leaves[i].state = KMEM_BLOCK_FREE;
    split_nodes(&before, ms.root, &splits);
    if (splits.n == 0)
        tell_no_merge(st, drained);
    else
        printf("A freed block coalesces with its buddy (the block at pfn ^ 2^order) while the\n"
               "buddy is free and of the same order, all within the call; the trees between\n"
               "follow by the buddy rule from the blocks before and after. Before:\n");
    ms.note_at[0] = st->req;
    ms.note[0] = "just freed";
    merge_step(&ms, &before, &splits, 0, &v);
    ms.note[0] = NULL;
    for (unsigned long m = 1; m <= splits.n; m++)
        merge_step(&ms, &before, &splits, m, &v);
    free(before.leaves);
    free(v.leaves);
    free(splits.v);
}

/* alloc_pages_exact: the pages past the request go back at once. */
static void tell_exact(size_t request, int order)
{
    unsigned long kept = (request + PAGE_SIZE - 1) / PAGE_SIZE;
    if (kept == 1UL << order)
        return; /* the request fills its block: nothing to give back */
    void *exact = alloc_pages_exact(request, GFP_KERNEL);
    if (!exact)
        return;
    printf("\nLinux's alloc_pages_exact(");
    print_size(request);
    printf(") keeps only the pages asked for: %lu pages stay\nallocated, the other %lu of "
           "the order-%d block go back to the free lists at once.\n",
           kept, (1UL << order) - kept, order);
    struct snapshot *s = snapshot_now("alloc_pages_exact");
    buddyinfo_print(s);
    snapshot_free(s);
    free_pages_exact(exact, request);
    drain_all_pages(); /* the pages freed one by one may sit on per-CPU lists */
}

/* The block the request got: allocated in after, not in before. */
static const struct kmem_block *request_block(const struct snapshot *before,
                                              const struct snapshot *after)
{
    for (unsigned long i = 0; i < after->nblocks; i++) {
        const struct kmem_block *b = &after->blocks[i];
        if (b->state != KMEM_BLOCK_ALLOCATED)
            continue;
        const struct kmem_block *was = snapshot_block_at(before, b->pfn);
        if (!was || was->state != KMEM_BLOCK_ALLOCATED)
            return b;
    }
    return NULL;
}

/* Part 1: the request, its splits, its free and the merges, told from the
 * snapshots of draw_scene_book (draw.h): t->snaps[from] before the request,
 * then after alloc_pages, after __free_pages and, last, after the per-CPU
 * lists were drained (when the block went onto one). */
static void buddy_part(size_t mem, size_t request, const struct timeline *t, unsigned long from)
{
    printf("Part 1. The buddy system (Figure 9.26)\n\n");
    const struct snapshot *before = t->snaps[from];
    print_machine(mem, before);
    int order = get_order(request);
    print_request(request, order);
    const struct snapshot *after = t->n > from + 1 ? t->snaps[from + 1] : before;
    const struct kmem_block *got = request_block(before, after);
    if (!got || t->n < from + 3) {
        if (order <= MAX_PAGE_ORDER)
            printf("No free block of order %d or larger: alloc_pages returns NULL, the request "
                   "fails.\n",
                   order);
        return;
    }
    const struct snapshot *freed = t->snaps[from + 2], *drained = t->snaps[t->n - 1];
    struct story st = {.req = block_node(got)};
    st.root = block_node(snapshot_block_at(before, got->pfn));
    st.whole = node_pages(st.root) == machine_pages(before);
    char note[64], size[32];
    snprintf(note, sizeof note, "the %s request", tool_size_str(size, sizeof size, request));
    tell_splits(&st, after, note);
    char name[96], pfns[32];
    node_called(&st, st.req, name, sizeof name);
    unsigned long long phys = (unsigned long long)virt_to_phys(page_address(pfn_to_page(got->pfn)));
    printf("%s satisfies the request: pfn %s, physical 0x%05llx-0x%05llx.\n",
           node_eq(st.req, st.root) ? "The block" : name, pfn_range(st.req, pfns, sizeof pfns),
           phys, phys + (PAGE_SIZE << got->order) - 1);
    struct view final = {0};
    view_of_snapshot(after, st.root, &final);
    map_print(&st, &final);
    free(final.leaves);
    buddyinfo_print(after);

    printf("\nThe kernel frees %s: __free_pages(page, %u).\n", name, got->order);
    tell_merges(&st, after, freed, drained);
    buddyinfo_print(drained);
    tell_exact(request, order);
}

/* ---- part 2: the slab caches ---------------------------------------------------- */

/* The caches of draw_scene_caches: the book's 3 KB and 7 KB objects. */
static const char *const book_caches[] = {"obj-3k", "obj-7k"};
enum { NR_BOOK_CACHES = 2, CELLS_PER_ROW = 50 };

static const char *slab_state_name(const struct snap_slab *slab)
{
    return slab->inuse == slab->objects ? "full" : slab->inuse ? "partial" : "empty";
}

/* One slab as a row of cells, one per object: # handed out, . free. */
static void slab_print(unsigned long i, const struct snap_slab *slab)
{
    printf("      slab %lu  %-7s  ", i + 1, slab_state_name(slab));
    for (unsigned int k = 0; k < slab->objects; k++) {
        if (k && k % CELLS_PER_ROW == 0)
            printf("\n%*s", 24, "");
        putchar(slab->used[k] ? '#' : '.');
    }
    printf("  %u of %u in use\n", slab->inuse, slab->objects);
}

/* What kmem_cache_info says a cache is made of. */
static void cache_geometry_print(const struct snap_cache *c)
{
    const struct kmem_cache_info *in = &c->info;
    char obj[32], slab[32], waste[32];
    tool_size_str(obj, sizeof obj, in->object_size);
    tool_size_str(slab, sizeof slab, (unsigned long long)in->pages_per_slab * PAGE_SIZE);
    tool_size_str(waste, sizeof waste, in->waste_per_slab);
    printf("  %s: objects of %s (%u bytes apart), %u to a slab of %u page%s (%s);\n"
           "    %s of each slab is left over (%.1f%%)",
           c->name, obj, in->size, in->objs_per_slab, in->pages_per_slab,
           in->pages_per_slab == 1 ? "" : "s", slab, waste,
           100.0 * in->waste_per_slab / ((double)in->pages_per_slab * PAGE_SIZE));
    if (in->colours > 1)
        printf(", spent on colouring (%u offsets)", in->colours);
    printf(";\n    slab headers %s.\n",
           in->offslab ? "off the slab (in the cache kmem_slab)" : "at the start of each slab");
    if (in->objs_per_slab == 1)
        printf("    A slab of one object is full or empty, never partial.\n");
}

static int slab_by_address(const void *a, const void *b)
{
    const struct snap_slab *x = *(const struct snap_slab *const *)a;
    const struct snap_slab *y = *(const struct snap_slab *const *)b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* A cache's slabs in address order, so that a slab keeps its number from
 * one step to the next (the walk lists them by state, which changes). */
static void cache_slabs_print(const struct snap_cache *c)
{
    const struct kmem_cache_info *in = &c->info;
    printf("    %s: %lu slab%s (%lu full, %lu partial, %lu empty), %lu of %lu objects in use\n",
           c->name, in->slabs, in->slabs == 1 ? "" : "s", in->full_slabs, in->partial_slabs,
           in->empty_slabs, in->active_objs, in->total_objs);
    const struct snap_slab **order = xrealloc(NULL, c->nslabs * sizeof *order);
    for (unsigned long i = 0; i < c->nslabs; i++)
        order[i] = &c->slabs[i];
    qsort(order, c->nslabs, sizeof *order, slab_by_address);
    for (unsigned long i = 0; i < c->nslabs; i++)
        slab_print(i, order[i]);
    free(order);
}

/* /proc/slabinfo of s: its two header lines and the lines of the book's
 * caches, as the kernel prints them. */
static void slabinfo_print(const struct snapshot *s)
{
    printf("  /proc/slabinfo (the book's caches):\n");
    const char *line = s->slabinfo;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        bool show = !strncmp(line, "slabinfo", 8) || line[0] == '#';
        for (int i = 0; i < NR_BOOK_CACHES; i++) {
            size_t n = strlen(book_caches[i]);
            show |= !strncmp(line, book_caches[i], n) && line[n] == ' ';
        }
        if (show)
            printf("    %.*s\n", (int)len, line);
        line = end ? end + 1 : line + len;
    }
}

/* head, then text broken at spaces into lines of at most 79 columns, the
 * lines after the first indented as far as head. */
static void print_wrapped(const char *head, const char *text)
{
    fputs(head, stdout);
    const size_t indent = strlen(head) - (head[0] == '\n');
    size_t column = indent;
    bool line_start = true; /* no space before the line's first word */
    while (*text) {
        size_t word = strcspn(text, " ");
        if (!line_start && column + 1 + word > 79) {
            printf("\n%*s", (int)indent, "");
            column = indent;
            line_start = true;
        }
        column += (size_t)printf("%s%.*s", line_start ? "" : " ", (int)word, text);
        line_start = false;
        text += word;
        text += strspn(text, " ");
    }
    putchar('\n');
}

/* Part 2: the snapshots t->snaps[from..] of draw_scene_caches. */
static void slab_part(const struct timeline *t, unsigned long from, bool ran)
{
    printf("\nPart 2. The slab allocator (Figure 9.27)\n\n"
           "A cache for each kind of kernel object; its slabs are blocks of contiguous pages\n"
           "from the buddy system, cut into objects of the cache's size. As in the book, a\n"
           "cache of 3 KB objects and one of 7 KB objects. kmem's caches keep per-CPU\n"
           "magazines of free objects in front of the slabs (Bonwick and Adams, 2001);\n"
           "these two are made without (SLAB_CONSISTENCY_CHECKS), so that every\n"
           "kmem_cache_alloc and kmem_cache_free goes to a slab, as in the book.\n");
    if (!ran) {
        printf("The scene did not run: the machine is too small for its slabs (try --mem 1M).\n");
        return;
    }
    const struct snapshot *last = t->snaps[t->n - 1];
    for (int i = 0; i < NR_BOOK_CACHES; i++) {
        const struct snap_cache *c = snapshot_cache(last, book_caches[i]);
        if (c)
            cache_geometry_print(c);
    }
    printf("Each slab below is a row of its objects: # in use, . free.\n");
    for (unsigned long k = from; k < t->n; k++) {
        char step[32];
        snprintf(step, sizeof step, "\nStep %lu: ", k - from + 1);
        print_wrapped(step, t->snaps[k]->label);
        for (int i = 0; i < NR_BOOK_CACHES; i++) {
            const struct snap_cache *c = snapshot_cache(t->snaps[k], book_caches[i]);
            if (c)
                cache_slabs_print(c);
            else
                printf("    %s: no slab\n", book_caches[i]);
        }
    }
    printf("\n");
    slabinfo_print(last);
    printf("  (tunables: the magazine size and the depot's full and empty magazines,\n"
           "  0 without magazines; slabdata: slabs in use and all slabs)\n"
           "The slabs' pages, and those of kmem's own caches, come from the buddy system:\n");
    buddyinfo_print(last);
}

/* ---- the checks and the pictures -------------------------------------------------- */

struct book_caches_found {
    struct kmem_cache *cache[NR_BOOK_CACHES];
};

static bool book_cache_find(void *arg, struct kmem_cache *cache)
{
    struct book_caches_found *found = arg;
    struct kmem_cache_info info;
    kmem_cache_info(cache, &info);
    for (int i = 0; i < NR_BOOK_CACHES; i++)
        if (!strcmp(info.name, book_caches[i]))
            found->cache[i] = cache;
    return true;
}

/* kmem_cache_check on the book's caches (still alive: draw_scene_caches
 * leaves them in place). The walk only finds them; the checks run after it,
 * as they take the cache's lock. Returns the violations. */
static int book_caches_check(void)
{
    struct book_caches_found found = {{NULL}};
    kmem_cache_walk(book_cache_find, &found);
    int violations = 0;
    for (int i = 0; i < NR_BOOK_CACHES; i++) {
        if (!found.cache[i])
            continue;
        int v = kmem_cache_check(found.cache[i]);
        printf("  kmem_cache_check(%s): %s\n", book_caches[i],
               v ? "VIOLATIONS (see above)" : "all invariants hold");
        violations += v;
    }
    return violations;
}

/* The files draw_write_files writes, by their names in the folder, a few
 * to a line. */
struct files_listed {
    const char *dir;
    size_t column;
};

static void file_list(void *arg, const char *path)
{
    struct files_listed *l = arg;
    size_t dir_len = strlen(l->dir);
    const char *name = path;
    if (!strncmp(path, l->dir, dir_len) && path[dir_len] == '/')
        name = path + dir_len + 1;
    if (l->column && l->column + 2 + strlen(name) > 78) {
        printf("\n");
        l->column = 0;
    }
    l->column += (size_t)printf("%s%s", l->column ? "  " : "  ", name);
}

static int pictures_write(const struct timeline *t, const char *dir)
{
    printf("\nPictures of every step (SVG) and a report (HTML) in %s/:\n", dir);
    struct files_listed listed = {dir, 0};
    int rc = draw_write_files(t, dir, "kmem demo: Figures 9.26 and 9.27", true, file_list, &listed);
    int err = errno;
    if (listed.column)
        printf("\n");
    if (rc != 0) {
        fflush(stdout); /* the message after the files written so far */
        fprintf(stderr, "kmem demo: cannot write the pictures to %s: %s\n", dir, strerror(err));
        return -1;
    }
    printf("Open %s/report.html in a browser.\n", dir);
    return 0;
}

/* ---- the command ------------------------------------------------------------------- */

static int demo(size_t mem, size_t request, const char *out_dir)
{
    struct kmem_config cfg = {.mem_size = mem};
    int rc = kmem_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "kmem demo: kmem_init(%zu bytes) failed: %s\n", mem, strerror(-rc));
        return 1;
    }
    printf("kmem demo: kernel memory allocation as in \"Operating System Concepts\"\n"
           "(Silberschatz, Galvin, Gagne), run on kmem's real allocators.\n\n");
    struct timeline t = {0};
    if (!draw_scene_book(&t, request) || t.n == 0) {
        fprintf(stderr, "kmem demo: out of memory\n");
        return 1;
    }
    buddy_part(mem, request, &t, 0);
    unsigned long caches_from = t.n;
    bool ran = draw_scene_caches(&t);
    slab_part(&t, caches_from, ran && t.n > caches_from);
    int failed = pictures_write(&t, out_dir);
    printf("\nInvariant checks:\n");
    int violations = book_caches_check();
    draw_scene_caches_end();
    int page_violations = kmem_page_check();
    printf("  kmem_page_check(): %s\n",
           page_violations ? "VIOLATIONS (see above)" : "all invariants hold");
    timeline_free(&t);
    kmem_exit();
    return violations || page_violations || failed ? 1 : 0;
}

static int buddyinfo(size_t mem)
{
    struct kmem_config cfg = {.mem_size = mem};
    int rc = kmem_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "kmem buddyinfo: kmem_init failed: %s\n", strerror(-rc));
        return 1;
    }
    char buf[1024];
    kmem_buddyinfo(buf, sizeof buf);
    fputs(buf, stdout);
    kmem_exit();
    return 0;
}

struct demo_options {
    size_t mem, request;
    const char *out_dir;
};

static void demo_usage(FILE *f, const char *cmd)
{
    if (!strcmp(cmd, "buddyinfo")) {
        fprintf(f, "usage: kmem buddyinfo [--mem SIZE]\n"
                   "  /proc/buddyinfo of a new machine of SIZE bytes (default 256K).\n");
        return;
    }
    fprintf(f, "usage: kmem demo [--mem SIZE] [--request SIZE] [--out DIR]\n"
               "  The buddy-system example of \"Operating System Concepts\" (Figure 9.26) and\n"
               "  its slab caches (Figure 9.27), run on kmem and drawn in the terminal; the\n"
               "  pictures (SVG, HTML) go to DIR.\n"
               "  --mem SIZE      physical memory (default 256K)\n"
               "  --request SIZE  the kernel's request (default 21K)\n"
               "  --out DIR       where the pictures go (default kmem-demo)\n");
}

/* Options of demo and buddyinfo. 0: go on; else the exit status (--help: 0
 * after the usage, with *done set). */
static int parse_options(int argc, char **argv, struct demo_options *o, bool *done)
{
    bool is_demo = !strcmp(argv[0], "demo");
    for (int i = 1; i < argc; i += 2) { /* every option but --help takes a value */
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            demo_usage(stdout, argv[0]);
            *done = true;
            return 0;
        }
        size_t *size = !strcmp(argv[i], "--mem")                  ? &o->mem
                       : is_demo && !strcmp(argv[i], "--request") ? &o->request
                                                                  : NULL;
        bool is_out = is_demo && !strcmp(argv[i], "--out");
        if ((!size && !is_out) || i + 1 >= argc || (size && !tool_parse_size(argv[i + 1], size)) ||
            (size == &o->request && o->request == 0) || (is_out && !argv[i + 1][0])) {
            fprintf(stderr, "kmem %s: bad argument '%s'\n", argv[0], argv[i]);
            demo_usage(stderr, argv[0]);
            return 2;
        }
        if (is_out)
            o->out_dir = argv[i + 1];
    }
    return 0;
}

int kmem_cmd_demo(int argc, char **argv)
{
    struct demo_options o = {256 << 10, 21 << 10, "kmem-demo"};
    bool done = false;
    int rc = parse_options(argc, argv, &o, &done);
    if (rc || done)
        return rc;
    return demo(o.mem, o.request, o.out_dir);
}

int kmem_cmd_buddyinfo(int argc, char **argv)
{
    struct demo_options o = {256 << 10, 0, NULL};
    bool done = false;
    int rc = parse_options(argc, argv, &o, &done);
    if (rc || done)
        return rc;
    return buddyinfo(o.mem);
}
