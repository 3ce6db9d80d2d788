#!/usr/bin/env bash
# Proves the handout: every claim that a script can check, checked, from a fresh clone.
#
#   bash report/check.sh        # from the repository root; CI (.ci/run) runs it after cargo test
#
# It runs each part in turn and prints one line per check (`ok: ...`, or `skip: ... (why)`), and
# stops at the FIRST mismatch with a line `FAIL: ...` naming the file, line, transcript or
# exercise, with a short diff, and a non-zero exit code. The parts, cheapest first:
#   1. links and anchors of README.md and report/**/*.md resolve (as GitHub makes anchors);
#   2. the figures, regenerated from their sources, are byte for byte the committed ones;
#   3. the blocks marked `<!-- check: excerpt FILE -->` are copied from FILE;
#   4. the ```sh blocks marked `<!-- check: run -->` run and exit 0, and a ```text block marked
#      `<!-- check: output -->` after one is what it printed (normalised);
#   5. report/scripts/transcripts.sh --check: the transcripts, made again now on free ports,
#      equal the committed ones, normalised (client ports, which slot served whom, times to
#      the nearest 5 s, the order in which threads print);
#   6. report/scripts/debugger.sh --check and report/scripts/exercises.sh --check, where they
#      exist: the debugger walkthrough and each exercise's promised observation.
# The markers and the normalisation are described in report/scripts/check_handout.py. A part's
# script exits 0 (ok), 77 (skipped: it printed one line saying why and how to install what is
# missing) or anything else (failed).
#
# Needs: bash, python3 (standard library only), cargo; Linux or macOS for the transcripts.
# Takes about 35 s on a 2-core machine once `cargo test` has built everything: 20 s for the
# README's `cargo test`, 11 s for the transcripts' two runs (two 5 s holds); the debugger and
# exercise scripts add their own time.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
command -v python3 >/dev/null || {
  echo "FAIL: python3 is needed to check the handout (Debian/Ubuntu: sudo apt-get install python3; macOS: brew install python)"
  exit 1
}
CHECK=(python3 report/scripts/check_handout.py)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# part SCRIPT ARGS...: runs a part that prints its own lines; 77 is a skip, anything else but
# 0 stops here.
part() {
  local code=0
  "$@" || code=$?
  if ((code == 77)); then
    return 0
  elif ((code != 0)); then
    echo "FAIL: \`$*\` exited with $code (its output is above)"
    exit "$code"
  fi
}

# optional_part SCRIPT: another helper's checker, if it is in this tree.
optional_part() {
  if [[ -f $1 ]]; then
    part bash "$1" --check
  else
    echo "skip: $1 --check ($1 is not in this tree)"
  fi
}

# figure COMMITTED FRESH SOURCE COMMAND...: COMMAND (which reads SOURCE) writes FRESH, which must
# be the committed figure byte for byte.
figure() {
  local committed=$1 fresh=$2 source=$3
  shift 3
  "$@" >/dev/null
  if ! cmp -s "$fresh" "$committed"; then
    echo "FAIL: $committed is not what $source makes now; regenerate it (never edit it by hand). First differences, one SVG tag a line:"
    diff <(tr '>' '\n' <"$committed") <(tr '>' '\n' <"$fresh") | head -n 20
    exit 1
  fi
  echo "ok: figure $committed is what $source makes"
}

# 1. Links and anchors.
part "${CHECK[@]}" links

# 2. Figures.
figure report/figures/architecture.svg "$TMP/architecture.svg" report/scripts/draw_architecture.py \
  python3 report/scripts/draw_architecture.py "$TMP/architecture.svg"
figure report/figures/semaphore-timeline.svg "$TMP/semaphore-timeline.svg" \
  "report/scripts/plot_timeline.py from report/transcripts/semaphore-trace.jsonl" \
  python3 report/scripts/plot_timeline.py report/transcripts/semaphore-trace.jsonl "$TMP/semaphore-timeline.svg"
# throughput.svg and its summary come from the raw lines whose stamp is in the figure's title,
# through plot_bench.py run from a copy (it writes beside the raw file and into ../figures).
stamp=$(sed -n 's/.*(\([0-9TZ-]*\))<\/text>.*/\1/p' report/figures/throughput.svg | head -n 1)
if [[ -z $stamp || ! -f report/bench/raw-$stamp.txt ]]; then
  echo "FAIL: report/figures/throughput.svg: its raw lines, report/bench/raw-$stamp.txt, are not in the tree"
  exit 1
fi
bench=$TMP/bench-copy
mkdir -p "$bench/scripts" "$bench/bench" "$bench/figures"
cp report/scripts/plot_bench.py "$bench/scripts/"
cp "report/bench/raw-$stamp.txt" "$bench/bench/"
figure report/figures/throughput.svg "$bench/figures/throughput.svg" \
  "report/scripts/plot_bench.py from report/bench/raw-$stamp.txt" \
  python3 "$bench/scripts/plot_bench.py" "$bench/bench/raw-$stamp.txt"
if [[ -f report/bench/summary-$stamp.md ]]; then
  if ! diff -u "report/bench/summary-$stamp.md" "$bench/bench/summary-$stamp.md" >"$TMP/diff"; then
    echo "FAIL: report/bench/summary-$stamp.md is not what plot_bench.py makes from raw-$stamp.txt"
    head -n 20 "$TMP/diff"
    exit 1
  fi
  echo "ok: report/bench/summary-$stamp.md is what plot_bench.py makes from raw-$stamp.txt"
fi
echo "skip: figures/web-page*.png (not compared: a screenshot changes with the browser version and its fonts; tests/web_browser.rs checks the page itself in Chromium under cargo test, and cargo test --test web_browser -- --ignored takes the screenshots again)"

# 3. Excerpts of transcripts quoted in the handout.
part "${CHECK[@]}" excerpts

# 4. Runnable blocks.
part "${CHECK[@]}" blocks

# 5. The transcripts, made again.
part bash report/scripts/transcripts.sh --check
echo "skip: report/lab/transcripts (not made again: they need root and Mininet, and ports chosen by the gateways and conntrack timers change in every run; the handout's excerpts of them are checked above, tests/lab.rs runs the selftest under cargo test where root and Mininet are, and sudo report/lab/transcripts.sh makes them again)"

# 6. The debugger walkthrough and the exercises, where their scripts exist.
optional_part report/scripts/debugger.sh
optional_part report/scripts/exercises.sh

echo "ok: the handout checks out"
