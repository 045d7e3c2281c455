/* SPDX-License-Identifier: MIT */
/*
 * pcp.c - per-CPU page lists (Linux's per_cpu_pages, "pcp").
 *
 * Why. Every buddy operation takes the zone lock, which all CPUs share. Most
 * requests are for order 0 (and small orders), and a page freed is often
 * wanted again soon by the same CPU. So each CPU keeps, per zone and per
 * order 0..PCP_MAX_ORDER, a LIFO list of free blocks: allocation pops, free
 * pushes, under the CPU's own lock only (an uncontended try-lock: one atomic
 * exchange). An empty list is refilled with a batch of blocks, and a list
 * that reaches its high mark is drained by a batch, taking the zone lock once
 * per batch instead of once per block.
 *
 * In a process, a CPU is a thread: its area (struct kmem_cpu) lives in
 * initial-exec TLS and is attached to the registry on first use. When the
 * thread exits the platform calls kmem_cpu_detach, which gives its blocks
 * back, so the lists of exited threads are never lost. drain_all_pages walks
 * the registry and empties every list.
 *
 * Invariants (checked by kmem_page_check):
 *   C1. Every block on a list of (zone z, order n) has its head in PS_PCP with
 *       pg_order n and pg_zone z; pl_count counts the chain exactly.
 *   C2. pl_count <= pl_high outside a CPU lock; pl_high is 0 for every list
 *       while a __GFP_NOFAIL request waits for freed pages (pcp_throttle),
 *       and the lists are then empty.
 *   C3. An area is on the registry if and only if it is CPU_ATTACHED; a
 *       detached or dead area holds no block.
 *
 * Lock order: registry_lock -> cpu_lock -> zone lock. The owner's fast path
 * only try-locks cpu_lock; if that fails (a drain holds it), the slow path
 * goes to the buddy lists directly rather than wait.
 */
#include "fork.h"
#include "magazine.h"
#include "pcp.h"
#include "watermark.h"

KMEM_PERCPU_DEFINE(struct kmem_cpu, kmem_cpu_area, KMEM_CPU_INIT);

static struct kmem_mutex registry_lock;
static struct list_head registry = {&registry, &registry};

void pcp_zone_init(struct zone *z)
{
    if (z->z_managed_pages < PCP_MIN_ZONE_PAGES) {
        z->z_pcp_batch = 0;
        z->z_pcp_high = 0;
        return;
    }
    /* Like Linux's zone_batchsize: about a thousandth of the zone, bounded so
     * that one batch keeps the zone lock for a short, fixed time. */
    unsigned long batch = z->z_managed_pages >> 10;
    if (batch < 4)
        batch = 4;
    if (batch > 63)
        batch = 63;
    z->z_pcp_batch = (unsigned int)batch;
    z->z_pcp_high = (unsigned int)batch * 4;
}

static unsigned int list_batch(const struct zone *z, unsigned int order)
{
    unsigned int n = z->z_pcp_batch >> order;
    return n ? n : 1;
}

/* Move up to n blocks from a list to the buddy lists. cpu_lock held. */
static void drain_list(struct zone *z, struct pcp_list *list, unsigned int order, unsigned int n)
{
    if (!list->pl_head)
        return;
    kmem_mutex_lock(&z->z_lock);
    while (n-- && list->pl_head) {
        struct page *page = list->pl_head;
        list->pl_head = pcp_next(page);
        list->pl_count--;
        buddy_give_locked(z, pf_page_to_pfn(page), order);
    }
    kmem_mutex_unlock(&z->z_lock);
    kmem_pages_freed();
}

/* The high mark of a CPU's list of (zone, order): 0 (no caching) for zones
 * without lists and while a __GFP_NOFAIL request waits for freed pages. */
static unsigned int pcp_throttled; /* waiters; under registry_lock */

static unsigned int list_high(const struct zone *z, unsigned int order)
{
    unsigned int high = z->z_pcp_high;
    if (!high || pcp_throttled)
        return 0;
    return high >> order ? high >> order : 1;
}

static void drain_cpu_locked(struct kmem_cpu *cpu)
{
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        for (unsigned int o = 0; o < PCP_NR_ORDERS; o++)
            drain_list(&kmem_zones[zi], cpu_list(cpu, zi, o), o, ~0u);
}

/* First use of this CPU's area since boot: size its lists and register it. */
static KMEM_NOINLINE bool cpu_attach(struct kmem_cpu *cpu)
{
    bool attached = false;
    kmem_mutex_lock(&registry_lock);
    kmem_spin_lock(&cpu->cpu_lock);
    if (cpu->cpu_state == CPU_DETACHED && kmem_frames.fr_up) {
        for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++) {
            for (unsigned int o = 0; o < PCP_NR_ORDERS; o++) {
                struct pcp_list *list = cpu_list(cpu, zi, o);
                list->pl_head = NULL;
                list->pl_count = 0;
                list->pl_high = list_high(&kmem_zones[zi], o);
            }
        }
        list_add(&cpu->cpu_link, &registry);
        cpu->cpu_state = CPU_ATTACHED;
        attached = true;
    }
    kmem_spin_unlock(&cpu->cpu_lock);
    kmem_mutex_unlock(&registry_lock);
    if (attached)
        kmem_pl_cpu_attach(cpu);
    return attached;
}

/* Lock this CPU's lists if they are usable: attached, and not held by a drain
 * running elsewhere. Returns NULL when the caller should use the buddy lists
 * directly. */
bool kmem_cpu_attach_self(struct kmem_cpu *cpu)
{
    if (cpu->cpu_state == CPU_ATTACHED)
        return true;
    return cpu->cpu_state == CPU_DETACHED && cpu_attach(cpu);
}

void kmem_cpu_registry_lock(void)
{
    kmem_mutex_lock(&registry_lock);
}

void kmem_cpu_registry_unlock(void)
{
    kmem_mutex_unlock(&registry_lock);
}

void kmem_cpu_for_each_locked(void (*fn)(struct kmem_cpu *cpu, void *arg), void *arg)
{
    struct list_head *pos;
    list_for_each (pos, &registry)
        fn(list_entry(pos, struct kmem_cpu, cpu_link), arg);
}

static struct kmem_cpu *cpu_lists_lock(void)
{
    struct kmem_cpu *cpu = kmem_this_cpu();
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!kmem_spin_trylock(&cpu->cpu_lock))
            return NULL;
        if (likely(cpu->cpu_state == CPU_ATTACHED))
            return cpu;
        unsigned int state = cpu->cpu_state;
        kmem_spin_unlock(&cpu->cpu_lock);
        if (state != CPU_DETACHED || !cpu_attach(cpu))
            return NULL;
    }
    return NULL;
}

struct page *pcp_alloc_slow(struct zone *z, unsigned int order, unsigned long mark)
{
    struct kmem_cpu *cpu = cpu_lists_lock();
    if (!cpu)
        return buddy_alloc(z, order, mark);
    struct pcp_list *list = cpu_list(cpu, z - kmem_zones, order);
    if (!list->pl_head && !list->pl_high) {
        /* Throttled: no caching, straight from the buddy lists. */
        kmem_spin_unlock(&cpu->cpu_lock);
        return buddy_alloc(z, order, mark);
    }
    if (!list->pl_head) {
        /* A refill: every block of the batch must leave more than mark free
         * (the pages on the list no longer count as free). */
        unsigned int n = list_batch(z, order);
        kmem_mutex_lock(&z->z_lock);
        while (n-- && zone_watermark_ok(z, order, mark)) {
            struct page *page = buddy_take_locked(z, order);
            if (!page)
                break;
            page_set_state(page, PS_PCP);
            pcp_set_next(page, list->pl_head);
            list->pl_head = page;
            list->pl_count++;
        }
        kmem_mutex_unlock(&z->z_lock);
    }
    struct page *page = list->pl_head;
    if (page) {
        list->pl_head = pcp_next(page);
        list->pl_count--;
        page_set_state(page, PS_ALLOC);
    }
    kmem_spin_unlock(&cpu->cpu_lock);
    return page;
}

void pcp_free_slow(struct zone *z, struct page *page, unsigned int order)
{
    struct kmem_cpu *cpu = cpu_lists_lock();
    if (!cpu) {
        buddy_free(z, page, order);
        return;
    }
    struct pcp_list *list = cpu_list(cpu, z - kmem_zones, order);
    if (list->pl_count >= list->pl_high)
        drain_list(z, list, order, list_batch(z, order));
    if (list->pl_high) {
        pcp_set_next(page, list->pl_head);
        list->pl_head = page;
        list->pl_count++;
        page_set_state(page, PS_PCP);
        kmem_spin_unlock(&cpu->cpu_lock);
        kmem_discard_maybe(); /* the drain may have completed large blocks */
        return;
    }
    kmem_spin_unlock(&cpu->cpu_lock);
    buddy_free(z, page, order);
}

void drain_all_pages(void)
{
    if (!kmem_frames.fr_up)
        return;
    kmem_mutex_lock(&registry_lock);
    struct list_head *pos;
    list_for_each (pos, &registry) {
        struct kmem_cpu *cpu = list_entry(pos, struct kmem_cpu, cpu_link);
        kmem_spin_lock(&cpu->cpu_lock);
        drain_cpu_locked(cpu);
        kmem_spin_unlock(&cpu->cpu_lock);
    }
    kmem_mutex_unlock(&registry_lock);
}

void pcp_throttle(bool on)
{
    kmem_mutex_lock(&registry_lock);
    bool change = on ? pcp_throttled++ == 0 : --pcp_throttled == 0;
    if (change) {
        struct list_head *pos;
        list_for_each (pos, &registry) {
            struct kmem_cpu *cpu = list_entry(pos, struct kmem_cpu, cpu_link);
            kmem_spin_lock(&cpu->cpu_lock);
            for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
                for (unsigned int o = 0; o < PCP_NR_ORDERS; o++)
                    cpu_list(cpu, zi, o)->pl_high = list_high(&kmem_zones[zi], o);
            if (on)
                drain_cpu_locked(cpu);
            kmem_spin_unlock(&cpu->cpu_lock);
        }
    }
    kmem_mutex_unlock(&registry_lock);
}

void kmem_cpu_detach(struct kmem_cpu *cpu)
{
    kmem_mutex_lock(&registry_lock);
    /* Magazines first: their objects go back to the depots and slabs, which
     * may free pages onto this CPU's lists, drained just below. */
    if (cpu->cpu_state == CPU_ATTACHED)
        kmem_magazine_cpu_flush(cpu);
    kmem_spin_lock(&cpu->cpu_lock);
    if (cpu->cpu_state == CPU_ATTACHED) {
        drain_cpu_locked(cpu);
        list_del(&cpu->cpu_link);
    }
    for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
        for (unsigned int o = 0; o < PCP_NR_ORDERS; o++)
            *cpu_list(cpu, zi, o) = (struct pcp_list){NULL, 0, 0};
    cpu->cpu_state = CPU_DEAD;
    kmem_spin_unlock(&cpu->cpu_lock);
    kmem_mutex_unlock(&registry_lock);
}

void pcp_lock_all(void)
{
    kmem_mutex_lock(&registry_lock);
    struct list_head *pos;
    list_for_each (pos, &registry)
        kmem_spin_lock(&list_entry(pos, struct kmem_cpu, cpu_link)->cpu_lock);
}

void pcp_unlock_all(void)
{
    struct list_head *pos;
    list_for_each (pos, &registry)
        kmem_spin_unlock(&list_entry(pos, struct kmem_cpu, cpu_link)->cpu_lock);
    kmem_mutex_unlock(&registry_lock);
}

void pcp_visit_locked(pcp_visit_fn fn, void *arg)
{
    struct list_head *pos;
    list_for_each (pos, &registry) {
        struct kmem_cpu *cpu = list_entry(pos, struct kmem_cpu, cpu_link);
        for (unsigned int zi = 0; zi < KMEM_NR_ZONES; zi++)
            for (unsigned int o = 0; o < PCP_NR_ORDERS; o++)
                fn(arg, zi, o, cpu_list(cpu, zi, o));
    }
}

void pcp_reset_all(void)
{
    kmem_mutex_lock(&registry_lock);
    pcp_throttled = 0;
    while (!list_empty(&registry)) {
        struct kmem_cpu *cpu = list_first_entry(&registry, struct kmem_cpu, cpu_link);
        kmem_spin_lock(&cpu->cpu_lock);
        kmem_memset(cpu->cpu_lists, 0, sizeof cpu->cpu_lists);
        kmem_cpu_slots_reset(cpu);
        cpu->cpu_state = CPU_DETACHED;
        list_del(&cpu->cpu_link);
        kmem_spin_unlock(&cpu->cpu_lock);
    }
    kmem_mutex_unlock(&registry_lock);
}

/* fork (fork.c): the registry first (a thread's exit holds it while it
 * returns its magazines through the cache list and the depots), ... */
void pcp_fork_lock_registry(bool lock)
{
    if (lock)
        kmem_mutex_lock(&registry_lock);
    else
        kmem_mutex_unlock(&registry_lock);
}

/* ... and every CPU's list lock after the caches' locks (registry held). */
void pcp_fork_lock_cpus(bool lock)
{
    struct list_head *pos;
    list_for_each (pos, &registry) {
        struct kmem_spin *l = &list_entry(pos, struct kmem_cpu, cpu_link)->cpu_lock;
        if (lock)
            kmem_spin_lock(l);
        else
            kmem_spin_unlock(l);
    }
}
