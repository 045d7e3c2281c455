#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/hardening.sh - what the always-on hardening costs on the fast paths
# (bench/run.sh runs it as the suite "hardening"; alone: bench/hardening.sh).
#
# Builds kmem twice in Release (-O2 -DNDEBUG): as shipped, and with
# -DKMEM_HARDENED=OFF (magazine rounds stored in the clear, no free mark: the
# fast paths as they were before the hardening). Then, for the fast-path workloads of bench_slab (kmem's
# API) and bench_malloc (libkmem-malloc.so by LD_PRELOAD):
#   - instructions per pair under valgrind --tool=callgrind (whole region);
#   - time per pair: HARDENING_ROUNDS (7) interleaved rounds, the two builds
#     alternating, 3 repetitions each; the median of all.
# Prints a markdown table with the ratios (hardened / unhardened) to stdout
# and to build-bench/hardening.md.
# Knobs: HARDENING_ROUNDS, HARDENING_CG_N (200000), CC.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${HARDENING_ROUNDS:-7}
cg_n=${HARDENING_CG_N:-200000}
out_dir=$root/build-bench
mkdir -p "$out_dir"
declare -A dir=([hardened]=$root/build-bench-hard [unhardened]=$root/build-bench-unhard)
declare -A flag=([hardened]=ON [unhardened]=OFF)
for v in hardened unhardened; do
    [[ -f ${dir[$v]}/CMakeCache.txt ]] || cmake -S "$root" -B "${dir[$v]}" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DKMEM_BUILD_TESTS=OFF -DKMEM_BUILD_TOOLS=OFF \
        -DKMEM_ASAN=OFF -DKMEM_TSAN=OFF -DKMEM_HARDENED=${flag[$v]} >&2
    cmake --build "${dir[$v]}" -j"$(nproc)" --target bench_slab bench_malloc kmem_malloc >&2
done

slab_wls="cache64-steady cache64-batch kmalloc32-steady kmalloc32-batch"
malloc_wls="pair32-steady pair32-batch pair256-steady pair256-batch"

# Instructions per pair in the region.
cg() { # variant kind workload
    local b=${dir[$1]} f
    f=$(mktemp)
    if [[ $2 == slab ]]; then
        valgrind --tool=callgrind --callgrind-out-file="$f" --toggle-collect=bench_cg_region \
            "$b/bench/bench_slab" callgrind --alloc kmem --workload "$3" --n "$cg_n" >/dev/null 2>&1
    else
        LD_PRELOAD=$b/libkmem-malloc.so valgrind --tool=callgrind --callgrind-out-file="$f" \
            --toggle-collect=bench_cg_region "$b/bench/bench_malloc" callgrind --workload "$3" \
            --n "$cg_n" >/dev/null 2>&1
    fi
    callgrind_annotate "$f" 2>/dev/null | awk -v n="$cg_n" \
        '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%.1f", $1 / n; exit }'
    rm -f "$f"
}

# One timed run: ns per pair of each repetition, one per line.
timed() { # variant kind workload
    local b=${dir[$1]}
    if [[ $2 == slab ]]; then
        "$b/bench/bench_slab" run --alloc kmem --workload "$3" --threads 1 --reps 3 --ms 60 |
            awk -F'\t' '$1 == "sample" { print $5 }'
    else
        LD_PRELOAD=$b/libkmem-malloc.so "$b/bench/bench_malloc" run --workload "$3" --label x \
            --reps 3 | awk -F'\t' '$1 == "msample" { print $4 }'
    fi
}

samples=$(mktemp)
for ((r = 0; r < rounds; r++)); do
    for kind in slab malloc; do
        wls=$slab_wls
        [[ $kind == slab ]] || wls=$malloc_wls
        for wl in $wls; do
            order="hardened unhardened"
            ((r % 2)) && order="unhardened hardened"
            for v in $order; do
                timed "$v" "$kind" "$wl" | sed "s/^/$kind $wl $v /" >>"$samples"
            done
        done
    done
done

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
{
    echo "### Hardening cost ($(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
    echo
    echo "\`bench/hardening.sh\`: $rounds interleaved rounds x 3 repetitions per build; instructions per pair from callgrind (whole region)."
    echo
    echo "| API | workload | instr hardened | instr off | instr ratio | ns hardened | ns off | time ratio |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for kind in slab malloc; do
        wls=$slab_wls
        [[ $kind == slab ]] || wls=$malloc_wls
        for wl in $wls; do
            ih=$(cg hardened "$kind" "$wl")
            iu=$(cg unhardened "$kind" "$wl")
            th=$(awk -v k="$kind" -v w="$wl" '$1 == k && $2 == w && $3 == "hardened" { print $4 }' "$samples" | median)
            tu=$(awk -v k="$kind" -v w="$wl" '$1 == k && $2 == w && $3 == "unhardened" { print $4 }' "$samples" | median)
            api=kmem
            [[ $kind == slab ]] || api=malloc
            awk -v a="$api" -v w="$wl" -v ih="$ih" -v iu="$iu" -v th="$th" -v tu="$tu" 'BEGIN {
                printf "| %s | %s | %.1f | %.1f | %.3f | %.2f | %.2f | %.3f |\n", a, w, ih, iu, ih / iu, th, tu, th / tu }'
        done
    done
} | tee "$out_dir/hardening.md"
rm -f "$samples"
