#!/bin/sh
# tests/malloc/stats_exit.sh LIB: KMEM_STATS=exit makes a program under the
# preloaded malloc write its machine summary, resident memory by holder,
# buddyinfo and slabinfo to stderr when it exits; without it, nothing.
set -u
lib=$1
err=$(mktemp)
trap 'rm -f "$err"' EXIT
fail() { echo "stats_exit: $*" >&2; sed 's/^/  | /' "$err" >&2; exit 1; }

KMEM_STATS=exit LD_PRELOAD=$lib perl -e 'my @a = map { "x" x $_ } 1 .. 2000; print scalar(@a), "\n"' >/dev/null 2>"$err" || fail "perl failed"
grep -q '^kmem-malloc: pid [0-9]*: memory [0-9]* KiB in [0-9]* sections' "$err" ||
  fail "no machine summary line"
grep -q '^kmem-malloc: resident KiB: free [0-9]*, slabs [0-9]*' "$err" || fail "no resident line"
grep -q '^Node 0, zone *Normal' "$err" || fail "no buddyinfo"
grep -q '^slabinfo - version: 2.1' "$err" || fail "no slabinfo header"
grep -q '^malloc-[0-9]* ' "$err" || fail "no malloc class in slabinfo"

LD_PRELOAD=$lib perl -e 'my @a = map { "x" x $_ } 1 .. 2000; print scalar(@a), "\n"' >/dev/null 2>"$err" || fail "perl failed"
[ ! -s "$err" ] || fail "stats written without KMEM_STATS"
echo "stats_exit: ok"
