/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_debug.c - KMEM_DEBUG reaches libkmem-malloc.so: its classes
 * (malloc-16 ... malloc-16384) get the debug switches from the environment
 * at the machine's start, so a program's own heap bugs are caught with the
 * slab debugger's messages and stacks.
 *
 * The switches must be in the environment before the first malloc, so the
 * program runs itself again with KMEM_DEBUG=FZPU set; each misuse then runs
 * in a forked child that must die by SIGABRT with its message:
 *   a write one byte past a 32-byte block (red zone overwritten, malloc-32)
 *   a write into a freed 48-byte block, found when it is reused
 *   a double free after a thousand other frees, with both stacks
 * and a random workload runs clean. Built only without sanitizers (which own
 * the poisoned bytes themselves).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "death_util.h"

static void overflow(void)
{
    char *p = malloc(32);
    volatile size_t past = 32; /* the compiler would refuse a constant */
    announce("p", p);
    p[past] = 'x';
    free(p);
}

static void write_after_free(void)
{
    char *p = malloc(48);
    announce("p", p);
    free(p);
    p[5] = 1;
    for (int i = 0; i < 200; i++)
        (void)!malloc(48);
}

static void late_double_free(void)
{
    void *p = malloc(64);
    announce("p", p);
    free(p);
    for (int i = 0; i < 1000; i++)
        free(malloc(64));
    free(p);
}

TEST(debug_env_deaths)
{
    DEATH(overflow, "kmem: red zone overwritten: object {p} (32 bytes) of cache malloc-32",
          "byte 32", "  allocated (operation ");
    DEATH(write_after_free, "kmem: write after free: object {p} (48 bytes) of cache malloc-48",
          "byte 5", "  freed (operation ");
    DEATH(late_double_free, "kmem: double free: object {p} (64 bytes) of cache malloc-64",
          "it is already free", "  allocated (operation ", "  freed (operation ");
}

TEST(debug_env_clean_workload)
{
    enum { N = 1000 };
    static char *live[N];
    static size_t size[N];
    uint64_t seed = 7;
    for (int op = 0; op < 100000; op++) {
        unsigned int i = (unsigned int)(harness_rand(&seed) % N);
        if (live[i]) {
            for (size_t b = 0; b < size[i]; b++)
                if ((unsigned char)live[i][b] != (unsigned char)(i + size[i])) {
                    CHECK(!"contents changed");
                    break;
                }
            free(live[i]);
            live[i] = NULL;
        } else {
            size[i] = harness_rand(&seed) % 3000;
            live[i] = malloc(size[i]);
            REQUIRE(live[i]);
            memset(live[i], (int)(i + size[i]), size[i]);
        }
    }
    for (unsigned int i = 0; i < N; i++)
        free(live[i]);
}

int main(int argc, char **argv)
{
    (void)argc;
    if (!getenv("KMEM_DEBUG")) {
        setenv("KMEM_DEBUG", "FZPU", 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 1;
    }
    RUN(debug_env_deaths);
    RUN(debug_env_clean_workload);
    return harness_report();
}
