/* SPDX-License-Identifier: MIT */
/*
 * hosted.c - a machine in a process: the platform hooks for Linux user space,
 * and kmem_init/kmem_exit.
 *
 * "Physical RAM" is a memfd of mem_size bytes. The direct map maps all of it,
 * MAP_SHARED, at one virtual address aligned to the largest block (4 MiB), so
 * phys_to_virt(p) = direct + p and every block is as aligned virtually as it
 * is physically. Later layers (vmalloc) map the same memfd pages a second
 * time, as a kernel maps a frame twice. The struct page array is private
 * anonymous memory outside it, so "physical address 0" is the first byte of
 * managed memory and all of it is handed out (the book's 256 KiB segment).
 * Untouched memory costs nothing: the kernel backs the memfd lazily.
 *
 * The vmalloc range is a PROT_NONE reservation of 4 x mem_size (at least
 * 128 MiB, at most 4 TiB), made with the machine. kmem_pl_map maps memfd
 * pages into it MAP_SHARED | MAP_FIXED at their physical offsets, so a byte
 * is the same memory through its vmalloc address and through the direct
 * map; kmem_pl_unmap maps PROT_NONE anonymous memory over them again, so the
 * range stays reserved (a plain munmap would leave a hole another mmap could
 * take; only past the host's limit, where no mmap succeeds, does it munmap
 * and reserve the hole again at once).
 * Each mapped run is one host mapping, and the host allows vm.max_map_count
 * of them (65530 by default): past that mmap fails with ENOMEM, and vmalloc
 * returns NULL.
 *
 * Threads are the CPUs: each has its per-CPU area in TLS (kmem_pl.h); a
 * pthread key's destructor gives the area's pages back when a thread exits.
 * Locks sleep on futexes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <kmem/fault.h>
#include <kmem/init.h>
#include <kmem/platform.h>
#include <kmem/slab.h>

#include "hosted_knobs.h"

#define DIRECT_MAP_ALIGN (PAGE_SIZE << MAX_PAGE_ORDER)
#define VMALLOC_MIN      ((size_t)128 << 20)
#define VMALLOC_MAX      ((size_t)4 << 40)

/* ---- hooks ------------------------------------------------------------- */

void kmem_pl_write(const char *text, size_t len)
{
    while (len) {
        ssize_t n = write(STDERR_FILENO, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

_Noreturn void kmem_pl_panic(const char *message)
{
    (void)message; /* already written */
    abort();
}

void kmem_pl_lock_wait(int *word, int value)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

void kmem_pl_lock_wake(int *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void kmem_pl_yield(void)
{
    sched_yield();
}

unsigned int kmem_pl_cpu_id(void)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : (unsigned int)cpu;
}

unsigned int kmem_pl_stack(void **frames, unsigned int max)
{
    int n = backtrace(frames, max > 64 ? 64 : (int)max);
    return n < 0 ? 0 : (unsigned int)n;
}

/* KMEM_DEBUG (kmem/slab.h: kmem_slab_debug_set), before the machine's
 * caches are made. glibc's backtrace loads its unwinder (and allocates) on
 * its first call: make that call here, with no kmem lock held, rather than
 * in a debugged cache's allocation. */
uint64_t kmem_hosted_random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = 0; /* the core makes do (kmem_machine_desc.random_seed) */
    return seed;
}

void kmem_hosted_debug_from_env(void)
{
    const char *r = getenv("KMEM_RANDOM");
    if (r)
        kmem_slab_random_set(*r && *r != '0');
    const char *v = getenv("KMEM_DEBUG");
    if (!v)
        return;
    if (kmem_slab_debug_set(v) != 0) {
        fprintf(stderr,
                "kmem: KMEM_DEBUG=%s: expected letters of FZPUT, then ,cache names; "
                "ignored\n",
                v);
        return;
    }
    void *frame[2];
    (void)backtrace(frame, 2);
}

static pthread_key_t cpu_key;
static pthread_once_t cpu_key_once = PTHREAD_ONCE_INIT;
static bool cpu_key_ok;

static void cpu_key_destructor(void *cpu)
{
    kmem_cpu_detach(cpu);
}

static void cpu_key_create(void)
{
    cpu_key_ok = pthread_key_create(&cpu_key, cpu_key_destructor) == 0;
}

void kmem_pl_cpu_attach(struct kmem_cpu *cpu)
{
    pthread_once(&cpu_key_once, cpu_key_create);
    if (cpu_key_ok)
        pthread_setspecific(cpu_key, cpu);
}

/* ---- the machine ---------------------------------------------------------- */

static pthread_mutex_t machine_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    int fd;       /* the memfd: physical memory */
    char *direct; /* its direct map */
    size_t size;  /* bytes of physical memory */
    void *memmap; /* struct page array */
    size_t memmap_bytes;
    void *vmalloc;       /* the vmalloc range, reserved PROT_NONE */
    size_t vmalloc_size; /* bytes of it */
} machine = {.fd = -1};

/* ---- the vmalloc range's hooks ------------------------------------------- */

int kmem_hosted_fail_map_after;
int kmem_hosted_last_map_errno;

/* Count the injection knob down; true for the call it makes fail. */
static bool map_failure_injected(void)
{
    int n = __atomic_load_n(&kmem_hosted_fail_map_after, __ATOMIC_RELAXED);
    while (n > 0)
        if (__atomic_compare_exchange_n(&kmem_hosted_fail_map_after, &n, n - 1, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return n == 1;
    return false;
}

/* Reserve [virt, virt + bytes) again: inaccessible, costing nothing. */
static int reserve_fixed(void *virt, size_t bytes)
{
    void *res = mmap(virt, bytes, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    return res == MAP_FAILED ? -errno : 0;
}

int kmem_pl_map(void *virt, phys_addr_t phys, size_t bytes)
{
    if (map_failure_injected())
        return -ENOMEM;
    /* MAP_POPULATE: a kernel's vmalloc fills the page tables when it maps,
     * so the first touch takes no fault. Here that is one walk in this call
     * instead of a host page fault per page (about 5x cheaper per page for a
     * caller that writes its memory, bench/run.sh's vmalloc suite). */
    if (mmap(virt, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, machine.fd,
             (off_t)phys) != MAP_FAILED)
        return 0;
    int err = errno;
    __atomic_store_n(&kmem_hosted_last_map_errno, err, __ATOMIC_RELAXED);
    /* A failed MAP_FIXED mmap may already have removed what was there (the
     * kernel unmaps first): reserve it again. When the failure was the
     * mapping limit the range is still reserved and this fails too,
     * harmlessly. */
    reserve_fixed(virt, bytes);
    return -err;
}

void kmem_pl_unmap(void *virt, size_t bytes)
{
    if (reserve_fixed(virt, bytes) == 0)
        return;
    /* Past the host's mapping limit every mmap fails, even one that would
     * lower the count by replacing many mappings with one. munmap never
     * needs a new mapping here (the runs are whole mappings), so unmap, and
     * then reserve the hole again; NOREPLACE, because in between another
     * thread's mmap may have been given part of it, and that must not be
     * clobbered. */
    if (munmap(virt, bytes) == 0) {
        void *res = mmap(virt, bytes, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
        if (res == virt)
            return;
        if (res != MAP_FAILED)
            munmap(res, bytes); /* an old kernel took NOREPLACE as a hint */
        static const char lost[] = "kmem: hosted: kmem_pl_unmap: another mapping took part of "
                                   "the vmalloc range while it was being reserved again\n";
        kmem_pl_write(lost, sizeof lost - 1);
        abort();
    }
    /* Freed frames would stay reachable through a stale address: stop. */
    static const char msg[] = "kmem: hosted: kmem_pl_unmap could not unmap a vmalloc range\n";
    kmem_pl_write(msg, sizeof msg - 1);
    abort();
}

/* Map fd at an address aligned to DIRECT_MAP_ALIGN. */
static void *map_aligned(int fd, size_t size)
{
    size_t span = size + DIRECT_MAP_ALIGN;
    char *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return NULL;
    uintptr_t aligned =
        ((uintptr_t)res + DIRECT_MAP_ALIGN - 1) & ~(uintptr_t)(DIRECT_MAP_ALIGN - 1);
    char *at = (char *)aligned;
    if (mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(res, span);
        return NULL;
    }
    if (at > res)
        munmap(res, (size_t)(at - res));
    size_t tail = (size_t)(res + span - (at + size));
    if (tail)
        munmap(at + size, tail);
    return at;
}

static void machine_release(void)
{
    if (machine.vmalloc)
        munmap(machine.vmalloc, machine.vmalloc_size);
    if (machine.direct)
        munmap(machine.direct, machine.size);
    if (machine.memmap)
        munmap(machine.memmap, machine.memmap_bytes);
    if (machine.fd >= 0)
        close(machine.fd);
    machine.direct = NULL;
    machine.memmap = NULL;
    machine.vmalloc = NULL;
    machine.fd = -1;
}

static int machine_create(size_t size)
{
    machine.size = size;
    machine.fd = memfd_create("kmem-physical-memory", MFD_CLOEXEC);
    if (machine.fd < 0)
        return -errno;
    if (ftruncate(machine.fd, (off_t)size) != 0)
        return -errno;
    machine.direct = map_aligned(machine.fd, size);
    if (!machine.direct)
        return -ENOMEM;
    machine.memmap_bytes = kmem_memmap_bytes(size);
    machine.memmap = mmap(NULL, machine.memmap_bytes, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (machine.memmap == MAP_FAILED) {
        machine.memmap = NULL;
        return -ENOMEM;
    }
    size_t vsize = size <= VMALLOC_MAX / 4 ? 4 * size : VMALLOC_MAX;
    machine.vmalloc_size = vsize < VMALLOC_MIN ? VMALLOC_MIN : vsize;
    machine.vmalloc = mmap(NULL, machine.vmalloc_size, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (machine.vmalloc == MAP_FAILED) {
        machine.vmalloc = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* KMEM_FAIL_PAGE_ALLOC and KMEM_FAILSLAB (kmem/fault.h). */
static void fail_from_env(enum kmem_fail_target t, const char *var)
{
    const char *v = getenv(var);
    struct kmem_fail_config f;
    if (!v)
        return;
    if (kmem_fail_parse(v, &f) == 0)
        kmem_fail_set(t, &f);
    else
        fprintf(stderr, "kmem: %s=%s: expected interval,probability,times[,cache]; ignored\n", var,
                v);
}

int kmem_init(const struct kmem_config *cfg)
{
    size_t size = cfg && cfg->mem_size ? cfg->mem_size : KMEM_DEFAULT_MEM_SIZE;
    if (size < PAGE_SIZE || size > KMEM_MAX_MEM_SIZE)
        return -EINVAL;
    size &= PAGE_MASK;
    pthread_mutex_lock(&machine_lock);
    if (kmem_is_up()) {
        pthread_mutex_unlock(&machine_lock);
        return -EBUSY;
    }
    int rc = machine_create(size);
    if (rc == 0) {
        kmem_hosted_debug_from_env();
        struct kmem_region ram = {.base = 0, .size = size};
        struct kmem_machine_desc desc = {.direct_map = machine.direct,
                                         .ram = &ram,
                                         .nr_ram = 1,
                                         .memmap = machine.memmap,
                                         .vmalloc_start = machine.vmalloc,
                                         .vmalloc_size = machine.vmalloc_size,
                                         .random_seed = kmem_hosted_random_seed(),
                                         .memmap_zeroed = true}; /* a fresh mapping */
        rc = kmem_boot(&desc);
        if (rc == 0) {
            fail_from_env(KMEM_FAIL_PAGES, "KMEM_FAIL_PAGE_ALLOC");
            fail_from_env(KMEM_FAIL_SLAB, "KMEM_FAILSLAB");
        }
    }
    if (rc != 0)
        machine_release();
    pthread_mutex_unlock(&machine_lock);
    return rc;
}

void kmem_exit(void)
{
    pthread_mutex_lock(&machine_lock);
    if (kmem_is_up()) {
        kmem_shutdown();
        machine_release();
    }
    pthread_mutex_unlock(&machine_lock);
}
