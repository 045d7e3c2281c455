/* SPDX-License-Identifier: MIT */
/*
 * kmalloc.c - kmalloc and friends on the slab layer (Linux's mm/slab_common.c).
 *
 * Size classes: kmalloc-8, -16, -32, -64, -96, -128, -192, -256, -512, -1k,
 * -2k, -4k, -8k. A request goes to the smallest class that holds it: sizes up
 * to 192 through a table indexed by (size - 1) / 8, larger ones by the next
 * power of two. Power-of-two classes are created with their own size as
 * alignment, so their objects are naturally aligned (the slabs are naturally
 * aligned blocks). Requests above KMALLOC_MAX_CACHE_SIZE are blocks of pages
 * whose pages say PG_OWNER_KMALLOC, so kfree and ksize know them.
 *
 * kfree finds everything from the address in O(1): virt_to_page gives the
 * page; a slab page names its slab and cache, a kmalloc block its order.
 * Anything else is not ours, and is reported.
 */
#include <kmem/init.h>
#include <kmem/kmalloc.h>

#include "../internal/report.h"
#include "cache_fast.h"
#include "vmalloc.h"
#include "zone.h"

enum { NR_KMALLOC_CACHES = 13 };

static const struct {
    const char *name;
    unsigned int size;
    unsigned int align;
} kmalloc_classes[NR_KMALLOC_CACHES] = {
    {"kmalloc-8", 8, 8},        {"kmalloc-16", 16, 16},     {"kmalloc-32", 32, 32},
    {"kmalloc-64", 64, 64},     {"kmalloc-96", 96, 32},     {"kmalloc-128", 128, 128},
    {"kmalloc-192", 192, 64},   {"kmalloc-256", 256, 256},  {"kmalloc-512", 512, 512},
    {"kmalloc-1k", 1024, 1024}, {"kmalloc-2k", 2048, 2048}, {"kmalloc-4k", 4096, 4096},
    {"kmalloc-8k", 8192, 8192},
};

static struct kmem_cache kmalloc_caches[NR_KMALLOC_CACHES];

/* The class of sizes 1..256, by (size - 1) / 8 (Linux's size_index). */
#define KMALLOC_SMALL_MAX 256
static const uint8_t kmalloc_small[KMALLOC_SMALL_MAX / 8] = {
    0, 1, 2, 2, 3, 3, 3, 3, /* 8, 16, 24-32, 40-64 */
    4, 4, 4, 4,             /* 72-96 */
    5, 5, 5, 5,             /* 104-128 */
    6, 6, 6, 6, 6, 6, 6, 6, /* 136-192 */
    7, 7, 7, 7, 7, 7, 7, 7, /* 200-256 */
};

/* The same classes as the byte offsets of their caches' per-CPU slots, so
 * that kmalloc's fast path needs one load to find its slot. The kmalloc
 * caches are the first to get magazine ids (0 .. 12, checked at boot), so
 * these are constants; before kmem_init and after kmem_exit every slot is on
 * the sentinel, and the slow path names the mistake (it tests kmem_is_up
 * before it looks at a cache descriptor, which is set up at boot). */
#define SLOT_OFF(class) (uint16_t) KMEM_CPU_SLOT_OFF((class) + 1)
static const uint16_t kmalloc_small_slot[KMALLOC_SMALL_MAX / 8] = {
    SLOT_OFF(0), SLOT_OFF(1), SLOT_OFF(2), SLOT_OFF(2), SLOT_OFF(3), SLOT_OFF(3), SLOT_OFF(3),
    SLOT_OFF(3), SLOT_OFF(4), SLOT_OFF(4), SLOT_OFF(4), SLOT_OFF(4), SLOT_OFF(5), SLOT_OFF(5),
    SLOT_OFF(5), SLOT_OFF(5), SLOT_OFF(6), SLOT_OFF(6), SLOT_OFF(6), SLOT_OFF(6), SLOT_OFF(6),
    SLOT_OFF(6), SLOT_OFF(6), SLOT_OFF(6), SLOT_OFF(7), SLOT_OFF(7), SLOT_OFF(7), SLOT_OFF(7),
    SLOT_OFF(7), SLOT_OFF(7), SLOT_OFF(7), SLOT_OFF(7),
};
KMEM_STATIC_ASSERT(NR_KMALLOC_CACHES < KMEM_CPU_SLOTS, "every kmalloc cache has a slot");

/* The class of sizes 1..KMALLOC_MAX_CACHE_SIZE. */
static inline unsigned int kmalloc_index(size_t size)
{
    if (size <= KMALLOC_SMALL_MAX)
        return kmalloc_small[(size - 1) / 8];
    /* 257..512 -> 8, ... 4097..8192 -> 12 */
    return (unsigned int)(sizeof(long) * 8) - (unsigned int)__builtin_clzl(size - 1) - 1;
}

void kmem_kmalloc_boot(void)
{
    for (unsigned int i = 0; i < NR_KMALLOC_CACHES; i++) {
        kmem_cache_setup_static(&kmalloc_caches[i], kmalloc_classes[i].name,
                                kmalloc_classes[i].size, kmalloc_classes[i].align, 0, true);
        /* The fast paths' tables name the slots by class. A debugged cache
         * keeps its id, and so the slot, but leaves it empty. */
        const struct kmem_cache *c = &kmalloc_caches[i];
        if (c->c_id != i || (c->c_cpu_off != SLOT_OFF(i) && !c->c_debug))
            kmem_error(KMERR_CORRUPTION, "kmalloc boot: %s got id %u and slot offset %lu, not %u",
                       kmalloc_classes[i].name, c->c_id, c->c_cpu_off, (unsigned int)SLOT_OFF(i));
    }
}

/* Every page of a large block says whose it is, so that an address inside it
 * is told from one kmalloc never handed out. */
static void mark_block(struct page *head, unsigned int order, enum page_owner owner)
{
    for (unsigned long i = 0; i < (1UL << order); i++)
        head[i].pg_owner = (uint8_t)owner;
}

static KMEM_NOINLINE void *kmalloc_large(size_t size, gfp_t gfp)
{
    if (size > (PAGE_SIZE << MAX_PAGE_ORDER))
        return NULL;
    unsigned int order = (unsigned int)get_order(size);
    struct page *page = alloc_pages(gfp, order);
    if (!page)
        return NULL;
    mark_block(page, order, PG_OWNER_KMALLOC);
    return pf_page_address(page);
}

/* kmalloc of everything its fast path does not serve: 0, 257..8192 (still
 * through the cache fast path), large blocks, and the slow path of the
 * small sizes. */
static KMEM_NOINLINE void *kmalloc_slow(size_t size, gfp_t gfp)
{
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "kmalloc(%zu, gfp %#x) called before kmem_init", size, gfp);
    if (size == 0)
        return ZERO_SIZE_PTR;
    if (size > KMALLOC_MAX_CACHE_SIZE)
        return kmalloc_large(size, gfp);
    CACHE_ALLOC(&kmalloc_caches[kmalloc_index(size)], gfp);
}

void *kmalloc(size_t size, gfp_t gfp)
{
    /* size - 1 wraps for 0, which goes to kmalloc_slow with the rest. */
    if (likely(size - 1 < KMALLOC_SMALL_MAX) && likely(!kmem_gfp_slow(gfp, &kmem_slab_slow_gfp))) {
        void *obj = cache_pop_unmark(kmalloc_small_slot[(size - 1) / 8]);
        if (likely(obj))
            return obj;
    }
    return kmalloc_slow(size, gfp);
}

void *kzalloc(size_t size, gfp_t gfp)
{
    return kmalloc(size, gfp | __GFP_ZERO);
}

void *kmalloc_array(size_t n, size_t size, gfp_t gfp)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes))
        return NULL;
    return kmalloc(bytes, gfp);
}

void *kcalloc(size_t n, size_t size, gfp_t gfp)
{
    return kmalloc_array(n, size, gfp | __GFP_ZERO);
}

/* What p is: a slab object, a large block (with its head page), or neither. */
enum kmalloc_kind { KM_SLAB, KM_LARGE };

static enum kmalloc_kind kmalloc_classify(const void *p, const char *fn, const void *caller,
                                          struct slab **slab, struct page **head)
{
    if (unlikely(!pf_virt_valid(p)))
        kmem_error(KMERR_NOT_OBJECT, "%s(%p) called from %p: address is outside managed memory", fn,
                   p, caller);
    *slab = kmem_obj_slab(p);
    if (*slab && (*slab)->sl_cache->c_internal)
        kmem_error(KMERR_NOT_OBJECT,
                   "%s(%p) called from %p: not an address kmalloc handed out (an object of "
                   "kmem's internal cache %s)",
                   fn, p, caller, (*slab)->sl_cache->c_name);
    if (*slab)
        return KM_SLAB;
    struct page *page = pf_virt_to_page(p);
    if (page->pg_owner == PG_OWNER_KMALLOC && page_state(page) == PS_ALLOC &&
        pf_page_address(page) == p) {
        *head = page;
        return KM_LARGE;
    }
    enum page_state state = page_state(page);
    if ((state == PS_FREE || state == PS_PCP) && page->pg_owner == PG_OWNER_PAGES)
        kmem_error(KMERR_DOUBLE_FREE,
                   "%s(%p) called from %p: the memory at pfn %#lx is free (freed twice?)", fn, p,
                   caller, pf_page_to_pfn(page));
    kmem_error(KMERR_NOT_OBJECT,
               "%s(%p) called from %p: not an address kmalloc handed out (pfn %#lx is %s)", fn, p,
               caller, pf_page_to_pfn(page),
               page->pg_owner == PG_OWNER_KMALLOC ? "inside a large kmalloc block"
                                                  : "no slab and no kmalloc block");
}

/* kfree's slow path, also the malloc's (fn names the function in reports). */
KMEM_NOINLINE void kmem_kfree_named(const void *p, const char *fn, const void *caller)
{
    void *obj = (void *)(uintptr_t)p;
    struct slab *slab;
    struct page *head;
    if (ZERO_OR_NULL_PTR(obj))
        return;
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "%s(%p) called from %p before kmem_init", fn, obj, caller);
    if (kmalloc_classify(obj, fn, caller, &slab, &head) == KM_SLAB) {
        kmem_cache_free_slow(slab->sl_cache, obj, caller);
        return;
    }
    mark_block(head, head->pg_order, PG_OWNER_PAGES);
    __free_pages(head, head->pg_order);
}

void kfree(const void *p)
{
    void *obj = (void *)(uintptr_t)p;
    if (likely(slab_object_free_fast(obj)))
        return;
    kmem_kfree_named(obj, "kfree", KMEM_RET_ADDR());
}

size_t kmem_ksize_named(const void *p, const char *fn, const void *caller)
{
    if (ZERO_OR_NULL_PTR(p))
        return 0;
    struct slab *slab;
    struct page *head;
    if (kmalloc_classify(p, fn, caller, &slab, &head) == KM_SLAB) {
        const struct kmem_cache *c = slab->sl_cache;
        return c->c_debug ? c->c_object_size : c->c_size; /* a red zone follows the object */
    }
    return PAGE_SIZE << head->pg_order;
}

size_t ksize(const void *p)
{
    return kmem_ksize_named(p, "ksize", KMEM_RET_ADDR());
}

void *krealloc(const void *p, size_t new_size, gfp_t gfp)
{
    if (unlikely(new_size == 0)) {
        kfree(p);
        return ZERO_SIZE_PTR;
    }
    size_t old = ksize(p);
    if (new_size <= old)
        return (void *)(uintptr_t)p;
    void *n = kmalloc(new_size, gfp);
    if (n && old) {
        kmem_memcpy(n, p, old);
        kfree(p);
    }
    return n;
}

/* kvmalloc, as Linux's: up to a page, plain kmalloc (it does not fail for
 * want of contiguity). Larger sizes try kmalloc lightly, __GFP_NORETRY (one
 * reclaim pass; not under __GFP_RETRY_MAYFAIL) and __GFP_NOWARN, and fall
 * back to vmalloc, which needs no contiguous frames. __GFP_NOFAIL stays
 * with kmalloc, which then waits rather than fails. Sizes kmalloc cannot
 * serve (beyond the largest block) go to vmalloc directly; more than
 * INT_MAX bytes is refused, as in Linux. */
#define KVMALLOC_MAX 0x7fffffffUL

void *kvmalloc(size_t size, gfp_t gfp)
{
    if (size <= PAGE_SIZE)
        return kmalloc(size, gfp);
    if (size <= (PAGE_SIZE << MAX_PAGE_ORDER)) {
        gfp_t light = gfp;
        if (!(gfp & __GFP_NOFAIL)) {
            light |= __GFP_NOWARN;
            if (!(gfp & __GFP_RETRY_MAYFAIL))
                light |= __GFP_NORETRY;
        }
        void *p = kmalloc(size, light);
        if (p || (gfp & __GFP_NOFAIL))
            return p;
    }
    if (size > KVMALLOC_MAX)
        return NULL;
    return __vmalloc(size, gfp);
}

void *kvzalloc(size_t size, gfp_t gfp)
{
    return kvmalloc(size, gfp | __GFP_ZERO);
}

void kvfree(const void *p)
{
    if (is_vmalloc_addr(p))
        kmem_vfree_from(p, KMEM_RET_ADDR());
    else
        kfree(p);
}
