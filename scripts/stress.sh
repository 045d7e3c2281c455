#!/bin/bash
# scripts/stress.sh [MINUTES] - long randomized runs, outside the default suite.
# Repeats the randomized model tests (pages: new seed each round, 10 M
# operations; kmalloc: the same seed, 3 M; the caches' model, 3 M) and the
# multi-thread stresses (pages 5 M operations per thread, caches 2 M) in the
# ASan+UBSan build, and the thread stresses and the magazine layer's tests in
# the TSan build, until MINUTES (default 30) have passed or something fails.
# Prints the seed of any failing round.
set -u
cd "$(dirname "$0")/.."
minutes=${1:-30}
jobs=$(nproc)
for config in asan tsan; do
  dir=build-test-$config
  opt=-DKMEM_ASAN=ON
  [ $config = tsan ] && opt=-DKMEM_TSAN=ON
  mkdir -p "$dir"
  { cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMEM_BUILD_BENCH=OFF $opt &&
      cmake --build "$dir" -j"$jobs"; } >"$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; exit 1; }
done
end=$(( $(date +%s) + minutes * 60 ))
round=0
while [ "$(date +%s)" -lt "$end" ]; do
  round=$((round + 1))
  seed=$(( (RANDOM << 15 | RANDOM) + round ))
  echo "== round $round, seed $seed"
  log=build-test-asan/stress.log
  KMEM_TEST_SEED=$seed KMEM_TEST_OPS=10000000 build-test-asan/tests/test_model >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_model (asan) seed $seed"; exit 1; }
  KMEM_TEST_OPS=5000000 build-test-asan/tests/test_threads >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_threads (asan) round $round"; exit 1; }
  KMEM_TEST_OPS=500000 build-test-tsan/tests/test_threads >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_threads (tsan) round $round"; exit 1; }
  # The object caches: the kmalloc model with this round's seed, the caches'
  # model, the caches under threads (ASan and TSan), the magazine layer.
  KMEM_TEST_SEED=$seed KMEM_TEST_OPS=3000000 build-test-asan/tests/test_kmalloc >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_kmalloc (asan) seed $seed"; exit 1; }
  KMEM_TEST_OPS=3000000 build-test-asan/tests/test_slab >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_slab (asan) round $round"; exit 1; }
  KMEM_TEST_OPS=2000000 build-test-asan/tests/test_slab_threads >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_slab_threads (asan) round $round"; exit 1; }
  KMEM_TEST_OPS=300000 build-test-tsan/tests/test_slab_threads >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_slab_threads (tsan) round $round"; exit 1; }
  build-test-tsan/tests/test_magazine >"$log" 2>&1 ||
    { tail -30 "$log"; echo "FAIL: test_magazine (tsan) round $round"; exit 1; }
done
echo "stress: $round rounds in $minutes min, 0 failed"
