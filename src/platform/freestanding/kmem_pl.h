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

#define KMEM_PERCPU_DEFINE(type, name)  type name[KMEM_NR_CPUS]
#define KMEM_PERCPU_DECLARE(type, name) extern type name[KMEM_NR_CPUS]
#define KMEM_THIS_CPU_PTR(name)         (&(name)[kmem_pl_cpu_id()])
#define KMEM_PL_THREADS                 0

#endif /* KMEM_PL_H */
