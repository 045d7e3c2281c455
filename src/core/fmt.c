/* SPDX-License-Identifier: MIT */
/*
 * fmt.c - kmem_vsnprintf: the printf subset the core needs, without libc.
 *
 * Output goes through a cursor that counts every character but stores only
 * those that fit, which gives snprintf's "length the full text needs".
 */
#include "../internal/compiler.h"
#include "../internal/fmt.h"

#include <stdbool.h>
#include <stdint.h>

struct out {
    char *buf;
    size_t len; /* capacity, NUL included */
    size_t pos; /* characters produced so far (may exceed len) */
};

static void put(struct out *o, char c)
{
    if (o->pos + 1 < o->len)
        o->buf[o->pos] = c;
    o->pos++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, bool left, char pad)
{
    size_t fill = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
    if (!left)
        while (fill--)
            put(o, pad);
    for (size_t i = 0; i < n; i++)
        put(o, s[i]);
    if (left)
        while (fill--)
            put(o, ' ');
}

/* Digits of v in base 10 or 16 into the end of tmp; returns the first. */
static char *utoa(char *end, unsigned long long v, unsigned base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *p = end;
    do {
        uint32_t digit;
        v = kmem_div64(v, base, &digit); /* no libgcc call on 32-bit machines */
        *--p = digits[digit];
    } while (v);
    return p;
}

static void put_number(struct out *o, unsigned long long v, bool negative, unsigned base,
                       bool upper, const char *prefix, int width, bool left, char pad)
{
    char tmp[32];
    char *end = tmp + sizeof tmp;
    char *p = utoa(end, v, base, upper);
    size_t plen = 0;
    while (prefix[plen])
        plen++;
    if (negative)
        *--p = '-';
    if (pad == '0' && !left) {
        /* Zero padding goes between the sign or prefix and the digits. */
        for (size_t i = 0; i < plen; i++)
            put(o, prefix[i]);
        size_t n = (size_t)(end - p) + plen;
        size_t fill = width > 0 && (size_t)width > n ? (size_t)width - n : 0;
        if (negative) {
            put(o, '-');
            p++;
        }
        while (fill--)
            put(o, '0');
        while (p < end)
            put(o, *p++);
        return;
    }
    for (size_t i = plen; i > 0; i--)
        *--p = prefix[i - 1];
    put_padded(o, p, (size_t)(end - p), width, left, ' ');
}

size_t kmem_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
    struct out o = {buf, len, 0};
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        bool left = false, alt = false;
        char pad = ' ';
        for (;; f++) {
            if (*f == '-')
                left = true;
            else if (*f == '#')
                alt = true;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        int longs = 0;
        bool size = false;
        for (;; f++) {
            if (*f == 'l')
                longs++;
            else if (*f == 'z')
                size = true;
            else
                break;
        }
        unsigned long long u;
        long long s;
        switch (*f) {
        case 'd':
        case 'i':
            s = size         ? (long long)va_arg(ap, long) /* ssize_t */
                : longs >= 2 ? va_arg(ap, long long)
                : longs == 1 ? va_arg(ap, long)
                             : va_arg(ap, int);
            u = s < 0 ? 0ULL - (unsigned long long)s : (unsigned long long)s;
            put_number(&o, u, s < 0, 10, false, "", width, left, pad);
            break;
        case 'u':
        case 'x':
        case 'X':
            u = size         ? va_arg(ap, size_t)
                : longs >= 2 ? va_arg(ap, unsigned long long)
                : longs == 1 ? va_arg(ap, unsigned long)
                             : va_arg(ap, unsigned int);
            put_number(&o, u, false, *f == 'u' ? 10 : 16, *f == 'X',
                       alt && *f != 'u' && u ? "0x" : "", width, left, pad);
            break;
        case 'p':
            u = (uintptr_t)va_arg(ap, void *);
            put_number(&o, u, false, 16, false, "0x", width, left, pad);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            size_t n = 0;
            while (str[n])
                n++;
            put_padded(&o, str, n, width, left, ' ');
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            f--; /* a lone '%' at the end: print nothing more */
            break;
        default:
            put(&o, '%');
            put(&o, *f);
            break;
        }
    }
    if (len)
        buf[o.pos < len ? o.pos : len - 1] = '\0';
    return o.pos;
}

size_t kmem_snprintf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = kmem_vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

size_t kmem_text_append(char *buf, size_t len, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    n += n < len ? kmem_vsnprintf(buf + n, len - n, fmt, ap) : kmem_vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    return n;
}
