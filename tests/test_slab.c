/* SPDX-License-Identifier: MIT */
/*
 * test_slab.c - the object caches (slab layer, Bonwick 1994).
 *
 *   slab_book_figure_9_27     the textbook's picture: a cache of 3 KB
 *                             semaphores and one of 7 KB process
 *                             descriptors, each with slabs of its own.
 *   slab_geometry             per size: waste <= 1/8 of a slab (reported per
 *                             cache), the smallest such order, on/off-slab
 *                             headers, objects inside their slab.
 *   slab_align, slab_hwcache_align   alignment of every object.
 *   slab_colouring            successive slabs start their objects at
 *                             cycling colour offsets.
 *   slab_ctor_once, slab_state_kept, slab_no_writes_to_free_objects,
 *   slab_ops_ctor_dtor_priv   object caching: constructed once, state kept
 *                             across free/alloc, destructor when slabs go.
 *   slab_states, slab_alloc_order, slab_keep_empty   full/partial/empty in
 *                             kmem_cache_info and kmem_slabinfo, partial
 *                             before empty before new, SLAB_KEEP_EMPTY.
 *   slab_shrink_destroy_give_back    pages back after shrink and destroy.
 *   slab_zalloc_null_args_names      small contracts of the interface.
 *   slab_destroy_with_live_objects   leaks are named, memory left alone.
 *   slab_random_model         random alloc/free over many caches with
 *                             contents verified (KMEM_TEST_OPS operations,
 *                             default 300000, 60000 under TSan).
 *   slab_check_detects_corruption    kmem_cache_check sees damage (S1-S4).
 *
 * Objects may be cached above the slabs (per-thread magazines), so checks
 * through kmem_cache_alloc/free hold whatever that layer keeps: at least the
 * live objects are in use, constructor calls match the slabs built, every
 * count is consistent, and once everything is freed and the cache shrunk or
 * destroyed, no slab and no page is left. Exact slab counts (full, partial,
 * empty, policy, SLAB_KEEP_EMPTY, ctor/dtor calls per slab) are checked
 * through the slab layer's own interface (kmem_slab_alloc_bulk/free_bulk,
 * white-box), which is what kmem_cache_alloc/free come down to.
 */
#include "harness.h"
#include "pages_util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <kmem.h>

#include "core/slab.h"

enum { TEXT_LEN = 1 << 16, MSG = 256 };

/* ---- helpers ----------------------------------------------------------------- */

static unsigned long ops_total(void)
{
    const char *env = getenv("KMEM_TEST_OPS");
    if (env && *env) {
        unsigned long v = strtoul(env, NULL, 0);
        if (v)
            return v;
    }
    return UNDER_TSAN ? 60000 : 300000; /* the random run is single-threaded */
}

/* Pages the page allocator holds free (buddy lists and per-CPU lists), with
 * the per-CPU lists drained first so that the count is exact. */
static struct kmem_cache_info info_of(struct kmem_cache *c)
{
    struct kmem_cache_info in;
    memset(&in, 0, sizeof in);
    kmem_cache_info(c, &in);
    return in;
}

static unsigned long slab_bytes(const struct kmem_cache_info *in)
{
    return (unsigned long)in->pages_per_slab * PAGE_SIZE;
}

/* The first pfn of the slab (a naturally aligned block) holding obj. */
static unsigned long block_of(const void *obj, const struct kmem_cache_info *in)
{
    struct page *p = virt_to_page(obj);
    return p ? page_to_pfn(p) & ~((unsigned long)in->pages_per_slab - 1) : ~0UL;
}

/* Offset of obj within its slab. */
static unsigned long slab_offset(const void *obj, const struct kmem_cache_info *in)
{
    return (unsigned long)(virt_to_phys(obj) & (slab_bytes(in) - 1));
}

/* White-box: the slab and cache a page of obj records (S4). */
static struct slab *slab_of(const void *obj)
{
    struct page *p = virt_to_page(obj);
    return p && p->pg_owner == PG_OWNER_SLAB ? p->pg_owner_p0 : NULL;
}

static struct kmem_cache *cache_of(const void *obj)
{
    struct page *p = virt_to_page(obj);
    return p && p->pg_owner == PG_OWNER_SLAB ? p->pg_owner_p1 : NULL;
}

/*
 * The slab layer itself (white-box): kmem_slab_alloc_bulk/free_bulk are what
 * kmem_cache_alloc/free come down to when no object is cached above the
 * slabs (in per-thread magazines). Checks of exact slab counts (full,
 * partial, empty, objects in use, constructor and destructor calls) go
 * through these, so that they hold whatever caches objects above the slabs.
 */
static void *slab_alloc(struct kmem_cache *c)
{
    void *p;
    return kmem_slab_alloc_bulk(c, GFP_KERNEL, &p, 1) == 1 ? p : NULL;
}

static void slab_free(struct kmem_cache *c, void *p)
{
    kmem_slab_free_bulk(c, &p, 1, NULL);
}

static unsigned int round_up_u(unsigned int x, unsigned int a)
{
    return (x + a - 1) / a * a;
}

/* White-box: give every cache's empty slabs back (the internal caches:
 * "kmem_cache", "kmem_slab", the magazines' and kmalloc's), so that page
 * counts compare exactly however many slabs those grew to. Called when no
 * cache of the test's own is left. */
static void collect_cache(struct kmem_cache *c, void *arg)
{
    struct kmem_cache **out = arg;
    for (int i = 0; i < 63; i++)
        if (!out[i]) {
            out[i] = c;
            return;
        }
}

static void shrink_internal(void)
{
    struct kmem_cache *all[64] = {NULL};
    kmem_slab_for_each_cache(collect_cache, all);
    int n = 0;
    /* Twice: shrinking a cache with off-slab headers frees objects of
     * "kmem_slab", which may then hold empty slabs again. */
    for (int pass = 0; pass < 2; pass++)
        for (n = 0; all[n]; n++)
            kmem_cache_shrink(all[n]);
    CHECK(n >= 2 && n < 63);
}

/* In-process stderr capture (kmem writes with write(2) to fd 2). */
struct capture {
    int saved;
    FILE *file;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    c->saved = dup(STDERR_FILENO);
    if (c->file)
        dup2(fileno(c->file), STDERR_FILENO);
}

static size_t capture_end(struct capture *c, char *buf, size_t len)
{
    size_t n = 0;
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    if (c->file) {
        rewind(c->file);
        n = fread(buf, 1, len - 1, c->file);
        fclose(c->file);
    }
    buf[n] = '\0';
    return n;
}

/* ---- /proc/slabinfo ------------------------------------------------------------ */

struct slabinfo_row {
    char name[64];
    unsigned long active_objs, num_objs;
    unsigned int objsize, objperslab, pagesperslab;
    unsigned int limit, batchcount, sharedfactor;
    unsigned long active_slabs, num_slabs;
    unsigned int sharedavail;
};

static char slabinfo_text[TEXT_LEN];

/* The row of cache name in kmem_slabinfo's text; false if there is none. */
static bool slabinfo_find(const char *name, struct slabinfo_row *row)
{
    size_t n = kmem_slabinfo(slabinfo_text, sizeof slabinfo_text);
    CHECK(n < sizeof slabinfo_text);
    CHECK_EQ(strlen(slabinfo_text), n);
    CHECK(strncmp(slabinfo_text, "slabinfo - version: 2.1\n# name ", 31) == 0);
    const char *line = strchr(slabinfo_text, '\n');
    line = line ? strchr(line + 1, '\n') : NULL; /* skip the two header lines */
    while (line && line[1]) {
        line++;
        const char *end = strchr(line, '\n');
        char one[512];
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= sizeof one)
            len = sizeof one - 1;
        memcpy(one, line, len);
        one[len] = '\0';
        int k = sscanf(one, "%63s %lu %lu %u %u %u : tunables %u %u %u : slabdata %lu %lu %u",
                       row->name, &row->active_objs, &row->num_objs, &row->objsize,
                       &row->objperslab, &row->pagesperslab, &row->limit, &row->batchcount,
                       &row->sharedfactor, &row->active_slabs, &row->num_slabs, &row->sharedavail);
        CHECK_EQ(k, 12);
        if (k == 12 && strcmp(row->name, name) == 0)
            return true;
        line = end;
    }
    return false;
}

/* The slabinfo row of c agrees with kmem_cache_info. */
static void check_slabinfo_matches(struct kmem_cache *c)
{
    struct kmem_cache_info in = info_of(c);
    struct slabinfo_row row;
    if (!slabinfo_find(in.name, &row)) {
        fprintf(stderr, "cache %s is not in kmem_slabinfo:\n%s", in.name, slabinfo_text);
        CHECK(!"cache missing from slabinfo");
        return;
    }
    CHECK_EQ(row.active_objs, in.active_objs);
    CHECK_EQ(row.num_objs, in.total_objs);
    CHECK_EQ(row.objsize, in.size);
    CHECK_EQ(row.objperslab, in.objs_per_slab);
    CHECK_EQ(row.pagesperslab, in.pages_per_slab);
    CHECK_EQ(row.active_slabs, in.slabs - in.empty_slabs);
    CHECK_EQ(row.num_slabs, in.slabs);
}

/* ---- patterns ---------------------------------------------------------------------- */

static inline uint64_t pattern_word(uint64_t seed, uintptr_t addr, size_t i)
{
    return (seed ^ (addr + 8 * i)) * 0x9E3779B97F4A7C15ull + i;
}

static void pattern_fill(void *p, size_t size, uint64_t seed)
{
    size_t words = size / 8;
    uint64_t *w = p;
    for (size_t i = 0; i < words; i++)
        w[i] = pattern_word(seed, (uintptr_t)p, i);
    if (size % 8) {
        uint64_t last = pattern_word(seed, (uintptr_t)p, words);
        memcpy((char *)p + words * 8, &last, size % 8);
    }
}

/* The offset of the first byte that differs from the pattern, or -1. */
static long pattern_check(const void *p, size_t size, uint64_t seed)
{
    size_t words = size / 8;
    const uint64_t *w = p;
    for (size_t i = 0; i < words; i++)
        if (w[i] != pattern_word(seed, (uintptr_t)p, i))
            return (long)(i * 8);
    if (size % 8) {
        uint64_t last = pattern_word(seed, (uintptr_t)p, words);
        if (memcmp((const char *)p + words * 8, &last, size % 8) != 0)
            return (long)(words * 8);
    }
    return -1;
}

static bool all_zero(const void *p, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++)
        if (b[i])
            return false;
    return true;
}

/* White-box: every slab of c (its full, partial and empty lists). */
static unsigned long cache_slabs(struct kmem_cache *c, struct slab **out, unsigned long max)
{
    struct list_head *lists[] = {&c->c_full, &c->c_partial, &c->c_empty};
    unsigned long n = 0;
    for (int l = 0; l < 3; l++) {
        struct list_head *pos;
        list_for_each (pos, lists[l]) {
            if (n < max)
                out[n] = list_entry(pos, struct slab, sl_link);
            n++;
        }
    }
    return n;
}

/* Each test brings its machine up; take it down even after a failed REQUIRE. */
#define RUN_CLEAN(t)                                                                               \
    do {                                                                                           \
        RUN(t);                                                                                    \
        kmem_exit();                                                                               \
    } while (0)

/* ---- the book's Figure 9.27 --------------------------------------------------------- */

/* Silberschatz et al., "Operating System Concepts", Figure 9.27 (10.27 in the
 * 10th edition): kernel objects of 3 KB (semaphores) and 7 KB (process
 * descriptors), each kind in its own cache, each cache with its own slabs of
 * physically contiguous pages. */
TEST(slab_book_figure_9_27)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *sem = kmem_cache_create("semaphore", 3 * 1024, 0, 0, NULL);
    struct kmem_cache *task = kmem_cache_create("task_struct", 7 * 1024, 0, 0, NULL);
    REQUIRE(sem && task);
    CHECK(sem != task);
    struct kmem_cache_info si = info_of(sem), ti = info_of(task);
    CHECK_STR_EQ(si.name, "semaphore");
    CHECK_STR_EQ(ti.name, "task_struct");
    CHECK_EQ(si.object_size, 3072);
    CHECK_EQ(ti.object_size, 7168);
    CHECK_EQ(si.size, 3072);
    CHECK_EQ(ti.size, 7168);
    CHECK_EQ(si.slabs, 0);
    CHECK_EQ(ti.slabs, 0);
    fprintf(stderr, "  semaphore: %u objects in %u pages; task_struct: %u objects in %u pages\n",
            si.objs_per_slab, si.pages_per_slab, ti.objs_per_slab, ti.pages_per_slab);

    enum { NSEM = 23, NTASK = 9 };
    void *s[NSEM], *t[NTASK];
    for (int i = 0; i < NSEM; i++) {
        s[i] = kmem_cache_alloc(sem, GFP_KERNEL);
        if (i < NTASK)
            t[i] = kmem_cache_alloc(task, GFP_KERNEL);
    }
    for (int i = 0; i < NSEM; i++)
        REQUIRE(s[i] != NULL);
    for (int i = 0; i < NTASK; i++)
        REQUIRE(t[i] != NULL);
    for (int i = 0; i < NSEM; i++)
        pattern_fill(s[i], 3072, 1);
    for (int i = 0; i < NTASK; i++)
        pattern_fill(t[i], 7168, 2);

    si = info_of(sem);
    ti = info_of(task);
    /* At least as many objects and slabs as we took (objects may also be
     * cached above the slabs, in magazines). */
    CHECK(si.active_objs >= NSEM && si.active_objs <= si.total_objs);
    CHECK(ti.active_objs >= NTASK && ti.active_objs <= ti.total_objs);
    CHECK(si.slabs >= (NSEM + si.objs_per_slab - 1) / si.objs_per_slab);
    CHECK(ti.slabs >= (NTASK + ti.objs_per_slab - 1) / ti.objs_per_slab);
    CHECK_EQ(si.total_objs, si.slabs * si.objs_per_slab);
    CHECK_EQ(ti.total_objs, ti.slabs * ti.objs_per_slab);

    /* Each object lies in a slab of its own cache; no slab holds both kinds. */
    unsigned long sblocks[NSEM], tblocks[NTASK];
    int nsb = 0, ntb = 0;
    for (int i = 0; i < NSEM; i++) {
        unsigned long b = block_of(s[i], &si);
        CHECK(cache_of(s[i]) == sem);
        CHECK(slab_of(s[i]) && slab_of(s[i])->sl_cache == sem);
        unsigned long off = slab_offset(s[i], &si);
        CHECK(off + 3072 <= slab_bytes(&si));
        int j = 0;
        while (j < nsb && sblocks[j] != b)
            j++;
        if (j == nsb)
            sblocks[nsb++] = b;
    }
    for (int i = 0; i < NTASK; i++) {
        unsigned long b = block_of(t[i], &ti);
        CHECK(cache_of(t[i]) == task);
        CHECK(slab_of(t[i]) && slab_of(t[i])->sl_cache == task);
        CHECK(slab_offset(t[i], &ti) + 7168 <= slab_bytes(&ti));
        int j = 0;
        while (j < ntb && tblocks[j] != b)
            j++;
        if (j == ntb)
            tblocks[ntb++] = b;
    }
    CHECK(nsb >= (int)((NSEM + si.objs_per_slab - 1) / si.objs_per_slab) && nsb <= (int)si.slabs);
    CHECK(ntb >= (int)((NTASK + ti.objs_per_slab - 1) / ti.objs_per_slab) && ntb <= (int)ti.slabs);
    /* Every slab of one cache (white-box: its lists) is apart from every slab
     * of the other: the blocks [pfn, pfn + pages) do not intersect. */
    struct slab *ss[64], *ts[64];
    unsigned long nss = cache_slabs(sem, ss, 64), nts = cache_slabs(task, ts, 64);
    REQUIRE(nss <= 64 && nts <= 64);
    CHECK_EQ(nss, si.slabs);
    CHECK_EQ(nts, ti.slabs);
    for (unsigned long i = 0; i < nss; i++) {
        CHECK(ss[i]->sl_cache == sem);
        for (unsigned long j = 0; j < nts; j++) {
            unsigned long a0 = page_to_pfn(ss[i]->sl_page), a1 = a0 + si.pages_per_slab;
            unsigned long b0 = page_to_pfn(ts[j]->sl_page), b1 = b0 + ti.pages_per_slab;
            CHECK(a1 <= b0 || b1 <= a0);
        }
    }
    for (unsigned long j = 0; j < nts; j++)
        CHECK(ts[j]->sl_cache == task);
    /* Objects of one slab are laid out contiguously, one stride apart. */
    for (int i = 1; i < NSEM; i++)
        if (block_of(s[i], &si) == block_of(s[0], &si))
            CHECK_EQ(((char *)s[i] - (char *)s[0]) % 3072, 0);

    /* The two lines of /proc/slabinfo. */
    check_slabinfo_matches(sem);
    check_slabinfo_matches(task);
    struct slabinfo_row row;
    CHECK(slabinfo_find("semaphore", &row));
    CHECK_EQ(row.objsize, 3072);
    CHECK(slabinfo_find("task_struct", &row));
    CHECK_EQ(row.objsize, 7168);

    for (int i = 0; i < NSEM; i++) {
        CHECK_EQ(pattern_check(s[i], 3072, 1), -1);
        kmem_cache_free(sem, s[i]);
    }
    for (int i = 0; i < NTASK; i++) {
        CHECK_EQ(pattern_check(t[i], 7168, 2), -1);
        kmem_cache_free(task, t[i]);
    }
    CHECK_EQ(kmem_cache_check(sem), 0);
    CHECK_EQ(kmem_cache_check(task), 0);
    kmem_cache_destroy(sem);
    kmem_cache_destroy(task);
    CHECK(!slabinfo_find("semaphore", &row));
    CHECK(!slabinfo_find("task_struct", &row));
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- geometry ---------------------------------------------------------------------- */

static const unsigned int geo_sizes[] = {8,    24,   64,   96,   100,   192,   256,
                                         500,  512,  600,  1000, 2048,  3072,  4096,
                                         5000, 7168, 8192, 9000, 20000, 100000};

/* White-box: the on-slab header of a slab of objs objects (struct slab and
 * its bitmap), as the documented layout has it. */
static unsigned int onslab_header(unsigned int objs)
{
    unsigned int bits = (unsigned int)(8 * sizeof(unsigned long));
    return (unsigned int)(sizeof(struct slab) + (objs + bits - 1) / bits * sizeof(unsigned long));
}

/* Would a slab of `bytes` hold objects of in's geometry with at most 1/8 waste? */
static bool order_fits(const struct kmem_cache_info *in, unsigned long bytes)
{
    unsigned long objs = bytes / in->size;
    unsigned long header = 0;
    if (in->offslab) {
        /* an off-slab header tracks a bounded number of objects; more
         * objects would only lower the waste, so this is generous */
    } else {
        while (objs &&
               round_up_u(onslab_header((unsigned int)objs), in->align) + objs * in->size > bytes)
            objs--;
        header = objs ? round_up_u(onslab_header((unsigned int)objs), in->align) : 0;
    }
    return objs && (bytes - header - objs * in->size) * 8 <= bytes;
}

TEST(slab_geometry)
{
    REQUIRE(kmem_init(NULL) == 0);
    fprintf(stderr, "  %-12s %7s %7s %5s %5s %7s %6s %7s %s\n", "cache", "objsize", "stride",
            "pages", "objs", "waste", "waste%", "colours", "header");
    int over = 0;
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(geo_sizes); k++) {
        unsigned int size = geo_sizes[k];
        char name[32];
        snprintf(name, sizeof name, "geo-%u", size);
        struct kmem_cache *c = kmem_cache_create(name, size, 0, 0, NULL);
        CHECK(c != NULL);
        if (!c)
            continue;
        struct kmem_cache_info in = info_of(c);
        unsigned long bytes = slab_bytes(&in);
        fprintf(stderr, "  %-12s %7u %7u %5u %5u %7u %5.1f%% %7u %s\n", in.name, in.object_size,
                in.size, in.pages_per_slab, in.objs_per_slab, in.waste_per_slab,
                100.0 * in.waste_per_slab / (double)bytes, in.colours,
                in.offslab ? "off-slab" : "on-slab");
        CHECK_STR_EQ(in.name, name);
        CHECK_EQ(in.object_size, size);
        CHECK_EQ(in.align, 8);
        CHECK_EQ(in.size, round_up_u(size, 8));
        CHECK(in.objs_per_slab >= 1);
        CHECK(in.pages_per_slab >= 1 && in.pages_per_slab <= (1u << MAX_PAGE_ORDER));
        CHECK_EQ(in.pages_per_slab & (in.pages_per_slab - 1), 0);
        /* At most 1/8 of a slab is wasted. */
        if (in.waste_per_slab * 8UL > bytes) {
            fprintf(stderr, "  %s: a slab of %lu bytes wastes %u (more than 1/8)\n", name, bytes,
                    in.waste_per_slab);
            over++;
        }
        CHECK(in.waste_per_slab * 8UL <= bytes);
        /* ... and the order is the smallest that achieves it. */
        if (in.pages_per_slab > 1 && in.waste_per_slab * 8UL <= bytes)
            CHECK(!order_fits(&in, bytes / 2));
        /* Small objects keep the header on the slab, large ones off it. */
        CHECK_EQ(in.offslab, size >= 512);
        unsigned long used = (unsigned long)in.objs_per_slab * in.size + in.waste_per_slab;
        if (in.offslab) {
            CHECK_EQ(used, bytes);
        } else {
            CHECK(used < bytes);
            CHECK_EQ(bytes - used, round_up_u(onslab_header(in.objs_per_slab), in.align));
        }
        /* Colours: one more than the extra cache lines the waste holds. */
        CHECK(in.colours >= 1);
        CHECK((in.colours - 1) * 64UL <= in.waste_per_slab);
        CHECK(in.waste_per_slab < in.colours * 64UL);
        CHECK_EQ(in.slabs, 0);
        CHECK_EQ(in.total_objs, 0);

        /* Two slabs' worth of objects: aligned, inside their slab, apart. */
        unsigned int n = in.objs_per_slab + 1;
        void **objs = calloc(n, sizeof *objs);
        REQUIRE(objs != NULL);
        for (unsigned int i = 0; i < n; i++) {
            objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
            CHECK(objs[i] != NULL);
            if (!objs[i])
                continue;
            CHECK_EQ((uintptr_t)objs[i] % 8, 0);
            CHECK(slab_offset(objs[i], &in) + size <= bytes);
            CHECK(cache_of(objs[i]) == c);
            pattern_fill(objs[i], size, size);
        }
        CHECK(info_of(c).slabs >= 2);
        for (unsigned int i = 0; i < n; i++)
            if (objs[i]) {
                CHECK_EQ(pattern_check(objs[i], size, size), -1);
                kmem_cache_free(c, objs[i]);
            }
        free(objs);
        CHECK_EQ(kmem_cache_check(c), 0);
        kmem_cache_destroy(c);
    }
    if (over)
        fprintf(stderr, "  %d caches waste more than 1/8 of a slab\n", over);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* Allocate two slabs' worth (at most 1024) of objects and check each one's
 * alignment, then free them. */
static void check_objects_aligned(struct kmem_cache *c, unsigned int align)
{
    struct kmem_cache_info in = info_of(c);
    unsigned int n = in.objs_per_slab + 1;
    void *objs[1024];
    if (n > 1024)
        n = 1024;
    int bad = 0;
    for (unsigned int i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(objs[i] != NULL);
        if ((uintptr_t)objs[i] % align || virt_to_phys(objs[i]) % align)
            bad++;
        memset(objs[i], 0xA5, in.object_size);
    }
    if (bad)
        fprintf(stderr, "  %s: %d of %u objects not aligned to %u\n", in.name, bad, n, align);
    CHECK_EQ(bad, 0);
    for (unsigned int i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    CHECK_EQ(kmem_cache_check(c), 0);
}

/* SLAB_TIGHT_PACK: at most 1/32 of a slab wasted, off-slab headers from
 * 256 bytes on (the malloc's size classes, four per doubling). */
TEST(slab_tight_pack)
{
    REQUIRE(kmem_init(NULL) == 0);
    for (unsigned int e = 4; e <= 13; e++)
        for (unsigned int q = 1; q <= 4; q++) {
            unsigned int size = (1u << e) + q * (1u << (e - 2));
            char name[32];
            snprintf(name, sizeof name, "tight-%u", size);
            struct kmem_cache *c = kmem_cache_create(name, size, 16, SLAB_TIGHT_PACK, NULL);
            REQUIRE(c != NULL);
            struct kmem_cache_info in = info_of(c);
            unsigned long bytes = slab_bytes(&in);
            CHECK(in.waste_per_slab * 32UL <= bytes);
            CHECK_EQ(in.offslab, in.size >= 256);
            void *o = kmem_cache_alloc(c, GFP_KERNEL);
            CHECK(o != NULL);
            kmem_cache_free(c, o);
            kmem_cache_destroy(c);
        }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(slab_align)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int aligns[] = {8, 16, 64, 256, 4096};
    static const unsigned int sizes[] = {8, 24, 100, 500, 3000};
    for (size_t a = 0; a < KMEM_ARRAY_SIZE(aligns); a++)
        for (size_t s = 0; s < KMEM_ARRAY_SIZE(sizes); s++) {
            char name[32];
            snprintf(name, sizeof name, "align-%u-%u", aligns[a], sizes[s]);
            struct kmem_cache *c = kmem_cache_create(name, sizes[s], aligns[a], 0, NULL);
            CHECK(c != NULL);
            if (!c)
                continue;
            struct kmem_cache_info in = info_of(c);
            CHECK_EQ(in.align, aligns[a]);
            CHECK_EQ(in.size, round_up_u(sizes[s], aligns[a]));
            check_objects_aligned(c, aligns[a]);
            kmem_cache_destroy(c);
        }
    /* The default, and alignments below it, give 8 bytes. */
    static const unsigned int small[] = {0, 1, 2, 4};
    for (size_t a = 0; a < KMEM_ARRAY_SIZE(small); a++) {
        struct kmem_cache *c = kmem_cache_create("align-small", 12, small[a], 0, NULL);
        CHECK(c != NULL);
        if (!c)
            continue;
        CHECK_EQ(info_of(c).align, 8);
        CHECK_EQ(info_of(c).size, 16);
        check_objects_aligned(c, 8);
        kmem_cache_destroy(c);
    }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* SLAB_HWCACHE_ALIGN, Linux's rule: the cache line (64 bytes), halved while
 * the object fits in half of it, never below 8 or the requested align. */
TEST(slab_hwcache_align)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const struct {
        unsigned int size, align, expect;
    } cases[] = {
        {1, 0, 8},     {8, 0, 8},      {12, 0, 16},  {16, 0, 16},     {17, 0, 32},
        {24, 0, 32},   {32, 0, 32},    {33, 0, 64},  {48, 0, 64},     {64, 0, 64},
        {65, 0, 64},   {96, 0, 64},    {100, 0, 64}, {192, 0, 64},    {1000, 0, 64},
        {4000, 0, 64}, {24, 128, 128}, {8, 16, 16},  {100, 256, 256}, {40, 32, 64},
    };
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(cases); k++) {
        char name[32];
        snprintf(name, sizeof name, "hw-%u-%u", cases[k].size, cases[k].align);
        struct kmem_cache *c =
            kmem_cache_create(name, cases[k].size, cases[k].align, SLAB_HWCACHE_ALIGN, NULL);
        CHECK(c != NULL);
        if (!c)
            continue;
        struct kmem_cache_info in = info_of(c);
        if (in.align != cases[k].expect)
            fprintf(stderr, "  %s: align %u, expected %u\n", name, in.align, cases[k].expect);
        CHECK_EQ(in.align, cases[k].expect);
        CHECK_EQ(in.size, round_up_u(cases[k].size, cases[k].expect));
        CHECK_EQ(in.object_size, cases[k].size);
        check_objects_aligned(c, cases[k].expect);
        kmem_cache_destroy(c);
    }
    kmem_exit();
}

/* ---- colouring --------------------------------------------------------------------- */

/* Build at least 2 * colours + 1 slabs. The first object of each slab sits at
 * the base offset (0 off-slab, after the header on-slab) plus a whole number
 * of colour steps below `colours`; as slabs are built in turn and the colour
 * cycles, colour i is used by ns / colours slabs, one more for i < ns %
 * colours, and the next slab gets colour ns % colours. Objects cached in
 * magazines do not change this: it counts every slab of the cache. */
static void check_colours(const char *name, unsigned int size, unsigned int align,
                          slab_flags_t flags)
{
    struct kmem_cache *c = kmem_cache_create(name, size, align, flags, NULL);
    REQUIRE(c != NULL);
    struct kmem_cache_info in = info_of(c);
    unsigned long step = in.align > 64 ? in.align : 64;
    fprintf(stderr, "  %s: %u objects of %u bytes in %u pages, waste %u, %u colours\n", name,
            in.objs_per_slab, in.size, in.pages_per_slab, in.waste_per_slab, in.colours);
    CHECK(in.colours >= 2); /* the case has leftover space */
    CHECK((in.colours - 1) * step <= in.waste_per_slab);
    unsigned long want = 2UL * in.colours + 1;
    unsigned long n = want * in.objs_per_slab;
    void **objs = calloc(n, sizeof *objs);
    REQUIRE(objs != NULL);
    for (unsigned long i = 0; i < n; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(objs[i] != NULL);
    }
    struct slab *slabs[256];
    unsigned long ns = cache_slabs(c, slabs, 256);
    REQUIRE(ns <= 256);
    CHECK(ns >= want);
    CHECK_EQ(ns, info_of(c).slabs);
    unsigned long base = in.offslab ? 0 : round_up_u(onslab_header(in.objs_per_slab), in.align);
    unsigned long count[256] = {0};
    REQUIRE(in.colours <= 256);
    for (unsigned long j = 0; j < ns; j++) {
        unsigned long off =
            (unsigned long)(slabs[j]->sl_objs - (char *)page_address(slabs[j]->sl_page));
        CHECK(off >= base && (off - base) % step == 0 && (off - base) / step < in.colours);
        CHECK(off + (unsigned long)in.objs_per_slab * in.size <= slab_bytes(&in));
        if (off >= base && (off - base) / step < in.colours)
            count[(off - base) / step]++;
    }
    int uneven = 0;
    for (unsigned int i = 0; i < in.colours; i++)
        if (count[i] != ns / in.colours + (i < ns % in.colours))
            uneven++;
    if (uneven) {
        fprintf(stderr, "  %s: %lu slabs by colour:", name, ns);
        for (unsigned int i = 0; i < in.colours; i++)
            fprintf(stderr, " %lu", count[i]);
        fprintf(stderr, "\n");
    }
    CHECK_EQ(uneven, 0);
    CHECK_EQ(c->c_colour_next, ns % in.colours);
    /* Every object lies in one of those slabs, on the stride from its first
     * object; the lowest object of a slab is never below its first. */
    for (unsigned long i = 0; i < n; i++) {
        struct slab *sl = slab_of(objs[i]);
        CHECK(sl != NULL && sl->sl_cache == c);
        if (!sl)
            continue;
        unsigned long rel = (unsigned long)((char *)objs[i] - sl->sl_objs);
        CHECK((char *)objs[i] >= sl->sl_objs && rel % in.size == 0 &&
              rel / in.size < in.objs_per_slab);
    }
    for (unsigned long i = 0; i < n; i++)
        kmem_cache_free(c, objs[i]);
    free(objs);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
}

TEST(slab_colouring)
{
    REQUIRE(kmem_init(NULL) == 0);
    check_colours("colour-onslab", 200, 0, SLAB_HWCACHE_ALIGN);
    check_colours("colour-offslab", 900, 0, 0);
    check_colours("colour-order2", 3072, 0, 0);
    check_colours("colour-align128", 300, 128, 0);
    /* A cache without leftover space has one colour: every slab alike. */
    struct kmem_cache *c = kmem_cache_create("colour-none", 512, 0, 0, NULL);
    REQUIRE(c != NULL);
    struct kmem_cache_info in = info_of(c);
    CHECK_EQ(in.waste_per_slab, 0);
    CHECK_EQ(in.colours, 1);
    void *a[64];
    unsigned int n = in.objs_per_slab * 3;
    REQUIRE(n <= 64);
    for (unsigned int i = 0; i < n; i++) {
        a[i] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(a[i] != NULL);
        CHECK_EQ(slab_offset(a[i], &in) % 512, 0);
    }
    for (unsigned int i = 0; i < n; i++)
        kmem_cache_free(c, a[i]);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* ---- object caching ---------------------------------------------------------------- */

static unsigned long ctor64_calls;

static void ctor64(void *obj)
{
    ctor64_calls++;
    pattern_fill(obj, 64, 0xC7C7);
}

/* Constructed once per object when its slab is built: as long as no slab is
 * given back, the constructor has run exactly objs_per_slab times per slab,
 * however often objects were freed and allocated again. */
static void check_ctor_invariant(struct kmem_cache *c, const char *when)
{
    struct kmem_cache_info in = info_of(c);
    if (ctor64_calls != (unsigned long)in.objs_per_slab * in.slabs)
        fprintf(stderr, "  %s: %lu constructor calls for %lu slabs of %u objects\n", when,
                ctor64_calls, in.slabs, in.objs_per_slab);
    CHECK_EQ(ctor64_calls, (unsigned long)in.objs_per_slab * in.slabs);
}

TEST(slab_ctor_once)
{
    REQUIRE(kmem_init(NULL) == 0);
    ctor64_calls = 0;
    struct kmem_cache *c = kmem_cache_create("ctor64", 64, 0, 0, ctor64);
    REQUIRE(c != NULL);
    CHECK_EQ(ctor64_calls, 0); /* nothing is built before the first allocation */
    unsigned int objs = info_of(c).objs_per_slab;
    void *a[512];
    REQUIRE(2 * objs + 1 <= 512);
    a[0] = kmem_cache_alloc(c, GFP_KERNEL);
    REQUIRE(a[0] != NULL);
    CHECK(info_of(c).slabs >= 1);
    check_ctor_invariant(c, "first allocation"); /* whole slabs were constructed */
    CHECK_EQ(pattern_check(a[0], 64, 0xC7C7), -1);
    for (unsigned int i = 1; i < objs; i++) {
        a[i] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(a[i] != NULL);
        CHECK_EQ(pattern_check(a[i], 64, 0xC7C7), -1);
    }
    check_ctor_invariant(c, "one slab's worth");
    /* Reuse: free and allocate again, many times; no constructor call. */
    unsigned long slabs = info_of(c).slabs;
    for (int round = 0; round < 50; round++) {
        for (unsigned int i = 0; i < objs; i++)
            kmem_cache_free(c, a[i]);
        for (unsigned int i = 0; i < objs; i++) {
            a[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(a[i] != NULL);
        }
    }
    CHECK_EQ(info_of(c).slabs, slabs);
    check_ctor_invariant(c, "after reuse");
    /* More objects until a new slab is built: constructed whole. */
    unsigned int n = objs;
    while (info_of(c).slabs == slabs && n < 2 * objs + 1) {
        a[n] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(a[n] != NULL);
        n++;
    }
    CHECK(info_of(c).slabs > slabs);
    check_ctor_invariant(c, "a new slab");
    /* zalloc zeroes, but builds nothing more. */
    unsigned long before = ctor64_calls;
    slabs = info_of(c).slabs;
    void *z = kmem_cache_zalloc(c, GFP_KERNEL);
    REQUIRE(z != NULL);
    CHECK(all_zero(z, 64));
    if (info_of(c).slabs == slabs)
        CHECK_EQ(ctor64_calls, before);
    check_ctor_invariant(c, "zalloc");
    pattern_fill(z, 64, 0xC7C7); /* give it back constructed */
    kmem_cache_free(c, z);
    for (unsigned int i = 0; i < n; i++)
        kmem_cache_free(c, a[i]);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);

    /* The slab layer itself (white-box): the first object builds exactly
     * one slab, and constructs all of its objects. */
    ctor64_calls = 0;
    c = kmem_cache_create("ctor64-slab", 64, 0, 0, ctor64);
    REQUIRE(c != NULL);
    void *p = slab_alloc(c);
    REQUIRE(p != NULL);
    CHECK_EQ(ctor64_calls, objs);
    CHECK_EQ(info_of(c).slabs, 1);
    slab_free(c, p);
    p = slab_alloc(c);
    REQUIRE(p != NULL);
    CHECK_EQ(ctor64_calls, objs);
    slab_free(c, p);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* An object comes back in the state it was freed in. */
TEST(slab_state_kept)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int sizes[] = {32, 200, 1000, 5000};
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(sizes); k++) {
        unsigned int size = sizes[k];
        struct kmem_cache *c = kmem_cache_create("state", size, 0, 0, NULL);
        REQUIRE(c != NULL);
        unsigned int objs = info_of(c).objs_per_slab;
        void **a = calloc(objs, sizeof *a), **b = calloc(objs, sizeof *b);
        REQUIRE(a && b);
        for (unsigned int i = 0; i < objs; i++) {
            a[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(a[i] != NULL);
            pattern_fill(a[i], size, 1000 + i);
        }
        CHECK(info_of(c).slabs >= 1);
        for (unsigned int i = 0; i < objs; i++)
            kmem_cache_free(c, a[i]);
        /* All objects of that slab again: each holds what it was freed with. */
        int found = 0, lost = 0;
        for (unsigned int i = 0; i < objs; i++) {
            b[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(b[i] != NULL);
            unsigned int j = 0;
            while (j < objs && a[j] != b[i])
                j++;
            if (j == objs)
                continue;
            found++;
            if (pattern_check(b[i], size, 1000 + j) != -1)
                lost++;
        }
        CHECK_EQ(found, objs); /* the same objects came back */
        CHECK_EQ(lost, 0);
        for (unsigned int i = 0; i < objs; i++)
            kmem_cache_free(c, b[i]);
        free(a);
        free(b);
        CHECK_EQ(kmem_cache_check(c), 0);
        kmem_cache_destroy(c);
    }
    kmem_exit();
}

/* A cache whose ctor fills every object with a pattern: the allocator must
 * never write into a free object, so on every allocation the bytes no user
 * touched still hold the pattern, and the first word holds what the last
 * user left there (or the ctor's value, if the slab is new). The dtor tells
 * when a slab (and the state of its objects) went away. */
struct tracked {
    uintptr_t addr;
    uint64_t word; /* what the first word must hold while the object is free */
};

enum { TRACK_SLOTS = 1 << 16 };
static struct tracked tracked[TRACK_SLOTS];
static unsigned long dtor_resets;

static struct tracked *track(const void *obj)
{
    uintptr_t a = (uintptr_t)obj;
    size_t h = (size_t)((a >> 3) * 0x9E3779B97F4A7C15ull >> 48) & (TRACK_SLOTS - 1);
    while (tracked[h].addr && tracked[h].addr != a)
        h = (h + 1) & (TRACK_SLOTS - 1);
    tracked[h].addr = a;
    return &tracked[h];
}

struct nw_cache {
    unsigned int size;
    uint64_t seed;
};

static void nw_ctor(void *obj, void *priv)
{
    const struct nw_cache *nc = priv;
    pattern_fill(obj, nc->size, nc->seed);
    track(obj)->word = pattern_word(nc->seed, (uintptr_t)obj, 0);
}

static void nw_dtor(void *obj, void *priv)
{
    (void)priv;
    track(obj)->word = 0; /* its state is gone with its slab */
    dtor_resets++;
}

TEST(slab_no_writes_to_free_objects)
{
    REQUIRE(kmem_init(NULL) == 0);
    memset(tracked, 0, sizeof tracked);
    static struct nw_cache ncs[] = {{24, 0x1111}, {200, 0x2222}, {600, 0x3333}, {4000, 0x4444}};
    struct kmem_cache *cs[4];
    for (int k = 0; k < 4; k++) {
        struct kmem_cache_ops ops = {nw_ctor, nw_dtor, NULL, &ncs[k]};
        cs[k] = kmem_cache_create_ops("nowrite", ncs[k].size, 0, 0, &ops);
        REQUIRE(cs[k] != NULL);
    }
    enum { LIVE = 300 };
    struct {
        void *p;
        int k;
    } live[LIVE];
    memset(live, 0, sizeof live);
    uint64_t rng = 42;
    unsigned long ops = ops_total() / 3, checked = 0;
    int bad = 0;
    for (unsigned long op = 0; op < ops; op++) {
        unsigned int slot = (unsigned int)(harness_rand(&rng) % LIVE);
        if (live[slot].p) {
            int k = live[slot].k;
            /* The user leaves a new value in the first word, nothing else. */
            uint64_t v = harness_rand(&rng) | 1;
            memcpy(live[slot].p, &v, 8);
            track(live[slot].p)->word = v;
            kmem_cache_free(cs[k], live[slot].p);
            live[slot].p = NULL;
            /* Now and then, shrink: slabs go, their dtor runs, new ones are
             * constructed afresh. */
            if (harness_rand(&rng) % 512 == 0)
                kmem_cache_shrink(cs[k]);
            continue;
        }
        int k = (int)(harness_rand(&rng) % 4);
        void *p = kmem_cache_alloc(cs[k], GFP_KERNEL);
        REQUIRE(p != NULL);
        uint64_t w0;
        memcpy(&w0, p, 8);
        struct tracked *t = track(p);
        /* Every word but the first is the ctor's. */
        long off = -1;
        for (size_t i = 1; i < ncs[k].size / 8; i++) {
            uint64_t w;
            memcpy(&w, (char *)p + 8 * i, 8);
            if (w != pattern_word(ncs[k].seed, (uintptr_t)p, i)) {
                off = (long)(8 * i);
                break;
            }
        }
        if (off != -1 || w0 != t->word) {
            if (bad++ < 5)
                fprintf(stderr,
                        "  object %p of %u bytes: byte %ld differs from the ctor's pattern, "
                        "first word %#llx (expected %#llx)\n",
                        p, ncs[k].size, off, (unsigned long long)w0, (unsigned long long)t->word);
        }
        checked++;
        live[slot].p = p;
        live[slot].k = k;
    }
    CHECK_EQ(bad, 0);
    for (unsigned int s = 0; s < LIVE; s++)
        if (live[s].p)
            kmem_cache_free(cs[live[s].k], live[s].p);
    for (int k = 0; k < 4; k++) {
        CHECK_EQ(kmem_cache_check(cs[k]), 0);
        kmem_cache_destroy(cs[k]);
    }
    fprintf(stderr, "  %lu allocations checked, %lu objects destructed\n", checked, dtor_resets);
    CHECK(dtor_resets > 0);
    kmem_exit();
}

/* Bonwick's full form: ctor and dtor get the private argument; the dtor runs
 * once per object when its slab is given back. So at any time, constructed
 * minus destructed objects are exactly the objects of the cache's slabs. */
struct ops_stats {
    unsigned long ctors, dtors, bad_state, bad_priv;
    unsigned int size;
};

static struct ops_stats *expected_priv;

static void stats_ctor(void *obj, void *priv)
{
    struct ops_stats *st = priv;
    if (st != expected_priv) {
        expected_priv->bad_priv++;
        return;
    }
    st->ctors++;
    memset(obj, 0x6B, st->size);
}

static void stats_dtor(void *obj, void *priv)
{
    struct ops_stats *st = priv;
    if (st != expected_priv) {
        expected_priv->bad_priv++;
        return;
    }
    st->dtors++;
    /* objects reach the dtor in the state their last user left them */
    const unsigned char *b = obj;
    if (b[0] != 0x6B || b[st->size - 1] != 0x6B)
        st->bad_state++;
}

static void stats_reclaim(void *priv)
{
    (void)priv;
}

static void check_ops_invariant(struct kmem_cache *c, const struct ops_stats *st, const char *when)
{
    struct kmem_cache_info in = info_of(c);
    unsigned long live = (unsigned long)in.objs_per_slab * in.slabs;
    if (st->ctors - st->dtors != live)
        fprintf(stderr, "  %s: %lu constructed, %lu destructed, %lu objects in %lu slabs\n", when,
                st->ctors, st->dtors, live, in.slabs);
    CHECK_EQ(st->ctors - st->dtors, live);
}

TEST(slab_ops_ctor_dtor_priv)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int sizes[] = {48, 700};
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(sizes); k++) {
        struct ops_stats st = {0, 0, 0, 0, sizes[k]};
        expected_priv = &st;
        struct kmem_cache_ops ops = {stats_ctor, stats_dtor, stats_reclaim, &st};

        /* The slab layer itself (white-box): exact counts. */
        struct kmem_cache *c = kmem_cache_create_ops("ops", sizes[k], 0, 0, &ops);
        REQUIRE(c != NULL);
        unsigned int objs = info_of(c).objs_per_slab;
        unsigned int n = objs * (SLAB_KEEP_EMPTY + 1);
        void **a = calloc(n, sizeof *a);
        REQUIRE(a != NULL);
        for (unsigned int i = 0; i < n; i++) {
            a[i] = slab_alloc(c);
            REQUIRE(a[i] != NULL);
        }
        CHECK_EQ(st.ctors, n);
        CHECK_EQ(st.dtors, 0);
        /* Free all: SLAB_KEEP_EMPTY slabs stay, one goes at once. */
        for (unsigned int i = 0; i < n; i++)
            slab_free(c, a[i]);
        CHECK_EQ(st.dtors, objs);
        CHECK_EQ(info_of(c).slabs, SLAB_KEEP_EMPTY);
        CHECK_EQ(kmem_cache_shrink(c), 0);
        CHECK_EQ(st.dtors, n);
        CHECK_EQ(st.ctors, n);
        /* Again, and destroy gives every slab back through the dtor. */
        a[0] = slab_alloc(c);
        REQUIRE(a[0] != NULL);
        CHECK_EQ(st.ctors, n + objs);
        slab_free(c, a[0]);
        kmem_cache_destroy(c);
        CHECK_EQ(st.dtors, st.ctors);

        /* Through kmem_cache_alloc/free: the invariant at every step. */
        st.ctors = st.dtors = 0;
        c = kmem_cache_create_ops("ops", sizes[k], 0, 0, &ops);
        REQUIRE(c != NULL);
        for (unsigned int i = 0; i < n; i++) {
            a[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(a[i] != NULL);
        }
        CHECK(st.ctors >= n);
        CHECK_EQ(st.dtors, 0);
        check_ops_invariant(c, &st, "allocated");
        for (unsigned int i = 0; i < n; i++)
            kmem_cache_free(c, a[i]);
        check_ops_invariant(c, &st, "freed");
        kmem_cache_shrink(c);
        check_ops_invariant(c, &st, "shrunk");
        a[0] = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(a[0] != NULL);
        check_ops_invariant(c, &st, "allocated again");
        kmem_cache_free(c, a[0]);
        kmem_cache_destroy(c);
        CHECK_EQ(st.dtors, st.ctors); /* every constructed object destructed */
        CHECK_EQ(st.bad_state, 0);
        CHECK_EQ(st.bad_priv, 0);
        free(a);
    }
    /* The Linux form has no dtor: destroying just gives the pages back. */
    ctor64_calls = 0;
    struct kmem_cache *c = kmem_cache_create("linux-ctor", 64, 0, 0, ctor64);
    REQUIRE(c != NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    REQUIRE(p != NULL);
    kmem_cache_free(c, p);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- slab states -------------------------------------------------------------------- */

static void check_counts(struct kmem_cache *c, unsigned long active, unsigned long full,
                         unsigned long partial, unsigned long empty)
{
    struct kmem_cache_info in = info_of(c);
    if (in.active_objs != active || in.full_slabs != full || in.partial_slabs != partial ||
        in.empty_slabs != empty)
        fprintf(stderr,
                "  %s: active %lu full %lu partial %lu empty %lu; expected %lu %lu %lu %lu\n",
                in.name, in.active_objs, in.full_slabs, in.partial_slabs, in.empty_slabs, active,
                full, partial, empty);
    CHECK_EQ(in.active_objs, active);
    CHECK_EQ(in.full_slabs, full);
    CHECK_EQ(in.partial_slabs, partial);
    CHECK_EQ(in.empty_slabs, empty);
    CHECK_EQ(in.slabs, full + partial + empty);
    CHECK_EQ(in.total_objs, in.slabs * in.objs_per_slab);
    check_slabinfo_matches(c);
}

/* What holds whatever caches objects above the slabs: `live` objects are
 * allocated, so at least that many are in use in the slabs. */
static void check_consistent(struct kmem_cache *c, unsigned long live)
{
    struct kmem_cache_info in = info_of(c);
    CHECK(in.active_objs >= live);
    CHECK(in.active_objs <= in.total_objs);
    CHECK_EQ(in.slabs, in.full_slabs + in.partial_slabs + in.empty_slabs);
    CHECK_EQ(in.total_objs, in.slabs * in.objs_per_slab);
    CHECK(in.full_slabs * in.objs_per_slab <= in.active_objs);
    CHECK(in.active_objs <= (in.full_slabs + in.partial_slabs) * in.objs_per_slab);
    CHECK(in.empty_slabs <= SLAB_KEEP_EMPTY);
    check_slabinfo_matches(c);
}

/* kmem_cache_walk and kmem_slab_walk: every cache once, every slab once,
 * full before partial before empty, and free maps that match inuse. */
struct walk_seen {
    struct kmem_cache *want;
    unsigned long caches, found;
    unsigned long slabs, inuse, full_before_partial_violations;
    unsigned int last_state; /* 0 full, 1 partial, 2 empty */
};

static bool walk_slab(void *arg, const struct kmem_slab_view *v)
{
    struct walk_seen *w = arg;
    unsigned int free = 0, bits = 8 * sizeof(long);
    for (unsigned int i = 0; i < v->objects; i++)
        free += (v->free_map[i / bits] >> (i % bits)) & 1;
    CHECK_EQ(free, v->objects - v->inuse);
    unsigned int state = v->inuse == v->objects ? 0 : v->inuse ? 1 : 2;
    if (state < w->last_state)
        w->full_before_partial_violations++;
    w->last_state = state;
    CHECK((const char *)v->objects_addr >= (const char *)v->addr);
    w->slabs++;
    w->inuse += v->inuse;
    return true;
}

static bool walk_cache(void *arg, struct kmem_cache *c)
{
    struct walk_seen *w = arg;
    w->caches++;
    if (c == w->want) {
        w->found++;
        kmem_slab_walk(c, walk_slab, w);
    }
    return true;
}

static bool walk_stop(void *arg, struct kmem_cache *c)
{
    (void)c;
    return ++*(unsigned long *)arg < 2;
}

TEST(slab_walks)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *c = kmem_cache_create("walked", 200, 0, 0, NULL);
    REQUIRE(c != NULL);
    unsigned long objs = info_of(c).objs_per_slab, n = 3 * objs + objs / 2;
    void **a = calloc(n, sizeof *a);
    REQUIRE(a != NULL);
    for (unsigned long i = 0; i < n; i++)
        REQUIRE((a[i] = slab_alloc(c)) != NULL);
    for (unsigned long i = 0; i < objs; i++) /* the first slab goes empty */
        slab_free(c, a[i]);
    struct walk_seen w = {.want = c};
    unsigned long visited = kmem_cache_walk(walk_cache, &w);
    CHECK_EQ(visited, w.caches);
    CHECK(w.caches > 1); /* kmem's own caches too */
    CHECK_EQ(w.found, 1);
    CHECK_EQ(w.slabs, info_of(c).slabs);
    CHECK_EQ(w.inuse, n - objs);
    CHECK_EQ(w.full_before_partial_violations, 0);
    unsigned long stops = 0;
    CHECK_EQ(kmem_cache_walk(walk_stop, &stops), 2);
    for (unsigned long i = objs; i < n; i++)
        slab_free(c, a[i]);
    free(a);
    kmem_cache_destroy(c);
    kmem_exit();
}

TEST(slab_states)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int sizes[] = {256, 1024};
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(sizes); k++) {
        struct kmem_cache *c = kmem_cache_create("states", sizes[k], 0, 0, NULL);
        REQUIRE(c != NULL);
        unsigned long objs = info_of(c).objs_per_slab;
        unsigned long nslabs = SLAB_KEEP_EMPTY + 3;
        unsigned long n = nslabs * objs;
        void **a = calloc(n, sizeof *a);
        REQUIRE(a != NULL);
        check_counts(c, 0, 0, 0, 0);
        /* One by one (through the slab layer): each slab goes partial, then
         * full; a new one follows. */
        for (unsigned long i = 0; i < n; i++) {
            a[i] = slab_alloc(c);
            REQUIRE(a[i] != NULL);
            unsigned long m = i + 1;
            check_counts(c, m, m / objs, m % objs != 0, 0);
        }
        /* Free in the same order: slab after slab empties; SLAB_KEEP_EMPTY
         * of them stay, the others go back at once. */
        for (unsigned long i = 0; i < n; i++) {
            slab_free(c, a[i]);
            unsigned long m = i + 1;
            unsigned long emptied = m / objs, partial = m % objs != 0;
            unsigned long kept = emptied < SLAB_KEEP_EMPTY ? emptied : SLAB_KEEP_EMPTY;
            check_counts(c, n - m, nslabs - emptied - partial, partial, kept);
        }
        CHECK_EQ(kmem_cache_check(c), 0);
        /* The size snprintf semantics: a short buffer gets a prefix. */
        char small[40];
        size_t full = kmem_slabinfo(NULL, 0);
        CHECK_EQ(kmem_slabinfo(small, sizeof small), full);
        CHECK_EQ(strlen(small), sizeof small - 1);
        CHECK(strncmp(small, "slabinfo - version: 2.1\n", 24) == 0);
        CHECK_EQ(kmem_cache_shrink(c), 0);
        check_counts(c, 0, 0, 0, 0);

        /* The same through kmem_cache_alloc/free, where objects may also be
         * cached above the slabs: the numbers stay consistent at every step,
         * and once every object is freed and the cache shrunk, no slab is
         * left. */
        for (unsigned long i = 0; i < n; i++) {
            a[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(a[i] != NULL);
            check_consistent(c, i + 1);
        }
        for (unsigned long i = 0; i < n; i++) {
            kmem_cache_free(c, a[i]);
            check_consistent(c, n - i - 1);
        }
        CHECK_EQ(kmem_cache_check(c), 0);
        CHECK_EQ(kmem_cache_shrink(c), 0);
        check_counts(c, 0, 0, 0, 0);
        free(a);
        kmem_cache_destroy(c);
    }
    kmem_exit();
}

/* Allocation takes a partial slab first, then an empty one, then grows. */
TEST(slab_alloc_order)
{
    /* Through the slab layer (white-box), where the policy lives. */
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *c = kmem_cache_create("order", 128, 0, 0, NULL);
    REQUIRE(c != NULL);
    struct kmem_cache_info in = info_of(c);
    unsigned int objs = in.objs_per_slab;
    void **a = calloc(3 * (size_t)objs, sizeof *a);
    REQUIRE(a != NULL);
    for (unsigned int i = 0; i < 3 * objs; i++) {
        a[i] = slab_alloc(c);
        REQUIRE(a[i] != NULL);
    }
    unsigned long A = block_of(a[0], &in), B = block_of(a[objs], &in),
                  C = block_of(a[2 * objs], &in);
    CHECK(A != B && B != C && A != C);
    /* Empty A completely, and free one object of C: A empty, C partial. */
    for (unsigned int i = 0; i < objs; i++)
        slab_free(c, a[i]);
    void *from_c = a[2 * objs + 5];
    slab_free(c, from_c);
    check_counts(c, 2 * objs - 1, 1, 1, 1);
    /* The next allocation fills the partial slab C, not the empty A. */
    void *p = slab_alloc(c);
    REQUIRE(p != NULL);
    CHECK_EQ(block_of(p, &in), C);
    CHECK(p == from_c);
    a[2 * objs + 5] = p;
    /* C is full again: now the empty slab A, and no new slab. */
    for (unsigned int i = 0; i < objs; i++) {
        a[i] = slab_alloc(c);
        REQUIRE(a[i] != NULL);
        CHECK_EQ(block_of(a[i], &in), A);
    }
    CHECK_EQ(info_of(c).slabs, 3);
    /* Everything full: a new slab. */
    p = slab_alloc(c);
    REQUIRE(p != NULL);
    unsigned long D = block_of(p, &in);
    CHECK(D != A && D != B && D != C);
    CHECK_EQ(info_of(c).slabs, 4);
    /* With two partial slabs, the next object comes from one of them. */
    slab_free(c, a[3]);        /* A partial */
    slab_free(c, a[objs + 3]); /* B partial */
    void *q = slab_alloc(c);
    REQUIRE(q != NULL);
    unsigned long bq = block_of(q, &in);
    CHECK(bq == A || bq == B || bq == D);
    CHECK_EQ(info_of(c).slabs, 4);
    slab_free(c, q);
    slab_free(c, p);
    for (unsigned int i = 0; i < 3 * objs; i++)
        if (i != 3 && i != objs + 3)
            slab_free(c, a[i]);
    CHECK_EQ(kmem_cache_check(c), 0);
    CHECK_EQ(info_of(c).active_objs, 0);
    free(a);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* SLAB_KEEP_EMPTY empty slabs stay with the cache; the rest go back to the
 * page allocator as soon as they empty (through the slab layer, white-box). */
TEST(slab_keep_empty)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int sizes[] = {256, 3000};
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(sizes); k++) {
        struct kmem_cache *c = kmem_cache_create("keep", sizes[k], 0, 0, NULL);
        REQUIRE(c != NULL);
        struct kmem_cache_info in = info_of(c);
        /* Warm the off-slab header cache (its slab stays, empty). */
        void *w = slab_alloc(c);
        REQUIRE(w != NULL);
        slab_free(c, w);
        CHECK_EQ(kmem_cache_shrink(c), 0);
        unsigned long base = test_free_pages();
        unsigned long nslabs = SLAB_KEEP_EMPTY + 4;
        unsigned long n = nslabs * in.objs_per_slab;
        void **a = calloc(n, sizeof *a);
        REQUIRE(a != NULL);
        for (unsigned long i = 0; i < n; i++) {
            a[i] = slab_alloc(c);
            REQUIRE(a[i] != NULL);
        }
        CHECK_EQ(base - test_free_pages(), nslabs * in.pages_per_slab);
        for (unsigned long i = 0; i < n; i++)
            slab_free(c, a[i]);
        in = info_of(c);
        CHECK_EQ(in.slabs, SLAB_KEEP_EMPTY);
        CHECK_EQ(in.empty_slabs, SLAB_KEEP_EMPTY);
        CHECK_EQ(base - test_free_pages(), (unsigned long)SLAB_KEEP_EMPTY * in.pages_per_slab);
        /* The kept slabs serve the next allocations without new pages. */
        for (unsigned long i = 0; i < SLAB_KEEP_EMPTY * (unsigned long)in.objs_per_slab; i++) {
            a[i] = slab_alloc(c);
            REQUIRE(a[i] != NULL);
        }
        CHECK_EQ(base - test_free_pages(), (unsigned long)SLAB_KEEP_EMPTY * in.pages_per_slab);
        for (unsigned long i = 0; i < SLAB_KEEP_EMPTY * (unsigned long)in.objs_per_slab; i++)
            slab_free(c, a[i]);
        CHECK_EQ(kmem_cache_shrink(c), 0);
        CHECK_EQ(test_free_pages(), base);
        free(a);
        kmem_cache_destroy(c);
    }
    kmem_exit();
}

/* ---- giving pages back ------------------------------------------------------------ */

struct workload {
    unsigned int size;
    unsigned int n;
};

/* Create a cache, allocate n objects, free them all, then shrink (or not)
 * and destroy. Returns false on a failed allocation. */
static bool cache_round(const struct workload *w, bool shrink_first, unsigned long base)
{
    struct kmem_cache *c = kmem_cache_create("giveback", w->size, 0, 0, NULL);
    if (!c)
        return false;
    if (base)
        CHECK_EQ(test_free_pages(), base); /* the cache itself came from a warm slab */
    void **a = calloc(w->n, sizeof *a);
    if (!a)
        return false;
    for (unsigned int i = 0; i < w->n; i++) {
        a[i] = kmem_cache_alloc(c, GFP_KERNEL);
        if (!a[i])
            return false;
        memset(a[i], 0x3C, w->size);
    }
    struct kmem_cache_info in = info_of(c);
    if (base)
        CHECK(test_free_pages() < base);
    /* A live object keeps its slab: shrink reports that slabs remain. */
    CHECK(kmem_cache_shrink(c) != 0);
    for (unsigned int i = 0; i < w->n; i++)
        kmem_cache_free(c, a[i]);
    free(a);
    if (shrink_first) {
        CHECK_EQ(kmem_cache_shrink(c), 0);
        in = info_of(c);
        CHECK_EQ(in.slabs, 0);
        CHECK_EQ(in.total_objs, 0);
        if (base)
            CHECK_EQ(test_free_pages(), base);
        CHECK_EQ(kmem_cache_shrink(c), 0); /* nothing left: still 0 */
    }
    kmem_cache_destroy(c);
    if (base)
        CHECK_EQ(test_free_pages(), base);
    return true;
}

TEST(slab_shrink_destroy_give_back)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const struct workload loads[] = {
        {64, 1000}, {200, 300}, {600, 100}, {3000, 40}, {7168, 20}, {20000, 9}, {100000, 3},
    };
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(loads); k++)
        for (int shrink_first = 0; shrink_first < 2; shrink_first++) {
            /* A throwaway round warms the internal caches ("kmem_cache",
             * "kmem_slab"), whose slabs may stay; the measured round must
             * then give back every page it took. */
            REQUIRE(cache_round(&loads[k], shrink_first, 0));
            unsigned long base = test_free_pages();
            REQUIRE(cache_round(&loads[k], shrink_first, base));
            CHECK_EQ(test_free_pages(), base);
        }
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- small contracts ------------------------------------------------------------- */

static void ctor_ab(void *obj)
{
    memset(obj, 0xAB, 100);
}

TEST(slab_zalloc_null_args_names)
{
    /* Before kmem_init: no cache. */
    CHECK(kmem_cache_create("early", 64, 0, 0, NULL) == NULL);
    REQUIRE(kmem_init(NULL) == 0);

    /* zalloc zeroes, with or without a constructor. */
    struct kmem_cache *c = kmem_cache_create("zero", 100, 0, 0, ctor_ab);
    REQUIRE(c != NULL);
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    REQUIRE(p != NULL);
    CHECK(((unsigned char *)p)[0] == 0xAB && ((unsigned char *)p)[99] == 0xAB);
    void *z = kmem_cache_zalloc(c, GFP_KERNEL);
    REQUIRE(z != NULL);
    CHECK(all_zero(z, 100));
    memset(z, 0xAB, 100);
    kmem_cache_free(c, z);
    kmem_cache_free(c, p);
    kmem_cache_destroy(c);
    c = kmem_cache_create("zero2", 5000, 0, 0, NULL);
    REQUIRE(c != NULL);
    for (int round = 0; round < 3; round++) {
        p = kmem_cache_alloc(c, GFP_KERNEL);
        REQUIRE(p != NULL);
        memset(p, 0xFF, 5000);
        kmem_cache_free(c, p);
        z = kmem_cache_zalloc(c, GFP_ATOMIC);
        REQUIRE(z != NULL);
        CHECK(z == p); /* the same object, zeroed */
        CHECK(all_zero(z, 5000));
        kmem_cache_free(c, z);
    }

    /* kmem_cache_free(cache, NULL) does nothing, quietly. */
    struct kmem_cache_info before = info_of(c), after;
    struct capture cap;
    char out[1024];
    capture_start(&cap);
    kmem_cache_free(c, NULL);
    kmem_cache_destroy(NULL);
    capture_end(&cap, out, sizeof out);
    CHECK_STR_EQ(out, "");
    after = info_of(c);
    CHECK_EQ(after.active_objs, before.active_objs);
    CHECK_EQ(after.slabs, before.slabs);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);

    /* Bad arguments: NULL, quietly (no SLAB_PANIC). */
    capture_start(&cap);
    CHECK(kmem_cache_create("bad", 0, 0, 0, NULL) == NULL);
    CHECK(kmem_cache_create("bad", 64, 3, 0, NULL) == NULL);
    CHECK(kmem_cache_create("bad", 64, 24, 0, NULL) == NULL);
    CHECK(kmem_cache_create("bad", 64, 8192, 0, NULL) == NULL);
    CHECK(kmem_cache_create(NULL, 64, 0, 0, NULL) == NULL);
    CHECK(kmem_cache_create("bad", (4u << 20) + 1, 0, 0, NULL) == NULL);
    CHECK(kmem_cache_create("bad", ~0u, 0, 0, NULL) == NULL);
    CHECK(kmem_cache_create_ops("bad", 0, 0, 0, NULL) == NULL);
    capture_end(&cap, out, sizeof out);
    CHECK_STR_EQ(out, "");
    struct slabinfo_row row;
    CHECK(!slabinfo_find("bad", &row));

    /* The limits themselves are fine: 4 MiB objects, 4096 alignment. */
    c = kmem_cache_create("huge", 4u << 20, 0, 0, NULL);
    CHECK(c != NULL);
    if (c) {
        struct kmem_cache_info in = info_of(c);
        CHECK_EQ(in.pages_per_slab, 1u << MAX_PAGE_ORDER);
        CHECK_EQ(in.objs_per_slab, 1);
        p = kmem_cache_alloc(c, GFP_KERNEL);
        CHECK(p != NULL);
        if (p) {
            memset(p, 1, 4u << 20);
            kmem_cache_free(c, p);
        }
        kmem_cache_destroy(c);
    }
    c = kmem_cache_create("page-aligned", 64, 4096, 0, NULL);
    CHECK(c != NULL);
    if (c)
        kmem_cache_destroy(c);

    /* Names and sizes. */
    c = kmem_cache_create("dentry", 192, 0, SLAB_HWCACHE_ALIGN, NULL);
    REQUIRE(c != NULL);
    CHECK_STR_EQ(kmem_cache_name(c), "dentry");
    CHECK_EQ(kmem_cache_size(c), 192);
    struct kmem_cache *d = kmem_cache_create("odd-size", 100, 0, SLAB_HWCACHE_ALIGN, NULL);
    REQUIRE(d != NULL);
    CHECK_STR_EQ(kmem_cache_name(d), "odd-size");
    CHECK_EQ(kmem_cache_size(d), 100); /* the object size, not the stride */
    CHECK_EQ(info_of(d).size, 128);
    /* Two caches may share a name; each has its own line. */
    struct kmem_cache *e = kmem_cache_create("dentry", 192, 0, 0, NULL);
    REQUIRE(e != NULL);
    CHECK(e != c);
    kmem_cache_destroy(e);
    kmem_cache_destroy(d);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- destroying a cache with live objects ------------------------------------------ */

TEST(slab_destroy_with_live_objects)
{
    REQUIRE(kmem_init(NULL) == 0);
    static const unsigned int sizes[] = {200, 2000};
    for (size_t k = 0; k < KMEM_ARRAY_SIZE(sizes); k++) {
        unsigned int size = sizes[k];
        /* warm the internal caches first */
        struct kmem_cache *t = kmem_cache_create("throwaway", size, 0, 0, NULL);
        REQUIRE(t != NULL);
        void *tp = kmem_cache_alloc(t, GFP_KERNEL);
        REQUIRE(tp != NULL);
        kmem_cache_free(t, tp);
        kmem_cache_destroy(t);
        unsigned long base = test_free_pages();

        struct kmem_cache *c = kmem_cache_create("leaky", size, 0, 0, NULL);
        REQUIRE(c != NULL);
        enum { N = 3, MANY = 40 };
        void *objs[MANY];
        for (int i = 0; i < MANY; i++) {
            objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(objs[i] != NULL);
            pattern_fill(objs[i], size, 77 + (uint64_t)i);
        }
        for (int i = N; i < MANY; i++)
            kmem_cache_free(c, objs[i]);

        struct capture cap;
        char out[8192], addr[64];
        capture_start(&cap);
        kmem_cache_destroy(c);
        capture_end(&cap, out, sizeof out);
        fprintf(stderr, "%s", out);
        CHECK(strstr(out, "leaky") != NULL);
        CHECK(strstr(out, "3 objects") != NULL);
        for (int i = 0; i < N; i++) {
            snprintf(addr, sizeof addr, "%p", objs[i]);
            if (!strstr(out, addr))
                fprintf(stderr, "  leaked object %s is not named\n", addr);
            CHECK(strstr(out, addr) != NULL);
        }
        /* Nothing was freed under the objects: they are intact and usable. */
        CHECK_EQ(kmem_page_check(), 0);
        for (int i = 0; i < N; i++) {
            CHECK_EQ(pattern_check(objs[i], size, 77 + (uint64_t)i), -1);
            CHECK(cache_of(objs[i]) == c);
            pattern_fill(objs[i], size, 99 + (uint64_t)i);
        }
        /* The cache is kept, with its counts. */
        CHECK_EQ(kmem_cache_check(c), 0);
        /* destroy returned every cached object to the slabs before counting:
         * exactly the leaked objects are in use */
        CHECK_EQ(info_of(c).active_objs, N);
        struct slabinfo_row row;
        CHECK(slabinfo_find("leaky", &row));
        /* A page allocation does not get the objects' memory. */
        struct page *pg = alloc_pages(GFP_KERNEL, 2);
        REQUIRE(pg != NULL);
        memset(page_address(pg), 0xEE, 4 * PAGE_SIZE);
        for (int i = 0; i < N; i++)
            CHECK_EQ(pattern_check(objs[i], size, 99 + (uint64_t)i), -1);
        __free_pages(pg, 2);

        /* Many leaks: the count, and some of them named. */
        void *more[MANY];
        for (int i = 0; i < MANY; i++) {
            more[i] = kmem_cache_alloc(c, GFP_KERNEL);
            REQUIRE(more[i] != NULL);
        }
        capture_start(&cap);
        kmem_cache_destroy(c);
        capture_end(&cap, out, sizeof out);
        CHECK(strstr(out, "43 objects") != NULL);
        CHECK(strstr(out, "leaky") != NULL);
        int named = 0;
        for (int i = 0; i < MANY + N; i++) {
            snprintf(addr, sizeof addr, "%p", i < MANY ? more[i] : objs[i - MANY]);
            named += strstr(out, addr) != NULL;
        }
        CHECK(named >= 1);
        for (int i = 0; i < MANY; i++)
            kmem_cache_free(c, more[i]);

        /* Freed afterwards, the cache goes cleanly. */
        for (int i = 0; i < N; i++)
            kmem_cache_free(c, objs[i]);
        capture_start(&cap);
        kmem_cache_destroy(c);
        capture_end(&cap, out, sizeof out);
        CHECK_STR_EQ(out, "");
        CHECK(!slabinfo_find("leaky", &row));
        CHECK_EQ(test_free_pages(), base);
        CHECK_EQ(kmem_page_check(), 0);
    }
    kmem_exit();
}

/* ---- a randomized model ------------------------------------------------------------ */

struct live_obj {
    void *p;
    uint64_t seed;
};

struct mcache {
    const char *name;
    unsigned int size, align;
    slab_flags_t flags;
    bool ctor;
    unsigned int max_live;
    struct kmem_cache *c;
    unsigned int obj_align; /* from kmem_cache_info */
    struct live_obj *live;
    unsigned int nlive;
    uint64_t ctor_seed;
    unsigned long allocs, frees, zallocs;
};

static struct mcache mcaches[] = {
    {"m8", 8, 0, 0, false, 600, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m24-ctor", 24, 0, 0, true, 600, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m96-hw", 96, 0, SLAB_HWCACHE_ALIGN, false, 500, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m100-ctor", 100, 16, 0, true, 500, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m192", 192, 64, 0, false, 400, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m500", 500, 0, 0, false, 400, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m512-ctor", 512, 0, 0, true, 300, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m1000-hw", 1000, 0, SLAB_HWCACHE_ALIGN, false, 300, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m3072-ctor", 3072, 0, 0, true, 200, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m7168", 7168, 0, 0, false, 100, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m20000-ctor", 20000, 256, 0, true, 48, NULL, 0, NULL, 0, 0, 0, 0, 0},
    {"m100000", 100000, 0, 0, false, 8, NULL, 0, NULL, 0, 0, 0, 0, 0},
};
enum { NR_MCACHES = sizeof mcaches / sizeof mcaches[0] };

static void model_ctor(void *obj, void *priv)
{
    const struct mcache *m = priv;
    pattern_fill(obj, m->size, m->ctor_seed);
}

/* One bit per 8 bytes of the 64 MiB machine: which bytes live objects hold. */
static uint64_t granules[(64ul << 20) / 8 / 64];

/* Mark (or clear) the granules of [p, p + size); false if any was already
 * in that state (two live objects overlap, or a free of a free object). */
static bool granules_mark(const void *p, unsigned int size, bool set)
{
    unsigned long first = (unsigned long)(virt_to_phys(p) >> 3), n = (size + 7) / 8;
    bool ok = true;
    for (unsigned long g = first; g < first + n; g++) {
        uint64_t bit = 1ull << (g % 64);
        uint64_t *w = &granules[g / 64];
        if (((*w & bit) != 0) == set)
            ok = false;
        if (set)
            *w |= bit;
        else
            *w &= ~bit;
    }
    return ok;
}

struct model_errors {
    unsigned long count;
    char first[MSG];
};

#define MFAIL(e, ...)                                                                              \
    do {                                                                                           \
        if ((e)->count++ == 0)                                                                     \
            snprintf((e)->first, sizeof(e)->first, __VA_ARGS__);                                   \
    } while (0)

static bool model_alloc(struct mcache *m, uint64_t *rng, struct model_errors *err)
{
    bool zero = harness_rand(rng) % 16 == 0;
    gfp_t gfp = harness_rand(rng) % 8 == 0 ? GFP_ATOMIC : GFP_KERNEL;
    void *p = zero ? kmem_cache_zalloc(m->c, gfp) : kmem_cache_alloc(m->c, gfp);
    if (!p) {
        MFAIL(err, "%s: allocation failed", m->name);
        return false;
    }
    if ((uintptr_t)p % m->obj_align)
        MFAIL(err, "%s: object %p not aligned to %u", m->name, p, m->obj_align);
    if (cache_of(p) != m->c)
        MFAIL(err, "%s: object %p lies in no slab of its cache", m->name, p);
    if (!granules_mark(p, m->size, true))
        MFAIL(err, "%s: object %p overlaps a live object", m->name, p);
    if (zero) {
        m->zallocs++;
        if (!all_zero(p, m->size))
            MFAIL(err, "%s: zalloc object %p is not zeroed", m->name, p);
    } else if (m->ctor) {
        long off = pattern_check(p, m->size, m->ctor_seed);
        if (off != -1)
            MFAIL(err, "%s: object %p is not in its constructed state at byte %ld", m->name, p,
                  off);
    }
    uint64_t seed = harness_rand(rng);
    pattern_fill(p, m->size, seed);
    m->live[m->nlive].p = p;
    m->live[m->nlive].seed = seed;
    m->nlive++;
    m->allocs++;
    return true;
}

static void model_free(struct mcache *m, unsigned int i, struct model_errors *err)
{
    struct live_obj o = m->live[i];
    long off = pattern_check(o.p, m->size, o.seed);
    if (off != -1)
        MFAIL(err, "%s: object %p was overwritten at byte %ld", m->name, o.p, off);
    if (!granules_mark(o.p, m->size, false))
        MFAIL(err, "%s: object %p granules were not marked", m->name, o.p);
    if (m->ctor)
        pattern_fill(o.p, m->size, m->ctor_seed); /* back in its constructed state */
    kmem_cache_free(m->c, o.p);
    m->live[i] = m->live[--m->nlive];
    m->frees++;
}

static void model_check(void)
{
    for (int k = 0; k < NR_MCACHES; k++) {
        struct mcache *m = &mcaches[k];
        CHECK_EQ(kmem_cache_check(m->c), 0);
        struct kmem_cache_info in = info_of(m->c);
        CHECK(in.active_objs >= m->nlive); /* and any cached above the slabs */
        CHECK(in.total_objs >= in.active_objs);
        CHECK(in.empty_slabs <= SLAB_KEEP_EMPTY);
    }
    CHECK_EQ(kmem_page_check(), 0);
}

TEST(slab_random_model)
{
    REQUIRE(kmem_init(NULL) == 0);
    memset(granules, 0, sizeof granules);
    /* Warm up what this thread keeps for as long as it lives (its per-thread
     * state of the caches, if any), then measure. */
    struct kmem_cache *warm = kmem_cache_create("warm-up", 64, 0, 0, NULL);
    REQUIRE(warm != NULL);
    void *wp = kmem_cache_alloc(warm, GFP_KERNEL);
    REQUIRE(wp != NULL);
    kmem_cache_free(warm, wp);
    kmem_cache_destroy(warm);
    shrink_internal();
    unsigned long base = test_free_pages();
    for (int k = 0; k < NR_MCACHES; k++) {
        struct mcache *m = &mcaches[k];
        m->ctor_seed = 0xC0FFEE00ull + (uint64_t)k;
        m->nlive = 0;
        m->allocs = m->frees = m->zallocs = 0;
        m->live = calloc(m->max_live, sizeof *m->live);
        REQUIRE(m->live != NULL);
        struct kmem_cache_ops ops = {model_ctor, NULL, NULL, m};
        m->c = m->ctor ? kmem_cache_create_ops(m->name, m->size, m->align, m->flags, &ops)
                       : kmem_cache_create(m->name, m->size, m->align, m->flags, NULL);
        REQUIRE(m->c != NULL);
        m->obj_align = info_of(m->c).align;
    }
    struct model_errors err = {0, ""};
    uint64_t rng = 0x5EED5EEDull;
    unsigned long ops = ops_total(), shrinks = 0, flushes = 0;
    for (unsigned long op = 0; op < ops && err.count == 0; op++) {
        struct mcache *m = &mcaches[harness_rand(&rng) % NR_MCACHES];
        /* Phases of growth and of shrinking, so that slabs fill and empty. */
        unsigned int p_alloc = (op / 8192) % 2 ? 35 : 65;
        bool alloc =
            m->nlive == 0 || (m->nlive < m->max_live && harness_rand(&rng) % 100 < p_alloc);
        if (alloc)
            model_alloc(m, &rng, &err);
        else
            model_free(m, (unsigned int)(harness_rand(&rng) % m->nlive), &err);
        if (op % 7919 == 7918) {
            /* Shrink: 0 exactly when no slab remains. */
            int left = kmem_cache_shrink(m->c);
            struct kmem_cache_info in = info_of(m->c);
            CHECK_EQ(left != 0, in.slabs != 0);
            CHECK_EQ(in.empty_slabs, 0);
            shrinks++;
        }
        if (op % 49999 == 49998) {
            while (m->nlive)
                model_free(m, m->nlive - 1, &err);
            flushes++;
        }
        if (op % 25000 == 24999)
            model_check();
    }
    if (err.count)
        fprintf(stderr, "  %lu model errors; first: %s\n", err.count, err.first);
    CHECK_EQ(err.count, 0);
    model_check();
    unsigned long allocs = 0;
    for (int k = 0; k < NR_MCACHES; k++) {
        struct mcache *m = &mcaches[k];
        while (m->nlive)
            model_free(m, m->nlive - 1, &err);
        allocs += m->allocs;
        CHECK_EQ(m->allocs, m->frees);
        CHECK_EQ(kmem_cache_check(m->c), 0);
        /* Every object freed: once shrunk, nothing holds a slab. */
        CHECK_EQ(kmem_cache_shrink(m->c), 0);
        CHECK_EQ(info_of(m->c).active_objs, 0);
        CHECK_EQ(info_of(m->c).slabs, 0);
        kmem_cache_destroy(m->c);
        free(m->live);
        m->live = NULL;
    }
    CHECK_EQ(err.count, 0);
    for (size_t g = 0; g < KMEM_ARRAY_SIZE(granules); g++)
        if (granules[g]) {
            CHECK(!"granules left marked");
            break;
        }
    shrink_internal();
    CHECK_EQ(test_free_pages(), base);
    CHECK_EQ(kmem_page_check(), 0);
    fprintf(stderr, "  %lu operations: %lu objects allocated and freed, %lu shrinks, %lu flushes\n",
            ops, allocs, shrinks, flushes);
    kmem_exit();
}

/* ---- kmem_cache_check sees damage ------------------------------------------------- */

static void expect_check_fails(struct kmem_cache *c, const char *what, int *detected)
{
    int n = kmem_cache_check(c);
    if (n <= 0)
        fprintf(stderr, "  kmem_cache_check missed: %s\n", what);
    CHECK(n > 0);
    *detected += n > 0;
}

TEST(slab_check_detects_corruption)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *c = kmem_cache_create("corrupt", 64, 0, 0, NULL);
    REQUIRE(c != NULL);
    struct kmem_cache_info in = info_of(c);
    unsigned int objs = in.objs_per_slab;
    REQUIRE(objs > 8);
    void **a = calloc(objs + 3, sizeof *a);
    REQUIRE(a != NULL);
    /* Through the slab layer's own interface (white-box), so that one slab
     * is full and one holds exactly three objects, whatever caches objects
     * above it. */
    REQUIRE(kmem_slab_alloc_bulk(c, GFP_KERNEL, a, objs + 3) == objs + 3);
    CHECK_EQ(kmem_cache_check(c), 0);
    struct slab *full = slab_of(a[0]), *part = slab_of(a[objs]);
    REQUIRE(full && part && full != part);
    REQUIRE(part->sl_inuse == 3 && full->sl_inuse == objs);
    unsigned int idx0 = (unsigned int)(((char *)a[objs] - part->sl_objs) / in.size);
    REQUIRE(idx0 < 64);

    struct capture cap;
    char out[16384];
    int detected = 0;
    capture_start(&cap);
    /* S2: an object in use marked free. */
    unsigned long saved = part->sl_free_map[0];
    CHECK((saved & (1UL << idx0)) == 0);
    part->sl_free_map[0] |= 1UL << idx0;
    expect_check_fails(c, "an object in use marked free", &detected);
    part->sl_free_map[0] = saved;
    CHECK_EQ(kmem_cache_check(c), 0);
    /* S2: a free object marked in use. */
    part->sl_free_map[0] &= ~(1UL << 7);
    CHECK(part->sl_free_map[0] != saved);
    expect_check_fails(c, "a free object marked in use", &detected);
    part->sl_free_map[0] = saved;
    /* S2: a bit past the last object. */
    if (objs % 64) {
        unsigned int w = objs / 64;
        saved = part->sl_free_map[w];
        part->sl_free_map[w] |= 1UL << 63;
        expect_check_fails(c, "a bit past the last object", &detected);
        part->sl_free_map[w] = saved;
    }
    CHECK_EQ(kmem_cache_check(c), 0);
    /* S1/S2: sl_inuse changed. */
    part->sl_inuse++;
    expect_check_fails(c, "sl_inuse one too many", &detected);
    part->sl_inuse = 0;
    expect_check_fails(c, "a partial slab claiming to be empty", &detected);
    part->sl_inuse = 3;
    full->sl_inuse--;
    expect_check_fails(c, "a full slab with a free object", &detected);
    full->sl_inuse++;
    CHECK_EQ(kmem_cache_check(c), 0);
    /* S3: the cache's counters. */
    c->c_inuse++;
    expect_check_fails(c, "c_inuse one too many", &detected);
    c->c_inuse--;
    c->c_nr_full++;
    expect_check_fails(c, "c_nr_full one too many", &detected);
    c->c_nr_full--;
    CHECK_EQ(kmem_cache_check(c), 0);
    /* S4: a page that does not point back at its slab and cache. */
    struct page *pg = virt_to_page(a[0]);
    void *saved_p1 = pg->pg_owner_p1;
    pg->pg_owner_p1 = NULL;
    expect_check_fails(c, "a page of the slab names no cache", &detected);
    pg->pg_owner_p1 = saved_p1;
    CHECK_EQ(kmem_cache_check(c), 0);
    capture_end(&cap, out, sizeof out);
    CHECK(strstr(out, "kmem: check: ") != NULL);
    CHECK(strstr(out, "corrupt") != NULL);

    /* S2: the hint above a word that has free objects (a multi-word map). */
    struct kmem_cache *s = kmem_cache_create("corrupt-hint", 8, 0, 0, NULL);
    REQUIRE(s != NULL);
    void *p;
    REQUIRE(kmem_slab_alloc_bulk(s, GFP_KERNEL, &p, 1) == 1);
    struct slab *sl = slab_of(p);
    REQUIRE(sl != NULL);
    REQUIRE(info_of(s).objs_per_slab > 128);
    CHECK_EQ(kmem_cache_check(s), 0);
    unsigned int hint = sl->sl_hint;
    sl->sl_hint = 1;
    capture_start(&cap);
    expect_check_fails(s, "free objects below the hint", &detected);
    capture_end(&cap, out, sizeof out);
    sl->sl_hint = hint;
    CHECK_EQ(kmem_cache_check(s), 0);
    kmem_slab_free_bulk(s, &p, 1, NULL);
    kmem_cache_destroy(s);

    fprintf(stderr, "  %d kinds of damage detected\n", detected);
    kmem_slab_free_bulk(c, a, objs + 3, NULL);
    free(a);
    CHECK_EQ(kmem_cache_check(c), 0);
    kmem_cache_destroy(c);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

int main(void)
{
    setvbuf(stderr, NULL, _IOLBF, 0);
    RUN_CLEAN(slab_book_figure_9_27);
    RUN_CLEAN(slab_geometry);
    RUN_CLEAN(slab_tight_pack);
    RUN_CLEAN(slab_align);
    RUN_CLEAN(slab_hwcache_align);
    RUN_CLEAN(slab_colouring);
    RUN_CLEAN(slab_ctor_once);
    RUN_CLEAN(slab_state_kept);
    RUN_CLEAN(slab_no_writes_to_free_objects);
    RUN_CLEAN(slab_ops_ctor_dtor_priv);
    RUN_CLEAN(slab_states);
    RUN_CLEAN(slab_walks);
    RUN_CLEAN(slab_alloc_order);
    RUN_CLEAN(slab_keep_empty);
    RUN_CLEAN(slab_shrink_destroy_give_back);
    RUN_CLEAN(slab_zalloc_null_args_names);
    RUN_CLEAN(slab_destroy_with_live_objects);
    RUN_CLEAN(slab_random_model);
    RUN_CLEAN(slab_check_detects_corruption);
    return harness_report();
}
