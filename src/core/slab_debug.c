/* SPDX-License-Identifier: MIT */
/*
 * slab_debug.c - the object caches' debug switches: Linux's slab_debug
 * (mm/slub.c, "SLUB debugging") and illumos' UMEM_DEBUG/KMF_* flags, on
 * kmem's bitmap slabs.
 *
 * A cache with debug flags (SLAB_DEBUG_FLAGS, from kmem_cache_create or from
 * KMEM_DEBUG / kmem_slab_debug_set) has no magazines: every alloc and every
 * free reaches its slab under c_lock, where the checks run. Its objects are
 * laid out with their metadata after them (one stride, c_size, holds all):
 *
 *   | object (c_object_size) | red zone .. c_redzone | alloc track | free track | pad |
 *
 *   F  consistency: on every alloc and free the slab's header is checked
 *      (owner, count, free map): a damaged one is a "corrupted free list".
 *   Z  red zone: the bytes after the object read 0xbb while it is free and
 *      0xcc while allocated (Linux's values); checked on free and by
 *      validation: a write past the object is a "red zone overwritten".
 *   P  poison: a free object reads 0x6b with a last byte 0xa5 (Linux's
 *      POISON_FREE and POISON_END); checked when it is allocated again and
 *      by validation: a "write after free". Not for caches that construct
 *      their objects (a free object keeps its constructed state).
 *   U  owner tracking: the call stack (kmem_pl_stack), thread and sequence
 *      number of the last alloc and the last free of each object, printed
 *      with every report about it and with leaks at kmem_cache_destroy.
 *   T  trace: one "kmem: trace: ..." line per alloc and free.
 *
 * Without magazines the slab's free bitmap is the whole truth about an
 * object, so every double free is caught, however late, with both stacks
 * (U). Frees of foreign, interior and unaligned pointers and frees to the
 * wrong cache are caught for every cache (slab.c).
 *
 * Invariants (of a debug cache; checked by kmem_cache_validate):
 *   D1. A free object's red zone is all 0xbb (Z); if poisoned (P) its bytes
 *       are 0x6b, the last 0xa5.
 *   D2. An allocated object's red zone is all 0xcc (Z).
 *   D3. Every slab's free map has c_objs_per_slab - sl_inuse set bits, none
 *       at or past c_objs_per_slab (S2, checked for every cache).
 *
 * Lock order: as slab.c (slab_caches_lock -> c_lock); reports drop c_lock
 * before the panic runs.
 */
#include <kmem/init.h>
#include <kmem/platform.h>

#include "../internal/fmt.h"
#include "../internal/report.h"
#include "../internal/sanitize.h"
#include "slab.h"

#define RED_INACTIVE 0xbb
#define RED_ACTIVE   0xcc
#define POISON_FREE  0x6b
#define POISON_END   0xa5
#define BITS         (8 * sizeof(unsigned long))

enum {
    ERR_INVAL = 22,   /* EINVAL (the core has no errno.h) */
    TRACK_DEPTH = 14, /* frames kept per track */
    REDZONE_MIN = 8,  /* bytes of red zone at least */
    SPEC_BLOCKS = 8,  /* ';'-separated blocks of a spec */
    SPEC_NAMES = 16,  /* cache names in all blocks */
};

/* Who last allocated or freed an object. */
struct kmem_track {
    uint64_t t_seq;   /* the debug operation's number (0: never) */
    uint32_t t_cpu;   /* kmem_pl_cpu_id() */
    uint32_t t_depth; /* frames in t_stack */
    void *t_stack[TRACK_DEPTH];
};

/* ---- the switches ------------------------------------------------------------ */

static struct {
    unsigned int nr_blocks;
    struct {
        slab_flags_t flags;
        unsigned int first, nr_names; /* names[first .. first + nr_names); none: every cache */
    } block[SPEC_BLOCKS];
    char names[SPEC_NAMES][CACHE_NAME_MAX];
} spec;

static uint64_t debug_seq; /* numbers the debug operations */

static slab_flags_t letter_flag(char ch)
{
    switch (ch) {
    case 'F':
    case 'f':
        return SLAB_CONSISTENCY_CHECKS;
    case 'Z':
    case 'z':
        return SLAB_RED_ZONE;
    case 'P':
    case 'p':
        return SLAB_POISON;
    case 'U':
    case 'u':
        return SLAB_STORE_USER;
    case 'T':
    case 't':
        return SLAB_TRACE;
    case '-':
        return 0;
    default:
        return ~0u;
    }
}

int kmem_slab_debug_set(const char *text)
{
    __typeof__(spec) s;
    kmem_memset(&s, 0, sizeof s);
    if (!text) {
        spec = s;
        return 0;
    }
    const char *p = text;
    for (;;) {
        if (s.nr_blocks == SPEC_BLOCKS)
            return -ERR_INVAL;
        __auto_type b = &s.block[s.nr_blocks++];
        b->first = 0;
        for (unsigned int i = 0; i < SPEC_NAMES && s.names[i][0]; i++)
            b->first = i + 1;
        bool letters = false;
        for (; *p && *p != ',' && *p != ';'; p++) {
            slab_flags_t f = letter_flag(*p);
            if (f == ~0u) {
                if (*p == '1' && !letters && (p[1] == '\0' || p[1] == ',' || p[1] == ';')) {
                    b->flags =
                        SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
                    letters = true;
                    continue;
                }
                return -ERR_INVAL;
            }
            b->flags |= f;
            letters = true;
        }
        if (!letters) /* "" or ",name": Linux's default set */
            b->flags = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER;
        while (*p == ',') {
            p++;
            unsigned int n = b->first + b->nr_names, len = 0;
            if (n == SPEC_NAMES)
                return -ERR_INVAL;
            for (; *p && *p != ',' && *p != ';'; p++) {
                if (len == CACHE_NAME_MAX - 1)
                    return -ERR_INVAL;
                s.names[n][len++] = *p;
            }
            if (!len)
                return -ERR_INVAL;
            s.names[n][len] = '\0';
            b->nr_names++;
        }
        if (*p != ';')
            break;
        p++;
    }
    spec = s;
    return 0;
}

static bool name_matches(const char *pattern, const char *name)
{
    for (; *pattern; pattern++, name++) {
        if (*pattern == '*' && pattern[1] == '\0')
            return true;
        if (*pattern != *name)
            return false;
    }
    return *name == '\0';
}

slab_flags_t kmem_debug_flags_for(const char *name, slab_flags_t flags, bool internal, bool ctor)
{
    slab_flags_t debug = flags & SLAB_DEBUG_FLAGS;
    for (unsigned int i = 0; !internal && i < spec.nr_blocks; i++) {
        bool match = spec.block[i].nr_names == 0;
        for (unsigned int n = 0; n < spec.block[i].nr_names && !match; n++)
            match = name_matches(spec.names[spec.block[i].first + n], name);
        if (match)
            debug |= spec.block[i].flags;
    }
    if (ctor)
        debug &= ~SLAB_POISON;
    return debug;
}

static unsigned int align_up(unsigned int x, unsigned int a)
{
    return (x + a - 1) & ~(a - 1);
}

void kmem_debug_layout(struct kmem_cache *c)
{
    if (!c->c_debug)
        return;
    unsigned int end = c->c_object_size;
    if (c->c_debug & SLAB_RED_ZONE)
        end = align_up(end + REDZONE_MIN, sizeof(void *));
    c->c_redzone = end;
    c->c_track = align_up(end, sizeof(void *));
    if (c->c_debug & SLAB_STORE_USER)
        end = c->c_track + 2 * (unsigned int)sizeof(struct kmem_track);
    c->c_size = align_up(end, c->c_align);
}

/* ---- objects ---------------------------------------------------------------------- */

static struct kmem_track *track_of(const struct kmem_cache *c, const void *obj, bool freed)
{
    return (struct kmem_track *)(void *)((char *)(uintptr_t)obj + c->c_track) + freed;
}

/* The metadata and a free object's bytes are poisoned for ASan (and not
 * addressable for memcheck) while kmem is not looking at them. */
static void meta_open(const struct kmem_cache *c, void *obj)
{
    kmem_san_access(obj, c->c_size);
}

static void meta_close(const struct kmem_cache *c, void *obj, bool allocated)
{
    if (allocated)
        kmem_san_noaccess((char *)obj + c->c_object_size, c->c_size - c->c_object_size);
    else
        kmem_san_noaccess(obj, c->c_size);
}

static void track_set(const struct kmem_cache *c, void *obj, bool freed)
{
    struct kmem_track *t = track_of(c, obj, freed);
    t->t_seq = __atomic_add_fetch(&debug_seq, 1, __ATOMIC_RELAXED);
    t->t_cpu = kmem_pl_cpu_id();
    t->t_depth = kmem_pl_stack(t->t_stack, TRACK_DEPTH);
    if (t->t_depth > TRACK_DEPTH)
        t->t_depth = TRACK_DEPTH;
}

static void track_print(const struct kmem_cache *c, const void *obj, bool freed)
{
    if (!(c->c_debug & SLAB_STORE_USER))
        return;
    const struct kmem_track *t = track_of(c, obj, freed);
    const char *what = freed ? "freed" : "allocated";
    if (!t->t_seq) {
        kmem_log("  %s: never", what);
        return;
    }
    char frames[TRACK_DEPTH * 20 + 1];
    size_t n = 0;
    frames[0] = '\0';
    for (unsigned int i = 0; i < t->t_depth && n < sizeof frames; i++)
        n += kmem_snprintf(frames + n, sizeof frames - n, " %p", t->t_stack[i]);
    kmem_log("  %s (operation %llu, cpu %u) at:%s", what, (unsigned long long)t->t_seq, t->t_cpu,
             t->t_depth ? frames : " (no stack from the platform)");
}

/* The first byte of [from, to) of obj that is not `want` (to if none). */
static unsigned int first_not(const void *obj, unsigned int from, unsigned int to,
                              unsigned char want)
{
    const unsigned char *b = obj;
    while (from < to && b[from] == want)
        from++;
    return from;
}

/* Where a free object's poison is broken (c_object_size if intact). */
static unsigned int poison_broken(const struct kmem_cache *c, const void *obj)
{
    unsigned int last = c->c_object_size - 1;
    unsigned int at = first_not(obj, 0, last, POISON_FREE);
    if (at == last && ((const unsigned char *)obj)[last] == POISON_END)
        at = c->c_object_size;
    return at;
}

static void poison(const struct kmem_cache *c, void *obj)
{
    kmem_memset(obj, POISON_FREE, c->c_object_size - 1);
    ((unsigned char *)obj)[c->c_object_size - 1] = POISON_END;
}

static void redzone_fill(const struct kmem_cache *c, void *obj, unsigned char v)
{
    kmem_memset((char *)obj + c->c_object_size, v, c->c_redzone - c->c_object_size);
}

void kmem_debug_slab_init(struct kmem_cache *c, struct slab *slab)
{
    if (!c->c_debug)
        return;
    for (unsigned int i = 0; i < c->c_objs_per_slab; i++) {
        char *obj = slab->sl_objs + (size_t)i * c->c_size;
        meta_open(c, obj);
        if (c->c_debug & SLAB_RED_ZONE)
            redzone_fill(c, obj, RED_INACTIVE);
        if (c->c_debug & SLAB_POISON)
            poison(c, obj);
        if (c->c_debug & SLAB_STORE_USER)
            kmem_memset(track_of(c, obj, false), 0, 2 * sizeof(struct kmem_track));
        meta_close(c, obj, false);
    }
}

/* ---- checks ------------------------------------------------------------------------- */

/* Bits set in w (no libgcc call: the core links nothing but the hooks). */
static unsigned int bits_set(unsigned long w)
{
    unsigned int n = 0;
    for (; w; w &= w - 1)
        n++;
    return n;
}

/* What is wrong with a slab's header, or NULL (D3, owners). */
static const char *slab_damage(const struct kmem_cache *c, const struct slab *slab,
                               unsigned int *free_bits)
{
    unsigned int n = 0;
    for (unsigned int w = 0; w < c->c_map_words; w++)
        n += bits_set(slab->sl_free_map[w]);
    *free_bits = n;
    unsigned int tail = c->c_objs_per_slab % BITS;
    if (slab->sl_cache != c || slab->sl_page->pg_owner_p0 != slab)
        return "its header no longer names its cache and page";
    if (tail && (slab->sl_free_map[c->c_map_words - 1] >> tail))
        return "its free map marks objects past the slab's end";
    if (slab->sl_inuse > c->c_objs_per_slab || n != c->c_objs_per_slab - slab->sl_inuse)
        return "its free map disagrees with its count of objects in use";
    return NULL;
}

static _Noreturn void report_slab_locked(struct kmem_cache *c, const struct slab *slab,
                                         const char *why, unsigned int free_bits)
{
    kmem_mutex_unlock(&c->c_lock);
    kmem_error(KMERR_FREELIST,
               "slab %p of cache %s (objects at %p): %s (%u free in the map, "
               "%u in use by the count, %u objects)",
               (const void *)slab, c->c_name, (const void *)slab->sl_objs, why, free_bits,
               slab->sl_inuse, c->c_objs_per_slab);
}

static void check_slab_locked(struct kmem_cache *c, const struct slab *slab)
{
    unsigned int free_bits;
    const char *why = slab_damage(c, slab, &free_bits);
    if (why)
        report_slab_locked(c, slab, why, free_bits);
}

/* Report a damaged object: the error line, its owner's stacks, the panic. */
static _Noreturn void report_object_locked(struct kmem_cache *c, enum kmem_error err, void *obj,
                                           unsigned int at, unsigned char want,
                                           const char *found_by, const void *caller)
{
    unsigned char got = ((const unsigned char *)obj)[at];
    char line[160];
    kmem_snprintf(line, sizeof line,
                  "object %p (%u bytes) of cache %s: byte %u (%p) is %#x, "
                  "expected %#x; found by %s from %p",
                  obj, c->c_object_size, c->c_name, at, (void *)((char *)obj + at), got, want,
                  found_by, caller);
    kmem_mutex_unlock(&c->c_lock);
    kmem_report_begin(err, "%s", line);
    track_print(c, obj, false);
    track_print(c, obj, true);
    kmem_report_end();
}

void kmem_debug_alloc_locked(struct kmem_cache *c, struct slab *slab, void *obj)
{
    if (c->c_debug & SLAB_CONSISTENCY_CHECKS)
        check_slab_locked(c, slab);
    meta_open(c, obj);
    if (c->c_debug & SLAB_POISON) {
        unsigned int at = poison_broken(c, obj);
        if (at < c->c_object_size)
            report_object_locked(c, KMERR_POISON, obj, at,
                                 at == c->c_object_size - 1 ? POISON_END : POISON_FREE,
                                 "an allocation", KMEM_RET_ADDR());
    }
    if (c->c_debug & SLAB_RED_ZONE) {
        unsigned int at = first_not(obj, c->c_object_size, c->c_redzone, RED_INACTIVE);
        if (at < c->c_redzone)
            report_object_locked(c, KMERR_REDZONE, obj, at, RED_INACTIVE, "an allocation",
                                 KMEM_RET_ADDR());
        redzone_fill(c, obj, RED_ACTIVE);
    }
    if (c->c_debug & SLAB_STORE_USER)
        track_set(c, obj, false);
    meta_close(c, obj, true);
    if (c->c_debug & SLAB_TRACE)
        kmem_log("trace: alloc %s %p (%u bytes)", c->c_name, obj, c->c_object_size);
}

void kmem_debug_free_locked(struct kmem_cache *c, struct slab *slab, void *obj, const void *caller)
{
    unsigned int idx = (unsigned int)(((char *)obj - slab->sl_objs) / c->c_size);
    meta_open(c, obj);
    if (slab_obj_is_free(slab, idx)) {
        char line[160];
        kmem_snprintf(line, sizeof line,
                      "object %p (%u bytes) of cache %s freed from %p: it is "
                      "already free",
                      obj, c->c_object_size, c->c_name, caller);
        kmem_mutex_unlock(&c->c_lock);
        kmem_report_begin(KMERR_DOUBLE_FREE, "%s", line);
        track_print(c, obj, false);
        track_print(c, obj, true);
        kmem_report_end();
    }
    if (c->c_debug & SLAB_CONSISTENCY_CHECKS)
        check_slab_locked(c, slab);
    if (c->c_debug & SLAB_RED_ZONE) {
        unsigned int at = first_not(obj, c->c_object_size, c->c_redzone, RED_ACTIVE);
        if (at < c->c_redzone)
            report_object_locked(c, KMERR_REDZONE, obj, at, RED_ACTIVE, "its free", caller);
        redzone_fill(c, obj, RED_INACTIVE);
    }
    if (c->c_debug & SLAB_STORE_USER)
        track_set(c, obj, true);
    if (c->c_debug & SLAB_POISON)
        poison(c, obj);
    meta_close(c, obj, false);
    if (c->c_debug & SLAB_TRACE)
        kmem_log("trace: free %s %p from %p", c->c_name, obj, caller);
}

void kmem_debug_leak(const struct kmem_cache *c, const void *obj)
{
    kmem_log("kmem_cache_destroy(%s): object %p still allocated", c->c_name, obj);
    if (c->c_debug & SLAB_STORE_USER) {
        kmem_san_access((char *)(uintptr_t)obj + c->c_track, 2 * sizeof(struct kmem_track));
        track_print(c, obj, false);
    }
}

/* ---- validation ------------------------------------------------------------------------ */

/* Check one object of a debug cache (D1, D2); log what is wrong. */
static int validate_object(const struct kmem_cache *c, void *obj, bool free)
{
    int bad = 0;
    meta_open(c, obj);
    if ((c->c_debug & SLAB_RED_ZONE)) {
        unsigned char want = free ? RED_INACTIVE : RED_ACTIVE;
        unsigned int at = first_not(obj, c->c_object_size, c->c_redzone, want);
        if (at < c->c_redzone) {
            kmem_log("validate: %s: object %p (%u bytes, %s) of cache %s: byte %u is %#x, "
                     "expected %#x",
                     kmem_error_name(KMERR_REDZONE), obj, c->c_object_size,
                     free ? "free" : "allocated", c->c_name, at, ((unsigned char *)obj)[at], want);
            bad = 1;
        }
    }
    if (free && (c->c_debug & SLAB_POISON)) {
        unsigned int at = poison_broken(c, obj);
        if (at < c->c_object_size) {
            kmem_log("validate: %s: object %p (%u bytes, free) of cache %s: byte %u is %#x, "
                     "expected %#x",
                     kmem_error_name(KMERR_POISON), obj, c->c_object_size, c->c_name, at,
                     ((unsigned char *)obj)[at],
                     at == c->c_object_size - 1 ? POISON_END : POISON_FREE);
            bad = 1;
        }
    }
    if (bad) {
        track_print(c, obj, false);
        track_print(c, obj, true);
    }
    meta_close(c, obj, !free);
    return bad;
}

int kmem_cache_validate(struct kmem_cache *c)
{
    int bad = 0;
    kmem_mutex_lock(&c->c_lock);
    struct list_head *lists[] = {&c->c_full, &c->c_partial, &c->c_empty};
    for (unsigned int l = 0; l < 3; l++) {
        struct list_head *pos;
        list_for_each (pos, lists[l]) {
            struct slab *slab = list_entry(pos, struct slab, sl_link);
            unsigned int free_bits;
            const char *why = slab_damage(c, slab, &free_bits);
            if (why) {
                kmem_log("validate: %s: slab %p of cache %s: %s (%u free in the map, %u in use "
                         "by the count)",
                         kmem_error_name(KMERR_FREELIST), (void *)slab, c->c_name, why, free_bits,
                         slab->sl_inuse);
                bad++;
                continue; /* its map cannot be trusted to tell free objects */
            }
            if (!(c->c_debug & (SLAB_RED_ZONE | SLAB_POISON)))
                continue;
            for (unsigned int i = 0; i < c->c_objs_per_slab; i++)
                bad += validate_object(c, slab->sl_objs + (size_t)i * c->c_size,
                                       slab_obj_is_free(slab, i));
        }
    }
    kmem_mutex_unlock(&c->c_lock);
    return bad;
}

static void validate_one(struct kmem_cache *c, void *arg)
{
    *(int *)arg += kmem_cache_validate(c);
}

int kmem_validate(void)
{
    int bad = 0;
    if (kmem_is_up())
        kmem_slab_for_each_cache(validate_one, &bad);
    return bad;
}
