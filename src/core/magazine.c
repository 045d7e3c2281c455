/* SPDX-License-Identifier: MIT */
/*
 * magazine.c - the magazine and depot layer of the object caches (Bonwick
 * and Adams, "Magazines and Vmem: Extending the Slab Allocator to Many CPUs
 * and Arbitrary Resources", USENIX 2001), and the caches' public fast paths
 * kmem_cache_alloc and kmem_cache_free.
 *
 * Each CPU (in a process: each thread) holds, for every cache it uses, a
 * loaded and a previous magazine: stacks of constructed objects. Allocation
 * pops the loaded magazine, free pushes it; only the owner touches them, so
 * neither takes a lock or an atomic. When the loaded magazine is empty (on
 * allocation) or full (on free) and the previous one can serve, the two are
 * swapped; otherwise the previous magazine is exchanged with the cache's
 * depot, which keeps full and empty magazines under its own lock. Only when
 * the depot has no full magazine does allocation reach the slab layer: it
 * fills a whole magazine there with one lock round-trip. Objects in
 * magazines stay constructed, so no constructor runs on these paths.
 *
 * Where a CPU keeps them. A CPU's area (struct kmem_cpu) holds a slot per
 * cache: the loaded magazine's top and end, and the two magazines. A cache
 * knows its slot's byte offset (c_cpu_off), the same in every area, so the
 * fast paths find it with one add and test nothing but the top (see
 * cache_fast.h). The area has KMEM_CPU_SLOTS slots; slot 0 is a sentinel
 * that is always both empty and full, the slot of caches that have none of
 * their own (KMEM_CPU_NO_SLOT): ids past the slots (kept in a per-CPU
 * overflow array the slow paths use) and caches without magazines.
 *
 * Magazine sizes. A cache starts with magazines that suit its objects (125
 * rounds up to 256 bytes, down to 5 for large objects; a SLAB_TIGHT_PACK
 * cache starts at 5 and grows to that size with its depot traffic, see
 * magazine_type_ramps) and grows them while
 * its depot lock is contended, as Bonwick and Adams do: every DEPOT_WINDOW
 * acquisitions, if at least DEPOT_CONTENDED of them found the lock held, the
 * next larger size is taken (up to what keeps a magazine's objects within
 * MAGAZINE_MAX_BYTES), the depot's magazines of the old size are given back,
 * and CPUs' old magazines are given back as they reach the depot. Larger
 * magazines make CPUs visit the depot less often, and a CPU whose working
 * set fits in its two magazines not at all; while it does not, two CPUs
 * trade magazines (and their cache lines) through the depot, which keeps it
 * contended, so the size keeps growing. Magazines are 64 to 16384 bytes (5
 * to 2045 rounds; 32 to 8192 bytes and 4 to 2044 rounds with 4-byte
 * pointers) and come from internal caches kmem_magazine_N, which have
 * no magazines of their own.
 *
 * Every free is checked before it enters a magazine (cache_fast.h): the
 * object must lie in a live slab of this very cache at the start of an
 * object, and must not be the object on top of the loaded magazine (an
 * immediate double free). Failing frees take the slow path, which names the
 * error and panics. A double free of an object deeper in a magazine is found
 * when the magazine goes back to the slab layer.
 *
 * Invariants (M1 and M4 for the calling CPU, M2 and M3 for the depot, are
 * checked by kmem_cache_check):
 *   M1. A CPU's cc_loaded and cc_prev are its own magazines (or the shared
 *       empty sentinel), never on a depot list; mag_round[0] is NULL;
 *       cc_top lies in cc_loaded->mag_round[0 .. capacity] and cc_end is
 *       &mag_round[capacity]; cc_prev is empty or full.
 *   M2. Depot lists hold only full (d_full) or empty (d_empty) magazines of
 *       the depot's current size, counted by d_nfull and d_nempty.
 *   M3. An object is in at most one place: a slab's free bitmap, one
 *       magazine, or a user's hands.
 *   M4. The sentinel slot of every area holds the sentinel magazine.
 *
 * Lock order: registry lock -> depot lock -> slab lock (c_lock) -> page
 * allocator. The fast paths take none. kmem_cache_destroy and thread exit
 * walk or flush per-CPU caches under the registry lock; a cache must be idle
 * (no thread using it) when it is destroyed, as in Linux and Solaris.
 */
#include <kmem/init.h>

#include "fork.h"
#include "../internal/report.h"
#include "cache_fast.h"
#include "magazine.h"

enum {
    MAX_CACHE_IDS = 4096,
    NR_MAGAZINE_TYPES = 9,
    MAGAZINE_MAX_BYTES = 256 << 10, /* objects one magazine may hold */
    DEPOT_WINDOW = 64,              /* depot acquisitions between resize decisions */
    DEPOT_CONTENDED = 4,            /* contended ones in a window that grow the size */
};

/* Magazines of 64 .. 16384 bytes (32 .. 8192 with 4-byte pointers): the
 * header, mag_round[0] and the rounds, a power of two of eight pointers, so
 * that a type holds about the same number of objects on every machine
 * (5 .. 2045 rounds with 8-byte pointers, 4 .. 2044 with 4-byte ones). */
#define MAGAZINE_BYTES(type) ((unsigned int)(8 * sizeof(void *)) << (type))
#define MAGAZINE_ROUNDS(type)                                                                      \
    ((unsigned int)((MAGAZINE_BYTES(type) - sizeof(struct kmem_magazine)) / sizeof(void *)) - 1)
static const unsigned int magazine_rounds[NR_MAGAZINE_TYPES] = {
    MAGAZINE_ROUNDS(0), MAGAZINE_ROUNDS(1), MAGAZINE_ROUNDS(2),
    MAGAZINE_ROUNDS(3), MAGAZINE_ROUNDS(4), MAGAZINE_ROUNDS(5),
    MAGAZINE_ROUNDS(6), MAGAZINE_ROUNDS(7), MAGAZINE_ROUNDS(8)};
static struct kmem_cache magazine_caches[NR_MAGAZINE_TYPES];

KMEM_STATIC_ASSERT(sizeof(void *) == 8 ? MAGAZINE_ROUNDS(NR_MAGAZINE_TYPES - 1) == 2045
                                       : MAGAZINE_ROUNDS(NR_MAGAZINE_TYPES - 1) == 2044,
                   "the magazine caches' names below give their rounds");

/* The empty magazine every per-CPU slot starts with: capacity 0 sends both
 * fast paths to the slow path, which installs real magazines. */
union kmem_magazine_sentinel kmem_empty_magazine;
#define EMPTY_MAGAZINE KMEM_EMPTY_MAGAZINE

/* Cache ids: the magazine layer's name of a cache, which picks its slot. */
static struct kmem_mutex id_lock;
static unsigned long id_map[MAX_CACHE_IDS / (8 * sizeof(unsigned long))];

/* ---- sizes and ids ------------------------------------------------------------ */

/* The magazine type a cache starts with, and the largest it may grow to. */
static unsigned int magazine_type_first(unsigned int object_size)
{
    if (object_size <= 256)
        return 4; /* 125 rounds: a depot visit costs about 37 ns, so small
                     objects, which come and go in numbers, start big */
    if (object_size <= 1024)
        return 2;
    if (object_size <= 4096)
        return 1;
    return 0;
}

static unsigned int magazine_type_max(unsigned int object_size)
{
    unsigned int type = magazine_type_first(object_size);
    while (type + 1 < NR_MAGAZINE_TYPES &&
           (unsigned long)magazine_rounds[type + 1] * object_size <= MAGAZINE_MAX_BYTES)
        type++;
    return type;
}

void kmem_magazine_boot(void)
{
    kmem_mutex_init(&id_lock);
    kmem_memset(id_map, 0, sizeof id_map);
    kmem_memset(&kmem_empty_magazine, 0, sizeof kmem_empty_magazine); /* mag_round[0] NULL */
    /* Named by their rounds (MAGAZINE_ROUNDS, asserted above). */
#if UINTPTR_MAX == 0xffffffffu
    static const char *const names[NR_MAGAZINE_TYPES] = {
        "kmem_magazine_4",   "kmem_magazine_12",   "kmem_magazine_28",
        "kmem_magazine_60",  "kmem_magazine_124",  "kmem_magazine_252",
        "kmem_magazine_508", "kmem_magazine_1020", "kmem_magazine_2044"};
#else
    static const char *const names[NR_MAGAZINE_TYPES] = {
        "kmem_magazine_5",   "kmem_magazine_13",   "kmem_magazine_29",
        "kmem_magazine_61",  "kmem_magazine_125",  "kmem_magazine_253",
        "kmem_magazine_509", "kmem_magazine_1021", "kmem_magazine_2045"};
#endif
    for (unsigned int i = 0; i < NR_MAGAZINE_TYPES; i++)
        kmem_cache_setup_static(&magazine_caches[i], names[i], MAGAZINE_BYTES(i), 0,
                                SLAB_HWCACHE_ALIGN, false);
}

void kmem_magazine_cache_init(struct kmem_cache *c, bool magazines)
{
    c->c_id = KMEM_NO_ID;
    c->c_cpu_off = KMEM_CPU_NO_SLOT;
    kmem_mutex_init(&c->c_depot.d_lock);
    /* A SLAB_TIGHT_PACK cache starts with the smallest magazines and earns the usual size with
     * traffic (magazine_type_ramps): a class a program uses a little then holds a few objects
     * in its CPUs' magazines, not hundreds. */
    c->c_depot.d_magtype = (c->c_flags & SLAB_TIGHT_PACK) ? 0 : magazine_type_first(c->c_size);
    if (!magazines)
        return;
    kmem_mutex_lock(&id_lock);
    for (unsigned int w = 0; w < KMEM_ARRAY_SIZE(id_map); w++) {
        if (~id_map[w]) {
            unsigned int bit = (unsigned int)__builtin_ctzl(~id_map[w]);
            id_map[w] |= 1UL << bit;
            c->c_id = w * (unsigned int)(8 * sizeof(unsigned long)) + bit;
            break;
        }
    }
    kmem_mutex_unlock(&id_lock);
    if (c->c_id == KMEM_NO_ID)
        return; /* out of ids: this cache works from its slabs only */
    /* A debug cache keeps its id (kmalloc's fast paths know the slots of its
     * caches by id) but no slot: the slot stays empty, so its allocations and
     * frees all reach the slab layer, where the debug checks are. */
    if (c->c_id + 1 < KMEM_CPU_SLOTS && !c->c_debug)
        c->c_cpu_off = KMEM_CPU_SLOT_OFF(c->c_id + 1);
}

void kmem_magazine_cache_fini(struct kmem_cache *c)
{
    if (c->c_id == KMEM_NO_ID)
        return;
    unsigned int bits = (unsigned int)(8 * sizeof(unsigned long));
    kmem_mutex_lock(&id_lock);
    id_map[c->c_id / bits] &= ~(1UL << (c->c_id % bits));
    kmem_mutex_unlock(&id_lock);
    c->c_id = KMEM_NO_ID;
    c->c_cpu_off = KMEM_CPU_NO_SLOT;
}

unsigned int kmem_magazine_size(const struct kmem_cache *c)
{
    if (c->c_id == KMEM_NO_ID || c->c_debug)
        return 0;
    return magazine_rounds[__atomic_load_n(&c->c_depot.d_magtype, __ATOMIC_RELAXED)];
}

/* ---- per-CPU slots ------------------------------------------------------------ */

/* The loaded magazine's rounds are cc_top's position while it is loaded:
 * write them back before the slow path looks at the magazine. The sentinel
 * is never written (it is shared by every CPU). */
static void slot_sync(struct kmem_cpu_cache *cc)
{
    if (cc->cc_loaded != EMPTY_MAGAZINE)
        cc->cc_loaded->mag_rounds = (unsigned int)(cc->cc_top - cc->cc_loaded->mag_round);
}

/* Do frees mark objects (cache_push_marked)? kmalloc's and the malloc's
 * caches, whose objects hold no state between uses, and not under a
 * sanitizer, which would see kmem read a poisoned object. */
static bool marks_free(const struct kmem_cache *c)
{
    return !KMEM_SAN_ACTIVE && KMEM_FREE_MARK && c->c_marks_free;
}

/* The key m's rounds are encoded with (magazine.h). */
static uintptr_t mag_key(const struct kmem_cache *c, const struct kmem_magazine *m)
{
    return m == EMPTY_MAGAZINE ? 0 : c->c_secret ^ (uintptr_t)m;
}

/* Install loaded and prev (both synced) and the fast paths' view of loaded. */
static void slot_load(struct kmem_cpu_cache *cc, struct kmem_magazine *loaded,
                      struct kmem_magazine *prev)
{
    cc->cc_loaded = loaded;
    cc->cc_prev = prev;
    cc->cc_top = &loaded->mag_round[loaded->mag_rounds];
    cc->cc_end = &loaded->mag_round[loaded->mag_capacity];
}

static void slot_reset(struct kmem_cpu_cache *cc)
{
    slot_load(cc, EMPTY_MAGAZINE, EMPTY_MAGAZINE);
}

void kmem_cpu_slots_reset(struct kmem_cpu *cpu)
{
    for (unsigned int i = 0; i < KMEM_CPU_SLOTS; i++)
        slot_reset(&cpu->cpu_slots[i]);
    cpu->cpu_overflow = NULL; /* its memory goes with the machine */
    cpu->cpu_noverflow = 0;
}

/* Make this CPU's overflow array cover index i (slow path, rare). */
static KMEM_NOINLINE bool overflow_grow(struct kmem_cpu *cpu, unsigned int i)
{
    unsigned int n = 64;
    while (n <= i)
        n *= 2;
    size_t bytes = n * sizeof(struct kmem_cpu_cache);
    struct page *page = alloc_pages(GFP_KERNEL, (unsigned int)get_order(bytes));
    if (!page)
        return false;
    struct kmem_cpu_cache *fresh = pf_page_address(page);
    struct kmem_cpu_cache *old = cpu->cpu_overflow;
    unsigned int old_n = cpu->cpu_noverflow;
    for (unsigned int j = 0; j < n; j++) {
        if (j < old_n)
            fresh[j] = old[j];
        else
            slot_reset(&fresh[j]);
    }
    /* Swap under the registry lock: kmem_cache_destroy reads other CPUs'
     * arrays under it. */
    kmem_cpu_registry_lock();
    cpu->cpu_overflow = fresh;
    cpu->cpu_noverflow = n;
    kmem_cpu_registry_unlock();
    if (old)
        free_pages((unsigned long)old, (unsigned int)get_order(old_n * sizeof *old));
    return true;
}

/* A CPU's slot for c if it has one already (no allocation), or NULL. */
static struct kmem_cpu_cache *slot_find(struct kmem_cpu *cpu, const struct kmem_cache *c)
{
    if (c->c_debug)
        return NULL;
    if (c->c_cpu_off != KMEM_CPU_NO_SLOT)
        return (struct kmem_cpu_cache *)(void *)((char *)cpu + c->c_cpu_off);
    if (c->c_id == KMEM_NO_ID)
        return NULL;
    unsigned int i = c->c_id - (KMEM_CPU_SLOTS - 1);
    return i < cpu->cpu_noverflow ? &cpu->cpu_overflow[i] : NULL;
}

/* The calling CPU's slot for c, or NULL (no magazines for c, or this thread
 * is exiting). */
static struct kmem_cpu_cache *cpu_slot(struct kmem_cache *c)
{
    if (c->c_id == KMEM_NO_ID || c->c_debug)
        return NULL;
    struct kmem_cpu *cpu = kmem_this_cpu();
    if (!kmem_cpu_attach_self(cpu))
        return NULL;
    if (c->c_cpu_off == KMEM_CPU_NO_SLOT) {
        unsigned int i = c->c_id - (KMEM_CPU_SLOTS - 1);
        if (i >= cpu->cpu_noverflow && !overflow_grow(cpu, i))
            return NULL;
    }
    return slot_find(cpu, c);
}

/* ---- magazines and the depot -------------------------------------------------- */

static struct kmem_magazine *magazine_new(struct kmem_cache *c)
{
    unsigned int type = __atomic_load_n(&c->c_depot.d_magtype, __ATOMIC_RELAXED);
    struct kmem_magazine *m;
    if (!kmem_slab_alloc_bulk(&magazine_caches[type], GFP_NOWAIT, (void **)&m, 1))
        return NULL;
    kmem_san_access(m, magazine_caches[type].c_object_size);
    m->mag_next = NULL;
    m->mag_rounds = 0;
    m->mag_capacity = magazine_rounds[type];
    m->mag_encoded = false;
    m->mag_round[0] = NULL;
    return m;
}

/* Encode or decode a full magazine's rounds in place (magazine.h): one XOR
 * per round, four rounds per vector operation. */
static void magazine_code(const struct kmem_cache *c, struct kmem_magazine *m, bool encode)
{
    if (!KMEM_MAGAZINE_ENCODE || m->mag_encoded == encode)
        return;
    uintptr_t key = mag_key(c, m);
    uintptr_t *round = (uintptr_t *)(void *)&m->mag_round[1];
    unsigned int n = m->mag_rounds, r = 0;
    /* Four at a time: with the vector unit, two instructions a round. */
    typedef uintptr_t rounds4 __attribute__((vector_size(4 * sizeof(uintptr_t))));
    rounds4 key4 = {key, key, key, key};
    for (; r + 4 <= n; r += 4) {
        rounds4 v;
        kmem_memcpy(&v, &round[r], sizeof v);
        v ^= key4;
        kmem_memcpy(&round[r], &v, sizeof v);
    }
    for (; r < n; r++)
        round[r] ^= key;
    m->mag_encoded = encode;
}

/* Before a magazine's rounds go back to the slabs: decode them, and check
 * each is an object of c. One that is not was written by someone else. */
static void magazine_decode_checked(struct kmem_cache *c, struct kmem_magazine *m)
{
    bool encoded = m->mag_encoded;
    magazine_code(c, m, false);
    for (unsigned int r = 1; r <= m->mag_rounds; r++) {
        void *obj = m->mag_round[r];
        if (unlikely(!cache_owns(c, obj)))
            kmem_error(KMERR_FREELIST,
                       "magazine %p of cache %s: round %u of %u %s %p, no object of the cache (a "
                       "stray write into the magazine?)",
                       (void *)m, c->c_name, r, m->mag_rounds, encoded ? "decodes to" : "is", obj);
    }
}

/* Give a magazine's objects back to the slabs, and the magazine to its cache. */
static void magazine_destroy(struct kmem_cache *c, struct kmem_magazine *m)
{
    if (m == EMPTY_MAGAZINE)
        return;
    if (m->mag_rounds) {
        magazine_decode_checked(c, m);
        kmem_slab_free_bulk(c, &m->mag_round[1], m->mag_rounds, NULL);
    }
    unsigned int type = 0;
    while (magazine_rounds[type] != m->mag_capacity)
        type++;
    kmem_slab_free_bulk(&magazine_caches[type], (void **)&m, 1, NULL);
}

static void magazine_destroy_list(struct kmem_cache *c, struct kmem_magazine *m)
{
    while (m) {
        struct kmem_magazine *next = m->mag_next;
        magazine_destroy(c, m);
        m = next;
    }
}

/* A SLAB_TIGHT_PACK cache's magazines grow by one size each DEPOT_WINDOW depot visits, contended
 * or not, until they reach the size other caches start with: 64 visits with magazines of 5 rounds
 * mean some 300 objects through the depot, so a busy class gets 125-round magazines after a few
 * thousand objects, while one used a little keeps magazines of 5. */
static bool magazine_type_ramps(const struct kmem_cache *c, const struct kmem_depot *d)
{
    return (c->c_flags & SLAB_TIGHT_PACK) && d->d_magtype < magazine_type_first(c->c_size);
}

/* Depot lock and unlock: the unlock decides on a resize at the end of each
 * window, and gives back (after dropping the lock) whatever magazines the
 * critical section set aside on *stale. */
static void depot_lock(struct kmem_depot *d)
{
    if (unlikely(!kmem_mutex_trylock(&d->d_lock))) {
        kmem_mutex_lock_slow(&d->d_lock);
        d->d_contended++;
    }
    d->d_acquired++;
}

static void depot_unlock(struct kmem_cache *c, struct kmem_magazine *stale)
{
    struct kmem_depot *d = &c->c_depot;
    if (unlikely(d->d_acquired >= DEPOT_WINDOW)) {
        if (magazine_type_ramps(c, d) ||
            (d->d_contended >= DEPOT_CONTENDED && d->d_magtype < magazine_type_max(c->c_size))) {
            __atomic_store_n(&d->d_magtype, d->d_magtype + 1, __ATOMIC_RELAXED);
            d->d_resizes++;
            /* The depot's magazines are now of the old size (M2). */
            for (struct kmem_magazine **list = &d->d_full;; list = &d->d_empty) {
                while (*list) {
                    struct kmem_magazine *m = *list;
                    *list = m->mag_next;
                    m->mag_next = stale;
                    stale = m;
                }
                if (list == &d->d_empty)
                    break;
            }
            d->d_nfull = d->d_nempty = d->d_min_full = 0;
        }
        d->d_acquired = d->d_contended = 0;
    }
    kmem_mutex_unlock(&d->d_lock);
    magazine_destroy_list(c, stale);
}

static struct kmem_magazine *depot_take(struct kmem_magazine **list, unsigned long *count)
{
    struct kmem_magazine *m = *list;
    if (m) {
        *list = m->mag_next;
        (*count)--;
    }
    return m;
}

/* The working set of a SLAB_TIGHT_PACK cache's depot (other caches keep every full magazine until
 * reclaim takes them). Bonwick and Adams trim each depot every 15 seconds to its working set: the
 * full magazines that stayed in the depot through the whole interval were not needed, and go back
 * to the slabs. With no clock in the core, an interval here is an amount of traffic shared by all
 * these caches: an epoch ends once DEPOT_EPOCH_BYTES of objects have come into their depots in full
 * magazines, and then every depot is trimmed to what it needed since its last trim (by its next
 * visit, or by the sweep at the epoch's end, whichever comes first). An interval longer than a
 * program's alloc/free cycle always sees the cycle's low point, so a steady batch keeps its
 * magazines (1000 blocks of 4 KiB bring 4 MiB per cycle); when a heap shrinks (every object freed,
 * in many classes at once), the depots together keep about two epochs' worth (the one that ended,
 * and the one under way) instead of that much per class, and the rest goes back to the slabs, whose
 * empty ones go back to the page allocator. DEPOT_MIN_FULL magazines are always kept. */
enum { DEPOT_MIN_FULL = 4, DEPOT_EPOCH_BYTES = 8 << 20 };

static unsigned long depot_epoch;         /* epochs so far */
static unsigned long depot_epoch_traffic; /* bytes given to the depots in this epoch */
static int depot_sweep_due;               /* an epoch ended: trim every such depot */

static bool depot_trims(const struct kmem_cache *c)
{
    return c->c_flags & SLAB_TIGHT_PACK;
}

/* Count a full magazine's objects toward the epoch; start the next one when it is full. */
static void depot_epoch_count(unsigned long bytes)
{
    unsigned long t = __atomic_add_fetch(&depot_epoch_traffic, bytes, __ATOMIC_RELAXED);
    if (t >= DEPOT_EPOCH_BYTES && t - bytes < DEPOT_EPOCH_BYTES) {
        /* The one thread that crossed the mark ends the epoch. */
        __atomic_sub_fetch(&depot_epoch_traffic, DEPOT_EPOCH_BYTES, __ATOMIC_RELAXED);
        __atomic_add_fetch(&depot_epoch, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&depot_sweep_due, 1, __ATOMIC_RELAXED);
    }
}

/* A full magazine leaves the depot: lower the interval's low-water mark. */
static void depot_took_full(struct kmem_depot *d)
{
    if (d->d_nfull < d->d_min_full)
        d->d_min_full = d->d_nfull;
}

/* At a depot's first visit in a new epoch, move the full magazines no one took since its last
 * trim (beyond DEPOT_MIN_FULL) to *stale: the oldest ones, at the tail of the LIFO list. */
static void depot_trim(struct kmem_depot *d, struct kmem_magazine **stale)
{
    /* A purge or a resize may have emptied the depot within the interval. */
    unsigned long low = d->d_min_full < d->d_nfull ? d->d_min_full : d->d_nfull;
    unsigned long unused = low > DEPOT_MIN_FULL ? low - DEPOT_MIN_FULL : 0;
    if (unused) {
        struct kmem_magazine **tail = &d->d_full;
        for (unsigned long keep = d->d_nfull - unused; keep; keep--)
            tail = &(*tail)->mag_next;
        struct kmem_magazine *m = *tail;
        *tail = NULL;
        while (m) {
            struct kmem_magazine *next = m->mag_next;
            m->mag_next = *stale;
            *stale = m;
            m = next;
        }
        d->d_nfull -= unused;
        d->d_trimmed += unused;
    }
    d->d_epoch = __atomic_load_n(&depot_epoch, __ATOMIC_RELAXED);
    d->d_min_full = d->d_nfull;
}

/* Put a full or empty magazine on its depot list; one of an old size goes on
 * *stale instead, to be given back once the lock is dropped, as do the full
 * magazines an interval's end trims. */
static void depot_give(const struct kmem_cache *c, struct kmem_depot *d, struct kmem_magazine *m,
                       struct kmem_magazine **stale)
{
    if (m == EMPTY_MAGAZINE)
        return;
    if (m->mag_capacity != magazine_rounds[d->d_magtype]) {
        m->mag_next = *stale;
        *stale = m;
    } else if (m->mag_rounds) {
        magazine_code(c, m, true);
        m->mag_next = d->d_full;
        d->d_full = m;
        d->d_nfull++;
        if (depot_trims(c)) {
            depot_epoch_count((unsigned long)m->mag_capacity * c->c_size);
            if (d->d_epoch != __atomic_load_n(&depot_epoch, __ATOMIC_RELAXED))
                depot_trim(d, stale);
        }
    } else {
        m->mag_next = d->d_empty;
        d->d_empty = m;
        d->d_nempty++;
    }
}

/* A depot that is not visited again (its class fell out of use while the
 * heap shrank) would keep its last intervals' magazines for good: so the end
 * of an epoch trims every SLAB_TIGHT_PACK depot that has not been trimmed in
 * it. Run by the free that ended the epoch, after its depot lock is dropped
 * and with no other lock held (cache list -> depot, as everywhere). */
static void depot_sweep_one(struct kmem_cache *c, void *arg)
{
    (void)arg;
    struct kmem_depot *d = &c->c_depot;
    if (!depot_trims(c) || d->d_epoch == __atomic_load_n(&depot_epoch, __ATOMIC_RELAXED))
        return;
    struct kmem_magazine *stale = NULL;
    depot_lock(d);
    depot_trim(d, &stale);
    depot_unlock(c, stale);
}

static KMEM_NOINLINE void depot_sweep(void)
{
    if (__atomic_exchange_n(&depot_sweep_due, 0, __ATOMIC_ACQ_REL))
        kmem_slab_for_each_cache(depot_sweep_one, NULL);
}

void kmem_magazine_depot_purge(struct kmem_cache *c)
{
    struct kmem_depot *d = &c->c_depot;
    kmem_mutex_lock(&d->d_lock);
    struct kmem_magazine *full = d->d_full, *empty = d->d_empty;
    d->d_full = d->d_empty = NULL;
    d->d_nfull = d->d_nempty = d->d_min_full = 0;
    kmem_mutex_unlock(&d->d_lock);
    magazine_destroy_list(c, full);
    magazine_destroy_list(c, empty);
}

static void slot_flush(struct kmem_cache *c, struct kmem_cpu_cache *cc)
{
    slot_sync(cc);
    struct kmem_magazine *loaded = cc->cc_loaded, *prev = cc->cc_prev;
    slot_reset(cc);
    magazine_destroy(c, loaded);
    magazine_destroy(c, prev);
}

void kmem_magazine_flush_self(struct kmem_cache *c)
{
    struct kmem_cpu_cache *cc = slot_find(kmem_this_cpu(), c);
    if (cc)
        slot_flush(c, cc);
}

static void flush_cpu_of_cache(struct kmem_cpu *cpu, void *arg)
{
    struct kmem_cache *c = arg;
    struct kmem_cpu_cache *cc = slot_find(cpu, c);
    if (cc)
        slot_flush(c, cc);
}

void kmem_magazine_purge_all(struct kmem_cache *c)
{
    if (c->c_id != KMEM_NO_ID) {
        kmem_cpu_registry_lock();
        kmem_cpu_for_each_locked(flush_cpu_of_cache, c);
        kmem_cpu_registry_unlock();
    }
    kmem_magazine_depot_purge(c);
}

/* Thread exit: return every magazine to its depot (full ones stay full, to
 * be used by other threads), flushing partial ones to the slabs. */
static void flush_cpu_cache(struct kmem_cache *c, void *arg)
{
    struct kmem_cpu_cache *cc = slot_find(arg, c);
    if (!cc)
        return;
    slot_sync(cc);
    struct kmem_magazine *mags[2] = {cc->cc_loaded, cc->cc_prev};
    slot_reset(cc);
    struct kmem_magazine *stale = NULL;
    depot_lock(&c->c_depot);
    for (int i = 0; i < 2; i++) {
        struct kmem_magazine *m = mags[i];
        if (m->mag_rounds == m->mag_capacity || m->mag_rounds == 0) {
            depot_give(c, &c->c_depot, m, &stale);
        } else {
            m->mag_next = stale;
            stale = m;
        }
    }
    depot_unlock(c, stale);
}

void kmem_magazine_cpu_flush(struct kmem_cpu *cpu)
{
    kmem_slab_for_each_cache(flush_cpu_cache, cpu);
    struct kmem_cpu_cache *overflow = cpu->cpu_overflow;
    unsigned int n = cpu->cpu_noverflow;
    cpu->cpu_overflow = NULL;
    cpu->cpu_noverflow = 0;
    if (overflow)
        free_pages((unsigned long)overflow, (unsigned int)get_order(n * sizeof *overflow));
}

/* ---- allocation --------------------------------------------------------------- */

/* The loaded magazine is empty: swap in the previous one if it is full, else
 * exchange the previous one for a full magazine from the depot, else fill
 * the loaded one from the slabs. Returns an object, or NULL. */
static void *slot_alloc(struct kmem_cache *c, struct kmem_cpu_cache *cc, gfp_t gfp)
{
    slot_sync(cc);
    struct kmem_magazine *loaded = cc->cc_loaded, *prev = cc->cc_prev;
    if (loaded->mag_rounds) {
        /* Only for __GFP_ZERO requests, which skip the fast path. */
    } else if (prev->mag_rounds) {
        struct kmem_magazine *t = loaded;
        loaded = prev;
        prev = t;
    } else {
        struct kmem_depot *d = &c->c_depot;
        struct kmem_magazine *stale = NULL;
        depot_lock(d);
        struct kmem_magazine *full = depot_take(&d->d_full, &d->d_nfull);
        if (full && depot_trims(c))
            depot_took_full(d);
        if (full) {
            depot_give(c, d, prev, &stale);
            prev = loaded;
            loaded = full;
        } else if (loaded->mag_capacity != magazine_rounds[d->d_magtype]) {
            depot_give(c, d, loaded, &stale); /* empty, of an old size (or the sentinel) */
            loaded = NULL;
        }
        depot_unlock(c, stale);
        if (!full) {
            /* No full magazine anywhere: fill one from the slabs, with one
             * trip through the slab lock for the whole magazine. */
            if (!loaded)
                loaded = magazine_new(c);
            if (!loaded) {
                slot_load(cc, EMPTY_MAGAZINE, prev);
                return NULL;
            }
            loaded->mag_rounds =
                kmem_slab_alloc_bulk(c, gfp, &loaded->mag_round[1], loaded->mag_capacity);
        } else {
            magazine_code(c, full, false); /* out of the depot, outside its lock */
        }
    }
    void *obj = NULL;
    if (loaded->mag_rounds)
        obj = loaded->mag_round[loaded->mag_rounds--];
    slot_load(cc, loaded, prev);
    return obj;
}

KMEM_NOINLINE void *kmem_cache_alloc_slow(struct kmem_cache *c, gfp_t gfp)
{
    void *obj = NULL;
    if (unlikely(!kmem_is_up()))
        kmem_error(KMERR_NOT_UP, "kmem_cache_alloc(%s) called before kmem_init", c->c_name);
    if (kmem_fail_slab(c->c_name, gfp))
        return NULL; /* injected (fault.c) */
    struct kmem_cpu_cache *cc = cpu_slot(c);
    if (cc)
        obj = slot_alloc(c, cc, gfp);
    if (!obj && !kmem_slab_alloc_bulk(c, gfp, &obj, 1))
        return NULL;
    kmem_san_obj_alloc(c, obj, c->c_object_size, cache_constructs(c));
    if (marks_free(c))
        *(void **)obj = NULL; /* as cache_pop_unmark */
    if (gfp & __GFP_ZERO)
        kmem_memset(obj, 0, c->c_object_size);
    return obj;
}

void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
    CACHE_ALLOC(c, gfp);
}

/* ---- free --------------------------------------------------------------------- */

/* The loaded magazine is full: swap in the previous one if it is empty, else
 * give the previous (full) one to the depot for an empty one. Pushes obj;
 * false if no magazine could take it. */
static bool slot_free(struct kmem_cache *c, struct kmem_cpu_cache *cc, void *obj)
{
    slot_sync(cc);
    struct kmem_magazine *loaded = cc->cc_loaded, *prev = cc->cc_prev;
    if (loaded->mag_rounds < loaded->mag_capacity) {
        /* A push the fast path did not make (a cache without a slot). */
    } else if (prev->mag_rounds == 0 && prev != EMPTY_MAGAZINE) {
        struct kmem_magazine *t = loaded;
        loaded = prev;
        prev = t;
    } else {
        struct kmem_depot *d = &c->c_depot;
        struct kmem_magazine *stale = NULL;
        depot_lock(d);
        struct kmem_magazine *empty = depot_take(&d->d_empty, &d->d_nempty);
        depot_give(c, d, prev, &stale); /* full, or the sentinel */
        depot_unlock(c, stale);
        if (unlikely(__atomic_load_n(&depot_sweep_due, __ATOMIC_RELAXED)))
            depot_sweep();
        prev = loaded;
        loaded = empty ? empty : magazine_new(c);
        if (!loaded) {
            slot_load(cc, EMPTY_MAGAZINE, prev);
            return false;
        }
    }
    loaded->mag_round[++loaded->mag_rounds] = obj;
    if (marks_free(c))
        *(uintptr_t *)obj = KMEM_FREE_MARK_WORD;
    slot_load(cc, loaded, prev);
    return true;
}

/* obj is being freed: if it bears the free mark, it may wait in m already
 * (or its user stored the mark's value by chance): look. */
static void magazine_find_marked(const struct kmem_cache *c, const struct kmem_magazine *m,
                                 void *obj, const void *caller)
{
    if (m == EMPTY_MAGAZINE || *(uintptr_t *)obj != KMEM_FREE_MARK_WORD)
        return;
    for (unsigned int r = 1; r <= m->mag_rounds; r++)
        if (m->mag_round[r] == obj)
            kmem_error(KMERR_DOUBLE_FREE,
                       "kmem_cache_free(%s, %p) called from %p: the object is already free (it "
                       "waits in this CPU's magazine, %u frees ago)",
                       c->c_name, obj, caller, m->mag_rounds - r);
}

KMEM_NOINLINE void kmem_cache_free_slow(struct kmem_cache *c, void *obj, const void *caller)
{
    if (!obj)
        return;                          /* kmem_cache_free(c, NULL) does nothing, as kfree(NULL) */
    kmem_slab_of_object(c, obj, caller); /* names a wrong cache, a foreign or interior pointer */
    struct kmem_cpu_cache *cc = cpu_slot(c);
    if (cc) {
        slot_sync(cc);
        const struct kmem_magazine *l = cc->cc_loaded, *p = cc->cc_prev;
        if (obj == l->mag_round[l->mag_rounds] || obj == p->mag_round[p->mag_rounds])
            kmem_error(KMERR_DOUBLE_FREE,
                       "kmem_cache_free(%s, %p) called from %p: the object was just freed",
                       c->c_name, obj, caller);
        if (marks_free(c)) {
            magazine_find_marked(c, l, obj, caller);
            magazine_find_marked(c, p, obj, caller);
        }
    }
    kmem_san_obj_free(c, obj, c->c_object_size);
    if (!cc || !slot_free(c, cc, obj))
        kmem_slab_free_bulk(c, &obj, 1, caller);
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
    if (likely(cache_free_fast(c, obj)))
        return;
    kmem_cache_free_slow(c, obj, KMEM_RET_ADDR());
}

/* ---- looking inside ------------------------------------------------------------ */

const struct kmem_cpu_cache *kmem_magazine_slot_self(const struct kmem_cache *c)
{
    return slot_find(kmem_this_cpu(), c);
}

void kmem_magazine_fork_lock(bool lock)
{
    if (lock)
        kmem_mutex_lock(&id_lock);
    else
        kmem_mutex_unlock(&id_lock);
}
