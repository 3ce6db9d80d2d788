#!/usr/bin/env python3
"""The checks behind report/check.sh, one subcommand each. Python 3 standard library only.

    python3 report/scripts/check_handout.py links              # README.md and report/**/*.md
    python3 report/scripts/check_handout.py excerpts           # <!-- check: excerpt FILE --> blocks
    python3 report/scripts/check_handout.py blocks             # <!-- check: run --> blocks, run
    python3 report/scripts/check_handout.py blocks --list      # ... only listed
    python3 report/scripts/check_handout.py transcripts COMMITTED FRESH [--ports OLD=NEW,...]
    python3 report/scripts/check_handout.py normalise FILE [--ports OLD=NEW,...]

Each prints one line per thing checked (`ok: ...`), and at the first mismatch a line starting
`FAIL:` that names the file and line, a short diff, and exits 1. Run from anywhere: paths are
taken from the repository root, the folder two levels above this file.

The markers, written on the line just above a fenced block of a Markdown file:

    <!-- check: run -->            the ```sh block below is run with bash from the repository
    <!-- check: run timeout=600 --> root and must exit 0 (default timeout: 300 s)
    <!-- check: output -->         the ```text block below is what the run block above it prints
                                   (stdout and stderr together, normalised: durations such as
                                   `8.5ms` become <duration>, cargo's own progress lines are
                                   left out); a line `...` stands for any number of lines, and
                                   `[...]` within a line for any text
    <!-- check: excerpt FILE -->   the block below is copied from FILE (a path from the repository
                                   root, or from the Markdown file's folder): its lines appear in
                                   FILE one after the other, `...` and `[...]` as above; a block
                                   of one line may be part of a longer line (a row of a JSON log)

Links are checked as GitHub renders them: a relative link must name a file or folder inside the
repository, and a `#fragment` must be the anchor of a heading of the Markdown file it points to
(GitHub's rule: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats) or an
`<a id=...>`; `#L12` and `#L12-L20` are allowed on other files. Links to the web (http, https,
mailto) are counted but not fetched: the check runs offline.
"""
import difflib
import functools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
MARKER = re.compile(r"^\s*<!--\s*check:\s*(run|output|excerpt)\b(.*?)-->\s*$")


class Mismatch(Exception):
    """The first thing that does not hold: its message names it, with a short diff."""


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def markdown_files():
    """README.md and every Markdown file under report/, in a stable order. The templates of the
    students' copy (report/starter/) are not among them: their links are written for that copy,
    where they become README.md and report/README.md."""
    files = [REPO / "README.md"] + sorted((REPO / "report").rglob("*.md"))
    starter = REPO / "report" / "starter"
    return [f for f in files if f.is_file() and starter not in f.parents]


def short_diff(expected, actual, a="expected", b="got", limit=30):
    lines = list(difflib.unified_diff(expected, actual, a, b, lineterm="", n=1))
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more diff lines)"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Markdown: fenced blocks with their markers, headings, links


def blocks_of(path):
    """Every fenced block: (marker kind, marker argument, marker line, fence info, first line of
    the block, its lines). A marker belongs to the fenced block that starts on the next
    non-blank line; blocks without a marker come with kind None."""
    lines = path.read_text().splitlines()
    out, pending, i = [], None, 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            if pending:
                raise Mismatch(f"{rel(path)}:{pending[2]}: `check: {pending[0]}` is not followed by a fenced block")
            pending = (m.group(1), m.group(2).strip(), i + 1)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            indent, fence, info = f.groups()
            body, j = [], i + 1
            while j < len(lines) and not re.match(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$", lines[j]):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
                j += 1
            kind, arg, mline = pending if pending else (None, "", None)
            out.append((kind, arg, mline, info.strip(), i + 2, body))
            pending, i = None, j + 1
            continue
        if pending and lines[i].strip():
            raise Mismatch(f"{rel(path)}:{pending[2]}: `check: {pending[0]}` is not followed by a fenced block")
        i += 1
    if pending:
        raise Mismatch(f"{rel(path)}:{pending[2]}: `check: {pending[0]}` is not followed by a fenced block")
    return out


def prose_lines(path):
    """The file's lines outside fenced blocks, as (line number, text), inline code blanked."""
    in_fence, fence = False, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        f = FENCE.match(line)
        if f and (not in_fence or f.group(2)[0] == fence[0] and len(f.group(2)) >= len(fence)):
            in_fence, fence = (not in_fence), f.group(2)
            continue
        if not in_fence:
            yield n, re.sub(r"(`+)(.+?)\1", lambda m: "`" + "x" * len(m.group(2)) + "`", line)


def slug(heading):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


ANCHORS = {}  # path -> the anchors of its headings, read once


def anchors_of(path, cache=ANCHORS):
    if path not in cache:
        seen, anchors = {}, set()
        raw = path.read_text().splitlines()
        for n, line in prose_lines(path):
            for a in re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line):
                anchors.add(a)
            m = re.match(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if m:
                base = slug(raw[n - 1].lstrip().lstrip("#").strip().rstrip("#").strip())
                count = seen.get(base, 0)
                seen[base] = count + 1
                anchors.add(base if count == 0 else f"{base}-{count}")
        cache[path] = anchors
    return cache[path]


LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"")
REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:\s|$)", re.M)


def check_link(md, n, target):
    """Raises Mismatch if the link does not resolve; returns 'web', 'file' or 'anchor'."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
        return "web"
    path, _, fragment = target.partition("#")
    dest = (md.parent / path).resolve() if path else md
    where = f"{rel(md)}:{n}: link `{target}`"
    try:
        dest.relative_to(REPO)
    except ValueError:
        raise Mismatch(f"{where}: points outside the repository")
    if not dest.exists():
        raise Mismatch(f"{where}: {rel(dest)} does not exist")
    if not fragment:
        return "file"
    if dest.suffix.lower() == ".md":
        anchors = anchors_of(dest)
        if fragment not in anchors:
            near = difflib.get_close_matches(fragment, sorted(anchors), n=1)
            hint = f" (a near one: #{near[0]})" if near else ""
            raise Mismatch(f"{where}: no heading of {rel(dest)} has the anchor #{fragment}{hint}")
        return "anchor"
    if dest.is_file() and re.fullmatch(r"L\d+(-L\d+)?", fragment):
        return "anchor"
    raise Mismatch(f"{where}: #{fragment} is not an anchor GitHub makes in {rel(dest)}")


def cmd_links(_args):
    for md in markdown_files():
        counts = {"web": 0, "file": 0, "anchor": 0}
        # The prose as one text, fenced blocks blanked, so that a link whose text runs over two
        # lines is found; n is the line where a link starts.
        prose = dict(prose_lines(md))
        text = "\n".join(prose.get(n, "") for n in range(1, len(md.read_text().splitlines()) + 1))
        found = [(m.start(), m.group(1)) for m in LINK.finditer(text)]
        found += [(m.start(), m.group(1)) for m in HTML_LINK.finditer(text)]
        found += [(m.start(), m.group(1)) for m in REF_DEF.finditer(text)]
        for start, target in sorted(found):
            counts[check_link(md, text.count("\n", 0, start) + 1, target)] += 1
        print(f"ok: links in {rel(md)}: {counts['file']} to files, {counts['anchor']} to anchors, "
              f"{counts['web']} to the web (not fetched)")


# ---------------------------------------------------------------------------------------------
# Excerpts and runnable blocks


def matches(expected, actual, partial_line=False):
    """Where the expected lines occur in actual, one after the other (`...` = any lines): the
    index of the first, or None. A single expected line may be part of a longer actual line
    when partial_line is set."""
    exp = [e.rstrip() for e in expected]
    act = [a.rstrip() for a in actual]
    if partial_line and len(exp) == 1:
        return next((i for i, a in enumerate(act) if exp[0].strip() and exp[0].strip() in a), None)

    @functools.lru_cache(maxsize=None)
    def at(i, j):  # exp[i:] matches act[j:] as a prefix
        if i == len(exp):
            return True
        if exp[i] == "...":
            return any(at(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and same(exp[i], act[j]) and at(i + 1, j + 1)

    return next((j for j in range(len(act) + 1) if at(0, j)), None)


def same(expected, actual):
    """One line: equal, where `[...]` in the expected line stands for any text."""
    if "[...]" not in expected:
        return expected == actual
    pattern = ".*".join(re.escape(part) for part in expected.split("[...]"))
    return re.fullmatch(pattern, actual) is not None


def explain(expected, actual, label):
    """A short account of why expected is not the whole of actual: a diff, or with `...` in
    expected, the first expected line not found in order and the output line most like it."""
    if "..." not in expected:
        return short_diff(expected, actual, label, "the run")
    at = 0
    for line in expected:
        if line == "...":
            continue
        found = next((k for k in range(at, len(actual)) if same(line, actual[k])), None)
        if found is None:
            near = difflib.get_close_matches(line, actual[at:], n=1, cutoff=0.0)
            return short_diff([line], near, label, "the run, the line most like it")
        at = found + 1
    return "every expected line is there, but something comes first or last that the block does not allow (a `...` missing?)"


def matches_whole(expected, actual):
    """Whether the expected lines are the whole of actual (`...` = any lines)."""
    start, end = ["\0start"], ["\0end"]
    return matches(start + expected + end, start + actual + end) == 0


def cmd_excerpts(_args):
    for md in markdown_files():
        for kind, arg, mline, _info, first, body in blocks_of(md):
            if kind != "excerpt":
                continue
            if not arg:
                raise Mismatch(f"{rel(md)}:{mline}: `check: excerpt` names no file")
            source = REPO / arg if (REPO / arg).exists() else md.parent / arg
            if not source.is_file():
                raise Mismatch(f"{rel(md)}:{mline}: excerpt of {arg}, which does not exist")
            text = source.read_text().splitlines()
            if matches(body, text, partial_line=True) is None:
                close = difflib.get_close_matches(body[0], text, n=1, cutoff=0.3) if body else []
                start = text.index(close[0]) if close else 0
                window = text[start:start + len(body)]
                raise Mismatch(
                    f"{rel(md)}:{first}: the block is not in {rel(source)} (transcripts are "
                    f"regenerated, never edited: copy the text from the file)\n"
                    + short_diff(body, window, f"{rel(md)}:{first}", rel(source))
                )
            print(f"ok: excerpt {rel(md)}:{first} is in {rel(source)}")


CARGO_NOISE = re.compile(
    r"^\s*(Compiling|Finished|Running|Blocking|Downloaded|Downloading|Updating|Locking|Adding|"
    r"Checking|Fresh|Doc-tests|Building|Packaging|Waiting)\b"
)
DURATION = re.compile(r"\b\d+(\.\d+)?\s?(ns|µs|us|ms|s)\b")


def normalise_output(lines):
    """What a run block's output is compared by: no colour codes, no trailing blanks, no cargo
    progress lines, and every duration (`8.58ms`, `0.08s`) written `<duration>`."""
    out = []
    for line in lines:
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
        if CARGO_NOISE.match(line):
            continue
        out.append(DURATION.sub("<duration>", line))
    while out and not out[-1]:
        out.pop()
    return out


def run_block(md, first, body, timeout):
    script = "set -euo pipefail\n" + "\n".join(body) + "\n"
    proc = subprocess.Popen(["bash", "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the block's own process group, nothing else
        proc.communicate()
        raise Mismatch(f"{rel(md)}:{first}: still running after {timeout} s (`check: run timeout=N` to allow more)")
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-15:])
        raise Mismatch(f"{rel(md)}:{first}: exited with {proc.returncode}; its last lines:\n{tail}")
    return out.splitlines()


def cmd_blocks(args):
    only_list = "--list" in args
    for md in markdown_files():
        last_run = None
        for kind, arg, mline, info, first, body in blocks_of(md):
            if kind == "run":
                if info.split()[:1] not in (["sh"], ["bash"]):
                    raise Mismatch(f"{rel(md)}:{mline}: `check: run` above a ```{info} block, not ```sh")
                t = re.search(r"timeout=(\d+)", arg)
                timeout = int(t.group(1)) if t else 300
                if only_list:
                    print(f"{rel(md)}:{first}: {' / '.join(l for l in body if l.strip())}")
                    last_run = None
                    continue
                output = run_block(md, first, body, timeout)
                last_run = (first, output)
                print(f"ok: {rel(md)}:{first} ran and exited 0: {body[0] if body else ''}")
            elif kind == "output" and not only_list:
                if last_run is None:
                    raise Mismatch(f"{rel(md)}:{mline}: `check: output` with no `check: run` block above it")
                run_first, output = last_run
                expected, got = normalise_output(body), normalise_output(output)
                if not matches_whole(expected, got):
                    raise Mismatch(
                        f"{rel(md)}:{first}: the output of the block at line {run_first} differs "
                        f"(normalised; `...` stands for any lines)\n" + explain(expected, got, f"{rel(md)}:{first}")
                    )
                print(f"ok: {rel(md)}:{first} is what the block at line {run_first} printed")
                last_run = None


# ---------------------------------------------------------------------------------------------
# Transcripts: what changes from run to run is normalised away, the rest must be equal

# Files whose lines come in the order the scheduler picked: compared as sorted lists.
ORDERED = {"quick-start-client.txt", "one-client.txt", "wire.txt"}
HOLD_MS = 5000  # the hold of the run: waits and times are compared to the nearest multiple of it
IP = r"\d{1,3}(?:\.\d{1,3}){3}"


def about(ms):
    return f"≈{round(float(ms) / HOLD_MS) * HOLD_MS}"


def normalise_transcript(name, text, ports):
    """Turns one transcript into lines that do not change between two honest runs:
    - client ports (chosen by the system) become <port>;
    - the router's and servers' ports of a --check run become the defaults (9020, 12347..);
    - which slot and server served which client is the scheduler's choice (the ninth client
      takes whichever slot was freed first): slots become <slot>, servers <server>;
    - times in ms are rounded to the nearest 5 s (the hold): ≈0, ≈5000, ≈10000;
    - the open-files line depends on the machine's limits;
    - lines that several threads print, and rows of tables and logs, are sorted, except in the
      files whose order is fixed (ORDERED).
    The first line (`$ command`) is compared as it is."""

    def port_of(m):
        return str(ports.get(m.group(0), m.group(0)))

    if name.endswith(".json"):
        data = json.loads(text)
        lines = [f"count {data.get('count')}"]
        for key, rows in data.items():
            if key == "count":
                continue
            lines.append(f"{key}: {len(rows)} rows")
            lines += [f"{key} row {json.dumps(r)}" for r in rows]
        body = lines
        head = []
    elif name.endswith(".jsonl"):
        head, body = [], text.splitlines()
    else:
        head, *body = text.splitlines() if text else [""]
        head = [head]
    out = []
    for line in body:
        line = line.rstrip()
        if name.endswith(".jsonl") and line:
            e = json.loads(line)
            e["t_ms"] = 0.0  # placed below, relative to the first event
            line = json.dumps(e, sort_keys=True)
        # Client ports, in every form the programs print them.
        line = re.sub(rf"(Connected to : {IP} : )\d+", r"\1<port>", line)
        line = re.sub(rf"([\(\[]['\"]{IP}['\"], )\d+", r"\1<port>", line)
        line = re.sub(rf"({IP}):\d+( -> | waits)", r"\1:<port>\2", line)
        line = re.sub(rf"(\"client\": \"{IP}):\d+", r"\1:<port>", line)
        # The ports of this run's router and servers, as the defaults.
        line = re.sub(r"(?<![\d.])\d{2,5}(?!\d)", port_of, line) if ports else line
        # Which slot and server: the scheduler's choice.
        line = re.sub(r"\b(1234[789]|12350)\b", "<server>", line)
        line = re.sub(r"\bslot [0-3]\b", "slot <slot>", line)
        line = re.sub(r"\"slot\": ?[0-3]\b", '"slot":<slot>', line)
        # Times.
        line = re.sub(r"(waited |Waited for a slot : )(\d+)( ms)", lambda m: m.group(1) + about(m.group(2)) + m.group(3), line)
        line = re.sub(r"(\"waited_ms\": ?)(\d+)", lambda m: m.group(1) + about(m.group(2)), line)
        line = re.sub(r"^.*\d+ open files.*: room for \d+ clients at once.*$", "<the open-files line>", line)
        # A row of the --clients table: client, status, slot, queue, waited_ms, total_ms, query, place.
        row = re.match(r"^\s*(\d+)\s+(\S+)\s+(\d+|-)\s+(\d+|-)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$", line)
        if row and name == "clients.txt":
            c = row.groups()
            slot = "<slot>" if c[2] in "0123" else c[2]
            line = f"<client> {c[1]} {slot} {c[3]} {about(c[4])} {about(c[5])} {c[6]} {c[7]}"
        elif name == "clients.txt":
            line = " ".join(line.split())
        out.append(line)
    if name.endswith(".jsonl"):
        events = [json.loads(l) for l in text.splitlines() if l.strip()]
        t0 = min(e["t_ms"] for e in events) if events else 0
        out = [l.replace('"t_ms": 0.0', f'"t_ms": {about(e["t_ms"] - t0)}') for l, e in zip(out, events)]
    if name not in ORDERED:
        out.sort()
    return head + out


def parse_ports(args):
    ports = {}
    if "--ports" in args:
        spec = args[args.index("--ports") + 1]
        for pair in filter(None, spec.split(",")):
            old, new = pair.split("=")
            ports[old] = new
    return ports


def server_logs(folder):
    return sorted(p.name for p in Path(folder).glob("geotracker-server-*.json"))


def cmd_transcripts(args):
    committed, fresh = Path(args[0]), Path(args[1])
    ports = parse_ports(args)
    names = sorted({p.name for p in committed.iterdir()} | {p.name for p in fresh.iterdir()})
    for name in names:
        if not (committed / name).exists():
            raise Mismatch(f"transcript {name}: made by the script but not in {rel(committed)} (run report/scripts/transcripts.sh)")
        if not (fresh / name).exists():
            raise Mismatch(f"transcript {rel(committed / name)}: in the repository but not made by the script")
    # The four servers' logs are compared together: which of them served the ninth client, and
    # so has a row more, is the scheduler's choice.
    groups = [[n] for n in names if not n.startswith("geotracker-server-")]
    if server_logs(committed):
        groups.append(server_logs(committed))
    for group in groups:
        want, got = [], []
        for name in group:
            want += normalise_transcript(name, (committed / name).read_text(), {})
            got += normalise_transcript(name, (fresh / name).read_text(), ports)
        if len(group) > 1:
            want, got = sorted(want), sorted(got)
        label = ", ".join(rel(committed / n) for n in group)
        if want != got:
            raise Mismatch(
                f"transcript {label} differs from a run made now (normalised: ports, slots, "
                f"servers, times to ≈5 s, thread order; regenerate with report/scripts/transcripts.sh, "
                f"never by hand)\n" + short_diff(want, got, "committed", "run now")
            )
        print(f"ok: transcript {label} matches a run made now")


def cmd_normalise(args):
    path = Path(args[0])
    print("\n".join(normalise_transcript(path.name, path.read_text(), parse_ports(args))))


def main():
    commands = {"links": cmd_links, "excerpts": cmd_excerpts, "blocks": cmd_blocks,
                "transcripts": cmd_transcripts, "normalise": cmd_normalise}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]](sys.argv[2:])
    except Mismatch as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
