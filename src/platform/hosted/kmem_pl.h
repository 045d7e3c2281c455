/* SPDX-License-Identifier: MIT */
/*
 * kmem_pl.h (hosted) - how the core reaches per-CPU data in a process: every
 * thread is a "CPU" with its own area in initial-exec TLS, so finding it is
 * one %fs-relative address computation and no call.
 */
#ifndef KMEM_PL_H
#define KMEM_PL_H

/* libkmem.so uses initial-exec TLS (one GOT load for the offset); libkmem.a
 * goes into executables and is built with local-exec (the offset is a
 * constant). */
#ifndef KMEM_TLS_MODEL
#define KMEM_TLS_MODEL "initial-exec"
#endif
#define KMEM_PERCPU_DEFINE(type, name, ...)                                                        \
    __thread type name __attribute__((tls_model(KMEM_TLS_MODEL))) = __VA_ARGS__
#define KMEM_PERCPU_DECLARE(type, name)                                                            \
    extern __thread type name __attribute__((tls_model(KMEM_TLS_MODEL)))
#define KMEM_THIS_CPU_PTR(name) (&(name))

/* Byte offset off into this CPU's area `name`, as a pointer to `type` (the
 * object caches' slots, whose offsets are constants). With gcc in GNU mode
 * and no sanitizer, through the %fs segment and gcc's __seg_fs: loads and
 * stores become %fs:name@tpoff(%reg) (local-exec) or %fs:(%reg) with the
 * offset loaded from the GOT (initial-exec), one instruction fewer than with
 * the area's address computed first, which gcc (unlike clang) does not fold.
 * gcc's sanitizers instrument __seg_fs accesses as flat ones, so they take
 * the plain path. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && !defined(__STRICT_ANSI__)
#ifdef KMEM_TLS_LOCAL_EXEC
#define KMEM_TLS_OFFSET(name) ((uintptr_t) & (name) - (uintptr_t)__builtin_thread_pointer())
#else
/* Initial-exec: the offset is what the GOT holds; gcc would add the thread
 * pointer to it and subtract it again, so load it as it is. */
#define KMEM_TLS_OFFSET(name)                                                                      \
    __extension__({                                                                                \
        uintptr_t off_;                                                                            \
        __asm__("movq " #name "@gottpoff(%%rip), %0" : "=r"(off_));                                \
        off_;                                                                                      \
    })
#endif
#define KMEM_THIS_CPU_AT(type, name, off) ((type __seg_fs *)(KMEM_TLS_OFFSET(name) + (off)))
#else
#define KMEM_THIS_CPU_AT(type, name, off) ((type *)(void *)((char *)&(name) + (off)))
#endif
#define KMEM_PL_THREADS 1 /* areas come and go with threads */

/* Per-CPU cache slots of an area (the sentinel and 127 caches): 4 KiB of
 * static TLS per thread, copied from the initial image at thread creation.
 * Caches beyond them keep magazines through the slow paths. */
#ifndef KMEM_CPU_SLOTS
#define KMEM_CPU_SLOTS 128
#endif

#endif /* KMEM_PL_H */
