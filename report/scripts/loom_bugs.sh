#!/usr/bin/env bash
# Puts each of the original's semaphore bugs back, one at a time, in a scratch copy of the
# repository (never in the tree), runs the loom tests on it, and prints the interleaving loom
# found. Exits non-zero if a planted bug goes unnoticed, or if the tests fail without one.
#
#   bash report/scripts/loom_bugs.sh            # all three loom-*.patch of report/exercises/
#   bash report/scripts/loom_bugs.sh no-notify  # one of them
#
# The patches: loom-check-race (the original's check(): a free slot found, the lock let go,
# then taken), loom-no-notify (a freed slot wakes nobody), loom-if-not-while (a woken thread
# does not look again). The work is done by exercises.sh (exercise 7), which also checks it.
exec bash "$(dirname "$0")/exercises.sh" --loom "$@"
