/* SPDX-License-Identifier: MIT */
/*
 * pcp.h - per-CPU page lists (Linux's per_cpu_pages): see pcp.c.
 */
#ifndef KMEM_PCP_H
#define KMEM_PCP_H

#include "kmem_pl.h"
#include "magazine.h"
#include "zone.h"

enum {
    PCP_MAX_ORDER = 3, /* orders 0..3 are cached per CPU (Linux: up to
                          PAGE_ALLOC_COSTLY_ORDER) */
    PCP_NR_ORDERS = PCP_MAX_ORDER + 1,
    PCP_MIN_ZONE_PAGES = 1024, /* smaller zones have no per-CPU lists, so a
                                  textbook machine coalesces on every free */
};

struct pcp_list {
    struct page *pl_head;  /* LIFO chain through pg_lru.next; heads in PS_PCP */
    unsigned int pl_count; /* blocks on the chain */
    unsigned int pl_high;  /* a free finding pl_count == pl_high drains first;
                              0 until the area is attached */
};

enum cpu_state {
    CPU_DETACHED = 0, /* never used, or reset by kmem_shutdown */
    CPU_ATTACHED = 1, /* on the registry; lists in use */
    CPU_DEAD = 2,     /* its thread is exiting: bypass the lists */
};

struct kmem_cpu {
    struct kmem_spin cpu_lock; /* the owner's fast path try-locks it; a drain
                                  from another CPU takes it */
    unsigned int cpu_state;    /* enum cpu_state, under cpu_lock and registry */
    struct pcp_list cpu_lists[PCP_NR_ORDERS][KMEM_NR_ZONES]; /* [order][zone]:
                                                 the fast paths index it with one lea */
    struct list_head cpu_link;                               /* on the registry while attached */
    /* Per-CPU caches of the caches whose ids have no slot (ids from
     * KMEM_CPU_SLOTS - 1 on, reached by the slow paths only), grown on
     * demand and indexed by id. */
    struct kmem_cpu_cache *cpu_overflow;
    unsigned int cpu_noverflow;
    /* The magazine layer's per-CPU caches (magazine.c): slot 0 is the
     * sentinel every cache without a slot of its own points at (it stays
     * empty and full at once, so both fast paths leave for the slow path),
     * slots 1 .. KMEM_CPU_SLOTS - 1 belong to the caches of ids 0 .. 126.
     * A cache finds its slot at the constant byte offset c_cpu_off. Last in
     * the area, so that the page lists' lock stays at offset 0 (the page
     * fast paths address it as %fs:constant). Only the owner touches the
     * slots, but for kmem_cache_destroy and kmem_exit, which walk the
     * registry under its lock (and the cache is idle by contract). */
    struct kmem_cpu_cache cpu_slots[KMEM_CPU_SLOTS];
} KMEM_CACHE_ALIGNED;

/* The slot offset of a cache without a slot of its own: the sentinel. */
#define KMEM_CPU_NO_SLOT offsetof(struct kmem_cpu, cpu_slots)
#define KMEM_CPU_SLOT_OFF(slot)                                                                    \
    (offsetof(struct kmem_cpu, cpu_slots) + (slot) * sizeof(struct kmem_cpu_cache))

/* The initial state of every area: all slots on the empty sentinel magazine
 * (a zeroed slot would make the fast paths dereference NULL). */
#define KMEM_CPU_INIT                                                                              \
    {                                                                                              \
        .cpu_slots = { [0 ... KMEM_CPU_SLOTS - 1] = KMEM_CPU_CACHE_INIT }                          \
    }

KMEM_PERCPU_DECLARE(struct kmem_cpu, kmem_cpu_area) KMEM_HIDDEN;

static KMEM_ALWAYS_INLINE struct pcp_list *cpu_list(struct kmem_cpu *cpu, unsigned int zone,
                                                    unsigned int order)
{
    return &cpu->cpu_lists[order][zone];
}

static KMEM_ALWAYS_INLINE struct kmem_cpu *kmem_this_cpu(void)
{
    return KMEM_THIS_CPU_PTR(kmem_cpu_area);
}

/* This CPU's slot at byte offset off of its area (a cache's c_cpu_off), for
 * the fast paths; possibly a pointer in another address space (the hosted
 * platform's %fs), so only its fields are used, never the pointer itself. */
#define kmem_this_cpu_slot(off) KMEM_THIS_CPU_AT(struct kmem_cpu_cache, kmem_cpu_area, (off))

static KMEM_ALWAYS_INLINE struct page *pcp_next(const struct page *page)
{
    return (struct page *)(void *)page->pg_lru.next;
}

static KMEM_ALWAYS_INLINE void pcp_set_next(struct page *page, struct page *next)
{
    page->pg_lru.next = (struct list_head *)(void *)next;
}

/* Slow paths of the per-CPU lists (the fast paths are inline in
 * page_alloc.c). Each returns/accepts a block of the given zone and order. */
struct page *pcp_alloc_slow(struct zone *z, unsigned int order, unsigned long mark);
void pcp_free_slow(struct zone *z, struct page *page, unsigned int order);

/* Stop (on) or resume (off, once as often as on) caching on every CPU's
 * lists: while a __GFP_NOFAIL request waits for freed pages, every free must
 * reach the buddy lists. Turning it on drains every list. */
void pcp_throttle(bool on);

/* Sizing of a zone's lists at boot (z_pcp_batch, z_pcp_high). */
void pcp_zone_init(struct zone *z);

/* For kmem_page_check: lock every attached CPU's lists (with the registry
 * lock, in lock order) and count the frames each zone holds on them;
 * visit calls fn on every listed block. */
void pcp_lock_all(void);
void pcp_unlock_all(void);
typedef void (*pcp_visit_fn)(void *arg, unsigned int zone, unsigned int order,
                             const struct pcp_list *list);
void pcp_visit_locked(pcp_visit_fn fn, void *arg);

/* Detach every CPU (kmem_shutdown): lists must already be drained. */
void pcp_reset_all(void);

/* Attach the calling CPU's area if it is not yet; false if it cannot be
 * (its thread is exiting, or kmem is down). */
bool kmem_cpu_attach_self(struct kmem_cpu *cpu);

/* The registry, for the magazine layer: lock it and visit every attached
 * CPU's area. */
void kmem_cpu_registry_lock(void);
void kmem_cpu_registry_unlock(void);
void kmem_cpu_for_each_locked(void (*fn)(struct kmem_cpu *cpu, void *arg), void *arg);

#endif /* KMEM_PCP_H */
