/* SPDX-License-Identifier: MIT */
/*
 * replay.c - kmem replay: run a trace (trace.h, docs/TRACE.md) on a fresh
 * kmem machine and show what the allocator looks like as it goes:
 * buddyinfo, slabinfo, Linux's fragmentation measures per zone and order,
 * and the internal fragmentation of every cache, at snapshot points (every
 * N operations, at each `mark`, at the end), as text, as JSON, or as the
 * pictures of svg.h and html.h.
 *
 * A trace names its blocks by ids (tokens: numbers, or the pointers a
 * recorder saw); the replay keeps a table id -> what kmem gave for it. The
 * table is where every semantic check happens: the allocator must never see
 * a bad free (it would rightly panic), so a free of an unknown id, of an id
 * freed already, or of an id another kind of allocation made, is refused
 * here with the line's number, and the replay stops cleanly: what is still
 * live is freed, the caches are destroyed, the machine goes down. An
 * allocation kmem cannot serve (NULL) is counted and the replay goes on;
 * the id is remembered as failed so that its later free is skipped.
 *
 * The malloc family (as libkmem-malloc.so's KMEM_TRACE records it) is
 * replayed on the kernel interface, --as kmalloc (the default: kmalloc,
 * krealloc, kzalloc, vmalloc for sizes beyond kmalloc's largest) or --as
 * pages (one alloc_pages block per allocation: what a pure buddy system
 * would waste).
 *
 * Output is deterministic (no addresses, no times), so that a golden file
 * can hold it.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat, clock_gettime */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <kmem.h>

#include "html.h"
#include "json.h"
#include "snapshot.h"
#include "svg.h"
#include "tool.h"
#include "trace.h"

#define REPLAY_DEFAULT_MEM   ((size_t)64 << 20)
#define REPLAY_SNAPSHOTS     20    /* about this many over a trace, by default */
#define REPLAY_EVERY_STREAM  10000 /* every N operations when the length is unknown */
#define KMALLOC_LARGEST      (PAGE_SIZE << MAX_PAGE_ORDER) /* a large kmalloc is one block */
#define PROGRESS_INTERVAL_NS 100000000L                    /* redraw at most 10 times a second */

/* src into dst of len bytes, cut if it must be. */
static void str_copy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- Options --------------------------------------------------------------- */

enum replay_mode { MODE_KMALLOC, MODE_PAGES };
enum replay_show { SHOW_ALL, SHOW_LAST, SHOW_NONE };

struct options {
    size_t mem;
    enum replay_mode mode;
    unsigned long every; /* 0: no periodic snapshots */
    bool every_given;
    enum replay_show show;
    bool json;
    bool progress;
    const char *svg_dir;
    const char *html_file;
    const char *trace;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kmem replay [options] TRACE     (TRACE '-': standard input)\n"
            "Replay an allocation trace (docs/TRACE.md) on a fresh kmem machine and show\n"
            "buddyinfo, slabinfo and fragmentation at snapshot points.\n"
            "  --mem SIZE         machine size (default 64M)\n"
            "  --as kmalloc       malloc-family lines as kmalloc/krealloc/kfree; sizes beyond\n"
            "                     4 MB as vmalloc (the default)\n"
            "  --as pages         malloc-family lines as alloc_pages(get_order(size)): what a\n"
            "                     pure buddy system wastes\n"
            "  --every N          a snapshot every N operations (0: none; default: about %d\n"
            "                     over a file, every %d on a pipe); also one at each 'mark'\n"
            "                     line and one at the end\n"
            "  --summary          show only the last snapshot and the summary\n"
            "  -q, --quiet        show only the summary\n"
            "  --json             one JSON document on standard output instead of text\n"
            "  --svg DIR          pictures of the end: DIR/buddy-<zone>.svg, DIR/slabs.svg,\n"
            "                     DIR/frag.svg (fragmentation over the snapshots)\n"
            "  --html FILE        a report page with every snapshot\n"
            "  --no-progress      no progress bar (it is drawn on a terminal's stderr)\n"
            "  -h, --help         this text\n"
            "SIZE: bytes, or with K, M or G (256K, 64M). Exit status: 0 the trace replayed\n"
            "and every check holds, 1 a bad trace line or a failed check, 2 bad usage.\n",
            REPLAY_SNAPSHOTS, REPLAY_EVERY_STREAM);
}

static int usage_error(const char *fmt, const char *arg)
{
    fputs("kmem replay: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    usage(stderr);
    return 2;
}

/* "--name VALUE" or "--name=VALUE": true if argv[*i] is this option, with
 * *value set (NULL if the value is missing). */
static bool option_with_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return false;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n])
        return false;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static bool parse_count(const char *text, unsigned long *out)
{
    char *end;
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* 0 when parsed, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->mem = REPLAY_DEFAULT_MEM;
    o->progress = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        } else if (option_with_value(argc, argv, &i, "--mem", &v)) {
            if (!v || !tool_parse_size(v, &o->mem) || o->mem < PAGE_SIZE)
                return usage_error("--mem wants a size (256K, 64M), not '%s'", v ? v : "");
        } else if (option_with_value(argc, argv, &i, "--as", &v)) {
            if (v && !strcmp(v, "kmalloc"))
                o->mode = MODE_KMALLOC;
            else if (v && !strcmp(v, "pages"))
                o->mode = MODE_PAGES;
            else
                return usage_error("--as wants kmalloc or pages, not '%s'", v ? v : "");
        } else if (option_with_value(argc, argv, &i, "--every", &v)) {
            if (!v || !parse_count(v, &o->every))
                return usage_error("--every wants a number of operations, not '%s'", v ? v : "");
            o->every_given = true;
        } else if (option_with_value(argc, argv, &i, "--svg", &v)) {
            if (!v || !*v)
                return usage_error("--svg wants a directory%s", "");
            o->svg_dir = v;
        } else if (option_with_value(argc, argv, &i, "--html", &v)) {
            if (!v || !*v)
                return usage_error("--html wants a file name%s", "");
            o->html_file = v;
        } else if (!strcmp(a, "--summary")) {
            o->show = SHOW_LAST;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->show = SHOW_NONE;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--no-progress")) {
            o->progress = false;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (o->trace) {
            return usage_error("one trace at a time ('%s' is one too many)", a);
        } else {
            o->trace = a;
        }
    }
    if (!o->trace)
        return usage_error("which trace? (a file, or '-' for standard input)%s", "");
    return 0;
}

/* ---- kmalloc's size classes (src/core/kmalloc.c) ---------------------------- */

/* Sizes up to 192 go to the smallest class that holds them, larger ones to
 * the next power of two; power-of-two classes are naturally aligned, 96 and
 * 192 to 32 and 64. The replay needs them for two things: to count a live
 * object against its cache (found from ksize) and to choose a request size
 * whose class is aligned enough for a memalign. */
static const struct kclass {
    const char *name;
    unsigned int size;
    unsigned int align;
} kclasses[] = {
    {"kmalloc-8", 8, 8},        {"kmalloc-16", 16, 16},     {"kmalloc-32", 32, 32},
    {"kmalloc-64", 64, 64},     {"kmalloc-96", 96, 32},     {"kmalloc-128", 128, 128},
    {"kmalloc-192", 192, 64},   {"kmalloc-256", 256, 256},  {"kmalloc-512", 512, 512},
    {"kmalloc-1k", 1024, 1024}, {"kmalloc-2k", 2048, 2048}, {"kmalloc-4k", 4096, 4096},
    {"kmalloc-8k", 8192, 8192},
};

#define NR_KCLASSES ((int)(sizeof kclasses / sizeof kclasses[0]))

/* The class a request of size bytes (1..8192) goes to. */
static int kclass_for_request(size_t size)
{
    for (int c = 0; c < NR_KCLASSES; c++)
        if (size <= kclasses[c].size)
            return c;
    return -1;
}

/* The class of a live kmalloc object of usable size ksize, or -1 (a large
 * block, or ZERO_SIZE_PTR). */
static int kclass_of_usable(size_t usable)
{
    for (int c = 0; c < NR_KCLASSES; c++)
        if (usable == kclasses[c].size)
            return c;
    return -1;
}

static int kclass_by_name(const char *name)
{
    for (int c = 0; c < NR_KCLASSES; c++)
        if (!strcmp(name, kclasses[c].name))
            return c;
    return -1;
}

/* The alignment kmalloc gives a request of size bytes, at least. */
static size_t kmalloc_natural_align(size_t size)
{
    if (size > KMALLOC_MAX_CACHE_SIZE)
        return PAGE_SIZE; /* a block of pages */
    return kclasses[kclass_for_request(size ? size : 1)].align;
}

static size_t round_up_pow2(size_t v)
{
    size_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* What to ask kmalloc for so that the object is aligned to align (at most
 * a page): size itself when its class is aligned enough, else the power of
 * two that covers both (power-of-two classes are naturally aligned). */
static size_t kmalloc_request_for_align(size_t size, size_t align)
{
    if (align <= kmalloc_natural_align(size))
        return size;
    return round_up_pow2(size > align ? size : align);
}

/* ---- What kmem gave ------------------------------------------------------- */

enum backing {
    BK_NONE,    /* the allocation failed */
    BK_PAGES,   /* ptr is a struct page *, order */
    BK_CACHE,   /* an object of a created cache */
    BK_KMALLOC, /* from kmalloc (kclass: its class, or -1 for a large block) */
    BK_VMALLOC, /* a vmalloc area */
};

struct block {
    void *ptr;
    uint32_t cache; /* BK_CACHE: index into replay.caches */
    uint8_t backing;
    uint8_t order; /* BK_PAGES, and a large kmalloc's block */
    int8_t kclass; /* BK_KMALLOC: the class, or -1: a large block (or ZERO_SIZE_PTR) */
    bool sized;    /* BK_PAGES: a malloc-family block, which asked for bytes */
};

/* Live objects (of a cache, or of a kind of block), the bytes asked for
 * them, and (blocks only) the bytes of the blocks that hold them. */
struct usage {
    unsigned long live;
    unsigned long long requested;
    unsigned long long held;
};

/* Blocks that are no slab objects but hold sized requests: their internal
 * fragmentation is shown next to the caches'. alloc_pages lines ask for
 * whole blocks, so they waste nothing inside and are not counted. */
enum block_use { BU_KMALLOC_LARGE, BU_PAGES, BU_VMALLOC, NR_BLOCK_USES };

static const char *const block_use_names[NR_BLOCK_USES] = {
    [BU_KMALLOC_LARGE] = "kmalloc-large", /* kmalloc beyond 8 KB: a block of pages */
    [BU_PAGES] = "pages",                 /* malloc family --as pages, big memaligns */
    [BU_VMALLOC] = "vmalloc",
};

/* A cache the trace created. Destroyed ones stay (entries may name them
 * by index) but are no longer found by name. */
struct rcache {
    char name[TRACE_NAME_MAX];
    struct kmem_cache *cache;
    unsigned int object_size;
    unsigned long line;
    bool destroyed;
    struct usage use;
};

/* ---- The id table ---------------------------------------------------------- */

/*
 * Open addressing with linear probing, keyed by the id's text. A freed id
 * stays in the table (ID_FREED, with the line of its free) so that a second
 * free can say where the first was; such entries are reused by the next new
 * id that probes past them, and dropped when the table is rebuilt, so the
 * table grows with the live ids, not with the trace. Load stays below 3/4;
 * a rebuild leaves it at most 3/8.
 */
enum id_state { ID_EMPTY, ID_LIVE, ID_FAILED, ID_FREED };

struct id_entry {
    char tok[TRACE_TOKEN_MAX];
    struct block b;
    unsigned long long size; /* bytes asked for */
    unsigned long line;      /* of the allocation (LIVE, FAILED) or the free (FREED) */
    uint32_t hash;
    uint8_t state;
    uint8_t alloc_op; /* the enum trace_op that allocated it */
};

struct id_table {
    struct id_entry *slots;
    size_t cap;  /* a power of two */
    size_t used; /* entries not ID_EMPTY */
    size_t live; /* ID_LIVE and ID_FAILED */
};

enum { IDS_MIN_CAP = 1024 };

/* FNV-1a, then a final mix so that ids differing in their last hex digits
 * (pointers) spread over the whole table. */
static uint32_t id_hash(const char *tok)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)tok; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static bool ids_init(struct id_table *t)
{
    memset(t, 0, sizeof *t);
    t->slots = calloc(IDS_MIN_CAP, sizeof *t->slots);
    t->cap = IDS_MIN_CAP;
    return t->slots != NULL;
}

static void ids_free(struct id_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* The entry of tok (any state but empty), or NULL. *spot: where tok lives,
 * or where it would go (the first freed entry on the way, else the empty
 * slot that ended the probe). */
static struct id_entry *ids_probe(const struct id_table *t, const char *tok, uint32_t h,
                                  struct id_entry **spot)
{
    size_t mask = t->cap - 1;
    struct id_entry *reuse = NULL;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct id_entry *e = &t->slots[i];
        if (e->state == ID_EMPTY) {
            *spot = reuse ? reuse : e;
            return NULL;
        }
        if (e->hash == h && !strcmp(e->tok, tok)) {
            *spot = e;
            return e;
        }
        if (e->state == ID_FREED && !reuse)
            reuse = e;
    }
}

static struct id_entry *ids_get(const struct id_table *t, const char *tok)
{
    struct id_entry *spot;
    return ids_probe(t, tok, id_hash(tok), &spot);
}

/* Rebuild with the live entries only, in a table where they fill at most
 * 3/8. false: out of memory (the old table stays). */
static bool ids_rebuild(struct id_table *t)
{
    size_t cap = t->cap;
    while ((t->live + 1) * 8 > cap * 3)
        cap *= 2;
    struct id_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    struct id_table n = {slots, cap, 0, 0};
    for (size_t i = 0; i < t->cap; i++) {
        const struct id_entry *e = &t->slots[i];
        if (e->state != ID_LIVE && e->state != ID_FAILED)
            continue;
        struct id_entry *spot;
        ids_probe(&n, e->tok, e->hash, &spot);
        *spot = *e;
        n.used++;
        n.live++;
    }
    free(t->slots);
    *t = n;
    return true;
}

/* Room for one more id, so that ids_claim never moves entries: pointers
 * taken during an operation stay valid. */
static bool ids_reserve(struct id_table *t)
{
    if ((t->used + 1) * 4 <= t->cap * 3)
        return true;
    return ids_rebuild(t);
}

/* A new entry for tok, which must not be live; after ids_reserve. */
static struct id_entry *ids_claim(struct id_table *t, const char *tok)
{
    uint32_t h = id_hash(tok);
    struct id_entry *spot;
    ids_probe(t, tok, h, &spot);
    if (spot->state == ID_EMPTY)
        t->used++;
    memset(spot, 0, sizeof *spot);
    str_copy(spot->tok, sizeof spot->tok, tok);
    spot->hash = h;
    t->live++;
    return spot;
}

static void ids_forget(struct id_table *t, struct id_entry *e, unsigned long line)
{
    e->state = ID_FREED;
    e->line = line;
    t->live--;
}

/* ---- The replay's state ---------------------------------------------------- */

struct progress {
    bool on;
    unsigned long long total; /* bytes of the trace, 0: unknown (a pipe) */
    struct timespec last;
    bool drawn;
};

struct replay {
    const struct options *opt;
    const char *file; /* for messages */
    const char *title;
    struct trace_reader reader;
    struct id_table ids;
    struct rcache *caches;
    size_t ncaches, caches_cap;
    struct usage kusage[NR_KCLASSES];
    struct usage busage[NR_BLOCK_USES];
    unsigned long every;

    /* Counters for the summary. */
    unsigned long ops; /* operations done (marks are no operations) */
    unsigned long marks;
    unsigned long by_op[TR_NR_OPS];
    unsigned long failed;            /* allocations kmem answered with NULL */
    unsigned long recorded_null;     /* ids '-': the traced program got NULL; skipped */
    unsigned long vmalloc_fallbacks; /* malloc-family sizes beyond kmalloc's largest */
    unsigned long page_fallbacks;    /* memaligns beyond a page, as alloc_pages */
    unsigned long peak_pages, peak_step;
    unsigned long live_at_end;
    unsigned long long live_bytes_at_end;
    int page_violations, cache_violations, vmalloc_violations;

    /* Snapshots. */
    bool keep_timeline; /* the pictures need every snapshot */
    struct timeline timeline;
    unsigned long snapshots;
    unsigned long last_snap_step;
    bool have_snap;
    char last_desc[160]; /* the last operation, for a periodic snapshot's label */
    unsigned long last_line;
    struct json json;

    /* A semantic error stops the replay. */
    bool stopped;
    unsigned long error_line;
    char error[256];
    struct progress progress;
};

__attribute__((format(printf, 2, 3))) static bool replay_error(struct replay *r, const char *fmt,
                                                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- Blocks: allocating and releasing ------------------------------------- */

static struct usage *block_usage(struct replay *r, const struct block *b)
{
    switch (b->backing) {
    case BK_CACHE:
        return &r->caches[b->cache].use;
    case BK_KMALLOC:
        if (b->kclass >= 0)
            return &r->kusage[b->kclass];
        return b->ptr == ZERO_SIZE_PTR ? NULL : &r->busage[BU_KMALLOC_LARGE];
    case BK_PAGES:
        return b->sized ? &r->busage[BU_PAGES] : NULL;
    case BK_VMALLOC:
        return &r->busage[BU_VMALLOC];
    default:
        return NULL;
    }
}

/* The bytes of a block that is no slab object (known without asking kmem,
 * so that it can be said after the block is gone). */
static unsigned long long block_held(const struct block *b, unsigned long long size)
{
    if (b->backing == BK_VMALLOC)
        return (size + PAGE_SIZE - 1) & ~(unsigned long long)(PAGE_SIZE - 1);
    return (unsigned long long)PAGE_SIZE << b->order;
}

static void account(struct replay *r, const struct block *b, unsigned long long size, bool add)
{
    struct usage *u = block_usage(r, b);
    if (!u)
        return;
    bool slab = b->backing == BK_CACHE || (b->backing == BK_KMALLOC && b->kclass >= 0);
    unsigned long long held = slab ? 0 : block_held(b, size);
    if (add) {
        u->live++;
        u->requested += size;
        u->held += held;
    } else {
        u->live--;
        u->requested -= size;
        u->held -= held;
    }
}

static struct block block_pages(unsigned int order)
{
    struct block b = {0};
    struct page *page = order <= MAX_PAGE_ORDER ? alloc_pages(GFP_KERNEL, order) : NULL;
    if (page) {
        b.backing = BK_PAGES;
        b.ptr = page;
        b.order = (uint8_t)order;
    }
    return b;
}

static struct block block_from_kmalloc(void *p)
{
    struct block b = {0};
    if (p) {
        size_t usable = ksize(p);
        b.backing = BK_KMALLOC;
        b.ptr = p;
        b.kclass = (int8_t)kclass_of_usable(usable);
        if (b.kclass < 0 && usable)
            b.order = (uint8_t)get_order(usable);
    }
    return b;
}

static struct block block_vmalloc(size_t size, gfp_t gfp)
{
    struct block b = {0};
    void *p = __vmalloc(size, gfp);
    if (p) {
        b.backing = BK_VMALLOC;
        b.ptr = p;
    }
    return b;
}

static struct block block_cache(struct replay *r, uint32_t index)
{
    struct block b = {0};
    void *obj = kmem_cache_alloc(r->caches[index].cache, GFP_KERNEL);
    if (obj) {
        b.backing = BK_CACHE;
        b.ptr = obj;
        b.cache = index;
    }
    return b;
}

static void block_release(struct replay *r, const struct block *b)
{
    switch (b->backing) {
    case BK_PAGES:
        __free_pages(b->ptr, b->order);
        break;
    case BK_CACHE:
        kmem_cache_free(r->caches[b->cache].cache, b->ptr);
        break;
    case BK_KMALLOC:
        kfree(b->ptr);
        break;
    case BK_VMALLOC:
        vfree(b->ptr);
        break;
    default:
        break;
    }
}

/* The pages order holding bytes (at least one page). */
static unsigned int order_for(size_t bytes)
{
    return bytes ? (unsigned int)get_order(bytes) : 0;
}

static struct block block_sized_pages(unsigned int order)
{
    struct block b = block_pages(order);
    b.sized = true;
    return b;
}

/* A malloc-family allocation of size bytes aligned to align (0: malloc's
 * own), as --as says. */
static struct block malloc_family_alloc(struct replay *r, size_t size, size_t align, bool zero)
{
    gfp_t gfp = GFP_KERNEL | (zero ? __GFP_ZERO : 0);
    if (r->opt->mode == MODE_PAGES) {
        size_t bytes = size > align ? size : align;
        if (bytes > KMALLOC_LARGEST) {
            r->vmalloc_fallbacks++;
            return block_vmalloc(size, gfp);
        }
        return block_sized_pages(order_for(bytes));
    }
    if (align > PAGE_SIZE) {
        /* No kmalloc class is aligned beyond a page: a block, which is
         * naturally aligned. */
        r->page_fallbacks++;
        return block_sized_pages(order_for(size > align ? size : align));
    }
    size_t request = align ? kmalloc_request_for_align(size, align) : size;
    if (request > KMALLOC_LARGEST) {
        r->vmalloc_fallbacks++;
        return block_vmalloc(size, gfp);
    }
    return block_from_kmalloc(kmalloc(request, gfp));
}

/* Resize *old (size old_size, live) to size bytes as realloc would. true:
 * *out is the block now (old is gone unless it is the same); false: no
 * memory, old is untouched. */
static bool malloc_family_resize(struct replay *r, const struct block *old, size_t size,
                                 struct block *out)
{
    if (r->opt->mode == MODE_KMALLOC && old->backing == BK_KMALLOC && size <= KMALLOC_LARGEST) {
        void *p = krealloc(old->ptr, size, GFP_KERNEL);
        if (!p)
            return false;
        *out = block_from_kmalloc(p);
        return true;
    }
    if (r->opt->mode == MODE_PAGES && old->backing == BK_PAGES && size <= KMALLOC_LARGEST &&
        order_for(size) == old->order) {
        *out = *old; /* the block holds it already */
        return true;
    }
    struct block b = malloc_family_alloc(r, size, 0, false);
    if (b.backing == BK_NONE)
        return false;
    block_release(r, old);
    *out = b;
    return true;
}

/* ---- Caches ---------------------------------------------------------------- */

static struct rcache *cache_find(struct replay *r, const char *name)
{
    for (size_t i = r->ncaches; i-- > 0;)
        if (!r->caches[i].destroyed && !strcmp(r->caches[i].name, name))
            return &r->caches[i];
    return NULL;
}

struct name_search {
    const char *name;
    bool found;
};

static bool cache_name_matches(void *arg, struct kmem_cache *cache)
{
    struct name_search *s = arg;
    if (!strcmp(kmem_cache_name(cache), s->name))
        s->found = true;
    return !s->found;
}

/* Has kmem a cache of this name (kmalloc-64, kmem's own)? Two caches of one
 * name would make the snapshots ambiguous. */
static bool kmem_has_cache(const char *name)
{
    struct name_search s = {name, false};
    kmem_cache_walk(cache_name_matches, &s);
    return s.found;
}

/* ---- The operations ---------------------------------------------------------- */

/* Which operation frees what op allocated. */
static enum trace_op free_op_for(enum trace_op op)
{
    switch (op) {
    case TR_ALLOC_PAGES:
        return TR_FREE_PAGES;
    case TR_CACHE_ALLOC:
        return TR_CACHE_FREE;
    case TR_KMALLOC:
        return TR_KFREE;
    case TR_VMALLOC:
        return TR_VFREE;
    default:
        return TR_FREE; /* malloc, calloc, realloc, memalign */
    }
}

/* An id an allocation is about to name: not live already. */
static bool check_new_id(struct replay *r, enum trace_op op, const char *id)
{
    const struct id_entry *e = ids_get(&r->ids, id);
    if (e && e->state != ID_FREED)
        return replay_error(r, "%s of id '%s', which is still live (%s at line %lu)",
                            trace_op_name(op), id, trace_op_name(e->alloc_op), e->line);
    return true;
}

/* The live entry a free (or realloc) names, checked to be of the kind op
 * frees; NULL and the reason in r->error otherwise. */
static struct id_entry *live_id(struct replay *r, enum trace_op op, const char *id)
{
    struct id_entry *e = ids_get(&r->ids, id);
    if (!e) {
        replay_error(r, "%s of unknown id '%s'", trace_op_name(op), id);
        return NULL;
    }
    if (e->state == ID_FREED) {
        replay_error(r, "%s of id '%s', already freed at line %lu", trace_op_name(op), id, e->line);
        return NULL;
    }
    enum trace_op expected = op == TR_REALLOC ? TR_FREE : op;
    if (free_op_for(e->alloc_op) != expected) {
        replay_error(r, "%s of id '%s', which %s allocated (line %lu)", trace_op_name(op), id,
                     trace_op_name(e->alloc_op), e->line);
        return NULL;
    }
    return e;
}

/* Enter what an allocation gave under id. */
static void record_block(struct replay *r, const char *id, enum trace_op op, size_t size,
                         const struct block *b)
{
    struct id_entry *e = ids_claim(&r->ids, id);
    e->b = *b;
    e->size = size;
    e->line = r->reader.line_no;
    e->alloc_op = (uint8_t)op;
    if (b->backing == BK_NONE) {
        e->state = ID_FAILED;
        r->failed++;
    } else {
        e->state = ID_LIVE;
        account(r, b, size, true);
    }
}

static void release_entry(struct replay *r, struct id_entry *e)
{
    if (e->state == ID_LIVE) {
        account(r, &e->b, e->size, false);
        block_release(r, &e->b);
    }
    ids_forget(&r->ids, e, r->reader.line_no);
}

/* Every free: free_pages, cache_free, kfree, vfree, free. */
static bool op_free(struct replay *r, const struct trace_rec *rec)
{
    if (trace_id_is_null(rec->id))
        return true; /* free(NULL) */
    struct id_entry *e = live_id(r, rec->op, rec->id);
    if (!e)
        return false;
    release_entry(r, e);
    return true;
}

/* Every allocation but cache_alloc and realloc. */
static bool op_alloc(struct replay *r, const struct trace_rec *rec)
{
    if (trace_id_is_null(rec->id)) {
        r->recorded_null++;
        return true;
    }
    if (!check_new_id(r, rec->op, rec->id))
        return false;
    size_t size = (size_t)rec->size;
    struct block b;
    switch (rec->op) {
    case TR_ALLOC_PAGES:
        size = PAGE_SIZE << rec->n; /* a whole block is what it asks for */
        b = block_pages((unsigned int)rec->n);
        break;
    case TR_KMALLOC:
        b = block_from_kmalloc(kmalloc(size, GFP_KERNEL));
        break;
    case TR_VMALLOC:
        b = block_vmalloc(size, GFP_KERNEL);
        break;
    case TR_MALLOC:
        b = malloc_family_alloc(r, size, 0, false);
        break;
    case TR_CALLOC:
        b = malloc_family_alloc(r, size, 0, true);
        break;
    default: /* TR_MEMALIGN */
        b = malloc_family_alloc(r, size, (size_t)rec->n, false);
        break;
    }
    record_block(r, rec->id, rec->op, size, &b);
    return true;
}

static bool op_cache_alloc(struct replay *r, const struct trace_rec *rec)
{
    struct rcache *c = cache_find(r, rec->name);
    if (!c)
        return replay_error(r, "cache_alloc from unknown cache '%s'", rec->name);
    if (trace_id_is_null(rec->id)) {
        r->recorded_null++;
        return true;
    }
    if (!check_new_id(r, rec->op, rec->id))
        return false;
    struct block b = block_cache(r, (uint32_t)(c - r->caches));
    record_block(r, rec->id, rec->op, c->object_size, &b);
    return true;
}

/* realloc OLD NEW SIZE, as the recorder writes it: OLD '-' is
 * realloc(NULL, SIZE); NEW '-' is a realloc that returned NULL: it freed
 * OLD (SIZE 0) or failed in the traced program (OLD stays). */
static bool op_realloc(struct replay *r, const struct trace_rec *rec)
{
    bool old_null = trace_id_is_null(rec->id2), new_null = trace_id_is_null(rec->id);
    size_t size = (size_t)rec->size;
    if (old_null) {
        if (new_null) {
            r->recorded_null++;
            return true;
        }
        if (!check_new_id(r, rec->op, rec->id))
            return false;
        struct block b = malloc_family_alloc(r, size, 0, false);
        record_block(r, rec->id, rec->op, size, &b);
        return true;
    }
    struct id_entry *e = live_id(r, rec->op, rec->id2);
    if (!e)
        return false;
    if (new_null) {
        if (size == 0)
            release_entry(r, e);
        else
            r->recorded_null++;
        return true;
    }
    if (strcmp(rec->id, rec->id2) && !check_new_id(r, rec->op, rec->id))
        return false;
    struct id_entry old = *e;
    struct block b = {0};
    if (old.state == ID_FAILED) {
        b = malloc_family_alloc(r, size, 0, false);
    } else if (!malloc_family_resize(r, &old.b, size, &b)) {
        /* kmem has no room: the old block stays, under its new name,
         * as realloc leaves it when it fails. */
        r->failed++;
        ids_forget(&r->ids, e, r->reader.line_no);
        struct id_entry *n = ids_claim(&r->ids, rec->id);
        *n = old;
        str_copy(n->tok, sizeof n->tok, rec->id);
        n->hash = id_hash(rec->id);
        return true;
    }
    if (old.state == ID_LIVE)
        account(r, &old.b, old.size, false);
    ids_forget(&r->ids, e, r->reader.line_no);
    record_block(r, rec->id, rec->op, size, &b);
    return true;
}

static bool op_cache_create(struct replay *r, const struct trace_rec *rec)
{
    const struct rcache *old = cache_find(r, rec->name);
    if (old)
        return replay_error(r, "cache_create of '%s', which exists (created at line %lu)",
                            rec->name, old->line);
    if (kmem_has_cache(rec->name))
        return replay_error(r, "cache_create of '%s': kmem has a cache of that name", rec->name);
    if (r->ncaches == r->caches_cap) {
        size_t cap = r->caches_cap ? 2 * r->caches_cap : 16;
        struct rcache *n = realloc(r->caches, cap * sizeof *n);
        if (!n)
            return replay_error(r, "out of memory");
        r->caches = n;
        r->caches_cap = cap;
    }
    struct kmem_cache *cache =
        kmem_cache_create(rec->name, (unsigned int)rec->size, (unsigned int)rec->n, 0, NULL);
    if (!cache)
        return replay_error(r, "cache_create of '%s' failed (kmem_cache_create: no memory?)",
                            rec->name);
    struct rcache *c = &r->caches[r->ncaches++];
    memset(c, 0, sizeof *c);
    str_copy(c->name, sizeof c->name, rec->name);
    c->cache = cache;
    c->object_size = (unsigned int)rec->size;
    c->line = r->reader.line_no;
    return true;
}

static void cache_destroy(struct replay *r, struct rcache *c)
{
    r->cache_violations += kmem_cache_check(c->cache);
    kmem_cache_destroy(c->cache);
    c->destroyed = true;
}

static bool op_cache_destroy(struct replay *r, const struct trace_rec *rec)
{
    struct rcache *c = cache_find(r, rec->name);
    if (!c)
        return replay_error(r, "cache_destroy of unknown cache '%s'", rec->name);
    if (c->use.live)
        return replay_error(r, "cache_destroy of '%s' with %lu live object%s", rec->name,
                            c->use.live, c->use.live == 1 ? "" : "s");
    cache_destroy(r, c);
    return true;
}

static bool op_allocates(enum trace_op op)
{
    switch (op) {
    case TR_ALLOC_PAGES:
    case TR_CACHE_CREATE:
    case TR_CACHE_ALLOC:
    case TR_KMALLOC:
    case TR_VMALLOC:
    case TR_MALLOC:
    case TR_CALLOC:
    case TR_REALLOC:
    case TR_MEMALIGN:
        return true;
    default:
        return false;
    }
}

/* Pages handed out now, over every zone (free pages on per-CPU lists are
 * not handed out). */
static unsigned long allocated_pages(void)
{
    unsigned long pages = 0;
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)z, &zi))
            pages += zi.managed_pages - zi.free_pages - zi.pcp_pages;
    }
    return pages;
}

static bool replay_op(struct replay *r, const struct trace_rec *rec)
{
    if (!ids_reserve(&r->ids))
        return replay_error(r, "out of memory for the id table");
    switch (rec->op) {
    case TR_FREE_PAGES:
    case TR_CACHE_FREE:
    case TR_KFREE:
    case TR_VFREE:
    case TR_FREE:
        return op_free(r, rec);
    case TR_CACHE_CREATE:
        return op_cache_create(r, rec);
    case TR_CACHE_ALLOC:
        return op_cache_alloc(r, rec);
    case TR_CACHE_DESTROY:
        return op_cache_destroy(r, rec);
    case TR_REALLOC:
        return op_realloc(r, rec);
    default:
        return op_alloc(r, rec);
    }
}

/* ---- Snapshots ---------------------------------------------------------------- */

static void describe(const struct trace_rec *rec, char *buf, size_t len)
{
    switch (rec->op) {
    case TR_CACHE_CREATE:
    case TR_CACHE_DESTROY:
        snprintf(buf, len, "%s %s", trace_op_name(rec->op), rec->name);
        break;
    case TR_REALLOC:
        snprintf(buf, len, "realloc %s -> %s", rec->id2, rec->id);
        break;
    default:
        snprintf(buf, len, "%s %s", trace_op_name(rec->op), rec->id);
        break;
    }
}

/* The requests the replay knows for a snapshot's cache, or NULL for a cache
 * it knows nothing of (kmem's own). */
static const struct usage *known_usage(struct replay *r, const char *name)
{
    int k = kclass_by_name(name);
    if (k >= 0)
        return &r->kusage[k];
    const struct rcache *c = cache_find(r, name);
    return c ? &c->use : NULL;
}

static void fill_usage(struct replay *r, struct snapshot *s)
{
    for (unsigned long i = 0; i < s->ncaches; i++) {
        const struct usage *u = known_usage(r, s->caches[i].name);
        if (u) {
            s->caches[i].live_objects = u->live;
            s->caches[i].requested_bytes = u->requested;
            s->caches[i].usage_known = true;
        }
    }
}

static unsigned long long slab_bytes(const struct kmem_cache_info *info)
{
    return (unsigned long long)info->slabs * info->pages_per_slab * PAGE_SIZE;
}

/* A cache's internal fragmentation (frag.h). */
static double cache_internal(const struct snap_cache *c)
{
    return frag_internal(&c->info, c->requested_bytes, c->usage_known);
}

static bool cache_is_known(struct replay *r, const struct snap_cache *c)
{
    return !c->internal && known_usage(r, c->name);
}

/* The lines of /proc/slabinfo for the caches the snapshot holds (those
 * with slabs), after its two header lines. */
static void print_slabinfo(const struct snapshot *s)
{
    const char *p = s->slabinfo;
    for (int line = 0; *p; line++) {
        size_t n = strcspn(p, "\n");
        size_t name_len = strcspn(p, " \n");
        char name[TRACE_TOKEN_MAX];
        bool keep = line < 2;
        if (!keep && name_len < sizeof name) {
            memcpy(name, p, name_len);
            name[name_len] = '\0';
            keep = snapshot_cache(s, name) != NULL;
        }
        if (keep)
            printf("  %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
}

static void print_indented(const char *text)
{
    while (*text) {
        size_t n = strcspn(text, "\n");
        printf("  %.*s\n", (int)n, text);
        text += n + (text[n] == '\n');
    }
}

static void print_zone_frag(const struct snap_zone *z)
{
    printf("fragmentation, zone %s (%lu pages managed, %lu free on the buddy lists):\n",
           z->info.name, z->info.managed_pages, z->frag.free_pages);
    printf("  order   ");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        printf(" %6d", o);
    printf("\n  unusable");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        printf(" %6.3f", z->frag.unusable[o]);
    printf("\n  extfrag ");
    for (int o = 0; o < NR_PAGE_ORDERS; o++) {
        if (z->frag.extfrag[o] == -1.0) /* a block is free: the allocation succeeds */
            printf(" %6s", "-");
        else
            printf(" %6.3f", z->frag.extfrag[o]);
    }
    printf("\n");
}

static double held_internal(unsigned long long requested, unsigned long long held)
{
    return held ? 1.0 - (double)requested / (double)held : 0.0;
}

static void print_internal_row(bool *header, const char *name, const char *objects,
                               unsigned long long requested, unsigned long long held,
                               double internal)
{
    if (!*header)
        printf("internal fragmentation (1 - bytes asked for / bytes of the slabs or blocks):\n"
               "  %-17s %8s %12s %12s %9s\n",
               "cache or blocks", "objects", "asked for", "held", "internal");
    *header = true;
    printf("  %-17s %8s %12llu %12llu %8.1f%%\n", name, objects, requested, held, 100.0 * internal);
}

static void print_internal(struct replay *r, const struct snapshot *s)
{
    unsigned long long k_req = 0, k_bytes = 0;
    bool header = false;
    char objects[24];
    for (unsigned long i = 0; i < s->ncaches; i++) {
        const struct snap_cache *c = &s->caches[i];
        if (!cache_is_known(r, c))
            continue;
        snprintf(objects, sizeof objects, "%lu", c->live_objects);
        print_internal_row(&header, c->name, objects, c->requested_bytes, slab_bytes(&c->info),
                           cache_internal(c));
        if (kclass_by_name(c->name) >= 0) {
            k_req += c->requested_bytes;
            k_bytes += slab_bytes(&c->info);
        }
    }
    if (k_bytes)
        print_internal_row(&header, "kmalloc (all)", "", k_req, k_bytes,
                           held_internal(k_req, k_bytes));
    for (int u = 0; u < NR_BLOCK_USES; u++) {
        const struct usage *b = &r->busage[u];
        if (!b->live)
            continue;
        snprintf(objects, sizeof objects, "%lu", b->live);
        print_internal_row(&header, block_use_names[u], objects, b->requested, b->held,
                           held_internal(b->requested, b->held));
    }
}

static void print_snapshot_text(struct replay *r, const struct snapshot *s, unsigned long line)
{
    printf("\n== after %lu operation%s (line %lu): %s\n", s->step, s->step == 1 ? "" : "s", line,
           s->label);
    printf("buddyinfo:\n");
    print_indented(s->buddyinfo);
    printf("slabinfo (caches with slabs):\n");
    print_slabinfo(s);
    for (int z = 0; z < KMEM_NR_ZONES; z++)
        if (s->zones[z].present)
            print_zone_frag(&s->zones[z]);
    print_internal(r, s);
}

static void json_zone(struct json *j, const struct snap_zone *z)
{
    json_begin_object(j, NULL);
    json_string(j, "name", z->info.name);
    json_uint(j, "managed_pages", z->info.managed_pages);
    json_uint(j, "free_pages", z->info.free_pages);
    json_uint(j, "pcp_pages", z->info.pcp_pages);
    json_begin_flat_array(j, "nr_free");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        json_uint(j, NULL, z->info.nr_free[o]);
    json_end_array(j);
    json_begin_flat_array(j, "unusable");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        json_double(j, NULL, z->frag.unusable[o]);
    json_end_array(j);
    json_begin_flat_array(j, "extfrag");
    for (int o = 0; o < NR_PAGE_ORDERS; o++)
        json_double(j, NULL, z->frag.extfrag[o]);
    json_end_array(j);
    json_end_object(j);
}

static void json_cache(struct replay *r, struct json *j, const struct snap_cache *c)
{
    const struct kmem_cache_info *in = &c->info;
    json_begin_object(j, NULL);
    json_string(j, "name", c->name);
    json_bool(j, "internal", c->internal);
    json_uint(j, "object_size", in->object_size);
    json_uint(j, "size", in->size);
    json_uint(j, "objs_per_slab", in->objs_per_slab);
    json_uint(j, "pages_per_slab", in->pages_per_slab);
    json_uint(j, "active_objs", in->active_objs);
    json_uint(j, "total_objs", in->total_objs);
    json_uint(j, "slabs", in->slabs);
    json_uint(j, "full", in->full_slabs);
    json_uint(j, "partial", in->partial_slabs);
    json_uint(j, "empty", in->empty_slabs);
    if (cache_is_known(r, c)) {
        json_uint(j, "live_objects", c->live_objects);
        json_uint(j, "requested_bytes", c->requested_bytes);
    } else {
        json_null(j, "live_objects");
        json_null(j, "requested_bytes");
    }
    json_double(j, "internal_fragmentation", cache_internal(c));
    json_end_object(j);
}

static void print_snapshot_json(struct replay *r, const struct snapshot *s, unsigned long line)
{
    struct json *j = &r->json;
    json_begin_object(j, NULL);
    json_uint(j, "step", s->step);
    json_uint(j, "line", line);
    json_string(j, "label", s->label);
    json_begin_array(j, "zones");
    for (int z = 0; z < KMEM_NR_ZONES; z++)
        if (s->zones[z].present)
            json_zone(j, &s->zones[z]);
    json_end_array(j);
    json_begin_array(j, "caches");
    for (unsigned long i = 0; i < s->ncaches; i++)
        json_cache(r, j, &s->caches[i]);
    json_end_array(j);
    json_begin_array(j, "blocks");
    for (int u = 0; u < NR_BLOCK_USES; u++) {
        const struct usage *b = &r->busage[u];
        json_begin_object(j, NULL);
        json_string(j, "name", block_use_names[u]);
        json_uint(j, "live_objects", b->live);
        json_uint(j, "requested_bytes", b->requested);
        json_uint(j, "bytes", b->held);
        json_double(j, "internal_fragmentation", held_internal(b->requested, b->held));
        json_end_object(j);
    }
    json_end_array(j);
    json_end_object(j);
}

/* Take a snapshot, show it if print, keep it if the pictures need it. */
static bool take_snapshot(struct replay *r, unsigned long line, const char *label, bool print)
{
    struct snapshot *s = snapshot_take(r->ops, label, r->keep_timeline, false);
    if (!s)
        return replay_error(r, "out of memory for a snapshot");
    fill_usage(r, s);
    r->snapshots++;
    r->have_snap = true;
    r->last_snap_step = r->ops;
    if (print && r->opt->json)
        print_snapshot_json(r, s, line);
    else if (print)
        print_snapshot_text(r, s, line);
    if (!r->keep_timeline) {
        snapshot_free(s);
    } else if (!timeline_add(&r->timeline, s)) {
        snapshot_free(s);
        return replay_error(r, "out of memory for the timeline");
    }
    return true;
}

/* The snapshots in the middle (periodic and marks) are only taken when
 * someone looks at them. */
static bool middle_snapshots_wanted(const struct replay *r)
{
    return r->opt->show == SHOW_ALL || r->keep_timeline;
}

/* A periodic snapshot is due before the next operation (never after the
 * last: the end has its own). */
static bool periodic_due(const struct replay *r)
{
    return r->every && r->ops && r->ops % r->every == 0 &&
           !(r->have_snap && r->last_snap_step == r->ops) && middle_snapshots_wanted(r);
}

/* ---- Progress ---------------------------------------------------------------- */

static long elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000000000L + (b->tv_nsec - a->tv_nsec);
}

static void progress_draw(struct replay *r)
{
    struct progress *p = &r->progress;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (p->drawn && elapsed_ns(&p->last, &now) < PROGRESS_INTERVAL_NS)
        return;
    p->last = now;
    p->drawn = true;
    if (p->total)
        fprintf(stderr, "\rkmem replay: %3u%% (%lu operations)",
                (unsigned int)(100.0 * (double)r->reader.offset / (double)p->total), r->ops);
    else
        fprintf(stderr, "\rkmem replay: %lu operations", r->ops);
    fflush(stderr);
}

static void progress_erase(struct replay *r)
{
    if (r->progress.drawn)
        fprintf(stderr, "\r%60s\r", "");
    r->progress.drawn = false;
}

/* ---- The trace file ----------------------------------------------------------- */

/* Lines that hold an operation (not blank, not only a comment), for the
 * default --every. */
static unsigned long count_operation_lines(FILE *f)
{
    char buf[65536];
    unsigned long lines = 0;
    bool seen_text = false, in_comment = false;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') {
                lines += seen_text;
                seen_text = in_comment = false;
            } else if (c == '#') {
                in_comment = true;
            } else if (!in_comment && c != ' ' && c != '\t' && c != '\r') {
                seen_text = true;
            }
        }
    }
    return lines + seen_text;
}

/* The size of a regular file, else 0. */
static unsigned long long regular_file_size(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode))
        return 0;
    return (unsigned long long)st.st_size;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* ---- The run ------------------------------------------------------------------- */

static const char *panic_file;
static unsigned long panic_line;

/* The replay checks every free before kmem sees it; if kmem panics anyway,
 * say where in the trace it happened. */
static void replay_panic(const char *message)
{
    fprintf(stderr, "kmem replay: %s:%lu: kmem stopped the replay: %s\n", panic_file, panic_line,
            message);
    abort();
}

static bool replay_record(struct replay *r, const struct trace_rec *rec)
{
    if (rec->op == TR_MARK) {
        r->marks++;
        if (!middle_snapshots_wanted(r))
            return true;
        char label[sizeof rec->name + 8];
        snprintf(label, sizeof label, "%s", rec->name[0] ? rec->name : "mark");
        return take_snapshot(r, r->reader.line_no, label, r->opt->show == SHOW_ALL);
    }
    if (periodic_due(r) && !take_snapshot(r, r->last_line, r->last_desc, r->opt->show == SHOW_ALL))
        return false;
    if (!replay_op(r, rec))
        return false;
    r->ops++;
    r->by_op[rec->op]++;
    describe(rec, r->last_desc, sizeof r->last_desc);
    r->last_line = r->reader.line_no;
    if (op_allocates(rec->op)) {
        unsigned long pages = allocated_pages();
        if (pages > r->peak_pages) {
            r->peak_pages = pages;
            r->peak_step = r->ops;
        }
    }
    return true;
}

/* Read and replay every line; false at the first bad one. */
static bool replay_run(struct replay *r)
{
    struct trace_rec rec;
    char err[256];
    for (;;) {
        panic_line = r->reader.line_no + 1;
        int got = trace_next(&r->reader, &rec, err, sizeof err);
        if (got == 0)
            return true;
        if (got < 0) {
            replay_error(r, "%s", err);
            return false;
        }
        panic_line = r->reader.line_no;
        if (!replay_record(r, &rec))
            return false;
        if (r->progress.on && (r->ops & 1023) == 0)
            progress_draw(r);
    }
}

/* Free what is still live, check every cache and the page allocator,
 * destroy the caches. */
static void replay_teardown(struct replay *r)
{
    for (size_t i = 0; i < r->ids.cap; i++) {
        struct id_entry *e = &r->ids.slots[i];
        if (e->state == ID_LIVE) {
            r->live_at_end++;
            r->live_bytes_at_end += e->size;
            account(r, &e->b, e->size, false);
            block_release(r, &e->b);
        }
        if (e->state == ID_LIVE || e->state == ID_FAILED)
            ids_forget(&r->ids, e, r->reader.line_no);
    }
    for (size_t i = 0; i < r->ncaches; i++)
        if (!r->caches[i].destroyed)
            cache_destroy(r, &r->caches[i]);
    drain_all_pages();
    r->page_violations = kmem_page_check();
    r->vmalloc_violations = kmem_vmalloc_check();
}

static const char *mode_name(enum replay_mode m)
{
    return m == MODE_PAGES ? "pages" : "kmalloc";
}

static void print_header_text(const struct replay *r)
{
    char size[32];
    printf("kmem replay: %s\n", r->title);
    printf("machine: %s; malloc-family lines %s; snapshots: ",
           tool_size_str(size, sizeof size, r->opt->mem),
           r->opt->mode == MODE_PAGES ? "as alloc_pages(get_order(size))" : "as kmalloc");
    if (r->opt->show == SHOW_NONE) {
        printf("none shown (--quiet)\n");
        return;
    }
    if (r->opt->show == SHOW_LAST) {
        printf("the one at the end (--summary)\n");
        return;
    }
    if (r->every == 1)
        printf("after every operation, ");
    else if (r->every)
        printf("every %lu operations, ", r->every);
    printf("at each mark, at the end\n");
}

static void print_header_json(struct replay *r)
{
    struct json *j = &r->json;
    json_begin_object(j, NULL);
    json_begin_object(j, "machine");
    json_uint(j, "mem_size", r->opt->mem);
    json_uint(j, "page_size", PAGE_SIZE);
    json_uint(j, "max_page_order", MAX_PAGE_ORDER);
    json_end_object(j);
    json_string(j, "trace", r->title);
    json_string(j, "mode", mode_name(r->opt->mode));
    json_uint(j, "every", r->every);
    json_begin_array(j, "snapshots");
}

static int violations(const struct replay *r)
{
    return r->page_violations + r->cache_violations + r->vmalloc_violations;
}

static void print_check(const char *what, int n)
{
    if (n)
        printf("%s: %d violation%s (listed on stderr)\n", what, n, n == 1 ? "" : "s");
    else
        printf("%s: all invariants hold\n", what);
}

static void print_summary_text(const struct replay *r)
{
    char size[32];
    printf("\n== summary\n");
    if (r->stopped)
        printf("stopped at line %lu: %s\n", r->error_line, r->error);
    printf("operations: %lu (and %lu mark%s)\n", r->ops, r->marks, r->marks == 1 ? "" : "s");
    for (int op = 1; op < TR_NR_OPS; op++)
        if (r->by_op[op])
            printf("  %-14s %lu\n", trace_op_name((enum trace_op)op), r->by_op[op]);
    printf("allocations that failed (NULL): %lu\n", r->failed);
    if (r->recorded_null)
        printf("recorded as NULL in the trace (skipped): %lu\n", r->recorded_null);
    if (r->vmalloc_fallbacks)
        printf("malloc-family sizes beyond %s, as vmalloc: %lu\n",
               tool_size_str(size, sizeof size, KMALLOC_LARGEST), r->vmalloc_fallbacks);
    if (r->page_fallbacks)
        printf("memaligns beyond a page, as alloc_pages: %lu\n", r->page_fallbacks);
    printf("peak allocated pages: %lu (%s), after operation %lu\n", r->peak_pages,
           tool_size_str(size, sizeof size, (unsigned long long)r->peak_pages * PAGE_SIZE),
           r->peak_step);
    printf("live at the end: %lu id%s, %llu bytes asked for (now freed)\n", r->live_at_end,
           r->live_at_end == 1 ? "" : "s", r->live_bytes_at_end);
    print_check("page check", r->page_violations);
    print_check("cache check", r->cache_violations);
    print_check("vmalloc check", r->vmalloc_violations);
}

static void print_summary_json(struct replay *r)
{
    struct json *j = &r->json;
    json_end_array(j); /* snapshots */
    json_begin_object(j, "summary");
    json_uint(j, "operations", r->ops);
    json_uint(j, "marks", r->marks);
    json_begin_object(j, "by_operation");
    for (int op = 1; op < TR_NR_OPS; op++)
        if (op != TR_MARK)
            json_uint(j, trace_op_name((enum trace_op)op), r->by_op[op]);
    json_end_object(j);
    json_uint(j, "failed_allocations", r->failed);
    json_uint(j, "recorded_null", r->recorded_null);
    json_uint(j, "vmalloc_fallbacks", r->vmalloc_fallbacks);
    json_uint(j, "page_fallbacks", r->page_fallbacks);
    json_uint(j, "peak_allocated_pages", r->peak_pages);
    json_uint(j, "peak_step", r->peak_step);
    json_uint(j, "live_at_end", r->live_at_end);
    json_uint(j, "live_bytes_at_end", r->live_bytes_at_end);
    json_uint(j, "snapshots", r->snapshots);
    json_int(j, "page_check_violations", r->page_violations);
    json_int(j, "cache_check_violations", r->cache_violations);
    json_int(j, "vmalloc_check_violations", r->vmalloc_violations);
    if (r->stopped) {
        json_begin_object(j, "error");
        json_uint(j, "line", r->error_line);
        json_string(j, "message", r->error);
        json_end_object(j);
    } else {
        json_null(j, "error");
    }
    json_end_object(j);
    json_end_object(j);
    json_finish(j);
}

/* The pictures of --svg and --html, from the timeline. */
static bool write_file(const char *path, int (*draw)(FILE *f, const struct replay *r, void *arg),
                       const struct replay *r, void *arg)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kmem replay: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    int rc = draw(f, r, arg);
    if (fclose(f) || rc) {
        fprintf(stderr, "kmem replay: error writing %s\n", path);
        return false;
    }
    return true;
}

static const struct snapshot *last_snapshot(const struct replay *r)
{
    return r->timeline.n ? r->timeline.snaps[r->timeline.n - 1] : NULL;
}

static int draw_buddy(FILE *f, const struct replay *r, void *arg)
{
    return svg_buddy(f, last_snapshot(r), *(const enum kmem_zone_type *)arg, true);
}

static int draw_slabs(FILE *f, const struct replay *r, void *arg)
{
    (void)arg;
    return svg_slabs(f, last_snapshot(r), NULL, true);
}

static int draw_frag(FILE *f, const struct replay *r, void *arg)
{
    (void)arg;
    return svg_frag(f, &r->timeline, true);
}

static int draw_html(FILE *f, const struct replay *r, void *arg)
{
    (void)arg;
    char size[32], title[256];
    snprintf(title, sizeof title, "kmem replay: %s (%s, --as %s)", r->title,
             tool_size_str(size, sizeof size, r->opt->mem), mode_name(r->opt->mode));
    return html_report(f, &r->timeline, title);
}

static bool write_pictures(struct replay *r)
{
    const struct snapshot *s = last_snapshot(r);
    bool ok = true;
    if (!s)
        return true;
    if (r->opt->svg_dir) {
        if (mkdir(r->opt->svg_dir, 0777) && errno != EEXIST) {
            fprintf(stderr, "kmem replay: cannot make %s: %s\n", r->opt->svg_dir, strerror(errno));
            return false;
        }
        char path[4096];
        for (int z = 0; z < KMEM_NR_ZONES; z++) {
            if (!s->zones[z].present)
                continue;
            char zone[32];
            tool_zone_file_name(zone, sizeof zone, s->zones[z].info.name);
            enum kmem_zone_type zt = (enum kmem_zone_type)z;
            snprintf(path, sizeof path, "%s/buddy-%s.svg", r->opt->svg_dir, zone);
            ok &= write_file(path, draw_buddy, r, &zt);
        }
        snprintf(path, sizeof path, "%s/slabs.svg", r->opt->svg_dir);
        ok &= write_file(path, draw_slabs, r, NULL);
        snprintf(path, sizeof path, "%s/frag.svg", r->opt->svg_dir);
        ok &= write_file(path, draw_frag, r, NULL);
    }
    if (r->opt->html_file)
        ok &= write_file(r->opt->html_file, draw_html, r, NULL);
    return ok;
}

static FILE *open_trace(const char *path)
{
    if (!strcmp(path, "-"))
        return stdin;
    return fopen(path, "r");
}

/* The default --every: about REPLAY_SNAPSHOTS over a file, a fixed
 * interval over a pipe (whose length is not known in advance). */
static unsigned long default_every(FILE *f, unsigned long long size)
{
    if (!size)
        return REPLAY_EVERY_STREAM;
    unsigned long lines = count_operation_lines(f);
    rewind(f);
    unsigned long every = (lines + REPLAY_SNAPSHOTS - 1) / REPLAY_SNAPSHOTS;
    return every ? every : 1;
}

/* The snapshot at the end: shown unless --quiet, taken anyway for the
 * pictures; not again when the last one shown is of this moment already
 * (a trace that ends with a mark). */
static bool final_snapshot(struct replay *r)
{
    bool print = r->opt->show != SHOW_NONE;
    if (!print && !r->keep_timeline)
        return true;
    if (r->opt->show == SHOW_ALL && r->have_snap && r->last_snap_step == r->ops)
        return true;
    return take_snapshot(r, r->reader.line_no, "end of trace", print);
}

/* Open the trace and set the replay up as the options say. false: the
 * trace cannot be opened (said on stderr). */
static bool replay_setup(struct replay *r, const struct options *opt)
{
    FILE *f = open_trace(opt->trace);
    if (!f) {
        fprintf(stderr, "kmem replay: cannot open %s: %s\n", opt->trace, strerror(errno));
        return false;
    }
    memset(r, 0, sizeof *r);
    r->opt = opt;
    r->file = f == stdin ? "<stdin>" : opt->trace;
    r->title = f == stdin ? "<stdin>" : base_name(opt->trace);
    r->reader.f = f;
    r->keep_timeline = opt->svg_dir || opt->html_file;
    unsigned long long size = regular_file_size(f);
    r->every = opt->every_given ? opt->every : default_every(f, size);
    r->progress.on = opt->progress && tool_isatty(stderr);
    r->progress.total = size;
    panic_file = r->file;
    return true;
}

/* A fresh machine of the size asked for, with the replay's panic handler
 * and an empty id table. false: said on stderr, nothing left up. */
static bool machine_up(struct replay *r, kmem_panic_fn *old_panic)
{
    struct kmem_config cfg = {.mem_size = r->opt->mem};
    int err = kmem_init(&cfg);
    if (err) {
        fprintf(stderr, "kmem replay: kmem_init(%zu bytes) failed: %s\n", r->opt->mem,
                strerror(-err));
        return false;
    }
    if (!ids_init(&r->ids)) {
        fprintf(stderr, "kmem replay: out of memory\n");
        kmem_exit();
        return false;
    }
    *old_panic = kmem_set_panic_handler(replay_panic);
    return true;
}

static void replay_cleanup(struct replay *r)
{
    timeline_free(&r->timeline);
    ids_free(&r->ids);
    free(r->caches);
    trace_reader_close(&r->reader);
    if (r->reader.f != stdin)
        fclose(r->reader.f);
}

int kmem_cmd_replay(int argc, char **argv)
{
    struct options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc)
        return rc < 0 ? 0 : rc;
    struct replay r;
    kmem_panic_fn old_panic;
    if (!replay_setup(&r, &opt))
        return 1;
    if (!machine_up(&r, &old_panic)) {
        replay_cleanup(&r);
        return 1;
    }
    if (opt.json) {
        json_init(&r.json, stdout);
        print_header_json(&r);
    } else {
        print_header_text(&r);
    }

    bool ok = replay_run(&r) && final_snapshot(&r);
    if (r.progress.on)
        progress_erase(&r);
    if (!ok) {
        r.stopped = true;
        r.error_line = r.reader.line_no;
        fprintf(stderr, "kmem replay: %s:%lu: %s\n", r.file, r.error_line, r.error);
    }
    replay_teardown(&r);
    if (opt.json)
        print_summary_json(&r);
    else
        print_summary_text(&r);
    fflush(stdout);
    if (ok)
        ok = write_pictures(&r);

    replay_cleanup(&r);
    kmem_set_panic_handler(old_panic);
    kmem_exit();
    return ok && violations(&r) == 0 ? 0 : 1;
}
