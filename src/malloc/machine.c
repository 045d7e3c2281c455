/* SPDX-License-Identifier: MIT */
/*
 * machine.c - the malloc's machine: private memory that grows, its startup
 * without recursion, and fork.
 *
 * Physical memory is a PROT_NONE reservation of address space (twice the
 * host's RAM, at least 4 GiB, at most 1 TiB; less if the host refuses) that
 * is the direct map, physical address 0 at its start, aligned to the largest
 * block. The struct page array for all of it is reserved too (0.8 %,
 * MAP_NORESERVE: only the pages that describe memory in use are touched).
 * kmem boots with one 64 MiB section; when a request finds the buddy system
 * empty, the grow handler makes the next section readable and writable and
 * adds it with kmem_memory_add (Linux's memory hotplug). Sections grow with
 * the heap (a quarter of it, at least 64 MiB), so a large heap takes few of
 * them. The memory is private, so a child of fork has its own copy.
 *
 * Startup: the first malloc of the process boots the machine. A call made by
 * the booting thread itself (a library function it uses that mallocs) gets
 * bytes from a small static bootstrap arena, which free and realloc know and
 * never reuse; other threads wait for the boot to finish.
 *
 * fork (pthread_atfork, registered after boot so that it is among the first
 * handlers and its prepare runs last): prepare takes stdio's list lock
 * first, then every malloc and kmem lock (kmem_fork_prepare); the parent
 * releases them; the child releases them and resets stdio's lock. Taking
 * stdio's lock first is what avoids the classic deadlock: glibc's fork takes
 * that lock after the prepare handlers, so a thread inside fflush(NULL)
 * holding it and waiting in malloc would otherwise wait forever for the
 * forking thread, which would wait for it. The lock is recursive, so
 * glibc's own locking of it succeeds.
 *
 * KMEM_MALLOC_HARDENED=1 (read once, here, when the machine starts, before
 * the classes are made, which it changes) turns on the hardened mode
 * (hardened.c). KMEM_TRACE=FILE, read at the same point, turns on the
 * recorder (trace_record.c), which also changes the classes.
 *
 * Looking inside (KMEM_STATS, a comma-separated list; KMEM_STATS_FILE):
 *   exit    when the process exits (our destructor, after the program's
 *           own), the report: the machine's summary line, resident memory
 *           by holder, buddyinfo and slabinfo.
 *   signal  the same report each time the process gets SIGUSR2. The handler
 *           takes no lock (it may have interrupted an allocation holding
 *           kmem's): it writes a byte to a pipe, and a thread of ours,
 *           started once the machine is up (outside every allocator lock,
 *           all signals blocked), reads it and writes the report. The
 *           handler is installed only if SIGUSR2's action was the default
 *           one at that point; a handler the program sets later replaces
 *           ours (SIGUSR2 is the program's to take), and a program that had
 *           set its own, or inherited SIG_IGN, keeps it. A child of fork
 *           has no such thread and ignores the signal (the handler checks
 *           the pid); a program it execs starts afresh.
 * The report goes to KMEM_STATS_FILE, appended (one process after another:
 * each report starts with its pid), if that is set, else to stderr.
 *
 * Lock order: the recorder's lock -> grow_lock -> huge-area lock -> kmem's
 * locks (src/core/fork.c). The hardened mode's lock is a leaf (nothing is
 * called under it); fork takes it after the recorder's, before the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <kmem/info.h>
#include <kmem/init.h>
#include <kmem/malloc.h>
#include <kmem/platform.h>

#include "../core/zone.h"
#include "../internal/fmt.h"
#include "../internal/lock.h"
#include "hosted_knobs.h"
#include "malloc_internal.h"
#include "trace_record.h"

#define MiB              ((size_t)1 << 20)
#define GiB              ((size_t)1 << 30)
#define DIRECT_MAP_ALIGN ((size_t)PAGE_SIZE << MAX_PAGE_ORDER)
#define BOOT_MEMORY      (64 * MiB)
#define SECTION_MIN      (64 * MiB)
#define RESERVE_MIN      (4 * GiB)
#define RESERVE_MAX      ((size_t)1 << 40)
#define RESERVE_FLOOR    (256 * MiB) /* below this the host is too tight */

enum { STATE_DOWN, STATE_STARTING, STATE_UP, STATE_FAILED };

static int state;
static __thread bool starting_here __attribute__((tls_model("initial-exec")));

static struct {
    char *direct;    /* physical address 0 */
    size_t reserved; /* bytes of address space behind it */
    void *memmap;    /* struct pages for all of it */
    size_t memory;   /* bytes given to kmem so far */
    unsigned long sections;
    struct kmem_mutex grow_lock;
} m;

/* ---- the bootstrap arena ---------------------------------------------------------- */

/* Each block: a 16-byte header holding its size, then the bytes. */
static char bootstrap_arena[256 * 1024] __attribute__((aligned(4096)));
static size_t bootstrap_used;

void *kmem_malloc_bootstrap(size_t size, size_t align)
{
    if (align < 16)
        align = 16;
    for (;;) {
        size_t used = __atomic_load_n(&bootstrap_used, __ATOMIC_RELAXED);
        size_t start = (used + 16 + align - 1) & ~(align - 1);
        if (size > sizeof bootstrap_arena || start + size > sizeof bootstrap_arena) {
            errno = ENOMEM;
            return NULL;
        }
        size_t end = (start + size + 15) & ~(size_t)15;
        if (__atomic_compare_exchange_n(&bootstrap_used, &used, end, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            *(size_t *)(void *)(bootstrap_arena + start - 16) = size;
            return bootstrap_arena + start;
        }
    }
}

bool kmem_malloc_bootstrap_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)bootstrap_arena < sizeof bootstrap_arena;
}

size_t kmem_malloc_bootstrap_size(const void *p)
{
    return *(const size_t *)(const void *)((const char *)p - 16);
}

/* ---- growth ------------------------------------------------------------------------ */

static bool grow(unsigned long pages)
{
    size_t need = ((size_t)pages << PAGE_SHIFT);
    kmem_mutex_lock(&m.grow_lock);
    size_t section = m.memory / 4 > SECTION_MIN ? m.memory / 4 : SECTION_MIN;
    section = (section + DIRECT_MAP_ALIGN - 1) & ~(DIRECT_MAP_ALIGN - 1);
    if (section < need)
        section = (need + DIRECT_MAP_ALIGN - 1) & ~(DIRECT_MAP_ALIGN - 1);
    if (section > m.reserved - m.memory)
        section = m.reserved - m.memory;
    bool ok = section >= need && section > 0 &&
              mprotect(m.direct + m.memory, section, PROT_READ | PROT_WRITE) == 0 &&
              kmem_memory_add((phys_addr_t)m.memory, section) == 0;
    if (ok) {
        m.memory += section;
        m.sections++;
    }
    kmem_mutex_unlock(&m.grow_lock);
    return ok;
}

/* The buddy system's oldest free 4 MiB blocks, beyond its slack
 * (src/core/discard.c): the host takes their pages back. */
static void discard(phys_addr_t phys, size_t bytes)
{
    madvise(m.direct + phys, bytes, MADV_DONTNEED);
}

/* ---- fork -------------------------------------------------------------------------- */

/* glibc's stdio list lock (recursive); absent elsewhere. */
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
extern void _IO_list_resetlock(void) __attribute__((weak));

static void fork_prepare(void)
{
    if (_IO_list_lock)
        _IO_list_lock();
    kmem_malloc_trace_fork_prepare();
    kmem_hardened_fork_lock(true);
    kmem_mutex_lock(&m.grow_lock);
    kmem_malloc_huge_fork_lock(true);
    kmem_fork_prepare();
}

static void fork_parent(void)
{
    kmem_fork_parent();
    kmem_malloc_huge_fork_lock(false);
    kmem_mutex_unlock(&m.grow_lock);
    kmem_hardened_fork_lock(false);
    kmem_malloc_trace_fork_parent();
    if (_IO_list_unlock)
        _IO_list_unlock();
}

static void fork_child(void)
{
    kmem_fork_child();
    kmem_malloc_huge_fork_lock(false);
    kmem_mutex_unlock(&m.grow_lock);
    kmem_hardened_fork_lock(false);
    kmem_malloc_trace_fork_child();
    /* glibc resets the lock in a child of a multi-threaded parent and not
     * otherwise; a reset is right in both cases (one thread, no holder). */
    if (_IO_list_resetlock)
        _IO_list_resetlock();
}

/* ---- boot ---------------------------------------------------------------------------- */

static size_t host_ram(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : RESERVE_MIN;
}

/* Reserve the direct map and its memmap; false if the host gives neither
 * RESERVE_FLOOR nor more. */
static bool reserve(void)
{
    size_t want = 2 * host_ram();
    if (want < RESERVE_MIN)
        want = RESERVE_MIN;
    if (want > RESERVE_MAX)
        want = RESERVE_MAX;
    want &= ~(DIRECT_MAP_ALIGN - 1);
    for (size_t size = want; size >= RESERVE_FLOOR; size /= 2) {
        char *raw = mmap(NULL, size + DIRECT_MAP_ALIGN, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (raw == MAP_FAILED)
            continue;
        char *direct =
            (char *)(((uintptr_t)raw + DIRECT_MAP_ALIGN - 1) & ~(uintptr_t)(DIRECT_MAP_ALIGN - 1));
        if (direct > raw)
            munmap(raw, (size_t)(direct - raw));
        munmap(direct + size, (size_t)(raw + size + DIRECT_MAP_ALIGN - (direct + size)));
        size_t memmap_bytes = kmem_memmap_bytes((phys_addr_t)size);
        void *memmap = mmap(NULL, memmap_bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (memmap == MAP_FAILED || mprotect(direct, BOOT_MEMORY, PROT_READ | PROT_WRITE) != 0) {
            if (memmap != MAP_FAILED)
                munmap(memmap, memmap_bytes);
            munmap(direct, size);
            continue;
        }
        m.direct = direct;
        m.reserved = size;
        m.memmap = memmap;
        return true;
    }
    return false;
}

static bool boot(void)
{
    if (!reserve())
        return false;
    struct kmem_region ram = {.base = 0, .size = BOOT_MEMORY};
    struct kmem_machine_desc desc = {.direct_map = m.direct,
                                     .ram = &ram,
                                     .nr_ram = 1,
                                     .memmap = m.memmap,
                                     .phys_limit = (phys_addr_t)m.reserved,
                                     .random_seed = kmem_hosted_random_seed(),
                                     .memmap_zeroed = true};
    kmem_hosted_debug_from_env(); /* KMEM_DEBUG, KMEM_RANDOM: before the classes exist */
    if (kmem_boot(&desc) != 0)
        return false;
    m.memory = BOOT_MEMORY;
    m.sections = 1;
    kmem_set_grow_handler(grow);
    kmem_set_discard_handler(discard);
    kmem_malloc_classes_init(kmem_malloc_trace_init());
    return !kmem_malloc_hardened || kmem_hardened_init();
}

/* ---- looking inside: KMEM_STATS ------------------------------------------------------ */

/* The report is made in memory mapped for it, never the malloc's (at exit
 * the malloc may be half torn down, and on a signal the heap is the
 * program's, busy), and written with one write(2), so that reports of
 * processes sharing KMEM_STATS_FILE (O_APPEND) do not mix. A program that
 * closes stderr at exit (coreutils do) prints nothing there;
 * KMEM_STATS_FILE still gets it. */
static bool stats_at_exit;
static char stats_file[4096]; /* KMEM_STATS_FILE, or "" */

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Resident memory of the machine by what holds it (mincore on each block). */
struct resident {
    unsigned long kib[4]; /* free (lists and per-CPU), slabs, large kmalloc blocks, other pages */
};

static bool resident_of_block(void *arg, const struct kmem_block *b)
{
    struct resident *r = arg;
    if (b->state == KMEM_BLOCK_RESERVED)
        return true;
    size_t pages = (size_t)1 << b->order;
    unsigned char vec[64];
    unsigned long resident = 0;
    for (size_t done = 0; done < pages;) {
        size_t n = pages - done < sizeof vec ? pages - done : sizeof vec;
        if (mincore(m.direct + ((b->pfn + done) << PAGE_SHIFT), n << PAGE_SHIFT, vec) != 0)
            return true;
        for (size_t i = 0; i < n; i++)
            resident += vec[i] & 1;
        done += n;
    }
    unsigned int kind = 0;
    if (b->state == KMEM_BLOCK_ALLOCATED) {
        unsigned int owner = pf_pfn_to_page(b->pfn)->pg_owner;
        kind = owner == PG_OWNER_SLAB ? 1 : owner == PG_OWNER_KMALLOC ? 2 : 3;
    }
    r->kib[kind] += resident << (PAGE_SHIFT - 10);
    return true;
}

/* The report's text into buf (len bytes); the length it needs. */
static size_t stats_text(char *buf, size_t len, const struct kmem_malloc_info *info,
                         const struct resident *r)
{
    size_t n = kmem_text_append(
        buf, len, 0,
        "kmem-malloc: pid %d: memory %zu KiB in %lu sections, free %zu KiB (%zu KiB discarded), "
        "huge %zu KiB in %lu areas (%zu KiB cached)\n"
        "kmem-malloc: resident KiB: free %lu, slabs %lu, large kmalloc blocks %lu, other pages "
        "%lu\n",
        (int)getpid(), info->memory_bytes >> 10, info->sections, info->free_bytes >> 10,
        info->discarded_bytes >> 10, info->huge_bytes >> 10, info->huge_areas,
        info->huge_cached_bytes >> 10, r->kib[0], r->kib[1], r->kib[2], r->kib[3]);
    n += kmem_buddyinfo(n < len ? buf + n : NULL, n < len ? len - n : 0);
    n += kmem_slabinfo(n < len ? buf + n : NULL, n < len ? len - n : 0);
    return n;
}

/* The report: summary, resident memory by holder, buddyinfo, slabinfo. */
static void stats_report(void)
{
    struct kmem_malloc_info info;
    if (kmem_malloc_info(&info) != 0)
        return;
    int saved = errno;
    struct resident r = {{0}};
    kmem_page_walk(resident_of_block, &r);
    /* Sized first; the slack covers what changes meanwhile (a snprintf
     * semantics text is cut, never overrun). */
    size_t len = stats_text(NULL, 0, &info, &r) + 4096;
    char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf != MAP_FAILED) {
        size_t n = stats_text(buf, len, &info, &r);
        int fd =
            stats_file[0] ? open(stats_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
        write_all(fd >= 0 ? fd : 2, buf, n < len ? n : len - 1);
        if (fd >= 0)
            close(fd);
        munmap(buf, len);
    }
    errno = saved;
}

__attribute__((destructor)) static void stats_exit(void)
{
    if (stats_at_exit)
        stats_report();
}

/* KMEM_STATS=signal: the handler only wakes the thread (see the top). */
static int stats_pipe[2] = {-1, -1};
static pid_t stats_pid;

static void stats_on_signal(int sig)
{
    (void)sig;
    if (getpid() != stats_pid)
        return; /* a child of fork: the thread did not come along */
    int saved = errno;
    char byte = 1;
    (void)!write(stats_pipe[1], &byte, 1); /* a full pipe: a report is due anyway */
    errno = saved;
}

static void *stats_thread(void *arg)
{
    (void)arg;
    for (;;) {
        char bytes[64];
        ssize_t n = read(stats_pipe[0], bytes, sizeof bytes);
        if (n > 0)
            stats_report(); /* one report for signals that came together */
        else if (n == 0 || errno != EINTR)
            return NULL;
    }
}

/* Once the machine is up, from the thread that started it, holding no lock. */
static void stats_signal_start(void)
{
    struct sigaction old;
    if (sigaction(SIGUSR2, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
        old.sa_handler != SIG_DFL)
        return;
    if (pipe2(stats_pipe, O_CLOEXEC) != 0)
        return;
    /* The handler must never block: its end is non-blocking. */
    fcntl(stats_pipe[1], F_SETFL, fcntl(stats_pipe[1], F_GETFL) | O_NONBLOCK);
    stats_pid = getpid();
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved); /* the thread takes none of the program's signals */
    pthread_t t;
    int rc = pthread_create(&t, NULL, stats_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        close(stats_pipe[0]);
        close(stats_pipe[1]);
        return;
    }
    pthread_detach(t);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stats_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, NULL);
}

/* KMEM_STATS is a comma-separated list of exit and signal. */
static bool stats_wants(const char *list, const char *word)
{
    size_t len = strlen(word);
    while (list && *list) {
        if (!strncmp(list, word, len) && (list[len] == ',' || list[len] == '\0'))
            return true;
        list = strchr(list, ',');
        list = list ? list + 1 : NULL;
    }
    return false;
}

/* ---- startup --------------------------------------------------------------------------- */

bool kmem_malloc_machine_up(void)
{
    return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == STATE_UP;
}

bool kmem_malloc_machine_start(void)
{
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s == STATE_UP)
        return true;
    if (starting_here)
        return false;
    if (s == STATE_DOWN && __atomic_compare_exchange_n(&state, &s, STATE_STARTING, false,
                                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        starting_here = true;
        const char *stats = getenv("KMEM_STATS");
        stats_at_exit = stats_wants(stats, "exit");
        bool stats_on_signal_wanted = stats_wants(stats, "signal");
        const char *file = getenv("KMEM_STATS_FILE");
        if (file && strlen(file) < sizeof stats_file)
            memcpy(stats_file, file, strlen(file) + 1);
        const char *hardened = getenv("KMEM_MALLOC_HARDENED");
        kmem_malloc_hardened = hardened && !strcmp(hardened, "1");
        bool ok = boot();
        if (!ok)
            kmem_malloc_hardened = false;
        if (ok)
            kmem_malloc_trace_start(); /* seen by every thread that sees the machine up */
        starting_here = false;
        __atomic_store_n(&state, ok ? STATE_UP : STATE_FAILED, __ATOMIC_RELEASE);
        if (ok)
            pthread_atfork(fork_prepare, fork_parent, fork_child);
        if (ok && stats_on_signal_wanted)
            stats_signal_start();
        return ok;
    }
    while ((s = __atomic_load_n(&state, __ATOMIC_ACQUIRE)) == STATE_STARTING)
        sched_yield();
    return s == STATE_UP;
}

/* ---- info ---------------------------------------------------------------------------- */

int kmem_malloc_info(struct kmem_malloc_info *info)
{
    memset(info, 0, sizeof *info);
    if (!kmem_malloc_machine_up())
        return -1;
    kmem_mutex_lock(&m.grow_lock);
    info->reserved_bytes = m.reserved;
    info->memory_bytes = m.memory;
    info->sections = m.sections;
    kmem_mutex_unlock(&m.grow_lock);
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (kmem_zone_info((enum kmem_zone_type)zt, &zi)) {
            info->free_bytes += (zi.free_pages + zi.pcp_pages) << PAGE_SHIFT;
            info->discarded_bytes += zi.discarded_pages << PAGE_SHIFT;
        }
    }
    kmem_malloc_huge_info(&info->huge_bytes, &info->huge_areas, &info->huge_cached_bytes);
    return 0;
}
