#!/usr/bin/env bash
# The exercises of report/README.md section 11: lists them, and checks that each one shows
# what the handout says it shows.
#
#   bash report/scripts/exercises.sh                # the list: each exercise, its concept, its check
#   bash report/scripts/exercises.sh --check        # every exercise (about 4 minutes after `cargo test`)
#   bash report/scripts/exercises.sh --check 3 9    # some of them
#   bash report/scripts/exercises.sh --quick        # all but the loom ones (7, 9): for CI, which runs loom itself
#   bash report/scripts/exercises.sh --loom [NAME]  # what report/scripts/loom_bugs.sh prints
#
# An exercise that changes code ships its change as a patch in report/exercises/; the check
# applies it to a scratch copy of the repository (never to the tree) and builds the copy in
# target/exercises/ (target/loom/ for loom), so that only geotracker itself is compiled again.
# The others run the programs `cargo test` built (target/debug/examples/), on free ports, as
# child processes that get their Ctrl-C from `kill -INT`.
#
# Prints one line per exercise: "ok: exercise N: what was seen" or "skip: exercise N: why".
# Exit: 0 when every check passed (some may have been skipped), 77 when all were skipped (the
# line says why), 1 when an exercise did not show what the handout says ("FAIL: exercise N:
# ...", with the output that shows it).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PATCHES=$REPO/report/exercises
EXAMPLES=$REPO/target/debug/examples
ALL=(1 2 3 4 5 6 7 8 9)
QUICK=(1 2 3 4 5 6 8)
export RUST_BACKTRACE=0

list() {
    cat <<'EOF'
Exercises of report/README.md section 11 (--check N checks exercise N):
  1  Fewer slots                      semaphore          live: 2 servers, 8 clients, waits of 5 s x ceil(place / 2)
  2  Remove the FIFO order            condition variable patch no-fifo.patch: tests/semaphore.rs, who overtook whom
  3  Put the check() race back        critical section   patch check-race.patch: "slot N was given to two clients"
  4  The NAT race                     critical section, NAT  patch nat-race.patch: callers share public addresses
  5  Ctrl-C during a burst, and twice signals            live: 40 clients served at once, then exit code 130
  6  Measure your own router          semaphore          live: --load against --hold-secs 1 gives 4 answers/s
  7  Let loom find the original's bugs  mutex, condition variable  loom: the three loom-*.patch
  8  Count the threads                threads            live: the router's threads while 8 clients are in
  9  Wait while holding a lock        deadlock, lock order  loom: wait-holding-the-queue-lock.patch
EOF
}

SCRATCH=$(mktemp -d)
cleanup() { # the programs this script started and has not seen end, then the scratch folder
    local p
    for p in $(jobs -p); do
        kill -CONT "$p" 2>/dev/null || true
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    forget_loom_copies
    [[ -n ${KEEP:-} ]] && echo "kept: $SCRATCH" >&2 && return
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

CURRENT=""
ok() { echo "ok: exercise $CURRENT: $*"; }

# Checks that the handout's section 11 quotes each of $@ (test names, messages, figures that
# the check has just seen), whitespace and line breaks aside, so that text and check agree.
in_handout() {
    local text quote
    text=$(awk '/^## 11\. /{on = 1; next} /^## /{on = 0} on' "$REPO/report/README.md" | tr -s ' \n' '  ')
    for quote in "$@"; do
        [[ $text == *"$quote"* ]] || fail "report/README.md section 11 does not say: $quote"
    done
}
skip() { echo "skip: exercise $CURRENT: $*"; }
fail() { # message [file whose tail shows it]
    echo "FAIL: exercise $CURRENT: $1" >&2
    if [[ -n ${2:-} && -f $2 ]]; then
        echo "--- the last lines of $(basename "$2"):" >&2
        tail -n 25 "$2" | cut -c1-300 >&2
    fi
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Scratch copies, patches, builds.

# A copy of the repository as it is now (tracked and untracked files, without target/) in
# $SCRATCH/repo, with the patches $@ (names in report/exercises/) applied.
copy_with() {
    rm -rf "$SCRATCH/repo" && mkdir "$SCRATCH/repo"
    (cd "$REPO" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$SCRATCH/repo")
    local patch
    for patch in "$@"; do
        [[ -f $PATCHES/$patch ]] || fail "no such patch: report/exercises/$patch"
        (cd "$SCRATCH/repo" && git apply "$PATCHES/$patch") ||
            fail "report/exercises/$patch does not apply to the tree as it is (undo your own changes: git checkout src/)"
    done
}

# `cargo test $@` in the scratch copy (debug, target/exercises), output in $SCRATCH/out.
# Returns cargo's exit code.
test_copy() {
    (cd "$SCRATCH/repo" && env -u RUSTFLAGS CARGO_TARGET_DIR="$REPO/target/exercises" \
        cargo test -q "$@") >"$SCRATCH/out" 2>&1
}

# The same under loom (release, --cfg loom), in target/loom, the folder .ci/run uses, so that
# loom and the other dependencies are not compiled again.
loom_copy() {
    LOOM_COPIES=1
    (cd "$SCRATCH/repo" && RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$REPO/target/loom" \
        cargo test -q --release --test loom -- --test-threads=1 "$@") >"$SCRATCH/out" 2>&1
}

# A copy's geotracker has the same name and hash as the tree's, and its build is newer than
# the tree's files: cargo would take it for the tree's. Forget it, so that the next
# `cargo test --test loom` of the tree (.ci/run's) compiles geotracker again.
forget_loom_copies() {
    if [[ -n ${LOOM_COPIES:-} ]]; then
        rm -rf "$REPO"/target/loom/release/.fingerprint/geotracker-*
    fi
}

# The names of the tests that failed, from libtest's "failures:" list, one per line, sorted.
failed_tests() {
    awk '/^failures:$/ {list = 1; next} list && /^    [A-Za-z0-9_:]+$/ {print $1} /^test result/ {list = 0}' \
        "$SCRATCH/out" | sort -u
}

# Checks that exactly the tests $@ failed.
expect_failed() {
    local got want
    got=$(failed_tests | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sort -u | tr '\n' ' ')
    [[ $got == "$want" ]] || fail "expected these tests to fail: $want; failed: ${got:-none}" "$SCRATCH/out"
}

# Checks that the output has a line matching the extended regular expression $1.
expect_line() {
    grep -Eq -- "$1" "$SCRATCH/out" || fail "no line matching /$1/ in the output" "$SCRATCH/out"
}

# The failing interleavings loom printed (what loom_bugs.sh shows), from $SCRATCH/out.
interleavings() {
    awk '
        /^---- .* stdout ----$/ {print; next}
        /^the failing interleaving, step by step:$/ {show = 1}
        show {print}
        /^then: / && !/^then: deadlock/ {show = 0}
        /^\(Id\(0\) is / {show = 0}
    ' "$SCRATCH/out" | cut -c1-400
}

# ---------------------------------------------------------------------------------------------
# Programs started as children.

# Starts $@ in $SCRATCH/run with its output in $RUN/$NAME.out; sets PID.
start() { # name, program, arguments...
    local name=$1
    shift
    mkdir -p "$RUN"
    (cd "$RUN" && exec "$@") >"$RUN/$name.out" 2>&1 &
    PID=$!
}

# Waits at most $3 seconds for a line matching $2 in file $1.
wait_for() {
    local deadline=$((SECONDS + $3))
    until grep -Eq -- "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "waited $3 s for /$2/" "$1"
        sleep 0.05
    done
}

# Waits at most $2 seconds for process $1 to end; sets STATUS to its exit code.
wait_exit() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "process $1 still running after $2 s"
        sleep 0.05
    done
    STATUS=0
    wait "$1" || STATUS=$?
}

# The port a router or server printed at start-up ("... socket bound to port N").
port_of() {
    wait_for "$1" "socket bound to port [0-9]+" 20
    sed -n 's/.*socket bound to port \([0-9]*\).*/\1/p' "$1" | tail -1
}

# A router with its four in-process servers on free ports, with the extra arguments $2...;
# sets PID and PORT.
start_router() { # name, arguments...
    local name=$1
    shift
    start "$name" "$EXAMPLES/router" --port 0 --server-port 0 --public-ip 117.222.175.180 "$@"
    PORT=$(port_of "$RUN/$name.out")
    wait_for "$RUN/$name.out" "press Ctrl-C|router: 4 server slots" 20
}

build_examples() {
    [[ -n ${BUILT:-} ]] && return
    (cd "$REPO" && cargo build -q --examples) || fail "cargo build --examples failed"
    BUILT=1
}

# ---------------------------------------------------------------------------------------------
# The exercises.

ex1() { # two slots: with a 5 s hold, place p waits 5 s x ceil(p / 2)
    build_examples
    local s1 s2 router
    start server1 "$EXAMPLES/server" --port 0 --public-ip 117.222.175.180 && s1=$PID
    start server2 "$EXAMPLES/server" --port 0 --public-ip 117.222.175.180 && s2=$PID
    local p1 p2
    p1=$(port_of "$RUN/server1.out")
    p2=$(port_of "$RUN/server2.out")
    start router "$EXAMPLES/router" --port 0 --hold-secs 5 --servers "127.0.0.1:$p1,127.0.0.1:$p2" && router=$PID
    PORT=$(port_of "$RUN/router.out")
    timeout 60 "$EXAMPLES/client" --router "127.0.0.1:$PORT" --clients 8 >"$SCRATCH/out" 2>&1 ||
        fail "the client failed" "$SCRATCH/out"
    kill -INT "$router" "$s1" "$s2"
    wait_exit "$router" 10
    wait_exit "$s1" 10
    wait_exit "$s2" 10
    # Columns: client status slot queue waited_ms total_ms query place
    local rows
    rows=$(awk 'NR > 1 && $2 == "success" {print $4, $5}' "$SCRATCH/out")
    [[ $(wc -l <<<"$rows") == 8 ]] || fail "expected 8 answers" "$SCRATCH/out"
    local places
    places=$(awk '$1 != "-" {print $1}' <<<"$rows" | sort -n | tr '\n' ' ')
    [[ $places == "1 2 3 4 5 6 " ]] || fail "expected places 1 to 6 in the queue column, got: $places" "$SCRATCH/out"
    # Each waited about 5,000 ms x ceil(place / 2): within half a second.
    awk '{want = ($1 == "-") ? 0 : 5000 * int(($1 + 1) / 2); d = $2 - want; if (d < -500 || d > 500) exit 1}' \
        <<<"$rows" || fail "a wait is not 5000 ms x ceil(place / 2) (the queue column is the place)" "$SCRATCH/out"
    in_handout "5,000 ms × ⌈place / 2⌉" "(\`queue\` is \`-\`, \`waited_ms\` 0)"
    ok "two clients each waited about 0, 5000, 10000 and 15000 ms: $(awk '{printf "%s%s/%s", sep, $1, $2; sep=" "}' <<<"$rows") (place/waited_ms)"
}

ex2() { # no FIFO: the queue test fails, telling who overtook whom
    copy_with no-fifo.patch
    test_copy --test semaphore && fail "cargo test --test semaphore passed with no-fifo.patch" "$SCRATCH/out"
    local failed
    failed=$(failed_tests | tr '\n' ' ')
    case $failed in
        "waiting_clients_are_served_in_arrival_order " | "the_router_serves_queued_clients_in_arrival_order waiting_clients_are_served_in_arrival_order ") ;;
        *) fail "expected waiting_clients_are_served_in_arrival_order to fail (and perhaps the router's); failed: ${failed:-none}" "$SCRATCH/out" ;;
    esac
    expect_line "^assertion .left == right. failed: client [0-9]+$"
    if [[ $failed == the_router* ]]; then expect_line "served out of order"; fi
    expect_line "field .wake. is never read"
    in_handout waiting_clients_are_served_in_arrival_order "assertion \`left == right\` failed: client K" \
        the_router_serves_queued_clients_in_arrival_order "served out of order" "field \`wake\` is never read"
    local turns
    turns=$(grep -A2 -E 'failed: client [0-9]+$' "$SCRATCH/out" | head -3 | sed -E 's/^assertion .* failed: //; s/^ +//' | tr '\n' ' ')
    ok "failed: ${failed}(${turns% })"
}

ex3() { # the check() race: a slot given to two clients
    copy_with check-race.patch
    local try
    for try in 1 2 3; do
        test_copy --test semaphore || break
        [[ $try == 3 ]] && fail "cargo test --test semaphore passed 3 times with check-race.patch" "$SCRATCH/out"
    done
    expect_failed never_more_than_four_clients_hold_a_slot_and_no_slot_is_shared
    expect_line "slot [0-3] was given to two clients$"
    in_handout never_more_than_four_clients_hold_a_slot_and_no_slot_is_shared "slot N was given to two clients"
    ok "failed: never_more_than_four_clients_hold_a_slot_and_no_slot_is_shared, $(grep -c 'was given to two clients$' "$SCRATCH/out") threads saw \"$(grep -Eo 'slot [0-3] was given to two clients$' "$SCRATCH/out" | head -1)\""
}

ex4() { # the NAT race: two callers, one public address
    copy_with nat-race.patch
    test_copy --test nat_table && fail "cargo test --test nat_table passed with nat-race.patch" "$SCRATCH/out"
    expect_failed concurrent_callers_never_share_a_public_address a_server_maps_each_concurrent_caller_to_its_own_address
    expect_line "^assertion .left == right. failed: each caller was located at its own pool address$"
    # The set of last octets handed out is smaller than .1 to .200.
    local octets
    octets=$(grep -A1 -E '^assertion .left == right. failed$' "$SCRATCH/out" | sed -n 's/^ *left: {\(.*\)}$/\1/p' | tr ',' '\n' | wc -l)
    ((octets > 0 && octets < 200)) || fail "expected fewer than 200 public addresses for 200 callers" "$SCRATCH/out"
    local located
    located=$(grep -A1 'own pool address$' "$SCRATCH/out" | sed -n 's/^ *left: //p')
    in_handout concurrent_callers_never_share_a_public_address "assertion \`left == right\` failed" \
        a_server_maps_each_concurrent_caller_to_its_own_address "each caller was located at its own pool address"
    ok "failed both tests of tests/nat_table.rs: 200 callers got $octets addresses, 50 callers were located at $located"
}

ex5() { # Ctrl-C during a burst; then twice while a client is in flight
    build_examples
    local router client
    start_router burst --hold-secs 5 && router=$PID
    start client "$EXAMPLES/client" --router "127.0.0.1:$PORT" --clients 40 && client=$PID
    wait_for "$RUN/burst.out" "number 36 in the queue" 20
    local sent=$SECONDS
    kill -INT "$router"
    wait_exit "$client" 10
    local client_status=$STATUS took=$((SECONDS - sent))
    wait_exit "$router" 10
    ((STATUS == 0)) || fail "the router exited with $STATUS after one Ctrl-C, not 0" "$RUN/burst.out"
    ((client_status == 0)) || fail "the client exited with $client_status" "$RUN/client.out"
    (($(grep -c ' success ' "$RUN/client.out") == 40)) || fail "expected 40 answers" "$RUN/client.out"
    ((took <= 2)) || fail "the queued clients took $took s after the Ctrl-C (the holds should be cut short)"
    grep -qxF "stopping: serving the clients already in, then writing the IP tables (Ctrl-C again to stop at once)" \
        "$RUN/burst.out" || fail "no 'stopping: serving the clients already in' line" "$RUN/burst.out"
    grep -q "^router: table written to the log as IP-Login-1 (40 rows)$" "$RUN/burst.out" ||
        fail "expected the router's 40 rows in the log" "$RUN/burst.out"
    (($(grep -o '"Index"' "$RUN/geotracker-router.json" | wc -l) == 40)) ||
        fail "expected 40 rows in geotracker-router.json"
    local first="one Ctrl-C with 4 clients holding a slot and 36 queued: all 40 answered within ${took} s, 40 rows in geotracker-router.json, exit 0"

    # Twice: a client waits for a server that was stopped (Ctrl-Z), so the first Ctrl-C waits.
    rm -f "$RUN/geotracker-router.json"
    local server
    start stopped "$EXAMPLES/server" --port 0 --public-ip 117.222.175.180 && server=$PID
    local sport
    sport=$(port_of "$RUN/stopped.out")
    kill -STOP "$server"
    start router2 "$EXAMPLES/router" --port 0 --servers "127.0.0.1:$sport" && router=$PID
    PORT=$(port_of "$RUN/router2.out")
    start client2 "$EXAMPLES/client" --router "127.0.0.1:$PORT" && client=$PID
    wait_for "$RUN/router2.out" "-> slot 0 " 20
    kill -INT "$router"
    wait_for "$RUN/router2.out" "^stopping: serving the clients already in" 10
    kill -INT "$router"
    wait_exit "$router" 10
    ((STATUS == 130)) || fail "the router exited with $STATUS after a second Ctrl-C, not 130" "$RUN/router2.out"
    grep -qxF "stopping at once: writing the IP tables as they are (Ctrl-C again to exit without them)" "$RUN/router2.out" ||
        fail "no 'stopping at once' line" "$RUN/router2.out"
    grep -q "^router: table written to the log as IP-Login-1 (1 row)$" "$RUN/router2.out" ||
        fail "expected the waiting client's row in the log" "$RUN/router2.out"
    wait_exit "$client" 10
    ((STATUS == 1)) && grep -qxF "client: no answer from the router: connection closed before a line arrived" "$RUN/client2.out" ||
        fail "expected the client to say 'no answer from the router: connection closed before a line arrived' and exit 1" "$RUN/client2.out"
    kill -CONT "$server"
    kill -INT "$server"
    wait_exit "$server" 10
    in_handout "stopping: serving the clients already in, then writing the IP tables (Ctrl-C again to stop at once)" \
        "router: table written to the log as IP-Login-1 (40 rows)" "exit code 0" \
        "stopping at once: writing the IP tables as they are (Ctrl-C again to exit without them)" \
        "exit code is 130" "client: no answer from the router: connection closed before a line arrived"
    ok "$first; twice, with a client waiting for a stopped server: the table with its 1 row written, exit 130"
}

ex6() { # the semaphore as the bottleneck: 4 slots held 1 s each give 4 answers a second
    build_examples
    local router
    start_router free --quiet && router=$PID
    timeout 60 "$EXAMPLES/client" --router "127.0.0.1:$PORT" --load --clients 16 --secs 2 >"$SCRATCH/out" 2>&1 ||
        fail "the load run failed" "$SCRATCH/out"
    kill -INT "$router"
    wait_exit "$router" 10
    expect_line "^16 clients, .* answers \([0-9]+/s\), 0 errors$"
    local free
    free=$(sed -n 's/.* answers (\([0-9]*\)\/s).*/\1/p' "$SCRATCH/out")
    start_router held --quiet --hold-secs 1 && router=$PID
    timeout 60 "$EXAMPLES/client" --router "127.0.0.1:$PORT" --load --clients 16 --secs 5 >"$SCRATCH/out" 2>&1 ||
        fail "the load run failed" "$SCRATCH/out"
    kill -INT "$router"
    wait_exit "$router" 10
    expect_line "^16 clients, .* answers \([345]/s\), 0 errors$"
    local queued total p50
    read -r queued total < <(sed -n 's/^waited in the queue first: \([0-9]*\) of \([0-9]*\)$/\1 \2/p' "$SCRATCH/out")
    ((queued * 4 >= total * 3)) || fail "expected most answers to have waited in the queue first" "$SCRATCH/out"
    p50=$(sed -n 's/^latency: p50 \([0-9]*\)\..*/\1/p' "$SCRATCH/out")
    ((p50 >= 3000 && p50 <= 5000)) || fail "expected a median latency of about 4000 ms" "$SCRATCH/out"
    in_handout "answers (4/s), 0 errors" "waited in the queue first: 32 of 36" "p50 4011.54 ms"
    ok "without a hold ${free} answers/s (debug build); with --hold-secs 1: $(sed -n 's/.*answers (\([0-9]*\/s\)).*/\1/p' "$SCRATCH/out"), waited in the queue first: $queued of $total, p50 $p50 ms"
}

# Loom: runs the loom tests on the scratch copy and checks the failing test and loom's message.
loom_expect() { # test name, message regular expression
    grep -q "^---- $1 stdout ----$" "$SCRATCH/out" || grep -q "^thread '$1' .*panicked" "$SCRATCH/out" ||
        fail "expected loom to fail $1" "$SCRATCH/out"
    expect_line "$2"
}

loom_tree() { # the loom tests pass on the tree itself (the build .ci/run makes)
    (cd "$REPO" && RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$REPO/target/loom" \
        cargo test -q --release --test loom) >"$SCRATCH/out" 2>&1 ||
        fail "the loom tests fail without a patch" "$SCRATCH/out"
}

ex7() { # loom finds the original's three semaphore bugs (the tree passes: .ci/run checks it)
    copy_with loom-check-race.patch
    loom_copy && fail "loom found nothing with loom-check-race.patch" "$SCRATCH/out"
    loom_expect two_slots_three_threads_never_more_holders_than_slots_and_no_slot_lost "^then: two holders of one slot$"
    expect_line "^     B: holds slot 0$"
    # Two preemptions are needed: with one, the race is not found.
    (cd "$SCRATCH/repo" && LOOM_MAX_PREEMPTIONS=1 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$REPO/target/loom" \
        cargo test -q --release --test loom) >"$SCRATCH/out1" 2>&1 ||
        fail "with LOOM_MAX_PREEMPTIONS=1, loom still finds the check-race" "$SCRATCH/out1"
    copy_with loom-no-notify.patch
    loom_copy && fail "loom found nothing with loom-no-notify.patch" "$SCRATCH/out"
    loom_expect one_slot_every_freed_slot_wakes_a_waiter "^then: deadlock; "
    copy_with loom-if-not-while.patch
    loom_copy && fail "loom found nothing with loom-if-not-while.patch" "$SCRATCH/out"
    loom_expect one_slot_every_freed_slot_wakes_a_waiter "^then: without a deadline, the wait ends with a slot$"
    in_handout "then: two holders of one slot" "then: deadlock;" "then: without a deadline, the wait ends with a slot" \
        "LOOM_MAX_PREEMPTIONS=1 bash report/scripts/loom_bugs.sh check-race" \
        "loom found nothing with loom-check-race.patch applied"
    ok "check-race: two holders of one slot (not found with LOOM_MAX_PREEMPTIONS=1); no-notify: deadlock (a lost wake-up); if-not-while: a woken thread went on without a slot"
}

ex8() { # the router's threads: one per client in, none per finished caller
    build_examples
    local router
    start_router threads --hold-secs 5 && router=$PID
    start client "$EXAMPLES/client" --router "127.0.0.1:$PORT" --clients 8
    wait_for "$RUN/threads.out" "number 4 in the queue" 20
    # The servers' threads end once they have answered; look until they have.
    local names="" deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        names=$(cat /proc/"$router"/task/*/comm 2>/dev/null | sed 's/-[0-9]*$/-<port>/' | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')
        [[ $names == "8 client-<port>, 1 router, 4 server-<port>, 1 signal-watcher, " ]] && break
        sleep 0.1
    done
    kill -INT "$router"
    wait_exit "$router" 10
    [[ $names == "8 client-<port>, 1 router, 4 server-<port>, 1 signal-watcher, " ]] ||
        fail "expected the threads 8 client-<port>, 1 router, 4 server-<port>, 1 signal-watcher; saw: $names"
    in_handout "There are 14" "\`router\`" "\`signal-watcher\`" "four \`server-<port>\`" "eight \`client-<port>\`" \
        "There is no \`caller-<port>\`"
    ok "threads of the router with 4 clients holding a slot and 4 queued: ${names%, }"
}

ex9() { # holding the queue's lock while waiting for a slot: a deadlock loom finds
    copy_with wait-holding-the-queue-lock.patch
    loom_copy one_slot_the_queue_serves_places_in_order --nocapture &&
        fail "loom found nothing with wait-holding-the-queue-lock.patch" "$SCRATCH/out"
    expect_line "^then: deadlock; threads = \[\(Id\(0\), Blocked\(.*src/extras/queue.rs.*\(Id\(1\), Blocked\(.*src/semaphore.rs.*\(Id\(2\), Blocked\(.*src/extras/queue.rs"
    expect_line "^     A: queued at place 1$"
    expect_line "panic in a destructor during cleanup"
    in_handout one_slot_the_queue_serves_places_in_order "A: queued at place 1" "then: deadlock; threads =" \
        '"src/extras/queue.rs"' '"src/semaphore.rs"' "panic in a destructor during cleanup"
    ok "loom: deadlock in one_slot_the_queue_serves_places_in_order: main blocked on the queue's lock (src/extras/queue.rs), A waiting for the slot (src/semaphore.rs) with that lock held"
}

# ---------------------------------------------------------------------------------------------

# What report/scripts/loom_bugs.sh prints: each loom-*.patch, and the interleaving loom found.
show_loom() {
    local bugs=("$@") bug
    ((${#bugs[@]})) || bugs=(check-race no-notify if-not-while)
    echo "== no bug planted"
    loom_tree
    echo "the loom tests pass"
    for bug in "${bugs[@]}"; do
        CURRENT="7 (loom-$bug.patch)"
        copy_with "loom-$bug.patch"
        echo
        echo "== loom-$bug.patch"
        loom_copy && fail "loom found nothing with loom-$bug.patch applied" "$SCRATCH/out"
        interleavings
    done
}

check() {
    [[ $(uname -s) == Linux ]] || {
        echo "skip: report/scripts/exercises.sh --check needs Linux (it sends signals and reads /proc); do the exercises by hand"
        exit 77
    }
    local n started=$SECONDS
    for n in "$@"; do
        [[ " ${ALL[*]} " == *" $n "* ]] || { echo "no exercise $n; there are ${ALL[*]}" >&2; exit 2; }
        CURRENT=$n
        RUN=$SCRATCH/run-$n
        "ex$n"
    done
    echo "exercises ${*}: all as the handout says ($((SECONDS - started)) s)"
}

case ${1:-} in
    "") list ;;
    --check)
        shift
        if (($#)); then check "$@"; else check "${ALL[@]}"; fi
        ;;
    --quick) check "${QUICK[@]}" ;;
    --loom)
        shift
        show_loom "$@"
        ;;
    *)
        echo "usage: $0 [--check [N...] | --quick | --loom [NAME...]]" >&2
        exit 2
        ;;
esac
