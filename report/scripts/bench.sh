#!/usr/bin/env bash
# Measures geotracker side by side with the yardsticks in ../shared/bench (see its README):
# `floor` (a bare two-hop relay of the same shape) and `python_original` (the original system
# with a local lookup), all driven by the same `loadgen`, in one run, on one machine.
#
#   report/scripts/bench.sh                 # 1, 4, 16, 64, 256, 1000 clients, 5 s each
#   CONCS="1 64" SECS=3 ROUNDS=3 report/scripts/bench.sh
#
# Prints a Markdown table (requests/s, p50, p99, errors, peak resident memory so far) and
# writes it with the raw loadgen lines to report/bench/. Linux only (reads /proc). Absolute
# figures drift between runs on a shared machine: quote ratios from the same run.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=${BENCH:-$REPO/../shared/bench}
SECS=${SECS:-5}
CONCS=${CONCS:-"1 4 16 64 256 1000"}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-$REPO/report/bench}
YARDSTICKS=$REPO/target/bench-yardsticks
DB=$REPO/src/geo/data/dbip-lite-sample.mmdb
PORT_OURS=19020 PORT_FLOOR=19030 PORT_PY=19040
mkdir -p "$OUT" "$YARDSTICKS"
ulimit -n 20000 2>/dev/null || true

echo "building loadgen, floor and geotracker (release)..." >&2
CARGO_TARGET_DIR=$YARDSTICKS cargo build -q --release --manifest-path "$BENCH/loadgen/Cargo.toml"
CARGO_TARGET_DIR=$YARDSTICKS cargo build -q --release --manifest-path "$BENCH/floor/Cargo.toml"
(cd "$REPO" && cargo build -q --release --examples)
LOADGEN=$YARDSTICKS/release/loadgen
RUN_DIR=$(mktemp -d)
PIDS=()
cleanup() { exec 2>/dev/null; for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done; sleep 1; for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$RUN_DIR"; }
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

"$YARDSTICKS/release/floor" $PORT_FLOOR >/dev/null 2>&1 & PIDS+=($!); FLOOR_PIDS="$!"
(cd "$RUN_DIR" && exec "$REPO/target/release/examples/router" --port $PORT_OURS --server-port 0 \
    --public-ip 117.222.175.180 --no-log --quiet --max-clients 5000) >"$RUN_DIR/ours.out" 2>&1 & PIDS+=($!); OURS_PIDS="$!"
PY_PIDS=""
PY_SERVERS=""
for i in 1 2 3 4; do
  port=$((PORT_PY + i))
  python3 "$BENCH/python_original/server.py" 127.0.0.1 $port "$DB" "$RUN_DIR/py-$i.json" >/dev/null 2>&1 & PIDS+=($!); PY_PIDS="$PY_PIDS $!"
  PY_SERVERS="$PY_SERVERS${PY_SERVERS:+,}127.0.0.1:$port"
done
for i in 1 2 3 4; do wait_port $((PORT_PY + i)); done
python3 "$BENCH/python_original/router.py" $PORT_PY "$PY_SERVERS" 0 "$RUN_DIR/py-router.json" >/dev/null 2>&1 & PIDS+=($!); PY_PIDS="$PY_PIDS $!"
wait_port $PORT_FLOOR; wait_port $PORT_OURS; wait_port $PORT_PY

rss_mb() { local total=0; for p in $1; do total=$((total + $(awk '/^VmHWM/ {print $2}' /proc/$p/status))); done; awk -v kb="$total" 'BEGIN {printf "%.1f", kb/1024}'; }

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
RAW=$OUT/raw-$STAMP.txt
TABLE=$OUT/results-$STAMP.md
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(uname -r)); loadgen on the same machine, $SECS s per cell, $ROUNDS round(s)."
  echo
  echo "| system | clients | requests/s | p50 ms | p99 ms | errors | peak RSS MB |"
  echo "|---|---|---|---|---|---|---|"
} >"$TABLE"
for round in $(seq "$ROUNDS"); do
  for conc in $CONCS; do
    for system in floor geotracker python_original; do
      case $system in
        floor) port=$PORT_FLOOR; send='\n'; pids=$FLOOR_PIDS ;;
        geotracker) port=$PORT_OURS; send='\n'; pids=$OURS_PIDS ;;
        python_original) port=$PORT_PY; send=''; pids=$PY_PIDS ;;
      esac
      line=$("$LOADGEN" --addr 127.0.0.1:$port --conc "$conc" --secs "$SECS" --send "$send" --expect success)
      echo "round=$round system=$system $line" >>"$RAW"
      echo "round=$round system=$system $line" >&2
      rps=$(sed -E 's/.*rps=([0-9]+).*/\1/' <<<"$line")
      p50=$(sed -E 's/.*p50_us=([0-9]+).*/\1/' <<<"$line")
      p99=$(sed -E 's/.*p99_us=([0-9]+).*/\1/' <<<"$line")
      err=$(sed -E 's/.* err=([0-9]+).*/\1/' <<<"$line")
      awk -v s="$system" -v c="$conc" -v r="$rps" -v p50="$p50" -v p99="$p99" -v e="$err" \
        -v m="$(rss_mb "$pids")" 'BEGIN {printf "| %s | %s | %s | %.2f | %.2f | %s | %s |\n", s, c, r, p50/1000, p99/1000, e, m}' >>"$TABLE"
      sleep 1
    done
  done
done
cat "$TABLE"
echo "written: $TABLE and $RAW" >&2
