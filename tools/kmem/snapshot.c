/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - what kmem looks like now (snapshot.h), read through the
 * public interface only: kmem_zone_info, kmem_page_walk, kmem_cache_walk,
 * kmem_slab_walk, and the /proc texts.
 *
 * The walks call back with kmem's locks held, and a callback must not call
 * kmem; this file's callbacks only copy into memory of the C library's
 * malloc (the command runs on libc's malloc, kmem is its subject), growing
 * arrays as they go. One snapshot is consistent per walk (all pages at one
 * moment, each cache at one moment), which is all a single-threaded replay
 * needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

/* Grow *arr (of elem-byte entries, *cap of them) to hold n + 1. */
static bool grow(void **arr, unsigned long *cap, unsigned long n, size_t elem)
{
    if (n < *cap)
        return true;
    unsigned long new_cap = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, new_cap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = new_cap;
    return true;
}

struct block_walk {
    struct snapshot *s;
    unsigned long cap;
    bool failed;
};

static bool block_copy(void *arg, const struct kmem_block *block)
{
    struct block_walk *w = arg;
    if (!grow((void **)&w->s->blocks, &w->cap, w->s->nblocks, sizeof *block)) {
        w->failed = true;
        return false;
    }
    w->s->blocks[w->s->nblocks++] = *block;
    return true;
}

struct slab_walk {
    struct snap_cache *c;
    unsigned long cap;
    bool failed;
};

static bool slab_copy(void *arg, const struct kmem_slab_view *v)
{
    struct slab_walk *w = arg;
    if (!grow((void **)&w->c->slabs, &w->cap, w->c->nslabs, sizeof *w->c->slabs)) {
        w->failed = true;
        return false;
    }
    struct snap_slab *slab = &w->c->slabs[w->c->nslabs];
    slab->addr = (unsigned long)v->addr;
    slab->objects = v->objects;
    slab->inuse = v->inuse;
    slab->pages = v->pages;
    slab->used = malloc(v->objects ? v->objects : 1);
    if (!slab->used) {
        w->failed = true;
        return false;
    }
    const unsigned int bits = 8 * sizeof(long);
    for (unsigned int i = 0; i < v->objects; i++)
        slab->used[i] = !((v->free_map[i / bits] >> (i % bits)) & 1);
    w->c->nslabs++;
    return true;
}

struct cache_walk {
    struct snapshot *s;
    unsigned long cap;
    bool with_slabs, all_caches, failed;
};

static bool cache_copy(void *arg, struct kmem_cache *cache)
{
    struct cache_walk *w = arg;
    struct kmem_cache_info info;
    kmem_cache_info(cache, &info);
    if (!w->all_caches && info.slabs == 0)
        return true;
    if (!grow((void **)&w->s->caches, &w->cap, w->s->ncaches, sizeof *w->s->caches)) {
        w->failed = true;
        return false;
    }
    struct snap_cache *c = &w->s->caches[w->s->ncaches++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", info.name);
    c->info = info;
    c->info.name = c->name;
    c->internal = info.internal;
    if (w->with_slabs) {
        struct slab_walk sw = {c, 0, false};
        kmem_slab_walk(cache, slab_copy, &sw);
        if (sw.failed) {
            w->failed = true;
            return false;
        }
    }
    return true;
}

/* A /proc text in a buffer of its own size. */
static char *proc_text(size_t (*text)(char *buf, size_t len))
{
    size_t len = text(NULL, 0) + 1;
    char *buf = malloc(len + 256); /* room for a line that appears meanwhile */
    if (buf)
        text(buf, len + 256);
    return buf;
}

struct snapshot *snapshot_take(unsigned long step, const char *label, bool with_slabs,
                               bool all_caches)
{
    struct snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->step = step;
    snprintf(s->label, sizeof s->label, "%s", label ? label : "");
    for (int z = 0; z < KMEM_NR_ZONES; z++) {
        struct snap_zone *zone = &s->zones[z];
        zone->present = kmem_zone_info((enum kmem_zone_type)z, &zone->info);
        if (zone->present)
            frag_zone_compute(&zone->info, &zone->frag);
    }
    struct block_walk bw = {s, 0, false};
    kmem_page_walk(block_copy, &bw);
    struct cache_walk cw = {s, 0, with_slabs, all_caches, false};
    kmem_cache_walk(cache_copy, &cw);
    s->buddyinfo = proc_text(kmem_buddyinfo);
    s->slabinfo = proc_text(kmem_slabinfo);
    if (bw.failed || cw.failed || !s->buddyinfo || !s->slabinfo) {
        snapshot_free(s);
        return NULL;
    }
    return s;
}

void snapshot_free(struct snapshot *s)
{
    if (!s)
        return;
    for (unsigned long i = 0; i < s->ncaches; i++) {
        for (unsigned long j = 0; j < s->caches[i].nslabs; j++)
            free(s->caches[i].slabs[j].used);
        free(s->caches[i].slabs);
    }
    free(s->caches);
    free(s->blocks);
    free(s->buddyinfo);
    free(s->slabinfo);
    free(s);
}

struct snap_cache *snapshot_cache_mut(struct snapshot *s, const char *name)
{
    for (unsigned long i = 0; i < s->ncaches; i++)
        if (!strcmp(s->caches[i].name, name))
            return &s->caches[i];
    return NULL;
}

const struct snap_cache *snapshot_cache(const struct snapshot *s, const char *name)
{
    return snapshot_cache_mut((struct snapshot *)s, name);
}

bool timeline_add(struct timeline *t, struct snapshot *s)
{
    if (!grow((void **)&t->snaps, &t->cap, t->n, sizeof *t->snaps))
        return false;
    t->snaps[t->n++] = s;
    return true;
}

void timeline_free(struct timeline *t)
{
    for (unsigned long i = 0; i < t->n; i++)
        snapshot_free(t->snaps[i]);
    free(t->snaps);
    t->snaps = NULL;
    t->n = t->cap = 0;
}
