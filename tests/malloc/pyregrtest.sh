#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# pyregrtest.sh LIB - Python's own regression tests (Debian's
# libpython3.11-testsuite) under LD_PRELOAD=LIB, a malloc library
# (libkmem-malloc.so), with PYTHONMALLOC=malloc so that every object of the
# interpreter comes from it.
#
# /usr/bin/python3 -m test -j2 runs the modules below with the library (the
# regrtest process and its workers all have it). A module that does not pass
# is run again without the library, to tell our bugs from the tests that fail
# here anyway, and once more alone with the library, for its output. One line
# per module:
#   ok NAME        passed with the library
#   skipped NAME   skipped by the test itself, or not in this suite
#   FAIL NAME      fails with the library, passes without it: the failures,
#                  tracebacks or stacks of a hang follow. "intermittent" when
#                  it passed with the library when run again alone (a race:
#                  still counted, unless PYREGRTEST_ALLOW_INTERMITTENT=1)
#   failing NAME   fails without the library too (not counted)
# PYREGRTEST_MODULES="test_x test_y" runs those instead of the list below.
# When something failed the logs are kept and their folder is named.
# Exit status 0, 1 if any FAIL, 77 if the test suite is not installed.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 LIB" >&2
    exit 2
fi
LIB=$(readlink -f -- "$1")
if [ ! -r "$LIB" ]; then
    echo "pyregrtest.sh: $1: not a readable file" >&2
    exit 2
fi

# Quick ones (a few seconds each at most) that allocate a lot: containers,
# strings, bytes, parsers, pickling, threads, fork, mmap, ctypes, tracemalloc.
MODULES=(
    test_dict test_list test_set test_unicode test_bytes test_json test_re
    test_threading test_mmap test_collections test_itertools test_tuple
    test_deque test_string test_array test_heapq test_pickle test_struct
    test_sort test_ordered_dict test_functools test_class test_enumerate
    test_weakref test_weakset test_long test_memoryview test_codecs
    test_marshal test_copy test_descr test_gc test_generators test_exceptions
    test_hashlib test_zlib test_ctypes test_tracemalloc test_os test_fork1
    test_sys test_csv test_xml_etree test_thread test_threading_local
    test_decimal test_random test_defaultdict test_dictviews test_userdict
    test_unicodedata
)
if [ -n "${PYREGRTEST_MODULES:-}" ]; then
    read -r -a MODULES <<<"$PYREGRTEST_MODULES"
fi
TEST_TIMEOUT=60  # seconds for one module (the slowest takes ~12): regrtest
                 # dumps its stacks and ends it
RUN_LIMIT=400    # seconds for one regrtest run (one that hangs is killed)

PY=/usr/bin/python3 # not a pyenv shim
if [ ! -x "$PY" ]; then
    echo "skipped: $PY is not installed"
    exit 77
fi
if ! "$PY" -c 'import test.libregrtest, test.test_dict' 2>/dev/null; then
    echo "skipped: Python's test suite is not installed (Debian: libpython3.11-testsuite)"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pyregrtest.XXXXXX") || exit 2
trap '[ -n "${PYREGRTEST_KEEP:-}" ] || rm -rf "$TMP"' EXIT

unset LD_PRELOAD PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONINSPECT PYTHONWARNINGS
export PYTHONMALLOC=malloc PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1
export TMPDIR=$TMP # the tests' temporary files: removed with TMP

now_ns() { date +%s%N; }
seconds() { # nanoseconds -> "S.S"
    local ds=$(($1 / 100000000))
    printf '%d.%d' $((ds / 10)) $((ds % 10))
}

# The modules this Python's test suite has (Debian leaves some out, such as
# test_capi and test_sqlite3).
mapfile -t PRESENT < <("$PY" - "${MODULES[@]}" <<'EOF'
import importlib.util, sys
for name in sys.argv[1:]:
    if importlib.util.find_spec("test." + name) is not None:
        print(name)
EOF
)
declare -A present=()
for m in "${PRESENT[@]}"; do
    present[$m]=1
done

# regrtest LOG PRELOAD MODULE...: run the modules (-W: the verbose output of
# a module that fails), the output to LOG; sets ELAPSED (ns) and STATUS.
regrtest() {
    local log=$1 preload=$2 t0
    shift 2
    local work=$TMP/work.$RANDOM
    mkdir -p "$work"
    t0=$(now_ns)
    # (The braces take bash's own notice of a crash.)
    { (cd "$work" && timeout -k 10 $RUN_LIMIT ${preload:+env LD_PRELOAD="$preload"} \
        "$PY" -m test -j2 -W --timeout $TEST_TIMEOUT --tempdir "$work" "$@") \
        >"$log" 2>&1 </dev/null; } 2>/dev/null
    STATUS=$?
    ELAPSED=$(($(now_ns) - t0))
    rm -rf "$work"
}

# result LOG NAME: what regrtest's progress line in LOG says of the module
# ("0:00:03 load avg: 1.2 [ 4/9/1] test_x failed (2 errors) -- running: ..."
# gives "failed (2 errors)"), empty if nothing.
result() {
    sed -n 's/^[0-9:]* .*\[ *[0-9][0-9/]*\] \(test_[A-Za-z0-9_.]*\) \(.*\)$/\1 \2/p' "$1" |
        sed 's/ -- running: .*//' |
        awk -v m="$2" '$1 == m { $1 = ""; r = substr($0, 2) } END { print r }'
}

# verdict LOG NAME: pass, skip, fail or none (no result: the run died).
verdict() {
    case $(result "$1" "$2") in
    "") echo none ;;
    passed*) echo pass ;;
    skipped* | "ran no tests"*) echo skip ;;
    *) echo fail ;;
    esac
}

# output LOG NAME: what the log says between NAME's progress line and the
# next one (or regrtest's summary), from the first failure, traceback or
# fatal error on (else its last 60 lines), at most 80 lines.
output() {
    awk -v m="$2" '
        /^[0-9]+:[0-9][0-9]:[0-9][0-9] .*\[ *[0-9][0-9\/]*\] test_/ {
            if (on) exit
            # The name right after "[n/N]" (not one in "-- running: ...").
            for (i = 1; i < NF; i++)
                if ($i ~ /\]$/) break
            if ($(i + 1) == m) { on = 1; next }
        }
        /^== Tests result/ { exit }
        on { line[n++] = $0 }
        END {
            for (first = 0; first < n; first++)
                if (line[first] ~ /^(=====|Fatal Python error|Traceback|Timeout \()/)
                    break
            if (first == n)
                first = n > 60 ? n - 60 : 0
            for (i = first; i < n && i < first + 80; i++)
                print line[i]
        }' "$1" | sed 's/^/    /'
}

echo "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), PYTHONMALLOC=malloc, LD_PRELOAD=$LIB"
regrtest "$TMP/lib.log" "$LIB" "${PRESENT[@]}"
lib_time=$ELAPSED lib_status=$STATUS
if ! grep -q 'Tests result:' "$TMP/lib.log"; then
    echo "the run with the library did not finish (exit status $lib_status); its end:"
    tail -n 40 "$TMP/lib.log" | sed 's/^/    /'
fi

# The ones that did not pass, without the library.
bad=()
for m in "${PRESENT[@]}"; do
    case $(verdict "$TMP/lib.log" "$m") in
    fail | none) bad+=("$m") ;;
    esac
done
plain_time=0
: >"$TMP/plain.log"
if [ ${#bad[@]} -gt 0 ]; then
    regrtest "$TMP/plain.log" "" "${bad[@]}"
    plain_time=$ELAPSED
fi

FAILED=0
nok=0 nskip=0 nfail=0 nintermittent=0 nfailing=0
for m in "${MODULES[@]}"; do
    if [ -z "${present[$m]:-}" ]; then
        echo "skipped $m (not in this Python's test suite)"
        nskip=$((nskip + 1))
        continue
    fi
    what=$(result "$TMP/lib.log" "$m")
    case $(verdict "$TMP/lib.log" "$m") in
    pass)
        echo "ok $m"
        nok=$((nok + 1))
        continue
        ;;
    skip)
        echo "skipped $m ($what)"
        nskip=$((nskip + 1))
        continue
        ;;
    esac
    [ -n "$what" ] || what="no result (regrtest's exit status $lib_status)"
    case $(verdict "$TMP/plain.log" "$m") in
    pass | skip) ;;
    *)
        echo "failing $m (with the library: $what; fails without it too: not counted)"
        nfailing=$((nfailing + 1))
        continue
        ;;
    esac
    # Alone, with the library: again, or only now and then (a race)?
    regrtest "$TMP/alone.$m.log" "$LIB" "$m"
    alone=$(result "$TMP/alone.$m.log" "$m")
    [ -n "$alone" ] || alone="no result (regrtest's exit status $STATUS)"
    case $(verdict "$TMP/alone.$m.log" "$m") in
    pass | skip)
        echo "FAIL $m, intermittent (with the library: $what in the full run, $alone when run again alone; passes without it)"
        echo "  its output in the full run:"
        output "$TMP/lib.log" "$m"
        nintermittent=$((nintermittent + 1))
        [ -n "${PYREGRTEST_ALLOW_INTERMITTENT:-}" ] || FAILED=1
        ;;
    *)
        echo "FAIL $m (with the library: $what; alone: $alone; passes without it)"
        if [ -z "$(result "$TMP/alone.$m.log" "$m")" ]; then
            echo "  the end of the output, run alone with the library:"
            tail -n 40 "$TMP/alone.$m.log" | sed 's/^/    /'
        else
            echo "  its output, run alone with the library:"
            output "$TMP/alone.$m.log" "$m"
        fi
        nfail=$((nfail + 1))
        FAILED=1
        ;;
    esac
done

echo "with the library: $(seconds $lib_time) s for ${#PRESENT[@]} modules; without: $(seconds $plain_time) s for the ${#bad[@]} that did not pass"
echo "pyregrtest: $nok ok, $nfail FAIL, $nintermittent FAIL intermittent, $nfailing failing without the library too, $nskip skipped"
if [ $((nfail + nintermittent + nfailing)) -gt 0 ] && [ -z "${PYREGRTEST_KEEP:-}" ]; then
    PYREGRTEST_KEEP=1
    echo "the logs are kept in $TMP"
fi
exit $FAILED
