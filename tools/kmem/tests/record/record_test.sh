#!/bin/sh
# SPDX-License-Identifier: MIT
#
# record_test.sh CASE LIB PROG KMEM SRCDIR - the tests of KMEM_TRACE (the
# recorder in libkmem-malloc.so), KMEM_STATS=signal and kmem stat.
#   LIB     libkmem-malloc.so
#   PROG    record_prog (record_prog.c: the test program, not linked with kmem)
#   KMEM    the kmem command
#   SRCDIR  the source tree (examples/traces, the checker)
#
# Cases (one ctest test each, tools/kmem/tests/record.cmake):
#   calls            every entry point is recorded as it should be, in order
#   calls_hardened   the same with KMEM_MALLOC_HARDENED=1
#   calls_debug      the same with KMEM_DEBUG=FZP (debugged classes)
#   threads          4 threads handing blocks to each other: the trace never
#                    frees an id that is not live nor hands out a live one
#   fork             a forked child records nothing; a child that execs with
#                    the same FILE records nothing either (the file is the
#                    parent's); with %p the exec'd program gets its own file
#   realprog         /bin/ls and python3 (if installed) recorded and checked
#   off              no KMEM_TRACE, no file; an unwritable one: a message,
#                    and the program runs
#   replay           kmem replay --as kmalloc of the example traces exits 0
#                    (skipped, 77, while kmem replay is not built)
#   stat_exit        kmem stat -- PROGRAM: the report, the exit status
#   stat_signal      KMEM_STATS=signal: reports on SIGUSR2 while 3 threads
#                    allocate, and a normal exit
#   stat_pid         kmem stat --pid: a running program's report; refused for
#                    a process that does not catch SIGUSR2
set -u
[ $# -eq 5 ] || { echo "usage: $0 CASE LIB PROG KMEM SRCDIR" >&2; exit 2; }
CASE=$1 LIB=$2 PROG=$3 KMEM=$4 SRC=$5
CHECK="python3 $SRC/tools/kmem/tests/record/check_trace.py"
T=$(mktemp -d "${TMPDIR:-/tmp}/kmem-record.XXXXXX") || exit 2
BG= # a background process of ours to stop
cleanup() {
    [ -z "$BG" ] || kill "$BG" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "record_test $CASE: FAIL: $*" >&2
    exit 1
}

# run FILE PROGRAM...: PROGRAM on the library, recorded into FILE.
run() {
    file=$1
    shift
    KMEM_TRACE=$file LD_PRELOAD=$LIB "$@"
}

calls() {
    run "$T/calls.trace" "$PROG" calls "$T/expected" || fail "record_prog calls failed"
    $CHECK "$T/calls.trace" --expect "$T/expected" || fail "the trace of the calls"
}

threads() {
    run "$T/threads.trace" "$PROG" threads 4 || fail "record_prog threads failed"
    # What stays live is glibc's own (the threads' TLS vectors).
    $CHECK "$T/threads.trace" --min-ops 50000 --max-live 16 || fail "the threads' trace"
}

fork_case() {
    # env execs the program: $! is its pid (and env's own trace is replaced
    # by the program's, the same process).
    env KMEM_TRACE="$T/fork.trace" LD_PRELOAD="$LIB" "$PROG" fork "$PROG" &
    pid=$!
    wait $pid || fail "record_prog fork failed"
    $CHECK "$T/fork.trace" --pid $pid --has-size 4444 --has-size 54321 --no-size 12345 \
        --no-size 777 || fail "the forking parent's trace"
    # With %p: the parent's file and the exec'd program's, nothing from the
    # forked child.
    env KMEM_TRACE="$T/forkp.%p.trace" LD_PRELOAD="$LIB" "$PROG" fork "$PROG" &
    pid=$!
    wait $pid || fail "record_prog fork (%p) failed"
    $CHECK "$T/forkp.$pid.trace" --pid $pid --has-size 54321 --no-size 12345 --no-size 777 ||
        fail "the parent's trace with %p"
    n=0
    for f in "$T"/forkp.*.trace; do
        n=$((n + 1))
        [ "$f" = "$T/forkp.$pid.trace" ] && continue
        other=${f#"$T"/forkp.}
        other=${other%.trace}
        $CHECK "$f" --pid "$other" --has-size 777 --no-size 54321 ||
            fail "the exec'd program's own trace"
    done
    [ $n -eq 2 ] || fail "$n trace files with %p, expected 2 (the parent's, the exec'd child's)"
}

realprog() {
    run "$T/ls.trace" /bin/ls -la /usr/lib >/dev/null || fail "ls failed"
    # Plausible ends: a program frees much of what it allocated, if not all
    # (ls leaves about half, python3 a few percent).
    $CHECK "$T/ls.trace" --min-ops 100 --max-live-share 0.9 || fail "the trace of ls"
    py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
    if [ -n "$py" ] && [ -x "$py" ]; then
        # bytearray(n) asks malloc for n + 1 bytes (above pymalloc's 512).
        out=$(run "$T/py.trace" "$py" -c 'import json, re
d = {str(i): [i] * (i % 7) for i in range(3000)}
s = json.dumps(d)
b = bytearray(123457)
print(len(json.loads(s)), len(re.findall(r"[0-9]+", s)), len(b))') || fail "python3 failed"
        [ "$out" = "3000 11994 123457" ] || fail "python3 printed '$out'"
        $CHECK "$T/py.trace" --min-ops 5000 --has-size 123458 --max-live-share 0.5 ||
            fail "the trace of python3"
    else
        echo "record_test realprog: no python3 executable; only ls"
    fi
}

off() {
    (cd "$T" && LD_PRELOAD=$LIB "$PROG" calls "$T/expected") || fail "untraced run failed"
    [ "$(ls "$T")" = expected ] || fail "a file appeared without KMEM_TRACE: $(ls "$T")"
    run /nonexistent/dir/x.trace "$PROG" calls "$T/expected" 2>"$T/err" ||
        fail "the program failed with an unwritable KMEM_TRACE"
    grep -q '^kmem: KMEM_TRACE=/nonexistent/dir/x.trace: cannot open it' "$T/err" ||
        fail "no message for an unwritable KMEM_TRACE: $(cat "$T/err")"
}

replay() {
    if ! "$KMEM" replay --help >/dev/null 2>&1; then
        echo "record_test replay: kmem replay --help fails: replay not built yet; skipped"
        exit 77
    fi
    n=0
    for f in "$SRC"/examples/traces/sqlite3.trace "$SRC"/examples/traces/gawk.trace; do
        [ -f "$f" ] || fail "no $f"
        $CHECK "$f" >/dev/null || fail "$f is not a consistent trace"
        "$KMEM" replay --as kmalloc "$f" >"$T/replay.out" 2>&1 ||
            fail "kmem replay --as kmalloc $f: $(tail -5 "$T/replay.out")"
        n=$((n + 1))
    done
    echo "record_test replay: $n traces replayed"
}

stat_exit() {
    "$KMEM" stat -- "$PROG" exit 3 2>"$T/err"
    rc=$?
    [ $rc -eq 3 ] || fail "kmem stat passed exit status $rc, not 3"
    grep -q '^kmem-malloc: pid [0-9]*: memory [0-9]* KiB' "$T/err" || fail "no summary"
    grep -q '^Node 0, zone *Normal' "$T/err" || fail "no buddyinfo"
    grep -q '^slabinfo - version: 2.1' "$T/err" || fail "no slabinfo"
    grep -q '^malloc-1024 ' "$T/err" || fail "no malloc class in slabinfo"
    # --out: the report in FILE, the program's stderr its own.
    "$KMEM" stat --lib "$LIB" --out "$T/report" -- sh -c "echo own >&2; \"$PROG\" exit 0" \
        2>"$T/err" || fail "kmem stat --out failed"
    [ "$(cat "$T/err")" = own ] || fail "the program's stderr was not its own: $(cat "$T/err")"
    [ "$(grep -c '^slabinfo - version' "$T/report")" -ge 1 ] || fail "no report in --out FILE"
    "$KMEM" stat -- sh -c 'kill -TERM $$' 2>/dev/null
    rc=$?
    [ $rc -eq 143 ] || fail "a program killed by SIGTERM gave $rc, not 143"
    "$KMEM" stat -- /nonexistent/program 2>/dev/null
    rc=$?
    [ $rc -eq 127 ] || fail "a missing program gave $rc, not 127"
    "$KMEM" stat --bogus 2>/dev/null
    [ $? -eq 2 ] || fail "a bad option is not exit status 2"
    "$KMEM" stat --help | grep -q '^usage: kmem stat' || fail "no --help"
}

stat_signal() {
    KMEM_STATS=signal KMEM_STATS_FILE=$T/stats LD_PRELOAD=$LIB timeout 60 "$PROG" signal 20 ||
        fail "record_prog signal failed (or hung)"
    grep -q '^kmem-malloc: pid [0-9]*: memory' "$T/stats" || fail "no summary in the reports"
    grep -q '^Node 0, zone *Normal' "$T/stats" || fail "no buddyinfo in the reports"
    # Without KMEM_STATS=signal the signal keeps its default action (it kills).
    if LD_PRELOAD=$LIB "$PROG" signal 1 >/dev/null 2>&1; then
        fail "SIGUSR2 was caught without KMEM_STATS=signal"
    fi
}

# start_waiting VAR=VALUE...: record_prog wait in the background, its stdin a
# fifo we hold, with the library and KMEM_STATS=signal; sets BG.
start_waiting() {
    rm -f "$T/fifo" "$T/ready"
    mkfifo "$T/fifo"
    env "$@" KMEM_STATS=signal LD_PRELOAD="$LIB" "$PROG" wait <"$T/fifo" >"$T/ready" 2>"$T/wait.err" &
    BG=$!
    exec 9>"$T/fifo"
    i=0
    until grep -q ready "$T/ready" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "record_prog wait did not start"
        sleep 0.02
    done
}

stop_waiting() {
    exec 9>&-
    wait "$BG" || fail "record_prog wait exited badly"
    BG=
}

stat_pid() {
    start_waiting KMEM_STATS_FILE="$T/stats"
    "$KMEM" stat --pid "$BG" >"$T/out" 2>&1 || fail "kmem stat --pid failed: $(cat "$T/out")"
    grep -q "^kmem-malloc: pid $BG: memory" "$T/out" || fail "no report from --pid: $(cat "$T/out")"
    grep -q '^slabinfo - version: 2.1' "$T/out" || fail "no slabinfo from --pid"
    "$KMEM" stat --pid "$BG" --out "$T/out2" || fail "a second kmem stat --pid failed"
    [ "$(grep -c '^slabinfo - version' "$T/out2")" -eq 1 ] || fail "the second report is not one"
    stop_waiting
    # No KMEM_STATS_FILE, stderr a file: the report is followed there.
    start_waiting KMEM_X=1
    "$KMEM" stat --pid "$BG" >"$T/out" 2>&1 || fail "kmem stat --pid (stderr) failed"
    grep -q '^slabinfo - version: 2.1' "$T/out" || fail "no report from the process's stderr"
    stop_waiting
    # A process that does not catch SIGUSR2 is not sent it.
    sleep 30 &
    BG=$!
    "$KMEM" stat --pid "$BG" 2>"$T/err"
    [ $? -eq 1 ] || fail "kmem stat --pid of a process without the handler did not refuse"
    grep -q 'does not catch SIGUSR2' "$T/err" || fail "no reason given: $(cat "$T/err")"
    kill -0 "$BG" || fail "the process was killed"
}

case $CASE in
calls) calls ;;
calls_hardened) export KMEM_MALLOC_HARDENED=1 && calls ;;
calls_debug) export KMEM_DEBUG=FZP && calls ;;
threads) threads ;;
fork) fork_case ;;
realprog) realprog ;;
off) off ;;
replay) replay ;;
stat_exit) stat_exit ;;
stat_signal) stat_signal ;;
stat_pid) stat_pid ;;
*) fail "no such case" ;;
esac
echo "record_test $CASE: ok"
