#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - THE benchmark command of kmem: the page allocator, the object
# caches and kmalloc, and vmalloc.
#
#   bench/run.sh    (from any directory; about 5 minutes on 2 cores, plus up
#                    to 1 while it waits for a quiet machine)
#
# 1. Installs what is missing (checked with dpkg -s; apt-get needs root):
#    valgrind libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev.
# 2. Configures and builds a Release build (-O2 -DNDEBUG) in build-bench/.
# 3. Times the workloads of two suites for kmem and, with the same loops on
#    malloc/free, for glibc, jemalloc, mimalloc and tcmalloc (each by
#    LD_PRELOAD; kmem's rows run without it):
#    - pages (bench/bench_pages.c): pair0, batch0, mixed0-8 on 1 and 2
#      threads; kmem alloc_pages/__free_pages against malloc/free of
#      4096 << order bytes ("/aligned" rows: aligned_alloc(4096, size)).
#    - slab (bench/bench_slab.c): cache64-steady/-batch (kmem_cache_alloc/
#      kmem_cache_free of a 64-byte cache), kmalloc32-steady/-batch and
#      kmalloc256-steady/-batch (kmalloc/kfree) on 1 and 2 threads, and
#      prodcons (2 threads: one allocates, the other frees), against
#      malloc/free of the same sizes.
#    - vmalloc (bench/bench_vmalloc.c): vmalloc/vfree of 1, 16, 256 and 2048
#      pages on a fresh and on a fragmented (checkerboard) machine, with and
#      without touching every page, against malloc/free of the same sizes;
#      time per page and mapping calls per op (no callgrind: its cost is
#      the host's mmap, which callgrind does not see).
#    Rounds are interleaved: every round runs every allocator once per cell,
#    in a rotated order, so drift hits all alike. One op = one pair (one
#    allocation + one free).
# 4. Counts instructions per op with valgrind --tool=callgrind
#    --toggle-collect=bench_cg_region (one thread, steady state after warmup;
#    prodcons: the two threads in turns), for kmem and the peers, and breaks
#    kmem's down by function (callgrind_annotate).
# 5. Prints markdown tables (median ns/op and Mops/s, min-max spread, ratios
#    to kmem and to glibc malloc, instructions/op, 2-thread scaling; for the
#    slab suite also the issue's targets checked) to stdout and to
#    build-bench/results.md. Raw lines: build-bench/samples.tsv (pages) and
#    build-bench/samples-slab.tsv (slab).
# 6. Draws bar charts of the medians (bench/plot.py, python3 without extra
#    modules) to build-bench/plots/<suite>-<threads>t.svg; for the malloc
#    suite, bench/plot_malloc.py: time and RSS relative to glibc per workload
#    and per real program (build-bench/plots/malloc-{time,rss,realprog-time,
#    realprog-rss}.svg).
#
#    - malloc (bench/bench_malloc.c, tests/malloc/realprog.sh): libkmem-malloc.so
#      by LD_PRELOAD against the peers: fast-path pairs (32 B, 256 B, 4 KiB,
#      steady and batch, with callgrind), prodcons, thread-churn, big-churn,
#      grow-shrink, frag-random (time and RSS), and real programs (time and
#      peak RSS, outputs checked against glibc's); BENCH_MALLOC_ROUNDS (3),
#      BENCH_REALPROG_ROUNDS (3).
#
#    - hardening (bench/hardening.sh): kmem as shipped against kmem built with
#      -DKMEM_HARDENED=OFF, instructions and time of the fast-path pairs.
#
# Knobs (environment): BENCH_SUITES ("pages slab vmalloc malloc hardening"), BENCH_ROUNDS (8),
# BENCH_REPS per run (2), BENCH_MS per repetition (60), BENCH_WARMUP_MS (20),
# BENCH_CG_N ops under callgrind (200000), BENCH_MEM_MIB kmem's machine
# (1024), CC (cc), BENCH_BUILD (build-bench), BENCH_WAIT_IDLE seconds to wait
# for a quiet machine before timing (60). Timing is reported, never asserted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BENCH_BUILD:-$root/build-bench}
rounds=${BENCH_ROUNDS:-8}
reps=${BENCH_REPS:-2}
ms=${BENCH_MS:-60}
warmup_ms=${BENCH_WARMUP_MS:-20}
cg_n=${BENCH_CG_N:-200000}
mem_mib=${BENCH_MEM_MIB:-1024}
suites=${BENCH_SUITES:-pages slab vmalloc malloc hardening}
# The hardening suite is a script of its own (bench/hardening.sh), run last.
run_hardening=no
if [[ " $suites " == *" hardening "* ]]; then
    run_hardening=yes
    suites=$(echo " $suites " | sed 's/ hardening / /; s/^ *//; s/ *$//')
fi
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

say() { printf 'bench: %s\n' "$*" >&2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# ---- 1. packages -------------------------------------------------------------
packages=(valgrind libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    else
        say "missing ${missing[*]} and not root: those peers / callgrind are skipped"
    fi
fi

# The shared object a -dev package's lib<name>.so points to ("" if absent).
find_lib() { # dev-package lib-name
    local f
    f=$(dpkg -L "$1" 2>/dev/null | grep -E "/$2\.so$" | head -n1 || true)
    if [[ -n $f ]]; then readlink -f "$f"; fi
}
peers=(jemalloc mimalloc tcmalloc)
declare -A peer_lib=(
    [jemalloc]=$(find_lib libjemalloc-dev libjemalloc)
    [mimalloc]=$(find_lib libmimalloc-dev libmimalloc)
    [tcmalloc]=$(find_lib libgoogle-perftools-dev libtcmalloc_minimal)
)

# ---- 2. build ------------------------------------------------------------------
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
[[ -f $build/CMakeCache.txt ]] && generator=() # keep the generator it has
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" -DKMEM_BUILD_BENCH=ON \
    -DKMEM_BUILD_TESTS=OFF -DKMEM_BUILD_TOOLS=OFF -DKMEM_ASAN=OFF -DKMEM_TSAN=OFF >&2
declare -A suite_bin=([pages]=$build/bench/bench_pages [slab]=$build/bench/bench_slab
    [vmalloc]=$build/bench/bench_vmalloc [malloc]=$build/bench/bench_malloc)
declare -A suite_samples=([pages]=$build/samples.tsv [slab]=$build/samples-slab.tsv
    [vmalloc]=$build/samples-vmalloc.tsv [malloc]=$build/samples-malloc.tsv)
# The vmalloc suite's program runs all its workloads in one call.
declare -A suite_workloads=(
    [pages]="pair0 batch0 mixed0-8"
    [slab]="cache64-steady cache64-batch kmalloc32-steady kmalloc32-batch kmalloc256-steady kmalloc256-batch prodcons"
    [vmalloc]=""
    [malloc]=""
)
for suite in $suites; do
    [[ -n ${suite_bin[$suite]:-} ]] || {
        say "unknown suite '$suite' (BENCH_SUITES: pages, slab, vmalloc, malloc)"
        exit 1
    }
    cmake --build "$build" --target "bench_$suite" >&2
    [[ $suite != malloc ]] || cmake --build "$build" --target kmem_malloc >&2
done
# The slab suite also runs kmem built without its free checks
# (-DKMEM_FREE_CHECKS=OFF), to show what they cost: row "kmem-nochecks".
nochecks_build=$build-nochecks
nochecks_bin=$nochecks_build/bench/bench_slab
if [[ " $suites " == *" slab "* ]]; then
    [[ -f $nochecks_build/CMakeCache.txt ]] || cmake -S "$root" -B "$nochecks_build" \
        "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
        -DKMEM_BUILD_BENCH=ON -DKMEM_BUILD_TESTS=OFF -DKMEM_BUILD_TOOLS=OFF -DKMEM_ASAN=OFF \
        -DKMEM_TSAN=OFF -DKMEM_FREE_CHECKS=OFF >&2
    cmake --build "$nochecks_build" --target bench_slab >&2
fi
# The binary a configuration runs.
bin_of() { if [[ $2 == kmem-nochecks ]]; then echo "$nochecks_bin"; else echo "$1"; fi; }
# Thread counts of a workload: prodcons is a producer and a consumer.
wl_threads() { if [[ $1 == prodcons ]]; then echo 2; else echo 1 2; fi; }

# ---- 3. timed runs -------------------------------------------------------------
# Busy and total CPU ticks of the whole machine, from /proc/stat.
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# CPU seconds used by this script's finished children, from bash's times
# builtin run in this shell (in a subshell it would count only its own).
children_cpu() { awk 'NR == 2 { gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' "$out"; }

# Other sessions on a shared machine distort timings (above all on 2 threads):
# wait up to BENCH_WAIT_IDLE seconds for a 2-second window with 90% idle CPUs.
idle_wait=${BENCH_WAIT_IDLE:-60}
quiet=no
for ((waited = 0; waited < idle_wait; waited += 2)); do
    read -r b0 t0 < <(cpu_ticks)
    sleep 2
    read -r b1 t1 < <(cpu_ticks)
    if (((b1 - b0) * 10 <= (t1 - t0))); then
        quiet=yes
        break
    fi
done
[[ $quiet == yes ]] || say "the machine is busy: timings will show it (see CPU % and 'other load')"
read -r busy0 _ < <(cpu_ticks)
times >"$out"
self0=$(children_cpu)
wall0=$(date +%s.%N)
# label:kind:preload. The slab suite compares the same sizes, not the same
# alignment, and has no "/aligned" rows (malloc aligns to 16 bytes; kmem's
# cache64 to 8, kmalloc's power-of-two classes to their size).
declare -A suite_configs=([pages]="kmem:kmem: glibc:malloc: glibc/aligned:aligned:"
    [slab]="kmem:kmem: kmem-nochecks:kmem: glibc:malloc:" [vmalloc]="kmem:kmem: glibc:malloc:")
for peer in "${peers[@]}"; do
    lib=${peer_lib[$peer]}
    if [[ -n $lib ]]; then
        suite_configs[pages]+=" $peer:malloc:$lib $peer/aligned:aligned:$lib"
        suite_configs[slab]+=" $peer:malloc:$lib"
        suite_configs[vmalloc]+=" $peer:malloc:$lib"
    else
        say "$peer not found: skipped"
    fi
done

log=$build/bench.log
: >"$log"
for suite in $suites; do : >"${suite_samples[$suite]}"; done

run_one() { # bin label kind preload args...
    local bin=$1 label=$2 kind=$3 preload=$4
    shift 4
    local rc=0
    if [[ -n $preload ]]; then
        LD_PRELOAD=$preload "$bin" "$@" --alloc "$kind" --label "$label" >"$out" 2>>"$log" || rc=$?
    else
        env -u LD_PRELOAD "$bin" "$@" --alloc "$kind" --label "$label" >"$out" 2>>"$log" || rc=$?
    fi
    return $rc
}

for ((round = 0; round < rounds; round++)); do
    say "round $((round + 1))/$rounds"
    for suite in $suites; do
        [[ $suite != malloc ]] || continue # its own block below
        bin=${suite_bin[$suite]}
        samples=${suite_samples[$suite]}
        read -r -a configs <<<"${suite_configs[$suite]}"
        nconf=${#configs[@]}
        if [[ $suite == vmalloc ]]; then
            for ((i = 0; i < nconf; i++)); do
                IFS=: read -r label kind preload <<<"${configs[$(((i + round) % nconf))]}"
                if run_one "$bin" "$label" "$kind" "$preload" run --reps "$reps" --ms "$ms" \
                    --mem-mib "$mem_mib"; then
                    cat "$out" >>"$samples"
                else
                    rc=$?
                    say "FAILED (exit $rc): $label vmalloc; see $log"
                fi
            done
            continue
        fi
        for wl in ${suite_workloads[$suite]}; do
            for threads in $(wl_threads "$wl"); do
                for ((i = 0; i < nconf; i++)); do
                    IFS=: read -r label kind preload <<<"${configs[$(((i + round) % nconf))]}"
                    if run_one "$(bin_of "$bin" "$label")" "$label" "$kind" "$preload" run --workload "$wl" \
                        --threads "$threads" --reps "$reps" --ms "$ms" --warmup-ms "$warmup_ms" \
                        --mem-mib "$mem_mib"; then
                        cat "$out" >>"$samples"
                    else
                        rc=$?
                        printf 'fail\t%s\t%s\t%s\texit %s\n' "$wl" "$threads" "$label" "$rc" >>"$samples"
                        say "FAILED (exit $rc): $label $wl $threads thread(s); see $log"
                    fi
                done
            done
        done
    done
done

read -r busy1 _ < <(cpu_ticks)
times >"$out"
self1=$(children_cpu)
wall1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
# CPUs' worth of work done by other processes during the timed runs.
other_load=$(awk -v b="$((busy1 - busy0))" -v hz="$hz" -v s0="$self0" -v s1="$self1" \
    -v w0="$wall0" -v w1="$wall1" 'BEGIN { o = (b / hz - (s1 - s0)) / (w1 - w0); printf "%.2f", o < 0 ? 0 : o }')

# ---- 4. instructions per op ----------------------------------------------------
cgdir=$build/callgrind
mkdir -p "$cgdir"
declare -A breakdown=()
# "function<TAB>Ir" of a callgrind file: self cost (no) or inclusive (yes).
fn_costs() { # file inclusive
    callgrind_annotate --threshold=100 --inclusive="$2" "$1" 2>/dev/null |
        awk '/^ *[0-9][0-9,]* \(/ && !/PROGRAM TOTALS/ {
            ir = $1; gsub(",", "", ir)
            line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
            split(line, f, " "); name = f[1]; sub(/^.*:/, "", name)
            print name "\t" ir }'
}
# "| function | inclusive Ir/op | self Ir/op |" rows of every function that
# has a self cost and at least 0.1 Ir/op with its callees (prefix: leading
# cells, e.g. the workload's).
fn_table() { # file ops prefix
    awk -F'\t' -v ops="$2" -v pre="$3" '
        FNR == NR { self[$1] = $2; next }
        ($1 in self) && $2 / ops >= 0.1 { printf "| %s%s | %.2f | %.2f |\n", pre, $1, $2 / ops, self[$1] / ops }
        ' <(fn_costs "$1" no) <(fn_costs "$1" yes)
}
if command -v valgrind >/dev/null; then
    say "callgrind"
    for suite in $suites; do
        [[ $suite != vmalloc && $suite != malloc ]] || continue
        bin=${suite_bin[$suite]}
        samples=${suite_samples[$suite]}
        for conf in ${suite_configs[$suite]}; do
            IFS=: read -r label kind preload <<<"$conf"
            for wl in ${suite_workloads[$suite]}; do
                file=$cgdir/${label//\//-}.$wl.out
                rc=0
                if [[ -n $preload ]]; then
                    LD_PRELOAD=$preload valgrind --tool=callgrind --toggle-collect=bench_cg_region \
                        --callgrind-out-file="$file" "$(bin_of "$bin" "$label")" callgrind --alloc "$kind" \
                        --workload "$wl" --n "$cg_n" --mem-mib "$mem_mib" >"$file.ops" 2>>"$log" || rc=$?
                else
                    env -u LD_PRELOAD valgrind --tool=callgrind --toggle-collect=bench_cg_region \
                        --callgrind-out-file="$file" "$(bin_of "$bin" "$label")" callgrind --alloc "$kind" \
                        --workload "$wl" --n "$cg_n" --mem-mib "$mem_mib" >"$file.ops" 2>>"$log" || rc=$?
                fi
                ops=$(awk '$1 == "ops" { print $2 }' "$file.ops")
                ir=$(awk '$1 == "totals:" || $1 == "summary:" { print $2; exit }' "$file" 2>/dev/null || true)
                if [[ $rc -eq 0 && -n $ops && -n $ir ]]; then
                    awk -v wl="$wl" -v l="$label" -v ir="$ir" -v ops="$ops" \
                        'BEGIN { printf "instr\t%s\t%s\t%.2f\n", wl, l, ir / ops }' >>"$samples"
                    # The slab suite's "in library" column: the whole loop less
                    # the loop functions' own instructions (calls, arguments,
                    # NULL check, counter; the prodcons array stores).
                    if [[ $suite == slab ]] && command -v callgrind_annotate >/dev/null; then
                        fn_costs "$file" no | awk -F'\t' -v wl="$wl" -v l="$label" -v ir="$ir" -v ops="$ops" '
                            $1 ~ /^(steady|batch|allocs|frees)_/ || $1 == "bench_cg_region" { ir -= $2 }
                            END { printf "libinstr\t%s\t%s\t%.2f\n", wl, l, ir / ops }' >>"$samples"
                    fi
                else
                    say "callgrind FAILED: $label $wl (exit $rc)"
                fi
            done
        done
        # Where kmem's instructions go: inclusive and self Ir per pair of
        # each function.
        command -v callgrind_annotate >/dev/null || continue
        if [[ $suite == pages ]]; then
            kfile=$cgdir/kmem.pair0.out
            [[ -f $kfile ]] && breakdown[pages]=$(fn_table "$kfile" "$(awk '$1 == "ops" { print $2 }' "$kfile.ops")" "")
        else
            breakdown[slab]=""
            for wl in ${suite_workloads[slab]}; do
                kfile=$cgdir/kmem.$wl.out
                [[ -f $kfile ]] || continue
                breakdown[slab]+=$(fn_table "$kfile" "$(awk '$1 == "ops" { print $2 }' "$kfile.ops")" "$wl | ")
                breakdown[slab]+=$'\n'
            done
        fi
    done
else
    say "valgrind not found: no instruction counts"
fi

# ---- 4b. the malloc suite ---------------------------------------------------------
malloc_workloads="pair32-steady pair32-batch pair256-steady pair256-batch pair4k-steady pair4k-batch
prodcons thread-churn big-churn grow-shrink frag-random"
malloc_pairs="pair32-steady pair32-batch pair256-steady pair256-batch pair4k-steady pair4k-batch"
if [[ " $suites " == *" malloc "* ]]; then
    msamples=${suite_samples[malloc]}
    mbin=${suite_bin[malloc]}
    : >"$msamples"
    kmem_lib=$build/libkmem-malloc.so
    mconfigs=("kmem:$kmem_lib" "glibc:")
    for peer in "${peers[@]}"; do
        [[ -n ${peer_lib[$peer]} ]] && mconfigs+=("$peer:${peer_lib[$peer]}")
    done
    nm=${#mconfigs[@]}
    mrounds=${BENCH_MALLOC_ROUNDS:-3}
    for ((round = 0; round < mrounds; round++)); do
        say "malloc round $((round + 1))/$mrounds"
        for wl in $malloc_workloads; do
            for ((i = 0; i < nm; i++)); do
                IFS=: read -r label lib <<<"${mconfigs[$(((i + round) % nm))]}"
                if ! LD_PRELOAD=$lib "$mbin" run --workload "$wl" --label "$label" --reps 2 \
                    >>"$msamples" 2>>"$log"; then
                    say "FAILED: $label $wl; see $log"
                fi
            done
        done
    done
    # Real programs: one run of each per allocator and round (BENCH_REALPROG_ROUNDS),
    # outputs checked against a run without any preload.
    dpkg -s time >/dev/null 2>&1 || { [[ $(id -u) -eq 0 ]] && apt-get install -y -qq time >&2; }
    refdir=$build/realprog-ref
    rm -rf "$refdir"
    prounds=${BENCH_REALPROG_ROUNDS:-3}
    for ((round = 0; round < prounds; round++)); do
        say "malloc real programs, round $((round + 1))/$prounds"
        for ((i = 0; i < nm; i++)); do
            IFS=: read -r label lib <<<"${mconfigs[$(((i + round) % nm))]}"
            REALPROG_BENCH=$label REALPROG_REF=$refdir "$root/tests/malloc/realprog.sh" \
                "${lib:-none}" 2>>"$log" | grep '^rsample' >>"$msamples" || true
        done
    done
    if command -v valgrind >/dev/null; then
        say "malloc callgrind"
        for wl in $malloc_pairs; do
            for conf in "${mconfigs[@]}"; do
                IFS=: read -r label lib <<<"$conf"
                file=$cgdir/malloc-$label.$wl.out
                LD_PRELOAD=$lib valgrind --tool=callgrind --toggle-collect=bench_cg_region \
                    --callgrind-out-file="$file" "$mbin" callgrind --workload "$wl" --n "$cg_n" \
                    >"$file.ops" 2>>"$log" || { say "callgrind FAILED: $label $wl"; continue; }
                ops=$(awk '$1 == "ops" { print $2 }' "$file.ops")
                ir=$(awk '$1 == "totals:" || $1 == "summary:" { print $2; exit }' "$file")
                [[ -n $ops && -n $ir ]] || continue
                # In the library: the whole region less the loop functions' own
                # instructions (the calls, the barrier, the counter).
                lib_ir=$ir
                if command -v callgrind_annotate >/dev/null; then
                    lib_ir=$(fn_costs "$file" no | awk -F'\t' -v ir="$ir" '
                        $1 ~ /^(steady|batch|xmalloc|bench_cg_region)$/ { ir -= $2 } END { print ir }')
                fi
                awk -v wl="$wl" -v l="$label" -v ir="$ir" -v li="$lib_ir" -v ops="$ops" \
                    'BEGIN { printf "instr\t%s\t%s\t%.2f\nlibinstr\t%s\t%s\t%.2f\n", wl, l, ir / ops, wl, l, li / ops }' \
                    >>"$msamples"
            done
        done
    fi
fi

# ---- 5. report -----------------------------------------------------------------
results=$build/results.md
compiler=$(awk -F= '$1 == "CMAKE_C_COMPILER:FILEPATH" { print $2 }' "$build/CMakeCache.txt")
{
    echo "Command: \`bench/run.sh\` (rounds $rounds, $reps x ${ms} ms per run, warmup ${warmup_ms} ms," \
        "kmem machine ${mem_mib} MiB, callgrind $cg_n ops)"
    echo
    echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
        "Linux $(uname -r); $("$compiler" --version | head -n1)"
    echo
    echo "Load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)." \
        "Quiet (90% idle) window found before timing: $quiet. Other load during the timed runs:" \
        "$other_load of $(nproc) CPUs busy with other processes."
    echo
    echo "Tree: $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)"
    echo
    echo "Peers:"
    echo
    echo "- glibc $(ldd --version | head -n1 | awk '{print $NF}')"
    for peer in "${peers[@]}"; do
        lib=${peer_lib[$peer]}
        [[ -n $lib ]] || continue
        pkg=$(dpkg -S "$lib" 2>/dev/null | head -n1 | cut -d: -f1 || true)
        ver=""
        if [[ -n $pkg ]]; then ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true); fi
        echo "- $peer $ver ($lib)"
    done
    echo
    if [[ " $suites " == *" pages "* ]]; then
        echo "## The page allocator"
        echo
        echo "One op = one pair (an allocation and a free). ns/op: per thread (median);"
        echo "Mops/s: pairs per microsecond, all threads together (median; spread min-max over"
        echo "$((rounds * reps)) samples). x kmem, x glibc: throughput relative to kmem, to glibc malloc."
        echo "CPU %: the share of the timed interval the benchmark threads were on a CPU (median;"
        echo "below 100: they slept in a lock or were preempted, e.g. by another process)."
        echo "instr/op: callgrind, one thread, steady state."
        echo
        "${suite_bin[pages]}" report "${suite_samples[pages]}"
        if [[ -n ${breakdown[pages]:-} ]]; then
            echo
            echo "kmem pair0 under callgrind: instructions per pair by function (inclusive: with"
            echo "callees; self: its own instructions; the loop's self cost includes the two calls,"
            echo "their arguments, the NULL check and the loop counter):"
            echo
            echo "| function | inclusive Ir/pair | self Ir/pair |"
            echo "|---|---:|---:|"
            echo "${breakdown[pages]}"
        fi
        echo
    fi
    if [[ " $suites " == *" slab "* ]]; then
        echo "## Object caches and kmalloc"
        echo
        echo "One op = one pair (an allocation and a free): kmem_cache_alloc + kmem_cache_free of a"
        echo "64-byte cache (cache64), kmalloc + kfree (kmalloc32, kmalloc256); the peers run"
        echo "malloc + free of the same size. ns/op: per thread (median; prodcons: wall-clock time"
        echo "per pair, the two threads together); Mops/s: pairs per microsecond, all threads"
        echo "together (median; spread min-max over $((rounds * reps)) samples). x kmem, x glibc, CPU %:"
        echo "as above. instr/op: callgrind, one thread, steady state (prodcons: producer and"
        echo "consumer in turns, 1000 objects at a time); in library: the same less the loop's"
        echo "own instructions (calls, arguments, NULL check, counter)."
        echo
        "${suite_bin[slab]}" report "${suite_samples[slab]}"
        if [[ -n ${breakdown[slab]:-} ]]; then
            echo
            echo "kmem under callgrind: instructions per pair by function (inclusive: with callees;"
            echo "self: its own instructions; the loop function's self cost is the benchmark's):"
            echo
            echo "| workload | function | inclusive Ir/pair | self Ir/pair |"
            echo "|---|---|---:|---:|"
            printf '%s' "${breakdown[slab]}"
        fi
    fi
    if [[ " $suites " == *" malloc "* ]]; then
        echo
        echo "## The malloc"
        echo
        echo "libkmem-malloc.so by LD_PRELOAD against glibc (no preload), jemalloc, mimalloc and"
        echo "tcmalloc, the same program (bench/bench_malloc.c) for all, $mrounds interleaved rounds"
        echo "of 2 repetitions. time: median (unit per workload); x glibc, x best peer: time ratios"
        echo "(below 1: faster); RSS: resident size at the end of the run; extra: minor faults per"
        echo "op (big-churn) or RSS over live bytes (frag-random). instr/op: callgrind, the pair"
        echo "loop included; in library: without the loop's own instructions."
        echo
        "${suite_bin[malloc]}" report "${suite_samples[malloc]}"
        echo
        echo "### Real programs"
        echo
        echo "tests/malloc/realprog.sh's workloads, each once per allocator and round ($prounds rounds):"
        echo "median wall seconds and peak RSS (GNU time), output compared with glibc's."
        echo
        awk -F'\t' '$1 == "rsample" { k = $2 SUBSEP $3; n[k]++; t[k, n[k]] = $4; r[k, n[k]] = $5
                if ($7 != "ok") bad[k] = 1; progs[$2] = 1; labs[$3] = 1 }
            function med(a, k, c,   i, j, v, tmp) { for (i = 1; i <= c; i++) tmp[i] = a[k, i]
                for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (tmp[j] < tmp[i]) { v = tmp[i]; tmp[i] = tmp[j]; tmp[j] = v }
                return c % 2 ? tmp[(c + 1) / 2] : (tmp[c / 2] + tmp[c / 2 + 1]) / 2 }
            END {
                printf "| program |"; for (l in labs) printf " %s s | %s RSS MiB |", l, l; print ""
                printf "|---|"; for (l in labs) printf "---:|---:|"; print ""
                for (p in progs) { printf "| %s |", p
                    for (l in labs) { k = p SUBSEP l
                        if (n[k]) { tm[p, l] = med(t, k, n[k]); rm[p, l] = med(r, k, n[k])
                            printf " %.2f%s | %.1f |", tm[p, l], bad[k] ? " MISMATCH" : "", rm[p, l] / 1024 }
                        else printf " - | - |" }
                    print "" }
                print ""
                for (l in labs) { gt = 0; gr = 0; c = 0
                    for (p in progs) if (tm[p, l] > 0 && tm[p, "glibc"] > 0) {
                        gt += log(tm[p, l] / tm[p, "glibc"]); gr += log(rm[p, l] / rm[p, "glibc"]); c++ }
                    if (c) printf "- %s: time geomean %.3fx glibc, RSS geomean %.3fx glibc (%d programs)\n", l, exp(gt / c), exp(gr / c), c
                    if (c) gm[l] = exp(gt / c) }
                best = ""; for (l in gm) if (l != "kmem" && l != "glibc" && (best == "" || gm[l] < gm[best])) best = l
                if (best != "" && ("kmem" in gm))
                    printf "- kmem against the best peer (%s): time geomean %.3fx (target <= 0.98x)\n", best, gm["kmem"] / gm[best]
            }' "${suite_samples[malloc]}"
    fi
    if [[ " $suites " == *" vmalloc "* ]]; then
        echo
        echo "## vmalloc"
        echo
        echo "One op = vmalloc(n pages) + vfree (peers: malloc + free of n pages). ns per page:"
        echo "the op's time divided by n (median over $((rounds * reps)) samples; spread min-max)."
        echo "fresh: a new ${mem_mib} MiB machine; fragmented: every other frame held, so each"
        echo "frame is mapped by its own call; touch: one byte of every page written between"
        echo "allocation and free (the page faults). Map calls: kmem_pl_map calls per op."
        echo
        "${suite_bin[vmalloc]}" report "${suite_samples[vmalloc]}"
    fi
    echo
    echo "Total time: $(($(date +%s) - started)) s"
} >"$results"
cat "$results"

# ---- 6. plots --------------------------------------------------------------------
# Median ns per pair per workload and allocator, one SVG per thread count.
if command -v python3 >/dev/null; then
    mkdir -p "$build/plots"
    for suite in $suites; do
        [[ $suite != vmalloc && $suite != malloc ]] || continue # their own tables
        python3 "$root/bench/plot.py" "${suite_samples[$suite]}" "$build/plots/$suite" \
            "$suite ($(date -u '+%Y-%m-%d'))" >&2 || say "plot of $suite failed"
    done
    if [[ " $suites " == *" malloc "* ]]; then
        python3 "$root/bench/plot_malloc.py" "${suite_samples[malloc]}" "$build/plots/malloc" \
            "malloc ($(date -u '+%Y-%m-%d'))" >&2 || say "plot of malloc failed"
    fi
    say "plots in $build/plots/"
fi
if [[ $run_hardening == yes ]]; then
    say "suite hardening: bench/hardening.sh"
    "$root/bench/hardening.sh"
fi
