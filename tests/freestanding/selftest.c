/* SPDX-License-Identifier: MIT */
/*
 * selftest.c - boot kmem's core with kmem_boot() over static "RAM" with a
 * hole, exactly as a kernel would, and check the page allocator works: no C
 * library, no hosted platform, one CPU.
 *
 * The machine: 8 MiB of static memory is the direct map (physical address 0
 * is its first byte). The RAM map hands kmem two regions,
 *     [64 KiB, 3 MiB)                      pfns   16 ..  767
 *     [4 MiB + 12 KiB + 100, 8 MiB - 50)  pfns 1028 .. 2046 (rounded inwards)
 * so frames 0..15, 768..1027 (the hole) and the partial pages at both ends
 * are reserved forever: 752 + 1019 = 1771 managed frames, all in zone DMA.
 *
 * The RAM is backed by a memfd (kfs_machine_setup) and the machine has a
 * 32 MiB vmalloc range, so vmalloc maps frames a second time as a kernel
 * does; test_vmalloc checks that both addresses reach the same bytes.
 */
#include <kmem.h>
#include <kmem/platform.h>

#include "kfs.h"

#define RAM_BYTES     (8UL << 20)
#define RAM_PAGES     (RAM_BYTES / PAGE_SIZE)
#define MANAGED_PAGES 1771UL
#define LAST_PFN      2047UL /* one past the last frame of the RAM map */
#define VMALLOC_BYTES (32UL << 20)

static unsigned char ram[RAM_BYTES] __attribute__((aligned(4 << 20)));
/* sizeof(struct page) is 32 bytes on every machine (asserted in the core). */
static unsigned char memmap[RAM_PAGES * 32] __attribute__((aligned(64)));

static void *vmalloc_range; /* 0: the host gave no memfd, no vmalloc */

static const struct kmem_region ram_map[] = {
    {.base = 0x10000, .size = (3UL << 20) - 0x10000},
    {.base = (4UL << 20) + 0x3000 + 100, .size = (RAM_BYTES - 50) - ((4UL << 20) + 0x3000 + 100)},
};

/* Free blocks per order right after boot: the two regions carved into
 * maximal aligned blocks (see the file comment). */
static const unsigned long boot_nr_free[NR_PAGE_ORDERS] = {1, 1, 2, 2, 3, 3, 3, 3, 4, 0, 0};

/* ---- checking ------------------------------------------------------------- */

static unsigned int checks, failures;

#define CHECK(cond) check((cond), __LINE__, #cond)

static void check(int ok, int line, const char *what)
{
    checks++;
    if (ok)
        return;
    failures++;
    kfs_puts("freestanding: CHECK failed at selftest.c:");
    kfs_putu((unsigned long)line);
    kfs_puts(": ");
    kfs_puts(what);
    kfs_puts("\n");
}

static int str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* Linux's buddyinfo line for zone DMA with these counts. */
static void expected_buddyinfo(char *buf, const unsigned long *nr_free)
{
    const char *head = "Node 0, zone      DMA ";
    while (*head)
        *buf++ = *head++;
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        char digits[24];
        int n = 0;
        unsigned long v = nr_free[o];
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int pad = n; pad < 6; pad++)
            *buf++ = ' ';
        while (n)
            *buf++ = digits[--n];
        *buf++ = ' ';
    }
    *buf++ = '\n';
    *buf = '\0';
}

static void check_buddyinfo(const unsigned long *nr_free, int line)
{
    char want[256], got[256];
    expected_buddyinfo(want, nr_free);
    size_t n = kmem_buddyinfo(got, sizeof got);
    check(n < sizeof got && str_eq(got, want), line, "kmem_buddyinfo text");
    if (!str_eq(got, want)) {
        kfs_puts("  got:  ");
        kfs_puts(got);
        kfs_puts("  want: ");
        kfs_puts(want);
    }
}

static int in_ram_map(unsigned long pfn, unsigned long pages)
{
    return (pfn >= 16 && pfn + pages <= 768) || (pfn >= 1028 && pfn + pages <= LAST_PFN);
}

static struct kmem_machine_desc desc_of(const struct kmem_region *map, unsigned int nr)
{
    struct kmem_machine_desc d = {.direct_map = ram,
                                  .ram = map,
                                  .nr_ram = nr,
                                  .memmap = memmap,
                                  .vmalloc_start = vmalloc_range,
                                  .vmalloc_size = vmalloc_range ? VMALLOC_BYTES : 0};
    return d;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_bad_descriptions(void)
{
    static const struct kmem_region unsorted[] = {{0x400000, 0x1000}, {0x10000, 0x1000}};
    static const struct kmem_region empty[] = {{0x10000, 0}};
    struct kmem_machine_desc d = desc_of(unsorted, 2);
    CHECK(kmem_boot(&d) == -22);
    d = desc_of(empty, 1);
    CHECK(kmem_boot(&d) == -22);
    d = desc_of(ram_map, 2);
    d.memmap = memmap + 8; /* not 16-byte aligned */
    CHECK(kmem_boot(&d) == -22);
    d = desc_of(ram_map, 2);
    d.direct_map = ram + 100; /* not page aligned */
    CHECK(kmem_boot(&d) == -22);
    CHECK(kmem_boot(0) == -22);
    d = desc_of(ram_map, 2);
    d.vmalloc_start = ram + (1UL << 20); /* a vmalloc range inside the direct map */
    d.vmalloc_size = 1UL << 20;
    CHECK(kmem_boot(&d) == -22);
    d.vmalloc_start = (char *)memmap + 100; /* not page-aligned */
    CHECK(kmem_boot(&d) == -22);
    CHECK(!kmem_is_up());
}

static void test_boot_state(void)
{
    struct kmem_zone_info zi;
    CHECK(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    CHECK(zi.start_pfn == 0 && zi.end_pfn == LAST_PFN);
    CHECK(zi.managed_pages == MANAGED_PAGES);
    CHECK(zi.free_pages == MANAGED_PAGES);
    CHECK(zi.pcp_pages == 0);
    CHECK(zi.pcp_high > 0); /* 1771 frames: per-CPU lists are in use */
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++)
        CHECK(zi.nr_free[o] == boot_nr_free[o]);
    CHECK(!kmem_zone_info(KMEM_ZONE_NORMAL, &zi)); /* nothing above 16 MiB */
    check_buddyinfo(boot_nr_free, __LINE__);
    CHECK(kmem_page_check() == 0);
}

/* Every managed frame can be allocated once, no reserved frame ever is. */
static void test_exhaust(void)
{
    static struct page *pages[RAM_PAGES];
    static unsigned char seen[RAM_PAGES];
    unsigned long n = 0, outside = 0, twice = 0;
    for (;;) {
        struct page *p = alloc_page(GFP_KERNEL | __GFP_MEMALLOC); /* the reserves too */
        if (!p)
            break;
        unsigned long pfn = page_to_pfn(p);
        if (!in_ram_map(pfn, 1))
            outside++;
        else if (seen[pfn]++)
            twice++;
        if (n < RAM_PAGES)
            pages[n++] = p;
    }
    CHECK(n == MANAGED_PAGES);
    CHECK(outside == 0);
    CHECK(twice == 0);
    CHECK(alloc_pages(GFP_DMA, 0) == 0);
    struct kmem_zone_info zi;
    CHECK(kmem_zone_info(KMEM_ZONE_DMA, &zi) && zi.free_pages == 0 && zi.pcp_pages == 0);
    CHECK(kmem_page_check() == 0);
    while (n)
        __free_page(pages[--n]);
    for (unsigned long i = 0; i < RAM_PAGES; i++)
        seen[i] = 0;
    drain_all_pages();
    check_buddyinfo(boot_nr_free, __LINE__);
    CHECK(kmem_page_check() == 0);
}

/* One block of each order: aligned, inside the RAM map, usable; orders the
 * machine has no block for (9, 10) and orders beyond the maximum give NULL. */
static void test_orders(void)
{
    struct page *blocks[NR_PAGE_ORDERS];
    for (unsigned int o = 0; o < NR_PAGE_ORDERS; o++) {
        blocks[o] = alloc_pages(GFP_KERNEL, o);
        if (o >= 9) {
            CHECK(blocks[o] == 0);
            continue;
        }
        CHECK(blocks[o] != 0);
        if (!blocks[o])
            continue;
        unsigned long pfn = page_to_pfn(blocks[o]);
        CHECK((pfn & ((1UL << o) - 1)) == 0);
        CHECK(in_ram_map(pfn, 1UL << o));
        unsigned char *va = page_address(blocks[o]);
        CHECK(va == ram + (pfn << PAGE_SHIFT));
        CHECK(virt_to_page(va) == blocks[o]);
        CHECK(pfn_to_page(pfn) == blocks[o]);
        CHECK(virt_to_phys(va) == (phys_addr_t)pfn << PAGE_SHIFT);
        CHECK(phys_to_virt((phys_addr_t)pfn << PAGE_SHIFT) == va);
        memset(va, (int)(o + 1), PAGE_SIZE << o);
    }
    CHECK(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1) == 0);
    CHECK(kmem_page_check() == 0);
    for (unsigned int o = 0; o < 9; o++) {
        if (!blocks[o])
            continue;
        const unsigned char *va = page_address(blocks[o]);
        unsigned long bad = 0;
        for (unsigned long i = 0; i < (PAGE_SIZE << o); i++)
            bad += va[i] != (unsigned char)(o + 1);
        CHECK(bad == 0); /* no two blocks overlap */
    }
    for (unsigned int o = 0; o < 9; o++)
        if (blocks[o])
            __free_pages(blocks[o], o);
    drain_all_pages();
    check_buddyinfo(boot_nr_free, __LINE__); /* everything coalesced back */
    CHECK(kmem_page_check() == 0);
}

static void test_misc(void)
{
    /* __GFP_ZERO really zeroes (dirty a page, free it, ask for a zeroed one). */
    unsigned long dirty = __get_free_page(GFP_KERNEL);
    CHECK(dirty != 0);
    memset((void *)dirty, 0xAA, PAGE_SIZE);
    free_page(dirty);
    unsigned long z = get_zeroed_page(GFP_KERNEL);
    CHECK(z != 0);
    unsigned long nonzero = 0;
    for (unsigned long i = 0; z && i < PAGE_SIZE; i++)
        nonzero += ((unsigned char *)z)[i] != 0;
    CHECK(nonzero == 0);
    free_page(z);

    void *e = alloc_pages_exact(3 * PAGE_SIZE, GFP_KERNEL);
    CHECK(e != 0);
    CHECK(((unsigned long)e & (PAGE_SIZE - 1)) == 0);
    if (e)
        free_pages_exact(e, 3 * PAGE_SIZE);

    struct page *dma = alloc_pages(GFP_DMA | __GFP_ZERO, 2);
    CHECK(dma != 0);
    if (dma)
        __free_pages(dma, 2);

    CHECK(virt_to_page(ram + RAM_BYTES) == 0); /* past the last frame */
    CHECK(virt_to_page(memmap) == 0);          /* not in the direct map */
    CHECK(pfn_to_page(LAST_PFN) == 0);
    CHECK(get_order(PAGE_SIZE) == 0 && get_order(PAGE_SIZE + 1) == 1);
    free_pages(0, 3); /* Linux: does nothing */

    drain_all_pages();
    check_buddyinfo(boot_nr_free, __LINE__);
    CHECK(kmem_page_check() == 0);
}

/* vmalloc over scattered frames: one area of 300 pages (blocks of several
 * orders), written through its address and read through the direct map and
 * back; vzalloc; vmap of three single pages the test owns. */
static void test_vmalloc(void)
{
    if (!vmalloc_range) {
        kfs_puts("freestanding: the host gave no memfd: vmalloc not checked\n");
        return;
    }
    struct kmem_vmalloc_info vi;
    CHECK(kmem_vmalloc_info(&vi) && vi.range_bytes == VMALLOC_BYTES && vi.areas == 0);
    enum { NPAGES = 300 };
    unsigned char *v = vmalloc(NPAGES * PAGE_SIZE);
    CHECK(v != 0);
    CHECK(is_vmalloc_addr(v) && !is_vmalloc_addr(ram));
    if (v) {
        unsigned long bad = 0;
        for (unsigned long i = 0; i < NPAGES; i++)
            memset(v + i * PAGE_SIZE, (int)((i * 7 + 1) & 0xff), PAGE_SIZE);
        for (unsigned long i = 0; i < NPAGES; i++) {
            struct page *pg = vmalloc_to_page(v + i * PAGE_SIZE + 123);
            unsigned char *d = pg ? page_address(pg) : 0;
            unsigned char want = (unsigned char)((i * 7 + 1) & 0xff);
            if (!d || d[0] != want || d[PAGE_SIZE - 1] != want) {
                bad++;
                continue;
            }
            d[99] = (unsigned char)~want; /* and the other way round */
            bad += v[i * PAGE_SIZE + 99] != (unsigned char)~want;
        }
        CHECK(bad == 0);
        CHECK(vmalloc_to_page(v + NPAGES * PAGE_SIZE) == 0); /* the guard page */
        CHECK(kmem_vmalloc_info(&vi) && vi.areas == 1 && vi.pages == NPAGES);
        CHECK(vi.map_calls >= 1 && vi.map_calls < NPAGES); /* blocks, not pages */
        CHECK(kmem_vmalloc_check() == 0);
        vfree(v);
    }
    unsigned char *z = vzalloc(5 * PAGE_SIZE);
    CHECK(z != 0);
    unsigned long nonzero = 0;
    for (unsigned long i = 0; z && i < 5 * PAGE_SIZE; i++)
        nonzero += z[i] != 0;
    CHECK(nonzero == 0);
    vfree(z);

    struct page *own[3];
    for (int i = 0; i < 3; i++)
        own[i] = alloc_page(GFP_KERNEL);
    CHECK(own[0] && own[1] && own[2]);
    if (own[0] && own[1] && own[2]) {
        struct page *order[3] = {own[2], own[0], own[1]};
        unsigned char *m = vmap(order, 3, VM_MAP, PAGE_KERNEL);
        CHECK(m != 0);
        if (m) {
            for (int i = 0; i < 3; i++)
                m[i * PAGE_SIZE + 5] = (unsigned char)(0xc0 + i);
            for (int i = 0; i < 3; i++)
                CHECK(((unsigned char *)page_address(order[i]))[5] == 0xc0 + i);
            CHECK(vmalloc_to_page(m + PAGE_SIZE) == own[0]);
            vunmap(m);
        }
        for (int i = 0; i < 3; i++)
            __free_page(own[i]); /* still the test's after vunmap */
    }
    CHECK(kmem_vmalloc_info(&vi) && vi.areas == 0 && vi.pages == 0);
    CHECK(vi.unmap_calls == 3 && kfs_unmap_calls == 3 && kfs_map_calls == vi.map_calls);
    CHECK(kmem_vmalloc_check() == 0);
    CHECK(kmem_page_check() == 0);
}

static int contains(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        const char *h = hay, *n = needle;
        while (*n && *h == *n)
            h++, n++;
        if (!*n)
            return 1;
    }
    return 0;
}

/* The object layers over the booted machine, no kmem_init: a cache with a
 * constructor taken through its magazines and depot (full magazines are
 * XOR-encoded there and decoded on the way back: the code that differs on
 * 32-bit machines), a SLAB_FREELIST_RANDOM cache (its random start is a
 * 64-bit remainder), every kmalloc class and a large kmalloc, slabinfo and
 * the checkers. */
static unsigned int ctor_calls;
static void ctor(void *obj)
{
    ctor_calls++;
    *(unsigned int *)obj = 0x5eed;
}

static void test_slab(void)
{
    enum { NOBJ = 3000 };
    static void *objs[NOBJ];
    struct kmem_cache *c = kmem_cache_create("kfs_obj", 48, 0, 0, ctor);
    CHECK(c != 0);
    if (!c)
        return;
    unsigned long got = 0, fresh = 0;
    for (unsigned int i = 0; i < NOBJ; i++) {
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
        if (!objs[i])
            continue;
        got++;
        fresh += *(unsigned int *)objs[i] == 0x5eed;
        memset(objs[i], (int)(i & 0xff), 48);
    }
    CHECK(got == NOBJ && fresh == NOBJ && ctor_calls >= NOBJ);
    unsigned long overlap = 0;
    for (unsigned int i = 0; i < NOBJ; i++)
        overlap += objs[i] && ((unsigned char *)objs[i])[47] != (unsigned char)(i & 0xff);
    CHECK(overlap == 0);
    for (unsigned int i = 0; i < NOBJ; i++)
        kmem_cache_free(c, objs[i]); /* fills magazines: full ones go to the depot */
    for (unsigned int i = 0; i < NOBJ; i++)
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL); /* and back */
    for (unsigned int i = 0; i < NOBJ; i++)
        kmem_cache_free(c, objs[i]);
    CHECK(kmem_validate() == 0);

    char info[4096];
    size_t n = kmem_slabinfo(info, sizeof info);
    CHECK(n > 0 && contains(info, "kfs_obj"));
    kmem_cache_destroy(c);

    kmem_slab_random_set(true);
    struct kmem_cache *r = kmem_cache_create("kfs_random", 40, 0, 0, 0);
    kmem_slab_random_set(false);
    CHECK(r != 0);
    if (r) {
        unsigned long ok = 0;
        for (unsigned int i = 0; i < 500; i++)
            ok += (objs[i] = kmem_cache_alloc(r, GFP_KERNEL)) != 0;
        CHECK(ok == 500);
        for (unsigned int i = 0; i < 500; i++)
            kmem_cache_free(r, objs[i]);
        kmem_cache_destroy(r);
    }

    unsigned long bad = 0;
    for (size_t size = 1; size <= 8192; size = size * 2 + 1) {
        unsigned char *p = kmalloc(size, GFP_KERNEL);
        if (!p || ksize(p) < size) {
            bad++;
            continue;
        }
        memset(p, 0x77, size);
        kfree(p);
    }
    CHECK(bad == 0);
    void *big = kmalloc(100 * 1024, GFP_KERNEL); /* from pages */
    CHECK(big != 0 && ksize(big) >= 100 * 1024);
    kfree(big);
    void *zeroed = kzalloc(200, GFP_KERNEL);
    CHECK(zeroed != 0 && ((unsigned char *)zeroed)[199] == 0);
    kfree(zeroed);
    CHECK(kmem_validate() == 0);
    CHECK(kmem_page_check() == 0);
}

/* Down and up again, over the whole 8 MiB this time. */
static void test_reboot(void)
{
    kmem_shutdown();
    CHECK(!kmem_is_up());
    static const struct kmem_region whole[] = {{0, RAM_BYTES}};
    struct kmem_machine_desc d = desc_of(whole, 1);
    CHECK(kmem_boot(&d) == 0);
    static const unsigned long two_big[NR_PAGE_ORDERS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    check_buddyinfo(two_big, __LINE__);
    struct page *p = alloc_pages(GFP_KERNEL, 3);
    /* Split from an order-10 block, keeping its lower half (the book's C_L). */
    CHECK(p != 0 && (page_to_pfn(p) & 1023) == 0);
    if (p)
        __free_pages(p, 3);
    drain_all_pages();
    check_buddyinfo(two_big, __LINE__);
    CHECK(kmem_page_check() == 0);
    kmem_shutdown();
}

/* The panic path: a double free reaches kmem_pl_panic, which exits. */
static int misuse(void)
{
    struct kmem_machine_desc d = desc_of(ram_map, 2);
    if (kmem_boot(&d) != 0)
        return 1;
    struct page *p = alloc_page(GFP_KERNEL);
    __free_page(p);
    __free_page(p);
    kfs_puts("freestanding: a double free did not panic\n");
    return 1;
}

int kfs_main(int argc, char **argv)
{
    if (argc > 1 && str_eq(argv[1], "panic"))
        return misuse();

    vmalloc_range = kfs_machine_setup(ram, RAM_BYTES, VMALLOC_BYTES);
    CHECK(kmem_memmap_bytes(LAST_PFN << PAGE_SHIFT) <= sizeof memmap);
    CHECK(((unsigned long)ram & ((4UL << 20) - 1)) == 0);
    test_bad_descriptions();
    struct kmem_machine_desc d = desc_of(ram_map, 2);
    CHECK(kmem_boot(&d) == 0);
    CHECK(kmem_is_up());
    CHECK(kmem_boot(&d) == -16); /* already up */
    test_boot_state();
    test_exhaust();
    test_orders();
    test_misc();
    test_vmalloc();
    test_slab();
    CHECK(kfs_attach_calls == 1); /* CPU 0 attached once */
    CHECK(kfs_write_calls == 0);  /* no message so far */
    test_reboot();

    kfs_print_sizes();
    kfs_puts("freestanding: kmem core over 8 MiB of static RAM with a hole, no libc: ");
    kfs_putu(checks - failures);
    kfs_puts(" checks passed, ");
    kfs_putu(failures);
    kfs_puts(" failed\n");
    return failures ? 1 : 0;
}
