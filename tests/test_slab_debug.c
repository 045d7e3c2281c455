/* SPDX-License-Identifier: MIT */
/*
 * test_slab_debug.c - the debug switches (KMEM_DEBUG, kmem_slab_debug_set,
 * the SLAB_* debug flags of kmem_cache_create; src/core/slab_debug.c).
 *
 * Each misuse runs in a forked child and must die by SIGABRT with its
 * "kmem: <error>: ..." line naming the object's address and its cache, and
 * with U the owner's stacks:
 *   red zone overwritten   a write one byte past an object (cache, kmalloc)
 *   write after free       a free object written, found when it is reused
 *   double free            freed again after a thousand other frees
 *   corrupted free list    a slab's free map damaged under it
 * Also: the spec's syntax; which caches a spec reaches; leaks at destroy
 * listed with their allocation stacks; kmem_validate finding every damaged
 * object without stopping; T's trace; and a random workload on debugged
 * caches that stays clean.
 */
#include "death_util.h"

#include <kmem.h>

#include "core/slab.h"
#include "internal/sanitize.h"

static void child_up_env(const char *debug)
{
    struct kmem_config cfg = {.mem_size = 16 << 20};
    kmem_exit();
    if (debug)
        setenv("KMEM_DEBUG", debug, 1);
    else
        unsetenv("KMEM_DEBUG");
    if (kmem_init(&cfg) != 0)
        _exit(3);
}

#define create child_cache
#define alloc  child_alloc

/* ---- the spec -------------------------------------------------------------------- */

TEST(spec_syntax)
{
    CHECK_EQ(kmem_slab_debug_set("FZPU"), 0);
    CHECK_EQ(kmem_slab_debug_set("fzput"), 0);
    CHECK_EQ(kmem_slab_debug_set(""), 0);
    CHECK_EQ(kmem_slab_debug_set("1"), 0);
    CHECK_EQ(kmem_slab_debug_set("-"), 0);
    CHECK_EQ(kmem_slab_debug_set("FZ,kmalloc-64,malloc-*"), 0);
    CHECK_EQ(kmem_slab_debug_set("FZ,kmalloc-64;P,dentry"), 0);
    CHECK_EQ(kmem_slab_debug_set("FQ"), -22);
    CHECK_EQ(kmem_slab_debug_set("F,"), -22);
    CHECK_EQ(kmem_slab_debug_set("F,a_name_that_is_longer_than_any_cache_name"), -22);
    CHECK_EQ(kmem_slab_debug_set(NULL), 0);
}

/* A spec reaches the caches it names, kmalloc's too, and kmem's own never. */
TEST(spec_selects_caches)
{
    kmem_exit();
    REQUIRE(kmem_slab_debug_set("FZ,kmalloc-64,dent*;U,inode") == 0);
    struct kmem_config cfg = {.mem_size = 16 << 20};
    REQUIRE(kmem_init(&cfg) == 0);
    struct kmem_cache *dentry = kmem_cache_create("dentry", 100, 0, 0, NULL);
    struct kmem_cache *inode = kmem_cache_create("inode", 100, 0, 0, NULL);
    struct kmem_cache *other = kmem_cache_create("other", 100, 0, 0, NULL);
    struct kmem_cache *flagged = kmem_cache_create("flagged", 100, 0, SLAB_POISON, NULL);
    REQUIRE(dentry && inode && other && flagged);
    CHECK_EQ(dentry->c_debug, SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE);
    CHECK_EQ(inode->c_debug, SLAB_STORE_USER);
    CHECK_EQ(other->c_debug, 0u);
    CHECK_EQ(flagged->c_debug, SLAB_POISON);
    /* Debugged caches have no magazines; a red zone follows the object. */
    struct kmem_cache_info info;
    kmem_cache_info(dentry, &info);
    CHECK_EQ(info.magazine_size, 0u);
    CHECK(info.size >= 108);
    kmem_cache_info(other, &info);
    CHECK(info.magazine_size > 0);
    void *k64 = kmalloc(64, GFP_KERNEL), *k128 = kmalloc(128, GFP_KERNEL);
    REQUIRE(k64 && k128);
    CHECK_EQ(ksize(k64), 64u); /* not the stride: the red zone is not the caller's */
    CHECK_EQ(ksize(k128), 128u);
    CHECK(kmem_obj_slab(k64)->sl_cache->c_debug != 0);
    CHECK_EQ(kmem_obj_slab(k128)->sl_cache->c_debug, 0u);
    kfree(k64);
    kfree(k128);
    kmem_cache_destroy(dentry);
    kmem_cache_destroy(inode);
    kmem_cache_destroy(other);
    kmem_cache_destroy(flagged);
    CHECK_EQ(kmem_validate(), 0);
    kmem_exit();
    kmem_slab_debug_set(NULL);
}

/* A poisoned cache with a constructor is not poisoned (its objects keep
 * their constructed state), as in Linux. */
static void ctor_fill(void *obj)
{
    memset(obj, 0x11, 40);
}

TEST(poison_spares_constructed_caches)
{
    struct kmem_config cfg = {.mem_size = 16 << 20};
    REQUIRE(kmem_init(&cfg) == 0);
    struct kmem_cache *c =
        kmem_cache_create("ctor_p", 40, 0, SLAB_POISON | SLAB_RED_ZONE, ctor_fill);
    REQUIRE(c);
    CHECK_EQ(c->c_debug, SLAB_RED_ZONE);
    unsigned char *p = kmem_cache_alloc(c, GFP_KERNEL);
    REQUIRE(p);
    CHECK_EQ(p[0], 0x11);
    CHECK_EQ(p[39], 0x11);
    kmem_cache_free(c, p);
    p = kmem_cache_alloc(c, GFP_KERNEL);
    CHECK_EQ(p[0], 0x11);
    kmem_cache_free(c, p);
    kmem_cache_destroy(c);
    kmem_exit();
}

/* ---- what they catch -------------------------------------------------------------------- */

static void redzone_cache(void)
{
    child_up_env(NULL);
    struct kmem_cache *c = create("rz_cache", 40, SLAB_RED_ZONE | SLAB_STORE_USER);
    char *p = alloc(c);
    announce("obj", p);
    p[40] = 'x'; /* one byte past */
    kmem_cache_free(c, p);
}

static void redzone_kmalloc_env(void)
{
    child_up_env("FZPU,kmalloc-64");
    char *p = kmalloc(64, GFP_KERNEL);
    announce("obj", p);
    memset(p, 0, 72); /* eight bytes past */
    kfree(p);
}

static void poison_write_after_free(void)
{
    child_up_env(NULL);
    struct kmem_cache *c = create("uaf_cache", 48, SLAB_POISON | SLAB_STORE_USER);
    char *p = alloc(c);
    announce("obj", p);
    kmem_cache_free(c, p);
    p[10] = 1; /* after the free */
    for (int i = 0; i < 64; i++)
        alloc(c); /* the lowest free object comes back first: p */
}

static void double_free_delayed(void)
{
    child_up_env("FU");
    struct kmem_cache *c = create("df_cache", 64, 0);
    void *p = alloc(c);
    announce("obj", p);
    kmem_cache_free(c, p);
    for (int i = 0; i < 1000; i++)
        kmem_cache_free(c, alloc(c));
    kmem_cache_free(c, p);
}

static void double_free_kmalloc_delayed(void)
{
    child_up_env("F");
    void *p = kmalloc(100, GFP_KERNEL);
    announce("obj", p);
    kfree(p);
    for (int i = 0; i < 1000; i++)
        kfree(kmalloc(100, GFP_KERNEL));
    kfree(p);
}

static void freelist_corrupted(void)
{
    child_up_env(NULL);
    struct kmem_cache *c = create("fl_cache", 64, SLAB_CONSISTENCY_CHECKS);
    void *p = alloc(c);
    struct slab *slab = kmem_obj_slab(p);
    announce("slab", slab);
    slab->sl_free_map[0] &= ~2UL; /* a free object lost from the map */
    alloc(c);
}

TEST(debug_deaths)
{
    /* Under ASan the red zones and free objects are poisoned for it too: it
     * reports those writes itself, first (test_asan). */
    if (KMEM_SAN_ACTIVE) {
        fprintf(stderr, "  red zone and poison deaths skipped: the sanitizer reports them\n");
    } else {
        DEATH(redzone_cache,
              "kmem: red zone overwritten: object {obj} (40 bytes) of cache rz_cache", "byte 40",
              "is 0x78, expected 0xcc; found by its free", "  allocated (operation ",
              "  freed: never");
        DEATH(redzone_kmalloc_env,
              "kmem: red zone overwritten: object {obj} (64 bytes) of cache kmalloc-64", "byte 64",
              "  allocated (operation ");
        DEATH(poison_write_after_free,
              "kmem: write after free: object {obj} (48 bytes) of cache uaf_cache", "byte 10",
              "is 0x1, expected 0x6b; found by an allocation", "  allocated (operation ",
              "  freed (operation ");
    }
    DEATH(double_free_delayed, "kmem: double free: object {obj} (64 bytes) of cache df_cache",
          "it is already free", "  allocated (operation ", "  freed (operation ");
    DEATH(double_free_kmalloc_delayed,
          "kmem: double free: object {obj} (128 bytes) of cache kmalloc-128");
    DEATH(freelist_corrupted, "kmem: corrupted free list: slab {slab} of cache fl_cache",
          "its free map disagrees with its count");
}

/* ---- leaks, validation, trace ------------------------------------------------------------- */

static void leaks_at_destroy(void)
{
    child_up_env(NULL);
    struct kmem_cache *c = create("leaky", 32, SLAB_STORE_USER);
    announce("a", alloc(c));
    announce("b", alloc(c));
    kmem_cache_destroy(c);
    _exit(0);
}

static void validate_reports_all(void)
{
    child_up_env(NULL);
    struct kmem_cache *c = create("val_cache", 32, SLAB_RED_ZONE | SLAB_POISON);
    char *live = alloc(c), *freed = alloc(c), *fine = alloc(c);
    (void)fine;
    kmem_cache_free(c, freed);
    if (kmem_validate() != 0)
        _exit(6);
    announce("live", live);
    announce("freed", freed);
    live[33] = 0; /* its red zone */
    freed[0] = 0; /* after its free */
    int bad = kmem_validate();
    fprintf(stderr, "@bad=%d\n", bad);
    _exit(bad == 2 && kmem_cache_validate(c) == 2 ? 0 : 7);
}

static void trace_lines(void)
{
    child_up_env("T,traced");
    struct kmem_cache *c = create("traced", 24, 0);
    void *p = alloc(c);
    announce("obj", p);
    kmem_cache_free(c, p);
    _exit(0);
}

static void expect_output(int line, void (*fn)(void), const char *const *texts)
{
    static char out[16384];
    int status = harness_run_child(fn, out, sizeof out);
    bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    for (; *texts; texts++) {
        char want[512];
        if (!expand(out, *texts, want, sizeof want) || !strstr(out, want)) {
            fprintf(stderr, "%s:%d: no \"%s\"\n", __FILE__, line, *texts);
            ok = false;
        }
    }
    if (!ok) {
        fprintf(stderr, "%s:%d: status %d, child's stderr:\n%s\n", __FILE__, line, status, out);
        harness_checks_failed++;
    }
}

TEST(debug_reports)
{
    expect_output(__LINE__, leaks_at_destroy,
                  (const char *const[]){"kmem_cache_destroy(leaky): 2 objects remain allocated",
                                        "kmem_cache_destroy(leaky): object {a} still allocated",
                                        "kmem_cache_destroy(leaky): object {b} still allocated",
                                        "  allocated (operation ", NULL});
    if (!KMEM_SAN_ACTIVE) /* ASan reports the writes itself */
        expect_output(
            __LINE__, validate_reports_all,
            (const char *const[]){"kmem: validate: red zone overwritten: object {live} (32 "
                                  "bytes, allocated) of cache val_cache: byte 33",
                                  "kmem: validate: write after free: object {freed} (32 "
                                  "bytes, free) of cache val_cache: byte 0 is 0, expected 0x6b",
                                  "@bad=2", NULL});
    expect_output(__LINE__, trace_lines,
                  (const char *const[]){"kmem: trace: alloc traced {obj} (24 bytes)",
                                        "kmem: trace: free traced {obj} from ", NULL});
}

/* ---- a workload on debugged caches stays clean ---------------------------------------------- */

TEST(random_workload_clean)
{
    kmem_exit();
    REQUIRE(kmem_slab_debug_set("FZPU") == 0);
    struct kmem_config cfg = {.mem_size = 32 << 20};
    REQUIRE(kmem_init(&cfg) == 0);
    struct kmem_cache *c = kmem_cache_create("work", 72, 0, 0, NULL);
    REQUIRE(c && c->c_debug);
    enum { N = 512 };
    struct {
        unsigned char *p;
        size_t size;
        unsigned char fill;
    } live[N] = {{0}};
    uint64_t seed = 42;
    for (int op = 0; op < 40000; op++) {
        unsigned int i = (unsigned int)(harness_rand(&seed) % N);
        if (live[i].p) {
            for (size_t b = 0; b < live[i].size; b++)
                if (live[i].p[b] != live[i].fill) {
                    CHECK(!"contents changed");
                    break;
                }
            if (live[i].size == 72)
                kmem_cache_free(c, live[i].p);
            else
                kfree(live[i].p);
            live[i].p = NULL;
        } else {
            size_t size = (harness_rand(&seed) & 1) ? 72 : 1 + harness_rand(&seed) % 3000;
            live[i].p = size == 72 ? kmem_cache_alloc(c, GFP_KERNEL) : kmalloc(size, GFP_KERNEL);
            REQUIRE(live[i].p);
            live[i].size = size;
            live[i].fill = (unsigned char)op;
            memset(live[i].p, live[i].fill, size);
        }
        if (op % 5000 == 0) {
            CHECK_EQ(kmem_validate(), 0);
            CHECK_EQ(kmem_cache_check(c), 0);
        }
    }
    for (unsigned int i = 0; i < N; i++)
        if (live[i].p) {
            if (live[i].size == 72)
                kmem_cache_free(c, live[i].p);
            else
                kfree(live[i].p);
        }
    CHECK_EQ(kmem_validate(), 0);
    /* A debugged kmalloc object comes back poisoned, its first word too
     * (debugged caches get no free mark). */
    unsigned char *k = kmalloc(100, GFP_KERNEL);
    REQUIRE(k);
    kfree(k);
    k = kmalloc(100, GFP_KERNEL);
    CHECK_EQ(k[0], 0x6b);
    CHECK_EQ(k[7], 0x6b);
    kfree(k);
    kmem_cache_destroy(c);
    kmem_exit();
    kmem_slab_debug_set(NULL);
}

int main(void)
{
    RUN(spec_syntax);
    RUN(spec_selects_caches);
    RUN(poison_spares_constructed_caches);
    RUN(debug_deaths);
    RUN(debug_reports);
    RUN(random_workload_clean);
    return harness_report();
}
