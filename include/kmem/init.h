/* SPDX-License-Identifier: MIT */
/*
 * kmem/init.h - bringing a machine up and down, and what to do on misuse.
 */
#ifndef KMEM_INIT_H
#define KMEM_INIT_H

#include <kmem/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Hosted build: the "physical" memory is a memfd of mem_size bytes mapped
 * contiguously as the direct map. A zeroed field means its default. */
struct kmem_config {
    size_t mem_size; /* bytes of "physical" memory to manage; 0: 64 MiB.
                        Rounded down to whole pages; at most 1 TiB. */
};

#define KMEM_DEFAULT_MEM_SIZE ((size_t)64 << 20)
#define KMEM_MAX_MEM_SIZE     ((size_t)1 << 40)

/* NULL: all defaults. Returns 0, or -errno: -EINVAL bad config, -EBUSY
 * already up, -ENOMEM the host would not give the memory. */
KMEM_API int kmem_init(const struct kmem_config *cfg);

/* Tear down: every page, list and mapping is released; kmem_init may follow.
 * Memory handed out before is gone: using it afterwards is a bug. */
KMEM_API void kmem_exit(void);

/* Is a machine up? */
KMEM_API bool kmem_is_up(void);

/*
 * Misuse (double free, wrong order, foreign pointer, ...) is reported with one
 * line "kmem: <error>: <details>" and then the panic handler runs. The default
 * handler is the platform's (hosted: the line goes to stderr, then abort()).
 * A handler must not return (it may longjmp); if it does, kmem aborts anyway.
 * Returns the previous handler. NULL restores the default.
 */
typedef void (*kmem_panic_fn)(const char *message);
KMEM_API kmem_panic_fn kmem_set_panic_handler(kmem_panic_fn fn);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_INIT_H */
