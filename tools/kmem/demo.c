/* SPDX-License-Identifier: MIT */
/*
 * demo.c - kmem demo: the textbook's buddy-system example (a 256 KB segment,
 * a 21 KB request): every split, the block the request gets (C_L),
 * buddyinfo after each step, then the free and the coalescing. All of it is
 * read back from the allocator (kmem_page_walk, kmem_buddyinfo), so other
 * sizes tell their own story. Also kmem buddyinfo: /proc/buddyinfo of a
 * fresh machine.
 */
#include <stdlib.h>
#include <string.h>

#include <kmem.h>

#include "tool.h"

static void print_size_out(unsigned long long bytes)
{
    tool_print_size(stdout, bytes);
}

enum { MAX_BLOCKS = 4096, MAP_WIDTH = 64 };

struct snapshot {
    struct kmem_block blocks[MAX_BLOCKS];
    unsigned long n;
};

static bool snapshot_add(void *arg, const struct kmem_block *block)
{
    struct snapshot *s = arg;
    if (s->n == MAX_BLOCKS)
        return false;
    s->blocks[s->n++] = *block;
    return true;
}

static void snapshot_take(struct snapshot *s)
{
    s->n = 0;
    kmem_page_walk(snapshot_add, s);
}

/* The block of the snapshot that contains pfn, or NULL. */
static const struct kmem_block *block_at(const struct snapshot *s, unsigned long pfn)
{
    for (unsigned long i = 0; i < s->n; i++) {
        const struct kmem_block *b = &s->blocks[i];
        if (pfn >= b->pfn && pfn < b->pfn + (1UL << b->order))
            return b;
    }
    return NULL;
}

static void print_buddyinfo(void)
{
    char buf[1024];
    kmem_buddyinfo(buf, sizeof buf);
    printf("  /proc/buddyinfo (free blocks of order 0 1 2 ... 10):\n");
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        printf("    %s\n", line);
}

/* Name of the half at split level `level` (0 = the first split: A). */
static void half_name(char *out, size_t len, unsigned int level, bool upper)
{
    snprintf(out, len, "%c_%c", 'A' + (int)(level % 26), upper ? 'R' : 'L');
}

/* The page map: one character per page (or per group of pages on larger
 * machines); each block starts with '|' and, where there is room, its name.
 * Allocated pages are '#', free pages '.'. */
static void print_map(const struct snapshot *s, unsigned long origin, unsigned int top_order,
                      unsigned long want_pfn, unsigned int want_order)
{
    unsigned long pages = 1UL << top_order;
    unsigned long per_char = pages > MAP_WIDTH ? pages / MAP_WIDTH : 1;
    char line[MAP_WIDTH * 2 + 8];
    size_t n = 0;
    for (unsigned long i = 0; i < s->n; i++) {
        const struct kmem_block *b = &s->blocks[i];
        if (b->pfn < origin || b->pfn >= origin + pages)
            continue;
        unsigned long width = (1UL << b->order) / per_char;
        if (width == 0)
            width = 1;
        char name[8] = "";
        /* Name the block by the split that made it, when it is one. */
        if (b->order < top_order) {
            unsigned int level = top_order - 1 - b->order;
            bool upper = (b->pfn >> b->order) & 1;
            if (b->pfn == want_pfn && b->order == want_order)
                half_name(name, sizeof name, level, upper);
            else if (want_order < top_order &&
                     (b->pfn ^ (want_pfn & ~((1UL << b->order) - 1))) == (1UL << b->order))
                half_name(name, sizeof name, level, upper);
        }
        line[n++] = '|';
        size_t used = 0;
        for (size_t k = 0; name[k] && used + 1 < width; k++, used++)
            line[n++] = name[k];
        for (; used + 1 < width; used++)
            line[n++] = b->state == KMEM_BLOCK_ALLOCATED ? '#' : '.';
    }
    line[n++] = '|';
    line[n] = '\0';
    printf("  page map (%lu page%s per character; # allocated, . free):\n    %s\n", per_char,
           per_char == 1 ? "" : "s", line);
}

static void print_blocks(const struct snapshot *s)
{
    printf("  blocks:\n");
    for (unsigned long i = 0; i < s->n; i++) {
        const struct kmem_block *b = &s->blocks[i];
        if (b->state == KMEM_BLOCK_RESERVED)
            continue;
        unsigned long last = b->pfn + (1UL << b->order) - 1;
        printf("    pfn %5lu-%-5lu  order %2u  ", b->pfn, last, b->order);
        print_size_out((unsigned long long)PAGE_SIZE << b->order);
        printf("  %s\n", b->state == KMEM_BLOCK_ALLOCATED ? "allocated" : "free");
    }
}

static int demo(size_t mem, size_t request)
{
    struct kmem_config cfg = {.mem_size = mem};
    int rc = kmem_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "kmem demo: kmem_init(%zu bytes) failed: %s\n", mem, strerror(-rc));
        return 1;
    }
    static struct snapshot before, after, freed;
    snapshot_take(&before);

    printf("kmem demo: the buddy system of \"Operating System Concepts\" (Silberschatz, Galvin,\n"
           "Gagne), section \"Kernel memory allocation\", run on kmem's real page allocator.\n\n");
    printf("Physical memory: a segment of ");
    print_size_out(mem);
    printf(" = %zu pages of %lu KB.\n", mem / PAGE_SIZE, PAGE_SIZE / 1024);
    printf("The buddy system keeps free blocks of 2^order pages, one list per order.\n");
    print_buddyinfo();
    print_blocks(&before);

    int order = get_order(request);
    printf("\nStep 1. The kernel requests ");
    print_size_out(request);
    printf(": alloc_pages(GFP_KERNEL, get_order(%zu) = %d),\n", request, order);
    printf("        a block of 2^%d pages = ", order);
    print_size_out((unsigned long long)PAGE_SIZE << order);
    printf(" (power-of-two rounding wastes ");
    print_size_out(((unsigned long long)PAGE_SIZE << order) - request);
    printf(").\n");

    struct page *page = order <= MAX_PAGE_ORDER ? alloc_pages(GFP_KERNEL, (unsigned)order) : NULL;
    if (!page) {
        printf("  No block is free that is large enough: alloc_pages returns NULL.\n");
        kmem_exit();
        return 0;
    }
    unsigned long pfn = page_to_pfn(page);
    snapshot_take(&after);
    const struct kmem_block *source = block_at(&before, pfn);
    unsigned int top = source->order;
    if (top == (unsigned)order) {
        printf("  A free block of order %d exists: it is taken whole, nothing is split.\n", order);
    } else {
        printf("  No free block of order %d, so the smallest larger block (order %u, pfn %lu) is "
               "split\n"
               "  into two buddies, keeping the lower half, until a block has the right size:\n",
               order, top, source->pfn);
        char lower[8], upper[8], parent[32] = "";
        snprintf(parent, sizeof parent, "the %lu KB block", (PAGE_SIZE << top) / 1024);
        for (unsigned int o = top; o-- > (unsigned)order;) {
            unsigned int level = top - 1 - o;
            half_name(lower, sizeof lower, level, false);
            half_name(upper, sizeof upper, level, true);
            printf("    %-16s splits into %s and %s (", parent, lower, upper);
            print_size_out((unsigned long long)PAGE_SIZE << o);
            printf(" each)\n");
            bool in_upper = (pfn >> o) & 1;
            snprintf(parent, sizeof parent, "%s", in_upper ? upper : lower);
        }
        printf("  The request is satisfied by %s: ", parent);
    }
    if (top == (unsigned)order)
        printf("  The request gets ");
    printf("pfn %lu-%lu, physical 0x%05llx-0x%05llx.\n", pfn, pfn + (1UL << order) - 1,
           (unsigned long long)virt_to_phys(page_address(page)),
           (unsigned long long)virt_to_phys(page_address(page)) + (PAGE_SIZE << order) - 1);
    print_buddyinfo();
    print_blocks(&after);
    print_map(&after, source->pfn, top, pfn, (unsigned)order);

    printf("\nStep 2. The kernel frees it: __free_pages(page, %d).\n", order);
    __free_pages(page, (unsigned)order);
    drain_all_pages();
    snapshot_take(&freed);
    const struct kmem_block *merged = block_at(&freed, pfn);
    if (merged->order == (unsigned)order) {
        printf("  Its buddy is not free, so nothing coalesces.\n");
    } else {
        printf("  A freed block coalesces with its buddy (pfn ^ 2^order) while the buddy is free\n"
               "  and of the same order:\n");
        for (unsigned int o = (unsigned)order; o < merged->order; o++) {
            unsigned long me = pfn & ~((1UL << o) - 1);
            unsigned long buddy = me ^ (1UL << o);
            printf("    order %2u: pfn %lu + buddy pfn %lu -> one block of ", o, me, buddy);
            print_size_out((unsigned long long)PAGE_SIZE << (o + 1));
            printf(" at pfn %lu\n", me & buddy);
        }
        printf("  and the segment is one block of ");
        print_size_out((unsigned long long)PAGE_SIZE << merged->order);
        printf(" again.\n");
    }
    print_buddyinfo();
    print_blocks(&freed);

    printf("\nStep 3. Linux's alloc_pages_exact(");
    print_size_out(request);
    printf(") keeps only the pages asked for:\n");
    void *exact = alloc_pages_exact(request, GFP_KERNEL);
    if (exact) {
        size_t kept = (request + PAGE_SIZE - 1) / PAGE_SIZE;
        printf("  %zu pages stay allocated, the other %lu of the order-%d block go back at once.\n",
               kept, (1UL << order) - kept, order);
        print_buddyinfo();
        free_pages_exact(exact, request);
    }
    int violations = kmem_page_check();
    printf("\nInvariant check: %s.\n",
           violations ? "VIOLATIONS (see above)" : "all invariants hold");
    kmem_exit();
    return violations ? 1 : 0;
}

static int buddyinfo(size_t mem)
{
    struct kmem_config cfg = {.mem_size = mem};
    int rc = kmem_init(&cfg);
    if (rc != 0) {
        fprintf(stderr, "kmem buddyinfo: kmem_init failed: %s\n", strerror(-rc));
        return 1;
    }
    char buf[1024];
    kmem_buddyinfo(buf, sizeof buf);
    fputs(buf, stdout);
    kmem_exit();
    return 0;
}

/* Options shared by demo and buddyinfo: --mem SIZE, --request SIZE. */
static bool parse_options(int argc, char **argv, size_t *mem, size_t *request)
{
    for (int i = 1; i < argc; i += 2) {
        size_t *target = !strcmp(argv[i], "--mem")                  ? mem
                         : request && !strcmp(argv[i], "--request") ? request
                                                                    : NULL;
        if (!target || i + 1 >= argc || !tool_parse_size(argv[i + 1], target)) {
            fprintf(stderr, "kmem %s: bad argument '%s'\n", argv[0], argv[i]);
            return false;
        }
    }
    return true;
}

int kmem_cmd_demo(int argc, char **argv)
{
    size_t mem = 256 << 10, request = 21 << 10;
    if (!parse_options(argc, argv, &mem, &request))
        return 2;
    return demo(mem, request);
}

int kmem_cmd_buddyinfo(int argc, char **argv)
{
    size_t mem = 256 << 10;
    if (!parse_options(argc, argv, &mem, NULL))
        return 2;
    return buddyinfo(mem);
}
