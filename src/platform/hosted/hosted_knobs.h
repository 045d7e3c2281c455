/* SPDX-License-Identifier: MIT */
/*
 * hosted_knobs.h - test knobs of the hosted platform (hosted.c). Not part of
 * kmem's interface: the symbols are hidden in libkmem.so and local in
 * libkmem.a; only the tests, which link the objects, reach them.
 */
#ifndef KMEM_HOSTED_KNOBS_H
#define KMEM_HOSTED_KNOBS_H

#include <stdint.h>

/* Failure injection for kmem_pl_map: 0 is off; n > 0 makes the n-th map call
 * from now fail with -ENOMEM (each call counts it down; it ends at 0). */
extern int kmem_hosted_fail_map_after;

/* The errno of the last mmap that kmem_pl_map saw fail (injected failures
 * do not set it): ENOMEM when the host's vm.max_map_count was reached. */
extern int kmem_hosted_last_map_errno;

/* Read KMEM_DEBUG into kmem_slab_debug_set, before a machine boots: kmem_init
 * calls it, and so does libkmem-malloc.so's machine (src/malloc/machine.c). */
void kmem_hosted_debug_from_env(void);

/* 64 random bits from the host (getrandom), or 0, for kmem_machine_desc. */
uint64_t kmem_hosted_random_seed(void);

#endif /* KMEM_HOSTED_KNOBS_H */
