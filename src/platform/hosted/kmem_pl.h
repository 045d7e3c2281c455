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
#define KMEM_PERCPU_DEFINE(type, name) __thread type name __attribute__((tls_model(KMEM_TLS_MODEL)))
#define KMEM_PERCPU_DECLARE(type, name)                                                            \
    extern __thread type name __attribute__((tls_model(KMEM_TLS_MODEL)))
#define KMEM_THIS_CPU_PTR(name) (&(name))
#define KMEM_PL_THREADS         1 /* areas come and go with threads */

#endif /* KMEM_PL_H */
