#!/usr/bin/env bash
# The debugger walkthrough of report/README.md section 8, run for real: rust-gdb -batch runs
# report/debugger/walkthrough.gdb on the router example, a client asks once the router listens,
# and Ctrl-C (SIGINT, sent to the router's pid, as a student presses it in gdb's terminal) comes
# once the client has its answer. What gdb and the router printed, normalised, is the transcript
# report/debugger/walkthrough.txt, which the handout quotes.
#
#   bash report/scripts/debugger.sh            # writes report/debugger/walkthrough.txt
#   bash report/scripts/debugger.sh --check    # compares with it: exit 0 same, 1 different
#   ... --bin-dir DIR                          # use the examples in DIR, do not build
#
# Exit 77 (skipped, one line saying why) where it cannot run: not Linux, no gdb or rust-gdb,
# or gdb may not trace programs here. Both modes also check that the (gdb) commands quoted in
# section 8 are those of walkthrough.gdb, in order, and that each block the section marks
# `<!-- check: excerpt report/debugger/walkthrough.txt -->` is a run of lines of the transcript.
#
# Normalised (they change from run to run): ports -> PORT, addresses -> 0xADDR, thread, LWP and
# process numbers -> N, source line numbers -> LINE (the line's text is kept), frames in the C
# library -> LIBC (they depend on its version), the frames of threads other than the current one
# in `info threads` -> `...`, the open-file limit -> N; gdb's warnings and the path of
# libthread_db are dropped; trace lines `+cmd` are shown as `(gdb) cmd`. Ports are free ones
# here (--port 0 --server-port 0); the handout's router uses 9020 and 12347..12350.
#
# If the transcript was made with another major version of gdb, whose wording differs, --check
# compares only the stops (the "hit Breakpoint" and "received signal" lines) and says so.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
gdb_file=report/debugger/walkthrough.gdb
transcript=report/debugger/walkthrough.txt
excerpt_mark="<!-- check: excerpt $transcript -->"
router_flags=(--quiet --no-log --public-ip 117.222.175.180)
client_flags=(--timeout-secs 3600)

check=false
bin_dir=
while (($#)); do
    case $1 in
        --check) check=true ;;
        --bin-dir) bin_dir=$(cd "${2:?--bin-dir needs a folder}" && pwd); shift ;;
        *) echo "usage: $0 [--check] [--bin-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
cd "$repo"

skip() { echo "skip: debugger walkthrough: $*"; exit 77; }
fail() { echo "FAIL: debugger walkthrough: $*" >&2; exit 1; }

[[ $(uname -s) == Linux ]] || skip "runs on Linux only (gdb on macOS needs a signed binary)"
command -v gdb >/dev/null || skip "gdb is not installed (Debian/Ubuntu: sudo apt-get install gdb)"
command -v rust-gdb >/dev/null ||
    skip "rust-gdb is not on PATH (rustup installs it with Rust; Debian: apt-get install rust-gdb)"

if [[ -z $bin_dir ]]; then
    cargo build -q --examples
    bin_dir=$repo/target/debug/examples
fi
for program in router client; do
    [[ -x $bin_dir/$program ]] || fail "$bin_dir/$program is missing: run cargo build --examples"
done

run=$(mktemp -d)
gdb_pid='' router_pid='' client_pid=''
stop_ours() { # only the processes this script started, by their pid
    local pid
    for pid in $client_pid $router_pid $gdb_pid; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$run"
}
trap stop_ours EXIT

# Waits up to $2 seconds for the pattern $1 in gdb's output; false if gdb ended first or time ran
# out.
wait_for() {
    local deadline=$((SECONDS + $2))
    until grep -q -- "$1" "$run/gdb.out"; do
        kill -0 "$gdb_pid" 2>/dev/null && ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# Waits up to $2 seconds for the process $1 to end.
wait_end() {
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

started=$SECONDS
# In the temporary folder, where the in-process servers keep their log locks. No debuginfod: it
# would ask, or download the C library's symbols and change its frames.
(cd "$run" && exec env -u DEBUGINFOD_URLS rust-gdb -nx -batch -iex "set trace-commands on" \
    -x "$repo/$gdb_file" --args "$bin_dir/router" "${router_flags[@]}" --port 0 --server-port 0 \
    </dev/null >"$run/gdb.out" 2>&1) &
gdb_pid=$!

if ! wait_for "^router: press Ctrl-C" 60; then
    if grep -qiE "ptrace|could not trace|cannot create process|operation not permitted" "$run/gdb.out"; then
        skip "gdb may not trace programs here: $(grep -iE -m1 'ptrace|trace|permitted' "$run/gdb.out")"
    fi
    cat "$run/gdb.out" >&2
    fail "the router did not start under gdb within 60 s"
fi
port=$(sed -n 's/^router: socket bound to port \([0-9]*\)$/\1/p' "$run/gdb.out")
router_pid=$(pgrep -P "$gdb_pid" -x router) || fail "no router process under gdb ($gdb_pid)"

# The client, as in another terminal. It stays connected while gdb holds the router at its
# breakpoints, and ends when the router has answered (step 3's continue).
"$bin_dir/client" --router "127.0.0.1:$port" "${client_flags[@]}" >"$run/client.out" 2>&1 &
client_pid=$!
if ! wait_end "$client_pid" 60; then
    cat "$run/gdb.out" >&2
    fail "the client had no answer within 60 s"
fi
wait "$client_pid" || { cat "$run/client.out" >&2; fail "the client failed"; }
client_pid=''
grep -q "^Status : success" "$run/client.out" || { cat "$run/client.out" >&2; fail "the client was not located"; }

# Ctrl-C: the router is running again (step 3); gdb stops it and keeps the signal.
kill -INT "$router_pid"
if ! wait_end "$gdb_pid" 60; then
    cat "$run/gdb.out" >&2
    fail "gdb did not finish the walkthrough within 60 s of the Ctrl-C"
fi
wait "$gdb_pid" || true # its output, compared below, says what went wrong if anything did
gdb_pid='' router_pid=''
took=$((SECONDS - started))

normalise() {
    sed -E \
        -e '/^warning: /d' \
        -e '/: No such file or directory\.$/d' \
        -e 's/^\+/(gdb) /' \
        -e "s#$repo/##g" \
        -e 's/0x[0-9a-f]+/0xADDR/g' \
        -e 's/\(LWP [0-9]+\)/(LWP N)/g' \
        -e 's/process [0-9]+/process N/g' \
        -e 's/Thread [0-9]+ "/Thread N "/g' \
        -e 's/^  Id +Target Id +Frame *$/  Id   Target Id   Frame/' \
        -e 's/^([* ]) +[0-9]+ +Thread /\1 N    Thread /' \
        -e 's/^(  N    Thread 0xADDR \(LWP N\) "[^"]*") .*/\1 .../' \
        -e 's/^(\* N    Thread 0xADDR \(LWP N\) "[^"]*") +/\1 /' \
        -e 's/^(#[0-9]+ +)?0xADDR in [A-Za-z_][A-Za-z0-9_]* \(.*/\10xADDR in LIBC (...)/' \
        -e 's/(client|server|caller)-[0-9]+/\1-PORT/g' \
        -e 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/g' \
        -e "s/'127\.0\.0\.1', [0-9]+\)/'127.0.0.1', PORT)/g" \
        -e 's/(server|port|port:) [0-9]+/\1 PORT/g' \
        -e 's/\.rs:[0-9]+/.rs:LINE/g' \
        -e 's/, line [0-9]+\./, line LINE./g' \
        -e 's/^[0-9]+\t([^\t])/LINE\t\1/' \
        -e 's/^router: [0-9]+ open files.*: room for [0-9]+ clients at once.*/router: N open files: room for N clients at once/' \
        -e 's/^Using host libthread_db library .*/Using host libthread_db library "..."./'
}

gdb_version=$(gdb --version | head -1)
{
    echo "# Written by report/scripts/debugger.sh from report/debugger/walkthrough.gdb; never edit by hand."
    echo "# rust-gdb -batch -x $gdb_file --args target/debug/examples/router ${router_flags[*]} --port 0 --server-port 0"
    echo "# with target/debug/examples/client --router 127.0.0.1:PORT ${client_flags[*]}, and SIGINT to the router once it answered"
    echo "# made with: $gdb_version; $(rustc --version)"
    normalise <"$run/gdb.out"
} >"$run/walkthrough.txt"

body() { grep -v '^# ' "$1"; }
major() { sed -n 's/^# made with: .* \([0-9][0-9]*\)\.[0-9.]*;.*/\1/p' "$1"; }
stops() { grep -E 'hit Breakpoint|received signal' "$1"; }

# The (gdb) commands of section 8 and the excerpts it quotes, against transcript $1.
check_section() {
    local section="$run/section8.md"
    awk '/^## 8\. /{on=1; print; next} /^## /{on=0} on' report/README.md >"$section"
    [[ -s $section ]] || fail "report/README.md has no section 8"
    # The commands: every "(gdb) " line of the section's fenced blocks, in order.
    awk '/^```/{fence=!fence; next} fence && /^\(gdb\) /{sub(/^\(gdb\) /, ""); print}' \
        "$section" >"$run/section.cmds"
    grep -v -e '^#' -e '^[[:space:]]*$' "$gdb_file" >"$run/file.cmds"
    if ! diff -u --label "$gdb_file" --label "report/README.md section 8" \
        "$run/file.cmds" "$run/section.cmds" >"$run/cmds.diff"; then
        cat "$run/cmds.diff" >&2
        fail "the (gdb) commands of section 8 are not those of $gdb_file, in order"
    fi
    # The excerpts: each a run of consecutive lines of the transcript.
    awk -v mark="$excerpt_mark" -v out="$run/excerpt" '
        $0 == mark {want=1; next}
        want && /^```/ {want=0; inblock=1; n++; next}
        inblock && /^```/ {inblock=0; next}
        inblock {print > (out n)}
        {want = want && /^[[:space:]]*$/}' "$section"
    local block
    for block in "$run"/excerpt*; do
        [[ -e $block ]] || fail "section 8 quotes no excerpt of $transcript"
        if ! awk 'NR == FNR {t[++n] = $0; next} {e[++m] = $0}
            END {for (i = 1; i + m - 1 <= n; i++) {for (j = 1; j <= m && t[i + j - 1] == e[j]; j++);
                 if (j > m) exit 0}; exit 1}' <(body "$1") "$block"; then
            echo "this excerpt of section 8 is not in $transcript:" >&2
            cat "$block" >&2
            fail "section 8 quotes output the walkthrough does not give"
        fi
    done
}

if ! $check; then
    cp "$run/walkthrough.txt" "$transcript"
    check_section "$transcript"
    echo "written: $transcript ($(wc -l <"$transcript") lines; gdb took $took s)"
    exit 0
fi

[[ -f $transcript ]] || fail "$transcript is missing: run bash report/scripts/debugger.sh"
if [[ $(major "$transcript") == "$(major "$run/walkthrough.txt")" ]]; then
    if ! diff -u --label "$transcript (in the repository)" --label "this run" \
        <(body "$transcript") <(body "$run/walkthrough.txt") >"$run/diff"; then
        cat "$run/diff"
        grep '^# made with' "$transcript" "$run/walkthrough.txt" | sed 's/^/  /'
        fail "gdb's output differs from $transcript; if the change is right, regenerate it: bash report/scripts/debugger.sh"
    fi
    how="the whole transcript"
else
    if ! diff -u --label "$transcript (stops)" --label "this run (stops)" \
        <(stops "$transcript") <(stops "$run/walkthrough.txt") >"$run/diff"; then
        cat "$run/diff"
        fail "the walkthrough stops elsewhere than $transcript says"
    fi
    how="the stops only: the transcript is from gdb $(major "$transcript"), this is gdb $(major "$run/walkthrough.txt")"
fi
check_section "$transcript"
echo "ok: debugger walkthrough: rust-gdb -batch gives $transcript ($how; $took s)"
