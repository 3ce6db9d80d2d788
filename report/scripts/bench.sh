#!/usr/bin/env bash
# Measures geotracker against the floor, in one run on one machine, with nothing but this
# repository: the client's --load mode is the load generator, and the floor is the bare relay
# of tests/yardsticks.rs (a thread per connection at a relay and at four servers, a new
# connection per request, an answer of geotracker's size, nothing else).
#
#   bash report/scripts/bench.sh                        # 1 to 1000 clients, 3 rounds of 4 s (3.5 min)
#   CONCS="1 64" SECS=3 ROUNDS=1 bash report/scripts/bench.sh
#
# Each round measures every number of clients on each system in turn (the order of the
# systems rotates from round to round). Then a fresh router takes 1000 clients for SECS s (its
# peak memory), and the in-process measurements of tests/bench.rs run (INPROCESS=0 skips them).
# Writes to report/bench/ (OUT=DIR to write elsewhere):
#   raw-<stamp>.txt       one line per measurement, what the load generator printed, condensed
#   results-<stamp>.md    the same as a table, with each program's peak resident memory so far
#   inprocess-<stamp>.txt what tests/bench.rs printed
# and, with python3, runs report/scripts/plot_bench.py: summary-<stamp>.md (medians of the
# rounds, ratios) and report/figures/throughput.svg. Linux (reads /proc for memory). Absolute
# figures drift between runs on a shared machine: quote ratios from the same run.
#
# Optional: the Python original. It is not in this repository (it is the original team's code;
# a lecturer has it with the team's report, from the course). To compare with it, run its
# router and four servers on this machine, adapted in three ways: its servers on 127.0.0.1
# ports, ip-api.com replaced by a local lookup of src/geo/data/dbip-lite-sample.mmdb (ip-api.com
# answers 45 requests a minute, so a load test of the original as it is measures ip-api.com),
# and no 5 s hold (time.sleep(5) -> 0). Then:
#
#   PYTHON_ROUTER=127.0.0.1:9040 PYTHON_PIDS="<its five pids>" bash report/scripts/bench.sh
#
# Its router answers the text of a Python dict, which the client's --load cannot read, so it
# is measured with the raw load of tests/yardsticks.rs (sends nothing, reads to the end, counts
# an answer that contains "success"); geotracker is measured the same way too (as
# geotracker_raw), so that the two compare like with like. PYTHON_PIDS, if given, adds their
# peak memory.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${SECS:-4}
CONCS=${CONCS:-"1 4 16 64 256 1000"}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-$REPO/report/bench}
INPROCESS=${INPROCESS:-1}
PYTHON_ROUTER=${PYTHON_ROUTER:-}
PYTHON_PIDS=${PYTHON_PIDS:-}
[[ -r /proc/self/status ]] || { echo "bench.sh reads /proc for memory: Linux only" >&2; exit 77; }
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cd "$REPO"
echo "building the router, the client and the yardsticks (release)..." >&2
cargo build -q --release --example router --example client
YARDSTICKS=$(cargo test -q --release --test yardsticks --no-run --message-format=json |
  sed -n 's/.*"executable":"\([^"]*yardsticks-[^"]*\)".*/\1/p' | tail -1)
[[ -x $YARDSTICKS ]] || { echo "cannot find the yardsticks test binary" >&2; exit 1; }
CLIENT=$REPO/target/release/examples/client
ROUTER=$REPO/target/release/examples/router
RUN=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT

# Waits for "$2" in file $1 (a program's output), and prints what follows it on that line.
after() {
  for _ in $(seq 200); do
    if grep -q "$2" "$1" 2>/dev/null; then sed -n "s/.*$2//p" "$1" | head -1; return; fi
    sleep 0.05
  done
  cat "$1" >&2
  echo "no '$2' in $1" >&2
  exit 1
}

start_router() { # a router with its four in-process servers; prints its address
  (cd "$RUN" && exec "$ROUTER" --port 0 --server-port 0 --public-ip 117.222.175.180 --no-log \
    --quiet --max-clients 5000 --max-per-source 5000) >"$RUN/router-$1.out" 2>&1 &
  PIDS+=($!)
  disown
  echo "$!" >"$RUN/router-$1.pid"
}
start_router main
OURS=127.0.0.1:$(after "$RUN/router-main.out" "router: socket bound to port ")
OURS_PID=$(cat "$RUN/router-main.pid")
GEOTRACKER_FLOOR_PORT=0 "$YARDSTICKS" --ignored --exact floor --nocapture >"$RUN/floor.out" 2>&1 &
PIDS+=($!)
disown
FLOOR_PID=$!
FLOOR=$(after "$RUN/floor.out" "floor: listening on ")

peak_mb() { # the peak resident memory of the processes $1, in MB
  local kb=0 p
  for p in $1; do kb=$((kb + $(awk '/^VmHWM/ {print $2}' "/proc/$p/status"))); done
  awk -v kb="$kb" 'BEGIN {printf "%.1f", kb / 1024}'
}

# One measurement: prints the load generator's report condensed to one line,
# "ok=N err=N rps=N p50_us=N p99_us=N errs={...}".
measure() { # system, clients
  local report
  case $1 in
    floor) report=$("$CLIENT" --router "$FLOOR" --load --clients "$2" --secs "$SECS") ;;
    geotracker) report=$("$CLIENT" --router "$OURS" --load --clients "$2" --secs "$SECS") ;;
    geotracker_raw) report=$(GEOTRACKER_RAW_LOAD=$OURS GEOTRACKER_RAW_CLIENTS=$2 \
      GEOTRACKER_RAW_SECS=$SECS GEOTRACKER_RAW_SEND='\n' "$YARDSTICKS" --ignored --exact raw --nocapture) ;;
    python_original) report=$(GEOTRACKER_RAW_LOAD=$PYTHON_ROUTER GEOTRACKER_RAW_CLIENTS=$2 \
      GEOTRACKER_RAW_SECS=$SECS GEOTRACKER_RAW_SEND='' "$YARDSTICKS" --ignored --exact raw --nocapture) ;;
  esac
  awk '
    / clients, .* answers \(/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "answers") ok = $i; if ($(i+1) ~ /^errors/) err = $i; if ($i ~ /^\([0-9]+\/s\),?$/) { rps = $i; gsub(/[^0-9]/, "", rps) } } }
    /^latency: / { p50 = $3 * 1000; p99 = $9 * 1000 }
    /^error / { sub(/^error /, ""); n = $NF; sub(/: [0-9]+$/, ""); errs = errs (errs ? ", " : "") "\"" $0 "\": " n }
    END { printf "ok=%d err=%d rps=%d p50_us=%d p99_us=%d errs={%s}\n", ok, err, rps, p50, p99, errs }
  ' <<<"$report"
}

# The kernel's count of connections that found a listen backlog full (all programs on the
# machine): their SYN is sent again 1 s later, then 3 s, then 7 s.
overflows() { awk '/^TcpExt:/ { if (!seen++) { for (i = 2; i <= NF; i++) name[i] = $i } else { for (i = 2; i <= NF; i++) if (name[i] == "ListenOverflows") print $i } }' /proc/net/netstat; }

SYSTEMS=(floor geotracker)
if [[ -n $PYTHON_ROUTER ]]; then
  SYSTEMS+=(python_original geotracker_raw)
else
  echo "(no PYTHON_ROUTER: the Python original is left out; see the top of this script)" >&2
fi
pids_of() {
  case $1 in
    floor) echo "$FLOOR_PID" ;;
    geotracker | geotracker_raw) echo "$OURS_PID" ;;
    python_original) echo "$PYTHON_PIDS" ;;
  esac
}

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
RAW=$OUT/raw-$STAMP.txt
TABLE=$OUT/results-$STAMP.md
{
  echo "# bench.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(uname -sr)); $SECS s per measurement, $ROUNDS round(s)"
  echo "# before the run, load average $(cut -d' ' -f1-3 /proc/loadavg) (other programs competing for the CPUs)"
  echo "# load generator: the client's --load (raw load of tests/yardsticks.rs for python_original and geotracker_raw)"
  echo "# geotracker: target/release/examples/router --server-port 0 --public-ip 117.222.175.180 --no-log --quiet --max-clients 5000 --max-per-source 5000"
  echo "# floor: tests/yardsticks.rs, floor; python_original: ${PYTHON_ROUTER:-not measured}"
} >"$RAW"
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(uname -sr)) by report/scripts/bench.sh; $SECS s per measurement, $ROUNDS round(s); raw lines in raw-$STAMP.txt."
  echo
  echo "| round | system | clients | answers/s | p50 ms | p99 ms | errors | backlog overflows | peak RSS MB |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >"$TABLE"
for round in $(seq "$ROUNDS"); do
  # Rotate the order of the systems, so that none always runs first.
  order=("${SYSTEMS[@]:$(((round - 1) % ${#SYSTEMS[@]}))}" "${SYSTEMS[@]:0:$(((round - 1) % ${#SYSTEMS[@]}))}")
  for conc in $CONCS; do
    for system in "${order[@]}"; do
      before=$(overflows)
      line="round=$round system=$system conc=$conc $(measure "$system" "$conc")"
      line="$line overflows=$(($(overflows) - before))"
      echo "$line" >>"$RAW"
      echo "$line" >&2
      pids=$(pids_of "$system")
      mem=$([[ -n $pids ]] && peak_mb "$pids" || echo "-")
      awk -v l="$line" -v m="$mem" 'BEGIN {
        split(l, f, /[ =]/); # round R system S conc C ok N err N rps N p50_us N p99_us N
        o = l; sub(/.* overflows=/, "", o)
        printf "| %s | %s | %s | %s | %.2f | %.2f | %s | %s | %s |\n", f[2], f[4], f[6], f[12], f[14] / 1000, f[16] / 1000, f[10], o, m }' >>"$TABLE"
      sleep 1
    done
  done
done

# A fresh router under 1000 clients: how much memory it takes.
start_router fresh
FRESH=127.0.0.1:$(after "$RUN/router-fresh.out" "router: socket bound to port ")
kill -INT "$OURS_PID" "$FLOOR_PID" 2>/dev/null || true
line="fresh=1 system=geotracker conc=1000 $(OURS=$FRESH measure geotracker 1000)"
line="$line peak_rss_mb=$(peak_mb "$(cat "$RUN/router-fresh.pid")")"
echo "$line" | tee -a "$RAW" >&2
{ echo; echo "A fresh router, 1000 clients for $SECS s: \`$line\`"; } >>"$TABLE"

if [[ $INPROCESS == 1 ]]; then
  echo "in-process measurements (tests/bench.rs)..." >&2
  INPROC=$OUT/inprocess-$STAMP.txt
  { echo "\$ cargo test --release --test bench -- --ignored --nocapture --test-threads=1"
    cargo test -q --release --test bench -- --ignored --nocapture --test-threads=1 2>&1 |
      grep -v -e '^running ' -e '^test result' -e '^$' -e '^\.*$'
  } >"$INPROC"
  cat "$INPROC" >&2
fi

cat "$TABLE"
echo "written: $RAW $TABLE${INPROC:+ $INPROC}" >&2
if command -v python3 >/dev/null; then
  python3 "$REPO/report/scripts/plot_bench.py" "$RAW"
else
  echo "no python3: run python3 report/scripts/plot_bench.py $RAW for the summary and the figure" >&2
fi
