/* SPDX-License-Identifier: MIT */
/*
 * draw.c - kmem draw: the book's scenes played on kmem's real allocators,
 * snapshotted step by step (snapshot.h) and drawn (svg.h, html.h) into a
 * directory of pictures and one HTML report (draw.h).
 *
 *   book    Figure 9.26: a request (21 KB) on a small machine (256 KB):
 *           the splits, the block handed out (C_L), the coalescing.
 *   caches  Figure 9.27: caches of 3 KB and 7 KB objects, with full,
 *           partial and empty slabs.
 *   frag    fragmentation: random page blocks and kmalloc objects, half of
 *           them freed at random; try it with --mem 1G.
 *
 * Every label is read back from the allocator (which block, which slabs),
 * so other sizes and machines tell their own story.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <kmem.h>

#include "draw.h"
#include "html.h"
#include "svg.h"
#include "tool.h"

/* --- snapshots ----------------------------------------------------------- */

/* The step the timeline is at: scenes continue from there. */
static unsigned long step_base(const struct timeline *t)
{
    return t->n ? t->snaps[t->n - 1]->step : 0;
}

/* Snapshot kmem now (with every slab's objects, for the pictures) into t,
 * labelled by fmt. false: out of memory. */
static bool snap(struct timeline *t, unsigned long step, const char *fmt, ...)
{
    char label[sizeof((struct snapshot *)0)->label];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(label, sizeof label, fmt, ap);
    va_end(ap);
    struct snapshot *s = snapshot_take(step, label, true, false);
    if (!s)
        return false;
    if (!timeline_add(t, s)) {
        snapshot_free(s);
        return false;
    }
    return true;
}

/* --- the book's buddy scene ---------------------------------------------- */

/* What is free, in words: "one free block of 256 KB", or "60 free pages in
 * 3 blocks, the largest 128 KB". */
static const char *free_summary(char *buf, size_t len)
{
    unsigned long pages = 0, blocks = 0;
    int largest = -1;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)z, &zi))
            continue;
        for (int o = 0; o < NR_PAGE_ORDERS; o++) {
            pages += zi.nr_free[o] << o;
            blocks += zi.nr_free[o];
            if (zi.nr_free[o] && o > largest)
                largest = o;
        }
    }
    char size[32];
    if (largest < 0) {
        snprintf(buf, len, "nothing free");
        return buf;
    }
    tool_size_str(size, sizeof size, (unsigned long long)PAGE_SIZE << largest);
    if (blocks == 1)
        snprintf(buf, len, "one free block of %s", size);
    else
        snprintf(buf, len, "%lu free pages in %lu blocks, the largest %s", pages, blocks, size);
    return buf;
}

/* The book's name of the block (pfn, order): the level of the split that
 * made it (A for the first) and its half (L, R), under the largest
 * naturally aligned block of its zone that holds it. "" for such a block
 * itself. */
static void book_name(char *buf, size_t len, unsigned long pfn, unsigned int order)
{
    buf[0] = '\0';
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)z, &zi) || pfn < zi.start_pfn || pfn >= zi.end_pfn)
            continue;
        unsigned int root = order;
        while (root < MAX_PAGE_ORDER) {
            unsigned long base = pfn & ~((2UL << root) - 1);
            if (base < zi.start_pfn || base + (2UL << root) > zi.end_pfn)
                break;
            root++;
        }
        if (root > order && root - order <= 26)
            snprintf(buf, len, " %c_%c", 'A' + (int)(root - order) - 1,
                     ((pfn >> order) & 1) ? 'R' : 'L');
    }
}

static unsigned long pcp_pages(void)
{
    unsigned long n = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)z, &zi))
            n += zi.pcp_pages;
    }
    return n;
}

bool draw_scene_book(struct timeline *t, size_t request)
{
    unsigned long step = step_base(t);
    char summary[96], want[32], got[32], name[8];
    if (!snap(t, step, "initial: %s", free_summary(summary, sizeof summary)))
        return false;
    tool_size_str(want, sizeof want, request);
    int order = get_order(request ? request : 1);
    struct page *page =
        order <= MAX_PAGE_ORDER ? alloc_pages(GFP_KERNEL | __GFP_NOWARN, (unsigned)order) : NULL;
    if (!page)
        return snap(t, step + 1, "alloc_pages(order %d) for %s: NULL, no free block is that large",
                    order, want);
    unsigned long pfn = page_to_pfn(page);
    tool_size_str(got, sizeof got, (unsigned long long)PAGE_SIZE << order);
    book_name(name, sizeof name, pfn, (unsigned)order);
    bool ok = snap(t, step + 1, "alloc_pages(order %d) for %s: the %s block%s at pfn %lu", order,
                   want, got, name, pfn);
    /* The pcp lists keep small blocks for the next allocation, so the free
     * may not coalesce at once: show that, then drain as the book's
     * picture (which has no pcp lists) would. */
    unsigned long pcp_before = pcp_pages();
    __free_pages(page, (unsigned)order);
    if (ok && pcp_pages() > pcp_before) {
        ok = snap(t, step + 2, "__free_pages: the %s block waits on a per-CPU list", got);
        drain_all_pages();
        return ok && snap(t, step + 3, "drain_all_pages: the buddies coalesce, %s",
                          free_summary(summary, sizeof summary));
    }
    return ok && snap(t, step + 2, "__free_pages: the buddies coalesce, %s",
                      free_summary(summary, sizeof summary));
}

/* --- the book's slab scene ------------------------------------------------ */

enum { SCENE_MAX_OBJECTS = 64 };

/* One of the scene's caches and the objects it handed out. */
struct scene_cache {
    struct kmem_cache *cache;
    unsigned int per_slab, n; /* objs[0..n) were allocated (NULL: freed) */
    void *objs[SCENE_MAX_OBJECTS];
};

/* The caches scene, until draw_scene_caches_end. */
static struct scene_cache scene_3k, scene_7k;

/* "obj-3k 1 full 1 partial 1 empty", the counts that are not 0. */
static const char *slab_summary(char *buf, size_t len, const struct scene_cache *sc)
{
    struct kmem_cache_info in;
    kmem_cache_info(sc->cache, &in);
    const unsigned long counts[3] = {in.full_slabs, in.partial_slabs, in.empty_slabs};
    static const char *const names[3] = {"full", "partial", "empty"};
    size_t used = (size_t)snprintf(buf, len, "%s", in.name);
    for (int i = 0; i < 3 && used < len; i++)
        if (counts[i])
            used += (size_t)snprintf(buf + used, len - used, " %lu %s", counts[i], names[i]);
    if (!in.slabs && used < len)
        snprintf(buf + used, len - used, " no slabs");
    return buf;
}

/* No magazines (SLAB_CONSISTENCY_CHECKS): each object's state shows in
 * its slab at once, as in the book. */
static bool scene_cache_create(struct scene_cache *sc, const char *name, unsigned int size)
{
    memset(sc, 0, sizeof *sc);
    sc->cache = kmem_cache_create(name, size, 0, SLAB_CONSISTENCY_CHECKS, NULL);
    if (!sc->cache)
        return false;
    struct kmem_cache_info in;
    kmem_cache_info(sc->cache, &in);
    sc->per_slab = in.objs_per_slab ? in.objs_per_slab : 1;
    return true;
}

/* Allocate n more objects (as many as there is room for). */
static bool scene_alloc(struct scene_cache *sc, unsigned int n)
{
    for (; n && sc->n < SCENE_MAX_OBJECTS; n--, sc->n++)
        if (!(sc->objs[sc->n] = kmem_cache_alloc(sc->cache, GFP_KERNEL | __GFP_NOWARN)))
            return false;
    return true;
}

/* Free objects [from, to); the number freed. */
static unsigned int scene_free(struct scene_cache *sc, unsigned int from, unsigned int to)
{
    unsigned int freed = 0;
    for (unsigned int i = from; i < to && i < sc->n; i++)
        if (sc->objs[i]) {
            kmem_cache_free(sc->cache, sc->objs[i]);
            sc->objs[i] = NULL;
            freed++;
        }
    return freed;
}

static void scene_cache_destroy(struct scene_cache *sc)
{
    if (sc->cache) {
        scene_free(sc, 0, sc->n);
        kmem_cache_destroy(sc->cache);
    }
    memset(sc, 0, sizeof *sc);
}

void draw_scene_caches_end(void)
{
    scene_cache_destroy(&scene_3k);
    scene_cache_destroy(&scene_7k);
}

/* Two slabs' worth of objects and part of a third: two full slabs and a
 * partial one (slabs are built as objects are asked for). */
static unsigned int scene_fill_count(const struct scene_cache *sc)
{
    unsigned int n = 2 * sc->per_slab + (sc->per_slab > 1 ? (sc->per_slab + 1) / 2 : 1);
    return n < SCENE_MAX_OBJECTS - 2 ? n : SCENE_MAX_OBJECTS - 2;
}

bool draw_scene_caches(struct timeline *t)
{
    draw_scene_caches_end();
    unsigned long step = step_base(t);
    char a[48], b[48];
    bool ok = scene_cache_create(&scene_3k, "obj-3k", 3 * 1024) &&
              scene_cache_create(&scene_7k, "obj-7k", 7 * 1024);
    unsigned int n3 = scene_fill_count(&scene_3k), n7 = scene_fill_count(&scene_7k);
    ok = ok && scene_alloc(&scene_3k, n3) && scene_alloc(&scene_7k, n7);
    step += n3 + n7;
    ok = ok && snap(t, step, "allocated %u 3 KB and %u 7 KB objects: %s; %s", n3, n7,
                    slab_summary(a, sizeof a, &scene_3k), slab_summary(b, sizeof b, &scene_7k));
    /* Freeing the objects of the second slab empties it; the cache keeps it
     * for the next allocations instead of giving its pages back at once. */
    if (ok) {
        unsigned int f3 = scene_free(&scene_3k, scene_3k.per_slab, 2 * scene_3k.per_slab);
        unsigned int f7 = scene_free(&scene_7k, scene_7k.per_slab, 2 * scene_7k.per_slab);
        step += f3 + f7;
        ok = snap(t, step, "freed %u 3 KB and %u 7 KB objects: %s; %s", f3, f7,
                  slab_summary(a, sizeof a, &scene_3k), slab_summary(b, sizeof b, &scene_7k));
    }
    /* New objects come from a partial slab first: the empty one stays in
     * reserve. */
    if (ok && scene_3k.per_slab > 2) {
        struct kmem_cache_info before, after;
        kmem_cache_info(scene_3k.cache, &before);
        ok = scene_alloc(&scene_3k, 1);
        kmem_cache_info(scene_3k.cache, &after);
        step += 1;
        ok = ok && snap(t, step, "allocated 1 more 3 KB object, from %s slab: %s",
                        after.empty_slabs < before.empty_slabs ? "an empty" : "the partial",
                        slab_summary(a, sizeof a, &scene_3k));
    }
    if (!ok)
        draw_scene_caches_end();
    return ok;
}

/* --- fragmentation -------------------------------------------------------- */

/* A fixed-seed generator (xorshift64*): the same scene every run. */
static unsigned long long rng_next(unsigned long long *x)
{
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545f4914f6cdd1dULL;
}

struct frag_item {
    void *p;              /* a struct page *, or a kmalloc object */
    unsigned int order;   /* page blocks */
    unsigned int request; /* kmalloc: bytes asked for; 0: a page block */
};

/* What the scene asked of each kmalloc cache, so that the snapshots carry
 * it and internal fragmentation is measured against the requests (the
 * rounding to the cache's size included). Indexed by log2 of the size. */
struct frag_requests {
    unsigned long objects[16];
    unsigned long long bytes[16];
    unsigned int size[16];
};

static void requests_note(struct frag_requests *r, const void *obj, unsigned int request, int sign)
{
    unsigned int size = (unsigned int)ksize(obj), k = 0;
    while ((1u << (k + 1)) <= size && k < 15)
        k++;
    r->size[k] = size;
    r->objects[k] += (unsigned long)(long)sign;
    r->bytes[k] += (unsigned long long)(long long)sign * request;
}

/* Linux's kmalloc cache names: kmalloc-96, kmalloc-1k. */
static void kmalloc_name(char *buf, size_t len, unsigned int size)
{
    if (size >= 1024 && size % 1024 == 0)
        snprintf(buf, len, "kmalloc-%uk", size / 1024);
    else
        snprintf(buf, len, "kmalloc-%u", size);
}

/* Snapshot, with what the scene asked of each kmalloc cache. */
static bool frag_snap(struct timeline *t, unsigned long step, const struct frag_requests *r,
                      const char *label)
{
    if (!snap(t, step, "%s", label))
        return false;
    struct snapshot *s = t->snaps[t->n - 1];
    for (int k = 0; k < 16; k++) {
        char name[32];
        if (!r->objects[k])
            continue;
        kmalloc_name(name, sizeof name, r->size[k]);
        struct snap_cache *c = snapshot_cache_mut(s, name);
        if (c) {
            c->live_objects = r->objects[k];
            c->requested_bytes = r->bytes[k];
            c->usage_known = true;
        }
    }
    return true;
}

static unsigned long managed_pages(void)
{
    unsigned long n = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)z, &zi))
            n += zi.managed_pages;
    }
    return n;
}

static unsigned long free_pages_now(void)
{
    unsigned long n = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)z, &zi))
            n += zi.free_pages + zi.pcp_pages;
    }
    return n;
}

/* One random allocation: mostly small page blocks, one in four a kmalloc
 * object of a size between 8 bytes and 4 KB. false: kmem said no. */
static bool frag_alloc_one(unsigned long long *rng, struct frag_item *it, struct frag_requests *r)
{
    const gfp_t gfp = GFP_KERNEL | __GFP_NOWARN | __GFP_NORETRY;
    unsigned long long x = rng_next(rng);
    memset(it, 0, sizeof *it);
    if (x % 4 == 0) {
        unsigned int size = (x >> 8) % 100 < 60 ? 8 + (x >> 16) % 120 : 128 + (x >> 16) % 3968;
        it->p = kmalloc(size, gfp);
        it->request = size;
        if (it->p)
            requests_note(r, it->p, size, 1);
        return it->p != NULL;
    }
    unsigned int pick = (x >> 8) % 100;
    it->order = pick < 50 ? 0 : pick < 75 ? 1 : pick < 90 ? 2 : 3;
    it->p = alloc_pages(gfp, it->order);
    return it->p != NULL;
}

static void frag_free_one(struct frag_item *it, struct frag_requests *r)
{
    if (!it->p)
        return;
    if (it->request) {
        requests_note(r, it->p, it->request, -1);
        kfree(it->p);
    } else {
        __free_pages(it->p, it->order);
    }
    it->p = NULL;
}

enum { FRAG_FILL_SNAPS = 3, FRAG_FREE_SNAPS = 3 };

bool draw_scene_frag(struct timeline *t)
{
    unsigned long step = step_base(t), managed = managed_pages();
    /* Fill to 97% of memory (or until kmem says no, at its watermarks), so
     * that what the frees leave is scattered. */
    unsigned long target = managed / 100 * 97 + managed % 100 * 97 / 100;
    unsigned long cap = managed + 16, n = 0;
    struct frag_item *items = calloc(cap, sizeof *items);
    struct frag_requests req;
    memset(&req, 0, sizeof req);
    unsigned long long rng = 0x6b6d656d64726177ULL; /* "kmemdraw" */
    char label[96], summary[80];
    bool ok = items && frag_snap(t, step, &req, "initial: memory is unfragmented");
    for (int phase = 1; ok && phase <= FRAG_FILL_SNAPS; phase++) {
        unsigned long goal = target / FRAG_FILL_SNAPS * (unsigned long)phase;
        while (n < cap && managed - free_pages_now() < goal &&
               frag_alloc_one(&rng, &items[n], &req))
            n++;
        step = step_base(t) + n;
        snprintf(label, sizeof label, "%lu random allocations: %s", n,
                 free_summary(summary, sizeof summary));
        ok = frag_snap(t, step, &req, label);
    }
    /* Free about every other block, at random, in a few rounds. */
    unsigned long freed = 0, ops = step;
    for (int round = 0; ok && round < FRAG_FREE_SNAPS; round++) {
        unsigned long from = n * (unsigned long)round / FRAG_FREE_SNAPS;
        unsigned long to = n * (unsigned long)(round + 1) / FRAG_FREE_SNAPS;
        for (unsigned long i = from; i < to; i++)
            if (rng_next(&rng) & 1) {
                frag_free_one(&items[i], &req);
                freed++;
                ops++;
            }
        snprintf(label, sizeof label, "freed %lu of %lu at random: %s", freed, n,
                 free_summary(summary, sizeof summary));
        ok = frag_snap(t, ops, &req, label);
    }
    for (unsigned long i = 0; items && i < n; i++)
        frag_free_one(&items[i], &req);
    free(items);
    drain_all_pages();
    return ok;
}

/* --- writing the pictures --------------------------------------------------- */

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path) {
        errno = len ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

enum picture { PIC_BUDDY, PIC_SLABS, PIC_FRAG, PIC_REPORT };

struct writer {
    const struct timeline *t;
    const char *dir, *title;
    draw_written_fn written;
    void *arg;
};

/* Write one file of dir: the picture kind of snapshot s (zone for buddy). */
static int write_one(const struct writer *w, const char *name, enum picture kind,
                     const struct snapshot *s, int zone)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", w->dir, name) >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    errno = 0;
    int rc = kind == PIC_BUDDY   ? svg_buddy(f, s, (enum kmem_zone_type)zone, true)
             : kind == PIC_SLABS ? svg_slabs(f, s, NULL, true)
             : kind == PIC_FRAG  ? svg_frag(f, w->t, true)
                                 : html_report(f, w->t, w->title);
    int saved = errno ? errno : EIO;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        saved = errno ? errno : EIO;
    }
    if (rc != 0) {
        errno = saved;
        return -1;
    }
    if (w->written)
        w->written(w->arg, path);
    return 0;
}

/* prefix-buddy-<zone>.svg for every zone of s, and prefix-slabs.svg. */
static int write_snapshot(const struct writer *w, const struct snapshot *s, const char *prefix)
{
    char name[96], zone[32];
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        if (!s->zones[z].present)
            continue;
        tool_zone_file_name(zone, sizeof zone,
                            s->zones[z].info.name ? s->zones[z].info.name : "zone");
        snprintf(name, sizeof name, "%sbuddy-%s.svg", prefix, zone);
        if (write_one(w, name, PIC_BUDDY, s, z) != 0)
            return -1;
    }
    snprintf(name, sizeof name, "%sslabs.svg", prefix);
    return write_one(w, name, PIC_SLABS, s, 0);
}

int draw_write_files(const struct timeline *t, const char *dir, const char *title, bool each_step,
                     draw_written_fn written, void *arg)
{
    if (!t->n) {
        errno = EINVAL;
        return -1;
    }
    if (make_dirs(dir) != 0)
        return -1;
    struct writer w = {t, dir, title, written, arg};
    for (unsigned long i = 0; each_step && i < t->n; i++) {
        char prefix[24];
        snprintf(prefix, sizeof prefix, "%02lu-", i + 1);
        if (write_snapshot(&w, t->snaps[i], prefix) != 0)
            return -1;
    }
    if (write_snapshot(&w, t->snaps[t->n - 1], "") != 0 ||
        write_one(&w, "frag.svg", PIC_FRAG, NULL, 0) != 0 ||
        write_one(&w, "report.html", PIC_REPORT, NULL, 0) != 0)
        return -1;
    return 0;
}

int draw_write(const struct timeline *t, const char *dir, const char *title)
{
    return draw_write_files(t, dir, title, false, NULL, NULL);
}

/* --- kmem draw ------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out, "usage: kmem draw [--mem SIZE] [--request SIZE] [--out DIR] [--scene SCENE]\n"
                 "                 [--last-only]\n"
                 "Play one of the book's scenes on a new machine and draw it: SVG pictures and\n"
                 "an HTML report (open DIR/report.html in a browser; a slider shows each step).\n"
                 "  --mem SIZE      the machine's memory (default 256K, the book's segment)\n"
                 "  --request SIZE  the book scene's request (default 21K)\n"
                 "  --out DIR       where to write (default kmem-pictures; created)\n"
                 "  --scene SCENE   book: Figure 9.26, the buddy system serving the request\n"
                 "                  caches: Figure 9.27, caches of 3 KB and 7 KB objects\n"
                 "                  all: book, then caches (the default)\n"
                 "                  frag: random blocks, half freed (try --mem 1G)\n"
                 "  --last-only     only the last snapshot's pictures, not NN-*.svg per step\n"
                 "Writes buddy-<zone>.svg, slabs.svg (the last snapshot), NN-buddy-<zone>.svg and\n"
                 "NN-slabs.svg (snapshot NN), frag.svg and report.html, and prints their paths.\n");
}

#define FRAG_MEM_MAX ((size_t)16 << 30)

struct draw_opts {
    size_t mem, request;
    const char *out, *scene;
    bool last_only;
};

/* The value of option name at argv[*i] ("--mem 1G" or "--mem=1G"), or
 * NULL if argv[*i] is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* 0 ok, 1 --help shown, 2 bad usage (said so). */
static int parse_opts(int argc, char **argv, struct draw_opts *o)
{
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(argv[i], "--last-only")) {
            o->last_only = true;
        } else if ((v = option_value(argc, argv, &i, "--mem", &missing))) {
            if (!tool_parse_size(v, &o->mem) || o->mem < PAGE_SIZE) {
                fprintf(stderr, "kmem draw: --mem '%s' is no memory size\n", v);
                return 2;
            }
        } else if ((v = option_value(argc, argv, &i, "--request", &missing))) {
            if (!tool_parse_size(v, &o->request) || o->request == 0) {
                fprintf(stderr, "kmem draw: --request '%s' is no size\n", v);
                return 2;
            }
        } else if ((v = option_value(argc, argv, &i, "--out", &missing))) {
            o->out = v;
        } else if ((v = option_value(argc, argv, &i, "--scene", &missing))) {
            o->scene = v;
        } else {
            if (missing)
                fprintf(stderr, "kmem draw: %s needs a value\n", argv[i]);
            else
                fprintf(stderr, "kmem draw: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (strcmp(o->scene, "book") && strcmp(o->scene, "caches") && strcmp(o->scene, "all") &&
        strcmp(o->scene, "frag")) {
        fprintf(stderr, "kmem draw: unknown scene '%s' (book, caches, all or frag)\n", o->scene);
        return 2;
    }
    /* Its snapshots hold every block: past a few GB they would be huge. */
    if (!strcmp(o->scene, "frag") && o->mem > FRAG_MEM_MAX) {
        fprintf(stderr, "kmem draw: the frag scene draws machines of up to 16 GB\n");
        return 2;
    }
    return 0;
}

static void print_path(void *arg, const char *path)
{
    fprintf(arg, "%s\n", path);
}

static const char *scene_title(const char *name)
{
    if (!strcmp(name, "book"))
        return "the buddy system (the book's Figure 9.26)";
    if (!strcmp(name, "caches"))
        return "slab caches (the book's Figure 9.27)";
    if (!strcmp(name, "frag"))
        return "fragmentation";
    return "the buddy system and slab caches (the book's Figures 9.26 and 9.27)";
}

static bool run_scenes(struct timeline *t, const struct draw_opts *o)
{
    bool all = !strcmp(o->scene, "all");
    if ((all || !strcmp(o->scene, "book")) && !draw_scene_book(t, o->request)) {
        fprintf(stderr, "kmem draw: the book scene failed (out of memory)\n");
        return false;
    }
    if (all || !strcmp(o->scene, "caches")) {
        bool ok = draw_scene_caches(t);
        draw_scene_caches_end();
        if (!ok) {
            fprintf(stderr, "kmem draw: the caches scene failed (is --mem too small?)\n");
            return false;
        }
    }
    if (!strcmp(o->scene, "frag") && !draw_scene_frag(t)) {
        fprintf(stderr, "kmem draw: the frag scene failed (out of memory)\n");
        return false;
    }
    return true;
}

int kmem_cmd_draw(int argc, char **argv)
{
    struct draw_opts o = {256 * 1024, 21 * 1024, "kmem-pictures", "all", false};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : 2;
    struct kmem_config cfg = {.mem_size = o.mem};
    int err = kmem_init(&cfg);
    if (err != 0) {
        fprintf(stderr, "kmem draw: kmem_init(%zu bytes) failed: %s\n", o.mem, strerror(-err));
        return 1;
    }
    struct timeline t = {NULL, 0, 0};
    bool ok = run_scenes(&t, &o);
    char size[32], title[160];
    tool_size_str(size, sizeof size, o.mem);
    snprintf(title, sizeof title, "kmem draw: %s, on a %s machine", scene_title(o.scene), size);
    if (ok && draw_write_files(&t, o.out, title, !o.last_only, print_path, stdout) != 0) {
        fprintf(stderr, "kmem draw: writing %s: %s\n", o.out, strerror(errno));
        ok = false;
    }
    timeline_free(&t);
    kmem_exit();
    return ok ? 0 : 1;
}
