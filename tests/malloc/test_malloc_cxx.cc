// SPDX-License-Identifier: MIT
//
// test_malloc_cxx - C++'s new and delete are served by libkmem-malloc.so
// (linked, as with LD_PRELOAD: libstdc++'s operator new calls malloc, its
// aligned forms aligned_alloc, and delete calls free).
//
// Each block new returns must be kmem's: kmem_malloc_usable_size names a
// pointer kmem never handed out as a bad pointer and aborts, so a pass means
// every block below came from kmem. A 64 MiB array is one huge area more in
// kmem_malloc_info while it lives. Failure throws std::bad_alloc, nothrow new
// returns nullptr, and the containers of the standard library work on top.
#include <cstdint>
#include <cstdio>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <kmem/malloc.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static bool kmems(const void *p, std::size_t n)
{
    return kmem_malloc_usable_size(const_cast<void *>(p)) >= n;
}

// Sizes not known at compile time, so the compiler cannot elide new/delete.
static volatile std::size_t opaque_size = 64u << 20;

// More than PTRDIFF_MAX: no malloc can serve it.
static std::size_t impossible()
{
    return static_cast<std::size_t>(PTRDIFF_MAX) + opaque_size;
}

int main()
{
    int *one = new int(42);
    CHECK(kmems(one, sizeof *one));
    delete one;

    for (std::size_t n = 1; n <= (1u << 22); n *= 3) {
        char *a = new char[n];
        CHECK(kmems(a, n));
        a[0] = a[n - 1] = 1;
        delete[] a;
    }

    struct kmem_malloc_info before, during, after; // the struct, not the function
    CHECK(kmem_malloc_info(&before) == 0);
    char *big = new char[opaque_size];
    big[opaque_size - 1] = 1;
    CHECK(kmem_malloc_info(&during) == 0);
    CHECK(during.huge_areas == before.huge_areas + 1);
    CHECK(kmems(big, opaque_size));
    delete[] big;
    CHECK(kmem_malloc_info(&after) == 0);
    CHECK(after.huge_areas == before.huge_areas);

    for (std::size_t align : {32u, 256u, 4096u, 1u << 16}) {
        void *p = ::operator new(100, std::align_val_t(align));
        CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
        CHECK(kmems(p, 100));
        ::operator delete(p, std::align_val_t(align));
    }

    bool threw = false;
    try {
        char *never = new char[impossible()];
        delete[] never;
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    CHECK(new (std::nothrow) char[impossible()] == nullptr);

    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++)
        m["key" + std::to_string(i)].assign(static_cast<std::size_t>(i % 50), i);
    std::size_t total = 0;
    for (const auto &kv : m) {
        total += kv.second.size();
        if (!kv.second.empty())
            CHECK(kmems(kv.second.data(), kv.second.size() * sizeof(int)));
    }
    CHECK(total == 20000u / 50u * (49u * 50u / 2u));

    std::printf("%s: %d failures\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
