/* SPDX-License-Identifier: MIT */
/*
 * x86_string.c - memset, memcpy, memmove and memcmp for a freestanding x86
 * (i386 or x86_64) build of kmem: the four functions the core needs besides
 * the hooks (GCC and Clang emit calls to them). The string instructions keep
 * them short; compile this file with -fno-builtin, so that the compiler does
 * not turn memcmp's loop back into a call to memcmp. Used by
 * examples/kernel and tests/freestanding; a kernel with its own may drop it.
 */
#include <stddef.h>

/* Their C declarations (no libc header to give them). */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    __asm__ __volatile__("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    void *d = dst;
    const void *s = src;
    __asm__ __volatile__("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    /* Overlapping with dst above src: copy backwards. */
    d += n - 1;
    s += n - 1;
    __asm__ __volatile__("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
        __asm__ __volatile__("" ::: "memory"); /* keep this a loop */
    }
    return 0;
}
