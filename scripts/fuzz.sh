#!/bin/bash
# scripts/fuzz.sh [SECONDS] [TARGET...] - the long fuzzing run: build the
# libFuzzer targets of tests/fuzz with clang in build-fuzz
# (-DKMEM_FUZZ=ON) and run each for SECONDS (default 3600) with 2 parallel
# workers (-jobs=2 -workers=2), one target after the other. Targets:
# fuzz_kmem (the kernel interface against its model) and fuzz_malloc (the
# malloc's kmem_ names against theirs); default both.
#
# Each run starts from the seed corpus tests/fuzz/corpus/TARGET and writes
# what it finds under the work directory, never into the source tree:
#   WORK/TARGET/corpus/     new inputs (the seeds are only read)
#   WORK/TARGET/crashes/    crash-*, leak-*, timeout-*, oom-* (the inputs)
#   WORK/TARGET/fuzz-N.log  each worker's log
# WORK is build-fuzz/fuzz-work, or $KMEM_FUZZ_WORK. Reproduce a crash with
#   build-fuzz/tests/fuzz/TARGET WORK/TARGET/crashes/crash-...
# (FZ_TRACE=1 prints every operation). A run ends with each target's
# executions per second, coverage and crashes; the exit status is 1 if any
# target crashed.
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-3600}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_kmem fuzz_malloc}
work=${KMEM_FUZZ_WORK:-$root/build-fuzz/fuzz-work}
build=build-fuzz

case $seconds in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac
scripts/deps.sh clang libclang-rt-dev ||
  echo "fuzz: could not install clang and its fuzzer runtime; trying anyway" >&2

mkdir -p "$build"
echo "== fuzz: building $targets in $build"
if ! { CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMEM_FUZZ=ON \
         -DKMEM_BUILD_BENCH=OFF && cmake --build "$build" -j"$(nproc)" --target $targets; } \
       >"$build/fuzz-build.log" 2>&1; then
  tail -40 "$build/fuzz-build.log"
  echo "== fuzz: BUILD FAILED (log: $build/fuzz-build.log)"
  exit 1
fi

crashed=0
for t in $targets; do
  exe=$root/$build/tests/fuzz/$t
  dir=$work/$t
  mkdir -p "$dir/corpus" "$dir/crashes"
  echo "== fuzz: $t for $seconds s, 2 workers; new inputs in $dir/corpus, crashes in $dir/crashes"
  (cd "$dir" && "$exe" -jobs=2 -workers=2 -max_total_time="$seconds" -timeout=30 \
     -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/crashes/" \
     "$dir/corpus" "$root/tests/fuzz/corpus/$t" >"$dir/fuzz.log" 2>&1)
  for log in "$dir"/fuzz-*.log; do
    [ -f "$log" ] || continue
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    echo "   $(basename "$log"): ${last:-no progress line} (${eps:-?} exec/s)"
  done
  n=$(find "$dir/crashes" -type f | wc -l)
  echo "   corpus: $(find "$dir/corpus" -type f | wc -l) inputs; crashes: $n (in $dir/crashes)"
  [ "$n" -gt 0 ] && crashed=1
done
[ "$crashed" -eq 0 ] && echo "== fuzz: no crash" || echo "== fuzz: CRASHES FOUND (see above)"
exit "$crashed"
