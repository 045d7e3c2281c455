/* SPDX-License-Identifier: MIT */
/*
 * fuzz_malloc.c - libFuzzer target: kmem's malloc (the kmem_ names of
 * libkmem-malloc.so's entry points) against a reference model.
 *
 * The input is a program of 12-byte operations (tests/fuzz/fuzz_common.h
 * reads them): kmem_malloc, kmem_calloc, kmem_realloc, kmem_reallocarray,
 * kmem_posix_memalign, kmem_aligned_alloc, kmem_memalign, kmem_valloc,
 * kmem_pvalloc and kmem_free, with sizes from 0 to 10 MiB, so that slab
 * classes (to 16 KiB), buddy blocks (to 4 MiB) and huge areas (mapped apart,
 * cached and grown with mremap) all come up, and alignments from 1 byte to
 * 8 MiB, bad ones included. The model keeps every live block's size,
 * alignment and pattern seed and checks: the pattern (every byte of a small
 * block, edges and page starts of a large one) is intact until the block is
 * freed, and so is a marker in the last usable byte
 * (kmem_malloc_usable_size); blocks overlap nothing live; the promised
 * alignment (16 bytes at least, the asked one, a page for valloc and
 * pvalloc); usable >= size, and for plain malloc at most twice the size (in
 * pages beyond a page); calloc gives zeros; realloc keeps the contents and
 * a failed one leaves the block alone; overflowing products and bad
 * alignments fail with ENOMEM or EINVAL as glibc's; kmem_malloc_info counts
 * exactly the model's huge blocks (those outside the machine: virt_to_page
 * is NULL) and their bytes. Every 64 operations and at the end
 * kmem_page_check, kmem_vmalloc_check and kmem_cache_check of every cache
 * (the malloc's 36 classes among them) find nothing; at the end everything
 * is freed and, every cache shrunk, the machine holds what it held before
 * the first input: as many pages in use, the same objects per cache, no
 * empty slab.
 *
 * One machine per process: this target links the malloc's objects (the
 * core with the malloc's private machine, without the plain malloc names,
 * which AddressSanitizer owns: the KMEM_TEST_PREFIXED way of tests/malloc),
 * not kmem_init's. The machine boots at the first kmem_malloc and lives as
 * long as the process (it cannot be taken down), so inputs share it: each
 * input ends with everything given back and every cache shrunk, and starts
 * with the cache of freed huge areas put in one state (fm_huge_cache_reset),
 * so that what the model expects never depends on the inputs before. What
 * still carries over is kmem's own tuning (magazine sizes, depot trim
 * epochs, which memory was given back to the host): a crash that does not
 * reproduce from its file alone needs the inputs the fuzzer ran before it.
 * fuzz_kmem.c is the other target.
 *
 * Run it as fuzz_kmem (see there): build-fuzz/tests/fuzz/fuzz_malloc
 * WORKDIR tests/fuzz/corpus/fuzz_malloc; ctest -L fuzz; scripts/fuzz.sh.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <kmem/malloc.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    FM_MAX_OBJS = 256,
    FM_CHECK_EVERY = 64,
    FM_MIN_ALIGN = 16,
    FM_OP_BYTES = 12,
};
#define FM_SIZE_MAX  (10 * FZ_MiB)
#define FM_LIVE_MAX  (160 * FZ_MiB) /* live bytes at most: then frees */
#define FM_ALIGN_MAX (8 * FZ_MiB)

struct fm_obj {
    uint8_t *ptr;
    size_t size;   /* asked for */
    size_t usable; /* kmem_malloc_usable_size when it was made */
    uint8_t seed;
    bool huge; /* outside the machine: a huge area */
};

static struct {
    struct fm_obj objs[FM_MAX_OBJS];
    unsigned int nobjs;
    size_t live_bytes;
    struct fz_usage base; /* what the machine held before the first input */
} fm;

static inline uint8_t fm_marker(const struct fm_obj *o)
{
    return (uint8_t)(o->seed ^ 0x5a);
}

static void fm_check_obj(const struct fm_obj *o, const char *when)
{
    size_t bad = fz_verify(o->ptr, o->size, o->seed, SIZE_MAX);
    if (bad != SIZE_MAX)
        fz_fail("%s: block %p (%zu bytes) overwritten at offset %zu: %#x, expected %#x", when,
                (void *)o->ptr, o->size, bad, o->ptr[bad], fz_pat(o->seed, bad));
    if (o->usable > o->size)
        FZ_CHECK(o->ptr[o->usable - 1] == fm_marker(o),
                 "%s: block %p (%zu bytes, %zu usable): the last usable byte is %#x, expected %#x",
                 when, (void *)o->ptr, o->size, o->usable, o->ptr[o->usable - 1], fm_marker(o));
}

/* A new block: check it, fill it, remember it. align: what was promised. */
static void fm_add(uint8_t *p, size_t size, size_t align, bool zero, struct fz_src *s,
                   const char *what)
{
    if (align < FM_MIN_ALIGN)
        align = FM_MIN_ALIGN;
    FZ_CHECK((uintptr_t)p % align == 0, "%s(%zu) = %p: not aligned to %zu", what, size, (void *)p,
             align);
    size_t usable = kmem_malloc_usable_size(p);
    FZ_CHECK(usable >= size, "%s(%zu) = %p: usable size %zu", what, size, (void *)p, usable);
    if (zero)
        fz_check_zero(p, size, what);
    for (unsigned i = 0; i < fm.nobjs; i++) {
        const struct fm_obj *o = &fm.objs[i];
        FZ_CHECK(p + (usable ? usable : 1) <= o->ptr || o->ptr + (o->usable ? o->usable : 1) <= p,
                 "%s(%zu) = %p (%zu usable) overlaps the live block %p (%zu usable)", what, size,
                 (void *)p, usable, (void *)o->ptr, o->usable);
    }
    struct fm_obj *o = &fm.objs[fm.nobjs++];
    *o = (struct fm_obj){.ptr = p, .size = size, .usable = usable};
    o->seed = (uint8_t)(fz_u8(s) + fzr.op * 41);
    o->huge = virt_to_page(p) == NULL;
    fz_fill(p, size, o->seed);
    if (usable > size)
        p[usable - 1] = fm_marker(o);
    fm.live_bytes += usable;
}

static void fm_forget(struct fm_obj *o)
{
    fm.live_bytes -= o->usable;
    *o = fm.objs[--fm.nobjs];
}

static struct fm_obj *fm_pick(struct fz_src *s)
{
    if (!fm.nobjs)
        return NULL;
    return &fm.objs[fz_u16(s) % fm.nobjs];
}

static bool fm_full(void)
{
    return fm.nobjs >= FM_MAX_OBJS || fm.live_bytes > FM_LIVE_MAX;
}

/* ---- operations -------------------------------------------------------------------------- */

static void op_malloc(struct fz_src *s)
{
    size_t size = fz_size(s, FM_SIZE_MAX);
    if ((fz_u8(s) & 0x1f) == 0)
        size = 0;
    uint8_t *p = kmem_malloc(size);
    fz_note("malloc", size, 0, (unsigned long)p);
    FZ_CHECK(p != NULL, "kmem_malloc(%zu) = NULL", size);
    fm_add(p, size, FM_MIN_ALIGN, false, s, "kmem_malloc");
    /* At most twice what was asked, in pages beyond a page: a cached huge
     * area up to twice the (page-rounded) request is taken whole. */
    size_t usable = fm.objs[fm.nobjs - 1].usable;
    size_t asked = size <= PAGE_SIZE ? size : (size + PAGE_SIZE - 1) & PAGE_MASK;
    FZ_CHECK(usable <= 2 * asked || usable <= FM_MIN_ALIGN,
             "kmem_malloc(%zu) = %p: usable size %zu wastes more than half", size, (void *)p,
             usable);
}

static void op_calloc(struct fz_src *s)
{
    size_t n = 1 + fz_u8(s) % 64;
    size_t size = fz_size(s, FM_SIZE_MAX) / n;
    if ((fz_u8(s) & 0x0f) == 0) {
        /* The product overflows: NULL and ENOMEM. */
        errno = 0;
        void *p = kmem_calloc(n + 1, SIZE_MAX / (n + 1) + 1 + size);
        fz_note("calloc overflow", n + 1, size, (unsigned long)p);
        FZ_CHECK(!p && errno == ENOMEM, "kmem_calloc overflowing: %p, errno %d", p, errno);
        return;
    }
    uint8_t *p = kmem_calloc(n, size);
    fz_note("calloc", n, size, (unsigned long)p);
    FZ_CHECK(p != NULL, "kmem_calloc(%zu, %zu) = NULL", n, size);
    fm_add(p, n * size, FM_MIN_ALIGN, true, s, "kmem_calloc");
}

/* realloc and reallocarray of a live block (or of NULL). */
static void op_realloc(struct fz_src *s, bool array)
{
    struct fm_obj *o = fm_pick(s);
    unsigned sel = fz_u8(s);
    size_t n = array ? 1 + fz_u8(s) % 16 : 1;
    size_t size = fz_size(s, FM_SIZE_MAX) / n * n;
    if ((sel & 7) == 0 || !o) {
        if (fm_full())
            return;
        uint8_t *p = array ? kmem_reallocarray(NULL, n, size / n) : kmem_realloc(NULL, size);
        fz_note("realloc(NULL)", n, size, (unsigned long)p);
        FZ_CHECK(p || size == 0, "kmem_realloc(NULL, %zu) = NULL", size);
        if (p)
            fm_add(p, size, FM_MIN_ALIGN, false, s, "kmem_realloc(NULL)");
        return;
    }
    fm_check_obj(o, "before realloc");
    if ((sel & 0x38) == 0x08) {
        /* Too large, or an overflowing product: NULL, ENOMEM, the block untouched. */
        errno = 0;
        void *p = array ? kmem_reallocarray(o->ptr, n + 1, SIZE_MAX / (n + 1) + 1)
                        : kmem_realloc(o->ptr, SIZE_MAX / 2 + size);
        fz_note("realloc too large", (unsigned long)o->ptr, n, (unsigned long)p);
        FZ_CHECK(!p && errno == ENOMEM, "realloc beyond memory: %p, errno %d", p, errno);
        fm_check_obj(o, "after a failed realloc");
        return;
    }
    if ((sel & 0x38) == 0x10 && !array) {
        /* realloc(p, 0) frees p and returns NULL (glibc). */
        void *p = kmem_realloc(o->ptr, 0);
        fz_note("realloc(p, 0)", (unsigned long)o->ptr, 0, (unsigned long)p);
        FZ_CHECK(p == NULL, "kmem_realloc(p, 0) = %p", p);
        fm_forget(o);
        return;
    }
    if (size == 0)
        size = n; /* 0 would be a free */
    if (fm.live_bytes + size > FM_LIVE_MAX)
        return;
    uint8_t *p = array ? kmem_reallocarray(o->ptr, n, size / n) : kmem_realloc(o->ptr, size);
    fz_note(array ? "reallocarray" : "realloc", (unsigned long)o->ptr, size, (unsigned long)p);
    FZ_CHECK(p != NULL, "kmem_realloc(%p, %zu) = NULL", (void *)o->ptr, size);
    size_t keep = size < o->size ? size : o->size;
    size_t bad = fz_verify(p, o->size, o->seed, keep);
    if (bad != SIZE_MAX)
        fz_fail("kmem_realloc(%p, %zu) = %p: byte %zu of the %zu kept is %#x, expected %#x",
                (void *)o->ptr, size, (void *)p, bad, keep, p[bad], fz_pat(o->seed, bad));
    fm_forget(o);
    fm_add(p, size, FM_MIN_ALIGN, false, s, "kmem_realloc");
}

static size_t fm_pow2_at_least(size_t x)
{
    size_t a = 1;
    while (a < x)
        a <<= 1;
    return a;
}

static void op_aligned(struct fz_src *s)
{
    unsigned how = fz_u8(s) % 4;
    unsigned a = fz_u8(s);
    size_t size = fz_size(s, FM_SIZE_MAX);
    /* Powers of two up to 8 MiB, and now and then something else. */
    size_t align = (size_t)1 << (a % 24);
    if ((a & 0xe0) == 0xe0)
        align = (a & 0x10) ? align + align / 2 + 8 : 24 + (a & 7) * 8;
    if (align > FM_ALIGN_MAX)
        align = FM_ALIGN_MAX;
    bool pow2 = !(align & (align - 1));
    uint8_t *p = NULL;
    errno = 0;
    if (how == 0) {
        void *out = (void *)0x1;
        int rc = kmem_posix_memalign(&out, align, size);
        fz_note("posix_memalign", align, size, (unsigned long)out);
        if (!pow2 || align < sizeof(void *)) {
            FZ_CHECK(rc == EINVAL && out == (void *)0x1,
                     "kmem_posix_memalign(%zu, %zu) = %d, out %p", align, size, rc, out);
            return;
        }
        FZ_CHECK(rc == 0, "kmem_posix_memalign(%zu, %zu) = %d", align, size, rc);
        p = out;
        if (!p) {
            FZ_CHECK(size == 0, "kmem_posix_memalign(%zu, %zu) gave NULL", align, size);
            return;
        }
    } else if (how == 1) {
        p = kmem_aligned_alloc(align, size);
        fz_note("aligned_alloc", align, size, (unsigned long)p);
        if (!pow2) {
            FZ_CHECK(!p && errno == EINVAL, "kmem_aligned_alloc(%zu, %zu) = %p, errno %d", align,
                     size, (void *)p, errno);
            return;
        }
    } else if (how == 2) {
        p = kmem_memalign(align, size);
        fz_note("memalign", align, size, (unsigned long)p);
        align = fm_pow2_at_least(align); /* glibc rounds a bad alignment up */
    } else {
        bool pv = a & 1;
        p = pv ? kmem_pvalloc(size) : kmem_valloc(size);
        fz_note(pv ? "pvalloc" : "valloc", size, 0, (unsigned long)p);
        align = PAGE_SIZE;
        if (p && pv)
            FZ_CHECK(kmem_malloc_usable_size(p) >= ((size + PAGE_SIZE - 1) & PAGE_MASK),
                     "kmem_pvalloc(%zu) = %p: usable %zu", size, (void *)p,
                     kmem_malloc_usable_size(p));
    }
    FZ_CHECK(p || size == 0, "aligned allocation (%zu, %zu) = NULL", align, size);
    if (p)
        fm_add(p, size, align, false, s, "aligned allocation");
}

static void op_free(struct fz_src *s)
{
    struct fm_obj *o = fm_pick(s);
    if (!o) {
        kmem_free(NULL);
        FZ_CHECK(kmem_malloc_usable_size(NULL) == 0, "kmem_malloc_usable_size(NULL)");
        return;
    }
    fm_check_obj(o, "before free");
    FZ_CHECK(kmem_malloc_usable_size(o->ptr) >= o->usable, "block %p: usable %zu, was %zu",
             (void *)o->ptr, kmem_malloc_usable_size(o->ptr), o->usable);
    fz_note("free", (unsigned long)o->ptr, o->size, 0);
    kmem_free(o->ptr);
    fm_forget(o);
}

static void fm_check_all(void)
{
    int v = kmem_page_check();
    FZ_CHECK(v == 0, "kmem_page_check: %d violations", v);
    v = kmem_vmalloc_check();
    FZ_CHECK(v == 0, "kmem_vmalloc_check: %d violations", v);
    v = fz_check_caches();
    FZ_CHECK(v == 0, "kmem_cache_check: %d violations over all caches", v);
    struct kmem_malloc_info mi;
    FZ_CHECK(kmem_malloc_info(&mi) == 0, "kmem_malloc_info");
    unsigned long huge = 0;
    size_t huge_bytes = 0;
    for (unsigned i = 0; i < fm.nobjs; i++)
        if (fm.objs[i].huge) {
            huge++;
            huge_bytes += fm.objs[i].usable;
        }
    FZ_CHECK(mi.huge_areas == huge && mi.huge_bytes == huge_bytes,
             "kmem_malloc_info: %lu huge areas of %zu bytes, the model %lu of %zu", mi.huge_areas,
             mi.huge_bytes, huge, huge_bytes);
    FZ_CHECK(mi.memory_bytes <= mi.reserved_bytes && mi.free_bytes <= mi.memory_bytes &&
                 mi.discarded_bytes <= mi.free_bytes,
             "kmem_malloc_info: reserved %zu, memory %zu, free %zu, discarded %zu",
             mi.reserved_bytes, mi.memory_bytes, mi.free_bytes, mi.discarded_bytes);
}

static void op_misc(struct fz_src *s)
{
    unsigned what = fz_u8(s) % 4;
    fz_note("misc", what, 0, 0);
    if (what == 0) {
        fm_check_all();
    } else if (what == 1) {
        for (int i = 0; i < 4; i++) {
            struct fm_obj *o = fm_pick(s);
            if (o)
                fm_check_obj(o, "re-verify");
        }
    } else if (what == 2) {
        drain_all_pages();
    } else {
        /* Hundreds of one small size at once: slabs fill, magazines cycle. */
        size_t size = 1 + fz_u16(s) % 2048;
        unsigned n = 16 + fz_u8(s) % 128;
        static void *batch[160];
        for (unsigned i = 0; i < n; i++) {
            batch[i] = kmem_malloc(size);
            FZ_CHECK(batch[i] != NULL, "kmem_malloc(%zu) = NULL", size);
            memset(batch[i], (int)i, size);
        }
        /* Every other one first, so slabs go partial before they empty. */
        for (unsigned k = 0; k < n; k++) {
            unsigned i = k < (n + 1) / 2 ? 2 * k : 2 * (k - (n + 1) / 2) + 1;
            const uint8_t *b = batch[i];
            FZ_CHECK(b[0] == (uint8_t)i && b[size - 1] == (uint8_t)i, "batch object %u of %zu", i,
                     size);
            kmem_free(batch[i]);
        }
    }
}

enum {
    OP_MALLOC,
    OP_MALLOC2,
    OP_CALLOC,
    OP_REALLOC,
    OP_REALLOC2,
    OP_REALLOCARRAY,
    OP_ALIGNED,
    OP_MISC,
    OP_FREE, /* and the codes after it */
    OP_NR = OP_FREE + 4,
};

static void fm_step(struct fz_src *in)
{
    uint8_t buf[FM_OP_BYTES];
    for (unsigned i = 0; i < FM_OP_BYTES; i++)
        buf[i] = fz_u8(in);
    struct fz_src chunk = {.p = buf, .n = sizeof buf};
    struct fz_src *s = &chunk;
    unsigned op = fz_u8(s) % OP_NR;
    if (fm_full() && op < OP_MISC)
        op = OP_FREE;
    switch (op) {
    case OP_MALLOC:
    case OP_MALLOC2:
        op_malloc(s);
        break;
    case OP_CALLOC:
        op_calloc(s);
        break;
    case OP_REALLOC:
    case OP_REALLOC2:
        op_realloc(s, false);
        break;
    case OP_REALLOCARRAY:
        op_realloc(s, true);
        break;
    case OP_ALIGNED:
        op_aligned(s);
        break;
    case OP_MISC:
        op_misc(s);
        break;
    default:
        op_free(s);
        break;
    }
    fzr.op++;
    if (fzr.op % FM_CHECK_EVERY == 0)
        fm_check_all();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kmem_free(kmem_malloc(1)); /* boots the machine */
    struct kmem_malloc_info mi;
    if (kmem_malloc_info(&mi) != 0) {
        fprintf(stderr, "fuzz_malloc: the malloc's machine did not start\n");
        abort();
    }
    kmem_set_panic_handler(fz_panic);
    fz_usage(&fm.base);
    return 0;
}

/* Freed huge areas stay cached for the next huge request (up to 8 of them,
 * 64 MiB or half the live huge bytes): what an input finds there would
 * depend on the inputs before it. Nine live areas of 64 MiB (never touched:
 * no memory) take every cached one, then go back: the cache is then the
 * same before every input, whatever ran before. */
static void fm_huge_cache_reset(void)
{
    static void *big[9];
    for (unsigned i = 0; i < 9; i++) {
        big[i] = kmem_malloc(64 * FZ_MiB);
        FZ_CHECK(big[i] != NULL, "kmem_malloc(64 MiB) = NULL");
    }
    for (unsigned i = 0; i < 9; i++)
        kmem_free(big[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_huge_cache_reset();
    fz_run_begin();
    struct fz_src src = {.p = data, .n = size};
    while (fz_more(&src))
        fm_step(&src);
    while (fm.nobjs)
        op_free(&(struct fz_src){0});
    fm_check_all();
    fz_usage_check(&fm.base, "everything freed, every cache shrunk");
    unsigned long in_use = fz_pages_in_use();
    FZ_CHECK(in_use == fm.base.in_use,
             "everything freed, every cache shrunk: %lu pages in use, %lu before the first input",
             in_use, fm.base.in_use);
    return 0;
}
