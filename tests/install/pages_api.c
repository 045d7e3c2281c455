/* SPDX-License-Identifier: MIT */
/*
 * pages_api.c - every page-allocator name of API.md (and the page
 * allocator's views), compiled and linked against an INSTALLED kmem, using
 * only <kmem.h>. tests/install/run.sh builds it three ways. It checks that
 * the names exist and behave in the basic way; the test suite does the rest.
 */
#include <kmem.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("pages_api.c:%d: failed: %s\n", __LINE__, #cond);                               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void on_panic(const char *message)
{
    printf("unexpected panic: %s\n", message);
}

int main(void)
{
    /* Constants and flags. */
    EXPECT(PAGE_SHIFT == 12 && PAGE_SIZE == 4096 && MAX_PAGE_ORDER == 10 && NR_PAGE_ORDERS == 11);
    EXPECT((PAGE_MASK & (PAGE_SIZE - 1)) == 0);
    gfp_t flags[] = {GFP_KERNEL, GFP_ATOMIC,   GFP_NOWAIT,    GFP_DMA,
                     __GFP_ZERO, __GFP_NOFAIL, __GFP_NORETRY, __GFP_HIGH};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        EXPECT(flags[i] != 0);
    phys_addr_t pa0 = 0;
    (void)pa0;

    /* Up, and the errors of a second init. */
    EXPECT(!kmem_is_up());
    struct kmem_config cfg = {.mem_size = 32u << 20};
    EXPECT(kmem_init(&cfg) == 0);
    EXPECT(kmem_is_up());
    EXPECT(kmem_init(&cfg) < 0); /* -EBUSY */
    kmem_set_panic_handler(on_panic);

    char before[1024], after[1024];
    size_t need = kmem_buddyinfo(before, sizeof before);
    EXPECT(need > 0 && need < sizeof before);
    EXPECT(strncmp(before, "Node 0, zone      DMA ", 22) == 0);
    EXPECT(strstr(before, "Node 0, zone   Normal ") != NULL);
    EXPECT(kmem_buddyinfo(NULL, 0) == need);

    /* struct page and the translations. */
    struct page *p = alloc_pages(GFP_KERNEL, 1), *q = alloc_page(GFP_KERNEL);
    EXPECT(p && q);
    if (p && q) {
        void *va = page_address(p);
        phys_addr_t pa = virt_to_phys(va);
        EXPECT(virt_to_page(va) == p);
        EXPECT(pfn_to_page(page_to_pfn(p)) == p);
        EXPECT(phys_to_virt(pa) == va);
        EXPECT(pa == (phys_addr_t)page_to_pfn(p) << PAGE_SHIFT);
        EXPECT(page_to_pfn(p) % 2 == 0);
        memset(va, 0x5a, 2 * PAGE_SIZE);
        memset(page_address(q), 0xa5, PAGE_SIZE);
        __free_pages(p, 1);
        __free_page(q);
    }

    /* By address. */
    unsigned long a = __get_free_pages(GFP_KERNEL, 2), b = __get_free_page(GFP_KERNEL);
    unsigned long z = get_zeroed_page(GFP_KERNEL);
    EXPECT(a && b && z);
    EXPECT(a % (4 * PAGE_SIZE) == 0 && b % PAGE_SIZE == 0);
    if (z) {
        const unsigned char *zp = (const unsigned char *)z;
        size_t nonzero = 0;
        for (size_t i = 0; i < PAGE_SIZE; i++)
            nonzero += zp[i] != 0;
        EXPECT(nonzero == 0);
    }
    free_pages(a, 2);
    free_page(b);
    free_page(z);
    free_pages(0, 3); /* nothing */

    /* Exact sizes, orders, the DMA zone, order > MAX_PAGE_ORDER. */
    void *e = alloc_pages_exact(3 * PAGE_SIZE, GFP_KERNEL);
    EXPECT(e != NULL);
    if (e) {
        memset(e, 1, 3 * PAGE_SIZE);
        free_pages_exact(e, 3 * PAGE_SIZE);
    }
    EXPECT(get_order(PAGE_SIZE) == 0 && get_order(PAGE_SIZE + 1) == 1 &&
           get_order(4u << 20) == MAX_PAGE_ORDER);
    struct page *d = alloc_pages(GFP_DMA, 0);
    EXPECT(d && virt_to_phys(page_address(d)) < (16u << 20));
    if (d)
        __free_page(d);
    EXPECT(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1) == NULL);
    struct page *big = alloc_pages(GFP_KERNEL | __GFP_ZERO, MAX_PAGE_ORDER);
    EXPECT(big != NULL);
    if (big)
        __free_pages(big, MAX_PAGE_ORDER);

    /* Everything back: the same buddyinfo as at the start. */
    drain_all_pages();
    kmem_buddyinfo(after, sizeof after);
    EXPECT(strcmp(before, after) == 0);
    struct kmem_zone_info zi;
    EXPECT(kmem_zone_info(KMEM_ZONE_NORMAL, &zi) && zi.free_pages == zi.managed_pages);
    EXPECT(kmem_page_check() == 0);

    kmem_exit();
    EXPECT(!kmem_is_up());
    EXPECT(kmem_init(NULL) == 0); /* a second machine may follow */
    kmem_exit();

    printf("pages_api: %s\n", failures ? "FAILED" : "every page-allocator name links and works");
    return failures != 0;
}
