#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/malloc/pyregrtest.sh LIB - Python's own regression tests under the
# preloaded malloc: /usr/bin/python3 -m test on allocation-heavy modules, with
# PYTHONMALLOC=malloc (every object through malloc) and LD_PRELOAD=LIB. A
# module that fails with the library is run again without it: it counts
# against the library only if it passes there. Needs the Debian package
# libpython3.11-testsuite (scripts/test.sh installs it); without it the test
# is skipped (exit 77). Exit 1 if a module fails only with the library.
set -u
LIB=${1:?usage: pyregrtest.sh LIB}
PY=/usr/bin/python3
MODULES="test_dict test_list test_set test_unicode test_bytes test_json test_re test_threading
test_mmap test_collections test_itertools test_tuple test_deque"
if [ ! -x "$PY" ] || ! "$PY" -c 'import test.libregrtest' 2>/dev/null ||
    [ ! -f "$("$PY" -c 'import test, os; print(os.path.dirname(test.__file__))')/test_dict.py" ]; then
    echo "skipped: python3's test suite is not installed (libpython3.11-testsuite)"
    exit 77
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pyregrtest.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 2
export PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8

# regrtest MODULE... -> "module status" lines, the status being the word
# regrtest prints after the module's name (passed, failed, crashed, ...).
regrtest() {
    timeout -k 10 300 "$PY" -m test -j2 --timeout 120 "$@" 2>&1 |
        sed -n 's/^.*\] \(test_[A-Za-z0-9_]*\) \([a-z][a-z ]*\).*$/\1 \2/p'
}

LD_PRELOAD=$LIB regrtest $MODULES >with.txt
unset LD_PRELOAD
status=0
for m in $MODULES; do
    result=$(awk -v m="$m" '$1 == m { $1 = ""; sub(/^ /, ""); print; exit }' with.txt)
    case $result in
    passed* | "skipped"* | "resource denied"*) echo "ok $m ($result)" ;;
    *)
        again=$(regrtest "$m" | awk '{ $1 = ""; sub(/^ /, ""); print; exit }')
        if [[ $again == passed* ]]; then
            echo "FAIL $m: ${result:-no result} with the library, passed without"
            status=1
        else
            echo "ok $m: ${result:-no result} with the library, ${again:-no result} without too (not counted)"
        fi
        ;;
    esac
done
exit $status
