/* SPDX-License-Identifier: MIT */
/*
 * death_util.h - death tests whose messages name run-time values: the child
 * announces them, the parent expects them (test_slab_death.c, test_slab_debug.c).
 */
#ifndef KMEM_TEST_DEATH_UTIL_H
#define KMEM_TEST_DEATH_UTIL_H

#include <stdarg.h>
#include <stdbool.h>

#include "harness.h"

#include <kmem.h>

/*
 * Each bad input runs in a forked child that brings up a machine of its own:
 * the hosted machine's memory is a MAP_SHARED memfd, so a child working on
 * its parent's machine would change the parent's slabs (and could die holding
 * a lock that lives in them). The child announces the values the message must
 * name ("@key=value" lines on stderr) before the mistake; the parent then
 * checks the child died by SIGABRT and that each expected text, with {key}
 * replaced by the announced value, is on its stderr.
 */
static inline void announce(const char *key, const void *p)
{
    fprintf(stderr, "@%s=%p\n", key, p);
    fflush(stderr);
}

/* The value announced for key in out, or NULL. */
static inline const char *announced(const char *out, const char *key, char *val, size_t len)
{
    char tag[80];
    snprintf(tag, sizeof tag, "@%.64s=", key);
    const char *at = strstr(out, tag);
    if (!at)
        return NULL;
    at += strlen(tag);
    size_t n = strcspn(at, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(val, at, n);
    val[n] = '\0';
    return val;
}

/* pattern with each {key} replaced by its announced value. */
static inline bool expand(const char *out, const char *pattern, char *res, size_t len)
{
    size_t n = 0;
    for (const char *p = pattern; *p && n + 1 < len;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            char key[64], val[64];
            if (!end || (size_t)(end - p - 1) >= sizeof key)
                return false;
            memcpy(key, p + 1, (size_t)(end - p - 1));
            key[end - p - 1] = '\0';
            if (!announced(out, key, val, sizeof val))
                return false;
            n += (size_t)snprintf(res + n, len - n, "%s", val);
            p = end + 1;
        } else {
            res[n++] = *p++;
        }
    }
    res[n < len ? n : len - 1] = '\0';
    return true;
}

/* fn must die by SIGABRT with every one of the NULL-terminated texts. */
static inline void expect_death_all(int line, void (*fn)(void), ...)
{
    static char out[16384];
    int status = harness_run_child(fn, out, sizeof out);
    bool ok = status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
    if (!ok)
        fprintf(stderr, "%s:%d: EXPECT_DEATH failed: wanted SIGABRT; got %s %d\n", __FILE__, line,
                WIFSIGNALED(status) ? "signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    va_list ap;
    va_start(ap, fn);
    for (const char *text; (text = va_arg(ap, const char *)) != NULL;) {
        char want[512];
        if (!expand(out, text, want, sizeof want)) {
            fprintf(stderr, "%s:%d: EXPECT_DEATH failed: a value of \"%s\" was not announced\n",
                    __FILE__, line, text);
            ok = false;
        } else if (!strstr(out, want)) {
            fprintf(stderr, "%s:%d: EXPECT_DEATH failed: no \"%s\"\n", __FILE__, line, want);
            ok = false;
        }
    }
    va_end(ap);
    if (!ok) {
        fprintf(stderr, "--- child's stderr:\n%s---\n", out);
        harness_checks_failed++;
    }
}
#define DEATH(fn, ...) expect_death_all(__LINE__, fn, __VA_ARGS__, (const char *)NULL)

/* A cache and an object for a death test's child, which exits (4, 5) when
 * it cannot have them: the parent then sees no SIGABRT. */
static inline struct kmem_cache *child_cache(const char *name, unsigned int size,
                                             slab_flags_t flags)
{
    struct kmem_cache *c = kmem_cache_create(name, size, 0, flags, NULL);
    if (!c)
        _exit(4);
    return c;
}

static inline void *child_alloc(struct kmem_cache *c)
{
    void *p = kmem_cache_alloc(c, GFP_KERNEL);
    if (!p)
        _exit(5);
    return p;
}

#endif /* KMEM_TEST_DEATH_UTIL_H */
