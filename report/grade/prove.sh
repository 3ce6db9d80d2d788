#!/usr/bin/env bash
# Proves that the grader's points are honest (CI runs it, .ci/run):
#
#   1. the reference gets every point;
#   2. the starter copy (report/starter/make.sh) builds with `cargo build`, its router stops at
#      once with a todo!() naming its part, and it gets no point, in any part;
#   3. the starter with only part k filled in from the reference gets exactly part k's points,
#      for every k: each part is graded by its own code alone;
#   4. each planted bug (the `bug N PATCH` lines of report/grade/parts), applied to the
#      reference, loses points in part N and in no other part;
#   5. make.sh refuses to write a copy in which a line of an answer is left.
#
#   bash report/grade/prove.sh            # all of it (about 12 minutes on 2 cores)
#   bash report/grade/prove.sh --quick    # 1, 2 and 5 only
#
# Every copy is built in one target folder, target/grade-proofs (or $CARGO_TARGET_DIR/...), so
# that the crates are compiled once. Prints one line per proof ("ok: ..."), and at the first
# that does not hold a line "FAIL: ..." with the grader's table, and exits 1.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
PROOFS_TARGET=${CARGO_TARGET_DIR:-$REPO/target}/grade-proofs
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
quick=false
[ "${1:-}" = --quick ] && quick=true
started=$SECONDS

fail() {
    echo "FAIL: $1" >&2
    [ -n "${2:-}" ] && sed 's/^/    /' "$2" >&2
    exit 1
}

# The points of each part, as "N POINTS" lines.
max_points() { awk '$1 == "part" { print $2, $3 }' report/grade/parts; }
max_points >"$WORK/max"

# grade DIR OUT [TARGET]: runs DIR's grader (building in TARGET, by default the shared folder)
# and writes "N POINTS" lines of what each part got to OUT; the grader's output goes to
# OUT.log. The copies share a target folder, and cargo knows a file by its path inside the
# package: each copy's files are written anew (never with `cp -p`), so that they are newer than
# what was built from the copy before, and the reference, whose files are older, builds in its
# own target folder.
grade() {
    local dir=$1 out=$2 target=${3:-$PROOFS_TARGET}
    (cd "$dir" && CARGO_TARGET_DIR=$target bash report/grade.sh --autolab) >"$out.log" 2>&1 || true
    tail -n 1 "$out.log" | tr ',{}' '\n\n\n' | sed -n 's/.*"part\([0-9]*\)": \([0-9]*\).*/\1 \2/p' >"$out"
    [ -s "$out" ] || fail "the grader printed no scores in $dir" "$out.log"
}

# expect OUT DESCRIPTION RULE: checks each part's points in OUT against RULE, an awk
# condition on n (the part), got and max.
expect() {
    local out=$1 what=$2 rule=$3
    if ! awk -v rule="$rule" 'NR == FNR { max[$1] = $2; next }
        { n = $1; got = $2; m = max[n]; ok = 1 }
        '"$rule"' { next }
        { print "part " n ": " got " of " m; bad = 1 }
        END { exit bad }' "$WORK/max" "$out" >"$out.wrong"; then
        cat "$out.wrong" >"$out.why"
        echo "--- the grader's output:" >>"$out.why"
        cat "$out.log" >>"$out.why"
        fail "$what" "$out.why"
    fi
}

# A copy of the reference as it is (tracked and new files), in DIR.
copy_reference() {
    local dir=$1
    mkdir -p "$dir"
    git ls-files --cached --others --exclude-standard | while IFS= read -r file; do
        [ -f "$file" ] || continue
        mkdir -p "$dir/$(dirname "$file")"
        cp "$file" "$dir/$file"
    done
}

# 1. The reference.
grade "$REPO" "$WORK/reference" "${CARGO_TARGET_DIR:-$REPO/target}"
expect "$WORK/reference" "the reference does not get every point" '$2 == m'
echo "ok: the reference gets $(awk '{ s += $2 } END { print s }' "$WORK/reference") of $(awk '{ s += $2 } END { print s }' "$WORK/max") points"

# 2. The starter.
bash report/starter/make.sh "$WORK/starter" >/dev/null
grade "$WORK/starter" "$WORK/starter-scores"
expect "$WORK/starter-scores" "the starter copy gets points" '$2 == 0'
grep -q 'todo!: part' "$WORK/starter-scores.log" || fail "the starter's table names no todo!" "$WORK/starter-scores.log"
echo "ok: the starter copy gets 0 points in every part, each naming its todo!"
(cd "$WORK/starter" && CARGO_TARGET_DIR=$PROOFS_TARGET cargo build -q &&
    CARGO_TARGET_DIR=$PROOFS_TARGET cargo build -q --examples) >"$WORK/starter-build.log" 2>&1 ||
    fail "cargo build fails in the starter copy" "$WORK/starter-build.log"
# The router as a student runs it; a hang would be killed after 20 s, and fail here.
router=$PROOFS_TARGET/debug/examples/router
(cd "$WORK/starter" && "$router" --port 0 --server-port 0 --no-log >"$WORK/router.log" 2>&1) &
router_pid=$!
for _ in $(seq 200); do
    kill -0 "$router_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$router_pid" 2>/dev/null; then
    kill -KILL "$router_pid"
    fail "the starter's router did not stop within 20 s" "$WORK/router.log"
fi
wait "$router_pid" && fail "the starter's router exited 0" "$WORK/router.log"
grep -q "not yet implemented: part [0-9]" "$WORK/router.log" ||
    fail "the starter's router did not stop with a part's todo!" "$WORK/router.log"
echo "ok: the starter copy builds, and its router stops at once: $(grep -o 'not yet implemented: part [0-9]*' "$WORK/router.log" | head -n 1)"

# 5. make.sh refuses a copy with an answer left in it: a reference whose student handout quotes
# a line of part 4's answer.
copy_reference "$WORK/leaky"
answer=$(awk '/\/\/ \[part 4: Semaphore::acquire_before\]/ { on = 1; next } on && /while/ { print; exit }' src/semaphore.rs)
[ -n "$answer" ] || fail "no line of part 4's answer found to plant"
printf '\n```rust\n%s\n```\n' "$answer" >>"$WORK/leaky/report/starter/handout.md"
if (cd "$WORK/leaky" && bash report/starter/make.sh "$WORK/leaky-copy" >"$WORK/leaky.log" 2>&1); then
    fail "make.sh wrote a copy with a line of an answer in its handout" "$WORK/leaky.log"
fi
grep -qF "$(echo "$answer" | sed 's/^[[:space:]]*//')" "$WORK/leaky.log" ||
    fail "make.sh failed, but did not name the line left in" "$WORK/leaky.log"
echo "ok: make.sh refuses a copy whose handout quotes a line of an answer"

if $quick; then
    echo "quick proofs done in $((SECONDS - started)) s (the parts one by one and the planted bugs: without --quick)"
    exit 0
fi

# 3. Each part alone.
for n in $(awk '{ print $1 }' "$WORK/max"); do
    bash report/starter/make.sh "$WORK/only-$n" --filled "$n" >/dev/null
    grade "$WORK/only-$n" "$WORK/only-$n-scores"
    expect "$WORK/only-$n-scores" "the starter with only part $n filled in does not get exactly part $n's points" \
        "(n == $n && got == m) || (n != $n && got == 0)"
    echo "ok: the starter with only part $n filled in gets part $n's $(awk -v n="$n" '$1 == n { print $2 }' "$WORK/max") points and no other"
    rm -rf "$WORK/only-$n"
done

# 4. Each planted bug.
awk '$1 == "bug" { print $2, $3 }' report/grade/parts | while read -r n patch; do
    dir="$WORK/bug-${patch%.patch}"
    copy_reference "$dir"
    (cd "$dir" && git apply "$REPO/report/exercises/$patch") ||
        fail "report/exercises/$patch does not apply to the reference"
    grade "$dir" "$dir-scores"
    expect "$dir-scores" "the planted bug $patch does not lose points in part $n alone" \
        "(n == $n && got < m) || (n != $n && got == m)"
    lost=$(awk -v n="$n" 'NR == FNR { max[$1] = $2; next } $1 == n { print max[n] - $2 }' "$WORK/max" "$dir-scores")
    echo "ok: planted bug $patch loses $lost points in part $n, none elsewhere"
    rm -rf "$dir"
done
echo "all proofs done in $((SECONDS - started)) s"
