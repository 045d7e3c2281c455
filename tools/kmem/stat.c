/* SPDX-License-Identifier: MIT */
/*
 * stat.c - kmem stat: look inside a program that runs on libkmem-malloc.so.
 *
 *   kmem stat [--lib PATH] [--out FILE] -- PROGRAM [ARGS]
 *       runs PROGRAM with LD_PRELOAD=libkmem-malloc.so and KMEM_STATS=exit,
 *       and once it has exited prints the report its malloc wrote (the
 *       machine's summary, resident memory by holder, buddyinfo, slabinfo;
 *       src/malloc/machine.c) to stderr, or to FILE. The report goes through
 *       a temporary KMEM_STATS_FILE, so PROGRAM's own stderr stays its own;
 *       processes PROGRAM starts inherit the variables and add their own
 *       reports, each headed with its pid.
 *   kmem stat --pid PID [--timeout SECONDS]
 *       asks a running process started with KMEM_STATS=signal (and the
 *       library) for its report: sends it SIGUSR2, then prints what it
 *       appends to its KMEM_STATS_FILE (or its stderr, when that is a
 *       file). A process that does not catch SIGUSR2 is not sent it (the
 *       default action would kill it).
 *
 * Exit status: PROGRAM's (128 + N when signal N killed it, as a shell
 * says); 127 when it cannot be found, 126 when it cannot be run, 125 when
 * kmem stat itself fails, 2 for bad usage. --pid: 0 when the report was
 * printed, 1 otherwise.
 *
 * The library: --lib, else the build tree's (KMEM_TOOL_BUILD_MALLOC, when
 * that file exists), else the installed one (KMEM_TOOL_INSTALL_LIBDIR).
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#ifndef KMEM_TOOL_BUILD_MALLOC
#define KMEM_TOOL_BUILD_MALLOC ""
#endif
#ifndef KMEM_TOOL_INSTALL_LIBDIR
#define KMEM_TOOL_INSTALL_LIBDIR "/usr/local/lib"
#endif

enum { EXIT_OWN_FAILURE = 125, EXIT_CANNOT_RUN = 126, EXIT_NOT_FOUND = 127 };

struct stat_options {
    const char *lib, *out;
    long pid;
    double timeout;
    char **program; /* NULL-terminated */
};

static void stat_usage(FILE *f)
{
    fprintf(f,
            "usage: kmem stat [--lib PATH] [--out FILE] -- PROGRAM [ARGS]\n"
            "       kmem stat --pid PID [--timeout SECONDS]\n"
            "  Run PROGRAM on libkmem-malloc.so (LD_PRELOAD, KMEM_STATS=exit) and print, once\n"
            "  it has exited, its malloc's machine, resident memory, buddyinfo and slabinfo;\n"
            "  its exit status is passed through. With --pid, ask a running process started\n"
            "  with KMEM_STATS=signal for the same report (SIGUSR2).\n"
            "  --lib PATH       the library (default: %s)\n"
            "  --out FILE       write the report to FILE (default: stderr)\n"
            "  --pid PID        the running process to ask\n"
            "  --timeout SECS   how long --pid waits for the report (default 10)\n",
            KMEM_TOOL_BUILD_MALLOC[0] && access(KMEM_TOOL_BUILD_MALLOC, R_OK) == 0
                ? KMEM_TOOL_BUILD_MALLOC
                : KMEM_TOOL_INSTALL_LIBDIR "/libkmem-malloc.so");
}

static int bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "kmem stat: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    stat_usage(stderr);
    return 2;
}

/* 0: go on; 1: --help was printed; else the exit status. */
static int parse_options(int argc, char **argv, struct stat_options *o)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            stat_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-')
            break; /* PROGRAM without "--" */
        bool takes = !strcmp(a, "--lib") || !strcmp(a, "--out") || !strcmp(a, "--pid") ||
                     !strcmp(a, "--timeout");
        if (!takes)
            return bad_usage("unknown option", a);
        if (i + 1 >= argc || !argv[i + 1][0])
            return bad_usage("missing value for", a);
        const char *v = argv[++i];
        char *end;
        if (!strcmp(a, "--lib")) {
            o->lib = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--pid")) {
            errno = 0;
            o->pid = strtol(v, &end, 10);
            if (errno || *end || o->pid <= 0)
                return bad_usage("bad process id", v);
        } else {
            errno = 0;
            o->timeout = strtod(v, &end);
            if (errno || *end || !(o->timeout > 0))
                return bad_usage("bad timeout", v);
        }
    }
    if (i < argc)
        o->program = argv + i;
    if (o->pid && o->program)
        return bad_usage("give either --pid or a program, not both", NULL);
    if (!o->pid && !o->program)
        return bad_usage("no program to run", NULL);
    return 0;
}

/* ---- copying a report ------------------------------------------------------------ */

static bool copy_fd(int from, FILE *to)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            return true;
        if (fwrite(buf, 1, (size_t)n, to) != (size_t)n)
            return false;
    }
}

static FILE *open_out(const char *out)
{
    if (!out)
        return stderr;
    FILE *f = fopen(out, "w");
    if (!f)
        fprintf(stderr, "kmem stat: cannot write %s: %s\n", out, strerror(errno));
    return f;
}

static bool close_out(FILE *f, const char *out)
{
    bool ok = !ferror(f) && fflush(f) == 0;
    if (f != stderr)
        ok = fclose(f) == 0 && ok;
    if (!ok)
        fprintf(stderr, "kmem stat: writing %s failed\n", out ? out : "stderr");
    return ok;
}

/* ---- kmem stat -- PROGRAM ---------------------------------------------------------- */

/* The library to preload, absolute (LD_PRELOAD is read in PROGRAM's
 * directory of choice); NULL with a message if there is none. */
static char *library_path(const char *lib)
{
    const char *path = lib;
    if (!path)
        path = KMEM_TOOL_BUILD_MALLOC[0] && access(KMEM_TOOL_BUILD_MALLOC, R_OK) == 0
                   ? KMEM_TOOL_BUILD_MALLOC
                   : KMEM_TOOL_INSTALL_LIBDIR "/libkmem-malloc.so";
    char *abs = realpath(path, NULL);
    if (!abs || access(abs, R_OK) != 0) {
        fprintf(stderr, "kmem stat: no malloc library at %s%s\n", path,
                lib ? "" : " (build kmem_malloc, install kmem, or give --lib)");
        free(abs);
        return NULL;
    }
    return abs;
}

/* In the child: the environment, then PROGRAM. Never returns. */
static void run_child(char **program, const char *lib, const char *report)
{
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *preload = malloc(len);
    if (!preload)
        _exit(EXIT_OWN_FAILURE);
    snprintf(preload, len, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    if (setenv("LD_PRELOAD", preload, 1) || setenv("KMEM_STATS", "exit", 1) ||
        setenv("KMEM_STATS_FILE", report, 1))
        _exit(EXIT_OWN_FAILURE);
    execvp(program[0], program);
    int e = errno;
    fprintf(stderr, "kmem stat: cannot run %s: %s\n", program[0], strerror(e));
    _exit(e == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
}

/* Wait for the child with SIGINT and SIGQUIT ignored here (as time(1)
 * does): a ^C is the program's to take, and the report still comes. */
static int wait_child(pid_t child, int *status)
{
    struct sigaction ign, old_int, old_quit;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    pid_t r;
    while ((r = waitpid(child, status, 0)) < 0 && errno == EINTR)
        ;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    return r == child ? 0 : -1;
}

static int exit_status_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_OWN_FAILURE;
}

static int stat_run(const struct stat_options *o)
{
    char *lib = library_path(o->lib);
    if (!lib)
        return EXIT_OWN_FAILURE;
    const char *tmpdir = getenv("TMPDIR");
    char report[PATH_MAX];
    snprintf(report, sizeof report, "%s/kmem-stat.XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(report);
    if (fd < 0) {
        fprintf(stderr, "kmem stat: cannot make a temporary file in %s: %s\n",
                tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
        free(lib);
        return EXIT_OWN_FAILURE;
    }
    fflush(NULL); /* nothing of ours is written twice by the child */
    pid_t child = fork();
    if (child == 0) {
        close(fd);
        run_child(o->program, lib, report);
    }
    free(lib);
    int status = 0, rc = EXIT_OWN_FAILURE;
    if (child < 0) {
        fprintf(stderr, "kmem stat: fork: %s\n", strerror(errno));
    } else if (wait_child(child, &status) != 0) {
        fprintf(stderr, "kmem stat: waiting for %s: %s\n", o->program[0], strerror(errno));
    } else {
        rc = exit_status_of(status);
        struct stat st;
        bool empty = fstat(fd, &st) == 0 && st.st_size == 0;
        FILE *out = open_out(o->out);
        if (out) {
            if (empty && rc != EXIT_NOT_FOUND && rc != EXIT_CANNOT_RUN)
                fprintf(stderr, "kmem stat: %s wrote no report (%s)\n", o->program[0],
                        WIFSIGNALED(status)
                            ? "killed by a signal"
                            : "it never called malloc, is not dynamically linked, or left "
                              "with _exit or exec");
            bool ok = copy_fd(fd, out);
            if (!close_out(out, o->out) || !ok)
                rc = rc ? rc : EXIT_OWN_FAILURE;
        } else {
            rc = rc ? rc : EXIT_OWN_FAILURE;
        }
    }
    close(fd);
    unlink(report);
    return rc;
}

/* ---- kmem stat --pid PID ----------------------------------------------------------- */

/* Does process pid catch SIGUSR2 (SigCgt of /proc/PID/status)? -1: no such
 * process (or not ours to read). */
static int catches_sigusr2(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int caught = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "SigCgt:", 7)) {
            unsigned long long mask = strtoull(line + 7, NULL, 16);
            caught = (int)((mask >> (SIGUSR2 - 1)) & 1);
            break;
        }
    }
    fclose(f);
    return caught;
}

/* KMEM_STATS_FILE from the process's environment (as it started, which is
 * when its malloc read it), into buf; false if it has none. */
static bool stats_file_of(long pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    static const char key[] = "KMEM_STATS_FILE=";
    bool found = false;
    char entry[PATH_MAX + sizeof key];
    size_t n = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        if (c != '\0') {
            if (n + 1 < sizeof entry)
                entry[n++] = (char)c;
            continue;
        }
        entry[n] = '\0';
        n = 0;
        const char *value = entry + sizeof key - 1;
        if (!strncmp(entry, key, sizeof key - 1) && *value && strlen(value) < len) {
            memcpy(buf, value, strlen(value) + 1);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Send the signal, wait until path has grown and then stayed the same for
 * a moment (the report is one write), and copy what was added. */
static int report_from_file(const struct stat_options *o, const char *path)
{
    off_t before = size_of(path);
    if (before < 0)
        before = 0;
    if (kill((pid_t)o->pid, SIGUSR2) != 0) {
        fprintf(stderr, "kmem stat: cannot signal process %ld: %s\n", o->pid, strerror(errno));
        return 1;
    }
    const long step = 20, quiet = 200;
    long waited = 0, stable = 0, limit = (long)(o->timeout * 1000);
    off_t last = before;
    for (; waited < limit; waited += step) {
        sleep_ms(step);
        off_t now = size_of(path);
        stable = now == last ? stable + step : 0;
        last = now;
        if (now > before && stable >= quiet)
            break;
    }
    if (last <= before) {
        fprintf(stderr, "kmem stat: process %ld wrote no report to %s in %g s\n", o->pid, path,
                o->timeout);
        return 1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || lseek(fd, before, SEEK_SET) < 0) {
        fprintf(stderr, "kmem stat: cannot read %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    FILE *out = open_out(o->out);
    bool ok = out && copy_fd(fd, out);
    close(fd);
    if (out)
        ok = close_out(out, o->out) && ok;
    return ok ? 0 : 1;
}

static int stat_pid(const struct stat_options *o)
{
    int caught = catches_sigusr2(o->pid);
    if (caught < 0) {
        fprintf(stderr, "kmem stat: no process %ld (or not yours to look at)\n", o->pid);
        return 1;
    }
    if (!caught) {
        fprintf(stderr,
                "kmem stat: process %ld does not catch SIGUSR2, which would kill it: start it "
                "with KMEM_STATS=signal LD_PRELOAD=.../libkmem-malloc.so\n",
                o->pid);
        return 1;
    }
    char path[PATH_MAX];
    if (stats_file_of(o->pid, path, sizeof path))
        return report_from_file(o, path);
    /* No KMEM_STATS_FILE: the report goes to its stderr; follow it if that
     * is a file. */
    char fd2[64];
    snprintf(fd2, sizeof fd2, "/proc/%ld/fd/2", o->pid);
    struct stat st;
    if (stat(fd2, &st) == 0 && S_ISREG(st.st_mode))
        return report_from_file(o, fd2);
    if (kill((pid_t)o->pid, SIGUSR2) != 0) {
        fprintf(stderr, "kmem stat: cannot signal process %ld: %s\n", o->pid, strerror(errno));
        return 1;
    }
    fprintf(stderr,
            "kmem stat: asked process %ld; its report goes to its stderr (set KMEM_STATS_FILE "
            "to have it here)\n",
            o->pid);
    return 0;
}

int kmem_cmd_stat(int argc, char **argv)
{
    struct stat_options o = {NULL, NULL, 0, 10, NULL};
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    return o.pid ? stat_pid(&o) : stat_run(&o);
}
