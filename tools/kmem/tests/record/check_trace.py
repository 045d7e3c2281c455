#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_trace.py TRACE [options]: is TRACE a well-formed, consistent kmem
trace as KMEM_TRACE writes it (src/malloc/trace_record.c)?

Every line must be a comment or one of the recorded operations
    m ID SIZE | c ID N SIZE | a ID ALIGN SIZE | r OLD NEW SIZE | f ID
(IDs lower-case hex without 0x, "-" for NULL where allowed), the first line
"# kmem trace 1: PROGRAM (pid N)"; and the sequence must be one a heap can
have made: no allocation of an ID that is live, no free or realloc of an
ID that is not, an "a" ID aligned to ALIGN. Then the options:

    --pid N            the header's pid is N
    --expect FILE      FILE's lines appear in TRACE in that order (not
                       necessarily next to each other)
    --has-size N       some operation has SIZE N
    --no-size N        no operation has SIZE N
    --min-ops N        at least N operations
    --max-live N       at most N blocks live at the end
    --max-live-share F at most the share F of all allocations live at the end

Prints one summary line; exit status 0 if all holds, 1 (with the first
problem and its line number) if not, 2 for bad usage.
"""
import argparse
import re
import sys

ID = r"(?:[0-9a-f]+)"
NUM = r"(?:0|[1-9][0-9]*)"
OPS = {
    "m": re.compile(rf"^m ({ID}) ({NUM})$"),
    "c": re.compile(rf"^c ({ID}) ({NUM}) ({NUM})$"),
    "a": re.compile(rf"^a ({ID}) ({NUM}) ({NUM})$"),
    "r": re.compile(rf"^r ({ID}|-) ({ID}|-) ({NUM})$"),
    "f": re.compile(rf"^f ({ID})$"),
}
HEADER = re.compile(r"^# kmem trace 1: (\S+) \(pid ([0-9]+)\)$")


class Bad(Exception):
    pass


def check(path, args):
    live = {}
    sizes = set()
    ops = allocs = 0
    pid = None
    expect = []
    if args.expect:
        with open(args.expect) as f:
            expect = [line.rstrip("\n") for line in f if line.strip()]
    next_expected = 0
    with open(path) as f:
        for no, raw in enumerate(f, 1):
            if not raw.endswith("\n"):
                raise Bad(f"line {no}: not ended by a newline (a cut trace?)")
            line = raw[:-1]
            if no == 1:
                m = HEADER.match(line)
                if not m:
                    raise Bad(f"line 1: not a trace header: {line!r}")
                pid = int(m.group(2))
                continue
            if line.startswith("#") or not line.strip():
                continue
            rx = OPS.get(line[:1])
            m = rx.match(line) if rx else None
            if not m:
                raise Bad(f"line {no}: bad line {line!r}")
            if next_expected < len(expect) and line == expect[next_expected]:
                next_expected += 1
            ops += 1
            op, g = line[0], m.groups()

            def alloc(i, size):
                nonlocal allocs
                if i in live:
                    raise Bad(f"line {no}: {i} handed out again while live "
                              f"(since line {live[i]})")
                live[i] = no
                allocs += 1
                sizes.add(size)

            def free(i):
                if i not in live:
                    raise Bad(f"line {no}: {i} freed or reallocated but not live")
                del live[i]

            if op == "m":
                alloc(g[0], int(g[1]))
            elif op == "c":
                alloc(g[0], int(g[1]) * int(g[2]))
                sizes.add(int(g[2]))
            elif op == "a":
                align = int(g[1])
                if align & (align - 1) or int(g[0], 16) % align:
                    raise Bad(f"line {no}: {g[0]} is not aligned to {align}")
                alloc(g[0], int(g[2]))
            elif op == "f":
                free(g[0])
            else:
                old, new, size = g[0], g[1], int(g[2])
                if new == "-" and size != 0:
                    raise Bad(f"line {no}: a failed realloc was recorded")
                if old == "-" and new == "-":
                    raise Bad(f"line {no}: realloc of nothing to nothing")
                if old != "-":
                    free(old)
                if new != "-":
                    alloc(new, size)
    if pid is None:
        raise Bad("empty file")
    if args.pid is not None and pid != args.pid:
        raise Bad(f"header pid {pid}, expected {args.pid}")
    if next_expected < len(expect):
        raise Bad(f"expected line {next_expected + 1} ({expect[next_expected]!r}) "
                  f"not found in order")
    for n in args.has_size:
        if n not in sizes:
            raise Bad(f"no operation of size {n}")
    for n in args.no_size:
        if n in sizes:
            raise Bad(f"an operation of size {n}, which must not be there")
    if ops < args.min_ops:
        raise Bad(f"{ops} operations, expected at least {args.min_ops}")
    if args.max_live is not None and len(live) > args.max_live:
        raise Bad(f"{len(live)} blocks live at the end, expected at most {args.max_live}")
    if args.max_live_share is not None and len(live) > args.max_live_share * allocs:
        raise Bad(f"{len(live)} of {allocs} allocations live at the end, expected at most "
                  f"{args.max_live_share:.0%}")
    return ops, allocs, len(live)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trace")
    p.add_argument("--pid", type=int)
    p.add_argument("--expect")
    p.add_argument("--has-size", type=int, action="append", default=[])
    p.add_argument("--no-size", type=int, action="append", default=[])
    p.add_argument("--min-ops", type=int, default=1)
    p.add_argument("--max-live", type=int)
    p.add_argument("--max-live-share", type=float)
    args = p.parse_args()
    try:
        ops, allocs, live = check(args.trace, args)
    except (Bad, OSError, UnicodeDecodeError) as e:
        print(f"check_trace: {args.trace}: {e}", file=sys.stderr)
        return 1
    print(f"check_trace: {args.trace}: ok, {ops} operations, {allocs} allocations, "
          f"{live} live at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
