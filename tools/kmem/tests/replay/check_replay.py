#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks of kmem replay that need more than a golden file.

usage: check_replay.py KMEM SRCDIR WORKDIR TEST [OPERATIONS]
  json      --json is valid JSON (python3 -m json.tool) with every snapshot,
            zone, cache and summary field; also for a trace that fails
  modes     --as kmalloc and --as pages on a malloc-style trace (hex ids,
            every malloc-family line), with the sizes and classes each gives
  failures  allocations kmem cannot serve are counted, and their frees skipped
  stdin     TRACE '-' reads standard input
  pictures  --svg DIR and --html FILE write their files
  big       a generated trace of OPERATIONS (200000) operations, in both
            modes, ends with every check holding
"""
import json
import os
import re
import subprocess
import sys

KMEM, SRC, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
BOOK = os.path.join(SRC, "examples", "traces", "book.trace")
MALLOC = os.path.join(SRC, "tools", "kmem", "tests", "replay", "malloc.trace")
GEN = os.path.join(SRC, "tools", "kmem", "tests", "replay", "gen_trace.py")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def replay(*args, stdin=None, rc=0):
    p = subprocess.run([KMEM, "replay", "--no-progress", *args], input=stdin,
                       capture_output=True, text=True)
    check(p.returncode == rc, "kmem replay %s: exit status %d, not %d\n%s"
          % (" ".join(args), p.returncode, rc, p.stderr))
    return p


def summary_holds(out):
    for what in ("page check", "cache check", "vmalloc check"):
        check(what + ": all invariants hold" in out, what + " did not hold")


def write(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def valid_json(text, name):
    path = write(name, text)
    p = subprocess.run([sys.executable, "-m", "json.tool", path], capture_output=True,
                       text=True)
    check(p.returncode == 0, "%s is not valid JSON: %s" % (name, p.stderr))
    return json.loads(text)


ZONE_KEYS = {"name", "managed_pages", "free_pages", "nr_free", "unusable", "extfrag"}
CACHE_KEYS = {"name", "object_size", "size", "objs_per_slab", "active_objs", "total_objs",
              "slabs", "full", "partial", "empty", "live_objects", "requested_bytes",
              "internal_fragmentation"}


def test_json():
    doc = valid_json(replay("--mem", "256K", "--json", BOOK).stdout, "book.json")
    check(doc["machine"]["mem_size"] == 256 * 1024, "machine.mem_size")
    check(doc["mode"] == "kmalloc", "mode")
    snaps = doc["snapshots"]
    labels = [s["label"] for s in snaps]
    for mark in ("a fresh 256 KB machine", "after the 21 KB request",
                 "caches and kmallocs in use", "some freed", "all freed"):
        check(mark in labels, "no snapshot for mark '%s'" % mark)
    # The default --every: about 20 over a file, plus the marks.
    check(len(snaps) >= 10, "only %d snapshots" % len(snaps))
    steps = [s["step"] for s in snaps]
    check(steps == sorted(steps), "snapshots out of order")
    for s in snaps:
        check({"step", "line", "label", "zones", "caches"} <= set(s), "snapshot keys")
        check(len(s["zones"]) == 1, "a 256 KB machine has one zone")
        for z in s["zones"]:
            check(ZONE_KEYS <= set(z), "zone keys %s" % sorted(z))
            check(len(z["nr_free"]) == 11 and len(z["unusable"]) == 11
                  and len(z["extfrag"]) == 11, "11 orders")
            pages = sum(n << o for o, n in enumerate(z["nr_free"]))
            check(pages == z["free_pages"], "nr_free adds up to free_pages")
        for c in s["caches"]:
            check(CACHE_KEYS <= set(c), "cache keys %s" % sorted(c))
    inuse = snaps[labels.index("caches and kmallocs in use")]
    task = [c for c in inuse["caches"] if c["name"] == "task"]
    check(len(task) == 1 and task[0]["live_objects"] == 3
          and task[0]["requested_bytes"] == 3 * 1800, "task: 3 live objects of 1800 bytes")
    k128 = [c for c in inuse["caches"] if c["name"] == "kmalloc-128"]
    check(len(k128) == 1 and k128[0]["live_objects"] == 2
          and k128[0]["requested_bytes"] == 200, "kmalloc-128: 2 live, 200 bytes")
    dma = inuse["zones"][0]
    check(dma["free_pages"] < 64, "pages in use")
    summary = doc["summary"]
    check(summary["operations"] == 24 and summary["marks"] == 5, "operation counts")
    check(summary["by_operation"]["cache_alloc"] == 5, "by_operation")
    check(summary["error"] is None, "no error")
    check(summary["page_check_violations"] == 0, "page check")

    # --summary: the last snapshot only; --quiet: none.
    doc = valid_json(replay("--mem", "256K", "--json", "--summary", BOOK).stdout, "last.json")
    check(len(doc["snapshots"]) == 1 and doc["snapshots"][0]["step"] == 24, "--summary")
    doc = valid_json(replay("--mem", "256K", "--json", "-q", BOOK).stdout, "quiet.json")
    check(doc["snapshots"] == [], "--quiet")

    # A bad trace still gives a whole document, with the error.
    bad = write("bad.trace", "km a 1\nkf a\nkf a\n")
    doc = valid_json(replay("--json", bad, rc=1).stdout, "bad.json")
    check(doc["summary"]["error"] == {"line": 3, "message": "kfree of id 'a', already freed at "
                                      "line 2"}, "error in the JSON summary")

    # Labels with quotes, backslashes and bytes that are not UTF-8.
    odd = os.path.join(WORK, "odd.trace")
    with open(odd, "wb") as f:
        f.write(b'mark "quoted" \\ back\tslash \xff\xfe \xc3\xa9t\xc3\xa9\nkm a 1\n')
    doc = valid_json(replay("--json", odd).stdout, "odd.json")
    check(doc["snapshots"][0]["label"] == '"quoted" \\ back\tslash \ufffd\ufffd \u00e9t\u00e9',
          "label escaped: %r" % doc["snapshots"][0]["label"])


def internal_row(out, name):
    """The numbers of a row of the last internal fragmentation table."""
    rows = re.findall(r"^  %s +(\d+) +(\d+) +(\d+) +([\d.]+)%%$" % re.escape(name), out, re.M)
    return tuple(rows[-1]) if rows else None


def test_modes():
    out = replay("--mem", "16M", "--every", "0", MALLOC).stdout
    first = out.split("== after 14 operations")[0]
    # calloc(16, 12) = 192 bytes, kmalloc-192; memalign(64, 80): kmalloc-96
    # is only 32-aligned, so kmalloc-128; realloc 24 -> 20 stays in
    # kmalloc-32; 100 -> 300 moves to kmalloc-512.
    for name, objects, asked in (("kmalloc-192", 1, 192), ("kmalloc-128", 1, 80),
                                 ("kmalloc-32", 1, 20), ("kmalloc-512", 1, 300),
                                 ("kmalloc-64", 1, 50), ("kmalloc-8k", 1, 6000)):
        row = internal_row(first, name)
        check(row and row[:2] == (str(objects), str(asked)),
              "--as kmalloc: %s row %s" % (name, row))
    check("malloc-family sizes beyond 4 MB, as vmalloc: 1" in out, "vmalloc fallback")
    check("memaligns beyond a page, as alloc_pages: 1" in out, "page fallback")
    check("live at the end: 2 ids, 6020 bytes asked for" in out, "live at the end")
    check("\n  realloc        4\n" in out and "\n  memalign       2\n" in out, "counts")
    summary_holds(out)

    out = replay("--mem", "16M", "--every", "0", "--as", "pages", MALLOC).stdout
    first = out.split("== after 14 operations")[0]
    # Seven blocks: five of one page, 8 KB for memalign(8192, 100), 8 KB for 6000 bytes.
    check(internal_row(first, "pages") == ("7", "6742", "36864", "81.7"),
          "--as pages after the first allocations: %s" % (internal_row(first, "pages"),))
    check(internal_row(out, "pages") == ("2", "6020", "12288", "51.0"),
          "--as pages at the end: %s" % (internal_row(out, "pages"),))
    check(internal_row(first, "kmalloc-192") is None, "--as pages uses no kmalloc class")
    check("malloc-family sizes beyond 4 MB, as vmalloc: 1" in out, "pages: vmalloc fallback")
    check("memaligns beyond a page" not in out, "pages: no page fallback")
    summary_holds(out)


def test_failures():
    trace = write("fail.trace", "pa big 10\nm 0x1 5M\nvm v 0\nkm k 100\nfp big\nf 0x1\nvf v\n"
                                "kf k\nm - 10\nr - - 0\n")
    out = replay("--mem", "256K", "-q", trace).stdout
    check("allocations that failed (NULL): 3" in out, "3 failed allocations")
    check("recorded as NULL in the trace (skipped): 2" in out, "2 recorded NULLs")
    check("operations: 10 " in out, "every line counted")
    summary_holds(out)
    # A realloc kmem cannot serve leaves the old block, under the new id.
    trace = write("realloc-fail.trace", "m a 100\nr a b 3M\nf b\nm c 10\nr c c 5M\nr c d 20\n"
                                        "f d\n")
    out = replay("--mem", "256K", "-q", trace).stdout
    check("allocations that failed (NULL): 2" in out, "2 failed reallocs")
    check("live at the end: 0 ids" in out, "the old blocks were freed under their new ids")
    summary_holds(out)


def test_stdin():
    with open(MALLOC) as f:
        text = f.read()
    out = replay("--mem", "16M", "-", stdin=text).stdout
    check(out.startswith("kmem replay: <stdin>\n"), "the title is <stdin>")
    check("every 10000 operations" in out, "a pipe's default --every")
    check("live at the end: 2 ids" in out, "replayed from stdin")
    summary_holds(out)


def test_pictures():
    pics = os.path.join(WORK, "pictures")
    html = os.path.join(WORK, "report.html")
    replay("--mem", "256K", "--svg", pics, "--html", html, "-q", BOOK)
    for name in ("buddy-dma.svg", "slabs.svg", "frag.svg"):
        path = os.path.join(pics, name)
        check(os.path.exists(path) and os.path.getsize(path) > 0, "%s written" % name)
    check(os.path.exists(html) and os.path.getsize(html) > 0, "report.html written")
    replay("--mem", "64M", "--svg", pics, "-q", MALLOC)
    check(os.path.exists(os.path.join(pics, "buddy-normal.svg")), "buddy-normal.svg written")


def test_big():
    trace = os.path.join(WORK, "big.trace")
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 200000
    subprocess.run([sys.executable, GEN, str(n), trace], check=True)
    for mode in ("kmalloc", "pages"):
        out = replay("--mem", "64M", "--as", mode, "-q", trace).stdout
        ops = re.search(r"^operations: (\d+)", out, re.M)
        check(ops and int(ops.group(1)) >= n, "%s: every operation replayed" % mode)
        check("allocations that failed (NULL): 0" in out, "%s: nothing failed" % mode)
        summary_holds(out)


def main():
    os.makedirs(WORK, exist_ok=True)
    globals()["test_" + sys.argv[4]]()
    if failures:
        print("%d checks failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
