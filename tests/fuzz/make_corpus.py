#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# make_corpus.py - write the seed corpora of the fuzz targets,
# tests/fuzz/corpus/fuzz_kmem/ and tests/fuzz/corpus/fuzz_malloc/.
#
# An input is a sequence of 12-byte operations: a code, then its argument
# bytes (the readers in kmem_model.h and fuzz_malloc.c; missing bytes read as
# zeros). Each seed is a small scenario that reaches one area at once (pages,
# caches, kmalloc, vmalloc, pools, failure injection; slab classes, buddy
# blocks, huge areas, alignments), plus a few seeded random programs; the
# fuzzer mutates from there. Deterministic: running it again writes the same
# files. Usage: tests/fuzz/make_corpus.py (from anywhere).
import os
import random

OP_BYTES = 12
HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_kmem's operation codes (kmem_model.h, enum OP_*).
K_PAGES, K_EXACT, K_CACHE_CREATE, K_CACHE_ALLOC, K_CACHE_ALLOC2, K_CACHE_SHRINK = range(6)
K_KMALLOC, K_KMALLOC2, K_KREALLOC, K_VMALLOC, K_KVMALLOC, K_VMAP = range(6, 12)
K_POOL_MANAGE, K_POOL_ALLOC, K_MISC, K_FAULT, K_FREE = range(12, 17)
# fuzz_malloc's (fuzz_malloc.c).
M_MALLOC, M_MALLOC2, M_CALLOC, M_REALLOC, M_REALLOC2, M_REALLOCARRAY = range(6)
M_ALIGNED, M_MISC, M_FREE = range(6, 9)


def size(n):
    """fz_size's encoding of n bytes (n >= 1)."""
    if n <= 256:
        return [0, n - 1]
    if n <= 4096:
        return [120, (n - 1) & 0xff, (n - 1) >> 8]
    if n <= 65536:
        return [184, (n - 1) & 0xff, (n - 1) >> 8]
    return [232] + list((n - 1).to_bytes(4, "little"))


def op(code, *args):
    b = [code]
    for a in args:
        b += a if isinstance(a, list) else [a]
    assert len(b) <= OP_BYTES, b
    return bytes(b + [0] * (OP_BYTES - len(b)))


def kfree(pick=0, how=1):
    return op(K_FREE, pick & 0xff, pick >> 8, how)


def kmem_pages():
    ops = []
    for i, order in enumerate([0, 1, 2, 3, 4, 5, 6, 8, 10, 0, 0, 1]):
        idx = {0: 0, 1: 11, 2: 17, 3: 21, 4: 24, 5: 26, 6: 27, 8: 29, 10: 31}[order]
        gfp = [0, 3, 4, 7, 8, 0x38][i % 6]  # KERNEL, ATOMIC, NOWAIT, DMA, ZERO, NOWARN
        ops.append(op(K_PAGES, idx, gfp, i & 1, i))
    ops.append(op(K_PAGES, 0xff, 0, 0, 0))  # order 11: NULL
    ops += [kfree(i * 3, i) for i in range(6)]
    ops += [op(K_EXACT, size(n), 8 * (i & 1), i) for i, n in enumerate([1, 4096, 5000, 12288, 65537])]
    ops += [op(K_MISC, 0), op(K_MISC, 2), op(K_MISC, 3)]
    ops += [kfree(i, i) for i in range(8)]
    return ops


def kmem_caches():
    ops = []
    # idx, sel (align index | flags index << 4), size, ctor
    for idx, sel, n, ctor in [(0, 0x00, 64, 0), (1, 0x38, 200, 1), (2, 0x09, 1000, 2),
                              (3, 0x4c, 4096, 0), (4, 0x53, 20000, 1), (5, 0x6e, 3, 2)]:
        ops.append(op(K_CACHE_CREATE, idx, sel, size(n), ctor))
    ops.append(op(K_CACHE_CREATE, 6, 0x0e, size(64), 0))  # align 3: refused
    for i in range(24):
        ops.append(op(K_CACHE_ALLOC, i % 6, 8 * (i % 3 == 0), 7, i))
    ops += [kfree(i * 5, i) for i in range(20)]
    ops += [op(K_CACHE_SHRINK, i, 2) for i in range(6)]
    ops += [op(K_CACHE_SHRINK, i, 1) for i in range(6)]
    ops += [op(K_MISC, 1), op(K_MISC, 4)]
    ops += [kfree(0, i) for i in range(40)]
    ops += [op(K_CACHE_SHRINK, i, 0) for i in range(6)]
    return ops


def kmem_kmalloc():
    ops = []
    for i, n in enumerate([0, 1, 8, 9, 16, 24, 32, 64, 65, 96, 128, 192, 256, 300, 512, 1024,
                           2048, 4096, 8192, 8193, 16384, 100000, 1 << 20, 4 << 20]):
        how = [0, 1, 2, 0, 1, 3, 4][i % 7]
        if n == 0:
            ops.append(op(K_KMALLOC, 0, size(1), 0, 0xff, i))  # kmalloc(0)
            continue
        ops.append(op(K_KMALLOC, how, size(n), 8 * (i & 1), 1 + i % 4, i))
    ops.append(op(K_KMALLOC, 5, size(100), 0, 3))  # an overflowing product
    for i in range(16):
        ops.append(op(K_KREALLOC, i, 0, size([10, 200, 5000, 100, 70000, 1][i % 6]), 8 * (i & 1), 1, i))
    ops += [op(K_MISC, 6), op(K_MISC, 5), op(K_MISC, 7)]
    ops += [kfree(i, i) for i in range(30)]
    return ops


def kmem_vmalloc():
    ops = []
    for i, n in enumerate([1, 4096, 4097, 65536, 300000, 1 << 20, 3 << 20]):
        ops.append(op(K_VMALLOC, i % 4, size(n), 8 * (i & 1), 1, i))
    for i, n in enumerate([100, 4096, 4097, 65536, 1 << 21]):
        ops.append(op(K_KVMALLOC, size(n), 0, i & 1, 1, i))
    for count in [1, 3, 16]:
        ops.append(op(K_VMAP, count - 1, 0, count))  # single pages
        ops.append(op(K_VMAP, count - 1, 0x10, count))  # the pages of one block
    ops.append(op(K_VMAP, 2, 0xfe, 0))  # bad flags
    ops += [op(K_MISC, 1), op(K_MISC, 6)]
    ops += [kfree(i * 2, i) for i in range(20)]
    return ops


def kmem_pools():
    ops = [op(K_CACHE_CREATE, 0, 0, size(128), 1), op(K_CACHE_CREATE, 1, 0x30, size(777), 2)]
    # idx, arg (type = arg % 4), min_nr, cache pick, ksize u16, order
    ops += [op(K_POOL_MANAGE, 0, 0, 4, 0, 0, 0, 0), op(K_POOL_MANAGE, 1, 1, 2, 0, 100, 0, 0),
            op(K_POOL_MANAGE, 2, 2, 3, 0, 0, 0, 2), op(K_POOL_MANAGE, 3, 3, 1, 1, 0, 0, 0)]
    for i in range(20):
        ops.append(op(K_POOL_ALLOC, i % 4, [0, 1, 5, 0x11, 9][i % 5], i))
    ops += [kfree(i, i) for i in range(10)]
    ops += [op(K_POOL_MANAGE, i, 1, 8) for i in range(4)]  # resize
    ops += [op(K_POOL_MANAGE, i, 1, 0) for i in range(4)]
    ops += [kfree(0, i) for i in range(12)]
    ops += [op(K_POOL_MANAGE, i, 0) for i in range(4)]  # destroy
    ops += [op(K_CACHE_SHRINK, 0, 0), op(K_CACHE_SHRINK, 1, 0)]
    return ops


def kmem_faults():
    ops = [op(K_CACHE_CREATE, 0, 0, size(300), 0)]
    for a in [0x05, 0x15, 0x35, 0xcd]:  # pages once, slab twice, one cache 4 times, pages always
        ops.append(op(K_FAULT, a, 2, 0))
        ops += [op(K_KMALLOC, 0, size(100), 0, 1, 1), op(K_CACHE_ALLOC, 0, 0, 5, 0),
                op(K_PAGES, 1, 0, 0, 0), op(K_VMALLOC, 0, size(50000), 0, 1, 0),
                op(K_POOL_MANAGE, 0, 1, 4, 0, 64, 0, 0), op(K_POOL_ALLOC, 0, 1, 0)]
        ops.append(op(K_FAULT, 0))
    ops += [kfree(0, i) for i in range(30)]
    return ops


def mfree(pick=0):
    return op(M_FREE, pick & 0xff, pick >> 8)


def malloc_small():
    ops = [op(M_MALLOC, size(n), 1, i) for i, n in enumerate(
        [1, 15, 16, 17, 48, 100, 128, 129, 200, 320, 1000, 1024, 1025, 4096, 9000, 16384])]
    ops.append(op(M_MALLOC, size(1), 0, 0))  # malloc(0)
    ops += [op(M_MISC, 3, 64, 0, 100), op(M_MISC, 3, 0, 3, 20), op(M_MISC, 0)]
    ops += [mfree(i * 3) for i in range(18)]
    return ops


def malloc_large():
    ops = [op(M_MALLOC, size(n), 1, i) for i, n in enumerate(
        [16385, 65536, 1 << 20, (4 << 20) - 1, 4 << 20, (4 << 20) + 1, 6 << 20, 9 << 20])]
    # realloc across the ranges: small -> mid -> huge -> mid -> small
    for i, n in enumerate([100, 20000, 5 << 20, 8 << 20, 3 << 20, 50]):
        ops.append(op(M_REALLOC, 0, 0, 1, size(n), i))
    ops += [mfree(i) for i in range(4)]
    for i, n in enumerate([5 << 20, 7 << 20, 5 << 20]):  # the huge cache
        ops.append(op(M_MALLOC, size(n), 1, i))
    ops += [op(M_MISC, 0)] + [mfree(0) for _ in range(8)]
    return ops


def malloc_aligned():
    ops = []
    for i, a in enumerate([0, 3, 4, 5, 6, 12, 13, 16, 20, 22, 23, 0xe5, 0xf3]):
        ops.append(op(M_ALIGNED, i % 4, a, size([10, 100, 5000, 70000, 5 << 20][i % 5]), i))
    ops += [op(M_ALIGNED, 3, 0, size(5000)), op(M_ALIGNED, 3, 1, size(5000))]  # valloc, pvalloc
    ops += [op(M_MISC, 0)] + [mfree(i) for i in range(16)]
    return ops


def malloc_calloc():
    ops = [op(M_CALLOC, n, size(m), 1, i) for i, (n, m) in enumerate(
        [(0, 100), (3, 4096), (10, 100000), (1, 6 << 20), (63, 1 << 20)])]
    ops.append(op(M_CALLOC, 3, size(10), 0))  # overflowing product
    for i in range(6):
        ops.append(op(M_REALLOCARRAY, i, 0, 1, i % 16, size(1000 * (i + 1)), i))
    ops.append(op(M_REALLOCARRAY, 0, 0, 9, 3, size(10)))  # overflowing product
    ops += [mfree(i) for i in range(12)]
    return ops


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    rng = random.Random(0x6b6d656d)
    for name, fn in [("pages", kmem_pages), ("caches", kmem_caches), ("kmalloc", kmem_kmalloc),
                     ("vmalloc", kmem_vmalloc), ("pools", kmem_pools), ("faults", kmem_faults)]:
        write("fuzz_kmem", name, b"".join(fn()))
    for n in (480, 1500, 4092):
        write("fuzz_kmem", "random-%d" % n, bytes(rng.randrange(256) for _ in range(n)))
    for name, fn in [("small", malloc_small), ("large", malloc_large), ("aligned", malloc_aligned),
                     ("calloc", malloc_calloc)]:
        write("fuzz_malloc", name, b"".join(fn()))
    for n in (480, 2400):
        write("fuzz_malloc", "random-%d" % n, bytes(rng.randrange(256) for _ in range(n)))


if __name__ == "__main__":
    main()
