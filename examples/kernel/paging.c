/* SPDX-License-Identifier: MIT */
/*
 * paging.c - the boot allocator, the direct map and vmalloc's page tables.
 *
 * kmem needs every frame it manages at a fixed virtual address (the direct
 * map: physical p at DIRECT_MAP_BASE + p) and a virtual range where
 * kmem_pl_map may write mappings without allocating. Both are built here,
 * once, before kmem_boot, in memory carved upwards from just above the
 * kernel image (carve_pages); kmain reserves all of it from kmem.
 *
 * The direct map covers every 2 MiB chunk that holds available RAM, with
 * 2 MiB pages (few tables: 5 GiB of RAM is 6 pages of them). The vmalloc
 * range gets all its levels down to the PTs up front, the PTs contiguous,
 * so that the PTE of any vmalloc page is vmalloc_ptes()[offset / 4 KiB].
 * The tables are reached through the identity map while they are built
 * (carve_pages keeps below IDENTITY_LIMIT); the kernel keeps running in the
 * identity map afterwards.
 */
#include <kmem/types.h>

#include "io.h"
#include "kernel.h"

#define PTE_PRESENT 0x1ul
#define PTE_WRITE   0x2ul
#define PTE_HUGE    0x80ul /* a 2 MiB page in a PD entry */
#define PTE_ADDR    0x000ffffffffff000ul

extern uint64_t boot_pml4[512]; /* boot.S */

static uint64_t *vm_ptes;

void *carve_pages(struct boot_carve *carve, size_t bytes)
{
    uint64_t size = (bytes + 4095) & ~4095ul;
    if (carve->next + size > carve->limit || carve->next + size > IDENTITY_LIMIT)
        kernel_fail(EXIT_BOOT, "boot allocator: out of memory above the kernel");
    void *p = (void *)(uintptr_t)carve->next;
    carve->next += size;
    __builtin_memset(p, 0, size);
    return p;
}

static unsigned int index_at(uint64_t va, unsigned int level)
{
    return (unsigned int)((va >> (12 + 9 * level)) & 511);
}

/* The table that entry *e points to, allocated when absent. */
static uint64_t *next_table(struct boot_carve *carve, uint64_t *e)
{
    if (!(*e & PTE_PRESENT))
        *e = (uint64_t)(uintptr_t)carve_pages(carve, 4096) | PTE_PRESENT | PTE_WRITE;
    return (uint64_t *)(uintptr_t)(*e & PTE_ADDR);
}

/* The PD entry that maps virtual address va with a 2 MiB page. */
static uint64_t *pd_entry(struct boot_carve *carve, uint64_t va)
{
    uint64_t *pdpt = next_table(carve, &boot_pml4[index_at(va, 3)]);
    uint64_t *pd = next_table(carve, &pdpt[index_at(va, 2)]);
    return &pd[index_at(va, 1)];
}

void paging_map_direct(struct boot_carve *carve, const struct boot_range *ram, unsigned int nr)
{
    const uint64_t huge = 2ul << 20;
    for (unsigned int i = 0; i < nr; i++) {
        for (uint64_t p = ram[i].start & ~(huge - 1); p < ram[i].end; p += huge)
            *pd_entry(carve, DIRECT_MAP_BASE + p) = p | PTE_PRESENT | PTE_WRITE | PTE_HUGE;
    }
    write_cr3(read_cr3()); /* new upper-level entries: flush to be safe */
}

/* Every PD entry of the vmalloc range points at its own PT; the PTs are
 * carved in one piece, so they are contiguous. */
void paging_map_vmalloc(struct boot_carve *carve)
{
    const uint64_t per_pt = 2ul << 20;
    uint64_t nr_pts = VMALLOC_SIZE / per_pt;
    for (uint64_t i = 0; i < nr_pts; i++)
        (void)pd_entry(carve, VMALLOC_START + i * per_pt); /* the upper levels first */
    vm_ptes = carve_pages(carve, nr_pts * 4096);
    for (uint64_t i = 0; i < nr_pts; i++)
        *pd_entry(carve, VMALLOC_START + i * per_pt) =
            (uint64_t)(uintptr_t)(vm_ptes + i * 512) | PTE_PRESENT | PTE_WRITE;
    write_cr3(read_cr3());
}

uint64_t *vmalloc_ptes(void)
{
    return vm_ptes;
}
