#!/bin/bash
# scripts/test.sh - build kmem and run the whole test suite, six ways:
#   release   gcc, RelWithDebInfo, -Werror: every test
#   clang     clang, RelWithDebInfo, -Werror: every test but the real
#             programs (label realprog: python's regression tests and
#             realprog.sh, which release runs; they test the malloc's
#             behaviour, not the compiler's code), the browser's (label
#             browser: headless Chromium renders the kmem command's report)
#             and the install test (label install: cmake --install, then
#             programs built against the installed package)
#   asan      gcc with AddressSanitizer + UndefinedBehaviorSanitizer: every
#             test but the browser's
#   tsan      gcc with ThreadSanitizer: every test but the browser's
#   valgrind  gcc with memcheck's client requests (-DKMEM_VALGRIND=ON): the
#             memcheck tests (tests/valgrind) under valgrind
#   fuzz      clang with the libFuzzer targets (-DKMEM_FUZZ=ON, tests/fuzz):
#             the fuzz tests only (ctest -L fuzz), each target 60 s on its
#             seed corpus, the two in parallel (scripts/fuzz.sh runs them
#             for hours)
# Missing Debian packages are installed with apt-get (scripts/deps.sh): the
# build's (pkg-config, clang, and libFuzzer's runtime for fuzz) and the
# programs that tests/malloc runs under the preloaded malloc (realprog.sh,
# pyregrtest.sh), chromium for the kmem command's report test and qemu for
# the example kernel's boot tests (examples/kernel). When that
# fails the suite goes on: a test whose program is
# missing says "skipped".
# Usage: scripts/test.sh [config...]   (default: all six)
# The last line is the total: "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
configs=${*:-release clang asan tsan valgrind fuzz}
jobs=$(nproc)

scripts/deps.sh pkg-config clang g++ valgrind ||
  echo "test: could not install pkg-config, clang, g++, valgrind; continuing" >&2
scripts/deps.sh python3 sqlite3 perl git jq gawk lua5.4 redis-server redis-tools gcc \
  libpython3.11-testsuite ||
  echo "test: could not install the real-program tests' packages; continuing" >&2
scripts/deps.sh chromium || # the report test says "skipped" without it
  echo "test: could not install chromium; continuing" >&2
scripts/deps.sh qemu-system-x86 || # the kernel tests say "skipped" without it
  echo "test: could not install qemu-system-x86; continuing" >&2

passed=0
failed=0
start=$(date +%s)
for config in $configs; do
  dir=build-test-$config
  opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKMEM_BUILD_BENCH=OFF)
  targets=() # all
  cc=gcc
  case $config in
    release) ;;
    clang) cc=clang ;;
    asan) opts+=(-DKMEM_ASAN=ON) ;;
    tsan) opts+=(-DKMEM_TSAN=ON) ;;
    valgrind)
      opts+=(-DKMEM_VALGRIND=ON)
      targets=(--target memcheck_demo) # what ctest -L memcheck runs
      ;;
    fuzz)
      cc=clang
      opts+=(-DKMEM_FUZZ=ON)
      targets=(--target fuzz_kmem fuzz_malloc) # what ctest -L fuzz runs
      scripts/deps.sh libclang-rt-dev ||
        echo "test: could not install libFuzzer's runtime (libclang-rt-dev); trying anyway" >&2
      ;;
    *) echo "test: unknown config $config" >&2; exit 2 ;;
  esac
  if [ "$cc" = clang ] && ! command -v clang >/dev/null; then
    echo "== $config: clang is not installed, skipped"
    continue
  fi
  echo "== $config: building"
  mkdir -p "$dir"
  if ! { CC=$cc cmake -S . -B "$dir" "${opts[@]}" && cmake --build "$dir" -j"$jobs" "${targets[@]}"; } >"$dir/build.log" 2>&1; then
    tail -40 "$dir/build.log"
    echo "== $config: BUILD FAILED"
    failed=$((failed + 1))
    continue
  fi
  echo "== $config: testing"
  select=()
  [ "$config" = valgrind ] && select=(-L memcheck) # the rest ran natively in release
  case $config in # release ran these
    clang) select=(-LE 'realprog|browser|install') ;;
    asan | tsan) select=(-LE browser) ;;
  esac
  ctest_jobs=$jobs
  if [ "$config" = fuzz ]; then
    select=(-L fuzz) # the rest ran in clang
    ctest_jobs=2     # one core per target: 60 s in all
  fi
  (cd "$dir" && ctest --output-on-failure -j"$ctest_jobs" "${select[@]}") | tee "$dir/ctest.out"
  n_total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$dir/ctest.out" | tail -1)
  n_failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$dir/ctest.out" | tail -1)
  if [ -z "$n_total" ]; then
    echo "== $config: ctest did not report"
    failed=$((failed + 1))
    continue
  fi
  passed=$((passed + n_total - n_failed))
  failed=$((failed + n_failed))
done
echo "== suite: $configs in $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
