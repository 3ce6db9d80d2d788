#!/usr/bin/env bash
# Regenerates the transcripts of report/README.md section 6 from real runs: a router with its four
# in-process servers and a 5 s hold, eight clients at once, then Ctrl-C. Each file starts with the
# command that produced it; the router's --trace timeline is drawn into
# report/figures/semaphore-timeline.svg. Unix (it sends SIGINT with kill); needs python3 for
# the figure; uses the default ports 9020 and 12347..12350, which must be free.
#
#   report/scripts/transcripts.sh        # writes report/transcripts/
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/report/transcripts
RUN=$(mktemp -d)
trap 'rm -rf "$RUN"' EXIT
cd "$REPO"
cargo build -q --examples
mkdir -p "$OUT"

ROUTER_CMD="cargo run --example router -- --hold-secs 5 --public-ip 117.222.175.180 --trace semaphore-trace.jsonl"
CLIENT_CMD="cargo run --example client -- --clients 8"
ONE_CMD="cargo run --example client -- 8.8.8.8"

# The router, in the folder where its logs go, with its output captured.
(cd "$RUN" && exec "$REPO/target/debug/examples/router" --hold-secs 5 --public-ip 117.222.175.180 \
  --trace semaphore-trace.jsonl) \
  >"$RUN/router.out" 2>&1 &
ROUTER=$!
for _ in $(seq 100); do grep -q "press Ctrl-C" "$RUN/router.out" 2>/dev/null && break; sleep 0.1; done
grep -q "press Ctrl-C" "$RUN/router.out" || { cat "$RUN/router.out"; echo "the router did not start" >&2; exit 1; }

"$REPO/target/debug/examples/client" --clients 8 >"$RUN/client.out" 2>&1
"$REPO/target/debug/examples/client" 8.8.8.8 >"$RUN/one.out" 2>&1
kill -INT "$ROUTER"
wait "$ROUTER"

{ echo "\$ $ROUTER_CMD"; echo "(Ctrl-C after the clients below)"; cat "$RUN/router.out"; } >"$OUT/router.txt"
{ echo "\$ $CLIENT_CMD"; cat "$RUN/client.out"; } >"$OUT/clients.txt"
{ echo "\$ $ONE_CMD"; cat "$RUN/one.out"; } >"$OUT/one-client.txt"
cp "$RUN/geotracker-router.json" "$OUT/geotracker-router.json"
cp "$RUN/geotracker-server-12347.json" "$OUT/geotracker-server-12347.json"
cp "$RUN/semaphore-trace.jsonl" "$OUT/semaphore-trace.jsonl"
python3 "$REPO/report/scripts/plot_timeline.py" "$OUT/semaphore-trace.jsonl" "$REPO/report/figures/semaphore-timeline.svg" >&2
echo "written: $(cd "$OUT" && ls | tr '\n' ' ')" >&2
