/* SPDX-License-Identifier: MIT */
/*
 * trace_record.h - KMEM_TRACE=FILE: the malloc records every call of the
 * program in the kmem trace format (trace_record.c; the format:
 * docs/TRACE.md, tools/kmem/trace.h). What malloc.c and machine.c say to
 * the recorder.
 *
 * kmem_malloc_tracing is false until the machine is up and stays false
 * unless KMEM_TRACE names a file that could be opened; it is set before the
 * machine's state says up (so every thread that saw the machine up sees it),
 * and cleared only in a child of fork. With it set, malloc.c's classes have
 * no magazines, so every call reaches a slow path, and the slow paths call
 * the recorder: an allocation after it is made, a free before the block is
 * given back (so the trace never shows a block handed out twice).
 */
#ifndef KMEM_MALLOC_TRACE_RECORD_H
#define KMEM_MALLOC_TRACE_RECORD_H

#include <stdbool.h>
#include <stddef.h>

extern bool kmem_malloc_tracing;

/* At boot, before the classes are made: read KMEM_TRACE, open the file and
 * write its header. true: tracing will be on (the classes must then have no
 * magazines). */
bool kmem_malloc_trace_init(void);
/* At the end of a successful boot, before the machine is said to be up. */
void kmem_malloc_trace_start(void);

/* The records. Each takes the recorder's lock (a leaf, unless held across
 * a call with kmem_malloc_trace_lock). align is the one asked for: up to 16
 * (what malloc gives anyway) it is an "m", above an "a". */
void kmem_malloc_trace_alloc(const void *p, size_t size, size_t align);
void kmem_malloc_trace_calloc(const void *p, size_t n, size_t size);
void kmem_malloc_trace_free(const void *p);
/* realloc(old, size) returned new; old NULL: realloc(NULL, size); new NULL:
 * old was freed (size 0). */
void kmem_malloc_trace_realloc(const void *old, const void *new, size_t size);

/* Held across a realloc whose free and allocation are one step (mremap, the
 * hardened realloc), so that no other record can come between; the record
 * is then made with the _locked variant. */
void kmem_malloc_trace_lock(void);
void kmem_malloc_trace_unlock(void);
void kmem_malloc_trace_realloc_locked(const void *old, const void *new, size_t size);

/* fork: prepare takes the lock (first of the malloc's), the parent drops
 * it; the child drops it and stops tracing (trace_record.c says why). */
void kmem_malloc_trace_fork_prepare(void);
void kmem_malloc_trace_fork_parent(void);
void kmem_malloc_trace_fork_child(void);

#endif /* KMEM_MALLOC_TRACE_RECORD_H */
