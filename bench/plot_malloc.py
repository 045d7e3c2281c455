#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/plot_malloc.py - grouped bar charts (SVG, no dependencies) of the
malloc suite's samples: every allocator's median relative to glibc's (glibc =
1.0, lower is better), with the min-max spread of the samples as a whisker.

    bench/plot_malloc.py SAMPLES.tsv OUT_PREFIX [TITLE]

reads the "msample" lines of bench/bench_malloc.c (msample, workload, label,
time, RSS KiB, extra) and the "rsample" lines of tests/malloc/realprog.sh
(rsample, program, label, wall seconds, peak RSS KiB, CPU seconds,
ok|MISMATCH), ignores all others, and writes

    OUT_PREFIX-time.svg           micro workloads, time
    OUT_PREFIX-rss.svg            micro workloads, RSS at the end of a run
    OUT_PREFIX-realprog-time.svg  real programs, wall time, and their geomean
    OUT_PREFIX-realprog-rss.svg   real programs, peak RSS, and their geomean

skipping (with a note on stderr) a chart without data. The time column's unit
depends on the workload (ns per pair; us per thread for thread-churn, us per
op for big-churn): the ratios do not care, and glibc's absolute median, with
its unit, is printed under each group. Bars are clipped at a ceiling of at
most 4x glibc (their value is printed inside them), so that one slow
allocator does not flatten the rest. Real-program samples marked MISMATCH
(output differs from a run without preload) or without a measurement (0 s
and 0 KiB: GNU time failed) are left out; a cell left without samples is
marked with a red "x" on the axis.
"""
import math
import os
import statistics
import sys
from collections import OrderedDict

# The colour table and escaping of bench/plot.py, so both sets of charts look
# alike.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot import colour, esc, legend  # noqa: E402

# Allocators in the order of the bars; labels not listed here follow, in the
# order they first appear in the file.
ORDER = ["kmem", "glibc", "jemalloc", "mimalloc", "tcmalloc"]

# Micro workloads in bench/run.sh's order; unknown ones follow.
WORKLOADS = ["pair32-steady", "pair32-batch", "pair256-steady", "pair256-batch",
             "pair4k-steady", "pair4k-batch", "prodcons", "thread-churn",
             "big-churn", "grow-shrink", "frag-random"]

# Unit of an msample's time column, as bench_malloc.c's unit_of() has it
# (frag-random divides by pairs plus the blocks kept: "ns/pair" as well).
UNITS = {"thread-churn": "us/thread", "big-churn": "us/op"}

MAX_CEILING = 4.0  # bars clipped at this many times glibc's median


def load(path):
    """Returns (micro, real, mismatches, labels).

    micro: OrderedDict workload -> OrderedDict label -> {"time": [..], "rss": [..]}
    real: the same, program -> label -> {"time": [..], "rss": [..]}
    mismatches: {(program, label): count of MISMATCH samples}
    labels: every label seen, in order of first appearance.
    """
    micro, real, mismatches, labels = OrderedDict(), OrderedDict(), {}, []
    with open(path) as f:
        for line in f:
            field = line.rstrip("\n").split("\t")
            try:
                if field[0] == "msample" and len(field) >= 6:
                    _, wl, label, t, rss = field[:5]
                    cell = micro.setdefault(wl, OrderedDict()).setdefault(label, {"time": [], "rss": []})
                    cell["time"].append(float(t))
                    cell["rss"].append(float(rss) / 1024.0)  # MiB
                elif field[0] == "rsample" and len(field) >= 7:
                    _, name, label, t, rss, _cpu, verdict = field[:7]
                    cell = real.setdefault(name, OrderedDict()).setdefault(label, {"time": [], "rss": []})
                    if verdict.upper() != "OK":  # realprog.sh prints "ok"
                        mismatches[(name, label)] = mismatches.get((name, label), 0) + 1
                        continue
                    if float(t) == 0 and float(rss) == 0:
                        continue  # GNU time did not write its file
                    cell["time"].append(float(t))
                    cell["rss"].append(float(rss) / 1024.0)  # MiB
                else:
                    continue
            except ValueError:
                continue  # a truncated or garbled line
            if label not in labels:
                labels.append(label)
    return micro, real, mismatches, labels


def ordered(labels):
    return [l for l in ORDER if l in labels] + [l for l in labels if l not in ORDER]


def fmt(v):
    """A number with 3 significant digits or so, for absolute values."""
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def relative(cells, key, unit_of):
    """Ratios to glibc of one chart's groups.

    cells: OrderedDict group -> label -> {"time": [..], "rss": [..]}; key: "time"
    or "rss"; unit_of(group) -> unit of the absolute values. Returns a list of
    (group, note, {label: (median, min, max) / glibc median}); note: glibc's
    median with its unit. Groups without a usable glibc median are left out.
    """
    groups = []
    for name, g in cells.items():
        base = g.get("glibc", {}).get(key)
        if not base or statistics.median(base) <= 0:
            print(f"plot_malloc: {name} ({key}): no glibc sample, left out", file=sys.stderr)
            continue
        b = statistics.median(base)
        ratios = {l: (statistics.median(c[key]) / b, min(c[key]) / b, max(c[key]) / b)
                  for l, c in g.items() if c[key]}
        groups.append((name, f"{fmt(b)} {unit_of(name)}", ratios))
    return groups


def geomean_group(groups):
    """A "geomean" group: per label, the geometric mean of its median ratios
    (and of its min and max ratios) over the groups that have that label."""
    acc = OrderedDict()
    for _, _, ratios in groups:
        for l, r in ratios.items():
            if min(r) > 0:
                acc.setdefault(l, []).append(r)
    ratios = {l: tuple(math.exp(sum(math.log(r[i]) for r in rs) / len(rs)) for i in range(3))
              for l, rs in acc.items()}
    n = max((len(rs) for rs in acc.values()), default=0)
    return ("geomean", f"{n} programs", ratios)


def chart(title, subtitle, groups, labels, missing=()):
    """groups: list of (name, note, {label: (median, min, max) ratio to glibc});
    missing: set of (name, label) to mark with a red "x" (no valid sample)."""
    bar, gap, left, top, height = 14, 26, 60, 64, 260
    width = left + len(groups) * (len(labels) * bar + gap) + 160
    # Ceiling: the largest value or whisker, at least 1.5 (so that 1.0 is not
    # at the top), at most MAX_CEILING, rounded up to a tick.
    vmax = max(v for _, _, g in groups for r in g.values() for v in r)
    ceiling = min(MAX_CEILING, max(1.5, math.ceil(vmax * 1.05 / 0.25) * 0.25))
    step = 0.25 if ceiling <= 2 else 0.5
    scale = height / ceiling
    ybase = top + height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{ybase + 44}" '
        f'font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">{esc(title)}</text>',
        f'<text x="{left}" y="38" fill="#555">{esc(subtitle)}; whiskers: min-max of the samples; '
        f'bars clipped at {ceiling:g}x; under each group: glibc\'s median</text>',
    ]
    # Axis with ticks.
    t = 0.0
    while t <= ceiling + 1e-9:
        y = ybase - t * scale
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 150}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{t:g}</text>')
        t += step
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{ybase}" stroke="#333"/>')
    x = left + gap / 2
    for name, note, g in groups:
        x0 = x
        for i, label in enumerate(labels):
            cx = x + (bar - 2) / 2
            if label in g:
                v, lo, hi = g[label]
                h = min(v, ceiling) * scale
                y = ybase - h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2}" height="{h:.1f}" '
                           f'fill="{colour(label, i)}"><title>{esc(label)} {esc(name)}: {v:.3f}x glibc '
                           f'(min {lo:.3f}, max {hi:.3f})</title></rect>')
                # Whisker: min-max, clipped at the ceiling; drawn only when
                # the samples do differ.
                ylo, yhi = ybase - min(lo, ceiling) * scale, ybase - min(hi, ceiling) * scale
                if ylo - yhi >= 0.5:
                    out.append(f'<line x1="{cx:.1f}" y1="{ylo:.1f}" x2="{cx:.1f}" y2="{yhi:.1f}" '
                               f'stroke="#222" stroke-width="1"/>')
                    for yy in (ylo, yhi):
                        out.append(f'<line x1="{cx - 3:.1f}" y1="{yy:.1f}" x2="{cx + 3:.1f}" '
                                   f'y2="{yy:.1f}" stroke="#222" stroke-width="1"/>')
                # Values written upwards from above the bar and its whisker
                # (inside a clipped bar, which ends at the ceiling), so that
                # neighbours never overlap.
                txt = f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
                ty = y + 30 if v > ceiling else min(y, yhi) - 3
                fill = "white" if v > ceiling else "#333"
                out.append(f'<text transform="translate({cx + 3:.1f},{ty:.1f}) rotate(-90)" '
                           f'font-size="9" fill="{fill}">{txt}</text>')
            elif (name, label) in missing:
                out.append(f'<text x="{cx:.1f}" y="{ybase - 3}" text-anchor="middle" fill="#d62728" '
                           f'font-weight="bold">x<title>{esc(label)} {esc(name)}: no valid sample '
                           f'(output mismatch)</title></text>')
            x += bar
        mid = (x0 + x) / 2
        out.append(f'<text x="{mid:.1f}" y="{ybase + 16}" text-anchor="middle">{esc(name)}</text>')
        out.append(f'<text x="{mid:.1f}" y="{ybase + 30}" text-anchor="middle" font-size="9" '
                   f'fill="#555">{esc(note)}</text>')
        x += gap
    # A dashed line at glibc's 1.0, over the bars.
    y1 = ybase - scale
    out.append(f'<line x1="{left}" y1="{y1:.1f}" x2="{width - 150}" y2="{y1:.1f}" stroke="#333" '
               f'stroke-dasharray="4,3"/>')
    legend(out, labels, width, top)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(path, title, subtitle, groups, labels, missing=()):
    if not groups:
        print(f"plot_malloc: no data for {path}, not written", file=sys.stderr)
        return
    # Only the labels of this chart (keeping their global order and colours).
    present = [l for l in labels if any(l in g for _, _, g in groups) or
               any((n, l) in missing for n, _, _ in groups)]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(chart(title, subtitle, groups, present, missing))
    print(path, file=sys.stderr)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    micro, real, mismatches, labels = load(sys.argv[1])
    prefix = sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "kmem malloc and its peers"
    labels = ordered(labels)
    # Micro workloads in the suite's order.
    micro = OrderedDict(sorted(micro.items(),
                               key=lambda kv: WORKLOADS.index(kv[0]) if kv[0] in WORKLOADS else len(WORKLOADS)))
    write(f"{prefix}-time.svg", f"{title}: malloc workloads, time",
          "median time relative to glibc (lower is better)",
          relative(micro, "time", lambda w: UNITS.get(w, "ns/pair")), labels)
    write(f"{prefix}-rss.svg", f"{title}: malloc workloads, RSS",
          "median RSS at the end of a run relative to glibc (lower is better)",
          relative(micro, "rss", lambda w: "MiB"), labels)
    missing = {k for k, n in mismatches.items() if not real.get(k[0], {}).get(k[1], {}).get("time")}
    for key, what, unit in (("time", "wall time", "s"), ("rss", "peak RSS", "MiB")):
        groups = relative(real, key, lambda p: unit)
        if groups:
            groups.append(geomean_group(groups))
        write(f"{prefix}-realprog-{key}.svg", f"{title}: real programs, {what}",
              f"median {what} relative to glibc (lower is better)", groups, labels, missing)
    for (name, label), n in mismatches.items():
        print(f"plot_malloc: {name} {label}: {n} sample(s) with MISMATCH left out", file=sys.stderr)


if __name__ == "__main__":
    main()
