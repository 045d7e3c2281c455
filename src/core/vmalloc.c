/* SPDX-License-Identifier: MIT */
/*
 * vmalloc.c - virtually contiguous memory over scattered frames: the
 * allocator of the vmalloc range's virtual areas, vmalloc/vfree, vmap/vunmap
 * and vmalloc_to_page (Linux's mm/vmalloc.c: its interface, our code).
 *
 * The range. The platform reserves [vs_start, vs_end) before boot (hosted: a
 * PROT_NONE mapping; a kernel: page-table space). Every byte of it is either
 * in a free range or reserved by an area, and an area reserves its pages and
 * one guard page after them that is never mapped, so running off the end of
 * an area faults instead of reaching the next one:
 *
 *   vs_start                                                        vs_end
 *   | area A    |g| free         | area B      |g| area C   |g| free      |
 *
 * Free ranges are a sorted array of maximal [start, end) runs (two never
 * touch). Allocation is first fit: the lowest range that holds the request,
 * cut from its start (Linux keeps free vmap_areas in an augmented rb-tree
 * and also takes the lowest fitting address). Freeing gives the reservation
 * back and merges it with its neighbours, found by binary search. Areas are
 * a sorted array of descriptors by start address, so the area holding any
 * address is found by binary search, O(log n). Both arrays are kmalloc'd and
 * grow by doubling, outside the lock (never with vmalloc, which needs them).
 * Since free ranges are separated by areas, there is at most one more free
 * range than there are areas: the free array has room for capacity + 1, so
 * that a vfree never needs memory.
 *
 * Frames. vmalloc takes frames with alloc_pages, largest blocks first: the
 * largest order that fits the remaining size, asked with __GFP_NORETRY |
 * __GFP_NOWARN (a missing large block costs one attempt, not a reclaim
 * storm), then smaller ones, down to order 0 with the caller's own gfp. Once
 * an order fails, the rest of the area asks no higher. Each area keeps a
 * two-level table of its pages (leaves of 512 pointers, one page each, so a
 * fragmented machine can still hold the table of a large area) for
 * vmalloc_to_page and vfree. Each run of frames with contiguous pfns (a
 * block, or neighbouring blocks the buddy system handed out in order) is
 * mapped with one kmem_pl_map call: a hosted mapping costs microseconds, and
 * the host limits how many there may be (vm.max_map_count). vfree unmaps the
 * area (the range stays reserved), frees each block with its order (the
 * head's pg_order) and gives the range back.
 *
 * Failures: no descriptor, no range, no frames, or a map call the host
 * refuses. Everything taken so far is given back in reverse (mapped runs
 * unmapped, blocks freed, the reservation released) and NULL returned.
 *
 * An area's life (va_state, changed under vs_lock): NEW (range reserved,
 * frames being allocated and mapped outside the lock) -> LIVE (returned to
 * the caller) -> DYING (vfree or vunmap has claimed it and is unmapping and
 * freeing outside the lock) -> gone, its reservation back among the free
 * ranges. Only LIVE areas are found by vfree, vunmap and vmalloc_to_page, so
 * of two racing vfrees of one area exactly one frees it and the other is
 * reported. A short ring of recently freed areas tells a double vfree from
 * an address that was never an area.
 *
 * Invariants (checked by kmem_vmalloc_check):
 *   V1. vs_free[0 .. vs_nr_free) are page-aligned, non-empty, sorted, inside
 *       the range, and no two touch (free ranges are maximal).
 *   V2. vs_areas[0 .. vs_nr_areas) are sorted by va_start; each reserves
 *       [va_start, va_start + (va_nr_pages + 1) * PAGE_SIZE), page-aligned,
 *       and has a leaf for every VM_LEAF_PAGES of its pages.
 *   V3. The free ranges and the reservations of the areas tile the range
 *       exactly: no gap, no overlap.
 *   V4. vs_nr_areas <= vs_capacity and vs_nr_free <= vs_nr_areas + 1;
 *       vs_nr_live, vs_nr_vmap and vs_nr_pages count the LIVE areas, their
 *       vmap ones and their pages.
 *   V5. Every page of a LIVE area is a page of this machine. In a vmalloc
 *       area they come in blocks: a head allocated with order k (PS_ALLOC),
 *       then its 2^k - 1 tail frames in pfn order, all inside the area.
 *
 * Lock order: vs_lock is innermost. It is never held across a call out of
 * this file (kmalloc, kfree, alloc_pages, __free_pages, kmem_pl_map,
 * kmem_pl_unmap, kmem_error), only around the arrays and the states, so the
 * page allocator may reclaim (run shrinkers, wait for frees) while vmalloc
 * waits for it, and many threads allocate frames and map at once.
 * kmem_vmalloc_check reads the page heads of LIVE areas under vs_lock with
 * relaxed loads, as kmem_page_check does; no zone lock is needed, because a
 * LIVE area's blocks change only after vfree has made it DYING.
 *
 * No path here is fast in the kmalloc sense: vmalloc is for large, long-lived
 * memory, and its cost is the frames and the mappings. vmalloc_to_page and
 * is_vmalloc_addr are O(log n) and O(1).
 */
#include <kmem/init.h>
#include <kmem/kmalloc.h>
#include <kmem/platform.h>

#include "fork.h"
#include "../internal/report.h"
#include "vmalloc.h"
#include "zone.h"

/* The platform contract promises memmove (compiler.h names memset and memcpy). */
#define vm_memmove(d, s, n) __builtin_memmove((d), (s), (n))

enum {
    VM_LEAF_PAGES = PAGE_SIZE / sizeof(struct page *), /* 512: a leaf is one page */
    VM_BOOT_CAPACITY = 16,                             /* areas before the first kmalloc'd arrays */
    VM_RECENT_FREES = 64, /* areas remembered after vfree, to name a double free */
    ERR_INVAL = 22,
};

enum vm_kind { VM_KIND_VMALLOC, VM_KIND_VMAP };
enum vm_state { VA_NEW, VA_LIVE, VA_DYING };

static const char *const vm_kind_names[] = {"vmalloc", "vmap"};

struct vm_area {
    uintptr_t va_start;        /* first byte; a guard page follows the last */
    unsigned long va_nr_pages; /* pages mapped */
    unsigned long va_nr_leaves;
    uint8_t va_kind;         /* enum vm_kind: whose frames (vfree or vunmap) */
    uint8_t va_state;        /* enum vm_state, under vs_lock */
    bool va_inline_leaf;     /* va_leaf[0] is inside this descriptor */
    struct page **va_leaf[]; /* leaf i: pages [i * VM_LEAF_PAGES, ...) */
};

struct vm_range {
    uintptr_t vr_start; /* free [vr_start, vr_end) */
    uintptr_t vr_end;
};

struct vm_recent_free {
    uintptr_t rf_start; /* 0: empty slot */
    unsigned long rf_nr_pages;
    uint8_t rf_kind;
};

static struct vm_space {
    struct kmem_mutex vs_lock; /* protects everything below but the range
                                  and the call counters */
    uintptr_t vs_start;        /* the range, fixed between boot and shutdown; */
    uintptr_t vs_end;          /* start == end: this machine has no vmalloc */
    struct vm_area **vs_areas; /* sorted by va_start, every state */
    unsigned long vs_nr_areas;
    struct vm_range *vs_free; /* sorted, maximal */
    unsigned long vs_nr_free;
    unsigned long vs_capacity; /* vs_areas holds this many, vs_free one more */
    unsigned long vs_nr_live;  /* LIVE areas */
    unsigned long vs_nr_vmap;  /* LIVE areas made by vmap */
    unsigned long vs_nr_pages; /* pages of the LIVE areas */
    struct vm_recent_free vs_recent[VM_RECENT_FREES];
    unsigned int vs_recent_next;
    unsigned long vs_map_calls; /* platform calls since boot (atomic) */
    unsigned long vs_unmap_calls;
    unsigned long vs_map_failures;
} vm_space;

/* Until the first area beyond them, the arrays are static: boot allocates
 * nothing, and a new machine's memory is all free. */
static struct vm_area *vm_boot_areas[VM_BOOT_CAPACITY];
static struct vm_range vm_boot_free[VM_BOOT_CAPACITY + 1];

static inline unsigned long area_reserved_bytes(const struct vm_area *a)
{
    return (a->va_nr_pages + 1) << PAGE_SHIFT;
}

static inline struct page *area_page(const struct vm_area *a, unsigned long i)
{
    return a->va_leaf[i / VM_LEAF_PAGES][i % VM_LEAF_PAGES];
}

static inline void area_set_page(struct vm_area *a, unsigned long i, struct page *page)
{
    a->va_leaf[i / VM_LEAF_PAGES][i % VM_LEAF_PAGES] = page;
}

static unsigned long machine_pages(void)
{
    unsigned long n = 0;
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        n += kmem_zones[zi].z_managed_pages;
    return n;
}

/* kmalloc flags for the bookkeeping of a request with these flags. */
static inline gfp_t meta_gfp(gfp_t gfp)
{
    return gfp & ~(gfp_t)(__GFP_ZERO | __GFP_DMA);
}

/* ---- descriptors ------------------------------------------------------------ */

static void area_destroy(struct vm_area *a)
{
    if (!a->va_inline_leaf)
        for (unsigned long i = 0; i < a->va_nr_leaves; i++)
            kfree(a->va_leaf[i]);
    kfree(a);
}

/* A NEW descriptor with an empty page table for nr_pages. A table that fits
 * in the descriptor's page lives there (one kmalloc for areas up to ~2 MiB);
 * larger ones get leaves of one page each, which any machine with free
 * pages can give. */
static struct vm_area *area_create(unsigned long nr_pages, enum vm_kind kind, gfp_t gfp)
{
    unsigned long nr_leaves = (nr_pages + VM_LEAF_PAGES - 1) / VM_LEAF_PAGES;
    size_t head = sizeof(struct vm_area) + nr_leaves * sizeof(struct page **);
    size_t table = nr_pages * sizeof(struct page *);
    bool inline_leaf = nr_leaves == 1 && head + table <= PAGE_SIZE;
    struct vm_area *a = kmalloc(head + (inline_leaf ? table : 0), meta_gfp(gfp));
    if (!a)
        return NULL;
    kmem_memset(a, 0, head);
    a->va_nr_pages = nr_pages;
    a->va_nr_leaves = nr_leaves;
    a->va_kind = (uint8_t)kind;
    a->va_state = VA_NEW;
    a->va_inline_leaf = inline_leaf;
    if (inline_leaf) {
        a->va_leaf[0] = (struct page **)(void *)((char *)a + head);
        return a;
    }
    for (unsigned long i = 0; i < nr_leaves; i++) {
        unsigned long left = nr_pages - i * VM_LEAF_PAGES;
        unsigned long n = left < VM_LEAF_PAGES ? left : VM_LEAF_PAGES;
        a->va_leaf[i] = kmalloc(n * sizeof(struct page *), meta_gfp(gfp));
        if (!a->va_leaf[i]) {
            area_destroy(a); /* kfree(NULL) skips the leaves not made */
            return NULL;
        }
    }
    return a;
}

/* ---- the arrays (vs_lock held where the name says so) ------------------------ */

/* The index of the last area starting at or below va, or vs_nr_areas. */
static unsigned long area_find_locked(uintptr_t va)
{
    struct vm_space *vs = &vm_space;
    unsigned long lo = 0, hi = vs->vs_nr_areas; /* areas[lo..hi) start above va? */
    while (lo < hi) {
        unsigned long mid = lo + (hi - lo) / 2;
        if (vs->vs_areas[mid]->va_start <= va)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : vs->vs_nr_areas;
}

/* The index of the first free range starting above va. */
static unsigned long free_find_above_locked(uintptr_t va)
{
    struct vm_space *vs = &vm_space;
    unsigned long lo = 0, hi = vs->vs_nr_free;
    while (lo < hi) {
        unsigned long mid = lo + (hi - lo) / 2;
        if (vs->vs_free[mid].vr_start <= va)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void free_remove_locked(unsigned long i)
{
    struct vm_space *vs = &vm_space;
    vm_memmove(&vs->vs_free[i], &vs->vs_free[i + 1],
               (vs->vs_nr_free - i - 1) * sizeof *vs->vs_free);
    vs->vs_nr_free--;
}

/* Give [start, end) back to the free ranges, merged with its neighbours. */
static void free_insert_locked(uintptr_t start, uintptr_t end)
{
    struct vm_space *vs = &vm_space;
    unsigned long i = free_find_above_locked(start);
    bool joins_prev = i > 0 && vs->vs_free[i - 1].vr_end == start;
    bool joins_next = i < vs->vs_nr_free && vs->vs_free[i].vr_start == end;
    if (joins_prev && joins_next) {
        vs->vs_free[i - 1].vr_end = vs->vs_free[i].vr_end;
        free_remove_locked(i);
    } else if (joins_prev) {
        vs->vs_free[i - 1].vr_end = end;
    } else if (joins_next) {
        vs->vs_free[i].vr_start = start;
    } else {
        /* Room by V4: at most one more free range than areas, and the area
         * this range came from is gone. */
        if (vs->vs_nr_free > vs->vs_capacity)
            kmem_error(KMERR_CORRUPTION, "vfree: %lu free ranges for a capacity of %lu",
                       vs->vs_nr_free, vs->vs_capacity);
        vm_memmove(&vs->vs_free[i + 1], &vs->vs_free[i],
                   (vs->vs_nr_free - i) * sizeof *vs->vs_free);
        vs->vs_free[i].vr_start = start;
        vs->vs_free[i].vr_end = end;
        vs->vs_nr_free++;
    }
}

/* Double both arrays' capacity (no lock held: kmalloc may reclaim). false:
 * no memory, and nothing changed. */
static bool arrays_grow(unsigned long old_capacity, gfp_t gfp)
{
    struct vm_space *vs = &vm_space;
    unsigned long capacity = 2 * old_capacity;
    struct vm_area **areas = kmalloc(capacity * sizeof *areas, meta_gfp(gfp));
    struct vm_range *ranges = kmalloc((capacity + 1) * sizeof *ranges, meta_gfp(gfp));
    if (!areas || !ranges) {
        kfree(areas);
        kfree(ranges);
        return false;
    }
    kmem_mutex_lock(&vs->vs_lock);
    if (vs->vs_capacity < capacity) { /* nobody grew them meanwhile */
        kmem_memcpy(areas, vs->vs_areas, vs->vs_nr_areas * sizeof *areas);
        kmem_memcpy(ranges, vs->vs_free, vs->vs_nr_free * sizeof *ranges);
        struct vm_area **old_areas = vs->vs_areas;
        struct vm_range *old_ranges = vs->vs_free;
        vs->vs_areas = areas;
        vs->vs_free = ranges;
        vs->vs_capacity = capacity;
        areas = old_areas;
        ranges = old_ranges;
    }
    kmem_mutex_unlock(&vs->vs_lock);
    /* The old arrays, or ours if another thread's growth won. */
    if (areas != vm_boot_areas)
        kfree(areas);
    if (ranges != vm_boot_free)
        kfree(ranges);
    return true;
}

/* Reserve a's pages and its guard page, first fit, and list a as NEW.
 * false: no memory for the arrays, or no free range large enough. */
static bool range_reserve(struct vm_area *a, gfp_t gfp)
{
    struct vm_space *vs = &vm_space;
    unsigned long bytes = area_reserved_bytes(a);
    kmem_mutex_lock(&vs->vs_lock);
    while (vs->vs_nr_areas >= vs->vs_capacity) {
        unsigned long capacity = vs->vs_capacity;
        kmem_mutex_unlock(&vs->vs_lock);
        if (!arrays_grow(capacity, gfp))
            return false;
        kmem_mutex_lock(&vs->vs_lock);
    }
    unsigned long i = 0;
    while (i < vs->vs_nr_free && vs->vs_free[i].vr_end - vs->vs_free[i].vr_start < bytes)
        i++;
    if (i == vs->vs_nr_free) {
        kmem_mutex_unlock(&vs->vs_lock);
        return false;
    }
    a->va_start = vs->vs_free[i].vr_start;
    vs->vs_free[i].vr_start += bytes;
    if (vs->vs_free[i].vr_start == vs->vs_free[i].vr_end)
        free_remove_locked(i);
    unsigned long at = area_find_locked(a->va_start) + 1; /* after the last below */
    if (at > vs->vs_nr_areas)
        at = 0; /* none below */
    vm_memmove(&vs->vs_areas[at + 1], &vs->vs_areas[at],
               (vs->vs_nr_areas - at) * sizeof *vs->vs_areas);
    vs->vs_areas[at] = a;
    vs->vs_nr_areas++;
    kmem_mutex_unlock(&vs->vs_lock);
    return true;
}

/* Take a (NEW or DYING) off the areas and give its reservation back. */
static void range_release(struct vm_area *a)
{
    struct vm_space *vs = &vm_space;
    kmem_mutex_lock(&vs->vs_lock);
    unsigned long i = area_find_locked(a->va_start);
    if (i == vs->vs_nr_areas || vs->vs_areas[i] != a)
        kmem_error(KMERR_CORRUPTION, "vmalloc: area %p is missing from the sorted areas",
                   (void *)a->va_start);
    vm_memmove(&vs->vs_areas[i], &vs->vs_areas[i + 1],
               (vs->vs_nr_areas - i - 1) * sizeof *vs->vs_areas);
    vs->vs_nr_areas--;
    free_insert_locked(a->va_start, a->va_start + area_reserved_bytes(a));
    kmem_mutex_unlock(&vs->vs_lock);
}

/* ---- frames and mappings ------------------------------------------------------ */

/* A block of the largest order <= *order the buddy system has, down to
 * order 0 with the caller's flags; *order is set to what was taken. */
static struct page *block_alloc(gfp_t gfp, unsigned int *order)
{
    /* A large block is a wish, not a need: one try, no message, and never
     * __GFP_NOFAIL, which would wait for it forever. */
    gfp_t wish = (gfp | __GFP_NORETRY | __GFP_NOWARN) & ~(gfp_t)__GFP_NOFAIL;
    for (unsigned int o = *order; o > 0; o--) {
        struct page *page = alloc_pages(wish, o);
        if (page) {
            *order = o;
            return page;
        }
    }
    *order = 0;
    return alloc_pages(gfp, 0);
}

/* Give back the blocks of a vmalloc area's first nr pages. */
static void area_free_frames(struct vm_area *a, unsigned long nr)
{
    for (unsigned long i = 0; i < nr;) {
        struct page *head = area_page(a, i);
        unsigned int order = head->pg_order;
        __free_pages(head, order);
        i += 1UL << order;
    }
}

static bool area_alloc_frames(struct vm_area *a, gfp_t gfp)
{
    unsigned long done = 0, n = a->va_nr_pages;
    unsigned int ceiling = MAX_PAGE_ORDER; /* no larger block is left */
    while (done < n) {
        unsigned long left = n - done;
        unsigned int want =
            (unsigned int)(sizeof(long) * 8 - 1) - (unsigned int)__builtin_clzl(left);
        if (want > ceiling)
            want = ceiling;
        unsigned int order = want;
        struct page *head = block_alloc(gfp, &order);
        if (!head) {
            area_free_frames(a, done);
            return false;
        }
        if (order < want)
            ceiling = order;
        for (unsigned long j = 0; j < (1UL << order); j++)
            area_set_page(a, done + j, head + j);
        done += 1UL << order;
    }
    return true;
}

static void platform_unmap(uintptr_t va, unsigned long bytes)
{
    __atomic_fetch_add(&vm_space.vs_unmap_calls, 1, __ATOMIC_RELAXED);
    kmem_pl_unmap((void *)va, bytes);
}

/* Map a's pages, one platform call per run of contiguous pfns. On a failure
 * the runs mapped so far are unmapped again. */
static bool area_map(struct vm_area *a)
{
    struct vm_space *vs = &vm_space;
    unsigned long n = a->va_nr_pages;
    for (unsigned long i = 0; i < n;) {
        unsigned long pfn = pf_page_to_pfn(area_page(a, i)), run = 1;
        while (i + run < n && pf_page_to_pfn(area_page(a, i + run)) == pfn + run)
            run++;
        __atomic_fetch_add(&vs->vs_map_calls, 1, __ATOMIC_RELAXED);
        int rc = kmem_pl_map((void *)(a->va_start + (i << PAGE_SHIFT)),
                             (phys_addr_t)pfn << PAGE_SHIFT, run << PAGE_SHIFT);
        if (rc != 0) {
            __atomic_fetch_add(&vs->vs_map_failures, 1, __ATOMIC_RELAXED);
            if (i)
                platform_unmap(a->va_start, i << PAGE_SHIFT);
            return false;
        }
        i += run;
    }
    return true;
}

/* A NEW, mapped area becomes the caller's. */
static void *area_publish(struct vm_area *a)
{
    struct vm_space *vs = &vm_space;
    kmem_mutex_lock(&vs->vs_lock);
    a->va_state = VA_LIVE;
    vs->vs_nr_live++;
    vs->vs_nr_pages += a->va_nr_pages;
    if (a->va_kind == VM_KIND_VMAP)
        vs->vs_nr_vmap++;
    kmem_mutex_unlock(&vs->vs_lock);
    return (void *)a->va_start;
}

/* ---- vmalloc and vmap ------------------------------------------------------------ */

/* Can an area of nr_pages exist here: its pages and guard page within the
 * range, and no more pages than the machine has (Linux: totalram_pages)? */
static bool area_fits(unsigned long nr_pages)
{
    const struct vm_space *vs = &vm_space;
    unsigned long range_pages = (vs->vs_end - vs->vs_start) >> PAGE_SHIFT;
    return nr_pages != 0 && nr_pages < range_pages && nr_pages <= machine_pages();
}

static void *vmalloc_caller(unsigned long size, gfp_t gfp, const char *fn, const void *caller)
{
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "%s(%lu, gfp %#x) called from %p before kmem_init", fn, size, gfp,
                   caller);
    unsigned long nr_pages = (size >> PAGE_SHIFT) + ((size & ~PAGE_MASK) != 0);
    if (!area_fits(nr_pages))
        return NULL; /* size 0 too, as Linux */
    struct vm_area *a = area_create(nr_pages, VM_KIND_VMALLOC, gfp);
    if (!a)
        return NULL;
    if (!range_reserve(a, gfp))
        goto no_range;
    if (!area_alloc_frames(a, gfp))
        goto no_frames;
    if (!area_map(a))
        goto no_mapping;
    return area_publish(a);

no_mapping:
    area_free_frames(a, a->va_nr_pages);
no_frames:
    range_release(a);
no_range:
    area_destroy(a);
    return NULL;
}

void *__vmalloc(unsigned long size, gfp_t gfp)
{
    return vmalloc_caller(size, gfp, "__vmalloc", KMEM_RET_ADDR());
}

void *vmalloc(unsigned long size)
{
    return vmalloc_caller(size, GFP_KERNEL, "vmalloc", KMEM_RET_ADDR());
}

void *vzalloc(unsigned long size)
{
    return vmalloc_caller(size, GFP_KERNEL | __GFP_ZERO, "vzalloc", KMEM_RET_ADDR());
}

void *vmap(struct page **pages, unsigned int count, unsigned long flags, pgprot_t prot)
{
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "vmap(%p, %u) called from %p before kmem_init", (void *)pages,
                   count, KMEM_RET_ADDR());
    if (!pages || (flags & ~VM_MAP) || pgprot_val(prot) != pgprot_val(PAGE_KERNEL))
        return NULL;
    unsigned long nr_pages = count;
    if (!area_fits(nr_pages))
        return NULL;
    for (unsigned int i = 0; i < count; i++)
        if (unlikely(!pf_page_valid(pages[i])))
            kmem_error(KMERR_BAD_ADDRESS,
                       "vmap(%p, %u) called from %p: pages[%u] = %p is not a page of this "
                       "machine's memory",
                       (void *)pages, count, KMEM_RET_ADDR(), i, (void *)pages[i]);
    struct vm_area *a = area_create(nr_pages, VM_KIND_VMAP, GFP_KERNEL);
    if (!a)
        return NULL;
    for (unsigned int i = 0; i < count; i++)
        area_set_page(a, i, pages[i]);
    if (!range_reserve(a, GFP_KERNEL))
        goto no_range;
    if (!area_map(a))
        goto no_mapping;
    return area_publish(a);

no_mapping:
    range_release(a);
no_range:
    area_destroy(a);
    return NULL;
}

/* ---- vfree and vunmap ------------------------------------------------------------- */

/* What lay at an address, copied under vs_lock for a report made without it. */
struct vm_misuse {
    bool has_area;   /* an area starts at or below the address */
    uintptr_t start; /* that area */
    unsigned long nr_pages;
    uint8_t kind, state;
    bool freed_before; /* a recently freed area started exactly there */
    unsigned long freed_pages;
    uint8_t freed_kind;
};

static void misuse_snapshot_locked(uintptr_t va, const struct vm_area *a, struct vm_misuse *m)
{
    const struct vm_space *vs = &vm_space;
    kmem_memset(m, 0, sizeof *m);
    if (a) {
        m->has_area = true;
        m->start = a->va_start;
        m->nr_pages = a->va_nr_pages;
        m->kind = a->va_kind;
        m->state = a->va_state;
    }
    for (unsigned int i = 0; i < VM_RECENT_FREES; i++)
        if (vs->vs_recent[i].rf_start == va) {
            m->freed_before = true;
            m->freed_pages = vs->vs_recent[i].rf_nr_pages;
            m->freed_kind = vs->vs_recent[i].rf_kind;
        }
}

/* Name what is wrong with fn(addr), which is a release of kind. */
static _Noreturn KMEM_COLD void misuse_report(const char *fn, const void *addr, const void *caller,
                                              enum vm_kind kind, const struct vm_misuse *m)
{
    const struct vm_space *vs = &vm_space;
    uintptr_t va = (uintptr_t)addr;
    if (va - vs->vs_start >= vs->vs_end - vs->vs_start) {
        if (vs->vs_start == vs->vs_end)
            kmem_error(KMERR_INVALID_FREE,
                       "%s(%p) called from %p: not a vmalloc address (this machine has no "
                       "vmalloc range)",
                       fn, addr, caller);
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p) called from %p: not a vmalloc address (the vmalloc range is [%p, %p))",
                   fn, addr, caller, (void *)vs->vs_start, (void *)vs->vs_end);
    }
    unsigned long mapped = m->nr_pages << PAGE_SHIFT;
    const char *what = vm_kind_names[m->kind];
    if (m->has_area && va - m->start < mapped + PAGE_SIZE) {
        if (va - m->start >= mapped)
            kmem_error(KMERR_INVALID_FREE,
                       "%s(%p) called from %p: the address is the guard page after the %s area "
                       "at %p of %lu pages",
                       fn, addr, caller, what, (void *)m->start, m->nr_pages);
        if (va != m->start)
            kmem_error(KMERR_INVALID_FREE,
                       "%s(%p) called from %p: not the start of an area: it lies %#lx bytes into "
                       "the %s area at %p of %lu pages",
                       fn, addr, caller, (unsigned long)(va - m->start), what, (void *)m->start,
                       m->nr_pages);
        if (m->state == VA_DYING)
            kmem_error(KMERR_DOUBLE_FREE,
                       "%s(%p) called from %p: the %s area there (%lu pages) is already being "
                       "freed (freed twice?)",
                       fn, addr, caller, what, m->nr_pages);
        if (m->state == VA_NEW)
            kmem_error(KMERR_INVALID_FREE,
                       "%s(%p) called from %p: the %s area there (%lu pages) is still being set "
                       "up (its address was never returned)",
                       fn, addr, caller, what, m->nr_pages);
        if (kind == VM_KIND_VMALLOC)
            kmem_error(KMERR_MISMATCH,
                       "%s(%p) called from %p: the area there (%lu pages) was made by vmap: "
                       "release it with vunmap",
                       fn, addr, caller, m->nr_pages);
        kmem_error(KMERR_MISMATCH,
                   "%s(%p) called from %p: the area there (%lu pages) was made by vmalloc: free "
                   "it with vfree",
                   fn, addr, caller, m->nr_pages);
    }
    if (m->freed_before)
        kmem_error(KMERR_DOUBLE_FREE,
                   "%s(%p) called from %p: the %s area there (%lu pages) was freed already", fn,
                   addr, caller, vm_kind_names[m->freed_kind], m->freed_pages);
    kmem_error(KMERR_INVALID_FREE,
               "%s(%p) called from %p: no vmalloc area there (the address lies in a free part of "
               "the vmalloc range)",
               fn, addr, caller);
}

/* vfree and vunmap: claim the LIVE area of this kind starting at addr, then
 * unmap it, free its frames if they are vmalloc's, give back its range. */
static void area_release(const void *addr, enum vm_kind kind, const char *fn, const void *caller)
{
    struct vm_space *vs = &vm_space;
    uintptr_t va = (uintptr_t)addr;
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "%s(%p) called from %p before kmem_init", fn, addr, caller);
    kmem_mutex_lock(&vs->vs_lock);
    unsigned long i = area_find_locked(va);
    struct vm_area *a = i < vs->vs_nr_areas ? vs->vs_areas[i] : NULL;
    if (unlikely(!a || a->va_start != va || a->va_state != VA_LIVE || a->va_kind != kind)) {
        struct vm_misuse m;
        misuse_snapshot_locked(va, a, &m);
        kmem_mutex_unlock(&vs->vs_lock);
        misuse_report(fn, addr, caller, kind, &m);
    }
    a->va_state = VA_DYING;
    vs->vs_nr_live--;
    vs->vs_nr_pages -= a->va_nr_pages;
    if (kind == VM_KIND_VMAP)
        vs->vs_nr_vmap--;
    struct vm_recent_free *rf = &vs->vs_recent[vs->vs_recent_next++ % VM_RECENT_FREES];
    rf->rf_start = va;
    rf->rf_nr_pages = a->va_nr_pages;
    rf->rf_kind = (uint8_t)kind;
    kmem_mutex_unlock(&vs->vs_lock);

    platform_unmap(a->va_start, a->va_nr_pages << PAGE_SHIFT);
    if (kind == VM_KIND_VMALLOC)
        area_free_frames(a, a->va_nr_pages);
    range_release(a);
    area_destroy(a);
}

void kmem_vfree_from(const void *addr, const void *caller)
{
    if (addr)
        area_release(addr, VM_KIND_VMALLOC, "vfree", caller);
}

void vfree(const void *addr)
{
    if (addr)
        area_release(addr, VM_KIND_VMALLOC, "vfree", KMEM_RET_ADDR());
}

void vunmap(const void *addr)
{
    if (addr)
        area_release(addr, VM_KIND_VMAP, "vunmap", KMEM_RET_ADDR());
}

/* ---- lookups ---------------------------------------------------------------------- */

bool is_vmalloc_addr(const void *addr)
{
    const struct vm_space *vs = &vm_space;
    return (uintptr_t)addr - vs->vs_start < vs->vs_end - vs->vs_start;
}

struct page *vmalloc_to_page(const void *addr)
{
    struct vm_space *vs = &vm_space;
    uintptr_t va = (uintptr_t)addr;
    if (!is_vmalloc_addr(addr) || !kmem_is_up())
        return NULL;
    struct page *page = NULL;
    kmem_mutex_lock(&vs->vs_lock);
    unsigned long i = area_find_locked(va);
    if (i < vs->vs_nr_areas) {
        const struct vm_area *a = vs->vs_areas[i];
        unsigned long index = (va - a->va_start) >> PAGE_SHIFT;
        if (a->va_state == VA_LIVE && index < a->va_nr_pages)
            page = area_page(a, index);
    }
    kmem_mutex_unlock(&vs->vs_lock);
    return page;
}

bool kmem_vmalloc_info(struct kmem_vmalloc_info *info)
{
    struct vm_space *vs = &vm_space;
    kmem_memset(info, 0, sizeof *info);
    if (!kmem_is_up())
        return false;
    info->start = (void *)vs->vs_start;
    info->range_bytes = vs->vs_end - vs->vs_start;
    kmem_mutex_lock(&vs->vs_lock);
    info->areas = vs->vs_nr_live;
    info->vmap_areas = vs->vs_nr_vmap;
    info->pages = vs->vs_nr_pages;
    info->free_ranges = vs->vs_nr_free;
    for (unsigned long i = 0; i < vs->vs_nr_free; i++) {
        unsigned long bytes = vs->vs_free[i].vr_end - vs->vs_free[i].vr_start;
        info->free_bytes += bytes;
        if (bytes > info->largest_free)
            info->largest_free = bytes;
    }
    kmem_mutex_unlock(&vs->vs_lock);
    info->map_calls = __atomic_load_n(&vs->vs_map_calls, __ATOMIC_RELAXED);
    info->unmap_calls = __atomic_load_n(&vs->vs_unmap_calls, __ATOMIC_RELAXED);
    info->map_failures = __atomic_load_n(&vs->vs_map_failures, __ATOMIC_RELAXED);
    return true;
}

/* ---- kmem_vmalloc_check ------------------------------------------------------------ */

#define VIOLATION(count, ...)                                                                      \
    do {                                                                                           \
        if ((*(count))++ < 20)                                                                     \
            kmem_log("check: " __VA_ARGS__);                                                       \
    } while (0)

/* V1. */
static void check_free_ranges_locked(int *bad)
{
    const struct vm_space *vs = &vm_space;
    for (unsigned long i = 0; i < vs->vs_nr_free; i++) {
        const struct vm_range *r = &vs->vs_free[i];
        if (r->vr_start >= r->vr_end || (r->vr_start | r->vr_end) & ~PAGE_MASK ||
            r->vr_start < vs->vs_start || r->vr_end > vs->vs_end)
            VIOLATION(bad,
                      "vmalloc: free range %lu [%p, %p) is empty, unaligned or outside the "
                      "range",
                      i, (void *)r->vr_start, (void *)r->vr_end);
        if (i > 0 && vs->vs_free[i - 1].vr_end >= r->vr_start)
            VIOLATION(bad, "vmalloc: free range %lu [%p, %p) touches or precedes the one before", i,
                      (void *)r->vr_start, (void *)r->vr_end);
    }
}

/* V5 for one LIVE area. */
static void check_area_pages_locked(const struct vm_area *a, int *bad)
{
    for (unsigned long i = 0; i < a->va_nr_pages;) {
        struct page *head = area_page(a, i);
        if (!pf_page_valid(head)) {
            VIOLATION(bad, "vmalloc: page %lu of the %s area at %p is %p, no page of this machine",
                      i, vm_kind_names[a->va_kind], (void *)a->va_start, (void *)head);
            return;
        }
        if (a->va_kind == VM_KIND_VMAP) {
            i++;
            continue;
        }
        unsigned int order = head->pg_order;
        if (page_state(head) != PS_ALLOC || order > MAX_PAGE_ORDER ||
            (1UL << order) > a->va_nr_pages - i) {
            VIOLATION(bad,
                      "vmalloc: page %lu of the area at %p (pfn %#lx) heads no allocated "
                      "block inside the area",
                      i, (void *)a->va_start, pf_page_to_pfn(head));
            return;
        }
        for (unsigned long j = 1; j < (1UL << order); j++)
            if (area_page(a, i + j) != head + j || page_state(head + j) != PS_TAIL) {
                VIOLATION(bad,
                          "vmalloc: page %lu of the area at %p is not frame %lu of the "
                          "order-%u block at pfn %#lx",
                          i + j, (void *)a->va_start, j, order, pf_page_to_pfn(head));
                return;
            }
        i += 1UL << order;
    }
}

/* V2, V4 and V5. */
static void check_areas_locked(int *bad)
{
    const struct vm_space *vs = &vm_space;
    unsigned long live = 0, vmaps = 0, pages = 0;
    if (vs->vs_nr_areas > vs->vs_capacity || vs->vs_nr_free > vs->vs_nr_areas + 1)
        VIOLATION(bad, "vmalloc: %lu areas and %lu free ranges for a capacity of %lu",
                  vs->vs_nr_areas, vs->vs_nr_free, vs->vs_capacity);
    for (unsigned long i = 0; i < vs->vs_nr_areas; i++) {
        const struct vm_area *a = vs->vs_areas[i];
        if (a->va_start & ~PAGE_MASK || a->va_nr_pages == 0 ||
            a->va_nr_leaves != (a->va_nr_pages + VM_LEAF_PAGES - 1) / VM_LEAF_PAGES ||
            a->va_kind > VM_KIND_VMAP || a->va_state > VA_DYING) {
            VIOLATION(bad, "vmalloc: area %lu at %p (%lu pages) has a bad descriptor", i,
                      (void *)a->va_start, a->va_nr_pages);
            continue;
        }
        if (i > 0 && vs->vs_areas[i - 1]->va_start >= a->va_start)
            VIOLATION(bad, "vmalloc: area %lu at %p is not above the one before", i,
                      (void *)a->va_start);
        for (unsigned long l = 0; l < a->va_nr_leaves; l++)
            if (!a->va_leaf[l])
                VIOLATION(bad, "vmalloc: area at %p has no leaf %lu", (void *)a->va_start, l);
        if (a->va_state != VA_LIVE)
            continue;
        live++;
        vmaps += a->va_kind == VM_KIND_VMAP;
        pages += a->va_nr_pages;
        check_area_pages_locked(a, bad);
    }
    if (live != vs->vs_nr_live || vmaps != vs->vs_nr_vmap || pages != vs->vs_nr_pages)
        VIOLATION(bad,
                  "vmalloc: counts say %lu live areas (%lu vmap) of %lu pages, the areas "
                  "%lu (%lu) of %lu",
                  vs->vs_nr_live, vs->vs_nr_vmap, vs->vs_nr_pages, live, vmaps, pages);
}

/* V3: walk both sorted arrays in address order; each piece must start where
 * the one before ended. */
static void check_tiling_locked(int *bad)
{
    const struct vm_space *vs = &vm_space;
    uintptr_t at = vs->vs_start;
    unsigned long ai = 0, fi = 0;
    while (ai < vs->vs_nr_areas || fi < vs->vs_nr_free) {
        if (ai < vs->vs_nr_areas && vs->vs_areas[ai]->va_start == at) {
            at += area_reserved_bytes(vs->vs_areas[ai++]);
        } else if (fi < vs->vs_nr_free && vs->vs_free[fi].vr_start == at) {
            at = vs->vs_free[fi++].vr_end;
        } else {
            VIOLATION(bad,
                      "vmalloc: nothing starts at %p, where the piece before ends (a gap or "
                      "an overlap)",
                      (void *)at);
            return;
        }
    }
    if (at != vs->vs_end)
        VIOLATION(bad, "vmalloc: areas and free ranges end at %p, the range at %p", (void *)at,
                  (void *)vs->vs_end);
}

int kmem_vmalloc_check(void)
{
    struct vm_space *vs = &vm_space;
    int bad = 0;
    if (!kmem_is_up())
        return 0;
    kmem_mutex_lock(&vs->vs_lock);
    check_free_ranges_locked(&bad);
    check_areas_locked(&bad);
    check_tiling_locked(&bad);
    kmem_mutex_unlock(&vs->vs_lock);
    return bad;
}

/* ---- boot and shutdown -------------------------------------------------------------- */

bool kmem_vmalloc_boot(const struct kmem_machine_desc *desc, unsigned long nr_pfns)
{
    struct vm_space *vs = &vm_space;
    kmem_memset(vs, 0, sizeof *vs);
    kmem_mutex_init(&vs->vs_lock);
    vs->vs_areas = vm_boot_areas;
    vs->vs_free = vm_boot_free;
    vs->vs_capacity = VM_BOOT_CAPACITY;
    if (desc->vmalloc_size == 0)
        return true; /* no vmalloc on this machine */
    uintptr_t start = (uintptr_t)desc->vmalloc_start;
    uintptr_t end = start + desc->vmalloc_size;
    uintptr_t direct = (uintptr_t)desc->direct_map;
    uintptr_t direct_end = direct + (nr_pfns << PAGE_SHIFT);
    if ((start | desc->vmalloc_size) & ~PAGE_MASK || end <= start ||
        (start < direct_end && direct < end))
        return false;
    vs->vs_start = start;
    vs->vs_end = end;
    vs->vs_free[0].vr_start = start;
    vs->vs_free[0].vr_end = end;
    vs->vs_nr_free = 1;
    return true;
}

void kmem_vmalloc_shutdown(void)
{
    struct vm_space *vs = &vm_space;
    /* The memory of the frames, the descriptors and the arrays goes away
     * with the machine; the mappings are the host's and must not outlive it. */
    for (unsigned long i = 0; i < vs->vs_nr_areas; i++)
        platform_unmap(vs->vs_areas[i]->va_start, vs->vs_areas[i]->va_nr_pages << PAGE_SHIFT);
    kmem_memset(vs, 0, sizeof *vs);
}

void kmem_vmalloc_fork_lock(bool lock)
{
    if (lock)
        kmem_mutex_lock(&vm_space.vs_lock);
    else
        kmem_mutex_unlock(&vm_space.vs_lock);
}
