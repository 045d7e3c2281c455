/* SPDX-License-Identifier: MIT */
/*
 * kmem/gfp.h - GFP ("get free pages") flags: where memory may come from and
 * how hard the allocator may try. The names and meanings are Linux's.
 */
#ifndef KMEM_GFP_H
#define KMEM_GFP_H

#include <kmem/types.h>

/* Modifier bits. */
#define __GFP_DMA            0x01u    /* only from ZONE_DMA (physical < 16 MiB) */
#define __GFP_HIGH           0x20u    /* important: may dip deeper into reserves */
#define __GFP_IO             0x40u    /* may start I/O (accepted, no effect here) */
#define __GFP_FS             0x80u    /* may call into a file system (accepted) */
#define __GFP_ZERO           0x100u   /* return zeroed memory */
#define __GFP_DIRECT_RECLAIM 0x400u   /* may block and reclaim (shrink caches) */
#define __GFP_KSWAPD_RECLAIM 0x800u   /* may wake background reclaim */
#define __GFP_NOWARN         0x2000u  /* no failure message */
#define __GFP_RETRY_MAYFAIL  0x4000u  /* retry reclaim while it makes progress, then fail */
#define __GFP_NOFAIL         0x8000u  /* never return NULL: reclaim, wait, retry */
#define __GFP_NORETRY        0x10000u /* give up after one reclaim pass */
#define __GFP_MEMALLOC       0x20000u /* may use every reserve (for reclaim itself) */
#define __GFP_NOMEMALLOC     0x80000u /* never use the reserves, even so */
#define __GFP_RECLAIM        (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)

/* The usual combinations. */
#define GFP_ATOMIC (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM)
#define GFP_NOIO   (__GFP_RECLAIM)
#define GFP_NOFS   (__GFP_RECLAIM | __GFP_IO)
#define GFP_DMA    (__GFP_DMA)

#endif /* KMEM_GFP_H */
