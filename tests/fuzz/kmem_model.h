/* SPDX-License-Identifier: MIT */
/*
 * kmem_model.h - a reference model of kmem's kernel interface, driven by a
 * stream of bytes: the engine of the libFuzzer target fuzz_kmem (the bytes
 * are the fuzzer's input) and of the differential test test_differential
 * (the bytes come from a seeded PRNG).
 *
 * Every byte sequence is a valid program of 12-byte operations: the first
 * byte picks the operation, the others are its arguments (sizes, orders, GFP
 * flags, which live allocation, pattern seeds); an exhausted input reads as
 * zeros. Fixed-size operations keep a mutation of one argument from
 * shifting every operation after it (tests/fuzz/make_corpus.py writes
 * seeds in this format). The operations cover the page
 * allocator (alloc_pages/__free_pages with orders 0..10 and beyond,
 * __get_free_pages/get_zeroed_page/free_pages, alloc_pages_exact), object
 * caches (kmem_cache_create and _create_ops with varied sizes, alignments,
 * flags, constructors and destructors; alloc, zalloc, free, shrink,
 * destroy, info), kmalloc/kzalloc/kcalloc/kmalloc_array/krealloc/kfree/
 * ksize, vmalloc/vzalloc/__vmalloc/vfree, vmap/vunmap (of single pages and
 * of a block's pages), kvmalloc/kvzalloc/kvfree, mempools of every kind
 * (create, alloc, preallocated, free, resize, destroy), drain_all_pages,
 * the info texts and page walk, and failure injection (kmem/fault.h), which
 * makes any allocation fail. Never __GFP_NOFAIL, nor a GFP_KERNEL
 * mempool_alloc with an empty reserve: one thread would wait for ever.
 *
 * The model remembers each live allocation: its address, size, kind and a
 * pattern seed. The pattern (a function of seed and offset, so a block
 * copied to the wrong place shows) is written into every allocation and
 * verified before it is freed, after krealloc (the preserved prefix) and
 * now and then at random; small blocks carry it in every byte, large ones
 * at their edges and at the start of every page. Checked on each step: a
 * new block overlaps no live one; alignment promises (orders, cache
 * alignment, power-of-two kmalloc sizes, pages for vmalloc); ksize >= size;
 * __GFP_ZERO, kzalloc, vzalloc and friends give zeros; objects of a cache
 * with a constructor come out constructed (every byte the constructor's)
 * and the destructor sees them constructed; krealloc keeps the contents and
 * stays in place when the size fits; vmalloc and vmap areas alias the
 * frames vmalloc_to_page names; kmem_cache_shrink's result, mempool reserve
 * counts, kmem_vmalloc_info's areas and pages, and the page walk agree with
 * the model. Every check_every operations, and at the end, every checker
 * runs and must find nothing: kmem_page_check, kmem_vmalloc_check and
 * kmem_cache_check of every cache (kmalloc's and the slab layer's own too).
 * fz_finish frees everything, destroys the pools and caches, shrinks every
 * cache and drains the per-CPU lists: the machine must then hold what a
 * fresh one holds. One thing kmem keeps for good: the vmalloc layer's
 * arrays, which grow with the number of areas and never shrink; the model
 * grows them itself when it must (fz_vm_room), so it knows their size, and
 * fz_calibrate measured on a fresh machine what each size holds (which
 * objects in which caches). So "nothing leaked" is exact: the same objects
 * allocated per cache, no empty slab, and every page in use a slab or a
 * large kmalloc block.
 *
 * A failure prints what went wrong and the last operations (FZ_TRACE=1 in
 * the environment prints every operation as it runs), then aborts: the
 * fuzzer saves the input, a test fails. kmem's own reports (a bad free it
 * detected) go through a panic handler that prints the same trace.
 */
#ifndef KMEM_TEST_FUZZ_KMEM_MODEL_H
#define KMEM_TEST_FUZZ_KMEM_MODEL_H

#include "fuzz_common.h"

/* ---- configuration and state ------------------------------------------------------------ */

struct fz_config {
    size_t vmalloc_max;       /* the largest vmalloc/kvmalloc request */
    size_t kmalloc_max;       /* the largest kmalloc/krealloc request (beyond 4 MiB: NULL) */
    size_t cache_obj_max;     /* the largest object size of a created cache */
    unsigned int max_objs;    /* live allocations at most (<= FZ_MAX_OBJS) */
    unsigned int check_every; /* run every checker each this many operations */
    unsigned int area_every;  /* > 1: only every area_every-th operation that would make a
                                 vmalloc-range area (vmalloc, kvmalloc, vmap) does; the
                                 others are kmalloc's (each area costs host mmaps) */
    unsigned int misc_every;  /* > 1: the operations that walk everything (checks, page
                                 walk, info texts) run only on every misc_every-th
                                 operation (check_every runs the checks anyway) */
    bool faults;              /* failure injection operations */
};

enum {
    FZ_OP_BYTES = 12, /* an operation: its code and up to 11 bytes of arguments */
    FZ_MAX_OBJS = 512,
    FZ_MAX_CACHES = 8,
    FZ_MAX_POOLS = 4,
    FZ_MAX_VMAP = 16,
    FZ_VM_BOOT_CAPACITY = 16, /* vmalloc.c's VM_BOOT_CAPACITY */
};

enum fz_kind {
    FK_PAGES,   /* alloc_pages: ptr = page_address, size = the block */
    FK_ADDR,    /* __get_free_pages */
    FK_EXACT,   /* alloc_pages_exact: size as asked */
    FK_CACHE,   /* kmem_cache_alloc of caches[owner] */
    FK_KMALLOC, /* kmalloc family; size 0 is ZERO_SIZE_PTR */
    FK_VMALLOC, /* vmalloc family */
    FK_KV,      /* kvmalloc: kmalloc or vmalloc memory */
    FK_VMAP,    /* vmap of pages[]: single pages, or the pages of one block */
    FK_POOL,    /* an element of pools[owner] */
};

struct fz_obj {
    uint8_t *ptr;
    size_t size;         /* the bytes the pattern covers (what was asked for) */
    void *elem;          /* FK_POOL: the element (a struct page * for page pools) */
    struct page **pages; /* FK_VMAP: its frames */
    uint8_t kind;
    uint8_t order; /* FK_PAGES, FK_ADDR; FK_VMAP: 0 single pages, k + 1 a block of order k */
    uint8_t owner; /* FK_CACHE, FK_POOL: cache or pool index */
    uint8_t seed;
    bool constructed; /* of a cache with a constructor: restore before freeing */
};

struct fz_cache {
    struct kmem_cache *c; /* NULL: a free entry */
    unsigned int size, align;
    slab_flags_t flags;
    uint8_t ctor;        /* 0: none, 1: plain ctor, 2: ops (ctor, dtor, reclaim) */
    uint8_t cbyte;       /* what the constructor writes into every byte */
    unsigned long live;  /* objects the model holds (pool reserves apart) */
    unsigned int pools;  /* pools made on it */
    unsigned long dtors; /* destructor calls seen */
    char name[24];
};

enum fz_pool_type { FP_SLAB, FP_KMALLOC, FP_PAGE, FP_CUSTOM, FP_NR };

struct fz_pool {
    mempool_t *p; /* NULL: a free entry */
    uint8_t type;
    uint8_t cache; /* FP_SLAB, FP_CUSTOM */
    unsigned int order;
    size_t size;       /* bytes of an element */
    unsigned long out; /* elements the model holds */
};

struct fz_model {
    struct fz_config cfg;
    unsigned long base_in_use; /* pages in use at fz_begin */
    struct fz_obj objs[FZ_MAX_OBJS];
    unsigned int nobjs;
    struct fz_cache caches[FZ_MAX_CACHES];
    struct fz_pool pools[FZ_MAX_POOLS];
    bool faults_armed;
    unsigned long vm_capacity; /* areas the vmalloc layer's arrays hold now */
    unsigned int soft_max;     /* allocations turn into frees from this many live ones on
                                  (the differential test varies it; fz_begin: max_objs) */
    /* statistics, for the differential test's summary */
    unsigned long n_alloc, n_nomem, n_free, n_checks, n_realloc;
};

static struct fz_model fz;

static const char *const fz_kind_names[] = {"pages",   "gfp-pages", "exact", "cache",  "kmalloc",
                                            "vmalloc", "kvmalloc",  "vmap",  "mempool"};

static void fz_check_obj(const struct fz_obj *o, const char *when)
{
    size_t bad = fz_verify(o->ptr, o->size, o->seed, SIZE_MAX);
    if (bad != SIZE_MAX)
        fz_fail("%s: %s object %p (%zu bytes) overwritten at offset %zu: %#x, expected %#x", when,
                fz_kind_names[o->kind], (void *)o->ptr, o->size, bad, o->ptr[bad],
                fz_pat(o->seed, bad));
}

/* ---- constructors ------------------------------------------------------------------------ */

static void fz_construct(struct fz_cache *fc, void *obj)
{
    memset(obj, fc->cbyte, fc->size);
}

static void fz_ops_ctor(void *obj, void *priv)
{
    fz_construct(priv, obj);
}

/* Slabs are given back with every object in its constructed state: those
 * never handed out, and those the model restored before freeing them. */
static void fz_ops_dtor(void *obj, void *priv)
{
    struct fz_cache *fc = priv;
    fc->dtors++;
    size_t bad = fz_verify_const(obj, fc->size, fc->cbyte, FZ_FULL);
    if (bad != SIZE_MAX)
        fz_fail("destructor of %s: object %p not in its constructed state at byte %zu (%#x, "
                "expected %#x)",
                fc->name, obj, bad, ((uint8_t *)obj)[bad], fc->cbyte);
}

static void fz_ops_reclaim(void *priv)
{
    (void)priv;
}

#define FZ_CTOR(i)                                                                                 \
    static void fz_ctor_##i(void *obj)                                                             \
    {                                                                                              \
        fz_construct(&fz.caches[i], obj);                                                          \
    }
FZ_CTOR(0)
FZ_CTOR(1)
FZ_CTOR(2)
FZ_CTOR(3)
FZ_CTOR(4)
FZ_CTOR(5)
FZ_CTOR(6)
FZ_CTOR(7)
static void (*const fz_ctors[FZ_MAX_CACHES])(void *) = {
    fz_ctor_0, fz_ctor_1, fz_ctor_2, fz_ctor_3, fz_ctor_4, fz_ctor_5, fz_ctor_6, fz_ctor_7,
};

static const struct kmem_cache_ops fz_ops_template = {fz_ops_ctor, fz_ops_dtor, fz_ops_reclaim,
                                                      NULL};

/* ---- decoding arguments ----------------------------------------------------------------- */

/* GFP flags: mostly GFP_KERNEL, and the other ways of asking. zero: may add
 * __GFP_ZERO. Never __GFP_NOFAIL: a single thread would wait forever. */
static gfp_t fz_gfp(struct fz_src *s, bool zero)
{
    static const gfp_t base[8] = {GFP_KERNEL,
                                  GFP_KERNEL,
                                  GFP_KERNEL,
                                  GFP_ATOMIC,
                                  GFP_NOWAIT,
                                  GFP_KERNEL | __GFP_NORETRY,
                                  GFP_KERNEL | __GFP_RETRY_MAYFAIL,
                                  GFP_KERNEL | __GFP_DMA};
    unsigned g = fz_u8(s);
    gfp_t gfp = base[g & 7];
    if (zero && (g & 0x18) == 0x08)
        gfp |= __GFP_ZERO;
    if ((g & 0x30) == 0x30)
        gfp |= __GFP_NOWARN;
    if ((g & 0xc0) == 0xc0)
        gfp |= __GFP_HIGH;
    if (g == 0x47)
        gfp |= __GFP_MEMALLOC;
    return gfp;
}

static unsigned int fz_order(struct fz_src *s)
{
    static const uint8_t orders[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
                                       1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9, 10};
    unsigned o = fz_u8(s);
    if (o == 0xff)
        return MAX_PAGE_ORDER + 1 + fz_u8(s) % 4; /* too large: NULL */
    return orders[o & 31];
}

/* ---- the live set ------------------------------------------------------------------------ */

static bool fz_full(void)
{
    return fz.nobjs >= fz.cfg.max_objs || fz.nobjs >= fz.soft_max;
}

/* A new block must not overlap a live one (addresses of one kind: direct
 * map or vmalloc range; frames that two areas share are caught by the
 * patterns). */
static void fz_check_new(const uint8_t *p, size_t n, const char *what)
{
    if (n == 0)
        return;
    for (unsigned i = 0; i < fz.nobjs; i++) {
        const struct fz_obj *o = &fz.objs[i];
        if (o->size && p < o->ptr + o->size && o->ptr < p + n)
            fz_fail("%s: new block %p (%zu bytes) overlaps the live %s object %p (%zu bytes)", what,
                    (const void *)p, n, fz_kind_names[o->kind], (void *)o->ptr, o->size);
    }
}

static struct fz_obj *fz_add(enum fz_kind kind, void *ptr, size_t size, struct fz_src *s)
{
    struct fz_obj *o = &fz.objs[fz.nobjs++];
    uint8_t seed = (uint8_t)(fz_u8(s) + fz.n_alloc * 37); /* differs when the bytes run out */
    *o = (struct fz_obj){.ptr = ptr, .size = size, .kind = (uint8_t)kind, .seed = seed};
    fz.n_alloc++;
    return o;
}

static void fz_remove(struct fz_obj *o)
{
    *o = fz.objs[--fz.nobjs];
    fz.n_free++;
}

static struct fz_obj *fz_pick(struct fz_src *s)
{
    if (!fz.nobjs)
        return NULL;
    unsigned r = fz_u16(s);
    return &fz.objs[r % fz.nobjs];
}

/* ---- pages ------------------------------------------------------------------------------- */

static void fz_check_block(const struct page *page, unsigned order, gfp_t gfp, const char *what)
{
    unsigned long pfn = page_to_pfn(page);
    FZ_CHECK(pfn % (1UL << order) == 0, "%s: order-%u block at pfn %#lx is misaligned", what, order,
             pfn);
    FZ_CHECK(pfn_to_page(pfn) == page, "%s: pfn %#lx", what, pfn);
    void *addr = page_address(page);
    FZ_CHECK((uintptr_t)addr % (PAGE_SIZE << order) == 0, "%s: %p not aligned to its order %u",
             what, addr, order);
    FZ_CHECK(virt_to_page(addr) == page, "%s: virt_to_page(%p)", what, addr);
    FZ_CHECK(virt_to_phys(addr) == (phys_addr_t)pfn << PAGE_SHIFT, "%s: virt_to_phys(%p)", what,
             addr);
    FZ_CHECK(phys_to_virt((phys_addr_t)pfn << PAGE_SHIFT) == addr, "%s: phys_to_virt", what);
    if (gfp & __GFP_DMA)
        FZ_CHECK(((pfn + (1UL << order)) << PAGE_SHIFT) <= ((phys_addr_t)16 << 20),
                 "%s: GFP_DMA block at pfn %#lx is above 16 MiB", what, pfn);
    if (gfp & __GFP_ZERO)
        fz_check_zero(addr, PAGE_SIZE << order, what);
}

static void op_alloc_pages(struct fz_src *s)
{
    unsigned order = fz_order(s);
    gfp_t gfp = fz_gfp(s, true);
    bool by_addr = fz_u8(s) & 1;
    struct page *page;
    if (by_addr) {
        unsigned long a = (gfp & __GFP_ZERO) && order == 0 ? get_zeroed_page(gfp & ~__GFP_ZERO)
                                                           : __get_free_pages(gfp, order);
        fz_note("__get_free_pages", gfp, order, a);
        page = a ? virt_to_page((void *)a) : NULL;
        FZ_CHECK(!a || page, "__get_free_pages gave %#lx, not managed memory", a);
    } else {
        page = alloc_pages(gfp, order);
        fz_note("alloc_pages", gfp, order, (unsigned long)page);
    }
    if (order > MAX_PAGE_ORDER) {
        FZ_CHECK(!page, "an order-%u block was handed out", order);
        return;
    }
    if (!page) {
        fz.n_nomem++;
        return;
    }
    fz_check_block(page, order, gfp, by_addr ? "__get_free_pages" : "alloc_pages");
    uint8_t *p = page_address(page);
    fz_check_new(p, PAGE_SIZE << order, "alloc_pages");
    struct fz_obj *o = fz_add(by_addr ? FK_ADDR : FK_PAGES, p, PAGE_SIZE << order, s);
    o->order = (uint8_t)order;
    fz_fill(o->ptr, o->size, o->seed);
}

static void op_alloc_exact(struct fz_src *s)
{
    size_t size = fz_size(s, PAGE_SIZE << MAX_PAGE_ORDER);
    gfp_t gfp = fz_gfp(s, true);
    uint8_t *p = alloc_pages_exact(size, gfp);
    fz_note("alloc_pages_exact", size, gfp, (unsigned long)p);
    if (!p) {
        fz.n_nomem++;
        return;
    }
    FZ_CHECK((uintptr_t)p % PAGE_SIZE == 0, "alloc_pages_exact(%zu) = %p", size, (void *)p);
    /* Each page is an order-0 block of its own. */
    for (size_t off = 0; off < size; off += PAGE_SIZE)
        fz_check_block(virt_to_page(p + off), 0, gfp & ~(gfp_t)__GFP_ZERO, "alloc_pages_exact");
    if (gfp & __GFP_ZERO)
        fz_check_zero(p, size, "alloc_pages_exact(__GFP_ZERO)");
    fz_check_new(p, size, "alloc_pages_exact");
    struct fz_obj *o = fz_add(FK_EXACT, p, size, s);
    fz_fill(o->ptr, o->size, o->seed);
}

/* ---- caches ------------------------------------------------------------------------------ */

static void fz_cache_info_check(const struct fz_cache *fc, unsigned long held)
{
    struct kmem_cache_info ci;
    kmem_cache_info(fc->c, &ci);
    FZ_CHECK(ci.object_size == fc->size, "cache %s: object_size %u, created with %u", fc->name,
             ci.object_size, fc->size);
    FZ_CHECK(ci.size >= ci.object_size, "cache %s: size %u < object_size %u", fc->name, ci.size,
             ci.object_size);
    FZ_CHECK(ci.align && !(ci.align & (ci.align - 1)) && ci.align >= fc->align,
             "cache %s: align %u, asked for %u", fc->name, ci.align, fc->align);
    FZ_CHECK(ci.objs_per_slab >= 1 && ci.pages_per_slab >= 1, "cache %s: %u objects in %u pages",
             fc->name, ci.objs_per_slab, ci.pages_per_slab);
    FZ_CHECK((size_t)ci.objs_per_slab * ci.size <= (size_t)ci.pages_per_slab * PAGE_SIZE,
             "cache %s: %u objects of %u bytes in %u pages", fc->name, ci.objs_per_slab, ci.size,
             ci.pages_per_slab);
    FZ_CHECK(ci.slabs == ci.full_slabs + ci.partial_slabs + ci.empty_slabs,
             "cache %s: %lu slabs, %lu + %lu + %lu", fc->name, ci.slabs, ci.full_slabs,
             ci.partial_slabs, ci.empty_slabs);
    FZ_CHECK(ci.total_objs == ci.slabs * ci.objs_per_slab, "cache %s: %lu objects in %lu slabs",
             fc->name, ci.total_objs, ci.slabs);
    FZ_CHECK(ci.active_objs >= held && ci.active_objs <= ci.total_objs,
             "cache %s: %lu active objects of %lu, the model holds %lu", fc->name, ci.active_objs,
             ci.total_objs, held);
    FZ_CHECK(kmem_cache_size(fc->c) == fc->size && !strcmp(kmem_cache_name(fc->c), fc->name),
             "cache %s: kmem_cache_size %u, kmem_cache_name %s", fc->name, kmem_cache_size(fc->c),
             kmem_cache_name(fc->c));
}

/* Objects of the cache the model holds, with its pools' (reserves and
 * elements handed out). */
static unsigned long fz_cache_held(unsigned idx)
{
    unsigned long n = fz.caches[idx].live;
    for (unsigned i = 0; i < FZ_MAX_POOLS; i++)
        if (fz.pools[i].p && (fz.pools[i].type == FP_SLAB || fz.pools[i].type == FP_CUSTOM) &&
            fz.pools[i].cache == idx)
            n += (unsigned long)mempool_reserve(fz.pools[i].p) + fz.pools[i].out;
    return n;
}

static void op_cache_create(struct fz_src *s)
{
    unsigned idx = fz_u8(s) % FZ_MAX_CACHES;
    struct fz_cache *fc = &fz.caches[idx];
    unsigned sel = fz_u8(s);
    unsigned size = (unsigned)fz_size(s, fz.cfg.cache_obj_max);
    static const unsigned aligns[16] = {0,  0,  0,   0,   8,   8,    16, 32,
                                        64, 64, 128, 256, 512, 4096, 3,  8192};
    unsigned align = aligns[sel & 15];
    static const slab_flags_t flag_sets[8] = {
        0, 0, 0, SLAB_HWCACHE_ALIGN, SLAB_TIGHT_PACK, SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_POISON};
    slab_flags_t flags = flag_sets[(sel >> 4) & 7];
    uint8_t ctor = (uint8_t)(fz_u8(s) % 3);
    if (ctor && (flags & SLAB_POISON))
        flags = 0; /* poisoning free objects and keeping them constructed exclude each other */
    bool bad = align == 3 || align == 8192 || (sel == 0xff);
    if (sel == 0xff)
        size = 0; /* a bad size */
    if (fc->c) {
        /* The entry is taken: this is a bad-argument probe only. */
        if (!bad)
            return;
    }
    char name[sizeof fc->name];
    snprintf(name, sizeof name, "fuzz-%u-%u", idx, size);
    struct kmem_cache *c;
    struct fz_cache tmp = {.size = size, .cbyte = (uint8_t)(0xc0 + idx), .ctor = ctor};
    if (ctor == 2) {
        struct kmem_cache_ops ops = fz_ops_template;
        ops.priv = fc->c ? &tmp : fc; /* fc is filled in below on success */
        c = kmem_cache_create_ops(name, size, align, flags, &ops);
    } else {
        c = kmem_cache_create(name, size, align, flags, ctor ? fz_ctors[idx] : NULL);
    }
    fz_note("kmem_cache_create", size, align | (unsigned long)ctor << 16, (unsigned long)c);
    if (bad) {
        FZ_CHECK(!c, "kmem_cache_create(size %u, align %u) accepted bad arguments", size, align);
        return;
    }
    if (!c) {
        fz.n_nomem++;
        return;
    }
    *fc = (struct fz_cache){.c = c,
                            .size = size,
                            .align = align,
                            .flags = flags,
                            .ctor = ctor,
                            .cbyte = (uint8_t)(0xc0 + idx)};
    memcpy(fc->name, name, sizeof name);
    fz_cache_info_check(fc, 0);
}

static void fz_cache_obj_new(unsigned idx, uint8_t *p, gfp_t gfp, struct fz_src *s,
                             enum fz_kind kind, const char *what)
{
    struct fz_cache *fc = &fz.caches[idx];
    struct kmem_cache_info ci;
    kmem_cache_info(fc->c, &ci);
    FZ_CHECK((uintptr_t)p % ci.align == 0, "%s: object %p of %s not aligned to %u", what, (void *)p,
             fc->name, ci.align);
    FZ_CHECK(virt_to_page(p) != NULL, "%s: object %p of %s outside the machine", what, (void *)p,
             fc->name);
    if (gfp & __GFP_ZERO) {
        fz_check_zero(p, fc->size, what);
    } else if (fc->ctor) {
        size_t bad = fz_verify_const(p, fc->size, fc->cbyte, FZ_FULL);
        if (bad != SIZE_MAX)
            fz_fail("%s: object %p of %s not in its constructed state at byte %zu (%#x, expected "
                    "%#x)",
                    what, (void *)p, fc->name, bad, p[bad], fc->cbyte);
    }
    fz_check_new(p, fc->size, what);
    struct fz_obj *o = fz_add(kind, p, fc->size, s);
    o->owner = (uint8_t)idx;
    o->constructed = fc->ctor != 0;
    fz_fill(o->ptr, o->size, o->seed);
}

static struct fz_cache *fz_pick_cache(struct fz_src *s, unsigned *idx)
{
    unsigned start = fz_u8(s);
    for (unsigned i = 0; i < FZ_MAX_CACHES; i++) {
        unsigned k = (start + i) % FZ_MAX_CACHES;
        if (fz.caches[k].c) {
            *idx = k;
            return &fz.caches[k];
        }
    }
    return NULL;
}

static void op_cache_alloc(struct fz_src *s)
{
    unsigned idx;
    struct fz_cache *fc = fz_pick_cache(s, &idx);
    if (!fc)
        return op_cache_create(s);
    gfp_t gfp = fz_gfp(s, true);
    unsigned n = 1 + fz_u8(s) % 8; /* a few at once: slabs fill up */
    for (unsigned i = 0; i < n && !fz_full(); i++) {
        uint8_t *p = kmem_cache_alloc(fc->c, gfp);
        fz_note("kmem_cache_alloc", idx, gfp, (unsigned long)p);
        if (!p) {
            fz.n_nomem++;
            return;
        }
        fc->live++;
        fz_cache_obj_new(idx, p, gfp, s, FK_CACHE, "kmem_cache_alloc");
    }
}

static void op_cache_shrink_destroy(struct fz_src *s)
{
    unsigned idx;
    struct fz_cache *fc = fz_pick_cache(s, &idx);
    if (!fc)
        return;
    unsigned what = fz_u8(s) % 4;
    if (what == 0 && fc->live == 0 && fc->pools == 0) {
        fz_note("kmem_cache_destroy", idx, 0, 0);
        int v = kmem_cache_check(fc->c);
        FZ_CHECK(v == 0, "kmem_cache_check(%s) before destroy: %d violations", fc->name, v);
        kmem_cache_destroy(fc->c);
        fc->c = NULL;
        return;
    }
    unsigned long held = fz_cache_held(idx);
    if (what == 1) {
        fz_cache_info_check(fc, held);
        return;
    }
    int left = kmem_cache_shrink(fc->c);
    fz_note("kmem_cache_shrink", idx, held, (unsigned long)left);
    FZ_CHECK(left == (held != 0), "kmem_cache_shrink(%s) = %d with %lu objects held", fc->name,
             left, held);
    fz_cache_info_check(fc, held);
    if (!held) {
        struct kmem_cache_info ci;
        kmem_cache_info(fc->c, &ci);
        FZ_CHECK(ci.slabs == 0 && ci.active_objs == 0,
                 "cache %s shrunk with no objects: %lu slabs, %lu active", fc->name, ci.slabs,
                 ci.active_objs);
    }
}

/* ---- kmalloc ----------------------------------------------------------------------------- */

static void fz_check_kmalloc(const uint8_t *p, size_t size, const char *what)
{
    if (size == 0) {
        FZ_CHECK(p == ZERO_SIZE_PTR, "%s(0) = %p, not ZERO_SIZE_PTR", what, (const void *)p);
        return;
    }
    size_t ks = ksize(p);
    FZ_CHECK(ks >= size, "%s(%zu) = %p: ksize %zu", what, size, (const void *)p, ks);
    FZ_CHECK(ks < 2 * size || ks <= 16, "%s(%zu) = %p: ksize %zu wastes more than half", what, size,
             (const void *)p, ks);
    FZ_CHECK((uintptr_t)p % 8 == 0, "%s(%zu) = %p: not 8-byte aligned", what, size,
             (const void *)p);
    if (!(size & (size - 1)) && size <= KMALLOC_MAX_CACHE_SIZE)
        FZ_CHECK((uintptr_t)p % size == 0, "%s(%zu) = %p: a power of two not naturally aligned",
                 what, size, (const void *)p);
    if (size > KMALLOC_MAX_CACHE_SIZE)
        FZ_CHECK((uintptr_t)p % ks == 0, "%s(%zu) = %p: a large block not aligned to its %zu bytes",
                 what, size, (const void *)p, ks);
    FZ_CHECK(!is_vmalloc_addr(p) && virt_to_page(p), "%s(%zu) = %p: not in the direct map", what,
             size, (const void *)p);
}

static void op_kmalloc(struct fz_src *s)
{
    unsigned how = fz_u8(s) % 6;
    size_t size = fz_size(s, fz.cfg.kmalloc_max); /* beyond 4 MiB: NULL */
    gfp_t gfp = fz_gfp(s, how == 0);
    unsigned nb = fz_u8(s);
    size_t n = 1 + nb % 16;
    if (nb == 0xff)
        size = 0; /* kmalloc(0): ZERO_SIZE_PTR */
    uint8_t *p;
    bool zero = (gfp & __GFP_ZERO) != 0;
    const char *what;
    if (how == 0 || how == 1) {
        p = kmalloc(size, gfp), what = "kmalloc";
    } else if (how == 2) {
        p = kzalloc(size, gfp), what = "kzalloc", zero = true;
    } else if (how == 3) {
        size = (size + n - 1) / n;
        p = kcalloc(n, size, gfp), what = "kcalloc", zero = true;
        size *= n;
    } else if (how == 4) {
        size = (size + n - 1) / n;
        p = kmalloc_array(n, size, gfp), what = "kmalloc_array";
        size *= n;
    } else {
        /* Overflowing products are refused. */
        size_t big = SIZE_MAX / n + 1 + size;
        p = n > 1 ? kmalloc_array(n, big, gfp) : kcalloc(2, SIZE_MAX / 2 + size, gfp);
        fz_note("kmalloc_array overflow", n, big, (unsigned long)p);
        FZ_CHECK(!p, "kmalloc_array/kcalloc of an overflowing product gave %p", (void *)p);
        return;
    }
    fz_note(what, size, gfp, (unsigned long)p);
    if (size > (PAGE_SIZE << MAX_PAGE_ORDER)) {
        FZ_CHECK(!p, "%s(%zu) beyond the largest block gave %p", what, size, (void *)p);
        return;
    }
    if (!p) {
        fz.n_nomem++;
        return;
    }
    fz_check_kmalloc(p, size, what);
    if (size && zero)
        fz_check_zero(p, size, what);
    fz_check_new(size ? p : NULL, size, what);
    struct fz_obj *o = fz_add(FK_KMALLOC, p, size, s);
    fz_fill(o->ptr, o->size, o->seed);
}

static void op_krealloc(struct fz_src *s)
{
    struct fz_obj *o = fz_pick(s);
    size_t size = fz_size(s, fz.cfg.kmalloc_max);
    gfp_t gfp = fz_gfp(s, true);
    if (!o || o->kind != FK_KMALLOC) {
        /* krealloc(NULL, n) is kmalloc(n). */
        if (fz_u8(s) & 1 || fz_full())
            return;
        uint8_t *p = krealloc(NULL, size, gfp);
        fz_note("krealloc(NULL)", size, gfp, (unsigned long)p);
        if (size > (PAGE_SIZE << MAX_PAGE_ORDER)) {
            FZ_CHECK(!p, "krealloc(NULL, %zu) gave %p", size, (void *)p);
            return;
        }
        if (!p) {
            fz.n_nomem++;
            return;
        }
        fz_check_kmalloc(p, size, "krealloc");
        if (gfp & __GFP_ZERO)
            fz_check_zero(p, size, "krealloc(NULL, __GFP_ZERO)");
        fz_check_new(p, size, "krealloc");
        struct fz_obj *n = fz_add(FK_KMALLOC, p, size, s);
        fz_fill(n->ptr, n->size, n->seed);
        return;
    }
    fz_check_obj(o, "before krealloc");
    if (fz_u8(s) % 8 == 0)
        size = 0;
    size_t old_ks = ksize(o->ptr);
    uint8_t *p = krealloc(o->ptr, size, gfp);
    fz_note("krealloc", (unsigned long)o->ptr, size, (unsigned long)p);
    fz.n_realloc++;
    if (size == 0) {
        FZ_CHECK(p == ZERO_SIZE_PTR, "krealloc(%p, 0) = %p", (void *)o->ptr, (void *)p);
        fz_remove(o);
        return;
    }
    if (!p) {
        FZ_CHECK(size > old_ks, "krealloc(%p, %zu) failed though ksize is %zu", (void *)o->ptr,
                 size, old_ks);
        fz_check_obj(o, "after a failed krealloc");
        fz.n_nomem++;
        return;
    }
    if (size <= old_ks)
        FZ_CHECK(p == o->ptr && ksize(p) == old_ks,
                 "krealloc(%p, %zu) moved to %p (ksize %zu) though ksize was %zu", (void *)o->ptr,
                 size, (void *)p, ksize(p), old_ks);
    else
        fz_check_kmalloc(p, size, "krealloc");
    size_t keep = size < o->size ? size : o->size;
    size_t bad = fz_verify(p, o->size, o->seed, keep);
    if (bad != SIZE_MAX)
        fz_fail("krealloc(%p, %zu) = %p: byte %zu of the %zu kept is %#x, expected %#x",
                (void *)o->ptr, size, (void *)p, bad, keep, p[bad], fz_pat(o->seed, bad));
    if (p != o->ptr && (gfp & __GFP_ZERO) && size > old_ks)
        fz_check_zero(p + old_ks, size - old_ks, "krealloc(__GFP_ZERO) beyond the old ksize");
    uint8_t *old = o->ptr;
    o->size = 0; /* out of the overlap check: p may be old */
    o->ptr = NULL;
    if (p != old)
        fz_check_new(p, size, "krealloc");
    o->ptr = p;
    o->size = size;
    o->seed = fz_u8(s);
    fz_fill(o->ptr, o->size, o->seed);
}

/* ---- vmalloc, vmap, kvmalloc ---------------------------------------------------------------- */

/* Areas in the vmalloc range the model holds. */
static unsigned long fz_vm_live(void)
{
    unsigned long n = 0;
    for (unsigned i = 0; i < fz.nobjs; i++) {
        const struct fz_obj *o = &fz.objs[i];
        n += o->kind == FK_VMALLOC || o->kind == FK_VMAP ||
             (o->kind == FK_KV && is_vmalloc_addr(o->ptr));
    }
    return n;
}

/* The vmalloc layer's arrays of areas and free ranges are kmalloc'd, grow
 * by doubling from 16 areas and never shrink (vmalloc.c): a machine that
 * once held 17 areas keeps the larger arrays, so the pages in use at the
 * end depend on how large they grew. The model therefore grows them itself,
 * before an operation that could make one area more than they hold (one
 * page mapped with vmap until they must double, then unmapped), and knows
 * their capacity at every point; fz_calibrate measured on a fresh machine
 * what each capacity costs. false: they could not grow (no memory, or an
 * injected failure): the operation is skipped, so that it cannot grow them
 * either. */
static bool fz_vm_grow(unsigned long live, unsigned long capacity)
{
    static void *tmp[FZ_MAX_OBJS + 1];
    unsigned long need = capacity - live + 1, n = 0;
    struct page *page = alloc_page(GFP_KERNEL);
    if (page)
        while (n < need && (tmp[n] = vmap(&page, 1, VM_MAP, PAGE_KERNEL)))
            n++;
    bool grown = n == need;
    while (n)
        vunmap(tmp[--n]);
    if (page)
        __free_page(page);
    return grown;
}

static bool fz_vm_room(void)
{
    unsigned long live = fz_vm_live();
    if (live < fz.vm_capacity)
        return true;
    bool grown = fz_vm_grow(live, fz.vm_capacity);
    fz_note("vmalloc arrays grow", fz.vm_capacity, grown, 0);
    if (!grown)
        return false;
    fz.vm_capacity *= 2;
    return true;
}

/* The area aliases the frames vmalloc_to_page names: a few pages sampled,
 * the first and the last always. */
static void fz_check_alias(const uint8_t *p, size_t size, const char *what)
{
    size_t npages = (size + PAGE_SIZE - 1) / PAGE_SIZE;
    size_t step = npages > 8 ? npages / 8 : 1;
    for (size_t i = 0; i < npages;
         i = i + step < npages || i == npages - 1 ? i + step : npages - 1) {
        const struct page *pg = vmalloc_to_page(p + i * PAGE_SIZE);
        FZ_CHECK(pg != NULL, "%s %p: no frame at page %zu", what, (const void *)p, i);
        const uint8_t *d = page_address(pg);
        FZ_CHECK(!memcmp(d, p + i * PAGE_SIZE, 16), "%s %p: page %zu differs from its frame %p",
                 what, (const void *)p, i, (const void *)d);
    }
    FZ_CHECK(vmalloc_to_page(p + npages * PAGE_SIZE) == NULL,
             "%s %p: the guard page after %zu pages is mapped", what, (const void *)p, npages);
}

static void op_vmalloc(struct fz_src *s)
{
    unsigned how = fz_u8(s) % 4;
    size_t size = fz_size(s, fz.cfg.vmalloc_max);
    gfp_t gfp = fz_gfp(s, true) & ~(gfp_t)__GFP_DMA;
    if ((fz_u8(s) & 0x1f) == 0)
        size = 0;
    if (!fz_vm_room())
        return;
    uint8_t *p;
    bool zero;
    if (how == 0)
        p = vmalloc(size), zero = false;
    else if (how == 1)
        p = vzalloc(size), zero = true;
    else
        p = __vmalloc(size, gfp), zero = (gfp & __GFP_ZERO) != 0;
    fz_note(how == 0 ? "vmalloc" : how == 1 ? "vzalloc" : "__vmalloc", size, gfp, (unsigned long)p);
    if (size == 0) {
        FZ_CHECK(!p, "vmalloc(0) = %p", (void *)p);
        return;
    }
    if (!p) {
        fz.n_nomem++;
        return;
    }
    FZ_CHECK((uintptr_t)p % PAGE_SIZE == 0 && is_vmalloc_addr(p) && !virt_to_page(p),
             "vmalloc(%zu) = %p: not a page of the vmalloc range", size, (void *)p);
    if (zero)
        fz_check_zero(p, size, "vzalloc");
    fz_check_new(p, size, "vmalloc");
    struct fz_obj *o = fz_add(FK_VMALLOC, p, size, s);
    fz_fill(o->ptr, o->size, o->seed);
    fz_check_alias(p, size, "vmalloc");
}

static void op_kvmalloc(struct fz_src *s)
{
    size_t size = fz_size(s, fz.cfg.vmalloc_max);
    gfp_t gfp = fz_gfp(s, true) & ~(gfp_t)__GFP_DMA;
    bool z = fz_u8(s) & 1;
    if ((fz_u8(s) & 0x3f) == 0) {
        void *huge = kvmalloc((size_t)0x80000000UL + size, gfp);
        fz_note("kvmalloc(> INT_MAX)", size, gfp, (unsigned long)huge);
        FZ_CHECK(!huge, "kvmalloc beyond INT_MAX gave %p", huge);
        return;
    }
    if (size > PAGE_SIZE && !fz_vm_room())
        return;
    uint8_t *p = z ? kvzalloc(size, gfp) : kvmalloc(size, gfp);
    fz_note(z ? "kvzalloc" : "kvmalloc", size, gfp, (unsigned long)p);
    if (!p) {
        fz.n_nomem++;
        return;
    }
    if (z || (gfp & __GFP_ZERO))
        fz_check_zero(p, size, "kvzalloc");
    if (is_vmalloc_addr(p)) {
        FZ_CHECK(size > PAGE_SIZE && (uintptr_t)p % PAGE_SIZE == 0,
                 "kvmalloc(%zu) = %p from vmalloc", size, (void *)p);
    } else {
        fz_check_kmalloc(p, size, "kvmalloc");
    }
    fz_check_new(p, size, "kvmalloc");
    struct fz_obj *o = fz_add(FK_KV, p, size, s);
    fz_fill(o->ptr, o->size, o->seed);
}

static void op_vmap(struct fz_src *s)
{
    unsigned count = 1 + fz_u8(s) % FZ_MAX_VMAP;
    unsigned bad = fz_u8(s);
    if (!fz_vm_room())
        return;
    struct page **pages = calloc(FZ_MAX_VMAP, sizeof *pages);
    if (!pages)
        abort();
    /* The frames: single pages (scattered: one host mapping each), or the
     * pages of one block (contiguous: one mapping). */
    unsigned got = 0, block = 0;
    if (bad & 0x10) {
        while ((1u << block) < count)
            block++;
        struct page *head = alloc_pages(GFP_KERNEL, block);
        for (; head && got < count; got++)
            pages[got] = pfn_to_page(page_to_pfn(head) + got);
        block++; /* 0: single pages; k + 1: a block of order k */
    } else {
        for (; got < count; got++)
            if (!(pages[got] = alloc_page(GFP_KERNEL)))
                break;
    }
    void *v = NULL;
    if (got == count) {
        if (bad == 0xfe) {
            v = vmap(pages, count, VM_MAP | 0x1, PAGE_KERNEL);
            FZ_CHECK(!v, "vmap with bad flags gave %p", v);
        } else if (bad == 0xfd) {
            v = vmap(pages, count, VM_MAP, __pgprot(0x1));
            FZ_CHECK(!v, "vmap with a bad protection gave %p", v);
        } else if (bad == 0xfc) {
            v = vmap(pages, 0, VM_MAP, PAGE_KERNEL);
            FZ_CHECK(!v, "vmap of 0 pages gave %p", v);
        } else {
            v = vmap(pages, count, VM_MAP, PAGE_KERNEL);
        }
    }
    fz_note("vmap", count, got, (unsigned long)v);
    if (!v) {
        if (block && got)
            __free_pages(pages[0], block - 1);
        while (!block && got--)
            __free_page(pages[got]);
        free(pages);
        fz.n_nomem++;
        return;
    }
    size_t size = (size_t)count * PAGE_SIZE;
    FZ_CHECK((uintptr_t)v % PAGE_SIZE == 0 && is_vmalloc_addr(v), "vmap gave %p", v);
    fz_check_new(v, size, "vmap");
    for (unsigned i = 0; i < count; i++)
        FZ_CHECK(vmalloc_to_page((uint8_t *)v + i * PAGE_SIZE) == pages[i],
                 "vmap %p: page %u is not the frame given", v, i);
    struct fz_obj *o = fz_add(FK_VMAP, v, size, s);
    o->pages = pages;
    o->order = (uint8_t)block;
    fz_fill(o->ptr, o->size, o->seed);
    fz_check_alias(o->ptr, size, "vmap");
}

/* ---- mempools ------------------------------------------------------------------------------ */

static void op_pool_manage(struct fz_src *s)
{
    unsigned idx = fz_u8(s) % FZ_MAX_POOLS;
    struct fz_pool *fp = &fz.pools[idx];
    unsigned arg = fz_u8(s);
    int min_nr = (int)(fz_u8(s) % 17);
    if (fp->p) {
        if ((arg & 3) == 0 && fp->out == 0) {
            fz_note("mempool_destroy", idx, 0, 0);
            mempool_destroy(fp->p);
            if (fp->type == FP_SLAB || fp->type == FP_CUSTOM)
                fz.caches[fp->cache].pools--;
            fp->p = NULL;
            return;
        }
        int before = mempool_reserve(fp->p);
        int rc = mempool_resize(fp->p, min_nr);
        fz_note("mempool_resize", idx, (unsigned long)min_nr, (unsigned long)rc);
        FZ_CHECK(rc == 0 || rc == -12, "mempool_resize = %d", rc);
        int after = mempool_reserve(fp->p);
        if (rc == 0) {
            FZ_CHECK(mempool_min_nr(fp->p) == min_nr && after == min_nr,
                     "mempool_resize(%d) from %d: min_nr %d, reserve %d", min_nr, before,
                     mempool_min_nr(fp->p), after);
        } else {
            FZ_CHECK(after <= mempool_min_nr(fp->p), "mempool_resize failed: reserve %d, min %d",
                     after, mempool_min_nr(fp->p));
            fz.n_nomem++;
        }
        return;
    }
    unsigned type = arg % FP_NR;
    unsigned cidx = 0;
    struct fz_cache *fc = NULL;
    if (type == FP_SLAB || type == FP_CUSTOM) {
        fc = fz_pick_cache(s, &cidx);
        if (!fc)
            return;
    }
    size_t ksz = 1 + fz_u16(s) % 8192;
    unsigned order = fz_u8(s) % 4;
    mempool_t *p;
    switch (type) {
    case FP_SLAB:
        p = mempool_create_slab_pool(min_nr, fc->c);
        break;
    case FP_CUSTOM:
        p = mempool_create(min_nr, mempool_alloc_slab, mempool_free_slab, fc->c);
        break;
    case FP_KMALLOC:
        p = mempool_create_kmalloc_pool(min_nr, ksz);
        break;
    default:
        p = mempool_create_page_pool(min_nr, (int)order);
        break;
    }
    fz_note("mempool_create", type, (unsigned long)min_nr, (unsigned long)p);
    if (!p) {
        fz.n_nomem++;
        return;
    }
    FZ_CHECK(mempool_reserve(p) == min_nr && mempool_min_nr(p) == min_nr,
             "mempool_create(%d): reserve %d, min_nr %d", min_nr, mempool_reserve(p),
             mempool_min_nr(p));
    *fp = (struct fz_pool){.p = p, .type = (uint8_t)type, .cache = (uint8_t)cidx, .order = order};
    fp->size = type == FP_KMALLOC ? ksz : type == FP_PAGE ? PAGE_SIZE << order : fc->size;
    if (fc)
        fc->pools++;
}

static void op_pool_alloc(struct fz_src *s)
{
    unsigned start = fz_u8(s), idx = FZ_MAX_POOLS;
    for (unsigned i = 0; i < FZ_MAX_POOLS; i++)
        if (fz.pools[(start + i) % FZ_MAX_POOLS].p) {
            idx = (start + i) % FZ_MAX_POOLS;
            break;
        }
    if (idx == FZ_MAX_POOLS)
        return op_pool_manage(s);
    struct fz_pool *fp = &fz.pools[idx];
    unsigned how = fz_u8(s);
    int reserve = mempool_reserve(fp->p);
    FZ_CHECK(reserve >= 0 && reserve <= mempool_min_nr(fp->p), "pool %u: reserve %d of %d", idx,
             reserve, mempool_min_nr(fp->p));
    void *e;
    gfp_t gfp = 0;
    if ((how & 3) == 0) {
        e = mempool_alloc_preallocated(fp->p);
        fz_note("mempool_alloc_preallocated", idx, (unsigned long)reserve, (unsigned long)e);
        FZ_CHECK((e != NULL) == (reserve > 0), "mempool_alloc_preallocated with reserve %d gave %p",
                 reserve, e);
    } else {
        /* GFP_KERNEL would wait for an element when the reserve is empty and
         * memory is out: only with a reserve to fall back on. */
        gfp = (how & 4) && reserve > 0 ? GFP_KERNEL : (how & 8) ? GFP_NOWAIT : GFP_ATOMIC;
        if ((how & 0x10) && fp->type != FP_CUSTOM)
            gfp |= __GFP_ZERO;
        e = mempool_alloc(fp->p, gfp);
        fz_note("mempool_alloc", idx, gfp, (unsigned long)e);
        FZ_CHECK(e || !(gfp & __GFP_DIRECT_RECLAIM),
                 "mempool_alloc(GFP_KERNEL) with reserve %d "
                 "gave NULL",
                 reserve);
    }
    if (!e) {
        fz.n_nomem++;
        return;
    }
    uint8_t *mem = fp->type == FP_PAGE ? page_address(e) : e;
    if (fp->type == FP_PAGE)
        fz_check_block(e, fp->order, 0, "mempool page");
    if (fp->type == FP_SLAB || fp->type == FP_CUSTOM) {
        fz_cache_obj_new(fp->cache, mem, gfp, s, FK_POOL, "mempool_alloc");
    } else {
        if (gfp & __GFP_ZERO)
            fz_check_zero(mem, fp->size, "mempool_alloc(__GFP_ZERO)");
        fz_check_new(mem, fp->size, "mempool_alloc");
        fz_add(FK_POOL, mem, fp->size, s);
        fz_fill(mem, fp->size, fz.objs[fz.nobjs - 1].seed);
    }
    struct fz_obj *o = &fz.objs[fz.nobjs - 1];
    o->owner = (uint8_t)idx;
    o->elem = e;
    fp->out++;
}

/* ---- frees ---------------------------------------------------------------------------------- */

static void fz_free_obj(struct fz_obj *o, unsigned how)
{
    fz_check_obj(o, "before free");
    fz_note("free", o->kind, (unsigned long)o->ptr, o->size);
    switch (o->kind) {
    case FK_PAGES:
    case FK_ADDR:
        if ((o->kind == FK_PAGES) == (how % 4 != 0))
            __free_pages(virt_to_page(o->ptr), o->order);
        else
            free_pages((unsigned long)o->ptr, o->order);
        break;
    case FK_EXACT:
        if (how % 4 == 0) {
            /* The pages are independent order-0 blocks: free them one by one. */
            for (size_t off = 0; off < o->size; off += PAGE_SIZE)
                __free_page(virt_to_page(o->ptr + off));
        } else {
            free_pages_exact(o->ptr, o->size);
        }
        break;
    case FK_CACHE: {
        struct fz_cache *fc = &fz.caches[o->owner];
        if (o->constructed)
            fz_construct(fc, o->ptr);
        kmem_cache_free(fc->c, o->ptr);
        fc->live--;
        break;
    }
    case FK_KMALLOC:
        if (how % 8 == 0 && o->size)
            kvfree(o->ptr);
        else
            kfree(o->ptr);
        break;
    case FK_VMALLOC:
        if (how % 4 == 0)
            kvfree(o->ptr);
        else
            vfree(o->ptr);
        break;
    case FK_KV:
        kvfree(o->ptr);
        break;
    case FK_VMAP: {
        unsigned count = (unsigned)(o->size / PAGE_SIZE);
        vunmap(o->ptr);
        /* The frames are the caller's and keep their contents. */
        for (unsigned i = 0; i < count; i++) {
            const uint8_t *d = page_address(o->pages[i]);
            size_t off = (size_t)i * PAGE_SIZE;
            FZ_CHECK(d[0] == fz_pat(o->seed, off), "vunmap: frame %u lost its contents", i);
            if (!o->order)
                __free_page(o->pages[i]);
        }
        if (o->order)
            __free_pages(o->pages[0], o->order - 1u);
        free(o->pages);
        break;
    }
    case FK_POOL: {
        struct fz_pool *fp = &fz.pools[o->owner];
        if (o->constructed)
            fz_construct(&fz.caches[fp->cache], o->ptr);
        int before = mempool_reserve(fp->p), min = mempool_min_nr(fp->p);
        mempool_free(o->elem, fp->p);
        int after = mempool_reserve(fp->p);
        FZ_CHECK(after == (before < min ? before + 1 : before),
                 "mempool_free: reserve %d -> %d (min %d)", before, after, min);
        fp->out--;
        break;
    }
    }
    fz_remove(o);
}

static void op_free(struct fz_src *s)
{
    struct fz_obj *o = fz_pick(s);
    unsigned how = fz_u8(s);
    if (!o) {
        /* Freeing nothing is allowed everywhere. */
        kfree(NULL);
        kfree(ZERO_SIZE_PTR);
        vfree(NULL);
        kvfree(NULL);
        vunmap(NULL);
        mempool_free(NULL, NULL);
        FZ_CHECK(ksize(NULL) == 0, "ksize(NULL)");
        return;
    }
    fz_free_obj(o, how);
}

/* ---- checks -------------------------------------------------------------------------------- */

struct fz_walk {
    unsigned long allocated;
};

static bool fz_walk_block(void *arg, const struct kmem_block *b)
{
    struct fz_walk *w = arg;
    if (b->state == KMEM_BLOCK_ALLOCATED)
        w->allocated += 1UL << b->order;
    return true;
}

/* Every checker, and the model's counts of the vmalloc layer. */
static void fz_check_all(void)
{
    fz.n_checks++;
    int v = kmem_page_check();
    FZ_CHECK(v == 0, "kmem_page_check: %d violations", v);
    v = kmem_vmalloc_check();
    FZ_CHECK(v == 0, "kmem_vmalloc_check: %d violations", v);
    v = fz_check_caches();
    FZ_CHECK(v == 0, "kmem_cache_check: %d violations over all caches", v);
    unsigned long areas = 0, vmaps = 0, vpages = 0;
    for (unsigned i = 0; i < fz.nobjs; i++) {
        const struct fz_obj *o = &fz.objs[i];
        if (o->kind == FK_VMALLOC || o->kind == FK_VMAP ||
            (o->kind == FK_KV && is_vmalloc_addr(o->ptr))) {
            areas++;
            vmaps += o->kind == FK_VMAP;
            vpages += (o->size + PAGE_SIZE - 1) / PAGE_SIZE;
        }
    }
    struct kmem_vmalloc_info vi;
    FZ_CHECK(kmem_vmalloc_info(&vi), "kmem_vmalloc_info");
    FZ_CHECK(vi.areas == areas && vi.vmap_areas == vmaps && vi.pages == vpages,
             "kmem_vmalloc_info: %lu areas (%lu vmap), %lu pages; the model: %lu (%lu), %lu",
             vi.areas, vi.vmap_areas, vi.pages, areas, vmaps, vpages);
    for (unsigned i = 0; i < FZ_MAX_CACHES; i++)
        if (fz.caches[i].c)
            fz_cache_info_check(&fz.caches[i], fz_cache_held(i));
    for (unsigned i = 0; i < FZ_MAX_POOLS; i++)
        if (fz.pools[i].p)
            FZ_CHECK(mempool_reserve(fz.pools[i].p) <= mempool_min_nr(fz.pools[i].p),
                     "pool %u: reserve %d above min %d", i, mempool_reserve(fz.pools[i].p),
                     mempool_min_nr(fz.pools[i].p));
}

static void fz_check_text(size_t (*text)(char *, size_t), const char *what)
{
    static char buf[64 * 1024];
    size_t need = text(NULL, 0);
    size_t n = text(buf, sizeof buf);
    FZ_CHECK(n == need, "%s: %zu bytes, then %zu", what, need, n);
    if (n < sizeof buf)
        FZ_CHECK(strlen(buf) == n, "%s: %zu bytes written, %zu said", what, strlen(buf), n);
    char small[17];
    size_t m = text(small, sizeof small);
    FZ_CHECK(m == n && strlen(small) == (n < 16 ? n : 16), "%s: truncated to %zu", what,
             strlen(small));
}

static void op_misc(struct fz_src *s)
{
    unsigned what = fz_u8(s) % 8;
    if (what >= 1 && what <= 4 && fz.cfg.misc_every > 1 && fzr.op % fz.cfg.misc_every)
        what = 0;
    fz_note("misc", what, 0, 0);
    switch (what) {
    case 0:
        drain_all_pages();
        break;
    case 1:
        fz_check_all();
        break;
    case 2: {
        /* The walk and the zone counters agree. */
        struct fz_walk w = {0};
        drain_all_pages();
        kmem_page_walk(fz_walk_block, &w);
        unsigned long in_use = fz_pages_managed() - fz_pages_free();
        FZ_CHECK(w.allocated == in_use, "kmem_page_walk: %lu pages allocated, zones say %lu",
                 w.allocated, in_use);
        break;
    }
    case 3:
        fz_check_text(kmem_buddyinfo, "kmem_buddyinfo");
        fz_check_text(kmem_zoneinfo, "kmem_zoneinfo");
        break;
    case 4:
        fz_check_text(kmem_slabinfo, "kmem_slabinfo");
        break;
    case 5: {
        /* Re-verify a few live objects. */
        for (int i = 0; i < 4; i++) {
            struct fz_obj *o = fz_pick(s);
            if (o)
                fz_check_obj(o, "re-verify");
        }
        break;
    }
    case 6: {
        FZ_CHECK(get_order(1) == 0 && get_order(PAGE_SIZE) == 0 && get_order(PAGE_SIZE + 1) == 1,
                 "get_order");
        struct fz_obj *o = fz_pick(s);
        if (o && o->kind != FK_VMALLOC && o->kind != FK_VMAP && !is_vmalloc_addr(o->ptr) && o->size)
            FZ_CHECK(virt_to_page(o->ptr) && vmalloc_to_page(o->ptr) == NULL,
                     "a direct-map object %p: virt_to_page %p, vmalloc_to_page %p", (void *)o->ptr,
                     (void *)virt_to_page(o->ptr), (void *)vmalloc_to_page(o->ptr));
        break;
    }
    default:
        FZ_CHECK(!alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1), "order 11");
        FZ_CHECK(!kmalloc((PAGE_SIZE << MAX_PAGE_ORDER) + 1, GFP_KERNEL), "kmalloc(4 MiB + 1)");
        break;
    }
}

static void fz_disarm(void)
{
    if (fz.faults_armed) {
        kmem_fail_set(KMEM_FAIL_PAGES, NULL);
        kmem_fail_set(KMEM_FAIL_SLAB, NULL);
        fz.faults_armed = false;
    }
}

static void op_fault(struct fz_src *s)
{
    unsigned a = fz_u8(s);
    unsigned interval = 1 + fz_u8(s) % 32;
    if (!fz.cfg.faults || (a & 3) == 0) {
        fz_note("kmem_fail_set(NULL)", 0, 0, 0);
        fz_disarm();
        return;
    }
    struct kmem_fail_config f = {
        .interval = interval,
        .probability = (a & 4) ? 100 : 50,
        .times = (a & 0xc8) == 0xc8 ? -1 : (long)(1 + (a >> 4) % 8),
        .seed = a,
    };
    enum kmem_fail_target t = (a & 0x10) ? KMEM_FAIL_SLAB : KMEM_FAIL_PAGES;
    unsigned idx;
    if (t == KMEM_FAIL_SLAB && (a & 0x20)) {
        struct fz_cache *fc = fz_pick_cache(s, &idx);
        f.cache = fc ? fc->name : "kmalloc-64";
    }
    int rc = kmem_fail_set(t, &f);
    fz_note("kmem_fail_set", t, interval, (unsigned long)f.times);
    FZ_CHECK(rc == 0, "kmem_fail_set = %d", rc);
    fz.faults_armed = true;
}

/* ---- the driver ------------------------------------------------------------------------------ */

enum {
    OP_PAGES,
    OP_EXACT,
    OP_CACHE_CREATE,
    OP_CACHE_ALLOC,
    OP_CACHE_ALLOC2,
    OP_CACHE_SHRINK,
    OP_KMALLOC,
    OP_KMALLOC2,
    OP_KREALLOC,
    OP_VMALLOC,
    OP_KVMALLOC,
    OP_VMAP,
    OP_POOL_MANAGE,
    OP_POOL_ALLOC,
    OP_MISC,
    OP_FAULT,
    OP_FREE, /* the frees come last: several codes, to balance the allocations */
    OP_NR = OP_FREE + 6,
};

/* One operation from the source: FZ_OP_BYTES bytes, the code and its
 * arguments (zeros past the end of an input). Fixed-size operations keep a
 * mutation of one argument from shifting every operation after it. */
static void fz_step(struct fz_src *in)
{
    uint8_t buf[FZ_OP_BYTES];
    for (unsigned i = 0; i < FZ_OP_BYTES; i++)
        buf[i] = fz_u8(in);
    struct fz_src chunk = {.p = buf, .n = sizeof buf};
    struct fz_src *s = &chunk;
    unsigned op = fz_u8(s) % OP_NR;
    if ((op == OP_VMALLOC || op == OP_KVMALLOC || op == OP_VMAP) && fz.cfg.area_every > 1 &&
        fzr.op % fz.cfg.area_every)
        op = OP_KMALLOC;
    if (fz_full() && op < OP_FREE && op != OP_CACHE_SHRINK && op != OP_POOL_MANAGE &&
        op != OP_MISC && op != OP_FAULT)
        op = OP_FREE;
    switch (op) {
    case OP_PAGES:
        op_alloc_pages(s);
        break;
    case OP_EXACT:
        op_alloc_exact(s);
        break;
    case OP_CACHE_CREATE:
        op_cache_create(s);
        break;
    case OP_CACHE_ALLOC:
    case OP_CACHE_ALLOC2:
        op_cache_alloc(s);
        break;
    case OP_CACHE_SHRINK:
        op_cache_shrink_destroy(s);
        break;
    case OP_KMALLOC:
    case OP_KMALLOC2:
        op_kmalloc(s);
        break;
    case OP_KREALLOC:
        op_krealloc(s);
        break;
    case OP_VMALLOC:
        op_vmalloc(s);
        break;
    case OP_KVMALLOC:
        op_kvmalloc(s);
        break;
    case OP_VMAP:
        op_vmap(s);
        break;
    case OP_POOL_MANAGE:
        op_pool_manage(s);
        break;
    case OP_POOL_ALLOC:
        op_pool_alloc(s);
        break;
    case OP_MISC:
        op_misc(s);
        break;
    case OP_FAULT:
        op_fault(s);
        break;
    default:
        op_free(s);
        break;
    }
    fzr.op++;
    if (fz.cfg.check_every && fzr.op % fz.cfg.check_every == 0)
        fz_check_all();
}

/* What a fresh machine holds, every cache shrunk, by the capacity of the
 * vmalloc arrays (FZ_VM_BOOT_CAPACITY << i). */
enum { FZ_VM_CAPACITIES = 7 }; /* 16 .. 1024: more than FZ_MAX_OBJS areas */
static struct fz_usage fz_vm_usage[FZ_VM_CAPACITIES];
static bool fz_calibrated;

/* Measure fz_vm_usage on a machine of this configuration, brought up and
 * down for it. Call once before the first fz_begin. */
static void fz_calibrate(const struct kmem_config *mc)
{
    int rc = kmem_init(mc);
    FZ_CHECK(rc == 0, "kmem_init = %d", rc);
    fz_usage(&fz_vm_usage[0]);
    for (unsigned i = 1; i < FZ_VM_CAPACITIES; i++) {
        FZ_CHECK(fz_vm_grow(0, FZ_VM_BOOT_CAPACITY << (i - 1)),
                 "calibration: the vmalloc arrays did not grow to %u areas",
                 FZ_VM_BOOT_CAPACITY << i);
        fz_usage(&fz_vm_usage[i]);
    }
    kmem_exit();
    fz_calibrated = true;
}

static const struct fz_usage *fz_expected_usage(void)
{
    unsigned i = 0;
    while ((unsigned long)FZ_VM_BOOT_CAPACITY << i < fz.vm_capacity)
        i++;
    FZ_CHECK(i < FZ_VM_CAPACITIES, "vmalloc capacity %lu beyond the calibration", fz.vm_capacity);
    return &fz_vm_usage[i];
}

/* A fresh machine is up: start a model on it. */
static void fz_begin(const struct fz_config *cfg)
{
    memset(&fz, 0, sizeof fz);
    fz.cfg = *cfg;
    if (fz.cfg.max_objs > FZ_MAX_OBJS || !fz.cfg.max_objs)
        fz.cfg.max_objs = FZ_MAX_OBJS;
    fz.soft_max = fz.cfg.max_objs;
    fz_run_begin();
    kmem_set_panic_handler(fz_panic);
    FZ_CHECK(fz_calibrated, "fz_calibrate was not called");
    fz.vm_capacity = FZ_VM_BOOT_CAPACITY;
    fz.base_in_use = fz_pages_in_use();
    FZ_CHECK(fz.base_in_use == fz_vm_usage[0].in_use,
             "a fresh machine has %lu pages in use, %lu before", fz.base_in_use,
             fz_vm_usage[0].in_use);
}

/* Free everything, then every checker, and the pages in use as at the start. */
static void fz_finish(void)
{
    fz_disarm();
    while (fz.nobjs)
        fz_free_obj(&fz.objs[fz.nobjs - 1], (unsigned)fz.nobjs);
    for (unsigned i = 0; i < FZ_MAX_POOLS; i++)
        if (fz.pools[i].p) {
            mempool_destroy(fz.pools[i].p);
            fz.pools[i].p = NULL;
        }
    for (unsigned i = 0; i < FZ_MAX_CACHES; i++)
        if (fz.caches[i].c) {
            kmem_cache_destroy(fz.caches[i].c);
            fz.caches[i].c = NULL;
        }
    fz_check_all();
    fz_usage_check(fz_expected_usage(), "everything freed, every cache shrunk");
    struct kmem_vmalloc_info vi;
    kmem_vmalloc_info(&vi);
    FZ_CHECK(vi.areas == 0 && vi.pages == 0, "everything freed: %lu vmalloc areas, %lu pages",
             vi.areas, vi.pages);
    kmem_set_panic_handler(NULL);
}

#endif /* KMEM_TEST_FUZZ_KMEM_MODEL_H */
