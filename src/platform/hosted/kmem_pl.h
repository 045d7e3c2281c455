/* SPDX-License-Identifier: MIT */
/*
 * kmem_pl.h (hosted) - how the core reaches per-CPU data in a process: every
 * thread is a "CPU" with its own area in initial-exec TLS, so finding it is
 * one %fs-relative address computation and no call.
 */
#ifndef KMEM_PL_H
#define KMEM_PL_H

#define KMEM_PERCPU_DEFINE(type, name) \
    __thread type name __attribute__((tls_model("initial-exec")))
#define KMEM_PERCPU_DECLARE(type, name) \
    extern __thread type name __attribute__((tls_model("initial-exec")))
#define KMEM_THIS_CPU_PTR(name) (&(name))
#define KMEM_PL_THREADS 1 /* areas come and go with threads */

#endif /* KMEM_PL_H */
