#!/usr/bin/env bash
# Regenerates the lab's transcripts in report/lab/transcripts/ from real runs: the selftest, the
# commands of report/lab/interactive.cli typed at the Mininet CLI, and what `ip netns`,
# `ip link`, `nft list ruleset` and `lsns -t net` show before and after them. Each file starts
# with the command that produced it. Needs root and Mininet (see lab.py), and the programs
# built first, as yourself:
#
#   cargo build --examples && sudo report/lab/transcripts.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/report/lab/transcripts
RUN=$(mktemp -d /tmp/geotracker-lab-transcripts-XXXXXX)
trap 'rm -rf "$RUN"' EXIT
cd "$REPO"
mkdir -p "$OUT"

machine() {
  echo "\$ ip netns"; ip netns
  echo "\$ ip -br link"; ip -br link
  echo "\$ nft list ruleset"; nft list ruleset
  echo "\$ lsns -t net -o NS,TYPE"; lsns -t net -o NS,TYPE
}

# Runs `lab.py ARGS`, writing "$ sudo python3 report/lab/lab.py ARGS", its output, its exit code
# and how long it took to FILE.
lab() {
  local file=$1 code=0 start
  shift
  start=$(date +%s.%N)
  { echo "\$ sudo python3 report/lab/lab.py $*"; /usr/bin/python3 report/lab/lab.py "$@" 2>&1 || code=$?
    echo "(exit code $code, $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }") s from the command to its exit)"; } >"$file"
}

machine >"$RUN/before.txt"
lab "$OUT/selftest.txt" --selftest --out "$RUN/selftest"
lab "$OUT/interactive.txt" --out "$RUN/interactive" --script report/lab/interactive.cli
machine >"$RUN/after.txt"
{ echo "# before the two runs above"; cat "$RUN/before.txt"; echo; echo "# after them"; cat "$RUN/after.txt"; } >"$OUT/machine-before-after.txt"

cp "$RUN/selftest/geotracker-router.json" "$RUN/selftest/geotracker-server-srv4.json" \
  "$RUN/selftest/gw1-conntrack.txt" "$RUN/selftest/gw2-conntrack.txt" "$RUN/selftest/rtr.out" "$OUT/"
chmod 644 "$OUT"/*
if [ -n "${SUDO_UID:-}" ]; then chown "$SUDO_UID:$SUDO_GID" "$OUT" "$OUT"/*; fi
if diff -q "$RUN/before.txt" "$RUN/after.txt" >/dev/null; then echo "the machine is as before" >&2; else echo "the machine CHANGED: see $OUT/machine-before-after.txt" >&2; fi
echo "written: $(cd "$OUT" && ls | tr '\n' ' ')" >&2
