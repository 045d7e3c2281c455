/* SPDX-License-Identifier: MIT */
/*
 * kmem/platform.h - the only door between kmem's core and its host.
 *
 * The core (page frames, buddy, per-CPU lists, slab, kmalloc, and vmalloc's
 * bookkeeping of its virtual range) is freestanding C: it calls no libc function and
 * includes no libc header. Everything host-specific goes through the hooks
 * below. The hosted build (src/platform/hosted/) implements them for Linux
 * user space; a kernel implements them itself and brings the machine up with
 * kmem_boot(). Besides these hooks the core needs memset, memcpy, memmove and
 * memcmp, which every freestanding C environment must provide (GCC and Clang
 * emit calls to them).
 *
 * Contract of every hook: it may not call back into kmem, it may not allocate
 * through kmem, and it is called with no kmem lock held unless its comment
 * says otherwise.
 */
#ifndef KMEM_PLATFORM_H
#define KMEM_PLATFORM_H

#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Hooks the host provides --------------------------------------------- */

/* Write one message (no trailing NUL; it ends with '\n') to the log or
 * console. Called with locks held: it must not block on kmem. */
KMEM_API void kmem_pl_write(const char *text, size_t len);

/* The default panic: the message was already written; stop for good. */
KMEM_API _Noreturn void kmem_pl_panic(const char *message);

/* Sleeping locks: block while *word == value (a futex wait; a spurious return
 * is fine), and wake one waiter blocked on word. A host without threads or
 * scheduling may implement wait as a pause and wake as nothing. */
KMEM_API void kmem_pl_lock_wait(int *word, int value);
KMEM_API void kmem_pl_lock_wake(int *word);

/* Let another thread run: called while spinning on a lock held by a thread
 * that may have been preempted (a kernel may do nothing). */
KMEM_API void kmem_pl_yield(void);

/* Per-CPU state. A kernel numbers its CPUs 0 .. KMEM_NR_CPUS-1 and returns the
 * current one (preemption must not move the caller while kmem runs; the core
 * only reads it at the start of an operation). The hosted build gives every
 * thread its own area instead and does not use this hook. */
KMEM_API unsigned int kmem_pl_cpu_id(void);

/* A CPU's (thread's) area is used for the first time: the host arranges for
 * kmem_cpu_detach(cpu) to run when the thread exits (nothing for a kernel). */
struct kmem_cpu;
KMEM_API void kmem_pl_cpu_attach(struct kmem_cpu *cpu);

/* Fill frames with up to max return addresses of the calling thread's
 * stack, innermost first, and return how many: the call stacks of owner
 * tracking (SLAB_STORE_USER, KMEM_DEBUG=U). Called with a cache lock held,
 * only for caches being debugged. A host that cannot unwind returns 0 (the
 * reports then say so). */
KMEM_API unsigned int kmem_pl_stack(void **frames, unsigned int max);

/* Map the physically contiguous bytes [phys, phys + bytes) at virt, read
 * and write, replacing what the range held (vmalloc's reservation): after it
 * every byte is the same memory through virt and through the direct map.
 * virt, phys and bytes are page-aligned and virt lies in the vmalloc range
 * of the machine description. Returns 0, or a negative errno (-ENOMEM when
 * the host's mappings run out); on failure the range must still be reserved
 * and map nothing. Called with no kmem lock held; calls may run at once on
 * different ranges. */
KMEM_API int kmem_pl_map(void *virt, phys_addr_t phys, size_t bytes);

/* Undo kmem_pl_map over [virt, virt + bytes) (one or more whole earlier
 * maps): afterwards an access there faults, and the range stays reserved for
 * vmalloc (nothing else may be placed there). Cannot fail. Called with no
 * kmem lock held. */
KMEM_API void kmem_pl_unmap(void *virt, size_t bytes);

/* ---- What the core offers the host --------------------------------------- */

/* Give back a thread's per-CPU lists; it will never run kmem again on this
 * area unless it attaches anew. Safe to call for an area never attached. */
KMEM_API void kmem_cpu_detach(struct kmem_cpu *cpu);

struct kmem_region {
    phys_addr_t base; /* first byte; rounded up to a page */
    phys_addr_t size; /* bytes; the end is rounded down to a page */
};

struct kmem_machine_desc {
    void *direct_map;              /* virtual address of physical address 0 */
    const struct kmem_region *ram; /* usable RAM: sorted, not overlapping */
    unsigned int nr_ram;
    void *memmap;           /* kmem_memmap_bytes(end of RAM) bytes for the
                               struct page array, 16-byte aligned, not
                               inside any RAM region handed to kmem */
    void *vmalloc_start;    /* virtual range for vmalloc and vmap, reserved by
                               the host (accesses fault until kmem_pl_map);
                               page-aligned, outside the direct map */
    size_t vmalloc_size;    /* bytes of it (a multiple of PAGE_SIZE); 0: no
                               vmalloc, and vmalloc returns NULL */
    phys_addr_t phys_limit; /* 0, or the end of the physical space that
                               memory may be added to later
                               (kmem_memory_add): memmap and the direct
                               map must then cover [0, phys_limit) */
    uint64_t random_seed;   /* entropy for the caches' secrets (the keys of
                               their free lists) and random free-list order:
                               from the host's random source (RDRAND, the
                               boot loader, getrandom); 0 works, with weaker
                               secrets made from addresses and a counter */
    bool memmap_zeroed;     /* the memmap is zero-filled memory (a fresh
                               anonymous mapping, cleared boot memory) that
                               kmem has not used before: kmem then writes
                               only the struct pages of holes and of the
                               blocks it uses, so the memmap's pages are
                               touched as the RAM is (a hosted heap's RSS
                               does not pay for memory it never uses) */
};

/* Bytes of struct page array needed to describe physical memory [0, phys_end). */
KMEM_API size_t kmem_memmap_bytes(phys_addr_t phys_end);

/* Bring the page allocator up over the described machine. Frames outside the
 * regions (holes, the kernel image, boot data) are reserved forever.
 * 0, -EINVAL (22) for a bad description, -EBUSY (16) if already up. */
KMEM_API int kmem_boot(const struct kmem_machine_desc *desc);

/* Take it down again; kmem_boot may follow. */
KMEM_API void kmem_shutdown(void);

/* Memory hotplug (Linux's add_memory + online_pages): give the RAM
 * [base, base + size) to the buddy system while it runs. The range must lie
 * above every frame already described (memory is appended) and below the
 * description's phys_limit; its struct pages are initialized here (the
 * memmap pages there are touched for the first time). Whole pages only.
 * 0, -EINVAL (22) for a range that breaks these rules, -ENODEV (19) when
 * kmem is not up. Callable from any thread, at any time. */
KMEM_API int kmem_memory_add(phys_addr_t base, size_t size);

/* Called by the page allocator, with no kmem lock held, when a request that
 * may sleep finds every zone below its watermark, before it reclaims: the
 * host may add memory (kmem_memory_add) for at least `pages` more pages and
 * return true to have the request retried, or return false. One handler;
 * NULL removes it. The previous one is returned. */
typedef bool (*kmem_grow_fn)(unsigned long pages);
KMEM_API kmem_grow_fn kmem_set_grow_handler(kmem_grow_fn fn);

/* Giving free memory back to the host. When a zone's free blocks of 64 KiB
 * or more that the host backs hold more frames than its high mark (a
 * sixteenth of the memory in use, at least 4 MiB), they are handed to this
 * handler, the largest first and the oldest of a size first, with no kmem
 * lock held and the block off the free lists, until half the mark is left;
 * the handler makes the host drop their backing (madvise(MADV_DONTNEED));
 * their contents need not survive. Allocation prefers backed blocks. NULL
 * (the default): nothing is given back. */
typedef void (*kmem_discard_fn)(phys_addr_t phys, size_t bytes);
KMEM_API kmem_discard_fn kmem_set_discard_handler(kmem_discard_fn fn);

/* fork: kmem_fork_prepare takes every kmem lock in the global lock order
 * (src/core/fork.c); after fork, the parent calls kmem_fork_parent and the
 * child kmem_fork_child, which release them. A host registers them with
 * pthread_atfork (the malloc does). Other threads must not be inside
 * kmem_cache_create/destroy across a fork. */
KMEM_API void kmem_fork_prepare(void);
KMEM_API void kmem_fork_parent(void);
KMEM_API void kmem_fork_child(void);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_PLATFORM_H */
