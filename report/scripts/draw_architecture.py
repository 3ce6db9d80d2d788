#!/usr/bin/env python3
"""Draws report/figures/architecture.svg: clients, the router with its queue, semaphore and IP
table, the four servers, and the JSON logs, each box naming the file that holds it.

    python3 report/scripts/draw_architecture.py report/figures/architecture.svg

The figure is this script's output and is never edited by hand: change a box here and run it
again (report/check.sh regenerates it and fails if the committed figure differs). Only Python's
standard library is used; the SVG is written by hand, so the same script always writes the same
bytes.
"""
import sys
from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 860, 420
ARROW = "#444"


def box(x, y, w, h, fill, lines, size=12):
    """A rounded box with centred lines of text, the first line 18 px below its top."""
    parts = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#444"/>']
    for i, line in enumerate(lines):
        parts.append(
            f'<text x="{x + w / 2}" y="{y + 18 + i * 15}" text-anchor="middle" font-size="{size}">'
            f"{escape(line)}</text>"
        )
    return parts


def arrow(x1, y1, x2, y2, label=None):
    """A line with an arrow head at (x2, y2), and an optional label at its middle."""
    parts = [f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{ARROW}" marker-end="url(#a)"/>']
    if label:
        parts.append(
            f'<text x="{(x1 + x2) / 2}" y="{(y1 + y2) / 2 - 6}" text-anchor="middle" font-size="10" '
            f'fill="#555">{escape(label)}</text>'
        )
    return parts


def figure():
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="{ARROW}"/></marker></defs>',
        f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">geotracker: clients, the '
        "router with its queue and four slots, four servers, the JSON logs</text>",
    ]
    # The clients, each one line to the router (src/client.rs, ask).
    names = ["client 1", "client 2", "client 3", "client 4", "client ..."]
    for i, name in enumerate(names):
        y = 60 + i * 60
        parts += box(20, y, 110, 40, "#eef2ff", [name, "src/client.rs" if i == 0 else ""])
        parts += arrow(130, y + 20, 228, 128 + i * 10, "one line" if i == 0 else None)
    # The router: accept loop, queue, semaphore, IP table, log.
    parts += box(230, 50, 300, 330, "#fff7ed", ["router :9020 (src/router.rs)",
                                                 "a thread per client (src/accept.rs)"])
    parts += box(250, 95, 260, 55, "#ffedd5", ["FIFO queue, each client told its place",
                                                "#1 #2 #3 ... (src/extras/queue.rs)"])
    parts += box(250, 160, 260, 70, "#fed7aa", ["counting semaphore, 4 slots",
                                                 "the lowest free slot (src/semaphore.rs)",
                                                 "a Permit, freed when dropped"])
    parts += box(250, 240, 260, 40, "#ffedd5", ["IP table [client, server] (src/iptable.rs)"])
    parts += box(250, 290, 260, 75, "#f3f4f6", ["Ctrl-C: src/signal.rs",
                                                 "the table printed, then appended to",
                                                 "geotracker-router.json (src/iplog.rs)"])
    # The four servers, one per slot.
    for slot in range(4):
        y = 50 + slot * 80
        port = 12347 + slot
        parts += box(620, y, 220, 65, "#ecfdf5", [f"server 127.0.0.1:{port} (slot {slot})",
                                                  "NAT: src/nat.rs; lookup: src/geo/",
                                                  f"log: geotracker-server-{port}.json"])
        parts += arrow(512, 175 + slot * 15, 618, y + 32, "request, reply" if slot == 0 else None)
    parts.append(
        '<text x="20" y="400" font-size="11">One request: the client sends one line; its thread in the '
        "router takes a free slot (or waits its turn in the queue), records [client, server], "
        "forwards the line to the slot's server,</text>"
    )
    parts.append(
        '<text x="20" y="414" font-size="11">relays the JSON reply with "router": {slot, queue_position, '
        "waited_ms, turn}, keeps the slot for --hold-secs and frees it (README, Where things are).</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 report/scripts/draw_architecture.py OUT.svg")
    out = Path(sys.argv[1])
    out.write_text(figure())
    print(f"written: {out}")


if __name__ == "__main__":
    main()
