/* SPDX-License-Identifier: MIT */
/*
 * report.c - error reporting and the panic handler.
 *
 * Messages are formatted into a buffer on the stack (no allocation: the
 * allocator may be what is broken) and written with one platform call, so a
 * message is one line even when threads report at once.
 */
#include <kmem/init.h>
#include <kmem/platform.h>

#include "../internal/fmt.h"
#include "../internal/report.h"

enum { MESSAGE_MAX = 512 };

static kmem_panic_fn panic_handler; /* NULL: kmem_pl_panic */

static const char *const error_names[] = {
    [KMERR_DOUBLE_FREE] = "double free",         [KMERR_WRONG_ORDER] = "wrong order",
    [KMERR_INVALID_FREE] = "invalid free",       [KMERR_BAD_ADDRESS] = "bad address",
    [KMERR_NOT_UP] = "not initialized",          [KMERR_CORRUPTION] = "corruption",
    [KMERR_WRONG_CACHE] = "wrong cache",         [KMERR_NOT_OBJECT] = "invalid free",
    [KMERR_BAD_CACHE] = "cache creation failed", [KMERR_BAD_ARGUMENT] = "bad argument",
    [KMERR_MISMATCH] = "mismatched free",        [KMERR_REDZONE] = "red zone overwritten",
    [KMERR_POISON] = "write after free",         [KMERR_FREELIST] = "corrupted free list",
    [KMERR_SIZE_MISMATCH] = "size mismatch",
};

const char *kmem_error_name(enum kmem_error err)
{
    return (unsigned)err < KMEM_ARRAY_SIZE(error_names) ? error_names[err] : "error";
}

kmem_panic_fn kmem_set_panic_handler(kmem_panic_fn fn)
{
    return __atomic_exchange_n(&panic_handler, fn, __ATOMIC_ACQ_REL);
}

static size_t format_line(char *buf, const char *head, const char *fmt, va_list ap)
{
    size_t n = kmem_snprintf(buf, MESSAGE_MAX, "kmem: %s", head);
    if (n < MESSAGE_MAX - 2)
        n += kmem_vsnprintf(buf + n, MESSAGE_MAX - 1 - n, fmt, ap);
    if (n > MESSAGE_MAX - 2)
        n = MESSAGE_MAX - 2;
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

/* The first line of the report being made (kmem_report_begin), for the
 * panic handler; reports that race each other panic anyway. */
static char report_line[MESSAGE_MAX];

static size_t error_line(char *buf, enum kmem_error err, const char *fmt, va_list ap)
{
    char head[48];
    kmem_snprintf(head, sizeof head, "%s: ", kmem_error_name(err));
    size_t n = format_line(buf, head, fmt, ap);
    kmem_pl_write(buf, n);
    buf[n - 1] = '\0'; /* handlers get the line without its newline */
    return n;
}

static _Noreturn void panic_with(char *line)
{
    kmem_panic_fn fn = __atomic_load_n(&panic_handler, __ATOMIC_ACQUIRE);
    if (fn)
        fn(line);
    kmem_pl_panic(line); /* a handler that returns still stops the machine */
}

_Noreturn void kmem_error(enum kmem_error err, const char *fmt, ...)
{
    char buf[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    error_line(buf, err, fmt, ap);
    va_end(ap);
    panic_with(buf);
}

void kmem_report_begin(enum kmem_error err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_line(report_line, err, fmt, ap);
    va_end(ap);
}

_Noreturn void kmem_report_end(void)
{
    panic_with(report_line);
}

void kmem_log(const char *fmt, ...)
{
    char buf[MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(buf, "", fmt, ap);
    va_end(ap);
    kmem_pl_write(buf, n);
}
