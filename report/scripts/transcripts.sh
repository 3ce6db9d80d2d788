#!/usr/bin/env bash
# Makes the transcripts of README.md (quick start, the wire protocol) and report/README.md
# section 6 from real runs, never by hand. Two runs of the router, each with its four servers
# in-process and --public-ip 117.222.175.180 (the address the servers fall back to offline, so
# that the answers do not depend on where the script runs):
#   1. the quick start: a router, one client, the same question as one JSON line with the
#      client's --json and with bash's /dev/tcp, then Ctrl-C;
#   2. the semaphore at work: a router with --hold-secs 5 and --trace, eight clients at once,
#      then one more while the second four hold their slots, then Ctrl-C.
# Each .txt file starts with the command that produced it. Unix only (it sends SIGINT with
# kill); needs python3 for the comparison and the figure.
#
#   bash report/scripts/transcripts.sh          # rewrites report/transcripts/ and
#                                               # report/figures/semaphore-timeline.svg
#   bash report/scripts/transcripts.sh --check  # makes them again in a temporary folder and
#                                               # compares them with report/transcripts/
#
# Ports. Without --check the runs use the default ports the handout shows (9020 and
# 12347..12350), so that the transcripts read as the handout's commands do; they must be free
# (stop your own router first). With --check nothing is written and nothing fixed is bound: the
# routers and servers take free ports (--port 0 --server-port 0), and the comparison maps them
# back to the defaults. What changes from one honest run to the next (client ports, which slot
# served which client, times, the order in which threads print) is normalised away by
# report/scripts/check_handout.py; anything else that differs is reported, with a short diff.
# Exit code: 0 written or equal, 77 skipped (not Unix, no python3), 1 a difference or a failure.
set -euo pipefail
MODE="write"
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  *) echo "usage: bash report/scripts/transcripts.sh [--check]" >&2; exit 2 ;;
esac
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
case "$(uname -s)" in
  Linux|Darwin|*BSD) ;;
  *) echo "skip: transcripts (they stop the router with kill -INT: Linux, macOS or BSD only)"; exit 77 ;;
esac
command -v python3 >/dev/null || {
  echo "skip: transcripts (python3 is missing: apt-get install python3, or brew install python)"
  exit 77
}
# The answers must come from the bundled sample, whatever the machine is set up with.
unset GEOTRACKER_GEO_DB GEOTRACKER_ASN_DB

cargo build -q --examples
BIN=$REPO/target/debug/examples
RUN=$(mktemp -d)
FRESH=$RUN/transcripts
mkdir -p "$FRESH"
ROUTER=""
# On any way out: Ctrl-C, then SIGKILL, to the router this script started (by its pid), and
# the temporary folder removed.
cleanup() {
  if [[ -n $ROUTER ]] && kill -0 "$ROUTER" 2>/dev/null; then
    kill -INT "$ROUTER" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$ROUTER" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$ROUTER" 2>/dev/null || true
  fi
  rm -rf "$RUN"
}
trap cleanup EXIT
PORTS=""  # OLD=NEW,... : this run's ports and the defaults they stand for

# start_router NAME FLAGS...: starts a router in $RUN/NAME (where its logs go), with its output
# in $RUN/NAME/router.out; sets ROUTER (its pid) and PORT (the port it listens on).
start_router() {
  STAGE=$1
  local dir=$RUN/$1
  shift
  mkdir -p "$dir"
  local ports=()
  [[ $MODE == check ]] && ports=(--port 0 --server-port 0)
  (cd "$dir" && exec "$BIN/router" ${ports[@]+"${ports[@]}"} "$@") >"$dir/router.out" 2>&1 &
  ROUTER=$!
  # A loaded machine may take a while to start it: up to 60 s, and at once if it exits.
  for _ in $(seq 600); do
    grep -q "press Ctrl-C" "$dir/router.out" && break
    kill -0 "$ROUTER" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "press Ctrl-C" "$dir/router.out"; then
    cat "$dir/router.out" >&2
    echo "FAIL: the router did not start (is another one using port 9020 or 12347..12350? stop it, or use --check, which takes free ports)" >&2
    exit 1
  fi
  PORT=$(sed -n 's/^router: socket bound to port \([0-9]*\)$/\1/p' "$dir/router.out")
  local slots i=0
  slots=$(sed -n 's/^router: 4 server slots: \([^;]*\).*$/\1/p' "$dir/router.out")
  PORTS+="$PORT=9020,"
  for s in ${slots//,/ }; do
    PORTS+="${s##*:}=$((12347 + i)),"
    i=$((i + 1))
  done
}

# stop_router NAME: Ctrl-C, and the router must exit 0 having written its tables.
stop_router() {
  kill -INT "$ROUTER"
  local code=0
  wait "$ROUTER" || code=$?
  ROUTER=""
  if ((code != 0)); then
    cat "$RUN/$1/router.out" >&2
    echo "FAIL: the router exited with $code after Ctrl-C, not 0" >&2
    exit 1
  fi
}

# transcript FILE COMMAND_SHOWN COMMAND...: runs COMMAND, writes "$ COMMAND_SHOWN" and its output
# to FILE (appending if FILE already has a command); COMMAND must exit 0.
transcript() {
  local file=$1 shown=$2
  shift 2
  echo "\$ $shown" >>"$file"
  "$@" >>"$file" 2>&1 || {
    cat "$file" >&2
    echo "-- the router's last lines (it is $(kill -0 "$ROUTER" 2>/dev/null || echo "no longer ")running):" >&2
    tail -n 15 "$RUN/$STAGE/router.out" >&2
    echo "FAIL: \`$shown\` did not exit 0" >&2
    exit 1
  }
}

# 1. The quick start, and the wire protocol.
start_router quick --public-ip 117.222.175.180
transcript "$FRESH/quick-start-client.txt" "cargo run --example client" \
  "$BIN/client" --router "127.0.0.1:$PORT"
transcript "$FRESH/wire.txt" "cargo run --example client -- --json 8.8.8.8" \
  "$BIN/client" --router "127.0.0.1:$PORT" --json 8.8.8.8
# shellcheck disable=SC2016 # the command is shown as typed, and run with the port of this run
transcript "$FRESH/wire.txt" 'bash -c '\''exec 3<>/dev/tcp/127.0.0.1/9020; printf "\n" >&3; cat <&3'\' \
  bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; printf "\n" >&3; cat <&3' "$PORT"
stop_router quick
{
  echo "\$ cargo run --example router -- --public-ip 117.222.175.180"
  echo "(Ctrl-C after the client and the two questions of wire.txt)"
  cat "$RUN/quick/router.out"
} >"$FRESH/quick-start-router.txt"

# 2. The semaphore at work: eight clients at once hold the four slots 5 s each, the last four
# waiting their turn; the ninth comes while those four hold theirs, and waits a round.
start_router burst --hold-secs 5 --public-ip 117.222.175.180 --trace semaphore-trace.jsonl
transcript "$FRESH/clients.txt" "cargo run --example client -- --clients 8" \
  "$BIN/client" --router "127.0.0.1:$PORT" --clients 8
transcript "$FRESH/one-client.txt" "cargo run --example client -- 8.8.8.8" \
  "$BIN/client" --router "127.0.0.1:$PORT" 8.8.8.8
stop_router burst
{
  echo "\$ cargo run --example router -- --hold-secs 5 --public-ip 117.222.175.180 --trace semaphore-trace.jsonl"
  echo "(Ctrl-C after the clients below)"
  cat "$RUN/burst/router.out"
} >"$FRESH/router.txt"
cp "$RUN/burst/semaphore-trace.jsonl" "$RUN/burst/geotracker-router.json" "$FRESH/"
# The four servers' logs, under their default names.
IFS=, read -ra pairs <<<"$PORTS"
for pair in "${pairs[@]}"; do
  log=$RUN/burst/geotracker-server-${pair%%=*}.json
  [[ -f $log ]] && cp "$log" "$FRESH/geotracker-server-${pair##*=}.json"
done

if [[ $MODE == check ]]; then
  python3 report/scripts/check_handout.py transcripts report/transcripts "$FRESH" --ports "$PORTS"
  exit
fi
rm -f report/transcripts/*
cp "$FRESH"/* report/transcripts/
python3 report/scripts/plot_timeline.py report/transcripts/semaphore-trace.jsonl report/figures/semaphore-timeline.svg >&2
echo "written: report/transcripts/ ($(find report/transcripts -type f | wc -l | tr -d ' ') files) and report/figures/semaphore-timeline.svg" >&2
