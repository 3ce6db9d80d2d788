#!/usr/bin/env python3
"""Turns the raw lines of report/scripts/bench.sh into a table and a figure.

    python3 report/scripts/plot_bench.py [report/bench/raw-<stamp>.txt]

Without an argument, the newest raw file of report/bench/. Writes, next to the raw file,
summary-<stamp>.md (the median of the rounds for each system and number of clients, with
geotracker's ratio to the floor, and to the Python original when it was measured) and
throughput.svg (requests per second and p99 latency against clients, one line per system): into
report/figures/ for a raw file of report/bench/, else beside the raw file. The same raw file
always gives the same bytes. Only Python's standard library is used; the SVG is written by hand.
"""
import re
import statistics
import sys
from pathlib import Path

# In the order of the legend; python_original and geotracker_raw only when bench.sh measured them.
ALL_SYSTEMS = ["floor", "geotracker", "python_original", "geotracker_raw"]
COLOURS = {"floor": "#888888", "geotracker": "#c2410c", "python_original": "#1d4ed8", "geotracker_raw": "#f59e0b"}
LINE = re.compile(
    r"round=(\d+) system=(\S+) conc=(\d+) ok=(\d+) err=(\d+) rps=(\d+) p50_us=(\d+) p99_us=(\d+)"
)


def read(raw):
    cells = {}
    for line in Path(raw).read_text().splitlines():
        m = LINE.search(line)
        if not m:
            continue
        _, system, conc, ok, err, rps, p50, p99 = m.groups()
        cells.setdefault((system, int(conc)), []).append(
            {"rps": int(rps), "p50": int(p50) / 1000, "p99": int(p99) / 1000, "err": int(err), "ok": int(ok)}
        )
    return cells


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def table(cells, concs):
    python = ("python_original", concs[0]) in cells
    head = "| clients | floor req/s | geotracker req/s | geotracker / floor | p99 ms floor / geotracker | errors (all rounds) floor / geotracker |"
    rule = "|---|---|---|---|---|---|"
    if python:
        head += " python_original req/s | geotracker_raw req/s | geotracker_raw / python_original | p99 ms python_original / geotracker_raw | errors python_original / geotracker_raw |"
        rule += "---|---|---|---|---|"
    out = [head, rule]
    for c in concs:
        get = lambda s, k: median(cells[(s, c)], k) if (s, c) in cells else float("nan")
        errs = lambda systems: " / ".join(str(sum(r["err"] for r in cells.get((s, c), []))) for s in systems)
        row = (
            f"| {c} | {get('floor', 'rps'):.0f} | {get('geotracker', 'rps'):.0f} | "
            f"{get('geotracker', 'rps') / get('floor', 'rps'):.2f} | "
            f"{get('floor', 'p99'):.1f} / {get('geotracker', 'p99'):.1f} | {errs(['floor', 'geotracker'])} |"
        )
        if python:
            row += (
                f" {get('python_original', 'rps'):.0f} | {get('geotracker_raw', 'rps'):.0f} | "
                f"{get('geotracker_raw', 'rps') / get('python_original', 'rps'):.2f} | "
                f"{get('python_original', 'p99'):.1f} / {get('geotracker_raw', 'p99'):.1f} | "
                f"{errs(['python_original', 'geotracker_raw'])} |"
            )
        out.append(row)
    return "\n".join(out) + "\n"


def svg(cells, concs, systems, title):
    import math

    width, height, margin = 860, 380, 60
    panel_w = (width - 3 * margin) / 2
    panel_h = height - 2 * margin
    xs = {c: i for i, c in enumerate(concs)}

    def x_of(c, left):
        return left + (xs[c] / max(1, len(concs) - 1)) * panel_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
    ]
    panels = [("requests/s (median of rounds)", "rps", False), ("p99 latency, ms (log scale)", "p99", True)]
    for n, (label, key, log) in enumerate(panels):
        left = margin + n * (panel_w + margin)
        top = margin
        values = [median(v, key) for (s, c), v in cells.items()]
        if log:
            # Whole decades: 0.1, 1, 10, ... ms.
            lo = 10 ** math.floor(math.log10(min(v for v in values if v > 0)))
            hi = 10 ** math.ceil(math.log10(max(values)))
            ticks = [10**e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]
        else:
            # Round steps: 1000, 2000 or 5000 requests/s.
            step = next(s for s in (500, 1000, 2000, 5000, 10000) if max(values) / s <= 6)
            lo, hi = 0, step * math.ceil(max(values) * 1.05 / step)
            ticks = list(range(0, hi + 1, step))

        def y_of(v):
            if log:
                v = max(v, lo)
                return top + panel_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * panel_h
            return top + panel_h - (v - lo) / (hi - lo) * panel_h

        parts.append(f'<rect x="{left}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="#ccc"/>')
        parts.append(f'<text x="{left + panel_w / 2}" y="{top - 8}" text-anchor="middle">{label}</text>')
        for c in concs:
            parts.append(
                f'<text x="{x_of(c, left)}" y="{top + panel_h + 16}" text-anchor="middle">{c}</text>'
            )
        parts.append(f'<text x="{left + panel_w / 2}" y="{top + panel_h + 34}" text-anchor="middle">clients at once</text>')
        for t in ticks:
            parts.append(f'<text x="{left - 6}" y="{y_of(t) + 4}" text-anchor="end">{t:g}</text>')
            parts.append(f'<line x1="{left}" x2="{left + panel_w}" y1="{y_of(t)}" y2="{y_of(t)}" stroke="#eee"/>')
        for s in systems:
            points = [(x_of(c, left), y_of(median(cells[(s, c)], key))) for c in concs if (s, c) in cells]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[s]}" stroke-width="2"/>')
            for x, y in points:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[s]}"/>')
    for i, s in enumerate(systems):
        x = margin + i * 180
        parts.append(f'<rect x="{x}" y="{height - 18}" width="12" height="12" fill="{COLOURS[s]}"/>')
        parts.append(f'<text x="{x + 18}" y="{height - 8}">{s}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    bench = Path(__file__).resolve().parent.parent / "bench"
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else max(bench.glob("raw-*.txt"))
    cells = read(raw)
    systems = [s for s in ALL_SYSTEMS if any(system == s for system, _ in cells)]
    concs = sorted({c for (_, c) in cells})
    stamp = raw.stem.removeprefix("raw-")
    summary = raw.with_name(f"summary-{stamp}.md")
    summary.write_text(table(cells, concs))
    in_repo = raw.resolve().parent == bench
    figure = (bench.parent / "figures" if in_repo else raw.parent) / "throughput.svg"
    title = ", ".join(systems)
    figure.write_text(svg(cells, concs, systems, f"{title} ({stamp})"))
    print(summary.read_text())
    print(f"written: {summary} and {figure}")


if __name__ == "__main__":
    main()
