/* SPDX-License-Identifier: MIT */
/*
 * memcheck_demo.c - a program that uses kmem's caches well or badly, for
 * tests/valgrind/memcheck.sh to run under valgrind's memcheck in a
 * -DKMEM_VALGRIND=ON build (mempool client requests, src/internal/sanitize.h).
 *
 *   memcheck_demo clean    allocate, construct, free, reuse: no error
 *   memcheck_demo uaf      read a cache object after kmem_cache_free
 *   memcheck_demo kuaf     write a kmalloc block after kfree
 *   memcheck_demo uninit   branch on kmalloc memory never written
 *   memcheck_demo overrun  read one byte past a 100-byte cache object
 */
#include <stdio.h>
#include <string.h>

#include <kmem.h>

static volatile int sink;

static void ctor(void *obj)
{
    memset(obj, 0x11, 64);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "clean";
    struct kmem_config cfg = {.mem_size = 32u << 20};
    if (kmem_init(&cfg) != 0)
        return 2;
    struct kmem_cache *c = kmem_cache_create("demo", 100, 0, 0, NULL);
    struct kmem_cache *k = kmem_cache_create("demo-ctor", 64, 0, 0, ctor);
    if (!c || !k)
        return 2;
    if (!strcmp(mode, "clean")) {
        for (int r = 0; r < 3; r++) {
            char *objs[500];
            for (int i = 0; i < 500; i++) {
                objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
                memset(objs[i], r, 100);
            }
            for (int i = 0; i < 500; i++)
                kmem_cache_free(c, objs[i]);
            char *o = kmem_cache_alloc(k, GFP_KERNEL);
            sink += o[10] == 0x11; /* constructed state is defined */
            kmem_cache_free(k, o);
            char *p = kzalloc(3000, GFP_KERNEL);
            sink += p[2999];
            kfree(p);
        }
    } else if (!strcmp(mode, "uaf")) {
        char *o = kmem_cache_alloc(c, GFP_KERNEL);
        memset(o, 1, 100);
        kmem_cache_free(c, o);
        sink = o[40];
    } else if (!strcmp(mode, "kuaf")) {
        char *p = kmalloc(200, GFP_KERNEL);
        kfree(p);
        p[10] = 1;
    } else if (!strcmp(mode, "uninit")) {
        char *p = kmalloc(200, GFP_KERNEL);
        if (p[5] == 42)
            sink = 1;
        kfree(p);
    } else if (!strcmp(mode, "overrun")) {
        char *o = kmem_cache_alloc(c, GFP_KERNEL);
        memset(o, 1, 100);
        sink = o[100];
        kmem_cache_free(c, o);
    }
    kmem_cache_destroy(c);
    kmem_cache_destroy(k);
    kmem_exit();
    printf("%s: done\n", mode);
    return 0;
}
