/* SPDX-License-Identifier: MIT */
/*
 * fuzz_kmem.c - libFuzzer target: kmem's kernel interface (pages, object
 * caches, kmalloc, vmalloc, vmap, kvmalloc, mempools, failure injection)
 * against a reference model, on a machine of its own per input.
 *
 * The input is a program of 12-byte operations: tests/fuzz/kmem_model.h
 * turns it into calls, checks every result against what the model knows
 * (sizes, alignment, zeroing, constructed objects, contents kept by
 * krealloc, each allocation's byte pattern intact until it is freed,
 * vmalloc aliasing), runs kmem_page_check, kmem_vmalloc_check and
 * kmem_cache_check of every cache every 64 operations and at the end,
 * frees everything and requires the machine to hold what a fresh one
 * holds. Any difference aborts with the message and the last operations;
 * kmem's own reports of misuse go through the same panic handler (the
 * model never misuses the interface, so one is a bug in kmem or in the
 * model). Sizes: kmalloc to 6 MiB (beyond 4 MiB must fail), vmalloc and
 * kvmalloc to 4 MiB, cache objects to 128 KiB, 256 live allocations.
 *
 * One machine per process: the core holds its state in globals, so this
 * target links the kernel API's objects (not the malloc's, whose private
 * machine is the same core: fuzz_malloc.c is the other target). Each input
 * gets a fresh 64 MiB machine (kmem_init before, kmem_exit after): a crash
 * then depends on its input alone and reproduces from the saved file. A
 * fresh machine costs about a millisecond (ASan unpoisons its memory; the
 * memfd is backed as it is touched), a small part of an input of a few
 * hundred operations. LLVMFuzzerInitialize calibrates the end-of-input
 * check on a machine of its own (fz_calibrate).
 *
 * Build and run (tests/fuzz/CMakeLists.txt; clang with libFuzzer):
 *   CC=clang cmake -S . -B build-fuzz -DKMEM_FUZZ=ON && cmake --build build-fuzz -j
 *   build-fuzz/tests/fuzz/fuzz_kmem WORKDIR tests/fuzz/corpus/fuzz_kmem
 *   ctest --test-dir build-fuzz -L fuzz       # 60 s per target, the CI run
 *   scripts/fuzz.sh [seconds] [target...]     # the long run (1 hour per target)
 * Reproduce a crash: build-fuzz/tests/fuzz/fuzz_kmem CRASH-FILE (FZ_TRACE=1
 * prints every operation). The seed corpus is made by
 * tests/fuzz/make_corpus.py.
 */
#include <stddef.h>
#include <stdint.h>

#include "kmem_model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fz_config config = {
    .vmalloc_max = 4 * FZ_MiB,
    .kmalloc_max = 6 * FZ_MiB,
    .cache_obj_max = 128 * FZ_KiB,
    .max_objs = 256,
    .check_every = 64,
    .faults = true,
};

static const struct kmem_config machine = {.mem_size = 64 * FZ_MiB};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_calibrate(&machine);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = kmem_init(&machine);
    if (rc != 0) {
        fprintf(stderr, "fuzz_kmem: kmem_init = %d\n", rc);
        abort();
    }
    fz_begin(&config);
    struct fz_src src = {.p = data, .n = size};
    while (fz_more(&src))
        fz_step(&src);
    fz_finish();
    kmem_exit();
    return 0;
}
