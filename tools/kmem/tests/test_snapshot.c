/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c - snapshot.c and frag.c against states worked out by
 * hand: the book's 256 KB machine after a 21 KB request (free blocks of
 * 32, 64 and 128 KB), and a cache with slabs in every state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../snapshot.h"

static int failures;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                    \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static void book_state(void)
{
    struct page *page = alloc_pages(GFP_KERNEL, 3);
    EXPECT(page != NULL);
    struct snapshot *s = snapshot_take(1, "after the 21 KB request", true, false);
    EXPECT(s != NULL);
    const struct snap_zone *z = &s->zones[KMEM_ZONE_DMA];
    EXPECT(z->present);
    /* Blocks: 32 KB allocated, then free 32, 64, 128 KB: 64 pages in all. */
    unsigned long pages = 0, allocated = 0;
    for (unsigned long i = 0; i < s->nblocks; i++) {
        pages += 1UL << s->blocks[i].order;
        if (s->blocks[i].state == KMEM_BLOCK_ALLOCATED)
            allocated += 1UL << s->blocks[i].order;
    }
    EXPECT(pages == 64 && allocated == 8);
    EXPECT(z->frag.free_pages == 56 && z->frag.free_blocks == 3);
    EXPECT(near(z->frag.unusable[3], 0.0));      /* every free page is in a block >= 32 KB */
    EXPECT(near(z->frag.unusable[4], 8.0 / 56)); /* the 32 KB block is too small for 64 KB */
    EXPECT(near(z->frag.unusable[6], 1.0));      /* no block of 256 KB */
    EXPECT(near(z->frag.extfrag[5], -1.0));      /* a 128 KB block is free */
    EXPECT(near(z->frag.extfrag[6], 1.0 - (1.0 + 56.0 / 64) / 3)); /* Linux's formula */
    EXPECT(s->buddyinfo && s->slabinfo);
    snapshot_free(s);
    __free_pages(page, 3);
}

static void cache_states(void)
{
    struct kmem_cache *c = kmem_cache_create("snap-1k", 1024, 0, 0, NULL);
    EXPECT(c != NULL);
    void *objs[64];
    for (int i = 0; i < 64; i++)
        objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
    for (int i = 0; i < 64; i += 2)
        kmem_cache_free(c, objs[i]);
    kmem_cache_shrink(c); /* magazines back to the slabs */
    struct snapshot *s = snapshot_take(2, "caches", true, false);
    EXPECT(s != NULL);
    const struct snap_cache *sc = snapshot_cache(s, "snap-1k");
    EXPECT(sc != NULL);
    if (sc) {
        unsigned long used = 0;
        for (unsigned long i = 0; i < sc->nslabs; i++)
            for (unsigned int j = 0; j < sc->slabs[i].objects; j++)
                used += sc->slabs[i].used[j];
        EXPECT(used == sc->info.active_objs);
        EXPECT(sc->nslabs == sc->info.slabs);
        EXPECT(!sc->internal);
        double internal = frag_internal(&sc->info, 32 * 1000ULL, true);
        double slab_bytes = (double)sc->info.slabs * sc->info.pages_per_slab * PAGE_SIZE;
        EXPECT(near(internal, 1.0 - 32000.0 / slab_bytes));
    }
    bool saw_internal = false;
    for (unsigned long i = 0; i < s->ncaches; i++)
        saw_internal |= s->caches[i].internal;
    EXPECT(saw_internal); /* kmem_slab, kmem_cache are there and marked */
    struct timeline t = {0};
    EXPECT(timeline_add(&t, s));
    timeline_free(&t);
    for (int i = 1; i < 64; i += 2)
        kmem_cache_free(c, objs[i]);
    kmem_cache_destroy(c);
}

int main(void)
{
    struct kmem_config cfg = {.mem_size = 256 << 10};
    if (kmem_init(&cfg) != 0) {
        fprintf(stderr, "kmem_init failed\n");
        return 1;
    }
    book_state();
    kmem_exit();
    cfg.mem_size = 16 << 20;
    if (kmem_init(&cfg) != 0)
        return 1;
    cache_states();
    kmem_exit();
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
