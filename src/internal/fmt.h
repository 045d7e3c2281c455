/* SPDX-License-Identifier: MIT */
/*
 * fmt.h - a small freestanding snprintf for messages and /proc-style text.
 * Conversions: %s %c %d %i %u %x %X %p %%, length modifiers l ll z, flags
 * '-', '0' and '#', a decimal width. Returns the length the full text needs.
 */
#ifndef KMEM_FMT_H
#define KMEM_FMT_H

#include <stdarg.h>
#include <stddef.h>

size_t kmem_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
size_t kmem_snprintf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Append to a text with snprintf semantics: n is what the text needs so far;
 * the result is what it needs after this piece. Only what fits in buf[len] is
 * stored (NULL with len 0 stores nothing). */
size_t kmem_text_append(char *buf, size_t len, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* KMEM_FMT_H */
