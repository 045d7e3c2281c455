/* SPDX-License-Identifier: MIT */
/*
 * slab.c - the slab layer of the object caches (Bonwick, "The Slab
 * Allocator: An Object-Caching Kernel Memory Allocator", USENIX 1994).
 *
 * A cache serves objects of one kind. It gets memory from the buddy system
 * in slabs: one block of 2^c_order pages, cut into c_objs_per_slab objects.
 * The order is the smallest that wastes at most 1/8 of the slab (c_waste is
 * reported per cache). Objects smaller than SLAB_ONSLAB_LIMIT keep the slab
 * header (struct slab and its free bitmap) at the start of the slab; larger
 * ones keep it off the slab, in the internal cache "kmem_slab", so that big
 * objects pack tightly. What a slab cannot use is spent on colouring: each
 * new slab starts its objects c_colour_step bytes further on (cycling), so
 * that the same object of different slabs falls on different cache lines.
 *
 * Object caching. The constructor runs once per object when its slab is
 * built, the destructor once per object when the slab is given back; in
 * between an object keeps whatever state its last user freed it in. Free
 * objects are the set bits of their slab's bitmap, so the allocator never
 * writes into a free object, and a double free at this layer is one bit test.
 *
 * Slab states: full (no free object), partial, empty (no object in use), one
 * list each. Allocation takes a partial slab first (to let empty ones go),
 * then an empty one, then builds a new one. A cache keeps SLAB_KEEP_EMPTY
 * empty slabs; more go back to the buddy system at once, and
 * kmem_cache_shrink gives back all of them.
 *
 * Every page of a slab's block records its slab and cache (pg_owner_p0,
 * pg_owner_p1, pg_owner = PG_OWNER_SLAB), the address of the slab's first
 * object (pg_private) and the bytes its objects span (pg_u32, 0 on every
 * other page), so that a free is checked with loads from the page alone, and
 * the head is in state PS_SLAB,
 * so virt_to_page(obj) finds the slab in O(1), and __free_pages of a slab
 * is refused.
 *
 * Invariants (checked by kmem_cache_check, slab_info.c):
 *   S1. A slab on c_full has sl_inuse == c_objs_per_slab, on c_partial
 *       0 < sl_inuse < c_objs_per_slab, on c_empty sl_inuse == 0.
 *   S2. The set bits of sl_free_map are exactly c_objs_per_slab - sl_inuse,
 *       all below c_objs_per_slab; no word below sl_hint has a set bit.
 *   S3. c_nr_slabs, c_nr_full, c_nr_empty count the lists; c_inuse is the sum
 *       of sl_inuse.
 *   S4. Every page of a slab's block has pg_owner PG_OWNER_SLAB and points at
 *       the slab and its cache; the head is PS_SLAB with order c_order.
 *
 * Lock order: slab_caches_lock -> c_lock. No cache lock is held while the
 * page allocator runs (building and freeing slabs happens outside c_lock),
 * so the page allocator may call back into the caches to reclaim memory.
 */
#include <kmem/init.h>

#include "fork.h"
#include "../internal/report.h"
#include "../internal/sanitize.h"
#include "slab.h"
#include "zone.h"

#define BITS_PER_WORD    (8 * sizeof(unsigned long))
#define OFFSLAB_MAX_OBJS 256 /* off-slab headers have room for this many */

static struct kmem_mutex slab_caches_lock;
static struct list_head slab_caches = {&slab_caches, &slab_caches};

/* The two caches the slab layer needs for itself (Bonwick's bootstrap):
 * caches are objects of kmem_cache_cache, off-slab headers of slab_cache.
 * Their descriptors are static, like kmalloc's, so that booting allocates no
 * memory at all: a new machine's memory is entirely free. */
static struct kmem_cache kmem_cache_cache;
static struct kmem_cache slab_header_cache;

/* KMEM_RANDOM=1 (kmem_slab_random_set): every cache made from now on gets
 * SLAB_FREELIST_RANDOM. */
static bool slab_random_all;

void kmem_slab_random_set(bool on)
{
    slab_random_all = on;
}

/* The caches' secrets: splitmix64 (Steele, Lea, Flood 2014) over the boot
 * seed, mixed with the cache's address, so that no two caches share one. */
static uint64_t secret_state;

static uintptr_t secret_next(const void *salt)
{
    uint64_t z = __atomic_add_fetch(&secret_state, 0x9e3779b97f4a7c15ULL, __ATOMIC_RELAXED) ^
                 (uint64_t)(uintptr_t)salt;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uintptr_t)(z ^ (z >> 31));
}

static inline unsigned int round_up(unsigned int x, unsigned int align)
{
    return (x + align - 1) & ~(align - 1);
}

static inline bool is_power_of_2(unsigned int x)
{
    return x && !(x & (x - 1));
}

static unsigned int header_bytes(unsigned int objs)
{
    return (unsigned int)(sizeof(struct slab) +
                          (objs + BITS_PER_WORD - 1) / BITS_PER_WORD * sizeof(unsigned long));
}

/* Objects that fit in a slab of `bytes` together with their on-slab header. */
static unsigned int objs_fitting(const struct kmem_cache *c, unsigned int bytes)
{
    unsigned int objs = bytes / c->c_size;
    if (c->c_offslab)
        return objs < OFFSLAB_MAX_OBJS ? objs : OFFSLAB_MAX_OBJS;
    while (objs && round_up(header_bytes(objs), c->c_align) + objs * c->c_size > bytes)
        objs--;
    return objs;
}

/* Choose the slab order: the smallest whose waste is at most 1/8 of the slab
 * (1/32 with SLAB_TIGHT_PACK; large objects get larger slabs: 20000-byte
 * objects, 3 to a 64 KiB slab); if no order up to MAX_PAGE_ORDER achieves
 * it, the one wasting the least. */
static bool cache_geometry(struct kmem_cache *c)
{
    unsigned int best = 0, best_objs = 0;
    unsigned long best_waste = 0;
    for (unsigned int order = 0; order <= MAX_PAGE_ORDER; order++) {
        unsigned int bytes = (unsigned int)(PAGE_SIZE << order);
        unsigned int objs = objs_fitting(c, bytes);
        if (!objs)
            continue;
        unsigned int header = c->c_offslab ? 0 : round_up(header_bytes(objs), c->c_align);
        unsigned long waste = bytes - header - (unsigned long)objs * c->c_size;
        /* Compare waste/bytes across orders: waste * other_bytes. */
        if (!best_objs || waste * (PAGE_SIZE << best) < best_waste * bytes) {
            best = order;
            best_objs = objs;
            best_waste = waste;
        }
        if (waste * ((c->c_flags & SLAB_TIGHT_PACK) ? 32 : 8) <= bytes)
            break;
    }
    if (!best_objs)
        return false;
    c->c_order = best;
    c->c_objs_per_slab = best_objs;
    c->c_map_words = (best_objs + BITS_PER_WORD - 1) / BITS_PER_WORD;
    c->c_header = header_bytes(best_objs);
    c->c_waste = (unsigned int)best_waste;
    c->c_colour_step = c->c_align > KMEM_CACHELINE ? c->c_align : KMEM_CACHELINE;
    c->c_colours = c->c_waste / c->c_colour_step + 1;
    c->c_slab_bytes = (unsigned long)c->c_objs_per_slab * c->c_size;
    uint32_t unused;
    c->c_div_magic = kmem_div64(UINT64_MAX, c->c_size, &unused) + 1;
    c->c_div_limit = c->c_div_magic - 1;
    return true;
}

/* Linux's calculate_alignment: SLAB_HWCACHE_ALIGN aligns to the cache line,
 * or to the largest power-of-two fraction of it the object fits in twice. */
static unsigned int cache_alignment(unsigned int size, unsigned int align, slab_flags_t flags)
{
    if (flags & SLAB_HWCACHE_ALIGN) {
        unsigned int line = KMEM_CACHELINE;
        while (size <= line / 2 && line > SLAB_MIN_ALIGN)
            line /= 2;
        if (line > align)
            align = line;
    }
    return align < SLAB_MIN_ALIGN ? SLAB_MIN_ALIGN : align;
}

/* Does the slab header live off the slab (objects of its stride or more)? */
static bool header_offslab(const struct kmem_cache *c)
{
    return c->c_size >=
           ((c->c_flags & SLAB_TIGHT_PACK) ? SLAB_ONSLAB_LIMIT / 2 : SLAB_ONSLAB_LIMIT);
}

static void cache_init(struct kmem_cache *c, const char *name, unsigned int size,
                       unsigned int align, slab_flags_t flags)
{
    kmem_memset(c, 0, sizeof *c);
    size_t i = 0;
    for (; name[i] && i < CACHE_NAME_MAX - 1; i++)
        c->c_name[i] = name[i];
    c->c_name[i] = '\0';
    c->c_object_size = size;
    c->c_align = cache_alignment(size, align, flags);
    c->c_size = round_up(size, c->c_align);
    c->c_flags = flags;
    c->c_offslab = header_offslab(c);
    c->c_secret = secret_next(c);
    c->c_rand = secret_next(&c->c_rand) | 1; /* xorshift's state must not be 0 */
    if (slab_random_all)
        c->c_flags |= SLAB_FREELIST_RANDOM;
    kmem_mutex_init(&c->c_lock);
    list_init(&c->c_full);
    list_init(&c->c_partial);
    list_init(&c->c_empty);
    kmem_san_pool_create(c);
}

/* Give the cache its debug flags and, with them, its debug layout (a larger
 * stride), once its constructor is known; then whether its header fits. */
static void cache_debug_setup(struct kmem_cache *c, bool internal)
{
    c->c_debug = kmem_debug_flags_for(c->c_name, c->c_flags, internal, cache_constructs(c));
    if (!c->c_debug)
        return;
    kmem_debug_layout(c);
    c->c_offslab = header_offslab(c);
}

/* ---- slabs ---------------------------------------------------------------- */

static void construct(const struct kmem_cache *c, void *obj)
{
    if (c->c_ctor)
        c->c_ctor(obj);
    else if (c->c_ops.ctor)
        c->c_ops.ctor(obj, c->c_ops.priv);
}

/* Mark every page of the block as this slab's (S4), or as plain pages again. */
static void slab_mark_pages(struct slab *slab, struct kmem_cache *c, bool own)
{
    unsigned long pfn = pf_page_to_pfn(slab->sl_page);
    for (unsigned long i = 0; i < (1UL << c->c_order); i++) {
        struct page *page = pf_pfn_to_page(pfn + i);
        page->pg_owner = own ? PG_OWNER_SLAB : PG_OWNER_PAGES;
        page->pg_owner_p0 = own ? slab : NULL;
        page->pg_owner_p1 = own ? c : NULL;
        page->pg_private = own ? (unsigned long)slab->sl_objs : 0; /* for the free checks */
        page->pg_u32 = own ? (uint32_t)c->c_slab_bytes : 0;
    }
    page_set_state(slab->sl_page, own ? PS_SLAB : PS_ALLOC);
}

/* Build a slab: pages, header, colour, constructed objects. No lock held.
 * Only the header's cache (off-slab) nests: its own headers are on-slab. */
static struct slab *slab_create(struct kmem_cache *c, gfp_t gfp, unsigned int colour)
{
    struct page *page = alloc_pages(gfp & ~(gfp_t)(__GFP_ZERO | __GFP_DMA), c->c_order);
    if (!page)
        return NULL;
    char *base = pf_page_address(page);
    struct slab *slab;
    char *objs;
    if (c->c_offslab) {
        void *header;
        if (!kmem_slab_alloc_bulk(&slab_header_cache, gfp, &header, 1)) {
            __free_pages(page, c->c_order);
            return NULL;
        }
        kmem_san_access(header, slab_header_cache.c_object_size);
        slab = header;
        objs = base + colour * c->c_colour_step;
    } else {
        slab = (struct slab *)(void *)base;
        objs = base + round_up(c->c_header, c->c_align) + colour * c->c_colour_step;
    }
    slab->sl_cache = c;
    slab->sl_objs = objs;
    slab->sl_page = page;
    slab->sl_inuse = 0;
    slab->sl_hint = 0;
    for (unsigned int w = 0; w < c->c_map_words; w++) {
        unsigned int left = c->c_objs_per_slab - w * (unsigned int)BITS_PER_WORD;
        slab->sl_free_map[w] = left >= BITS_PER_WORD ? ~0UL : (1UL << left) - 1;
    }
    for (unsigned int i = 0; i < c->c_objs_per_slab; i++)
        construct(c, objs + (size_t)i * c->c_size);
    kmem_san_noaccess(objs, (size_t)c->c_objs_per_slab * c->c_size); /* all free */
    kmem_debug_slab_init(c, slab);
    slab_mark_pages(slab, c, true);
    return slab;
}

/* Give a slab back: destructor on every object, then the pages. No lock held. */
static void slab_destroy(struct kmem_cache *c, struct slab *slab)
{
    kmem_san_access(slab->sl_objs, (size_t)c->c_objs_per_slab * c->c_size);
    if (c->c_ops.dtor)
        for (unsigned int i = 0; i < c->c_objs_per_slab; i++)
            c->c_ops.dtor(slab->sl_objs + (size_t)i * c->c_size, c->c_ops.priv);
    struct page *page = slab->sl_page;
    slab_mark_pages(slab, c, false);
    if (c->c_offslab) {
        void *header = slab;
        kmem_slab_free_bulk(&slab_header_cache, &header, 1, NULL);
    }
    __free_pages(page, c->c_order);
}

/* SLAB_FREELIST_RANDOM: the word and bit of a free object chosen at random
 * (the first set bit at or after a random position, wrapping), so that the
 * order objects are handed out in cannot be predicted: a heap overflow
 * cannot count on which object lies next to its own. */
static unsigned int random_free_bit(struct kmem_cache *c, struct slab *slab, unsigned int *wp)
{
    uint64_t x = c->c_rand;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->c_rand = x;
    uint32_t start;
    kmem_div64(x, c->c_objs_per_slab, &start); /* x % objects, without libgcc on 32-bit */
    unsigned int w = start / (unsigned int)BITS_PER_WORD;
    unsigned long word = slab->sl_free_map[w] & (~0UL << (start % BITS_PER_WORD));
    while (!word) {
        w = (w + 1) % c->c_map_words;
        word = slab->sl_free_map[w];
    }
    *wp = w;
    return (unsigned int)__builtin_ctzl(word);
}

static void *slab_take_locked(struct kmem_cache *c, struct slab *slab)
{
    unsigned int w = slab->sl_hint;
    unsigned int bit;
    if (unlikely(c->c_flags & SLAB_FREELIST_RANDOM)) {
        bit = random_free_bit(c, slab, &w);
    } else {
        while (!slab->sl_free_map[w])
            w++;
        bit = (unsigned int)__builtin_ctzl(slab->sl_free_map[w]);
    }
    unsigned int idx = w * (unsigned int)BITS_PER_WORD + bit;
    if (unlikely(idx >= c->c_objs_per_slab)) {
        /* A bit past the last object: handing it out would give memory
         * beyond the slab (a header overwritten by a stray write). */
        kmem_mutex_unlock(&c->c_lock);
        kmem_error(KMERR_FREELIST,
                   "slab %p of cache %s (objects at %p): its free map marks object %u free, "
                   "past its %u objects",
                   (void *)slab, c->c_name, (void *)slab->sl_objs, idx, c->c_objs_per_slab);
    }
    slab->sl_free_map[w] &= ~(1UL << bit);
    if (!(c->c_flags & SLAB_FREELIST_RANDOM))
        slab->sl_hint = w; /* random takes leave lower words free: sl_hint stays */
    if (++slab->sl_inuse == c->c_objs_per_slab) {
        list_del(&slab->sl_link);
        list_add(&slab->sl_link, &c->c_full);
        c->c_nr_full++;
    }
    c->c_inuse++;
    void *obj = slab->sl_objs + (size_t)idx * c->c_size;
    if (unlikely(c->c_debug))
        kmem_debug_alloc_locked(c, slab, obj);
    return obj;
}

unsigned int kmem_slab_alloc_bulk(struct kmem_cache *c, gfp_t gfp, void **objs, unsigned int n)
{
    unsigned int got = 0;
    kmem_mutex_lock(&c->c_lock);
    while (got < n) {
        struct slab *slab;
        if (!list_empty(&c->c_partial)) {
            slab = list_first_entry(&c->c_partial, struct slab, sl_link);
        } else if (!list_empty(&c->c_empty)) {
            slab = list_first_entry(&c->c_empty, struct slab, sl_link);
            list_del(&slab->sl_link);
            list_add(&slab->sl_link, &c->c_partial);
            c->c_nr_empty--;
        } else {
            /* Grow, with the lock dropped: the page allocator may reclaim
             * from caches, and constructors may take their time. */
            unsigned int colour = c->c_colour_next;
            c->c_colour_next = (colour + 1) % c->c_colours;
            kmem_mutex_unlock(&c->c_lock);
            slab = slab_create(c, gfp, colour);
            kmem_mutex_lock(&c->c_lock);
            if (!slab)
                break;
            list_add(&slab->sl_link, &c->c_partial);
            c->c_nr_slabs++;
            c->c_grown++;
            continue;
        }
        while (got < n && slab->sl_inuse < c->c_objs_per_slab)
            objs[got++] = slab_take_locked(c, slab);
    }
    kmem_mutex_unlock(&c->c_lock);
    return got;
}

/* The slab of obj, or a reported error (slab.h). */
struct slab *kmem_slab_of_object(struct kmem_cache *c, const void *obj, const void *caller)
{
    if (unlikely(!pf_virt_valid(obj)))
        kmem_error(KMERR_NOT_OBJECT,
                   "kmem_cache_free(%s, %p) called from %p: address is outside managed memory",
                   c->c_name, obj, caller);
    struct page *page = pf_virt_to_page(obj);
    struct slab *slab = page->pg_owner_p0;
    if (unlikely(page->pg_owner != PG_OWNER_SLAB || !slab || page_state(slab->sl_page) != PS_SLAB))
        kmem_error(KMERR_NOT_OBJECT,
                   "kmem_cache_free(%s, %p) called from %p: address is in no slab (pfn %#lx)",
                   c->c_name, obj, caller, pf_page_to_pfn(page));
    if (unlikely(slab->sl_cache != c))
        kmem_error(KMERR_WRONG_CACHE,
                   "kmem_cache_free(%s, %p) called from %p: the object belongs to cache %s",
                   c->c_name, obj, caller, slab->sl_cache->c_name);
    uintptr_t off = (uintptr_t)obj - (uintptr_t)slab->sl_objs;
    if (unlikely((const char *)obj < slab->sl_objs || off % c->c_size ||
                 off / c->c_size >= c->c_objs_per_slab))
        kmem_error(KMERR_NOT_OBJECT,
                   "kmem_cache_free(%s, %p) called from %p: not the start of an object "
                   "(objects of %u bytes start at %p)",
                   c->c_name, obj, caller, c->c_size, (void *)slab->sl_objs);
    return slab;
}

/* Return obj to its slab; returns a slab to give back, if one became a
 * surplus empty slab. */
static struct slab *slab_put_locked(struct kmem_cache *c, struct slab *slab, const void *obj,
                                    const void *caller)
{
    unsigned int idx = (unsigned int)(((uintptr_t)obj - (uintptr_t)slab->sl_objs) / c->c_size);
    unsigned int w = idx / (unsigned int)BITS_PER_WORD;
    unsigned long bit = 1UL << (idx % BITS_PER_WORD);
    if (unlikely(slab->sl_free_map[w] & bit)) {
        kmem_mutex_unlock(&c->c_lock);
        kmem_error(KMERR_DOUBLE_FREE,
                   "kmem_cache_free(%s, %p) called from %p: object %u of its slab is already free",
                   c->c_name, obj, caller, idx);
    }
    slab->sl_free_map[w] |= bit;
    if (w < slab->sl_hint)
        slab->sl_hint = w;
    c->c_inuse--;
    if (slab->sl_inuse-- == c->c_objs_per_slab) {
        list_del(&slab->sl_link);
        list_add(&slab->sl_link, slab->sl_inuse ? &c->c_partial : &c->c_empty);
        c->c_nr_full--;
        c->c_nr_empty += slab->sl_inuse == 0;
    } else if (slab->sl_inuse == 0) {
        list_del(&slab->sl_link);
        list_add(&slab->sl_link, &c->c_empty);
        c->c_nr_empty++;
    }
    if (slab->sl_inuse == 0 && c->c_nr_empty > SLAB_KEEP_EMPTY) {
        list_del(&slab->sl_link);
        c->c_nr_empty--;
        c->c_nr_slabs--;
        c->c_reaped++;
        return slab;
    }
    return NULL;
}

void kmem_slab_free_bulk(struct kmem_cache *c, void *const *objs, unsigned int n,
                         const void *caller)
{
    struct slab *surplus[8];
    unsigned int nr_surplus = 0;
    for (unsigned int i = 0; i < n;) {
        kmem_mutex_lock(&c->c_lock);
        for (; i < n && nr_surplus < KMEM_ARRAY_SIZE(surplus); i++) {
            struct slab *slab = kmem_slab_of_object(c, objs[i], caller);
            kmem_san_noaccess(objs[i], c->c_object_size); /* free (already, from a magazine) */
            if (unlikely(c->c_debug))
                kmem_debug_free_locked(c, slab, objs[i], caller);
            struct slab *empty = slab_put_locked(c, slab, objs[i], caller);
            if (empty)
                surplus[nr_surplus++] = empty;
        }
        kmem_mutex_unlock(&c->c_lock);
        while (nr_surplus)
            slab_destroy(c, surplus[--nr_surplus]);
    }
}

/* ---- caches ---------------------------------------------------------------- */

/* Take every empty slab off the cache (all, or those above keep). */
static void cache_release_empty(struct kmem_cache *c, unsigned long keep)
{
    for (;;) {
        kmem_mutex_lock(&c->c_lock);
        if (c->c_nr_empty <= keep) {
            kmem_mutex_unlock(&c->c_lock);
            return;
        }
        struct slab *slab = list_first_entry(&c->c_empty, struct slab, sl_link);
        list_del(&slab->sl_link);
        c->c_nr_empty--;
        c->c_nr_slabs--;
        c->c_reaped++;
        kmem_mutex_unlock(&c->c_lock);
        slab_destroy(c, slab);
    }
}

/* The cache's shrinker: the owner's reclaim callback first (it may free
 * objects it keeps), then the depot's magazines, then every empty slab. */
static unsigned long cache_shrinker_scan(struct kmem_shrinker *sh)
{
    struct kmem_cache *c = container_of(sh, struct kmem_cache, c_shrinker);
    if (c->c_ops.reclaim)
        c->c_ops.reclaim(c->c_ops.priv);
    kmem_mutex_lock(&c->c_lock);
    unsigned long before = c->c_reaped;
    kmem_mutex_unlock(&c->c_lock);
    kmem_magazine_depot_purge(c);
    cache_release_empty(c, 0);
    kmem_mutex_lock(&c->c_lock);
    unsigned long slabs = c->c_reaped - before;
    kmem_mutex_unlock(&c->c_lock);
    return slabs << c->c_order;
}

static void cache_register(struct kmem_cache *c)
{
    c->c_shrinker.sh_scan = cache_shrinker_scan;
    kmem_shrinker_register(&c->c_shrinker);
    kmem_mutex_lock(&slab_caches_lock);
    list_add_tail(&c->c_link, &slab_caches);
    kmem_mutex_unlock(&slab_caches_lock);
}

static struct kmem_cache *cache_create(const char *name, unsigned int size, unsigned int align,
                                       slab_flags_t flags, void (*ctor)(void *),
                                       const struct kmem_cache_ops *ops)
{
    const char *why = NULL;
    struct kmem_cache *c = NULL;
    if (!kmem_is_up())
        why = "kmem is not initialized";
    else if (!name)
        why = "no name";
    else if (size == 0 || size > (PAGE_SIZE << MAX_PAGE_ORDER))
        why = "object size must be 1 .. 4 MiB";
    else if (align && (!is_power_of_2(align) || align > PAGE_SIZE))
        why = "alignment must be a power of two up to PAGE_SIZE";
    else if (!kmem_slab_alloc_bulk(&kmem_cache_cache, GFP_KERNEL, (void **)&c, 1))
        why = "no memory for the cache";
    if (!why) {
        kmem_san_access(c, kmem_cache_cache.c_object_size);
        cache_init(c, name, size, align, flags);
        c->c_ctor = ctor;
        if (ops)
            c->c_ops = *ops;
        cache_debug_setup(c, false);
        if (!cache_geometry(c)) {
            kmem_slab_free_bulk(&kmem_cache_cache, (void **)&c, 1, NULL);
            why = "no slab size fits the object";
        }
    }
    if (why) {
        if (flags & SLAB_PANIC)
            kmem_error(KMERR_BAD_CACHE, "kmem_cache_create(%s, %u, %u): %s", name ? name : "NULL",
                       size, align, why);
        return NULL;
    }
    kmem_magazine_cache_init(c, true);
    cache_register(c);
    return c;
}

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size, unsigned int align,
                                     slab_flags_t flags, void (*ctor)(void *))
{
    return cache_create(name, size, align, flags, ctor, NULL);
}

struct kmem_cache *kmem_cache_create_ops(const char *name, unsigned int size, unsigned int align,
                                         slab_flags_t flags, const struct kmem_cache_ops *ops)
{
    return cache_create(name, size, align, flags, NULL, ops);
}

int kmem_cache_shrink(struct kmem_cache *c)
{
    /* The caller's own magazines, then the depot's: other threads' loaded
     * and previous magazines are theirs alone (no lock guards them), as
     * Bonwick's reap leaves CPUs' magazines alone. */
    kmem_magazine_flush_self(c);
    kmem_magazine_depot_purge(c);
    cache_release_empty(c, 0);
    kmem_mutex_lock(&c->c_lock);
    int left = c->c_nr_slabs != 0;
    kmem_mutex_unlock(&c->c_lock);
    return left;
}

/* Write the addresses of up to `max` objects still in use. */
static void report_leaks_locked(struct kmem_cache *c, unsigned int max)
{
    struct list_head *lists[] = {&c->c_partial, &c->c_full};
    for (unsigned int l = 0; l < 2; l++) {
        struct list_head *pos;
        list_for_each (pos, lists[l]) {
            struct slab *slab = list_entry(pos, struct slab, sl_link);
            for (unsigned int i = 0; i < c->c_objs_per_slab; i++) {
                if (slab->sl_free_map[i / BITS_PER_WORD] & (1UL << (i % BITS_PER_WORD)))
                    continue;
                if (max-- == 0)
                    return;
                kmem_debug_leak(c, slab->sl_objs + (size_t)i * c->c_size);
            }
        }
    }
}

void kmem_cache_destroy(struct kmem_cache *c)
{
    if (!c)
        return;
    kmem_magazine_purge_all(c);
    kmem_mutex_lock(&c->c_lock);
    if (c->c_inuse) {
        kmem_log("kmem_cache_destroy(%s): %lu objects remain allocated; the cache and their "
                 "slabs are kept",
                 c->c_name, c->c_inuse);
        report_leaks_locked(c, 16);
        kmem_mutex_unlock(&c->c_lock);
        return;
    }
    kmem_mutex_unlock(&c->c_lock);
    /* Off the list first: an exiting thread walks the list (under its lock)
     * to return magazines by cache id, so the id must not be released, and
     * perhaps reused by a new cache, while the cache can still be found. */
    kmem_mutex_lock(&slab_caches_lock);
    list_del(&c->c_link);
    kmem_mutex_unlock(&slab_caches_lock);
    kmem_magazine_cache_fini(c);
    kmem_shrinker_unregister(&c->c_shrinker);
    cache_release_empty(c, 0);
    kmem_san_pool_destroy(c);
    kmem_slab_free_bulk(&kmem_cache_cache, (void **)&c, 1, NULL);
}

const char *kmem_cache_name(const struct kmem_cache *c)
{
    return c->c_name;
}

unsigned int kmem_cache_size(const struct kmem_cache *c)
{
    return c->c_object_size;
}

/* ---- boot ------------------------------------------------------------------ */

void kmem_cache_setup_static(struct kmem_cache *c, const char *name, unsigned int size,
                             unsigned int align, slab_flags_t flags, bool magazines)
{
    cache_init(c, name, size, align, flags);
    cache_debug_setup(c, !magazines); /* kmem's own caches are the static ones without */
    cache_geometry(c);
    c->c_internal = !magazines; /* the kmalloc caches are the static ones with magazines */
    /* kmalloc's and the malloc's: no one keeps state in them. Not when
     * debugged: their frees never reach a magazine, and poison stays as is. */
    c->c_marks_free = magazines && !c->c_debug;
    kmem_magazine_cache_init(c, magazines);
    cache_register(c);
}

void kmem_slab_boot(uint64_t seed)
{
    /* Without a seed, addresses (randomized by a hosted loader, at least)
     * and the boot count still make the secrets differ between machines. */
    static uint64_t boots;
    secret_state = seed ^ (uint64_t)(uintptr_t)&boots ^ (++boots << 32);
    kmem_mutex_init(&slab_caches_lock);
    list_init(&slab_caches);
    kmem_cache_setup_static(&kmem_cache_cache, "kmem_cache", sizeof(struct kmem_cache), 0,
                            SLAB_HWCACHE_ALIGN, false);
    kmem_cache_setup_static(&slab_header_cache, "kmem_slab",
                            (unsigned int)(sizeof(struct slab) + OFFSLAB_MAX_OBJS / 8), 0,
                            SLAB_HWCACHE_ALIGN, false);
    kmem_magazine_boot();
}

void kmem_slab_shutdown(void)
{
    /* The machine's memory goes away with every slab in it. */
    list_init(&slab_caches);
}

/* For slab_info.c: walk the caches under slab_caches_lock. */
void kmem_slab_for_each_cache(void (*fn)(struct kmem_cache *c, void *arg), void *arg)
{
    kmem_mutex_lock(&slab_caches_lock);
    struct list_head *pos;
    list_for_each (pos, &slab_caches)
        fn(list_entry(pos, struct kmem_cache, c_link), arg);
    kmem_mutex_unlock(&slab_caches_lock);
}

/* fork (fork.c): every cache's depot and slab locks, in the lock order,
 * with the cache list's lock around them (the list holds every cache, the
 * static ones of the slab layer and kmalloc too). */
void kmem_slab_fork_lock(void)
{
    kmem_mutex_lock(&slab_caches_lock);
    struct list_head *pos;
    list_for_each (pos, &slab_caches) {
        struct kmem_cache *c = list_entry(pos, struct kmem_cache, c_link);
        kmem_mutex_lock(&c->c_depot.d_lock);
        kmem_mutex_lock(&c->c_lock);
    }
}

void kmem_slab_fork_unlock(void)
{
    struct list_head *pos;
    list_for_each (pos, &slab_caches) {
        struct kmem_cache *c = list_entry(pos, struct kmem_cache, c_link);
        kmem_mutex_unlock(&c->c_lock);
        kmem_mutex_unlock(&c->c_depot.d_lock);
    }
    kmem_mutex_unlock(&slab_caches_lock);
}
