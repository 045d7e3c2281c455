/* SPDX-License-Identifier: MIT */
/*
 * serial.c - the console: COM1 (I/O port 0x3F8) polled, 115200 8N1, and a
 * small kprintf over it.
 *
 * Polled output needs no interrupts, which this kernel never enables, and
 * qemu's -serial stdio shows it on the host's standard output, where the
 * test scripts parse it. kprintf knows only what the kernel prints: %s %c
 * %d %u %x %p and %%, the l and ll length modifiers, and a zero-padded
 * width (%016lx).
 */
#include <stdarg.h>

#include "io.h"
#include "kernel.h"

#define COM1 0x3F8

void serial_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB: the divisor follows */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8 bits, no parity, one stop bit */
    outb(COM1 + 2, 0xC7); /* FIFOs on and cleared */
    outb(COM1 + 4, 0x03); /* DTR, RTS */
}

static void serial_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20)) /* transmitter holding register empty */
        __builtin_ia32_pause();
    outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        serial_putc(s[i]);
}

/* Digits of v in base (10 or 16), at least width of them, padded with pad. */
static void put_unsigned(unsigned long long v, unsigned int base, int width, char pad)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n)
        serial_putc(pad);
    while (n)
        serial_putc(buf[--n]);
}

static void put_string(const char *s)
{
    if (!s)
        s = "(null)";
    while (*s)
        serial_putc(*s++);
}

/* One conversion after its '%' and flags: returns the format after it. */
static const char *convert(const char *f, va_list *ap, int width, char pad)
{
    int longs = 0;
    while (*f == 'l')
        longs++, f++;
    unsigned long long u;
    switch (*f) {
    case 's':
        put_string(va_arg(*ap, const char *));
        break;
    case 'c':
        serial_putc((char)va_arg(*ap, int));
        break;
    case 'd': {
        long long v = longs ? va_arg(*ap, long long) : va_arg(*ap, int);
        if (v < 0) {
            serial_putc('-');
            u = (unsigned long long)-(v + 1) + 1;
        } else {
            u = (unsigned long long)v;
        }
        put_unsigned(u, 10, width, pad);
        break;
    }
    case 'u':
    case 'x':
        u = longs ? va_arg(*ap, unsigned long long) : va_arg(*ap, unsigned int);
        put_unsigned(u, *f == 'u' ? 10 : 16, width, pad);
        break;
    case 'p':
        put_string("0x");
        put_unsigned((uintptr_t)va_arg(*ap, void *), 16, width, pad);
        break;
    case '%':
        serial_putc('%');
        break;
    default: /* unknown: show it as written */
        serial_putc('%');
        serial_putc(*f);
        break;
    }
    return f + 1;
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *f = fmt;
    while (*f) {
        if (*f != '%') {
            serial_putc(*f++);
            continue;
        }
        f++;
        char pad = ' ';
        if (*f == '0')
            pad = '0', f++;
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        f = convert(f, &ap, width, pad);
    }
    va_end(ap);
}
