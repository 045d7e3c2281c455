#!/bin/sh
# SPDX-License-Identifier: MIT
# kmem replay on bad traces: every kind of bad line must stop the replay
# with exit status 1 and "kmem replay: FILE:LINE: REASON" on stderr, with
# the right line; the replay must still free what is live and find every
# invariant holding (the allocator never saw the bad free).
#
# usage: bad_traces.sh KMEM WORKDIR
set -u
kmem=$1
work=$2
mkdir -p "$work"
failures=0
cases=0

# check NAME LINE REASON TRACE-TEXT: the trace (printf %b text) must fail
# at LINE with REASON.
check() {
    name=$1 line=$2 reason=$3 text=$4
    cases=$((cases + 1))
    trace="$work/$name.trace"
    printf '%b' "$text" > "$trace"
    "$kmem" replay --mem 1M --quiet --no-progress "$trace" > "$work/$name.out" 2> "$work/$name.err"
    rc=$?
    want="kmem replay: $trace:$line: $reason"
    if [ "$rc" -ne 1 ]; then
        echo "FAIL $name: exit status $rc, not 1"
        failures=$((failures + 1))
    elif ! grep -qF -- "$want" "$work/$name.err"; then
        echo "FAIL $name: stderr lacks: $want"
        sed 's/^/    /' "$work/$name.err"
        failures=$((failures + 1))
    elif ! grep -qF "page check: all invariants hold" "$work/$name.out" ||
         ! grep -qF "cache check: all invariants hold" "$work/$name.out"; then
        echo "FAIL $name: the teardown's checks did not hold"
        failures=$((failures + 1))
    elif ! grep -qF "stopped at line $line: $reason" "$work/$name.out"; then
        echo "FAIL $name: the summary does not say where it stopped"
        failures=$((failures + 1))
    fi
}

pre='# kmem trace 1\ncc task 100\nca t1 task\nkm k1 64\npa p1 2\nm 0x10 24\n'   # lines 1-6

check unknown_op 7 "unknown operation 'kmaloc'" "${pre}kmaloc k2 100\n"
check missing_field 7 "kmalloc takes ID SIZE: a field is missing" "${pre}kmalloc k2\n"
check extra_field 8 "free_pages takes ID: extra field '3'" "${pre}\nfp p1 3\n"
check bad_size 7 "size '12x' is not a number" "${pre}km k2 12x\n"
check bad_order 7 "order 11 is larger than MAX_PAGE_ORDER (10)" "${pre}pa p2 11\n"
check calloc_overflow 7 "calloc of 4294967296 * 4294967296 bytes overflows" "${pre}c 0x20 4294967296 4294967296\n"
check long_token 7 "id '01234567890123456789012345678901...' is longer than 47 characters" "${pre}km 0123456789012345678901234567890123456789012345678 1\n"
check bad_align 7 "alignment 48 is not a power of two" "${pre}a 0x30 48 100\n"
check bad_version 1 "trace format version 2 is not supported" "# kmem trace 2\nkm k1 1\n"
check unknown_id 7 "kfree of unknown id 'k9'" "${pre}kf k9\n"
check double_free 8 "kfree of id 'k1', already freed at line 7" "${pre}kf k1\nkf k1\n"
check double_free_malloc 9 "free of id '0x10', already freed at line 7" "${pre}f 0x10\n# comment\nf 0x10\n"
check live_twice 7 "kmalloc of id 'k1', which is still live (kmalloc at line 4)" "${pre}km k1 32\n"
check live_twice_other_kind 7 "malloc of id 'p1', which is still live (alloc_pages at line 5)" "${pre}m p1 32\n"
check realloc_onto_live 8 "realloc of id '0x10', which is still live (malloc at line 6)" "${pre}m 0x40 8\nr 0x40 0x10 16\n"
check unknown_cache 7 "cache_alloc from unknown cache 'inode'" "${pre}ca i1 inode\n"
check cache_exists 7 "cache_create of 'task', which exists (created at line 2)" "${pre}cc task 200\n"
check cache_kmem_name 7 "cache_create of 'kmalloc-64': kmem has a cache of that name" "${pre}cc kmalloc-64 64\n"
check cache_live 7 "cache_destroy of 'task' with 1 live object" "${pre}cd task\n"
check cache_unknown_destroy 7 "cache_destroy of unknown cache 'inode'" "${pre}cd inode\n"
check kfree_of_pages 7 "kfree of id 'p1', which alloc_pages allocated (line 5)" "${pre}kf p1\n"
check vfree_of_kmalloc 7 "vfree of id 'k1', which kmalloc allocated (line 4)" "${pre}vf k1\n"
check free_of_cache_object 7 "free of id 't1', which cache_alloc allocated (line 3)" "${pre}f t1\n"
check cache_free_of_malloc 7 "cache_free of id '0x10', which malloc allocated (line 6)" "${pre}cf 0x10\n"
check free_pages_of_kmalloc 7 "free_pages of id 'k1', which kmalloc allocated (line 4)" "${pre}fp k1\n"
check realloc_unknown 7 "realloc of unknown id '0x99'" "${pre}r 0x99 0x98 10\n"
check realloc_of_kmalloc 7 "realloc of id 'k1', which kmalloc allocated (line 4)" "${pre}r k1 k2 10\n"
check free_after_destroy 9 "cache_alloc from unknown cache 'task'" "${pre}cf t1\ncd task\nca t2 task\n"

# A missing file is an error too (exit 1), and bad usage is 2.
cases=$((cases + 2))
"$kmem" replay "$work/no-such.trace" 2> "$work/missing.err" > /dev/null
rc=$?
if [ "$rc" -ne 1 ] || ! grep -qF "cannot open $work/no-such.trace" "$work/missing.err"; then
    echo "FAIL missing file: exit status $rc"
    failures=$((failures + 1))
fi
"$kmem" replay --as buddy "$work/unknown_op.trace" 2> /dev/null > /dev/null
rc=$?
if [ "$rc" -ne 2 ]; then
    echo "FAIL bad usage: exit status $rc, not 2"
    failures=$((failures + 1))
fi

echo "$((cases - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
