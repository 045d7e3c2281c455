/* SPDX-License-Identifier: MIT */
/*
 * hardened.c - the hardened malloc (KMEM_MALLOC_HARDENED=1): every classic
 * misuse of the heap stops the program, with SIGABRT after a one-line
 * "kmem: <error>: ..." naming the error and the address, or with SIGSEGV.
 *
 * Why a mode: the default malloc checks what it can for free (a free lands
 * in a slab of the right cache at an object boundary, an immediate double
 * free), but a magazine hands a freed object out again at once and keeps
 * nothing about it, so an overflow, a write after free or a double free
 * after other frees go unseen. Catching those takes memory and time on
 * every call: a tail after each object, a delay before reuse, a mapping
 * per large block. So it is a switch, read once when the machine starts
 * (machine.c), and off it costs nothing: the fast paths are the same code.
 * On, the classes are made without magazines and the per-CPU slot tables
 * stay on the sentinel (malloc.c, classes_init), so every pop and push
 * fails and every call reaches malloc.c's slow paths, which call here.
 *
 * Small blocks (size + 16 bytes fit a class, so requests up to 16368 bytes):
 * from the class that holds size + TAIL, laid out as
 *
 *     p                p + size                    slot end - 8   slot end
 *     | the request    | canary, >= 8 bytes (all   | meta: size,  |
 *     |                | the slack of the class)   | state tag    |
 *
 * The canary bytes are a function of a per-process secret and their
 * address, each made non-zero (so a stray string terminator shows); the meta
 * word holds the size asked for (low half) and a tag (high half) that binds
 * the size, the slot's address and the state (live, quarantined, freed) to
 * another secret, so a damaged or forged meta never decodes. free, realloc
 * and malloc_usable_size check the state and the whole canary: a 1- or
 * 8-byte overflow is a "red zone overwritten" report. malloc_usable_size
 * answers the size asked for, so a program that uses it stays clear of the
 * canary.
 *
 * Large blocks (above): an mmap area of their own, placed so that the block
 * ends as close to a PROT_NONE guard page as the alignment (16 bytes, or
 * the one asked for) allows; the slack before the guard and the bytes of the
 * first page before the block are canary. A 1- or 8-byte overflow faults on
 * the guard (SIGSEGV) or shows in the canary at free. The areas are listed
 * in the malloc's huge-area table (malloc.c) with the size asked for.
 *
 * malloc(0): a unique 16-byte slot of a PROT_NONE region (ZERO_SLOTS of
 * them, 64 MiB of address space, nothing resident), so any access faults;
 * one state byte per slot (never used, live, quarantined, freed) tells a
 * free of it from a double free. When every slot is taken, a small block of
 * size 0 (canary from its first byte) stands in.
 *
 * Quarantine: a freed small block is zero-filled (request and canary), its
 * meta set to quarantined, and it waits in a FIFO of at most Q_SMALL_MAX
 * blocks and Q_SMALL_BYTES bytes of slots (8192 and 4 MiB) before it goes
 * back to its cache; when it leaves, it must still be all zero and still
 * quarantined, else a "write after free" report names it, its cache and who
 * freed it. A freed large area is replaced by a fresh PROT_NONE mapping (its
 * pages go back to the host, any access faults) and waits in a second FIFO
 * of at most Q_LARGE_MAX areas and Q_LARGE_BYTES of address space (512 and
 * 1 GiB) before it is unmapped. A freed malloc(0) slot waits in the small
 * FIFO (0 bytes) before it may be handed out again.
 *
 * Double and invalid frees: a small block's meta says live, quarantined
 * (double free, immediate) or freed (double free, after it left the
 * quarantine); no valid meta and a free bit in the slab's map is a free of
 * an object never handed out, no valid meta on an object in use is an
 * overflow that reached the meta. An address in a slab but not at an object
 * boundary, in the machine but in no class's slab, or outside everything
 * (a stack, a random address) is an invalid free, as is an address inside
 * a large area. A large area's double free finds it in the quarantine.
 * The swap of the meta from live to quarantined is one compare-and-swap, so
 * two threads freeing the same block at once are told apart too.
 *
 * Invariants:
 *   H1. A small block handed out has meta LIVE(size), canary bytes over
 *       [p + size, slot end - 8), and its slot is in use in its slab.
 *   H2. A small block in the quarantine has meta QUARANTINED(size) and zero
 *       bytes over [p, slot end - 8); it is in use in its slab.
 *   H3. A small block that left the quarantine has meta FREED(size) and was
 *       all zero when it left; it is free in its slab or handed out again
 *       (then H1).
 *   H4. A live large area is listed with its size; [base, p) and
 *       [p + size, guard) are canary, the page at guard is PROT_NONE.
 *   H5. A quarantined large area is unlisted, PROT_NONE over its whole
 *       mapping, and in the large FIFO; it is unmapped when it leaves.
 *   H6. A zero slot is NEVER, LIVE, QUARANTINED (and in the small FIFO) or
 *       FREED; only NEVER and FREED slots are handed out.
 *
 * Locking: one mutex (hq.lock) for both FIFOs and the zero slots' states, a
 * leaf: nothing else is taken and nothing is called under it (blocks that
 * leave the quarantine are checked and freed after it is dropped). fork
 * takes it first (machine.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include <kmem/malloc.h>
#include <kmem/slab.h>

#include "../core/slab.h"
#include "../core/zone.h"
#include "../internal/lock.h"
#include "../internal/report.h"
#include "malloc_internal.h"

bool kmem_malloc_hardened;

enum {
    TAIL = 16,  /* after each small request: >= 8 canary bytes and the meta word */
    META = 8,   /* the meta word, the slot's last bytes */
    ALIGN = 16, /* malloc's alignment */
    BATCH = 16, /* blocks checked and freed per trip out of the lock */
    Q_SMALL_MAX = 8192,
    Q_LARGE_MAX = 512,
    ZERO_SLOTS = 1 << 22, /* 16 bytes each: 64 MiB of PROT_NONE address space */
    ZERO_CI = 0xffff,     /* a small FIFO entry that is a zero slot */
};
#define Q_SMALL_BYTES ((size_t)4 << 20)
#define Q_LARGE_BYTES ((size_t)1 << 30)

/* The meta word's states (in its tag). */
enum { ST_LIVE = 0x4c495645, ST_QUARANTINED = 0x51554152, ST_FREED = 0x46524545 };

/* A zero slot's states. */
enum { ZS_NEVER, ZS_LIVE, ZS_QUARANTINED, ZS_FREED };

struct qsmall {
    char *p;            /* a small block, or a zero slot */
    const void *caller; /* who freed it, for the write-after-free report */
    uint32_t bytes;     /* its slot's size (0 for a zero slot) */
    uint32_t ci;        /* its class, or ZERO_CI */
};

struct qlarge {
    struct huge_area area; /* ha_usable: the size asked for */
    const void *caller;
};

static struct {
    struct kmem_mutex lock;
    struct qsmall *small; /* ring of Q_SMALL_MAX */
    size_t s_head, s_count, s_bytes;
    struct qlarge *large; /* ring of Q_LARGE_MAX */
    size_t l_head, l_count, l_bytes;
    char *zero;      /* ZERO_SLOTS * 16 bytes, PROT_NONE */
    uint8_t *zstate; /* a state per slot (MAP_NORESERVE: touched as used) */
    size_t zhigh;    /* slots ever handed out: [0, zhigh) */
    size_t znext;    /* where the search for a FREED slot goes on */
} hq;

static uint64_t meta_secret, canary_secret;

/* ---- secrets, canaries, meta ---------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* From the kernel if it will say (no allocation, no file); else from the 16
 * bytes it gave the process at exec (AT_RANDOM), mixed with the clock. */
static void secrets_init(void)
{
    uint64_t r[2] = {0, 0};
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        const unsigned char *at = (const unsigned char *)getauxval(AT_RANDOM);
        if (at)
            memcpy(r, at, sizeof r);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r[0] ^= mix64((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&ts);
        r[1] ^= mix64((uint64_t)ts.tv_sec + r[0]);
    }
    meta_secret = mix64(r[0]) | 1;
    canary_secret = mix64(r[1] ^ 0x5bd1e9955bd1e995ULL) | 1;
}

/* The 8 canary bytes of the word at a8 (8-aligned), in memory order: one
 * multiply, so that a canary as long as a class's slack is cheap; every
 * byte has its low bit set, so none is zero. */
static inline uint64_t canary_word(uintptr_t a8)
{
    uint64_t x = (canary_secret ^ a8) * 0x9e3779b97f4a7c15ULL;
    return (x ^ (x >> 29)) | 0x0101010101010101ULL;
}

static inline unsigned char canary_byte(uintptr_t a)
{
    uint64_t w = canary_word(a & ~(uintptr_t)7);
    unsigned char b[8];
    memcpy(b, &w, sizeof b);
    return b[a & 7];
}

static void canary_fill(uintptr_t a, uintptr_t end)
{
    for (; a < end && (a & 7); a++)
        *(unsigned char *)a = canary_byte(a);
    for (; a + 8 <= end; a += 8) {
        uint64_t w = canary_word(a);
        memcpy((void *)a, &w, sizeof w);
    }
    for (; a < end; a++)
        *(unsigned char *)a = canary_byte(a);
}

/* The first byte of [a, end) that is not canary, or 0. */
static uintptr_t canary_find_damage(uintptr_t a, uintptr_t end)
{
    for (; a < end && (a & 7); a++)
        if (*(const unsigned char *)a != canary_byte(a))
            return a;
    for (; a + 8 <= end; a += 8) {
        uint64_t w;
        memcpy(&w, (const void *)a, sizeof w);
        if (w != canary_word(a))
            break; /* the byte loop below finds which */
    }
    for (; a < end; a++)
        if (*(const unsigned char *)a != canary_byte(a))
            return a;
    return 0;
}

/* The first byte of [a, end) (both 8-aligned) that is not zero, or 0. */
static uintptr_t zero_find_damage(uintptr_t a, uintptr_t end)
{
    for (; a < end; a += 8) {
        uint64_t w;
        memcpy(&w, (const void *)a, sizeof w);
        if (w) {
            while (!*(const unsigned char *)a)
                a++;
            return a;
        }
    }
    return 0;
}

static inline uint64_t meta_word(uintptr_t slot, uint32_t size, uint32_t state)
{
    uint64_t tag = mix64(meta_secret ^ slot ^ ((uint64_t)state << 32 | size));
    return (tag & 0xffffffff00000000ULL) | size;
}

/* The meta of a slot that may be free in its cache, which poisons it under
 * AddressSanitizer: the hardened mode's own read, not the program's. */
__attribute__((noinline, no_sanitize_address)) static uint64_t meta_load(const uint64_t *m)
{
    return __atomic_load_n(m, __ATOMIC_RELAXED);
}

static inline void meta_store(uint64_t *m, uint64_t w)
{
    __atomic_store_n(m, w, __ATOMIC_RELAXED);
}

/* ---- what a pointer is ---------------------------------------------------------- */

enum hkind { H_SMALL, H_LARGE, H_ZERO };

struct hobj {
    enum hkind kind;
    char *p;
    size_t size; /* asked for */
    /* H_SMALL */
    struct kmem_cache *c;
    unsigned int ci;
    uint64_t *meta;
    uint64_t word;
    /* H_LARGE */
    struct huge_area area;
    /* H_ZERO */
    size_t zi;
};

static bool large_in_quarantine(uintptr_t addr, size_t *size)
{
    bool found = false;
    kmem_mutex_lock(&hq.lock);
    for (size_t i = 0; i < hq.l_count && !found; i++) {
        const struct qlarge *q = &hq.large[(hq.l_head + i) % Q_LARGE_MAX];
        if (q->area.ha_addr == addr) {
            *size = q->area.ha_usable;
            found = true;
        }
    }
    kmem_mutex_unlock(&hq.lock);
    return found;
}

/* A freed block given to free or realloc is freed twice; given to
 * malloc_usable_size, it is a bad argument. */
static enum kmem_error freed_error(const char *fn)
{
    return fn[0] == 'm' ? KMERR_BAD_ARGUMENT : KMERR_DOUBLE_FREE;
}

static KMEM_COLD _Noreturn void not_ours(const void *p, const char *fn, const void *caller)
{
    kmem_error(KMERR_INVALID_FREE, "%s(%p) called from %p: not an address this malloc handed out",
               fn, p, caller);
}

/* p in the zero region: a live zero slot, or reported. */
static void find_zero(char *p, const char *fn, const void *caller, struct hobj *o)
{
    size_t off = (size_t)(p - hq.zero);
    if (off % ALIGN)
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p) called from %p: not the start of a block: +%zu into the malloc(0) "
                   "block at %p",
                   fn, p, caller, off % ALIGN, (void *)(p - off % ALIGN));
    size_t zi = off / ALIGN;
    kmem_mutex_lock(&hq.lock);
    uint8_t state = zi < hq.zhigh ? hq.zstate[zi] : ZS_NEVER;
    kmem_mutex_unlock(&hq.lock);
    if (state == ZS_QUARANTINED || state == ZS_FREED)
        kmem_error(
            freed_error(fn), "%s(%p) called from %p: the malloc(0) block was already freed (%s)",
            fn, p, caller,
            state == ZS_QUARANTINED ? "it is in the quarantine" : "it has left the quarantine");
    if (state != ZS_LIVE)
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p) called from %p: no malloc(0) block was ever handed out here", fn, p,
                   caller);
    *o = (struct hobj){.kind = H_ZERO, .p = p, .size = 0, .zi = zi};
}

/* p in the machine: a live small block with its canary intact, or reported. */
static void find_small(char *p, const char *fn, const void *caller, struct hobj *o)
{
    struct slab *slab = kmem_obj_slab(p);
    int ci = slab ? kmem_malloc_class_index(slab->sl_cache) : -1;
    if (ci < 0) {
        struct page *page = pf_virt_to_page(p);
        enum page_state s = page_state(page);
        if (!slab && (s == PS_FREE || s == PS_PCP))
            kmem_error(freed_error(fn),
                       "%s(%p) called from %p: the memory at pfn %#lx is free (freed twice?)", fn,
                       p, caller, pf_page_to_pfn(page));
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p) called from %p: not an address this malloc handed out (pfn %#lx holds "
                   "no malloc block)",
                   fn, p, caller, pf_page_to_pfn(page));
    }
    struct kmem_cache *c = slab->sl_cache;
    uintptr_t off = (uintptr_t)p - (uintptr_t)slab->sl_objs;
    if (p < slab->sl_objs || off / c->c_size >= c->c_objs_per_slab)
        kmem_error(KMERR_INVALID_FREE,
                   "%s(%p) called from %p: not an object (the objects of this %s slab start at "
                   "%p)",
                   fn, p, caller, c->c_name, (void *)slab->sl_objs);
    if (off % c->c_size)
        kmem_error(
            KMERR_INVALID_FREE,
            "%s(%p) called from %p: not the start of a block: +%zu into the block at %p (%s)", fn,
            p, caller, (size_t)(off % c->c_size), (void *)(p - off % c->c_size), c->c_name);
    uint64_t *meta = (uint64_t *)(void *)(p + c->c_object_size - META);
    uint64_t w = meta_load(meta);
    uint32_t size = (uint32_t)w;
    bool sane = size <= c->c_object_size - TAIL;
    if (sane && w == meta_word((uintptr_t)p, size, ST_QUARANTINED))
        kmem_error(freed_error(fn),
                   "%s(%p) called from %p: the %u-byte block (%s) was already freed (it is in "
                   "the quarantine)",
                   fn, p, caller, size, c->c_name);
    if (sane && w == meta_word((uintptr_t)p, size, ST_FREED))
        kmem_error(freed_error(fn),
                   "%s(%p) called from %p: the %u-byte block (%s) was already freed (it has left "
                   "the quarantine)",
                   fn, p, caller, size, c->c_name);
    if (!sane || w != meta_word((uintptr_t)p, size, ST_LIVE)) {
        unsigned int idx = (unsigned int)(off / c->c_size);
        unsigned int bits = (unsigned int)(8 * sizeof(unsigned long));
        unsigned long map = __atomic_load_n(&slab->sl_free_map[idx / bits], __ATOMIC_RELAXED);
        if (map & (1UL << (idx % bits)))
            kmem_error(KMERR_INVALID_FREE,
                       "%s(%p) called from %p: not a block in use (a free object of %s, never "
                       "handed out)",
                       fn, p, caller, c->c_name);
        kmem_error(KMERR_REDZONE,
                   "%s(%p) called from %p: heap overflow: the metadata at %p after the block (%s) "
                   "was overwritten",
                   fn, p, caller, (void *)meta, c->c_name);
    }
    uintptr_t bad = canary_find_damage((uintptr_t)p + size, (uintptr_t)meta);
    if (bad)
        kmem_error(KMERR_REDZONE,
                   "%s(%p) called from %p: heap overflow: the %u-byte block (%s) was written past "
                   "its end at %p (+%zu)",
                   fn, p, caller, size, c->c_name, (void *)bad, (size_t)(bad - (uintptr_t)p));
    *o = (struct hobj){.kind = H_SMALL,
                       .p = p,
                       .size = size,
                       .c = c,
                       .ci = (unsigned int)ci,
                       .meta = meta,
                       .word = w};
}

/* p outside the machine: a live large area with its canaries intact, or
 * reported. */
static void find_large(char *p, const char *fn, const void *caller, struct hobj *o)
{
    struct huge_area a;
    if (!kmem_malloc_huge_lookup((uintptr_t)p, &a)) {
        size_t size;
        if (large_in_quarantine((uintptr_t)p, &size))
            kmem_error(freed_error(fn),
                       "%s(%p) called from %p: the %zu-byte block was already freed (it is in "
                       "the quarantine)",
                       fn, p, caller, size);
        not_ours(p, fn, caller);
    }
    uintptr_t guard = a.ha_base + a.ha_len - PAGE_SIZE;
    uintptr_t bad = canary_find_damage((uintptr_t)p + a.ha_usable, guard);
    if (bad)
        kmem_error(KMERR_REDZONE,
                   "%s(%p) called from %p: heap overflow: the %zu-byte block was written past its "
                   "end at %p (+%zu)",
                   fn, p, caller, a.ha_usable, (void *)bad, (size_t)(bad - (uintptr_t)p));
    bad = canary_find_damage(a.ha_base, (uintptr_t)p);
    if (bad)
        kmem_error(KMERR_REDZONE,
                   "%s(%p) called from %p: heap underflow: the %zu-byte block was written before "
                   "its start at %p (-%zu)",
                   fn, p, caller, a.ha_usable, (void *)bad, (size_t)((uintptr_t)p - bad));
    *o = (struct hobj){.kind = H_LARGE, .p = p, .size = a.ha_usable, .area = a};
}

/* Find the live block at p for fn (called from caller) and check it; any
 * other p is reported and the program stopped. */
static void find_live(void *ptr, const char *fn, const void *caller, struct hobj *o)
{
    char *p = ptr;
    if ((uintptr_t)p - (uintptr_t)hq.zero < (size_t)ZERO_SLOTS * ALIGN)
        find_zero(p, fn, caller, o);
    else if (pf_virt_valid(p))
        find_small(p, fn, caller, o);
    else
        find_large(p, fn, caller, o);
}

/* ---- the quarantine --------------------------------------------------------------- */

/* A small block leaves the quarantine: still quarantined, still zero, or
 * written after its free; then back to its cache. */
static void small_release(const struct qsmall *q)
{
    struct kmem_cache *c = kmem_malloc_class(q->ci);
    uint64_t *meta = (uint64_t *)(void *)(q->p + c->c_object_size - META);
    uint64_t w = meta_load(meta);
    uint32_t size = (uint32_t)w;
    if (size > c->c_object_size - TAIL || w != meta_word((uintptr_t)q->p, size, ST_QUARANTINED))
        kmem_error(KMERR_POISON,
                   "the block at %p (%s, freed from %p) was written after its free: its "
                   "metadata at %p changed (found as it left the quarantine)",
                   (void *)q->p, c->c_name, q->caller, (void *)meta);
    uintptr_t bad = zero_find_damage((uintptr_t)q->p, (uintptr_t)meta);
    if (bad)
        kmem_error(KMERR_POISON,
                   "the %u-byte block at %p (%s, freed from %p) was written after its free: byte "
                   "+%zu is %#x, not 0 (found as it left the quarantine)",
                   size, (void *)q->p, c->c_name, q->caller, (size_t)(bad - (uintptr_t)q->p),
                   *(const unsigned char *)bad);
    meta_store(meta, meta_word((uintptr_t)q->p, size, ST_FREED));
    kmem_cache_free(c, q->p);
}

/* Quarantine e (a small block or a zero slot). Blocks pushed out to make
 * room are checked and freed with the lock dropped; zero slots just become
 * FREED. */
static void quarantine_small(const struct qsmall *e)
{
    struct qsmall out[BATCH];
    for (bool pushed = false; !pushed;) {
        unsigned int n = 0;
        kmem_mutex_lock(&hq.lock);
        while (n < BATCH && hq.s_count &&
               (hq.s_count == Q_SMALL_MAX || hq.s_bytes + e->bytes > Q_SMALL_BYTES)) {
            struct qsmall *q = &hq.small[hq.s_head];
            hq.s_head = (hq.s_head + 1) % Q_SMALL_MAX;
            hq.s_count--;
            hq.s_bytes -= q->bytes;
            if (q->ci == ZERO_CI)
                hq.zstate[(size_t)(q->p - hq.zero) / ALIGN] = ZS_FREED;
            else
                out[n++] = *q;
        }
        if (hq.s_count < Q_SMALL_MAX && hq.s_bytes + e->bytes <= Q_SMALL_BYTES) {
            hq.small[(hq.s_head + hq.s_count) % Q_SMALL_MAX] = *e;
            hq.s_count++;
            hq.s_bytes += e->bytes;
            pushed = true;
        }
        kmem_mutex_unlock(&hq.lock);
        for (unsigned int i = 0; i < n; i++)
            small_release(&out[i]);
    }
}

static void quarantine_large(const struct qlarge *e)
{
    struct huge_area out[BATCH];
    for (bool pushed = false; !pushed;) {
        unsigned int n = 0;
        kmem_mutex_lock(&hq.lock);
        while (n < BATCH && hq.l_count &&
               (hq.l_count == Q_LARGE_MAX || hq.l_bytes + e->area.ha_len > Q_LARGE_BYTES)) {
            struct qlarge *q = &hq.large[hq.l_head];
            hq.l_head = (hq.l_head + 1) % Q_LARGE_MAX;
            hq.l_count--;
            hq.l_bytes -= q->area.ha_len;
            out[n++] = q->area;
        }
        /* An area larger than the whole budget still waits, alone. */
        if (hq.l_count < Q_LARGE_MAX &&
            (hq.l_bytes + e->area.ha_len <= Q_LARGE_BYTES || hq.l_count == 0)) {
            hq.large[(hq.l_head + hq.l_count) % Q_LARGE_MAX] = *e;
            hq.l_count++;
            hq.l_bytes += e->area.ha_len;
            pushed = true;
        }
        kmem_mutex_unlock(&hq.lock);
        for (unsigned int i = 0; i < n; i++)
            munmap((void *)out[i].ha_base, out[i].ha_len);
    }
}

void kmem_hardened_fork_lock(bool lock)
{
    if (!kmem_malloc_hardened)
        return;
    if (lock)
        kmem_mutex_lock(&hq.lock);
    else
        kmem_mutex_unlock(&hq.lock);
}

/* ---- allocation ------------------------------------------------------------------- */

static void *zero_alloc(void)
{
    size_t zi = SIZE_MAX;
    kmem_mutex_lock(&hq.lock);
    if (hq.zhigh < ZERO_SLOTS) {
        zi = hq.zhigh++;
    } else {
        for (size_t i = 0; i < ZERO_SLOTS; i++) {
            size_t j = (hq.znext + i) % ZERO_SLOTS;
            if (hq.zstate[j] == ZS_FREED) {
                zi = j;
                hq.znext = j + 1;
                break;
            }
        }
    }
    if (zi != SIZE_MAX)
        hq.zstate[zi] = ZS_LIVE;
    kmem_mutex_unlock(&hq.lock);
    return zi == SIZE_MAX ? NULL : hq.zero + zi * ALIGN;
}

static void *small_alloc(struct kmem_cache *c, size_t size, bool zero)
{
    char *p = kmem_cache_alloc(c, GFP_KERNEL);
    if (!p)
        return NULL;
    uint64_t *meta = (uint64_t *)(void *)(p + c->c_object_size - META);
    if (zero)
        memset(p, 0, size);
    canary_fill((uintptr_t)p + size, (uintptr_t)meta);
    meta_store(meta, meta_word((uintptr_t)p, (uint32_t)size, ST_LIVE));
    return p;
}

/* An area of its own: [base, p) canary, the block, canary up to the guard
 * page. Fresh pages: zero already. */
static void *large_alloc(size_t size, size_t align)
{
    size_t data = (size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1);
    size_t extra = align > PAGE_SIZE ? align : 0;
    size_t len = data + extra + PAGE_SIZE;
    if (data < size || len < data)
        return NULL;
    char *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    uintptr_t guard = (uintptr_t)map + len - PAGE_SIZE;
    uintptr_t p = (guard - size) & ~(uintptr_t)(align - 1);
    uintptr_t base = p & ~(uintptr_t)(PAGE_SIZE - 1);
    if (base > (uintptr_t)map)
        munmap(map, base - (uintptr_t)map);
    struct huge_area a = {p, base, guard + PAGE_SIZE - base, size};
    if (mprotect((void *)guard, PAGE_SIZE, PROT_NONE) != 0 || !kmem_malloc_huge_list(&a)) {
        munmap((void *)base, a.ha_len);
        return NULL;
    }
    canary_fill(base, p);
    canary_fill(p + size, guard);
    return (void *)p;
}

void *kmem_hardened_malloc(size_t size, size_t align, bool zero)
{
    if (unlikely(!kmem_malloc_machine_up()) && !kmem_malloc_machine_start())
        return kmem_malloc_bootstrap(size, align); /* zero: never used before */
    if (align < ALIGN)
        align = ALIGN;
    void *p = NULL;
    if (size > (size_t)PTRDIFF_MAX)
        goto out;
    if (size == 0 && align == ALIGN && (p = zero_alloc()))
        return p;
    unsigned int ci;
    struct kmem_cache *c = kmem_malloc_class_for(size + TAIL, align, &ci);
    p = c ? small_alloc(c, size, zero) : large_alloc(size, align);
out:
    if (!p)
        errno = ENOMEM;
    return p;
}

/* ---- free ----------------------------------------------------------------------------- */

static void free_found(const struct hobj *o, const char *fn, const void *caller)
{
    switch (o->kind) {
    case H_SMALL: {
        /* One compare-and-swap claims the block: of two frees at once, one
         * finds it quarantined. */
        uint64_t live = o->word;
        if (!__atomic_compare_exchange_n(
                o->meta, &live, meta_word((uintptr_t)o->p, (uint32_t)o->size, ST_QUARANTINED),
                false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            kmem_error(KMERR_DOUBLE_FREE,
                       "%s(%p) called from %p: the %zu-byte block (%s) was freed twice at once", fn,
                       (void *)o->p, caller, o->size, o->c->c_name);
        memset(o->p, 0, (size_t)((char *)o->meta - o->p));
        struct qsmall e = {o->p, caller, o->c->c_object_size, o->ci};
        quarantine_small(&e);
        return;
    }
    case H_LARGE: {
        struct huge_area a;
        if (!kmem_malloc_huge_unlist((uintptr_t)o->p, &a))
            kmem_error(KMERR_DOUBLE_FREE,
                       "%s(%p) called from %p: the %zu-byte block was freed twice at once", fn,
                       (void *)o->p, caller, o->size);
        /* A fresh PROT_NONE mapping over it: the pages go back to the host
         * and any access faults until it leaves the quarantine. */
        if (mmap((void *)a.ha_base, a.ha_len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED) {
            munmap((void *)a.ha_base, a.ha_len);
            return;
        }
        struct qlarge e = {a, caller};
        quarantine_large(&e);
        return;
    }
    case H_ZERO: {
        kmem_mutex_lock(&hq.lock);
        bool live = hq.zstate[o->zi] == ZS_LIVE;
        if (live)
            hq.zstate[o->zi] = ZS_QUARANTINED;
        kmem_mutex_unlock(&hq.lock);
        if (!live)
            kmem_error(KMERR_DOUBLE_FREE,
                       "%s(%p) called from %p: the malloc(0) block was freed twice at once", fn,
                       (void *)o->p, caller);
        struct qsmall e = {o->p, caller, 0, ZERO_CI};
        quarantine_small(&e);
        return;
    }
    }
}

void kmem_hardened_free(void *p, const char *fn, const void *caller)
{
    struct hobj o;
    find_live(p, fn, caller, &o);
    free_found(&o, fn, caller);
}

void kmem_hardened_free_sized(void *p, size_t size, size_t align, bool aligned, const void *caller)
{
    const char *fn = aligned ? "free_aligned_sized" : "free_sized";
    char call[96];
    kmem_malloc_sized_call(call, sizeof call, p, size, align, aligned);
    struct hobj o;
    find_live(p, fn, caller, &o);
    if (aligned && (align == 0 || (align & (align - 1)) || ((uintptr_t)p & (align - 1))))
        kmem_error(KMERR_SIZE_MISMATCH, "%s called from %p: the block is not aligned to %zu bytes",
                   call, caller, align);
    if (size != o.size)
        kmem_error(KMERR_SIZE_MISMATCH,
                   "%s called from %p: the size is not the block's: it was allocated with %zu "
                   "bytes%s%s",
                   call, caller, o.size, o.kind == H_SMALL ? " in cache " : "",
                   o.kind == H_SMALL ? o.c->c_name : "");
    free_found(&o, fn, caller);
}

/* ---- the rest ------------------------------------------------------------------------- */

size_t kmem_hardened_usable_size(void *p, const void *caller)
{
    struct hobj o;
    find_live(p, "malloc_usable_size", caller, &o);
    return o.size;
}

/* Always a new block: the old one goes to the quarantine, so a use of the
 * old pointer after realloc is caught as one after free. */
void *kmem_hardened_realloc(void *p, size_t size, const void *caller)
{
    if (!p)
        return kmem_hardened_malloc(size, ALIGN, false);
    if (kmem_malloc_bootstrap_owns(p)) {
        size_t old = kmem_malloc_bootstrap_size(p);
        if (size == 0)
            return NULL; /* bootstrap bytes are never reused */
        void *n = kmem_hardened_malloc(size, ALIGN, false);
        if (n)
            memcpy(n, p, size < old ? size : old);
        return n;
    }
    struct hobj o;
    find_live(p, "realloc", caller, &o);
    if (size == 0) {
        free_found(&o, "realloc", caller);
        return NULL;
    }
    void *n = kmem_hardened_malloc(size, ALIGN, false);
    if (!n)
        return NULL;
    memcpy(n, p, size < o.size ? size : o.size);
    free_found(&o, "realloc", caller); /* a free meanwhile fails its claim */
    return n;
}

/* ---- boot ----------------------------------------------------------------------------- */

static void *map_rw(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

bool kmem_hardened_init(void)
{
    secrets_init();
    hq.small = map_rw(Q_SMALL_MAX * sizeof *hq.small);
    hq.large = map_rw(Q_LARGE_MAX * sizeof *hq.large);
    hq.zstate = map_rw(ZERO_SLOTS);
    void *zero = mmap(NULL, (size_t)ZERO_SLOTS * ALIGN, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    hq.zero = zero == MAP_FAILED ? NULL : zero;
    return hq.small && hq.large && hq.zstate && hq.zero;
}
