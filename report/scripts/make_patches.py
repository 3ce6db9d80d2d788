#!/usr/bin/env python3
"""Makes report/exercises/*.patch again from the source as it is: the planted bugs of the
exercises and of the grader's proofs (report/grade/prove.sh). Each bug is written down here once,
as the lines it changes; run this after editing a file a patch touches, and commit the patches.

    python3 report/scripts/make_patches.py            # writes every patch
    python3 report/scripts/make_patches.py --check    # exit 1 if a committed patch is not what
                                                      # this would write

Standard library only. Each patch keeps the prose that opens its file (what the bug is, and who
uses it); a new patch gets the `about` text below.
"""
import difflib
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
PATCHES = REPO / "report" / "exercises"


def grader_bug(part, what):
    return (f"A planted bug for the grader's proofs (report/grade/prove.sh): {what} It must lose "
            f"points in part {part} and in no other part.\n\n")


# name: (file, text as it is, text with the bug, prose for a new patch)
BUGS = {
    "check-race.patch": ("src/semaphore.rs", """        self.take_first_free(&mut slots)
        // [end of part 4]""", """        // The original's check(): the first free slot is found, the lock let go, then taken.
        let slot = slots.free.iter().position(|&free| free)?;
        drop(slots);
        std::thread::yield_now();
        let mut slots = self.lock();
        slots.free[slot] = false;
        slots.granted += 1;
        Some(Permit {
            semaphore: Arc::clone(self),
            slot,
            turn: slots.granted,
        })
        // [end of part 4]""", ""),
    "loom-check-race.patch": ("src/semaphore.rs", """        self.take_first_free(&mut slots)
        // [end of part 4]""", """        // The original's check(): the first free slot is found, the lock let go, then taken.
        let slot = slots.free.iter().position(|&free| free)?;
        drop(slots);
        let mut slots = self.lock();
        slots.free[slot] = false;
        slots.granted += 1;
        Some(Permit {
            semaphore: Arc::clone(self),
            slot,
            turn: slots.granted,
        })
        // [end of part 4]""", ""),
    "loom-if-not-while.patch": ("src/semaphore.rs", "        while !slots.free.contains(&true) {",
                                "        if !slots.free.contains(&true) {", ""),
    "loom-no-notify.patch": ("src/semaphore.rs", "        self.semaphore.freed.notify_one();\n", "", ""),
    "notify-all.patch": ("src/semaphore.rs", "        self.semaphore.freed.notify_one();\n",
                         "        self.semaphore.freed.notify_all();\n",
                         grader_bug(4, "a release wakes every thread waiting for a slot, not one.")),
    "no-slot-freed-in-a-panic.patch": ("src/semaphore.rs", """        // [part 4: Permit::drop]
        let mut slots = self.semaphore.lock();""", """        // [part 4: Permit::drop]
        // Leave a panicking thread's slot alone.
        if std::thread::panicking() {
            return;
        }
        let mut slots = self.semaphore.lock();""",
        grader_bug(4, "a permit dropped while its thread panics does not free its slot.")),
    "nat-race.patch": ("src/nat.rs", """            let ip = state.next_public;
            state.next_public = next_in_pool(ip);""", """            // The original's splitip(): the address is read, the lock let go, then the pool bumped.
            let ip = state.next_public;
            drop(state);
            std::thread::yield_now();
            state = self.state.lock();
            state.next_public = next_in_pool(ip);""", ""),
    "a-returning-caller-gets-a-new-address.patch": ("src/nat.rs", """        if let Some(&row) = state.index.get(&caller) {
            return state.rows[row];
        }
""", "", grader_bug(3, "a caller seen before is mapped again as if it were new.")),
    "no-fifo.patch": ("src/extras/queue.rs", None, None, ""),
    "wait-holding-the-queue-lock.patch": ("src/extras/queue.rs", """        // At the front: let go of the queue's lock, then wait at the semaphore.
        drop(waiting);
        acquire(deadline)""", """        // At the front: wait at the semaphore, still holding the queue's lock.
        let permit = acquire(deadline);
        drop(waiting);
        permit""", ""),
    "serve-in-the-accept-thread.patch": ("src/accept.rs", """        // The thread for this one connection.
        let spawned = thread::Builder::new().name(name).spawn(move || {
            // Both counted out when the thread ends, even in a panic.
            let _counted = counted;
            let _from_source = from_source;
            serve(stream, peer);
        });""", """        // Served right here, on the accepting thread.
        let _ = name;
        let _counted = counted;
        let _from_source = from_source;
        serve(stream, peer);
        let spawned: std::io::Result<()> = Ok(());""",
        grader_bug(1, "each connection is served on the accepting thread, not a thread of its own.")),
    "count-out-before-the-thread-ends.patch": ("src/accept.rs", """        let counted = self.shutdown.enter();""",
        """        let _counted_until_this_function_ends = self.shutdown.enter();
        let counted = ();""",
        grader_bug(1, "the connection is counted in the shutdown only until the thread has been "
                      "started, not until it ends.")),
    "take-all-leaves-the-rows.patch": ("src/iptable.rs", """        std::mem::take(&mut *self.rows.lock())""",
        """        self.rows.lock().clone()""",
        grader_bug(2, "take_all copies the rows out and leaves them in the table.")),
    "a-second-ctrl-c-does-not-hurry.patch": ("src/signal.rs", """            print_line(format_args!("stopping at once: writing the IP tables as they are (Ctrl-C again to exit without them)"));
            shutdown.hurry();""", """            print_line(format_args!("stopping at once: writing the IP tables as they are (Ctrl-C again to exit without them)"));
            shutdown.request();""",
        grader_bug(6, "a second stop signal requests the stop again instead of hurrying it.")),
    "a-run-replaces-the-earlier-runs.patch": ("src/iplog.rs", """        old_runs: &old.runs,""",
        """        old_runs: &[],""",
        grader_bug(7, "the new log holds the new run and the count, and none of the earlier runs.")),
    "no-lock-around-the-log.patch": ("src/iplog.rs", """    let _writing = lock_beside(path).map_err(|e| failed("lock", e))?;
""", "", grader_bug(7, "two writers may read the old log at once, and one's run is lost.")),
}


def no_fifo(text):
    """The queue with its wait for the front taken out: every place goes straight on."""
    start = text.index("        // Asleep on our own condition variable: only the place in front of us")
    end = text.index("        Some(waiting)\n", start)
    return text[:start] + text[end:]


def patch_text(name):
    file, old, new, about = BUGS[name]
    original = (REPO / file).read_text()
    if old is None:
        changed = no_fifo(original)
    else:
        if original.count(old) != 1:
            sys.exit(f"make_patches.py: {name}: the text to change is in {file} "
                     f"{original.count(old)} times, not once:\n{old}")
        changed = original.replace(old, new)
    diff = difflib.unified_diff(original.splitlines(keepends=True), changed.splitlines(keepends=True),
                                f"a/{file}", f"b/{file}")
    existing = PATCHES / name
    header = existing.read_text().split("diff --git")[0] if existing.exists() else about
    return header + f"diff --git a/{file} b/{file}\n" + "".join(diff)


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name in BUGS:
        text = patch_text(name)
        path = PATCHES / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote report/exercises/{name}")
    if stale:
        sys.exit("not what make_patches.py writes (run it, and commit the patches): " + ", ".join(stale))
    if check:
        print(f"ok: the {len(BUGS)} patches of report/exercises/ are what make_patches.py writes")


if __name__ == "__main__":
    main()
