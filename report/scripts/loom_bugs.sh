#!/usr/bin/env bash
# Puts each of the original's semaphore bugs back, one at a time, in a scratch copy of the
# repository (never in the tree), runs the loom tests on it, and prints the interleaving loom
# found. Exits non-zero if a planted bug goes unnoticed, or if the tests fail without one.
#
#   bash report/scripts/loom_bugs.sh            # all three patches in report/exercises/
#   bash report/scripts/loom_bugs.sh no-notify  # one of them
#
# The patches: loom-check-race (the original's check(): a free slot found, the lock let go,
# then taken), loom-no-notify (a freed slot wakes nobody), loom-if-not-while (a woken thread
# does not look again).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
if (($#)); then bugs=("$@"); else bugs=(check-race no-notify if-not-while); fi
export RUSTFLAGS="--cfg loom" RUST_BACKTRACE=0
# One build folder for every copy: only geotracker itself is compiled again.
export CARGO_TARGET_DIR="$repo/target/loom"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

copy() { # the repository's files as they are now, without target/
    rm -rf "$scratch/repo" && mkdir "$scratch/repo"
    (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$scratch/repo")
}

copy
echo "== no bug planted"
if ! (cd "$scratch/repo" && cargo test -q --release --test loom >"$scratch/out" 2>&1); then
    cat "$scratch/out"
    echo "FAIL: the loom tests fail on the unpatched code" >&2
    exit 1
fi
echo "the loom tests pass"

for bug in "${bugs[@]}"; do
    patch="$repo/report/exercises/loom-$bug.patch"
    [[ -f $patch ]] || { echo "no such patch: $patch" >&2; exit 2; }
    copy
    (cd "$scratch/repo" && git apply "$patch")
    echo
    echo "== loom-$bug.patch"
    if (cd "$scratch/repo" && cargo test -q --release --test loom -- --test-threads=1 >"$scratch/out" 2>&1); then
        echo "FAIL: loom found nothing with loom-$bug.patch applied" >&2
        exit 1
    fi
    # Each failing test's interleaving, and loom's message about it.
    # (The harness's own "thread ... panicked at" line and the message after it are left out:
    # the test's hook has printed the message already.)
    sed -n '/^---- /,/^failures:$/p' "$scratch/out" |
        awk '/^thread .* panicked at /{skip=1; next} skip{skip=0; next} {print}' |
        grep -v -e '^note: run with' -e '^failures:$' -e '^$' 
done
