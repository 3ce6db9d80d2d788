#!/usr/bin/env python3
"""Draws the semaphore's timeline from a router's --trace file.

    python3 report/scripts/plot_timeline.py TRACE.jsonl OUT.svg

One row per slot (a bar from "granted" to "released", labelled with the client's turn) and, under
them, one row per client that had to wait (a bar from "queued" to "granted"), named by its place
in the queue and the turn it was given, which no two clients share: two clients can both have
been number 1 in the queue, at different times. Every bar is drawn at least MIN_BAR pixels wide,
so that a slot held for a few milliseconds (a hold cut short by Ctrl-C) is still seen; a bar too
narrow for its label has the label after it, with the time it lasted. Only Python's standard
library is used; the SVG is written by hand, so the same trace always gives the same bytes.
"""
import json
import sys
from pathlib import Path

MIN_BAR = 8  # pixels: the narrowest bar drawn


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python3 report/scripts/plot_timeline.py TRACE.jsonl OUT.svg\n"
                 "(TRACE.jsonl: what the router wrote at Ctrl-C with --trace TRACE.jsonl)")
    trace, out = Path(sys.argv[1]), Path(sys.argv[2])
    events = [json.loads(line) for line in trace.read_text().splitlines() if line.strip()]
    if not events:
        sys.exit(f"{trace}: no events (did the router get any client before Ctrl-C?)")
    end = max(e["t_ms"] for e in events)
    slots = sorted({e["slot"] for e in events if "slot" in e})
    # Busy bars per slot, waiting bars per queued client.
    busy, waiting, open_grants, queued, turn_of = [], [], {}, {}, {}
    for e in events:
        client = e["client"]
        if e["step"] == "queued":
            queued[client] = (e["t_ms"], e["place"])
        elif e["step"] == "granted":
            open_grants[(client, e["slot"])] = e["t_ms"]
            turn_of[client] = e.get("turn")
            if client in queued:
                t, place = queued.pop(client)
                waiting.append((t, e["t_ms"], place, e.get("turn"), e["slot"]))
        elif e["step"] == "released":
            start = open_grants.pop((client, e["slot"]), None)
            if start is not None:
                busy.append((e["slot"], start, e["t_ms"], turn_of.get(client)))
    waiting.sort(key=lambda w: (w[0], w[2]))

    row_h, left, top, width = 22, 120, 40, 900
    rows = len(slots) + len(waiting)
    height = top + rows * row_h + 60
    scale = (width - left - 120) / max(end, 1)
    x = lambda t: left + t * scale
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">The semaphore at work: '
        f"{len(slots)} slots busy, the other clients waiting in order ({trace.name})</text>",
    ]
    for i, slot in enumerate(slots):
        y = top + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">slot {slot}</text>')
        for s, start, stop, turn in busy:
            if s != slot:
                continue
            w = max(MIN_BAR, (stop - start) * scale)
            edge = "white" if w >= 50 else "#431407"  # a narrow bar gets a dark edge to stand out
            parts.append(
                f'<rect x="{x(start):.1f}" y="{y + 3}" width="{w:.1f}" '
                f'height="{row_h - 6}" fill="#c2410c" stroke="{edge}"/>'
            )
            if w >= 50:
                parts.append(f'<text x="{x(start) + 4:.1f}" y="{y + 15}" fill="white">turn {turn}</text>')
            else:
                parts.append(
                    f'<text x="{x(start) + w + 4:.1f}" y="{y + 15}">turn {turn}: {stop - start:.0f} ms</text>'
                )
    for j, (start, stop, place, turn, slot) in enumerate(waiting):
        y = top + (len(slots) + j) * row_h
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">queued #{place}, turn {turn}</text>'
        )
        parts.append(
            f'<rect x="{x(start):.1f}" y="{y + 5}" width="{max(MIN_BAR, (stop - start) * scale):.1f}" '
            f'height="{row_h - 10}" fill="#93c5fd"/>'
        )
        parts.append(f'<text x="{x(stop) + 4:.1f}" y="{y + 15}">then slot {slot}</text>')
    axis_y = top + rows * row_h + 10
    parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{axis_y}" y2="{axis_y}" stroke="#333"/>')
    step = next(s for s in (100, 250, 500, 1000, 2000, 5000, 10000) if end / s <= 10)
    t = 0
    while t <= end:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{axis_y}" y2="{axis_y + 4}" stroke="#333"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{axis_y + 16}" text-anchor="middle">{t / 1000:g} s</text>')
        t += step
    parts.append(
        f'<text x="{left}" y="{axis_y + 34}">orange: a slot held by a client (its turn); '
        "blue: a client waiting for a slot (its place in the queue, its turn, the slot it got)</text>"
    )
    parts.append("</svg>")
    out.write_text("\n".join(parts) + "\n")
    print(f"written: {out} ({len(busy)} grants, {len(waiting)} waits)")


if __name__ == "__main__":
    main()
