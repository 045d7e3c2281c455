/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - the user-level malloc on kmem's layers (libkmem-malloc.so).
 *
 * Three ranges of sizes, three layers:
 *   small  0 .. 16 KiB     36 slab caches, four classes per doubling (16, 32,
 *                          48, ..., 128, then 160, 192, 224, 256, 320, ...),
 *                          so a request wastes at most a quarter and on
 *                          average about an eighth. The fast path is the
 *                          object caches' magazine pop (cache_fast.h) through
 *                          a table of per-CPU slot offsets, as kmalloc's.
 *   mid    .. 4 MiB        one buddy block (kmalloc's large path), naturally
 *                          aligned, pages touched only as used.
 *   huge   above           an area of its own mapped from the host, with a
 *                          guard page after it, listed in a hash table.
 *
 * The machine (machine.c) is private anonymous memory that grows by memory
 * sections through kmem_memory_add when the buddy system runs out, so the
 * heap survives fork like any other.
 *
 * free finds everything from the address: a slab page names its cache, a
 * block head its order (both checked exactly as kfree checks them); any other
 * address must be a huge area's, or it is reported and the program stopped.
 *
 * Choices where C and POSIX leave room (glibc's, so that programs see no
 * difference): malloc(0) is a unique 16-byte object; realloc(p, 0) frees p
 * and returns NULL; aligned_alloc with an alignment that is not a power of
 * two fails with EINVAL (C17 and glibc 2.38); memalign rounds such an
 * alignment up.
 *
 * Sized free (C23's free_sized and free_aligned_sized) checks the size it is
 * given against the block, cheaply: a size the block cannot have been asked
 * for (more than it holds, or, above 256 bytes, less than half of it, which
 * is the least realloc keeps in place) is a "size mismatch" report.
 *
 * KMEM_MALLOC_HARDENED=1 (hardened.c) sends every call to the slow paths
 * below, which hand it to hardened.c; the fast paths are the same code in
 * both modes.
 *
 * KMEM_TRACE=FILE (trace_record.c) does the same: the classes lose their
 * magazines, so every malloc and free reaches malloc_slow and free_slow,
 * which record the call (an allocation after it is made, a free before the
 * block is given back); calloc and realloc, which are made of a malloc and
 * a free, are recorded whole by their own slow paths (calloc_slow,
 * realloc_traced) on top of the untraced pieces (alloc_raw, free_raw).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <kmem/kmalloc.h>
#include <kmem/malloc.h>
#include <kmem/page.h>

#include "../core/cache_fast.h"
#include "../core/zone.h"
#include "../internal/fmt.h"
#include "../internal/report.h"
#include "malloc_internal.h"
#include "trace_record.h"
#include "../core/magazine.h"

/* ---- size classes ---------------------------------------------------------------- */

enum {
    NR_CLASSES = 36,
    SMALL_MAX = 16384,                     /* the largest class */
    MID_MAX = PAGE_SIZE << MAX_PAGE_ORDER, /* the largest buddy block */
    MIN_ALIGN = 16,
};

static struct kmem_cache classes[NR_CLASSES];
static unsigned int class_size[NR_CLASSES];
static char class_names[NR_CLASSES][16];

/* Per-CPU slot offsets of the classes' caches; the sentinel slot's (whose
 * pop fails) until the machine is up, so the first malloc takes the slow
 * path. */
static uint16_t class_slot[NR_CLASSES] = {[0 ... NR_CLASSES - 1] = KMEM_CPU_SLOT_OFF(0)};

/* The same for sizes 0..1024 by (size + 15) / 16, so that the common sizes
 * find their slot with one shift and one load, as kmalloc's do. */
enum { FAST_MAX = 1024 };
static uint16_t small_slot[FAST_MAX / 16 + 1] = {[0 ... FAST_MAX / 16] = KMEM_CPU_SLOT_OFF(0)};

/* Sizes 0..128 by (size + 15) / 16; above, four classes per doubling. */
/* The classes are made, and neither hardened nor traced: calloc and realloc
 * take their direct paths (else calloc_slow and realloc_slow). */
static bool plain_calls;

static KMEM_ALWAYS_INLINE unsigned int size_class(size_t size)
{
    if (size <= 128)
        return size ? (unsigned int)((size - 1) >> 4) : 0;
    size_t s = size - 1;
    unsigned int e = (unsigned int)(sizeof(long) * 8 - 1) - (unsigned int)__builtin_clzl(s);
    return 8 + (e - 7) * 4 + (unsigned int)((s >> (e - 2)) & 3);
}

static void classes_init(bool tracing)
{
    for (unsigned int i = 0; i < NR_CLASSES; i++) {
        unsigned int size;
        if (i < 8) {
            size = 16 * (i + 1);
        } else {
            unsigned int e = 7 + (i - 8) / 4, sub = (i - 8) % 4;
            size = (1u << e) + (sub + 1) * (1u << (e - 2));
        }
        class_size[i] = size;
        /* Powers of two are naturally aligned, so memalign can use them. */
        unsigned int align = (size & (size - 1)) ? MIN_ALIGN : size;
        kmem_snprintf(class_names[i], sizeof class_names[i], "malloc-%u", size);
        kmem_cache_setup_static(&classes[i], class_names[i], size, align, SLAB_TIGHT_PACK,
                                !kmem_malloc_hardened);
        /* Traced: the cache gives up its id and slot, as one that ran out
         * of ids (it works from its slabs only; a KMEM_DEBUG of it still
         * applies). */
        if (tracing)
            kmem_magazine_cache_fini(&classes[i]);
    }
    /* Hardened or traced: no magazines, and the slot tables stay on the
     * sentinel, so that every malloc and free fails its fast path and
     * reaches hardened.c or the recorder through the slow paths. */
    plain_calls = !kmem_malloc_hardened && !tracing;
    if (!plain_calls)
        return;
    for (unsigned int i = 0; i < NR_CLASSES; i++)
        __atomic_store_n(&class_slot[i], (uint16_t)classes[i].c_cpu_off, __ATOMIC_RELEASE);
    for (size_t size = 0; size <= FAST_MAX; size += 16)
        __atomic_store_n(&small_slot[size / 16], class_slot[size_class(size)], __ATOMIC_RELEASE);
}

/* The class for want bytes aligned to align (<= SMALL_MAX), for hardened.c,
 * which asks for room after the request; NULL if want is above every class. */
struct kmem_cache *kmem_malloc_class_for(size_t want, size_t align, unsigned int *index)
{
    if (want > SMALL_MAX || align > SMALL_MAX)
        return NULL;
    unsigned int ci = size_class(want > align ? want : align);
    if (align > MIN_ALIGN)
        while (class_size[ci] & (class_size[ci] - 1))
            ci++;
    *index = ci;
    return &classes[ci];
}

struct kmem_cache *kmem_malloc_class(unsigned int index)
{
    return &classes[index];
}

int kmem_malloc_class_index(const struct kmem_cache *c)
{
    if (c < classes || c >= classes + NR_CLASSES)
        return -1;
    return (int)(c - classes);
}

/* ---- huge areas ---------------------------------------------------------------------- */

/* An open-addressing table of the live huge areas (struct huge_area,
 * malloc_internal.h), keyed by their address, in memory mapped for it
 * (never from the malloc itself). */

/* Freed huge areas kept mapped for reuse (HUGE_CACHE at most, together no
 * more than the larger of 64 MiB and half the live huge bytes; the newest
 * frees push the oldest out): a program
 * that frees and allocates blocks of tens of MiB gets its pages back without
 * faulting them in again, as glibc's raised mmap threshold gives them. */
enum { HUGE_CACHE = 8 };
#define HUGE_CACHE_MIN ((size_t)64 << 20)

static struct {
    struct kmem_mutex lock;
    struct huge_area *slots;
    size_t cap; /* a power of two, or 0 */
    size_t used, live;
    size_t bytes;
    struct {
        uintptr_t addr; /* 0: empty */
        size_t usable;
        unsigned long seq; /* when it was freed */
    } cache[HUGE_CACHE];
    size_t cached_bytes;
    unsigned long seq;
} huge;

/* Cached areas a free pushed out, to unmap without the lock. */
struct huge_evicted {
    unsigned int n;
    uintptr_t addr[HUGE_CACHE];
    size_t len[HUGE_CACHE];
};

static inline size_t huge_hash(uintptr_t addr, size_t cap)
{
    return (size_t)((addr >> PAGE_SHIFT) * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
}

static bool huge_table_grow_locked(void)
{
    size_t cap = huge.cap ? 2 * huge.cap : 256;
    struct huge_area *slots =
        mmap(NULL, cap * sizeof *slots, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED)
        return false;
    for (size_t i = 0; i < huge.cap; i++) {
        struct huge_area *a = &huge.slots[i];
        if (a->ha_addr <= 1)
            continue;
        size_t j = huge_hash(a->ha_addr, cap);
        while (slots[j].ha_addr)
            j = (j + 1) & (cap - 1);
        slots[j] = *a;
    }
    if (huge.slots)
        munmap(huge.slots, huge.cap * sizeof *huge.slots);
    huge.slots = slots;
    huge.cap = cap;
    huge.used = huge.live;
    return true;
}

static struct huge_area *huge_find_locked(uintptr_t addr)
{
    if (!huge.cap)
        return NULL;
    for (size_t j = huge_hash(addr, huge.cap);; j = (j + 1) & (huge.cap - 1)) {
        if (huge.slots[j].ha_addr == addr)
            return &huge.slots[j];
        if (huge.slots[j].ha_addr == 0)
            return NULL;
    }
}

/* List the area a (its mapping, guard page included, is [ha_base, ha_base +
 * ha_len)). false: no memory for a bigger table. */
static bool huge_list_locked(const struct huge_area *a)
{
    if ((huge.used + 1) * 4 > huge.cap * 3 && !huge_table_grow_locked())
        return false;
    size_t j = huge_hash(a->ha_addr, huge.cap);
    while (huge.slots[j].ha_addr > 1)
        j = (j + 1) & (huge.cap - 1);
    huge.used += huge.slots[j].ha_addr == 0;
    huge.slots[j] = *a;
    huge.live++;
    huge.bytes += a->ha_usable;
    return true;
}

/* List the area [addr, addr + usable) with its guard page. */
static bool huge_insert_locked(uintptr_t addr, size_t usable)
{
    struct huge_area a = {addr, addr, usable + PAGE_SIZE, usable};
    return huge_list_locked(&a);
}

/* hardened.c's large blocks live in the same table, with ha_usable the
 * size asked for. */
bool kmem_malloc_huge_list(const struct huge_area *a)
{
    kmem_mutex_lock(&huge.lock);
    bool ok = huge_list_locked(a);
    kmem_mutex_unlock(&huge.lock);
    return ok;
}

bool kmem_malloc_huge_lookup(uintptr_t addr, struct huge_area *out)
{
    kmem_mutex_lock(&huge.lock);
    struct huge_area *a = huge_find_locked(addr);
    if (a)
        *out = *a;
    kmem_mutex_unlock(&huge.lock);
    return a != NULL;
}

bool kmem_malloc_huge_unlist(uintptr_t addr, struct huge_area *out)
{
    kmem_mutex_lock(&huge.lock);
    struct huge_area *a = huge_find_locked(addr);
    if (a) {
        *out = *a;
        a->ha_addr = 1; /* deleted */
        huge.live--;
        huge.bytes -= out->ha_usable;
    }
    kmem_mutex_unlock(&huge.lock);
    return a != NULL;
}

/* Resize the mapped area [addr, addr + old) and its guard page to usable
 * bytes: the guard is unmapped, mremap grows (fresh zero pages) or shrinks
 * it, in place or moved, and the guard is made at the new end. The new
 * address, or 0 (the area is then unchanged, its guard page made again
 * unless another mapping took the place). */
static uintptr_t area_resize(uintptr_t addr, size_t old, size_t usable)
{
    munmap((void *)(addr + old), PAGE_SIZE);
    void *n = mremap((void *)addr, old, usable + PAGE_SIZE, MREMAP_MAYMOVE);
    if (n == MAP_FAILED) {
        mmap((void *)(addr + old), PAGE_SIZE, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        return 0;
    }
    mprotect((char *)n + usable, PAGE_SIZE, PROT_NONE);
    return (uintptr_t)n;
}

/* A cached area for *usable bytes; 0 if none. One at most twice as large is
 * taken whole (*usable grows to its size: its pages are resident, and
 * shrinking it would only fault them in again when a larger request takes it
 * next); others are resized to *usable.
 * *dirty_bytes: how much of it holds old contents. */
static uintptr_t huge_cache_take(size_t *usable_inout, size_t *dirty_bytes)
{
    size_t usable = *usable_inout;
    kmem_mutex_lock(&huge.lock);
    /* The smallest area that is large enough, else the largest (which needs
     * the fewest new pages). */
    int best = -1;
    for (int i = 0; i < HUGE_CACHE; i++) {
        if (!huge.cache[i].addr)
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        size_t u = huge.cache[i].usable, b = huge.cache[best].usable;
        bool fits = u >= usable, best_fits = b >= usable;
        if (fits ? !best_fits || u < b : !best_fits && u > b)
            best = i;
    }
    uintptr_t addr = 0;
    size_t old = 0;
    if (best >= 0) {
        addr = huge.cache[best].addr;
        old = huge.cache[best].usable;
        huge.cache[best].addr = 0;
        huge.cached_bytes -= old;
    }
    kmem_mutex_unlock(&huge.lock);
    if (!addr)
        return 0;
    if (old >= usable && old - usable <= usable) {
        *usable_inout = old;
        *dirty_bytes = old;
        return addr;
    }
    *dirty_bytes = old < usable ? old : usable;
    uintptr_t n = area_resize(addr, old, usable);
    if (!n)
        munmap((void *)addr, old + PAGE_SIZE);
    return n;
}

/* Keep the freed area [addr, addr + usable) (and its guard) for reuse. The
 * newest frees are the likeliest to be asked for again: older areas make
 * room (up to HUGE_CACHE of them go to evicted[], for the caller to unmap
 * once the lock is dropped). false: it alone is over the budget, or no room
 * was made; the caller unmaps it. */
static bool huge_cache_put_locked(uintptr_t addr, size_t usable, struct huge_evicted *evicted)
{
    size_t budget = huge.bytes / 2 > HUGE_CACHE_MIN ? huge.bytes / 2 : HUGE_CACHE_MIN;
    if (usable > budget)
        return false;
    for (;;) {
        int free_slot = -1, oldest = -1;
        for (int i = 0; i < HUGE_CACHE; i++) {
            if (!huge.cache[i].addr)
                free_slot = free_slot < 0 ? i : free_slot;
            else if (oldest < 0 || huge.cache[i].seq < huge.cache[oldest].seq)
                oldest = i;
        }
        if (free_slot >= 0 && huge.cached_bytes + usable <= budget) {
            huge.cache[free_slot].addr = addr;
            huge.cache[free_slot].usable = usable;
            huge.cache[free_slot].seq = ++huge.seq;
            huge.cached_bytes += usable;
            return true;
        }
        if (oldest < 0)
            return false;
        evicted->addr[evicted->n] = huge.cache[oldest].addr;
        evicted->len[evicted->n++] = huge.cache[oldest].usable + PAGE_SIZE;
        huge.cached_bytes -= huge.cache[oldest].usable;
        huge.cache[oldest].addr = 0;
    }
}

/* A huge area of size bytes aligned to align (a power of two >= a page),
 * zeroed if zero. */
static KMEM_NOINLINE void *huge_alloc(size_t size, size_t align, bool zero)
{
    size_t usable = (size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
    if (usable >= size && align <= PAGE_SIZE) {
        size_t dirty = 0;
        uintptr_t addr = huge_cache_take(&usable, &dirty);
        if (addr) {
            if (zero) /* calloc: the request's bytes; the rest is fresh or not asked for */
                memset((void *)addr, 0, dirty < size ? dirty : size);
            kmem_mutex_lock(&huge.lock);
            bool listed = huge_insert_locked(addr, usable);
            kmem_mutex_unlock(&huge.lock);
            if (listed)
                return (void *)addr;
            munmap((void *)addr, usable + PAGE_SIZE);
            return NULL;
        }
    }
    size_t slack = align > PAGE_SIZE ? align - PAGE_SIZE : 0;
    size_t len = usable + PAGE_SIZE + slack; /* + the guard page */
    if (usable < size || len < usable)
        return NULL;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    uintptr_t addr = ((uintptr_t)base + align - 1) & ~(uintptr_t)(align - 1);
    /* Trim what the alignment did not need; the guard page follows usable. */
    if (addr > (uintptr_t)base)
        munmap(base, addr - (uintptr_t)base);
    uintptr_t end = addr + usable + PAGE_SIZE;
    if (end < (uintptr_t)base + len)
        munmap((void *)end, (uintptr_t)base + len - end);
    mprotect((void *)(addr + usable), PAGE_SIZE, PROT_NONE);
    kmem_mutex_lock(&huge.lock);
    bool listed = huge_insert_locked(addr, usable);
    kmem_mutex_unlock(&huge.lock);
    if (!listed) {
        munmap((void *)addr, usable + PAGE_SIZE);
        return NULL;
    }
    return (void *)addr;
}

/* Grow the huge area at p to size bytes with mremap: the kernel moves page
 * tables, not bytes, and may grow it in place. The guard page is unmapped
 * first (mremap takes one mapping) and made again at the new end. false:
 * p is no huge area or the host refused; p is then unchanged. */
static bool huge_grow(void *p, size_t size, void **out)
{
    size_t usable = (size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
    if (usable < size || usable + PAGE_SIZE < usable)
        return false;
    kmem_mutex_lock(&huge.lock);
    struct huge_area *a = huge_find_locked((uintptr_t)p);
    size_t old = a ? a->ha_usable : 0;
    kmem_mutex_unlock(&huge.lock);
    if (!a || usable <= old)
        return false;
    char *n = (char *)area_resize((uintptr_t)p, old, usable);
    if (!n)
        return false;
    kmem_mutex_lock(&huge.lock);
    a = huge_find_locked((uintptr_t)p);
    a->ha_addr = 1; /* deleted; the entry below replaces it */
    huge.live--;
    huge.bytes -= old;
    if (!huge_insert_locked((uintptr_t)n, usable)) {
        /* No room in the table (the host refused a bigger one): the area
         * cannot be listed, so it cannot be kept. */
        kmem_mutex_unlock(&huge.lock);
        munmap(n, usable + PAGE_SIZE);
        kmem_error(KMERR_CORRUPTION, "realloc(%p, %zu): no memory to list the moved area", p, size);
    }
    kmem_mutex_unlock(&huge.lock);
    *out = n;
    return true;
}

/* Remove the huge area at p; false if there is none. */
static bool huge_free(const void *p)
{
    kmem_mutex_lock(&huge.lock);
    struct huge_area *a = huge_find_locked((uintptr_t)p);
    if (!a) {
        kmem_mutex_unlock(&huge.lock);
        return false;
    }
    struct huge_area copy = *a;
    a->ha_addr = 1; /* deleted */
    huge.live--;
    huge.bytes -= copy.ha_usable;
    struct huge_evicted evicted = {0, {0}, {0}};
    bool kept = copy.ha_base == copy.ha_addr &&
                huge_cache_put_locked(copy.ha_addr, copy.ha_usable, &evicted);
    kmem_mutex_unlock(&huge.lock);
    for (unsigned int i = 0; i < evicted.n; i++)
        munmap((void *)evicted.addr[i], evicted.len[i]);
    if (!kept)
        munmap((void *)copy.ha_base, copy.ha_len);
    return true;
}

static size_t huge_usable(const void *p)
{
    kmem_mutex_lock(&huge.lock);
    struct huge_area *a = huge_find_locked((uintptr_t)p);
    size_t n = a ? a->ha_usable : 0;
    kmem_mutex_unlock(&huge.lock);
    return n;
}

void kmem_malloc_huge_fork_lock(bool lock)
{
    if (lock)
        kmem_mutex_lock(&huge.lock);
    else
        kmem_mutex_unlock(&huge.lock);
}

void kmem_malloc_huge_info(size_t *bytes, unsigned long *areas, size_t *cached)
{
    kmem_mutex_lock(&huge.lock);
    *bytes = huge.bytes;
    *areas = huge.live;
    *cached = huge.cached_bytes;
    kmem_mutex_unlock(&huge.lock);
}

/* ---- allocation ------------------------------------------------------------------------ */

/* The allocation itself, on a machine that is up, unrecorded: a class, a
 * block or a huge area (or hardened.c's); NULL with errno ENOMEM. */
static void *alloc_raw(size_t size, size_t align)
{
    if (unlikely(kmem_malloc_hardened))
        return kmem_hardened_malloc(size, align, false);
    if (size > (size_t)PTRDIFF_MAX)
        goto nomem;
    void *p;
    if (size <= SMALL_MAX && align <= SMALL_MAX) {
        size_t want = size > align ? size : align;
        unsigned int ci = size_class(want);
        /* An alignment above 16 needs a naturally aligned (power of two)
         * class. */
        if (align > MIN_ALIGN)
            while (class_size[ci] & (class_size[ci] - 1))
                ci++;
        p = kmem_cache_alloc(&classes[ci], GFP_KERNEL);
    } else if (size <= MID_MAX && align <= MID_MAX) {
        size_t want = size > align ? size : align;
        p = kmalloc(want, GFP_KERNEL); /* above 16 KiB: always a block */
    } else {
        p = huge_alloc(size, align > PAGE_SIZE ? align : PAGE_SIZE, false);
    }
    if (p)
        return p;
nomem:
    errno = ENOMEM;
    return NULL;
}

static KMEM_NOINLINE void *malloc_slow(size_t size, size_t align)
{
    if (unlikely(!kmem_malloc_machine_up())) {
        if (!kmem_malloc_machine_start())
            return kmem_malloc_bootstrap(size, align);
    }
    void *p = alloc_raw(size, align);
    if (unlikely(kmem_malloc_tracing) && p)
        kmem_malloc_trace_alloc(p, size, align);
    return p;
}

void *kmem_malloc(size_t size)
{
    if (likely(size <= FAST_MAX)) {
        void *obj =
            cache_pop_unmark(__atomic_load_n(&small_slot[(size + 15) >> 4], __ATOMIC_RELAXED));
        if (likely(obj))
            return obj;
    } else if (likely(size <= SMALL_MAX)) {
        void *obj =
            cache_pop_unmark(__atomic_load_n(&class_slot[size_class(size)], __ATOMIC_RELAXED));
        if (likely(obj))
            return obj;
    }
    return malloc_slow(size, MIN_ALIGN);
}

/* ---- free ---------------------------------------------------------------------------------- */

/* The free itself, unrecorded, of p (not NULL, not the bootstrap's). */
static void free_raw(void *p, const char *fn, const void *caller)
{
    if (unlikely(kmem_malloc_hardened)) {
        kmem_hardened_free(p, fn, caller);
        return;
    }
    if (kmem_malloc_machine_up() && pf_virt_valid(p)) {
        kmem_kfree_named(p, fn, caller);
        return;
    }
    if (huge_free(p))
        return;
    kmem_error(KMERR_INVALID_FREE, "%s(%p) called from %p: not an address this malloc handed out",
               fn, p, caller);
}

static KMEM_NOINLINE void free_slow(void *p, const char *fn, const void *caller)
{
    if (!p)
        return;
    if (kmem_malloc_bootstrap_owns(p))
        return; /* the few bytes handed out while the machine started */
    if (unlikely(kmem_malloc_tracing))
        kmem_malloc_trace_free(p); /* before the block can be handed out again */
    free_raw(p, fn, caller);
}

void kmem_free(void *p)
{
    if (likely(slab_object_free_fast(p)))
        return;
    free_slow(p, "free", KMEM_RET_ADDR());
}

/* ---- sized free ---------------------------------------------------------------------------- */

/* "free_sized(p, size)" or "free_aligned_sized(p, alignment, size)", for
 * reports (hardened.c's too). */
void kmem_malloc_sized_call(char *buf, size_t len, const void *p, size_t size, size_t align,
                            bool aligned)
{
    if (aligned)
        kmem_snprintf(buf, len, "free_aligned_sized(%p, %zu, %zu)", p, align, size);
    else
        kmem_snprintf(buf, len, "free_sized(%p, %zu)", p, size);
}

/* Could a block that holds usable bytes have been asked for with want
 * bytes? Not if it holds fewer; nor, above 256 bytes, if want is under half
 * of it: malloc picks the smallest class or block that holds the request
 * (each at most twice the one below), and realloc keeps a block in place
 * only for a size at least half of it (any size for classes up to 256). */
static KMEM_ALWAYS_INLINE bool size_fits(size_t want, size_t usable)
{
    return want <= usable && (usable <= 256 || want >= usable / 2);
}

/* "free_sized(p, size) called from caller: the size is not the object's:
 * an object of 64 bytes in cache malloc-64". */
static KMEM_COLD _Noreturn void size_mismatch(const char *call, const void *caller,
                                              const char *what, size_t bytes, const char *cache)
{
    kmem_error(KMERR_SIZE_MISMATCH,
               "%s called from %p: the size is not the %s's: a%s %s of %zu bytes%s%s", call, caller,
               what, what[0] == 'o' || what[0] == 'a' ? "n" : "", what, bytes,
               cache ? " in cache " : "", cache ? cache : "");
}

/* Everything the sized frees' fast path did not push: the checks that name
 * what is wrong, then the free. align is free_aligned_sized's alignment
 * (aligned: called as free_aligned_sized). */
static KMEM_NOINLINE void free_sized_slow(void *p, size_t size, size_t align, bool aligned,
                                          const void *caller)
{
    if (!p || kmem_malloc_bootstrap_owns(p))
        return;
    if (unlikely(kmem_malloc_tracing))
        kmem_malloc_trace_free(p);
    if (unlikely(kmem_malloc_hardened)) {
        kmem_hardened_free_sized(p, size, align, aligned, caller);
        return;
    }
    const char *fn = aligned ? "free_aligned_sized" : "free_sized";
    char call[96];
    kmem_malloc_sized_call(call, sizeof call, p, size, align, aligned);
    if (aligned && (align == 0 || (align & (align - 1)) || ((uintptr_t)p & (align - 1))))
        kmem_error(KMERR_SIZE_MISMATCH, "%s called from %p: the block is not aligned to %zu bytes",
                   call, caller, align);
    /* A slab object's or buddy block's want is what malloc sized it by; a
     * huge area's alignment is trimmed off its mapping, so only its size
     * counts. */
    size_t want = size > align ? size : align;
    if (kmem_malloc_machine_up() && pf_virt_valid(p)) {
        struct slab *slab = kmem_obj_slab(p);
        struct page *page = pf_virt_to_page(p);
        if (slab && kmem_malloc_class_index(slab->sl_cache) >= 0) {
            const struct kmem_cache *c = slab->sl_cache;
            uintptr_t off = (uintptr_t)p - (uintptr_t)slab->sl_objs;
            if ((const char *)p >= slab->sl_objs && off % c->c_size == 0 &&
                off / c->c_size < c->c_objs_per_slab && !size_fits(want, c->c_object_size))
                size_mismatch(call, caller, "object", c->c_object_size, c->c_name);
        } else if (!slab && page->pg_owner == PG_OWNER_KMALLOC && page_state(page) == PS_ALLOC &&
                   pf_page_address(page) == p &&
                   !size_fits(want, (size_t)PAGE_SIZE << page->pg_order)) {
            size_mismatch(call, caller, "block", (size_t)PAGE_SIZE << page->pg_order, NULL);
        }
        kmem_kfree_named(p, fn, caller); /* names anything else that is wrong */
        return;
    }
    size_t usable = huge_usable(p);
    /* A huge area holds the request rounded to pages, or a cached area up
     * to twice that (huge_cache_take), or what realloc kept in place. */
    if (usable && (size > usable || 2 * (size + PAGE_SIZE) < usable))
        size_mismatch(call, caller, "area", usable, NULL);
    if (usable && huge_free(p))
        return;
    kmem_error(KMERR_INVALID_FREE, "%s(%p) called from %p: not an address this malloc handed out",
               fn, p, caller);
}

/* The fast path is free's, with the size checked against the object's
 * class on the way (a few instructions more). */
static KMEM_ALWAYS_INLINE bool free_sized_fast(void *p, size_t want)
{
    if (likely(pf_virt_valid(p))) {
        const struct page *page = pf_virt_to_page(p);
        uintptr_t off = (uintptr_t)p - page->pg_private;
        if (likely(off < page->pg_u32)) {
            const struct kmem_cache *c = page->pg_owner_p1;
            return likely((uint64_t)off * c->c_div_magic <= c->c_div_limit) &&
                   likely(size_fits(want, c->c_object_size)) && likely(cache_push(c, p));
        }
    }
    return false;
}

void kmem_free_sized(void *p, size_t size)
{
    if (likely(free_sized_fast(p, size)))
        return;
    free_sized_slow(p, size, 0, false, KMEM_RET_ADDR());
}

void kmem_free_aligned_sized(void *p, size_t alignment, size_t size)
{
    /* Up to 16 bytes every class is aligned, and the check is free_sized's;
     * a larger alignment chose a power-of-two class or a block (rarer: the
     * slow path knows them), and a misaligned p is a mismatch it names. */
    if (likely(!((uintptr_t)p & (alignment - 1))) && alignment <= MIN_ALIGN &&
        likely(free_sized_fast(p, size > alignment ? size : alignment)))
        return;
    free_sized_slow(p, size, alignment, true, KMEM_RET_ADDR());
}

/* ---- the rest of the family ------------------------------------------------------------------ */

size_t kmem_malloc_usable_size(void *p)
{
    if (!p)
        return 0;
    if (kmem_malloc_bootstrap_owns(p))
        return kmem_malloc_bootstrap_size(p);
    if (unlikely(kmem_malloc_hardened))
        return kmem_hardened_usable_size(p, KMEM_RET_ADDR());
    if (kmem_malloc_machine_up() && pf_virt_valid(p))
        return kmem_ksize_named(p, "malloc_usable_size", KMEM_RET_ADDR());
    size_t n = huge_usable(p);
    if (!n)
        kmem_error(KMERR_INVALID_FREE,
                   "malloc_usable_size(%p) called from %p: not an address this malloc handed out",
                   p, KMEM_RET_ADDR());
    return n;
}

/* calloc's bytes zeroed, unrecorded, on a machine that is up. */
static void *calloc_raw(size_t bytes)
{
    if (unlikely(kmem_malloc_hardened))
        return kmem_hardened_malloc(bytes, MIN_ALIGN, true);
    if (bytes > MID_MAX && bytes <= (size_t)PTRDIFF_MAX) {
        void *p = huge_alloc(bytes, PAGE_SIZE, true);
        if (!p)
            errno = ENOMEM;
        return p;
    }
    void *p = alloc_raw(bytes, MIN_ALIGN);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* Before the machine is up (start it, or serve the booting thread from the
 * bootstrap, which is never reused and so still zero), hardened, or traced:
 * a calloc is recorded as one, not as the malloc it is made of. */
static KMEM_NOINLINE void *calloc_slow(size_t n, size_t size, size_t bytes)
{
    if (!kmem_malloc_machine_up() && !kmem_malloc_machine_start())
        return kmem_malloc_bootstrap(bytes, MIN_ALIGN);
    void *p = calloc_raw(bytes);
    if (unlikely(kmem_malloc_tracing) && p)
        kmem_malloc_trace_calloc(p, n, size);
    return p;
}

void *kmem_calloc(size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    if (unlikely(!plain_calls))
        return calloc_slow(n, size, bytes);
    if (bytes > MID_MAX && bytes <= (size_t)PTRDIFF_MAX) {
        /* A huge area: only what a reused one held needs zeroing. */
        void *p = huge_alloc(bytes, PAGE_SIZE, true);
        if (!p)
            errno = ENOMEM;
        return p;
    }
    void *p = kmem_malloc(bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* realloc when traced (T1 of trace_record.c): the new block is recorded
 * before the old one is given back; mremap and the hardened realloc, which
 * do both in one step, run under the recorder's lock. */
static KMEM_NOINLINE void *realloc_traced(void *p, size_t size, const void *caller)
{
    if (p && kmem_malloc_bootstrap_owns(p)) {
        /* Never recorded: the new block is a plain allocation. */
        if (size == 0)
            return NULL;
        void *n = alloc_raw(size, MIN_ALIGN);
        if (n) {
            size_t old = kmem_malloc_bootstrap_size(p);
            memcpy(n, p, size < old ? size : old);
            kmem_malloc_trace_alloc(n, size, MIN_ALIGN);
        }
        return n;
    }
    if (unlikely(kmem_malloc_hardened)) {
        kmem_malloc_trace_lock();
        void *n = kmem_hardened_realloc(p, size, caller);
        if (n || (p && size == 0))
            kmem_malloc_trace_realloc_locked(p, n, size);
        kmem_malloc_trace_unlock();
        return n;
    }
    if (!p) {
        void *n = alloc_raw(size, MIN_ALIGN);
        if (n)
            kmem_malloc_trace_realloc(NULL, n, size);
        return n;
    }
    if (size == 0) {
        kmem_malloc_trace_realloc(p, NULL, 0);
        free_raw(p, "realloc", caller);
        return NULL;
    }
    size_t old = kmem_malloc_usable_size(p);
    void *n = p;
    if (size <= old && (old <= 256 || size >= old / 2)) {
        kmem_malloc_trace_realloc(p, p, size);
        return p;
    }
    if (size > MID_MAX && old > MID_MAX && size > old) {
        kmem_malloc_trace_lock();
        bool grown = huge_grow(p, size, &n);
        if (grown)
            kmem_malloc_trace_realloc_locked(p, n, size);
        kmem_malloc_trace_unlock();
        if (grown)
            return n;
    }
    n = alloc_raw(size, MIN_ALIGN);
    if (!n)
        return NULL;
    memcpy(n, p, size < old ? size : old);
    kmem_malloc_trace_realloc(p, n, size);
    free_raw(p, "realloc", caller);
    return n;
}

/* realloc's direct path (and its path before the machine is up). */
static KMEM_ALWAYS_INLINE void *realloc_plain(void *p, size_t size)
{
    if (!p)
        return kmem_malloc(size);
    if (size == 0) {
        kmem_free(p);
        return NULL;
    }
    size_t old = kmem_malloc_usable_size(p);
    /* Stay in place when it fits and no more than half would be wasted
     * (small blocks always stay when they fit). */
    if (size <= old && (old <= 256 || size >= old / 2))
        return p;
    void *n;
    if (size > MID_MAX && old > MID_MAX && size > old && huge_grow(p, size, &n))
        return n;
    n = kmem_malloc(size);
    if (!n)
        return NULL;
    memcpy(n, p, size < old ? size : old);
    kmem_free(p);
    return n;
}

static KMEM_NOINLINE void *realloc_slow(void *p, size_t size, const void *caller)
{
    if (kmem_malloc_tracing)
        return realloc_traced(p, size, caller);
    if (kmem_malloc_hardened)
        return kmem_hardened_realloc(p, size, caller);
    return realloc_plain(p, size);
}

void *kmem_realloc(void *p, size_t size)
{
    if (unlikely(!plain_calls))
        return realloc_slow(p, size, KMEM_RET_ADDR());
    return realloc_plain(p, size);
}

void *kmem_reallocarray(void *p, size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return kmem_realloc(p, bytes);
}

static void *aligned(size_t align, size_t size)
{
    if (align <= MIN_ALIGN)
        return kmem_malloc(size);
    return malloc_slow(size, align);
}

int kmem_posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    int saved = errno;
    void *p = aligned(alignment, size);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

void *kmem_aligned_alloc(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(alignment, size);
}

void *kmem_memalign(size_t alignment, size_t size)
{
    if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (alignment & (alignment - 1)) /* glibc: the next power of two */
        alignment = (size_t)1 << (sizeof(long) * 8 - (unsigned int)__builtin_clzl(alignment));
    return aligned(alignment, size);
}

void *kmem_valloc(size_t size)
{
    return aligned(PAGE_SIZE, size);
}

void *kmem_pvalloc(size_t size)
{
    size_t rounded = (size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
    if (rounded < size) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(PAGE_SIZE, rounded ? rounded : PAGE_SIZE);
}

void kmem_malloc_classes_init(bool tracing)
{
    classes_init(tracing);
}

/* ---- the standard names ------------------------------------------------------------------- */

/* Aliases, not wrappers: malloc is kmem_malloc, with no extra call. Builds
 * that leave the plain names to another allocator (the sanitizers' tests)
 * define KMEM_MALLOC_NO_ALIASES. */
#ifndef KMEM_MALLOC_NO_ALIASES
#define KMEM_ALIAS(name) __attribute__((alias(name), visibility("default")))
void *malloc(size_t size) KMEM_ALIAS("kmem_malloc");
void free(void *p) KMEM_ALIAS("kmem_free");
void *calloc(size_t n, size_t size) KMEM_ALIAS("kmem_calloc");
void *realloc(void *p, size_t size) KMEM_ALIAS("kmem_realloc");
void *reallocarray(void *p, size_t n, size_t size) KMEM_ALIAS("kmem_reallocarray");
int posix_memalign(void **out, size_t alignment, size_t size) KMEM_ALIAS("kmem_posix_memalign");
void *aligned_alloc(size_t alignment, size_t size) KMEM_ALIAS("kmem_aligned_alloc");
void *memalign(size_t alignment, size_t size) KMEM_ALIAS("kmem_memalign");
void *valloc(size_t size) KMEM_ALIAS("kmem_valloc");
void *pvalloc(size_t size) KMEM_ALIAS("kmem_pvalloc");
size_t malloc_usable_size(void *p) KMEM_ALIAS("kmem_malloc_usable_size");
void free_sized(void *p, size_t size) KMEM_ALIAS("kmem_free_sized");
void free_aligned_sized(void *p, size_t alignment, size_t size)
    KMEM_ALIAS("kmem_free_aligned_sized");
#endif
