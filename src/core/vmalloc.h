/* SPDX-License-Identifier: MIT */
/*
 * vmalloc.h - what the vmalloc layer (vmalloc.c) offers the rest of the core.
 */
#ifndef KMEM_VMALLOC_INTERNAL_H
#define KMEM_VMALLOC_INTERNAL_H

#include <kmem/platform.h>
#include <kmem/vmalloc.h>

/* Take the machine description's vmalloc range (before the machine is up;
 * allocates nothing). false if the range is unusable: not page-aligned,
 * wrapping, or overlapping the direct map of nr_pfns frames. */
bool kmem_vmalloc_boot(const struct kmem_machine_desc *desc, unsigned long nr_pfns);

/* Unmap every area left (no other thread may run kmem any more) and forget
 * the range. Called before the object caches go down. */
void kmem_vmalloc_shutdown(void);

/* vfree(addr) on behalf of caller (kvfree names its own caller). */
void kmem_vfree_from(const void *addr, const void *caller);

#endif /* KMEM_VMALLOC_INTERNAL_H */
