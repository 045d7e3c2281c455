/* SPDX-License-Identifier: MIT */
/*
 * trace_record.c - KMEM_TRACE=FILE: libkmem-malloc.so records every call of
 * the malloc family the program makes, as a kmem trace (docs/TRACE.md) that
 * `kmem replay` can run again on any of kmem's allocators.
 *
 * Why in the malloc: a program's real sequence of sizes, lifetimes and
 * frees, across all its threads, is what fragmentation and the caches'
 * behaviour depend on; a synthetic workload only guesses it.
 *
 * The file, one line per call (IDs are the pointers in hex, without 0x):
 *
 *     # kmem trace 1: PROGRAM (pid N)
 *     m ID SIZE              malloc (and memalign etc. with at most 16)
 *     c ID N SIZE            calloc(N, SIZE)
 *     a ID ALIGN SIZE        memalign, posix_memalign, aligned_alloc, valloc,
 *                            pvalloc (its rounded size) with ALIGN above 16
 *     r OLD NEW SIZE         realloc and reallocarray; OLD "-": realloc(NULL);
 *                            NEW "-": realloc(OLD, 0), which freed OLD
 *     f ID                   free, free_sized, free_aligned_sized
 *
 * Not recorded: free(NULL), calls that failed (they change nothing), and the
 * few blocks handed out from the bootstrap arena while the machine boots
 * (free ignores them too; a realloc of one is recorded as an "m" of the new
 * block). A "%p" in FILE is replaced by the process id.
 *
 * Zero cost when off: the fast paths are not touched. When on, malloc.c's
 * classes have no magazines (as a KMEM_DEBUG class), so every call reaches a
 * slow path, which records. Records go into a 64 KiB buffer under one lock
 * and out with write(2) when it is full and at exit; no malloc and no stdio
 * in here (we are inside malloc), errno is kept. Cost when on: some 80 to
 * 150 ns a call (sqlite3 1.26x the untraced time, python3 with
 * PYTHONMALLOC=malloc 1.6x), and some 18 bytes of file a call.
 *
 * Invariants:
 *   T1. Order: the file's order is the order in which calls took the lock.
 *       An allocation is recorded after it is made, a free before the block
 *       is given back, and a realloc that moves after the new block is made
 *       and before the old one is given back; a realloc whose free and
 *       allocation are one step (mremap, the hardened mode's) holds the
 *       lock across it. So a block's allocation always comes before its
 *       free, and its free before any later allocation of the same address,
 *       across threads.
 *   T2. Every byte of the buffer [0, len) is a whole line not yet written;
 *       a record is formatted only with REC_MAX bytes of room.
 *   T3. After the exit flush (our destructor, which runs after the
 *       program's atexit handlers and C++ static destructors), records are
 *       written at once: frees from later destructors are not lost.
 *   T4. Only the trace's own file is written: its descriptor is moved to
 *       512 or above, and before each write it must still be the file that
 *       was opened (device and inode); a program that closed it ends the
 *       trace, it never gets trace lines in a file of its own.
 *
 * A kmem error (a double or invalid free: the trace ends with it) writes
 * the buffer before the program stops. _exit and a crash lose the records
 * still in the buffer.
 *
 * fork: the child stops tracing (its heap began in the parent, so a trace
 * of its own would free blocks it never allocated, and the parent's file is
 * the parent's); it drops the buffer, which the parent writes, and closes
 * its descriptor. exec: the new program starts afresh. The file is locked
 * (flock) by the process that writes it, so a program exec'd by a traced
 * one (a child's, or with the same pid) records nothing while the file is
 * held: with "%p" in FILE every process gets a file of its own; without, a
 * process that execs itself (same pid, lock dropped at exec) starts the
 * file again, and the records it had not written yet are lost.
 *
 * Lock order: the recorder's lock comes before every other lock of the
 * malloc (fork takes it first): nothing calls the recorder with another
 * malloc or kmem lock held, and under it only write(2) and, held across a
 * realloc, that realloc's own locks are taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kmem/init.h>

#include "../internal/fmt.h"
#include "../internal/lock.h"
#include "trace_record.h"

enum {
    TRACE_BUF = 64 * 1024,
    REC_MAX = 96, /* "r " + 2 * 16 hex digits + 20 decimal digits + spaces, with room */
    PATH_MAX_LEN = 4096,
};

bool kmem_malloc_tracing;

static struct {
    struct kmem_mutex lock;
    int fd;
    dev_t dev; /* the file fd must still be (T4) */
    ino_t ino;
    bool open;   /* fd is the trace, locked by us */
    bool direct; /* after the exit flush: every record written at once (T3) */
    bool broken; /* a write failed: records are dropped */
    size_t len;
    char path[PATH_MAX_LEN];
} tr;

/* 64 KiB of .bss: never touched, so never resident, when tracing is off. */
static char trace_buf[TRACE_BUF];

/* ---- writing ----------------------------------------------------------------------- */

static void write_all(const char *p, size_t n)
{
    while (n && !tr.broken) {
        ssize_t w = write(tr.fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        } else {
            char msg[PATH_MAX_LEN + 96];
            size_t m = kmem_snprintf(msg, sizeof msg,
                                     "kmem: KMEM_TRACE: writing %s failed (errno %d): the trace "
                                     "ends here\n",
                                     tr.path, w < 0 ? errno : 0);
            (void)!write(2, msg, m < sizeof msg ? m : sizeof msg - 1);
            tr.broken = true;
        }
    }
}

/* T4: a program that closes every descriptor (a daemon) may have closed
 * ours, and opened one of its own files on its number. */
static bool still_ours(void)
{
    struct stat st;
    if (fstat(tr.fd, &st) == 0 && st.st_dev == tr.dev && st.st_ino == tr.ino)
        return true;
    static const char msg[] = "kmem: KMEM_TRACE: the program closed the trace's descriptor: "
                              "the trace ends here\n";
    (void)!write(2, msg, sizeof msg - 1);
    tr.broken = true;
    return false;
}

static void flush_locked(void)
{
    if (!tr.len)
        return;
    int saved = errno;
    if (!tr.broken && still_ours())
        write_all(trace_buf, tr.len);
    tr.len = 0;
    errno = saved;
}

/* Room for one record (T2): where to format it. */
static char *rec_begin(void)
{
    if (TRACE_BUF - tr.len < REC_MAX)
        flush_locked();
    return trace_buf + tr.len;
}

static void rec_end(const char *end)
{
    tr.len = (size_t)(end - trace_buf);
    if (tr.direct)
        flush_locked();
}

static char *put_char(char *s, char c)
{
    *s = c;
    return s + 1;
}

/* Lower-case hex without 0x; a NULL pointer is "-". */
static char *put_id(char *s, const void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (!v)
        return put_char(s, '-');
    char tmp[2 * sizeof v];
    int n = 0;
    for (; v; v >>= 4)
        tmp[n++] = "0123456789abcdef"[v & 15];
    while (n)
        *s++ = tmp[--n];
    return s;
}

static char *put_dec(char *s, size_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while (v /= 10);
    while (n)
        *s++ = tmp[--n];
    return s;
}

/* " ID" or " N" fields after the op letter. */
static char *put_sp_id(char *s, const void *p)
{
    return put_id(put_char(s, ' '), p);
}

static char *put_sp_dec(char *s, size_t v)
{
    return put_dec(put_char(s, ' '), v);
}

static bool recording(void)
{
    return tr.open && !tr.broken;
}

/* ---- the records ------------------------------------------------------------------- */

void kmem_malloc_trace_lock(void)
{
    kmem_mutex_lock(&tr.lock);
}

void kmem_malloc_trace_unlock(void)
{
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_alloc(const void *p, size_t size, size_t align)
{
    kmem_mutex_lock(&tr.lock);
    if (recording()) {
        char *s = rec_begin();
        if (align <= 16) {
            s = put_sp_id(put_char(s, 'm'), p);
        } else {
            s = put_sp_dec(put_sp_id(put_char(s, 'a'), p), align);
        }
        rec_end(put_char(put_sp_dec(s, size), '\n'));
    }
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_calloc(const void *p, size_t n, size_t size)
{
    kmem_mutex_lock(&tr.lock);
    if (recording()) {
        char *s = put_sp_dec(put_sp_id(put_char(rec_begin(), 'c'), p), n);
        rec_end(put_char(put_sp_dec(s, size), '\n'));
    }
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_free(const void *p)
{
    kmem_mutex_lock(&tr.lock);
    if (recording())
        rec_end(put_char(put_sp_id(put_char(rec_begin(), 'f'), p), '\n'));
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_realloc_locked(const void *old, const void *new, size_t size)
{
    if (!recording())
        return;
    char *s = put_sp_id(put_sp_id(put_char(rec_begin(), 'r'), old), new);
    rec_end(put_char(put_sp_dec(s, size), '\n'));
}

void kmem_malloc_trace_realloc(const void *old, const void *new, size_t size)
{
    kmem_mutex_lock(&tr.lock);
    kmem_malloc_trace_realloc_locked(old, new, size);
    kmem_mutex_unlock(&tr.lock);
}

/* ---- start, exit, fork ------------------------------------------------------------- */

/* FILE with each "%p" replaced by the pid, into tr.path; false if too long. */
static bool expand_path(const char *file)
{
    char pid[24];
    *put_dec(pid, (size_t)getpid()) = '\0';
    size_t n = 0;
    for (const char *s = file; *s; s++) {
        const char *piece = s[0] == '%' && s[1] == 'p' ? pid : NULL;
        size_t len = piece ? strlen(piece) : 1;
        if (n + len >= sizeof tr.path)
            return false;
        memcpy(tr.path + n, piece ? piece : s, len);
        n += len;
        s += piece != NULL;
    }
    tr.path[n] = '\0';
    return true;
}

/* argv[0] from /proc/self/cmdline (the program has no argv to give us:
 * this runs inside its first malloc), printable bytes only. */
static char *put_program(char *s, size_t room)
{
    char name[200];
    ssize_t n = -1;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, name, sizeof name - 1);
        close(fd);
    }
    if (n <= 0)
        return put_char(s, '?');
    name[n] = '\0';
    size_t len = strlen(name);
    for (size_t i = 0; i < len && i < room; i++)
        *s++ = name[i] > ' ' && name[i] < 0x7f ? name[i] : '?';
    return s;
}

static void message(const char *what)
{
    char msg[PATH_MAX_LEN + 128];
    size_t n =
        kmem_snprintf(msg, sizeof msg, "kmem: KMEM_TRACE=%s: %s; not tracing\n", tr.path, what);
    (void)!write(2, msg, n < sizeof msg ? n : sizeof msg - 1);
}

bool kmem_malloc_trace_init(void)
{
    const char *file = getenv("KMEM_TRACE");
    if (!file || !*file)
        return false;
    if (!expand_path(file)) {
        memcpy(tr.path, "(too long)", sizeof "(too long)");
        message("the file name is too long");
        return false;
    }
    int saved = errno;
    int fd = open(tr.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        char what[64];
        kmem_snprintf(what, sizeof what, "cannot open it (errno %d)", errno);
        message(what);
        errno = saved;
        return false;
    }
    /* Held by the process that exec'd us: its trace, not ours. Other
     * errors (a file system without locks) do not stop us. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd);
        errno = saved;
        return false;
    }
    (void)!ftruncate(fd, 0); /* a pipe or a terminal has nothing to cut */
    /* Out of the way of the program's own descriptors (T4). */
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 512);
    if (high >= 0) {
        close(fd);
        fd = high;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        errno = saved;
        return false;
    }
    errno = saved;
    tr.fd = fd;
    tr.dev = st.st_dev;
    tr.ino = st.st_ino;
    tr.open = true;
    char *s = trace_buf;
    memcpy(s, "# kmem trace 1: ", 16);
    s = put_program(s + 16, 160);
    memcpy(s, " (pid ", 6);
    s = put_dec(s + 6, (size_t)getpid());
    memcpy(s, ")\n", 2);
    tr.len = (size_t)(s + 2 - trace_buf);
    flush_locked(); /* a process that dies early still leaves its header */
    return true;
}

/* A kmem error is about to stop the program (the call that found it was
 * recorded first, so the trace ends with it): write what is buffered, if
 * the lock can be had (a thread holding it may be this one). */
static void trace_panic(const char *message)
{
    (void)message;
    for (int i = 0; i < 100; i++) {
        if (kmem_mutex_trylock(&tr.lock)) {
            flush_locked();
            kmem_mutex_unlock(&tr.lock);
            return;
        }
        sched_yield();
    }
}

void kmem_malloc_trace_start(void)
{
    kmem_malloc_tracing = tr.open;
    if (tr.open)
        kmem_set_panic_handler(trace_panic); /* the program cannot set one: not exported */
}

/* After the program's atexit handlers and static destructors (ours is a
 * library destructor): write what is buffered, then write at once (T3). */
__attribute__((destructor)) static void trace_exit(void)
{
    if (!tr.open)
        return;
    kmem_mutex_lock(&tr.lock);
    flush_locked();
    tr.direct = true;
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_fork_prepare(void)
{
    kmem_mutex_lock(&tr.lock);
}

void kmem_malloc_trace_fork_parent(void)
{
    kmem_mutex_unlock(&tr.lock);
}

void kmem_malloc_trace_fork_child(void)
{
    if (tr.open) {
        close(tr.fd); /* the parent's flock stays: it holds the same file */
        tr.open = false;
        tr.len = 0;
    }
    kmem_malloc_tracing = false;
    kmem_mutex_init(&tr.lock);
}
