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
 * Threads are the CPUs: each has its per-CPU area in TLS (kmem_pl.h); a
 * pthread key's destructor gives the area's pages back when a thread exits.
 * Locks sleep on futexes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <kmem/init.h>
#include <kmem/platform.h>

#define DIRECT_MAP_ALIGN (PAGE_SIZE << MAX_PAGE_ORDER)

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
} machine = {.fd = -1};

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
    if (machine.direct)
        munmap(machine.direct, machine.size);
    if (machine.memmap)
        munmap(machine.memmap, machine.memmap_bytes);
    if (machine.fd >= 0)
        close(machine.fd);
    machine.direct = NULL;
    machine.memmap = NULL;
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
    return 0;
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
        struct kmem_region ram = {.base = 0, .size = size};
        struct kmem_machine_desc desc = {
            .direct_map = machine.direct, .ram = &ram, .nr_ram = 1, .memmap = machine.memmap};
        rc = kmem_boot(&desc);
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
