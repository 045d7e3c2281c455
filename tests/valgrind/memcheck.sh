#!/bin/sh
# tests/valgrind/memcheck.sh DEMO: in a -DKMEM_VALGRIND=ON build, memcheck
# sees kmem's cache objects as allocations: a clean run has no error, and each
# misuse of memcheck_demo is reported as memcheck reports malloc's.
set -u
demo=$1
command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed, skipped"; exit 77; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
# expect MODE ERRORS PATTERN: memcheck's error count and a line of its report.
expect() {
  valgrind --tool=memcheck --error-exitcode=99 --log-file="$log" "$demo" "$1" >/dev/null 2>&1
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
  if [ "$2" = 0 ] && [ "$errors" != 0 ] || [ "$2" != 0 ] && [ "${errors:-0}" = 0 ] ||
     ! grep -q -- "$3" "$log"; then
    echo "FAIL $1: expected $2 errors and \"$3\"; memcheck said:"
    sed 's/^/  | /' "$log" | head -40
    failed=1
  else
    echo "ok $1 ($errors errors)"
  fi
}
expect clean 0 "ERROR SUMMARY: 0 errors"
expect uaf 1 "Invalid read of size 1"
expect kuaf 1 "Invalid write of size 1"
expect uninit 1 "depends on uninitialised value"
expect overrun 1 "Invalid read of size 1"
exit $failed
