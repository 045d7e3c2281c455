/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_death.c - bad input to the malloc is reported, never silently
 * corrupting memory: each case dies by SIGABRT in a child with a message
 * naming the function, the address and what is wrong.
 *
 *   free_foreign        free of a stack address (no address of this malloc)
 *   free_interior       free of an address inside a small block
 *   double_free_small   free twice in a row of a small block (caught on the
 *                       fast path; a double free after the block has left
 *                       the magazine is not caught yet: issue 6)
 *   double_free_mid     free twice of a 64 KiB block (a buddy block)
 *   free_huge_interior  free of an address inside a huge area
 *   double_free_huge    free twice of a 16 MiB area
 *   usable_size_foreign malloc_usable_size of a stack address
 */
#include "malloc_under_test.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static void *volatile sink;

static void do_free_foreign(void)
{
    char local[64];
    sink = local;
    MT(free)(sink);
}

static void do_free_interior(void)
{
    char *p = MT(malloc)(100);
    MT(free)(p + 16);
}

static void do_double_free_now(void)
{
    void *p = MT(malloc)(48);
    MT(free)(p);
    MT(free)(p);
}

static void do_double_free_mid(void)
{
    void *p = MT(malloc)(64 * 1024);
    MT(free)(p);
    MT(free)(p);
}

static void do_free_huge_interior(void)
{
    char *p = MT(malloc)(16 << 20);
    MT(free)(p + 4096);
}

static void do_double_free_huge(void)
{
    void *p = MT(malloc)(16 << 20);
    MT(free)(p);
    MT(free)(p);
}

static void do_usable_size_foreign(void)
{
    char local[64];
    sink = local;
    (void)MT(malloc_usable_size)(sink);
}

TEST(bad_frees_die_with_a_message)
{
    EXPECT_DEATH(do_free_foreign, "not an address this malloc handed out");
    EXPECT_DEATH(do_free_interior, "free(");
    EXPECT_DEATH(do_double_free_now, "double free");
    EXPECT_DEATH(do_double_free_mid, "free(");
    EXPECT_DEATH(do_free_huge_interior, "not an address this malloc handed out");
    EXPECT_DEATH(do_double_free_huge, "not an address this malloc handed out");
    EXPECT_DEATH(do_usable_size_foreign, "malloc_usable_size(");
    /* The process that saw none of it goes on. */
    void *p = MT(malloc)(100);
    CHECK(p != NULL);
    MT(free)(p);
}

int main(void)
{
    if (!mt_init())
        return 1;
    if (!mt_is_kmem) {
        fprintf(stderr, "skipped: only kmem's malloc reports bad frees this way\n");
        return 0;
    }
    RUN(bad_frees_die_with_a_message);
    return harness_report();
}
