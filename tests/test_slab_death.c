/* SPDX-License-Identifier: MIT */
/*
 * test_slab_death.c - misuse of the object caches is reported, then panics.
 *
 * Every bad input runs in a forked child and must die by SIGABRT with a
 * "kmem: <error>: ..." line on stderr naming the error, the cache(s) and the
 * address handed in (see the helpers for how the parent learns addresses).
 *
 *   wrong cache      an object freed to another cache (same size or not)
 *   double free      freed twice, at once or after other frees
 *   invalid free     a pointer inside an object, into a slab's header or
 *                    its unused tail; a stack or malloc address (outside
 *                    managed memory); a page from alloc_pages or a slab given
 *                    back (in no slab)
 *   is a slab        __free_pages / free_pages of a slab's block
 *   cache creation failed   kmem_cache_create with SLAB_PANIC and bad input
 *
 * Also: a panic handler that longjmps out of a bad free leaves the cache
 * usable (its lock released).
 */
#include "death_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>

#include <kmem.h>

#include "core/slab.h"

enum { MSG = 256 };

/* ---- helpers ----------------------------------------------------------------- */

static void child_up(void)
{
    struct kmem_config cfg = {.mem_size = 16 << 20};
    kmem_exit(); /* nothing of the parent's, if it had a machine */
    if (kmem_init(&cfg) != 0)
        _exit(3);
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

static struct kmem_cache *create(const char *name, unsigned int size)
{
    return child_cache(name, size, 0);
}

#define alloc child_alloc

/* ---- wrong cache ------------------------------------------------------------------ */

static void wrong_cache_same_size(void)
{
    child_up();
    struct kmem_cache *b = create("dentry_b", 192);
    struct kmem_cache *a = create("dentry_a", 192);
    void *obj = alloc(a);
    alloc(b); /* b has a live slab too */
    announce("obj", obj);
    kmem_cache_free(b, obj);
}

static void wrong_cache_other_size(void)
{
    child_up();
    struct kmem_cache *a = create("dentry_a", 192);
    struct kmem_cache *big = create("inode_big", 1000);
    void *obj = alloc(a);
    announce("obj", obj);
    kmem_cache_free(big, obj);
}

static void wrong_cache_large_object(void)
{
    child_up();
    struct kmem_cache *a = create("task_a", 7168);
    struct kmem_cache *b = create("task_b", 7168);
    alloc(b);
    void *obj = alloc(a);
    announce("obj", obj);
    kmem_cache_free(b, obj);
}

TEST(death_wrong_cache)
{
    DEATH(wrong_cache_same_size, "kmem: wrong cache: ", "kmem_cache_free(dentry_b, {obj})",
          "belongs to cache dentry_a");
    DEATH(wrong_cache_other_size, "kmem: wrong cache: ", "inode_big", "dentry_a", "{obj}");
    DEATH(wrong_cache_large_object, "kmem: wrong cache: ", "task_b", "task_a", "{obj}");
}

/* ---- double free ------------------------------------------------------------------- */

static void double_free_at_once(void)
{
    child_up();
    struct kmem_cache *c = create("filp", 64);
    void *obj = alloc(c);
    alloc(c); /* the slab stays in use */
    announce("obj", obj);
    kmem_cache_free(c, obj);
    kmem_cache_free(c, obj);
}

static void double_free_large(void)
{
    child_up();
    struct kmem_cache *c = create("filp_big", 3000);
    void *obj = alloc(c);
    alloc(c);
    announce("obj", obj);
    kmem_cache_free(c, obj);
    kmem_cache_free(c, obj);
}

/* The second free comes after other frees; if the allocator only finds it
 * later (objects cached above the slabs), giving the cache back must. */
static void double_free_later(void)
{
    child_up();
    struct kmem_cache *c = create("filp", 64);
    void *obj = alloc(c), *obj2 = alloc(c);
    alloc(c);
    announce("obj", obj);
    kmem_cache_free(c, obj);
    kmem_cache_free(c, obj2);
    kmem_cache_free(c, obj);
    kmem_cache_shrink(c);
    kmem_cache_destroy(c);
}

TEST(death_double_free)
{
    DEATH(double_free_at_once, "kmem: double free: ", "kmem_cache_free(filp, {obj})");
    DEATH(double_free_large, "kmem: double free: ", "kmem_cache_free(filp_big, {obj})");
    DEATH(double_free_later, "kmem: double free: ", "filp", "{obj}");
}

/* ---- invalid free ------------------------------------------------------------------ */

static void free_inside_object(void)
{
    child_up();
    struct kmem_cache *c = create("onslab", 96);
    char *obj = alloc(c);
    announce("ptr", obj + 8);
    kmem_cache_free(c, obj + 8);
}

static void free_last_byte_of_object(void)
{
    child_up();
    struct kmem_cache *c = create("onslab", 96);
    char *obj = alloc(c);
    announce("ptr", obj + 95);
    kmem_cache_free(c, obj + 95);
}

static void free_slab_header(void)
{
    child_up();
    struct kmem_cache *c = create("onslab", 96);
    char *obj = alloc(c);
    struct kmem_cache_info in;
    kmem_cache_info(c, &in);
    char *base =
        page_address(pfn_to_page(page_to_pfn(virt_to_page(obj)) & ~(in.pages_per_slab - 1UL)));
    announce("ptr", base); /* the on-slab header */
    kmem_cache_free(c, base);
}

static void free_inside_offslab_object(void)
{
    child_up();
    struct kmem_cache *c = create("offslab", 600);
    char *obj = alloc(c);
    announce("ptr", obj + 300);
    kmem_cache_free(c, obj + 300);
}

static void free_past_last_object(void)
{
    child_up();
    struct kmem_cache *c = create("offslab", 600);
    struct kmem_cache_info in;
    kmem_cache_info(c, &in);
    char *obj = alloc(c);
    struct slab *sl = virt_to_page(obj)->pg_owner_p0;             /* white-box */
    char *ptr = sl->sl_objs + (size_t)in.objs_per_slab * in.size; /* in the unused tail */
    if (!in.offslab || in.waste_per_slab < 64 || virt_to_page(ptr) != virt_to_page(obj))
        _exit(6);
    announce("ptr", ptr);
    kmem_cache_free(c, ptr);
}

TEST(death_not_start_of_object)
{
    DEATH(free_inside_object, "kmem: invalid free: ", "kmem_cache_free(onslab, {ptr})",
          "not the start of an object");
    DEATH(free_last_byte_of_object, "kmem: invalid free: ", "{ptr}", "not the start of an object");
    DEATH(free_slab_header, "kmem: invalid free: ", "{ptr}", "not the start of an object");
    DEATH(free_inside_offslab_object, "kmem: invalid free: ", "kmem_cache_free(offslab, {ptr})",
          "not the start of an object");
    DEATH(free_past_last_object, "kmem: invalid free: ", "{ptr}", "not the start of an object");
}

static void free_stack_address(void)
{
    child_up();
    struct kmem_cache *c = create("names", 64);
    alloc(c);
    char on_stack[64];
    announce("ptr", on_stack);
    kmem_cache_free(c, on_stack);
}

static void free_malloc_address(void)
{
    child_up();
    struct kmem_cache *c = create("names", 64);
    alloc(c);
    void *heap = malloc(64);
    announce("ptr", heap);
    kmem_cache_free(c, heap);
}

TEST(death_outside_managed_memory)
{
    DEATH(free_stack_address, "kmem: invalid free: ", "kmem_cache_free(names, {ptr})",
          "outside managed memory");
    DEATH(free_malloc_address, "kmem: invalid free: ", "{ptr}", "outside managed memory");
}

static void free_page_allocator_page(void)
{
    child_up();
    struct kmem_cache *c = create("bufs", 256);
    alloc(c);
    struct page *pg = alloc_pages(GFP_KERNEL, 1);
    if (!pg)
        _exit(5);
    announce("ptr", page_address(pg));
    kmem_cache_free(c, page_address(pg));
}

static void free_inside_page_block(void)
{
    child_up();
    struct kmem_cache *c = create("bufs", 256);
    struct page *pg = alloc_pages(GFP_KERNEL, 1);
    if (!pg)
        _exit(5);
    char *ptr = (char *)page_address(pg) + PAGE_SIZE + 256; /* its second page */
    announce("ptr", ptr);
    kmem_cache_free(c, ptr);
}

static void free_free_page(void)
{
    child_up();
    struct kmem_cache *c = create("bufs", 256);
    struct page *pg = alloc_pages(GFP_KERNEL, 0);
    if (!pg)
        _exit(5);
    void *ptr = page_address(pg);
    __free_pages(pg, 0);
    announce("ptr", ptr);
    kmem_cache_free(c, ptr);
}

/* An object whose slab went back to the page allocator. It is taken from
 * and returned to the slab layer itself (white-box), so that no object is
 * cached above the slabs and the shrink certainly gives the slab back. */
static void free_into_given_back_slab(void)
{
    child_up();
    struct kmem_cache *c = create("bufs", 256);
    void *obj;
    if (kmem_slab_alloc_bulk(c, GFP_KERNEL, &obj, 1) != 1)
        _exit(5);
    kmem_slab_free_bulk(c, &obj, 1, NULL);
    if (kmem_cache_shrink(c) != 0)
        _exit(7);
    announce("ptr", obj);
    kmem_cache_free(c, obj);
}

TEST(death_in_no_slab)
{
    DEATH(free_page_allocator_page, "kmem: invalid free: ", "kmem_cache_free(bufs, {ptr})",
          "in no slab");
    DEATH(free_inside_page_block, "kmem: invalid free: ", "{ptr}", "in no slab");
    DEATH(free_free_page, "kmem: invalid free: ", "{ptr}", "in no slab");
    DEATH(free_into_given_back_slab, "kmem: invalid free: ", "{ptr}", "in no slab");
}

/* ---- a slab's pages are not the caller's -------------------------------------------- */

/* The head page and order of the slab holding a fresh object of a cache of
 * `size`-byte objects. */
static struct page *slab_block(unsigned int size, unsigned int *order)
{
    struct kmem_cache *c = create("pages", size);
    struct kmem_cache_info in;
    kmem_cache_info(c, &in);
    void *obj = alloc(c);
    *order = (unsigned int)__builtin_ctz(in.pages_per_slab);
    return pfn_to_page(page_to_pfn(virt_to_page(obj)) & ~(in.pages_per_slab - 1UL));
}

static void free_pages_small_slab(void)
{
    child_up();
    unsigned int order;
    struct page *pg = slab_block(128, &order);
    announce("page", pg);
    __free_pages(pg, order);
}

static void free_pages_large_slab(void)
{
    child_up();
    unsigned int order;
    struct page *pg = slab_block(3072, &order);
    if (order == 0)
        _exit(6);
    announce("page", pg);
    __free_pages(pg, order);
}

static void free_pages_addr_of_slab(void)
{
    child_up();
    unsigned int order;
    struct page *pg = slab_block(3072, &order);
    announce("addr", page_address(pg));
    free_pages((unsigned long)page_address(pg), order);
}

static void free_pages_slab_other_order(void)
{
    child_up();
    unsigned int order;
    struct page *pg = slab_block(128, &order);
    announce("page", pg);
    __free_pages(pg, order + 1);
}

TEST(death_free_pages_of_slab)
{
    DEATH(free_pages_small_slab, "kmem: invalid free: ", "__free_pages({page}, order 0)",
          "is a slab");
    DEATH(free_pages_large_slab, "kmem: invalid free: ", "__free_pages({page}, order 2)",
          "is a slab");
    DEATH(free_pages_addr_of_slab, "kmem: invalid free: ", "free_pages({addr}, order 2)",
          "is a slab");
    DEATH(free_pages_slab_other_order, "kmem: invalid free: ", "__free_pages({page}, order 1)",
          "is a slab");
}

/* ---- SLAB_PANIC ----------------------------------------------------------------------- */

static void create_size0_panic(void)
{
    child_up();
    kmem_cache_create("panicky", 0, 0, SLAB_PANIC, NULL);
}
static void create_huge_panic(void)
{
    child_up();
    kmem_cache_create("panicky", (4u << 20) + 1, 0, SLAB_PANIC, NULL);
}
static void create_align_panic(void)
{
    child_up();
    kmem_cache_create("panicky", 64, 3, SLAB_PANIC, NULL);
}
static void create_big_align_panic(void)
{
    child_up();
    kmem_cache_create("panicky", 64, 8192, SLAB_PANIC, NULL);
}
static void create_noname_panic(void)
{
    child_up();
    kmem_cache_create(NULL, 64, 0, SLAB_PANIC, NULL);
}

TEST(death_slab_panic)
{
    DEATH(create_size0_panic, "kmem: cache creation failed: ", "panicky");
    DEATH(create_huge_panic, "kmem: cache creation failed: ", "panicky");
    DEATH(create_align_panic, "kmem: cache creation failed: ", "panicky");
    DEATH(create_big_align_panic, "kmem: cache creation failed: ", "panicky");
    DEATH(create_noname_panic, "kmem: cache creation failed: ");
    /* SLAB_PANIC with good arguments is just a cache. */
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *c = kmem_cache_create("calm", 64, 0, SLAB_PANIC, NULL);
    CHECK(c != NULL);
    if (c)
        kmem_cache_destroy(c);
    kmem_exit();
}

/* ---- a handler that longjmps out leaves the cache usable -------------------------- */

static jmp_buf panic_jmp;
static int panic_calls;
static char panic_message[2 * MSG];

static void handler_longjmp(const char *message)
{
    panic_calls++;
    snprintf(panic_message, sizeof panic_message, "%s", message);
    longjmp(panic_jmp, 1);
}

static char notes[4096]; /* what went wrong while stderr was captured */

static void note(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *f, ...)
{
    size_t n = strlen(notes);
    va_list ap;
    va_start(ap, f);
    vsnprintf(notes + n, sizeof notes - n, f, ap);
    va_end(ap);
}

/* One bad free with the handler in place: it must panic (once), and the
 * caches' locks must be free afterwards (white-box). */
static void recover_from(struct kmem_cache *c, struct kmem_cache *to, void *ptr, const char *expect)
{
    int before = panic_calls;
    if (setjmp(panic_jmp) == 0) {
        kmem_cache_free(to, ptr);
        note("  the bad free (%s) returned\n", expect);
        harness_checks_failed++;
    }
    CHECK_EQ(panic_calls, before + 1);
    if (!strstr(panic_message, expect)) {
        note("  message \"%s\" lacks \"%s\"\n", panic_message, expect);
        harness_checks_failed++;
    }
    struct kmem_cache *caches[2] = {c, to};
    for (int i = 0; i < 2; i++) {
        if (kmem_mutex_is_locked(&caches[i]->c_lock)) {
            note("  after a recovered panic (\"%s\"), cache %s is still locked\n", panic_message,
                 kmem_cache_name(caches[i]));
            harness_checks_failed++;
            kmem_mutex_unlock(&caches[i]->c_lock); /* let the test go on */
        }
    }
}

TEST(panic_longjmp_releases_cache)
{
    REQUIRE(kmem_init(NULL) == 0);
    struct kmem_cache *a = kmem_cache_create("jmp_a", 128, 0, 0, NULL);
    struct kmem_cache *b = kmem_cache_create("jmp_b", 128, 0, 0, NULL);
    REQUIRE(a && b);
    void *obj = kmem_cache_alloc(a, GFP_KERNEL);
    void *obj2 = kmem_cache_alloc(a, GFP_KERNEL);
    void *bobj = kmem_cache_alloc(b, GFP_KERNEL);
    REQUIRE(obj && obj2 && bobj);
    char on_stack[32];
    struct page *pg = alloc_page(GFP_KERNEL);
    REQUIRE(pg != NULL);

    notes[0] = '\0';
    kmem_set_panic_handler(handler_longjmp);
    struct capture cap;
    char out[8192];
    capture_start(&cap);
    recover_from(a, b, obj, "wrong cache");
    recover_from(a, a, (char *)obj + 8, "not the start of an object");
    recover_from(a, a, on_stack, "outside managed memory");
    recover_from(a, a, page_address(pg), "in no slab");
    kmem_cache_free(a, obj2);
    recover_from(a, a, obj2, "double free");
    capture_end(&cap, out, sizeof out);
    kmem_set_panic_handler(NULL);
    fprintf(stderr, "%s", notes);

    /* Both caches still work. */
    void *again = kmem_cache_alloc(a, GFP_KERNEL);
    void *bagain = kmem_cache_alloc(b, GFP_KERNEL);
    CHECK(again != NULL && bagain != NULL);
    if (again)
        kmem_cache_free(a, again);
    if (bagain)
        kmem_cache_free(b, bagain);
    kmem_cache_free(a, obj);
    kmem_cache_free(b, bobj);
    CHECK_EQ(kmem_cache_check(a), 0);
    CHECK_EQ(kmem_cache_check(b), 0);
    __free_page(pg);
    kmem_cache_destroy(a);
    kmem_cache_destroy(b);
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
    RUN_CLEAN(death_wrong_cache);
    RUN_CLEAN(death_double_free);
    RUN_CLEAN(death_not_start_of_object);
    RUN_CLEAN(death_outside_managed_memory);
    RUN_CLEAN(death_in_no_slab);
    RUN_CLEAN(death_free_pages_of_slab);
    RUN_CLEAN(death_slab_panic);
    RUN_CLEAN(panic_longjmp_releases_cache);
    return harness_report();
}
