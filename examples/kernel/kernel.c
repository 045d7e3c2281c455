/* SPDX-License-Identifier: MIT */
/*
 * kernel.c - kmain: from the Multiboot memory map to a running kmem, its
 * self-test, and a report the host checks (check_boot.py).
 *
 * The order matters because nothing can be allocated before kmem is up:
 *   1. copy the memory map qemu reported and print it ("mmap:" lines);
 *   2. reserve what the kernel uses itself: its image (with the boot page
 *      tables and stack in its .bss), the Multiboot information, the map's
 *      buffer and the command line;
 *   3. carve, just above all of that, the direct map's page tables and the
 *      vmalloc range's page tables, and from 16 MiB up (if RAM is there)
 *      the struct page array (memmap), and reserve them too ("reserve:"
 *      lines);
 *   4. hand kmem the available RAM minus the reservations ("kmem_ram:"
 *      lines; frames in holes are reserved by kmem itself) and kmem_boot;
 *   5. print the zones and buddyinfo, run the self-test, print them again
 *      with slabinfo, and exit qemu with the pass value only if all is well.
 * Every printed line is "key: field=value ..." or a block between
 * "--- name ---" and "--- end ---", so that the host can parse it.
 */
#include <kmem.h>
#include <kmem/platform.h>

#include "io.h"
#include "kernel.h"
#include "multiboot.h"

enum { MAX_MMAP = 64, MAX_RESERVED = 16, MAX_RAM = 80 };
#define DMA_LIMIT (16ul << 20) /* kmem's zone DMA: frames below 16 MiB */

extern char kernel_start[], kernel_end[];        /* linker.ld */
extern char boot_pml4[], boot_page_tables_end[]; /* boot.S */

static struct boot_range mmap_avail[MAX_MMAP];
static unsigned int nr_avail;
static struct boot_range reserved[MAX_RESERVED];
static unsigned int nr_reserved;
static struct kmem_region kmem_ram[MAX_RAM];
static unsigned int nr_kmem_ram;

static uint64_t page_down(uint64_t a)
{
    return a & ~4095ul;
}

static uint64_t page_up(uint64_t a)
{
    return (a + 4095) & ~4095ul;
}

static void reserve(uint64_t start, uint64_t end, const char *what)
{
    if (nr_reserved == MAX_RESERVED)
        kernel_fail(EXIT_BOOT, "too many reserved ranges");
    reserved[nr_reserved++] = (struct boot_range){page_down(start), page_up(end), what};
    kprintf("reserve: start=0x%lx end=0x%lx what=%s\n", (unsigned long)page_down(start),
            (unsigned long)page_up(end), what);
}

/* Keep an available range (pages only), in address order, merged with
 * neighbours it touches. */
static void add_avail(uint64_t base, uint64_t len)
{
    uint64_t start = page_up(base), end = page_down(base + len);
    if (start >= end)
        return;
    unsigned int i = nr_avail;
    while (i > 0 && mmap_avail[i - 1].start > start) {
        mmap_avail[i] = mmap_avail[i - 1];
        i--;
    }
    mmap_avail[i] = (struct boot_range){start, end, "ram"};
    nr_avail++;
    for (unsigned int j = 0; j + 1 < nr_avail;) { /* merge touching neighbours */
        if (mmap_avail[j].end >= mmap_avail[j + 1].start) {
            if (mmap_avail[j + 1].end > mmap_avail[j].end)
                mmap_avail[j].end = mmap_avail[j + 1].end;
            for (unsigned int k = j + 1; k + 1 < nr_avail; k++)
                mmap_avail[k] = mmap_avail[k + 1];
            nr_avail--;
        } else {
            j++;
        }
    }
}

static void read_mmap(const struct multiboot_info *mbi)
{
    if (!(mbi->flags & MULTIBOOT_INFO_MMAP))
        kernel_fail(EXIT_BOOT, "the boot loader gave no memory map");
    const char *p = (const char *)(uintptr_t)mbi->mmap_addr;
    const char *end = p + mbi->mmap_length;
    while (p < end) {
        const struct multiboot_mmap_entry *e = (const void *)p;
        kprintf("mmap: base=0x%016lx len=0x%016lx type=%u\n", (unsigned long)e->addr,
                (unsigned long)e->len, e->type);
        if (e->type == MULTIBOOT_MEMORY_AVAILABLE) {
            if (nr_avail == MAX_MMAP)
                kernel_fail(EXIT_BOOT, "memory map too long");
            add_avail(e->addr, e->len);
        }
        p += e->size + 4;
    }
    if (!nr_avail)
        kernel_fail(EXIT_BOOT, "no available RAM in the memory map");
}

static size_t cstrlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void reserve_boot_data(const struct multiboot_info *mbi)
{
    reserve((uintptr_t)kernel_start, (uintptr_t)kernel_end, "kernel");
    reserve((uintptr_t)boot_pml4, (uintptr_t)boot_page_tables_end, "boot-pagetables");
    reserve((uintptr_t)mbi, (uintptr_t)mbi + sizeof *mbi, "multiboot-info");
    reserve(mbi->mmap_addr, (uint64_t)mbi->mmap_addr + mbi->mmap_length, "multiboot-mmap");
    if (mbi->flags & MULTIBOOT_INFO_CMDLINE) {
        const char *cmd = (const char *)(uintptr_t)mbi->cmdline;
        reserve(mbi->cmdline, mbi->cmdline + cstrlen(cmd) + 1, "multiboot-cmdline");
    }
}

/* The boot allocator starts above the kernel and everything reserved so far
 * that lies in the same available range, and stays in that range. */
static struct boot_carve carve_init(void)
{
    uint64_t k = (uintptr_t)kernel_start;
    const struct boot_range *home = 0;
    for (unsigned int i = 0; i < nr_avail; i++)
        if (mmap_avail[i].start <= k && k < mmap_avail[i].end)
            home = &mmap_avail[i];
    if (!home)
        kernel_fail(EXIT_BOOT, "the kernel is not in available RAM");
    struct boot_carve c = {.next = page_up((uintptr_t)kernel_end), .limit = home->end};
    for (unsigned int i = 0; i < nr_reserved; i++)
        if (reserved[i].end > c.next && reserved[i].start < c.limit)
            c.next = reserved[i].end;
    return c;
}

/* Is [start, end) clear of every reservation? If not, *next is where the
 * first overlapping one ends. */
static bool clear_of_reserved(uint64_t start, uint64_t end, uint64_t *next)
{
    for (unsigned int i = 0; i < nr_reserved; i++) {
        if (reserved[i].start < end && start < reserved[i].end) {
            *next = reserved[i].end;
            return false;
        }
    }
    return true;
}

static void add_kmem_ram(uint64_t start, uint64_t end)
{
    if (nr_kmem_ram == MAX_RAM)
        kernel_fail(EXIT_BOOT, "too many RAM regions");
    kmem_ram[nr_kmem_ram++] = (struct kmem_region){start, end - start};
    kprintf("kmem_ram: base=0x%lx end=0x%lx\n", (unsigned long)start, (unsigned long)end);
}

/* Available RAM minus the reservations, page by page boundaries: a region
 * ends where a reservation starts and the next begins where it ends. */
static void build_kmem_ram(void)
{
    for (unsigned int i = 0; i < nr_avail; i++) {
        uint64_t p = mmap_avail[i].start, end = mmap_avail[i].end;
        while (p < end) {
            uint64_t next, stop = end;
            if (!clear_of_reserved(p, p + 4096, &next)) {
                p = next;
                continue;
            }
            for (unsigned int r = 0; r < nr_reserved; r++)
                if (reserved[r].start >= p && reserved[r].start < stop)
                    stop = reserved[r].start;
            add_kmem_ram(p, stop);
            p = stop;
        }
    }
}

static uint64_t random_seed(void)
{
    uint32_t eax = 1, ebx, ecx, edx;
    __asm__ __volatile__("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
    uint64_t seed = rdtsc() * 0x9e3779b97f4a7c15ul;
    if (ecx & (1u << 30)) { /* RDRAND */
        for (int tries = 0; tries < 10; tries++) {
            uint64_t r;
            unsigned char ok;
            __asm__ __volatile__("rdrand %0; setc %1" : "=r"(r), "=qm"(ok));
            if (ok)
                return seed ^ r;
        }
    }
    return seed;
}

void print_zones(const char *tag)
{
    for (int zt = 0; zt < KMEM_NR_ZONES; zt++) {
        struct kmem_zone_info zi;
        if (!kmem_zone_info((enum kmem_zone_type)zt, &zi))
            continue;
        kprintf("%s: name=%s start_pfn=%lu end_pfn=%lu managed=%lu free=%lu pcp=%lu\n", tag,
                zi.name, zi.start_pfn, zi.end_pfn, zi.managed_pages, zi.free_pages, zi.pcp_pages);
    }
}

void print_block(const char *name, size_t (*text)(char *, size_t))
{
    static char buf[32768];
    size_t n = text(buf, sizeof buf);
    kprintf("--- %s ---\n%s%s--- end ---\n", name, buf, n >= sizeof buf ? "(truncated)\n" : "");
}

static bool count_slab_pages(void *arg, struct kmem_cache *cache)
{
    struct kmem_cache_info ci;
    kmem_cache_info(cache, &ci);
    *(unsigned long *)arg += ci.slabs * ci.pages_per_slab;
    return true;
}

unsigned long slab_pages(void)
{
    unsigned long pages = 0;
    kmem_cache_walk(count_slab_pages, &pages);
    return pages;
}

static void boot_kmem(void)
{
    struct boot_carve carve = carve_init();
    uint64_t mark = carve.next;
    paging_map_direct(&carve, mmap_avail, nr_avail);
    reserve(mark, carve.next, "direct-map-pagetables");
    mark = carve.next;
    paging_map_vmalloc(&carve);
    reserve(mark, carve.next, "vmalloc-pagetables");
    /* The memmap is large (32 bytes a page: 40 MiB for 5 GiB): carve it
     * above the DMA zone when the RAM there allows, which leaves the 16 MiB
     * that GFP_DMA depends on to kmem. */
    uint64_t ram_end = mmap_avail[nr_avail - 1].end;
    size_t memmap_bytes = kmem_memmap_bytes(ram_end);
    struct boot_carve high = {DMA_LIMIT, carve.limit};
    if (carve.next < DMA_LIMIT && DMA_LIMIT + memmap_bytes <= carve.limit &&
        DMA_LIMIT + memmap_bytes <= IDENTITY_LIMIT)
        carve = high;
    mark = carve.next;
    void *memmap = carve_pages(&carve, memmap_bytes); /* zeroed */
    reserve(mark, carve.next, "memmap");
    build_kmem_ram();

    struct kmem_machine_desc desc = {
        .direct_map = (void *)DIRECT_MAP_BASE,
        .ram = kmem_ram,
        .nr_ram = nr_kmem_ram,
        .memmap = (char *)DIRECT_MAP_BASE + (uintptr_t)memmap,
        .vmalloc_start = (void *)VMALLOC_START,
        .vmalloc_size = VMALLOC_SIZE,
        .random_seed = random_seed(),
        .memmap_zeroed = true,
    };
    int rc = kmem_boot(&desc);
    kprintf("kernel: kmem_boot=%d direct_map=0x%lx vmalloc=0x%lx+0x%lx memmap=%p\n", rc,
            DIRECT_MAP_BASE, VMALLOC_START, VMALLOC_SIZE, desc.memmap);
    if (rc != 0)
        kernel_fail(EXIT_BOOT, "kmem_boot refused the machine");
}

/* Does the multiboot command line (qemu -append) hold word? */
static bool cmdline_has(const struct multiboot_info *mbi, const char *word)
{
    if (!(mbi->flags & MULTIBOOT_INFO_CMDLINE))
        return false;
    size_t n = cstrlen(word);
    for (const char *s = (const char *)(uintptr_t)mbi->cmdline; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] == word[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* "double-free" on the command line: free a page twice. kmem must report it
 * and call kmem_pl_panic, which exits qemu with EXIT_PANIC: the proof that a
 * kernel's bad free stops the machine with a message instead of corrupting
 * its free lists. */
static void misuse_double_free(void)
{
    struct page *page = alloc_pages(GFP_KERNEL, 0);
    if (!page)
        kernel_fail(EXIT_FAIL, "double-free: no page");
    kprintf("misuse: freeing pfn %lu twice\n", page_to_pfn(page));
    __free_pages(page, 0); /* onto this CPU's page list */
    __free_pages(page, 0);
    drain_all_pages();
    kernel_fail(EXIT_FAIL, "double-free: the second free was not caught");
}

void kmain(uint32_t magic, const struct multiboot_info *mbi);

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
    serial_init();
    idt_init();
    kprintf("kernel: kmem example kernel, multiboot magic 0x%x info %p\n", magic,
            (const void *)mbi);
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        kernel_fail(EXIT_BOOT, "bad multiboot magic");
    read_mmap(mbi);
    reserve_boot_data(mbi);
    boot_kmem();

    drain_all_pages();
    print_zones("zone-boot");
    print_block("buddyinfo-boot", kmem_buddyinfo);
    if (cmdline_has(mbi, "double-free"))
        misuse_double_free();

    int failed = selftest_run();

    drain_all_pages();
    print_block("buddyinfo", kmem_buddyinfo);
    print_block("slabinfo", kmem_slabinfo);
    print_zones("zone-end");
    kprintf("slab_pages: pages=%lu\n", slab_pages());
    if (failed)
        kernel_fail(EXIT_FAIL, "self-test");
    kprintf("kernel: pass\n");
    qemu_exit(EXIT_PASS);
}
