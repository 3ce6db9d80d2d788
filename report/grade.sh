#!/usr/bin/env bash
# The lab's grader: runs each part's tests and says how many of its points each part earns.
#
#   bash report/grade.sh                      # every part, then the total
#   bash report/grade.sh 4                    # part 4 only (or several: 3 4 5)
#   bash report/grade.sh --gradescope FILE    # also write Gradescope's results.json to FILE
#   bash report/grade.sh --autolab            # also end with Autolab's line {"scores": {...}}
#
# The parts, their points and their tests are in report/grade/parts. Each test runs on its
# own, with what is left of its part's time limit, so that a todo!(), a deadlock or an endless
# loop costs that part's points and never holds up the rest. A test passes when it runs and
# passes; for one that does not, the table says why in one line: the todo!() it reached, the
# message of the assertion that failed, or the time limit.
#
# Needs cargo (and the crates the project uses, fetched once by any cargo build). Runs on Linux
# and macOS with bash 3.2 or later; offline. Exit code: 0 when the parts were graded (whatever
# the score), 1 when the tests could not be built, 2 for a bad command line.
# (No `set -u`: bash 3.2 takes an empty array for an unset variable.)
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PARTS_FILE=report/grade/parts
TARGET=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

usage() {
    echo "usage: bash report/grade.sh [PART...] [--gradescope FILE] [--autolab]" >&2
    exit 2
}

# --- The command line ---------------------------------------------------------------------------
wanted=""
gradescope=""
autolab=false
while [ $# -gt 0 ]; do
    case $1 in
        --gradescope) [ $# -ge 2 ] || usage; gradescope=$2; shift ;;
        --autolab) autolab=true ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *[!0-9]* | "") usage ;;
        *) wanted="$wanted $1 " ;;
    esac
    shift
done

# --- The parts file: one array per column --------------------------------------------------------
part_n=() part_points=() part_secs=() part_title=()
test_part=() test_points=() test_kind=() test_name=()
while read -r kind n rest; do
    case $kind in
        part)
            set -- $rest
            part_n+=("$n") part_points+=("$1") part_secs+=("$2")
            shift 2
            part_title+=("$*")
            ;;
        test)
            set -- $rest
            test_part+=("$n") test_points+=("$1") test_kind+=("$2") test_name+=("$3")
            ;;
    esac
done <"$PARTS_FILE"
selected() { [ -z "$wanted" ] || case $wanted in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for n in $wanted; do
    case " ${part_n[*]} " in *" $n "*) ;; *) echo "grade.sh: there is no part $n" >&2; exit 2 ;; esac
done

# --- Building the tests the selected parts need -------------------------------------------------
# Prints each test binary cargo built, as "KIND PATH" (KIND: lib or test/FILE).
executables() {
    sed -n 's/^ *Executable unittests src\/lib\.rs (\(.*\))$/lib \1/p;
            s/^ *Executable tests\/\(.*\)\.rs (\(.*\))$/test\/\1 \2/p' "$1"
}
cargo_args=() need_loom=false
for i in "${!test_part[@]}"; do
    selected "${test_part[$i]}" || continue
    case ${test_kind[$i]} in
        lib) arg=(--lib) ;;
        test/*) arg=(--test "${test_kind[$i]#test/}") ;;
        loom) need_loom=true; continue ;;
    esac
    # Each target once.
    case " ${cargo_args[*]} " in *" ${arg[*]} "*) ;; *) cargo_args+=("${arg[@]}") ;; esac
done
build_failed=""
echo "building the tests (cargo test --no-run) ..."
if ! cargo test --no-run "${cargo_args[@]}" >"$WORK/build.txt" 2>&1; then
    build_failed=$(grep -m1 -E '^error' "$WORK/build.txt" || echo "cargo test --no-run failed")
fi
executables "$WORK/build.txt" >"$WORK/executables"
if $need_loom && [ -z "$build_failed" ]; then
    echo "building the loom tests (RUSTFLAGS=\"--cfg loom\" cargo test --release --no-run --test loom) ..."
    if RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$TARGET/loom" \
        cargo test --release --no-run --test loom >"$WORK/loom-build.txt" 2>&1; then
        executables "$WORK/loom-build.txt" | sed 's/^test\/loom /loom /' >>"$WORK/executables"
    else
        build_failed=$(grep -m1 -E '^error' "$WORK/loom-build.txt" || echo "the loom build failed")
    fi
fi
if [ -n "$build_failed" ]; then
    echo "The tests do not compile; every part gets 0. What cargo said:"
    grep -E -A12 '^error' "$WORK/build.txt" "$WORK/loom-build.txt" 2>/dev/null | head -n 40
fi
executable_of() { sed -n "s/^$(printf '%s' "$1" | sed 's/\//\\\//g') //p" "$WORK/executables" | head -n 1; }

# --- Running one test, with a time limit ---------------------------------------------------------
# run_limited SECONDS OUTPUT COMMAND...: exit code 124 when the limit ran out. The command runs
# in a process group of its own, so that the processes a test starts are stopped with it.
run_limited() {
    local limit=$1 out=$2 tenths=0 pid code
    shift 2
    # (The shell's own notices, such as "Aborted" for a test that aborts, are not shown: the
    # table says why a test failed.)
    {
        set -m
        "$@" >"$out" 2>&1 &
        pid=$!
        set +m
        code=""
        while kill -0 "$pid" 2>/dev/null; do
            if [ "$tenths" -ge $((limit * 10)) ]; then
                kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
                wait "$pid"
                code=124
                break
            fi
            sleep 0.1
            tenths=$((tenths + 1))
        done
        if [ -z "$code" ]; then
            wait "$pid"
            code=$?
        fi
    } 2>/dev/null
    return "$code"
}

# why OUTPUT CODE LIMIT NAME: one line saying why the test NAME did not pass.
why() {
    local out=$1 code=$2 limit=$3 name=$4 line
    if [ "$code" = 124 ]; then
        echo "did not finish within ${limit} s (a deadlock, an endless loop, or a wait that never ends?)"
        return
    fi
    line=$(grep -m1 -o 'not yet implemented: .*' "$out")
    if [ -n "$line" ]; then
        echo "todo!: ${line#not yet implemented: }" | cut -c1-110
        return
    fi
    if grep -q 'running 0 tests' "$out"; then
        echo "no such test (was it renamed?)"
        return
    fi
    # The test's own thread first (libtest names it after the test, or "main"): a test may
    # make other threads panic on purpose.
    line=$(sed -n "/^thread '$name'.* panicked at/{n;p;q;}" "$out")
    [ -n "$line" ] || line=$(sed -n "/^thread 'main'.* panicked at/{n;p;q;}" "$out")
    [ -n "$line" ] || line=$(sed -n '/panicked at/{n;p;q;}' "$out")
    [ -n "$line" ] || line=$(grep -m1 -E 'deadlock|panicked|error' "$out")
    [ -n "$line" ] || line="failed (exit code $code)"
    echo "$line" | tr -d '\000-\037' | cut -c1-150
}

# --- Grading --------------------------------------------------------------------------------------
total=0 max_total=0
scores=() failures=()
for p in "${!part_n[@]}"; do
    n=${part_n[$p]}
    selected "$n" || continue
    earned=0 failed="" ends=$((SECONDS + part_secs[p]))
    for i in "${!test_part[@]}"; do
        [ "${test_part[$i]}" = "$n" ] || continue
        name=${test_name[$i]}
        short=${name##*::}
        left=$((ends - SECONDS))
        if [ -n "$build_failed" ]; then
            reason="does not compile: $build_failed"
        elif [ "$left" -le 0 ]; then
            reason="not run: the part's ${part_secs[$p]} s had run out"
        else
            exe=$(executable_of "${test_kind[$i]}")
            out="$WORK/out-$i"
            if [ -z "$exe" ]; then
                reason="its test binary (${test_kind[$i]}) was not built"
            elif run_limited "$left" "$out" "$exe" "$name" --exact --test-threads=1 &&
                grep -q 'test result: ok. 1 passed' "$out"; then
                earned=$((earned + test_points[i]))
                continue
            else
                code=$?
                reason=$(why "$out" "$code" "$left" "$name")
            fi
        fi
        [ -n "$failed" ] || failed="$short: $reason"
    done
    scores+=("$earned")
    failures+=("$failed")
    total=$((total + earned))
    max_total=$((max_total + part_points[p]))
done

# --- What it says -------------------------------------------------------------------------------
echo
printf '%-4s  %-7s  %-24s  %s\n' part points title "what failed (the first test that did not pass)"
k=0
for p in "${!part_n[@]}"; do
    selected "${part_n[$p]}" || continue
    printf '%-4s  %7s  %-24s  %s\n' "${part_n[$p]}" "${scores[$k]}/${part_points[$p]}" \
        "${part_title[$p]}" "${failures[$k]:--}"
    k=$((k + 1))
done
echo
echo "total: $total of $max_total points"

json_string() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\010\013-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
if [ -n "$gradescope" ]; then
    {
        printf '{"score": %s, "tests": [' "$total"
        k=0
        for p in "${!part_n[@]}"; do
            selected "${part_n[$p]}" || continue
            [ "$k" = 0 ] || printf ', '
            printf '{"name": %s, "score": %s, "max_score": %s, "output": %s}' \
                "$(json_string "part ${part_n[$p]}: ${part_title[$p]}")" "${scores[$k]}" \
                "${part_points[$p]}" "$(json_string "${failures[$k]:-all tests passed}")"
            k=$((k + 1))
        done
        printf ']}\n'
    } >"$gradescope"
    echo "Gradescope results written to $gradescope"
fi
if $autolab; then
    line='{"scores": {'
    k=0
    for p in "${!part_n[@]}"; do
        selected "${part_n[$p]}" || continue
        [ "$k" = 0 ] || line="$line, "
        line="$line\"part${part_n[$p]}\": ${scores[$k]}"
        k=$((k + 1))
    done
    echo "$line}}"
fi
[ -z "$build_failed" ] || exit 1
exit 0
