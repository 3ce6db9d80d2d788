#!/usr/bin/env python3
"""Turns the raw lines of report/scripts/bench.sh into a table and a figure.

    python3 report/scripts/plot_bench.py report/bench/raw-<stamp>.txt

Writes, next to the raw file, summary-<stamp>.md (the median of the rounds for each system and
number of clients, with geotracker's ratio to the floor) and report/figures/throughput.svg (requests
per second and p99 latency against clients, one line per system). Only Python's standard
library is used; the SVG is written by hand.
"""
import re
import statistics
import sys
from pathlib import Path

SYSTEMS = ["floor", "geotracker", "python_original"]
COLOURS = {"floor": "#888888", "geotracker": "#c2410c", "python_original": "#1d4ed8"}
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
    out = [
        "| clients | floor req/s | geotracker req/s | python_original req/s | geotracker / floor |"
        " geotracker / python | p99 ms floor / geotracker / python | errors (all rounds) floor / geotracker / python |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in concs:
        get = lambda s, k: median(cells[(s, c)], k) if (s, c) in cells else float("nan")
        errs = " / ".join(str(sum(r["err"] for r in cells.get((s, c), []))) for s in SYSTEMS)
        out.append(
            f"| {c} | {get('floor', 'rps'):.0f} | {get('geotracker', 'rps'):.0f} | "
            f"{get('python_original', 'rps'):.0f} | {get('geotracker', 'rps') / get('floor', 'rps'):.2f} | "
            f"{get('geotracker', 'rps') / get('python_original', 'rps'):.2f} | "
            f"{get('floor', 'p99'):.1f} / {get('geotracker', 'p99'):.1f} / {get('python_original', 'p99'):.1f} | {errs} |"
        )
    return "\n".join(out) + "\n"


def svg(cells, concs, title):
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
        for s in SYSTEMS:
            points = [(x_of(c, left), y_of(median(cells[(s, c)], key))) for c in concs if (s, c) in cells]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[s]}" stroke-width="2"/>')
            for x, y in points:
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[s]}"/>')
    for i, s in enumerate(SYSTEMS):
        x = margin + i * 180
        parts.append(f'<rect x="{x}" y="{height - 18}" width="12" height="12" fill="{COLOURS[s]}"/>')
        parts.append(f'<text x="{x + 18}" y="{height - 8}">{s}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    raw = Path(sys.argv[1])
    cells = read(raw)
    concs = sorted({c for (_, c) in cells})
    stamp = raw.stem.removeprefix("raw-")
    summary = raw.with_name(f"summary-{stamp}.md")
    summary.write_text(table(cells, concs))
    figures = Path(__file__).resolve().parent.parent / "figures"
    figures.mkdir(exist_ok=True)
    (figures / "throughput.svg").write_text(svg(cells, concs, f"geotracker, floor and the Python original ({stamp})"))
    print(summary.read_text())
    print(f"written: {summary} and {figures / 'throughput.svg'}")


if __name__ == "__main__":
    main()
