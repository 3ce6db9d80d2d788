#!/usr/bin/env bash
# Writes the students' copy of geotracker: the whole system, with the bodies of the lab's parts
# replaced by todo!(), a student handout, the grader, and none of the answers.
#
#   bash report/starter/make.sh DIR                 # every part left to write
#   bash report/starter/make.sh DIR --filled 1,2    # parts 1 and 2 given whole (a shorter lab)
#   bash report/starter/make.sh DIR --filled all    # nothing left to write (for checking)
#
# DIR must not exist yet (or be empty). Run from a clone of the reference repository. In the
# copy, each body the source marks `// [part N: NAME]` ... `// [end of part N]` becomes
# `todo!("part N: ...")` (the message is the `todo N NAME` line of report/grade/parts), and
# the copy is checked: no line of a removed body is left anywhere in it, in any file. Left out of
# the copy: the marking guide and the lecturer's handout (report/marking-guide.md,
# report/README.md), the planted bugs (report/exercises/), the debugger transcript (it quotes
# source lines), the scripts that check the reference's documents, and this folder. The copy's
# README.md and report/README.md are report/starter/README.md and report/starter/handout.md.
#
# Needs bash, git, awk, sed, grep; Linux or macOS. Exit code: 0 when the copy is written and
# clean, 1 when an answer would be left in it (the line is printed), 2 for a bad command line.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
usage() {
    echo "usage: bash report/starter/make.sh DIR [--filled all | --filled N,N,...]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
DIR=$1
shift
filled=","
while [ $# -gt 0 ]; do
    case $1 in
        --filled)
            [ $# -ge 2 ] || usage
            filled=",$2,"
            shift
            ;;
        *) usage ;;
    esac
    shift
done
if [ "$filled" = ",all," ]; then
    filled=","$(awk '$1 == "part" { printf "%s,", $2 }' "$REPO/report/grade/parts")
fi
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
    echo "make.sh: $DIR exists and is not empty; give a new folder" >&2
    exit 2
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# What stays in the reference only.
left_out() {
    case $1 in
        report/marking-guide.md | report/README.md | README.md) return 0 ;;
        report/exercises/* | report/starter/* | report/bench/* | report/transcripts/*) return 0 ;;
        report/debugger/walkthrough.txt | report/check.sh | report/grade/prove.sh) return 0 ;;
        report/scripts/*) return 0 ;;
        .ci/* | tests/layout.rs | tests/debugger.rs) return 0 ;;
    esac
    return 1
}

# 1. The files, as git has them.
cd "$REPO"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard >"$WORK/files"
else
    # Not a clone (a copy of one): every file but the builds.
    find . -type f ! -path './target/*' ! -path './.git/*' | sed 's|^\./||' | sort >"$WORK/files"
fi
while IFS= read -r file; do
    left_out "$file" && continue
    mkdir -p "$DIR/$(dirname "$file")"
    cp "$file" "$DIR/$file"
done <"$WORK/files"
cp report/starter/README.md "$DIR/README.md"
cp report/starter/handout.md "$DIR/report/README.md"
# The parts file without its planted bugs, which name the mistakes the grader looks for.
grep -v '^bug ' report/grade/parts >"$DIR/report/grade/parts"

# 2. The parts' bodies, cut. The awk program reads report/grade/parts first (the messages),
# then a source file, and prints the file with each marked body of a part that is not filled
# replaced by todo!().
cut_parts='
FNR == NR {
    if ($1 == "todo") {
        key = $2 " " $3
        message = $0
        sub(/^todo [0-9]+ [^ ]+ /, "", message)
        gsub(/\\/, "\\\\", message)
        gsub(/"/, "\\\"", message)
        todo[key] = message
    }
    next
}
match($0, /^[ \t]*\/\/ \[part [0-9]+: [^]]+\]/) {
    line = $0
    indent = line
    sub(/[^ \t].*$/, "", indent)
    sub(/^[ \t]*\/\/ \[part /, "", line)
    n = line
    sub(/:.*$/, "", n)
    name = line
    sub(/^[0-9]+: /, "", name)
    sub(/\].*$/, "", name)
    if (index(filled, "," n ",") == 0) {
        if (!((n " " name) in todo)) {
            print "make.sh: no todo line for part " n " " name " in report/grade/parts" > "/dev/stderr"
            exit 3
        }
        print indent "todo!(\"part " n ": " todo[n " " name] "\")"
        cutting = 1
        next
    }
}
/^[ \t]*\/\/ \[end of part [0-9]+\]/ {
    if (cutting) {
        cutting = 0
        next
    }
}
!cutting { print }
'
find "$DIR/src" -name '*.rs' | while IFS= read -r source; do
    awk -v filled="$filled" "$cut_parts" "$REPO/report/grade/parts" "$source" >"$WORK/cut.rs"
    cat "$WORK/cut.rs" >"$source"
done

# 3. The todo!()s leave names unused: the compiler should not shout about what is not written.
awk '{ print } /^#!\[deny\(missing_docs\)\]/ {
    print "// The starter copy: its todo!()s leave names unused. Delete this line when every part is done."
    print "#![allow(unused_imports, unused_variables, unused_mut, dead_code, unreachable_code)]"
}' "$DIR/src/lib.rs" >"$WORK/lib.rs"
cat "$WORK/lib.rs" >"$DIR/src/lib.rs"

# 4. No answer left anywhere: each line of a body that was cut (trimmed, 16 characters or more)
# that the reference has nowhere else must be no line of the copy; one of 48 characters or more
# must not be inside any line of it either (a transcript quoting a source line, say).
trimmed() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }
: >"$WORK/answers"
: >"$WORK/elsewhere"
while IFS= read -r file; do
    case $file in *.png | *.mmdb | *.svg) continue ;; esac
    [ -f "$file" ] || continue
    # Only what the copy keeps can show that a line is not an answer.
    if left_out "$file"; then
        continue
    fi
    awk -v filled="$filled" -v answers="$WORK/answers" -v elsewhere="$WORK/elsewhere" '
        match($0, /^[ \t]*\/\/ \[part [0-9]+:/) {
            n = $0; sub(/^[ \t]*\/\/ \[part /, "", n); sub(/:.*$/, "", n)
            if (index(filled, "," n ",") == 0) { inside = 1; next }
        }
        /^[ \t]*\/\/ \[end of part [0-9]+\]/ { if (inside) { inside = 0; next } }
        { print >> (inside ? answers : elsewhere) }
    ' "$file"
done <"$WORK/files"
trimmed <"$WORK/answers" | awk 'length($0) >= 16' | sort -u >"$WORK/answer-lines"
trimmed <"$WORK/elsewhere" | sort -u >"$WORK/other-lines"
comm -23 "$WORK/answer-lines" "$WORK/other-lines" >"$WORK/only-in-answers"
awk 'length($0) >= 48' "$WORK/only-in-answers" >"$WORK/long-answers"
: >"$WORK/leaks"
find "$DIR" -type f ! -name '*.mmdb' ! -name '*.png' | while IFS= read -r file; do
    trimmed <"$file" | grep -nxF -f "$WORK/only-in-answers" | sed "s|^|$file:|" >>"$WORK/leaks" || true
    if [ -s "$WORK/long-answers" ]; then
        grep -nF -f "$WORK/long-answers" "$file" | sed "s|^|$file:|" >>"$WORK/leaks" || true
    fi
done
if [ -s "$WORK/leaks" ]; then
    echo "make.sh: these lines of the answers are in the copy:" >&2
    sort -u "$WORK/leaks" >&2
    exit 1
fi
answers=$(wc -l <"$WORK/only-in-answers" | tr -d ' ')
todos=$(grep -rc 'todo!("part ' "$DIR/src" | awk -F: '{ s += $2 } END { print s + 0 }')
echo "wrote $DIR: $todos bodies left to write (todo!), and none of the $answers lines of their answers anywhere in it"
echo "next: cd $DIR && cargo build && bash report/grade.sh"
