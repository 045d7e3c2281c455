/* SPDX-License-Identifier: MIT */
/*
 * trace.h - the kmem trace format (docs/TRACE.md): plain text, one
 * operation a line, '#' starts a comment. Written by KMEM_TRACE=FILE
 * (libkmem-malloc.so) and by hand; read by kmem replay.
 */
#ifndef KMEM_TOOL_TRACE_H
#define KMEM_TOOL_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum trace_op {
    TR_NONE,          /* blank or comment line */
    TR_ALLOC_PAGES,   /* alloc_pages ID ORDER */
    TR_FREE_PAGES,    /* free_pages ID */
    TR_CACHE_CREATE,  /* cache_create NAME SIZE [ALIGN] */
    TR_CACHE_ALLOC,   /* cache_alloc ID NAME */
    TR_CACHE_FREE,    /* cache_free ID */
    TR_CACHE_DESTROY, /* cache_destroy NAME */
    TR_KMALLOC,       /* kmalloc ID SIZE */
    TR_KFREE,         /* kfree ID */
    TR_VMALLOC,       /* vmalloc ID SIZE */
    TR_VFREE,         /* vfree ID */
    TR_MALLOC,        /* malloc ID SIZE     (recorded: m) */
    TR_FREE,          /* free ID            (f) */
    TR_CALLOC,        /* calloc ID N SIZE   (c) */
    TR_REALLOC,       /* realloc OLD NEW SIZE (r; OLD "-" is NULL) */
    TR_MEMALIGN,      /* memalign ID ALIGN SIZE (a) */
    TR_MARK,          /* mark LABEL...: a snapshot point */
};
#define TR_NR_OPS (TR_MARK + 1)

/* Tokens (IDs, cache names, labels) are at most TRACE_TOKEN_MAX - 1
 * characters; cache names at most TRACE_NAME_MAX - 1, kmem's own limit. */
enum { TRACE_TOKEN_MAX = 48, TRACE_NAME_MAX = 32, TRACE_VERSION = 1 };

struct trace_rec {
    enum trace_op op;
    char id[TRACE_TOKEN_MAX];   /* ID, or NEW for realloc */
    char id2[TRACE_TOKEN_MAX];  /* OLD for realloc */
    char name[TRACE_TOKEN_MAX]; /* cache name; mark label (truncated) */
    unsigned long long size;    /* SIZE (calloc: N * SIZE, checked) */
    unsigned long long n;       /* calloc N; memalign ALIGN; cache ALIGN; ORDER */
};

/* Parse one line (without or with its newline). false: the line is bad,
 * and err (len bytes) says why ("unknown operation 'kmaloc'", "size
 * '12x' is not a number"). */
bool trace_parse_line(const char *line, struct trace_rec *rec, char *err, size_t len);

/* Read lines from f one by one; the line number of the last line read.
 * Set f (the rest zeroed) and call trace_next; trace_reader_close frees buf
 * (it does not close f). offset counts the bytes read, for progress bars. */
struct trace_reader {
    FILE *f;
    unsigned long line_no;
    char *buf;
    size_t cap;
    unsigned long long offset; /* bytes read so far */
};
/* 1: *rec holds the next operation (never TR_NONE); 0: end of file;
 * -1: a bad line (err says why, r->line_no is its number). */
int trace_next(struct trace_reader *r, struct trace_rec *rec, char *err, size_t len);
void trace_reader_close(struct trace_reader *r);

/* The operation's long name ("kmalloc"; "" for TR_NONE). */
const char *trace_op_name(enum trace_op op);

/* Is id the NULL pointer ("-")? */
bool trace_id_is_null(const char *id);

#endif /* KMEM_TOOL_TRACE_H */
