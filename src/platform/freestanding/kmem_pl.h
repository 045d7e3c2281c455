/* SPDX-License-Identifier: MIT */
/*
 * kmem_pl.h (freestanding) - per-CPU data in a kernel: an array indexed by
 * kmem_pl_cpu_id(), as Linux's DEFINE_PER_CPU/this_cpu_ptr.
 */
#ifndef KMEM_PL_H
#define KMEM_PL_H

#include <kmem/platform.h>

#ifndef KMEM_NR_CPUS
#define KMEM_NR_CPUS 8
#endif

#define KMEM_PERCPU_DEFINE(type, name, ...)                                                        \
    type name[KMEM_NR_CPUS] = {[0 ... KMEM_NR_CPUS - 1] = __VA_ARGS__}
#define KMEM_PERCPU_DECLARE(type, name) extern type name[KMEM_NR_CPUS]
#define KMEM_THIS_CPU_PTR(name)         (&(name)[kmem_pl_cpu_id()])
/* Byte offset off into this CPU's area `name`, as a pointer to `type`. */
#define KMEM_THIS_CPU_AT(type, name, off)                                                          \
    ((type *)(void *)((char *)KMEM_THIS_CPU_PTR(name) + (off)))
#define KMEM_PL_THREADS 0

/* Per-CPU cache slots of each CPU's area (the sentinel and 31 caches; the
 * caches beyond keep magazines through the slow paths): 1 KiB per CPU. */
#ifndef KMEM_CPU_SLOTS
#define KMEM_CPU_SLOTS 32
#endif

#endif /* KMEM_PL_H */
