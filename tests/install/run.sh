#!/bin/bash
# run.sh SOURCE_DIR [CC] - install kmem from SOURCE_DIR into a temporary prefix
# (its own Release build, no tests, no benchmarks) and build pages_api.c, which
# uses every page-allocator name of API.md, against the installed copy:
#   1. pkg-config --cflags --libs kmem       (shared, with an rpath)
#   2. pkg-config --libs --static kmem       (libkmem.a)
#   3. find_package(kmem) -> kmem::kmem      (a small CMake project)
# and run each. Mirrors the shared conformance script for what exists so far.
# Without pkg-config (and no root to install it) parts 1-2 are skipped with a
# message. KMEM_KEEP_TMP=1 keeps the temporary directory.
set -eu
src=$(cd "${1:?usage: run.sh SOURCE_DIR [CC]}" && pwd)
cc=${2:-${CC:-cc}}
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d "${TMPDIR:-/tmp}/kmem-install.XXXXXX")
[[ ${KMEM_KEEP_TMP:-0} == 1 ]] || trap 'rm -rf "$t"' EXIT
errors=0
fatal() { echo "FAIL: $*"; exit 1; }
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }
step() { echo "== $*"; }

# ---- build and install ----------------------------------------------------
step "configure, build and install $src into $t/inst (Release)"
if ! { CC=$cc cmake -S "$src" -B "$t/build" -DCMAKE_BUILD_TYPE=Release \
        -DKMEM_BUILD_TESTS=OFF -DKMEM_BUILD_BENCH=OFF -DKMEM_ASAN=OFF -DKMEM_TSAN=OFF &&
      cmake --build "$t/build" -j"$(nproc 2>/dev/null || echo 2)" &&
      cmake --install "$t/build" --prefix "$t/inst"; } >"$t/build.log" 2>&1; then
    tail -30 "$t/build.log"
    fatal "build/install"
fi

# ---- what got installed -----------------------------------------------------
step "installed files"
(cd "$t/inst" && find . -type f -o -type l | sort | sed 's/^/  /')
[[ -f $t/inst/include/kmem.h ]] || fail "include/kmem.h not installed"
for h in "$src"/include/kmem/*.h; do
    [[ -f $t/inst/include/kmem/$(basename "$h") ]] || fail "include/kmem/$(basename "$h") not installed"
done
pc=$(find "$t/inst" -name kmem.pc | head -1)
[[ -n $pc ]] || fatal "kmem.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
[[ -f $libdir/libkmem.a ]] || fail "libkmem.a not in $libdir"
[[ -e $libdir/libkmem.so ]] || fail "libkmem.so not in $libdir"
[[ -f $libdir/cmake/kmem/kmemConfig.cmake ]] || fail "kmemConfig.cmake not in $libdir/cmake/kmem"
[[ -x $t/inst/bin/kmem ]] || echo "note: the kmem command is not installed (KMEM_BUILD_TOOLS off?)"
[[ -e $libdir/libkmem-malloc.so ]] || echo "note: libkmem-malloc.so not installed yet"

# The installed headers must not reach into the source tree.
"$cc" -std=c11 -fsyntax-only -Wall -Wextra -Werror -I"$t/inst/include" -x c - <<<'#include <kmem.h>
int main(void) { return 0; }' || fail "the installed <kmem.h> does not compile on its own"

cflags=(-std=c11 -Wall -Wextra -Werror)

# ---- pkg-config ---------------------------------------------------------------
have_pc=1
if ! command -v pkg-config >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        step "installing pkg-config"
        { apt-get install -y pkg-config || { apt-get update && apt-get install -y pkg-config; }; } \
            >"$t/apt.log" 2>&1 || { tail -5 "$t/apt.log"; have_pc=0; }
    else
        have_pc=0
    fi
fi
if [[ $have_pc == 0 ]] || ! command -v pkg-config >/dev/null 2>&1; then
    echo "SKIP: pkg-config is not available (and could not be installed): parts 1 and 2 skipped"
else
    export PKG_CONFIG_PATH=$(dirname "$pc")
    pc_libdir=$(pkg-config --variable=libdir kmem)
    pc_incdir=$(pkg-config --variable=includedir kmem)
    if ! [[ $pc_libdir -ef $libdir && $pc_incdir -ef $t/inst/include ]]; then
        # kmem.pc must describe where `cmake --install --prefix` put things.
        fail "kmem.pc says libdir=$pc_libdir includedir=$pc_incdir, but the prefix is $t/inst" \
            "(kmem.pc was configured for another prefix): parts 1 and 2 skipped"
        sed -n 's/^/  kmem.pc: /p' "$pc"
        have_pc=0
    fi
fi
if [[ $have_pc == 1 ]]; then
    step "1. pkg-config, shared: $cc pages_api.c $(pkg-config --cflags --libs kmem)"
    # shellcheck disable=SC2046
    if "$cc" "${cflags[@]}" "$here/pages_api.c" -o "$t/shared" $(pkg-config --cflags --libs kmem) \
        -Wl,-rpath,"$libdir"; then
        readelf -d "$t/shared" 2>/dev/null | grep -q 'NEEDED.*libkmem\.so' ||
            fail "the shared build does not use libkmem.so"
        "$t/shared" || fail "pkg-config shared run"
    else
        fail "pkg-config shared build"
    fi

    step "2. pkg-config, static: libkmem.a $(pkg-config --libs --static kmem | sed 's/-lkmem//')"
    # shellcheck disable=SC2046
    if "$cc" "${cflags[@]}" "$here/pages_api.c" -o "$t/static" $(pkg-config --cflags kmem) \
        "$libdir/libkmem.a" $(pkg-config --libs --static kmem | sed 's/-lkmem//'); then
        if readelf -d "$t/static" 2>/dev/null | grep -q 'NEEDED.*libkmem'; then
            fail "the static build still needs libkmem.so"
        fi
        "$t/static" || fail "pkg-config static run"
    else
        fail "pkg-config static build"
    fi
fi

# ---- find_package -------------------------------------------------------------
step "3. find_package(kmem) -> kmem::kmem"
mkdir -p "$t/cm"
cp "$here/pages_api.c" "$t/cm/"
cat >"$t/cm/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(pages_api C)
find_package(kmem REQUIRED)
add_executable(pages_api pages_api.c)
set_target_properties(pages_api PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON)
target_compile_options(pages_api PRIVATE -Wall -Wextra -Werror)
target_link_libraries(pages_api PRIVATE kmem::kmem)
CMAKE
if { CC=$cc cmake -S "$t/cm" -B "$t/cm/b" -DCMAKE_PREFIX_PATH="$t/inst" &&
    cmake --build "$t/cm/b"; } >"$t/cm.log" 2>&1; then
    LD_LIBRARY_PATH=$libdir "$t/cm/b/pages_api" || fail "find_package(kmem) run"
else
    tail -30 "$t/cm.log"
    fail "find_package(kmem) build"
fi

if [[ $errors != 0 ]]; then
    echo "install_and_link: $errors failure(s)"
    exit 1
fi
echo "install_and_link: installed, and pages_api built and ran via" \
    "$([[ $have_pc == 1 ]] && echo "pkg-config shared, pkg-config static and ")find_package(kmem)"
