#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/plot.py - grouped bar charts (SVG, no dependencies) of a benchmark
run's samples: median ns per pair of every allocator, per workload, one chart
per thread count.

    bench/plot.py SAMPLES.tsv OUT_PREFIX [TITLE]

reads the "sample" lines bench_pages/bench_slab print (sample, workload,
threads, label, ns/op, Mops/s, CPU share) and writes OUT_PREFIX-1t.svg and
OUT_PREFIX-2t.svg (when the run has those thread counts). Bars are clipped at
a ceiling of 4x the median kmem value of the chart (their value is printed
above them), so that one slow allocator does not flatten the rest.
"""
import statistics
import sys
from collections import OrderedDict

COLOURS = {
    "kmem": "#1f77b4",
    "kmem-nochecks": "#9ecae1",
    "glibc": "#7f7f7f",
    "jemalloc": "#d62728",
    "mimalloc": "#2ca02c",
    "tcmalloc": "#ff7f0e",
}


def colour(label, i):
    base = label.split("/")[0]
    c = COLOURS.get(base, ["#8c564b", "#e377c2", "#bcbd22", "#17becf"][i % 4])
    return c


def legend(out, labels, width, top):
    """Append the colour legend of labels at the right edge of a chart."""
    for i, label in enumerate(labels):
        y = top + 10 + i * 16
        out.append(f'<rect x="{width - 140}" y="{y - 9}" width="10" height="10" fill="{colour(label, i)}"/>')
        out.append(f'<text x="{width - 125}" y="{y}">{esc(label)}</text>')


def load(path):
    cells = OrderedDict()  # (threads, workload) -> OrderedDict(label -> [ns])
    labels = []
    with open(path) as f:
        for line in f:
            field = line.rstrip("\n").split("\t")
            if len(field) != 7 or field[0] != "sample":
                continue
            _, wl, threads, label, ns = field[:5]
            cells.setdefault((int(threads), wl), OrderedDict()).setdefault(label, []).append(float(ns))
            if label not in labels:
                labels.append(label)
    return cells, labels


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chart(title, groups, labels):
    """groups: list of (workload, {label: median ns})."""
    bar, gap, left, top, height = 14, 22, 60, 64, 260
    width = left + len(groups) * (len(labels) * bar + gap) + 160
    kmem = [g["kmem"] for _, g in groups if "kmem" in g]
    ceiling = 4 * statistics.median(kmem) if kmem else max(v for _, g in groups for v in g.values())
    scale = height / ceiling
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + height + 30}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="22" font-size="14" font-weight="bold">{esc(title)}</text>',
        f'<text x="{left}" y="38" fill="#555">median ns per pair (lower is better); '
        f'bars clipped at {ceiling:.1f} ns</text>',
    ]
    # Axis with ticks.
    step = max(1.0, round(ceiling / 5))
    t = 0.0
    while t <= ceiling + 1e-9:
        y = top + height - t * scale
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{width - 150}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{t:g}</text>')
        t += step
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#333"/>')
    x = left + gap / 2
    for wl, g in groups:
        x0 = x
        for i, label in enumerate(labels):
            if label in g:
                v = g[label]
                h = min(v, ceiling) * scale
                y = top + height - h
                out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2}" height="{h:.1f}" '
                           f'fill="{colour(label, i)}"><title>{esc(label)} {esc(wl)}: {v:.2f} ns</title></rect>')
                # Values written upwards from the bar's top (inside a
                # clipped bar, which ends at the ceiling), so that
                # neighbours never overlap.
                txt = f"{v:.1f}" if v < 100 else f"{v:.0f}"
                cx, ty = x + (bar - 2) / 2 + 3, (y + 26 if v > ceiling else y - 3)
                fill = "white" if v > ceiling else "#333"
                out.append(f'<text transform="translate({cx:.1f},{ty:.1f}) rotate(-90)" '
                           f'font-size="9" fill="{fill}">{txt}</text>')
            x += bar
        out.append(f'<text x="{(x0 + x) / 2:.1f}" y="{top + height + 16}" text-anchor="middle">{esc(wl)}</text>')
        x += gap
    legend(out, labels, width, top)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cells, labels = load(sys.argv[1])
    title = sys.argv[3] if len(sys.argv) > 3 else "kmem and its peers"
    for threads in sorted({t for t, _ in cells}):
        groups = [(wl, {l: statistics.median(v) for l, v in g.items()})
                  for (t, wl), g in cells.items() if t == threads]
        path = f"{sys.argv[2]}-{threads}t.svg"
        with open(path, "w") as f:
            f.write(chart(f"{title}, {threads} thread{'s' if threads > 1 else ''}", groups, labels))
        print(path)


if __name__ == "__main__":
    main()
