#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check_boot.py - check the example kernel's serial log against the memory
map it printed.

The kernel prints the map qemu gave it ("mmap:" lines), every range it kept
for itself ("reserve:"), the zones after boot and at the end ("zone-boot:",
"zone-end:") and buddyinfo blocks. From the map and the reservations alone
this computes what kmem must manage, and checks:
  - qemu's exit status is the pass value 33 ((0x10 << 1) | 1) and the log
    says "kernel: pass", with no "FAILED" line;
  - the zones' spans: DMA [0, min(4096, last pfn)), Normal [4096, last pfn)
    where last pfn is the end of the last available range;
  - each zone's managed pages == the available pages of the map inside its
    span minus the reserved ones;
  - at boot and at the end, free == managed (everything came back) and no
    pages sit on per-CPU lists;
  - each buddyinfo block's per-order counts add up to the zone's free pages.
Usable as a module (check(log, status) -> list of problems) or as a script:
check_boot.py LOG STATUS.
"""
import re
import sys

PASS_STATUS = 33
PAGE = 4096
DMA_END_PFN = 4096  # 16 MiB

FIELD = re.compile(r"(\w+)=(\S+)")


def fields(line):
    return {k: v for k, v in FIELD.findall(line)}


def num(s):
    return int(s, 0)


def parse(log):
    out = {"mmap": [], "reserve": [], "zone-boot": {}, "zone-end": {}, "blocks": {}}
    block = None
    for line in log.splitlines():
        m = re.match(r"--- (\S+) ---$", line)
        if m:
            block = None if m.group(1) == "end" else m.group(1)
            if block:
                out["blocks"][block] = []
            continue
        if block:
            out["blocks"][block].append(line)
            continue
        key = line.split(":", 1)[0]
        f = fields(line)
        if key == "mmap":
            out["mmap"].append((num(f["base"]), num(f["len"]), int(f["type"])))
        elif key == "reserve":
            out["reserve"].append((num(f["start"]), num(f["end"])))
        elif key in ("zone-boot", "zone-end"):
            out[key][f["name"]] = {k: int(v) for k, v in f.items() if k != "name"}
    return out


def page_set_count(ranges, lo, hi):
    """Pages of the union of [start, end) pfn ranges inside [lo, hi)."""
    total, cur_end = 0, lo
    for s, e in sorted(ranges):
        s, e = max(s, cur_end), min(e, hi)
        if s < e:
            total += e - s
            cur_end = e
    return total


def managed_expected(mmap, reserved, lo, hi):
    avail = [((b + PAGE - 1) // PAGE, (b + n) // PAGE) for b, n, t in mmap if t == 1]
    res = [(s // PAGE, (e + PAGE - 1) // PAGE) for s, e in reserved]
    # available minus reserved = available - (available intersect reserved)
    inter = []
    for a0, a1 in avail:
        for r0, r1 in res:
            s, e = max(a0, r0), min(a1, r1)
            if s < e:
                inter.append((s, e))
    return page_set_count(avail, lo, hi) - page_set_count(inter, lo, hi)


def buddy_totals(lines):
    totals = {}
    for line in lines:
        m = re.match(r"Node 0, zone\s+(\S+)\s+(.*)$", line)
        if m:
            counts = [int(x) for x in m.group(2).split()]
            totals[m.group(1)] = sum(c << o for o, c in enumerate(counts))
    return totals


def check(log, status):
    problems = []
    if status != PASS_STATUS:
        problems.append(f"qemu exit status {status}, not the pass value {PASS_STATUS}")
    if "kernel: pass" not in log:
        problems.append("no 'kernel: pass' line")
    for line in log.splitlines():
        if "FAILED" in line or "PANIC" in line or "EXCEPTION" in line:
            problems.append("log: " + line)
    d = parse(log)
    if not d["mmap"]:
        return problems + ["no memory map in the log"]
    last_pfn = max((b + n) // PAGE for b, n, t in d["mmap"] if t == 1)
    spans = {"DMA": (0, min(DMA_END_PFN, last_pfn)), "Normal": (DMA_END_PFN, last_pfn)}
    for when in ("zone-boot", "zone-end"):
        zones = d[when]
        if not zones:
            problems.append(f"no {when} lines")
        for name, (lo, hi) in spans.items():
            want = managed_expected(d["mmap"], d["reserve"], lo, hi)
            z = zones.get(name)
            if z is None:
                if lo < hi and want:
                    problems.append(f"{when}: zone {name} missing")
                continue
            if (z["start_pfn"], z["end_pfn"]) != (lo, hi):
                problems.append(f"{when}: zone {name} spans [{z['start_pfn']}, {z['end_pfn']}),"
                                f" the map says [{lo}, {hi})")
            if z["managed"] != want:
                problems.append(f"{when}: zone {name} manages {z['managed']} pages, the map "
                                f"minus the reservations has {want}")
            if z["free"] != z["managed"]:
                problems.append(f"{when}: zone {name} has {z['free']} free of {z['managed']}")
            if z["pcp"] != 0:
                problems.append(f"{when}: zone {name} has {z['pcp']} pages on per-CPU lists")
    for block, when in (("buddyinfo-boot", "zone-boot"), ("buddyinfo", "zone-end")):
        if block not in d["blocks"]:
            problems.append(f"no {block} block")
            continue
        for name, total in buddy_totals(d["blocks"][block]).items():
            free = d[when].get(name, {}).get("free")
            if total != free:
                problems.append(f"{block}: zone {name} blocks add up to {total} pages, "
                                f"{when} says {free} free")
    return problems


def main():
    if len(sys.argv) != 3:
        print("usage: check_boot.py LOG STATUS", file=sys.stderr)
        return 2
    with open(sys.argv[1], errors="replace") as f:
        problems = check(f.read(), int(sys.argv[2]))
    for p in problems:
        print("check_boot: " + p)
    print("check_boot: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
