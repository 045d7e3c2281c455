/* SPDX-License-Identifier: MIT */
/*
 * test_death.c - misuse of the page allocator is reported, then panics.
 *
 * Every bad input runs in a forked child (EXPECT_DEATH) and must die by
 * SIGABRT with one "kmem: <error>: ..." line on stderr that names the error,
 * the address handed in and the order. The parent sets the machine up and
 * allocates the blocks first, so it knows the addresses the message must
 * name; the child inherits them and makes the mistake.
 *
 * Also here: what is NOT an error (order > MAX_PAGE_ORDER gives NULL quietly,
 * free_pages(0, order) does nothing) and the panic handler
 * (kmem_set_panic_handler): called with the message, may longjmp out or
 * exit, and a handler that returns still aborts.
 */
#include "harness.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>

#include <kmem.h>

enum { MSG = 256 };

/* ---- helpers ----------------------------------------------------------------- */

/* Expect fn to die by SIGABRT with every one of the NULL-terminated texts on
 * its stderr (one child per text: the parent's state is the same for all). */
static void expect_death_all(int line, void (*fn)(void), ...)
{
    va_list ap;
    va_start(ap, fn);
    for (const char *text; (text = va_arg(ap, const char *)) != NULL;)
        harness_expect_death(__FILE__, line, fn, SIGABRT, text);
    va_end(ap);
}
#define DEATH(fn, ...) expect_death_all(__LINE__, fn, __VA_ARGS__, (const char *)NULL)

/* A formatted expectation (the parent knows the addresses). */
static char *fmt(char *buf, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(char *buf, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, MSG, f, ap);
    va_end(ap);
    return buf;
}

/* In-process stderr capture (kmem writes with write(2) to fd 2). */
struct capture {
    int saved;
    FILE *file;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->file = tmpfile();
    c->saved = dup(STDERR_FILENO);
    if (c->file)
        dup2(fileno(c->file), STDERR_FILENO);
}

static size_t capture_end(struct capture *c, char *buf, size_t len)
{
    size_t n = 0;
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    if (c->file) {
        rewind(c->file);
        n = fread(buf, 1, len - 1, c->file);
        fclose(c->file);
    }
    buf[n] = '\0';
    return n;
}

static size_t info_text(char *buf, size_t len)
{
    size_t n = kmem_buddyinfo(buf, len);
    if (n >= len)
        buf[len - 1] = '\0';
    return n;
}

/* State shared with the children. */
static struct page *g_page, *g_page2;
static unsigned long g_addr;
static void *g_foreign;

/* ---- before kmem_init ------------------------------------------------------------ */

static void alloc_before_init(void)
{
    alloc_pages(GFP_KERNEL, 0);
}
static void get_free_before_init(void)
{
    __get_free_pages(GFP_KERNEL, 3);
}
static void zeroed_before_init(void)
{
    get_zeroed_page(GFP_KERNEL);
}
static void free_before_init(void)
{
    __free_pages((struct page *)g_foreign, 2);
}
static void free_addr_before_init(void)
{
    free_pages(0x10000, 1);
}

static void not_initialized_cases(void)
{
    char a[MSG], b[MSG];
    DEATH(alloc_before_init, "kmem: not initialized: ", "alloc_pages(gfp 0x", "order 0)");
    DEATH(get_free_before_init, "kmem: not initialized: ", "order 3)");
    DEATH(zeroed_before_init, "kmem: not initialized: ", "order 0)");
    DEATH(free_before_init,
          "kmem: not initialized: ", fmt(a, "__free_pages(%p, order 2)", g_foreign));
    DEATH(free_addr_before_init,
          "kmem: not initialized: ", fmt(b, "free_pages(%p, order 1)", (void *)0x10000));
}

TEST(death_not_initialized)
{
    REQUIRE(!kmem_is_up());
    char buf[64];
    g_foreign = buf;
    not_initialized_cases();
}

TEST(death_not_initialized_after_exit)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct page *p = alloc_page(GFP_KERNEL);
    CHECK(p != NULL);
    __free_page(p);
    kmem_exit();
    REQUIRE(!kmem_is_up());
    char buf[64];
    g_foreign = buf;
    not_initialized_cases();
}

/* Quiet before init: order > MAX_PAGE_ORDER, free_pages(0, ...), the views. */
TEST(quiet_before_init)
{
    REQUIRE(!kmem_is_up());
    struct capture c;
    char out[512], text[64];
    capture_start(&c);
    CHECK(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1) == NULL);
    CHECK_EQ(__get_free_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1), 0);
    free_pages(0, 0);
    free_page(0);
    free_pages(0, 4);
    CHECK_EQ(kmem_page_check(), 0);
    CHECK_EQ(info_text(text, sizeof text), 0);
    capture_end(&c, out, sizeof out);
    CHECK_STR_EQ(out, "");
}

/* ---- double free ------------------------------------------------------------------- */

static void double_free_order0(void)
{
    __free_pages(g_page, 0);
    __free_pages(g_page, 0);
}

static void double_free_order0_addr(void)
{
    free_page(g_addr);
    free_page(g_addr);
}

static void double_free_order5(void)
{
    __free_pages(g_page, 5);
    __free_pages(g_page, 5);
}

static void double_free_order5_addr(void)
{
    free_pages(g_addr, 5);
    free_pages(g_addr, 5);
}

TEST(death_double_free)
{
    char a[MSG], b[MSG], c[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    CHECK(zi.pcp_high > 0); /* order 0 is served by the per-CPU lists */

    /* Order 0: the first free puts it on this CPU's list. */
    g_page = alloc_page(GFP_KERNEL);
    REQUIRE(g_page != NULL);
    g_addr = (unsigned long)page_address(g_page);
    unsigned long pfn = page_to_pfn(g_page);
    DEATH(double_free_order0, "kmem: double free: ", fmt(a, "__free_pages(%p, order 0)", g_page),
          fmt(b, "block at pfn %#lx (phys %#llx) of order 0 is already free", pfn,
              (unsigned long long)pfn << PAGE_SHIFT));
    DEATH(double_free_order0_addr,
          "kmem: double free: ", fmt(c, "free_pages(%p, order 0)", (void *)g_addr));
    __free_page(g_page);
    drain_all_pages(); /* back to whole order-10 blocks */

    /* Order 5: straight to the buddy lists. Its buddy stays allocated, so the
     * freed block keeps its order 5 on the free list. */
    g_page = alloc_pages(GFP_KERNEL, 5);
    g_page2 = alloc_pages(GFP_KERNEL, 5);
    REQUIRE(g_page && g_page2);
    pfn = page_to_pfn(g_page);
    REQUIRE(page_to_pfn(g_page2) == (pfn ^ 32)); /* the two are buddies */
    g_addr = (unsigned long)page_address(g_page);
    DEATH(double_free_order5, "kmem: double free: ", fmt(a, "__free_pages(%p, order 5)", g_page),
          fmt(b, "block at pfn %#lx (phys %#llx) of order 5 is already free", pfn,
              (unsigned long long)pfn << PAGE_SHIFT));
    DEATH(double_free_order5_addr,
          "kmem: double free: ", fmt(c, "free_pages(%p, order 5)", (void *)g_addr));
    __free_pages(g_page, 5);
    __free_pages(g_page2, 5);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- wrong order --------------------------------------------------------------------- */

static void free_2_as_1(void)
{
    __free_pages(g_page, 1);
}
static void free_2_as_3(void)
{
    __free_pages(g_page, 3);
}
static void free_2_as_0_addr(void)
{
    free_pages(g_addr, 0);
}
static void free_2_as_7_addr(void)
{
    free_pages(g_addr, 7);
}

TEST(death_wrong_order)
{
    char a[MSG], b[MSG], c[MSG], d[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    g_page = alloc_pages(GFP_KERNEL, 2);
    REQUIRE(g_page != NULL);
    g_addr = (unsigned long)page_address(g_page);
    unsigned long pfn = page_to_pfn(g_page);
    DEATH(free_2_as_1, "kmem: wrong order: ", fmt(a, "__free_pages(%p, order 1)", g_page),
          fmt(b, "block at pfn %#lx", pfn), "allocated with order 2");
    DEATH(free_2_as_3, "kmem: wrong order: ", fmt(c, "__free_pages(%p, order 3)", g_page),
          "allocated with order 2");
    DEATH(free_2_as_0_addr,
          "kmem: wrong order: ", fmt(d, "free_pages(%p, order 0)", (void *)g_addr),
          "allocated with order 2");
    DEATH(free_2_as_7_addr,
          "kmem: wrong order: ", fmt(d, "free_pages(%p, order 7)", (void *)g_addr),
          "allocated with order 2");
    __free_pages(g_page, 2); /* the right order still works */
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- inside a block, not page aligned, foreign addresses --------------------------- */

static void free_tail_page(void)
{
    __free_pages(g_page2, 0);
}
static void free_tail_page_order3(void)
{
    __free_pages(g_page2, 3);
}
static void free_tail_addr(void)
{
    free_pages(g_addr + PAGE_SIZE, 0);
}
static void free_unaligned(void)
{
    free_pages(g_addr + 100, 0);
}
static void free_unaligned_last_byte(void)
{
    free_pages(g_addr + PAGE_SIZE - 1, 3);
}
static void free_foreign_addr(void)
{
    free_pages((unsigned long)g_foreign, 0);
}
static void free_foreign_addr_order2(void)
{
    free_pages((unsigned long)g_foreign, 2);
}
static void free_foreign_page(void)
{
    __free_pages((struct page *)g_foreign, 0);
}
static void free_misaligned_page(void)
{
    __free_pages((struct page *)g_foreign, 1);
}

TEST(death_invalid_free)
{
    char a[MSG], b[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    g_page = alloc_pages(GFP_KERNEL, 3);
    REQUIRE(g_page != NULL);
    g_addr = (unsigned long)page_address(g_page);
    unsigned long pfn = page_to_pfn(g_page);
    g_page2 = pfn_to_page(pfn + 1);
    REQUIRE(g_page2 != NULL);
    DEATH(free_tail_page, "kmem: invalid free: ", fmt(a, "__free_pages(%p, order 0)", g_page2),
          fmt(b, "pfn %#lx", pfn + 1), "not the first page");
    DEATH(free_tail_page_order3,
          "kmem: invalid free: ", fmt(a, "__free_pages(%p, order 3)", g_page2),
          "not the first page");
    DEATH(free_tail_addr,
          "kmem: invalid free: ", fmt(a, "free_pages(%p, order 0)", (void *)(g_addr + PAGE_SIZE)),
          "not the first page");
    __free_pages(g_page, 3);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(death_not_page_aligned)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    g_page = alloc_pages(GFP_KERNEL, 3);
    REQUIRE(g_page != NULL);
    g_addr = (unsigned long)page_address(g_page);
    DEATH(free_unaligned,
          "kmem: invalid free: ", fmt(a, "free_pages(%p, order 0)", (void *)(g_addr + 100)),
          "not page aligned");
    DEATH(free_unaligned_last_byte, "kmem: invalid free: ",
          fmt(a, "free_pages(%p, order 3)", (void *)(g_addr + PAGE_SIZE - 1)), "not page aligned");
    free_pages(g_addr, 3);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(death_bad_address)
{
    char a[MSG];
    REQUIRE(kmem_init(NULL) == 0);
    char on_stack[64];
    void *heap = malloc(3 * PAGE_SIZE);
    REQUIRE(heap != NULL);

    g_foreign = on_stack; /* a stack address */
    DEATH(free_foreign_addr, "kmem: bad address: ", fmt(a, "free_pages(%p, order 0)", g_foreign),
          "outside");
    g_foreign = (void *)(((uintptr_t)heap + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1));
    DEATH(free_foreign_addr_order2,
          "kmem: bad address: ", fmt(a, "free_pages(%p, order 2)", g_foreign), "outside");

    /* Just outside the direct map, on either side. */
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_NORMAL, &zi));
    char *first = phys_to_virt(0);
    g_foreign = first - PAGE_SIZE;
    DEATH(free_foreign_addr, "kmem: bad address: ", fmt(a, "free_pages(%p, order 0)", g_foreign));
    g_foreign = first + (zi.end_pfn << PAGE_SHIFT);
    DEATH(free_foreign_addr, "kmem: bad address: ", fmt(a, "free_pages(%p, order 0)", g_foreign));
    CHECK(virt_to_page(g_foreign) == NULL);

    /* A struct page pointer that is not one of the machine's. */
    g_foreign = heap;
    DEATH(free_foreign_page, "kmem: bad address: ", fmt(a, "__free_pages(%p, order 0)", g_foreign),
          "not a page of this machine");
    struct page *p = alloc_page(GFP_KERNEL);
    REQUIRE(p != NULL);
    g_foreign = (char *)p + 8; /* inside the memmap, but not a struct page */
    DEATH(free_misaligned_page,
          "kmem: bad address: ", fmt(a, "__free_pages(%p, order 1)", g_foreign));
    __free_page(p);
    free(heap);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- a double free after the block merged (no per-CPU lists) ----------------------- */

static void free_merged_upper(void)
{
    __free_page(g_page2);
}
static void free_merged_lower(void)
{
    __free_page(g_page);
}

TEST(death_double_free_after_merge)
{
    char a[MSG], b[MSG];
    struct kmem_config cfg = {.mem_size = 256 << 10};
    REQUIRE(kmem_init(&cfg) == 0);
    struct kmem_zone_info zi;
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    CHECK_EQ(zi.pcp_high, 0); /* 64 pages: every free coalesces at once */
    g_page = alloc_page(GFP_KERNEL);
    g_page2 = alloc_page(GFP_KERNEL);
    REQUIRE(g_page && g_page2);
    CHECK_EQ(page_to_pfn(g_page), 0);
    CHECK_EQ(page_to_pfn(g_page2), 1);
    __free_page(g_page);
    __free_page(g_page2); /* merges all the way back to one order-6 block */
    REQUIRE(kmem_zone_info(KMEM_ZONE_DMA, &zi));
    CHECK_EQ(zi.nr_free[6], 1);
    DEATH(free_merged_upper, "kmem: invalid free: ", fmt(a, "__free_pages(%p, order 0)", g_page2),
          "pfn 0x1 ", "not the first page");
    /* The lower one heads the merged free block: a double free. */
    DEATH(free_merged_lower, "kmem: double free: ", fmt(b, "__free_pages(%p, order 0)", g_page),
          "of order 6 is already free");
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- not errors ------------------------------------------------------------------------ */

TEST(order_too_large_is_quiet)
{
    REQUIRE(kmem_init(NULL) == 0);
    char before[1024], after[1024], out[1024];
    info_text(before, sizeof before);
    struct capture c;
    capture_start(&c);
    CHECK(alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1) == NULL);
    CHECK(alloc_pages(GFP_ATOMIC, 31) == NULL);
    CHECK(alloc_pages(GFP_KERNEL | __GFP_ZERO, ~0u) == NULL);
    CHECK(alloc_pages(GFP_DMA, MAX_PAGE_ORDER + 1) == NULL);
    CHECK(alloc_pages(GFP_KERNEL | __GFP_NOFAIL, MAX_PAGE_ORDER + 1) == NULL);
    CHECK_EQ(__get_free_pages(GFP_KERNEL, MAX_PAGE_ORDER + 1), 0);
    CHECK(alloc_pages_exact((PAGE_SIZE << MAX_PAGE_ORDER) + 1, GFP_KERNEL) == NULL);
    size_t n = capture_end(&c, out, sizeof out);
    CHECK_EQ(n, 0);
    CHECK_STR_EQ(out, "");
    info_text(after, sizeof after);
    CHECK_STR_EQ(after, before);
    /* The largest order itself works. */
    struct page *p = alloc_pages(GFP_KERNEL, MAX_PAGE_ORDER);
    CHECK(p != NULL);
    if (p)
        __free_pages(p, MAX_PAGE_ORDER);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

TEST(free_pages_zero_is_noop)
{
    REQUIRE(kmem_init(NULL) == 0);
    char before[1024], after[1024], out[1024];
    drain_all_pages();
    info_text(before, sizeof before);
    struct capture c;
    capture_start(&c);
    free_pages(0, 0);
    free_page(0);
    free_pages(0, 3);
    free_pages(0, MAX_PAGE_ORDER);
    capture_end(&c, out, sizeof out);
    CHECK_STR_EQ(out, "");
    info_text(after, sizeof after);
    CHECK_STR_EQ(after, before);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* ---- the panic handler --------------------------------------------------------------- */

static void handler_exit42(const char *message)
{
    char line[MSG * 2];
    int n = snprintf(line, sizeof line, "HANDLER[%s]END\n", message);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0)
        _exit(43);
    _exit(42);
}

static void handler_returns(const char *message)
{
    (void)message;
    static const char marker[] = "HANDLER RETURNED\n";
    if (write(STDERR_FILENO, marker, sizeof marker - 1) < 0)
        _exit(43);
}

static void double_free_with_exit42(void)
{
    kmem_set_panic_handler(handler_exit42);
    __free_page(g_page);
    __free_page(g_page);
}

static void double_free_with_returning_handler(void)
{
    kmem_set_panic_handler(handler_returns);
    __free_page(g_page);
    __free_page(g_page);
}

static void double_free_with_restored_default(void)
{
    kmem_set_panic_handler(handler_exit42);
    kmem_set_panic_handler(NULL);
    __free_page(g_page);
    __free_page(g_page);
}

static jmp_buf panic_jmp;
static char panic_message[MSG * 2];
static int panic_calls;

static void handler_longjmp(const char *message)
{
    panic_calls++;
    snprintf(panic_message, sizeof panic_message, "%s", message);
    longjmp(panic_jmp, 1);
}

TEST(panic_handler)
{
    char out[4096], a[MSG], expect[MSG * 3];
    REQUIRE(kmem_init(NULL) == 0);
    g_page = alloc_page(GFP_KERNEL);
    REQUIRE(g_page != NULL);

    /* A handler that exits: it gets the message (without the newline), after
     * the message was written, and the process ends with its status. */
    int status = harness_run_child(double_free_with_exit42, out, sizeof out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    fmt(a, "kmem: double free: __free_pages(%p, order 0)", g_page);
    CHECK(strstr(out, a) != NULL);
    snprintf(expect, sizeof expect, "HANDLER[%s", a);
    CHECK(strstr(out, expect) != NULL);
    CHECK(strstr(out, "already free]END\n") != NULL);
    const char *line = strstr(out, a), *handler = strstr(out, "HANDLER[");
    CHECK(line && handler && line < handler); /* the line is written first */
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 42))
        fprintf(stderr, "child status %#x, stderr:\n%s\n", status, out);

    /* A handler that returns: kmem aborts anyway. */
    EXPECT_DEATH(double_free_with_returning_handler, "HANDLER RETURNED");
    EXPECT_DEATH(double_free_with_returning_handler, "kmem: double free: ");

    /* NULL restores the default (abort, no handler). */
    status = harness_run_child(double_free_with_restored_default, out, sizeof out);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "kmem: double free: ") != NULL);
    CHECK(strstr(out, "HANDLER[") == NULL);

    /* A handler that longjmps out, in this process: the machine is intact
     * afterwards and the right free still works. */
    CHECK(kmem_set_panic_handler(handler_longjmp) == NULL);
    struct capture c;
    capture_start(&c);
    panic_calls = 0;
    if (setjmp(panic_jmp) == 0) {
        __free_pages(g_page, 4); /* wrong order */
        CHECK(!"__free_pages with the wrong order returned");
    }
    capture_end(&c, out, sizeof out);
    CHECK_EQ(panic_calls, 1);
    fmt(a, "kmem: wrong order: __free_pages(%p, order 4)", g_page);
    CHECK(strncmp(panic_message, a, strlen(a)) == 0);
    CHECK(strstr(panic_message, "allocated with order 0") != NULL);
    CHECK(strchr(panic_message, '\n') == NULL);
    snprintf(expect, sizeof expect, "%s\n", panic_message);
    CHECK_STR_EQ(out, expect); /* the same line went to stderr */
    CHECK(kmem_set_panic_handler(NULL) == handler_longjmp);
    CHECK(kmem_set_panic_handler(NULL) == NULL);
    CHECK_EQ(kmem_page_check(), 0);
    __free_page(g_page);
    CHECK_EQ(kmem_page_check(), 0);
    kmem_exit();
}

/* Each test brings its machine up; take it down even after a failed REQUIRE. */
#define RUN_CLEAN(t)                                                                               \
    do {                                                                                           \
        RUN(t);                                                                                    \
        kmem_exit();                                                                               \
        kmem_set_panic_handler(NULL);                                                              \
    } while (0)

int main(void)
{
    /* Before any kmem_init first: the "not initialized" cases. */
    RUN_CLEAN(death_not_initialized);
    RUN_CLEAN(quiet_before_init);
    RUN_CLEAN(death_not_initialized_after_exit);
    RUN_CLEAN(death_double_free);
    RUN_CLEAN(death_wrong_order);
    RUN_CLEAN(death_invalid_free);
    RUN_CLEAN(death_not_page_aligned);
    RUN_CLEAN(death_bad_address);
    RUN_CLEAN(death_double_free_after_merge);
    RUN_CLEAN(order_too_large_is_quiet);
    RUN_CLEAN(free_pages_zero_is_noop);
    RUN_CLEAN(panic_handler);
    return harness_report();
}
