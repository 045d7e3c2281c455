#!/bin/bash
# scripts/demo.sh [kmem demo options] - build the kmem command (Release) and
# run its demo: the textbook's buddy-system and slab example on a 256 KB
# machine; the pictures go to build-demo/kmem-demo/.
set -eu
cd "$(dirname "$0")/.."
build=build-demo
mkdir -p "$build"
{
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKMEM_BUILD_TESTS=OFF -DKMEM_BUILD_BENCH=OFF &&
    cmake --build "$build" -j"$(nproc)" --target kmem_tool
} >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
exec "$build/tools/kmem/kmem" demo --out "$build/kmem-demo" "$@"
