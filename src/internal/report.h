/* SPDX-License-Identifier: MIT */
/*
 * report.h - the one reporter of misuse (after illumos' kmem_error): every
 * error has a name, its message names the address and the caller, and then
 * the configured panic runs.
 */
#ifndef KMEM_REPORT_H
#define KMEM_REPORT_H

#include "compiler.h"

enum kmem_error {
    KMERR_DOUBLE_FREE,   /* the block is already free */
    KMERR_WRONG_ORDER,   /* freed with another order than it was allocated with */
    KMERR_INVALID_FREE,  /* not the head of a block we handed out */
    KMERR_BAD_ADDRESS,   /* outside the memory this machine manages */
    KMERR_NOT_UP,        /* called before kmem_init / kmem_boot */
    KMERR_CORRUPTION,    /* an internal structure was found damaged */
    KMERR_WRONG_CACHE,   /* an object freed to another cache than its own */
    KMERR_NOT_OBJECT,    /* a pointer that is no object of any slab */
    KMERR_BAD_CACHE,     /* a cache that cannot be made (SLAB_PANIC) */
    KMERR_BAD_ARGUMENT,  /* a call that cannot be served as asked */
    KMERR_MISMATCH,      /* freed by the wrong function (vfree of a vmap area, ...) */
    KMERR_REDZONE,       /* bytes past an object were written (red zone, canary) */
    KMERR_POISON,        /* a free object was written (poison changed: write after free) */
    KMERR_FREELIST,      /* a free list (slab bitmap, magazine round) was found damaged */
    KMERR_SIZE_MISMATCH, /* a sized free named another size than the object's */
};

/* Write "kmem: <error name>: <formatted details>\n", then panic. */
_Noreturn KMEM_COLD void kmem_error(enum kmem_error err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A report of several lines: begin writes the error's line as kmem_error
 * does, kmem_log adds lines (stacks), end runs the panic with the first
 * line. */
KMEM_COLD void kmem_report_begin(enum kmem_error err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
_Noreturn KMEM_COLD void kmem_report_end(void);

/* Write "kmem: <formatted text>\n" (no panic). */
KMEM_COLD void kmem_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

const char *kmem_error_name(enum kmem_error err);

#endif /* KMEM_REPORT_H */
