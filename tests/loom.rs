//! The semaphore, the queue and the shutdown under every interleaving, checked by loom.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test --release --test loom
//! ```
//!
//! Every other test runs its threads once, in whatever order the scheduler picks; a bad order
//! that the scheduler rarely picks passes them. loom runs each test below once per distinct
//! interleaving of its threads at the locks, condition variables and atomics it models
//! (`src/extras/sync.rs` hands the library loom's models under `--cfg loom`), and fails with
//! the interleaving that broke an assertion, panicked, or left every thread asleep (a lost
//! wake-up or a deadlock); in loom's deadlock message `Id(0)` is the test's main thread and
//! `Id(1)`, `Id(2)` the threads it spawned, in order. The tests are kept to three threads, so that every interleaving is
//! explored in seconds; see `report/README.md` for the planted bugs they catch.
//!
//! Without `--cfg loom` this file is empty, and a normal `cargo test` never builds loom.
#![cfg(loom)]

use geotracker::{IpTable, Joined, Queue, RouterEntry, Semaphore, Shutdown};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::cell::RefCell;
use std::fmt::Display;
use std::sync::{Arc, Once};
use std::time::Duration;

/// The preemption bound used unless `LOOM_MAX_PREEMPTIONS` says otherwise: loom explores every
/// interleaving in which the threads are switched against their will at most this many times
/// (switches where a thread blocks are not counted). With 1, the check-then-take race of
/// `report/exercises/loom-check-race.patch` goes unseen; with 2, every planted bug there is
/// found; 3 leaves a margin and explores 10,319 interleavings in about a second.
/// `LOOM_MAX_PREEMPTIONS=100`, no practical bound, explores 7,996,459 in about 8 minutes, and
/// passes too.
const PREEMPTION_BOUND: usize = 3;

/// The panic in `one_slot_a_holder_that_panics_still_frees_its_slot`: planned, not a failure.
const PLANNED_PANIC: &str = "a worker panics while holding the slot";

thread_local! {
    /// What the threads of the interleaving being run have done so far, in order.
    static STEPS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Notes a step of `thread` in the interleaving being run; printed if it fails.
fn step(thread: &str, what: impl Display) {
    STEPS.with(|steps| steps.borrow_mut().push(format!("{thread:>6}: {what}")));
}

/// Runs `test` under every interleaving loom explores (within the preemption bound), prints how
/// many that was, and if one fails, prints its steps before loom's own message.
fn every_interleaving(name: &str, test: impl Fn() + Sync + Send + 'static) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = (payload.downcast_ref::<&str>().copied())
                .or(payload.downcast_ref::<String>().map(String::as_str));
            // loom unwinds the other threads of a failed interleaving with a payload that is not
            // a message; those, and the planned panic, are not news.
            let Some(message) = message.filter(|m| *m != PLANNED_PANIC) else {
                return;
            };
            let steps = STEPS.with(|steps| steps.borrow().join("\n"));
            eprintln!("the failing interleaving, step by step:\n{steps}\nthen: {message}");
            if message.starts_with("deadlock") {
                eprintln!("(Id(0) is the test's main thread; Id(1), Id(2) the ones it spawned)");
            }
            default(info);
        }));
    });
    let mut model = loom::model::Builder::new();
    model.preemption_bound = model.preemption_bound.or(Some(PREEMPTION_BOUND));
    model.location = true; // Name the line where each thread is blocked in a deadlock.
    let explored = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&explored);
    model.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        STEPS.with(|steps| steps.borrow_mut().clear());
        test();
    });
    let bound = model
        .preemption_bound
        .map_or("none".to_string(), |b| b.to_string());
    let explored = explored.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{name}: {explored} interleavings explored (preemption bound {bound})");
}

/// Each thread marks the slot it was given as held, and checks nobody else holds it: the
/// original's `check()` race gave two threads slot 0. The number of holders never exceeds the
/// slots, and once everyone is done every slot is free again: no permit is lost.
#[test]
fn two_slots_three_threads_never_more_holders_than_slots_and_no_slot_lost() {
    every_interleaving("bound", || {
        let sem = Arc::new(Semaphore::new(2));
        let held: Arc<[AtomicBool; 2]> = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let holders = Arc::new(AtomicUsize::new(0));
        let worker = |name: &'static str| {
            let (sem, held, holders) = (Arc::clone(&sem), Arc::clone(&held), Arc::clone(&holders));
            move || {
                step(name, "acquire");
                let permit = sem.acquire();
                step(name, format_args!("holds slot {}", permit.slot()));
                assert!(
                    !held[permit.slot()].swap(true, SeqCst),
                    "two holders of one slot"
                );
                assert!(holders.fetch_add(1, SeqCst) < 2, "more holders than slots");
                holders.fetch_sub(1, SeqCst);
                held[permit.slot()].store(false, SeqCst);
                let slot = permit.slot();
                drop(permit);
                step(name, format_args!("freed slot {slot}"));
            }
        };
        let threads = [thread::spawn(worker("A")), thread::spawn(worker("B"))];
        worker("main")();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.counts().0, 2, "every slot is free again");
    });
}

/// One slot, held by the main thread while two others want it. Each release must wake a
/// waiter (else loom finds every thread asleep: a lost wake-up), a woken waiter must look
/// again (else it goes on without a slot when another thread took the freed one first), and a
/// release must wake one waiter, not all of them.
#[test]
fn one_slot_every_freed_slot_wakes_a_waiter() {
    every_interleaving("wake-up", || {
        let sem = Arc::new(Semaphore::new(1));
        let permit = sem.acquire();
        step("main", "holds slot 0");
        let waiter = |name: &'static str| {
            let sem = Arc::clone(&sem);
            move || {
                step(name, "acquire");
                let permit = sem.acquire();
                step(name, format_args!("holds slot {}", permit.slot()));
                drop(permit);
                step(name, "freed it");
            }
        };
        let threads = [thread::spawn(waiter("A")), thread::spawn(waiter("B"))];
        drop(permit);
        step("main", "freed slot 0");
        for t in threads {
            t.join().unwrap();
        }
        let (free, waiting, wakeups) = sem.counts();
        assert_eq!((free, waiting), (1, 0), "the slot is free, nobody waits");
        // Two releases can find a thread waiting (main's, and the first waiter's): with
        // `notify_one`, each wakes one thread, so there are at most two wake-ups (loom has no
        // spurious ones). `notify_all` wakes both waiters at main's release: three.
        assert!(wakeups <= 2, "{wakeups} wake-ups for two releases");
    });
}

/// A holder that panics gives its slot back as it unwinds (the `Permit`'s `Drop`), so the
/// next thread still gets it; the original lost the slot for good.
#[test]
fn one_slot_a_holder_that_panics_still_frees_its_slot() {
    every_interleaving("panic", || {
        let sem = Arc::new(Semaphore::new(1));
        let panicking = Arc::clone(&sem);
        let t = thread::spawn(move || {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                step("A", "acquire");
                let _permit = panicking.acquire();
                step("A", "holds slot 0, panics");
                panic!("{PLANNED_PANIC}");
            }));
            assert!(caught.is_err());
        });
        step("main", "acquire");
        let permit = sem.acquire();
        step("main", "holds slot 0");
        drop(permit);
        step("main", "freed slot 0");
        t.join().unwrap();
        assert_eq!(sem.counts().0, 1);
    });
}

/// The queue claims first come, first served: two clients queue while the only slot is held;
/// the one told place 1 is served before the one told place 2, whichever wakes first.
#[test]
fn one_slot_the_queue_serves_places_in_order() {
    every_interleaving("fifo", || {
        let queue = Arc::new(Queue::new());
        let semaphore = Arc::new(Semaphore::new(1));
        let Joined::SlotFree(permit) = queue.join(|| semaphore.try_acquire()) else {
            panic!("the slot is free")
        };
        let client = |name: &'static str| {
            let queue = Arc::clone(&queue);
            let semaphore = Arc::clone(&semaphore);
            move || {
                let Joined::Queued(place) = queue.join(|| semaphore.try_acquire()) else {
                    panic!("the slot is held")
                };
                let position = place.position();
                step(name, format_args!("queued at place {position}"));
                let permit = place.wait_for_slot(None, |d| semaphore.acquire_before(d));
                let permit = permit.expect("no deadline");
                step(name, format_args!("served, turn {}", permit.turn()));
                (position, permit.turn())
            }
        };
        let threads = [thread::spawn(client("A")), thread::spawn(client("B"))];
        while queue.waiting() < 2 {
            thread::yield_now();
        }
        drop(permit);
        step("main", "freed the slot (turn 1)");
        let mut served: Vec<(usize, u64)> = threads.map(|t| t.join().unwrap()).into();
        served.sort();
        assert_eq!(
            served,
            [(1, 2), (2, 3)],
            "(place, turn): after main's turn 1, place 1 then 2"
        );
    });
}

/// Ctrl-C twice while a worker is adding its row: the router's stop waits for it (`drain`),
/// then takes the table for the dump. Nothing deadlocks, and unless the second Ctrl-C cut the
/// wait short, the worker's row is in the dump.
#[test]
fn a_second_ctrl_c_and_the_dump_do_not_deadlock_with_a_worker_adding_a_row() {
    every_interleaving("shutdown", || {
        let (shutdown, table) = (Shutdown::new(), Arc::new(IpTable::new()));
        let (client, server) = (([10, 0, 0, 1], 5000).into(), ([127, 0, 0, 1], 12347).into());
        let row = RouterEntry { client, server };
        let counted = shutdown.enter();
        let worker = {
            let table = Arc::clone(&table);
            thread::spawn(move || {
                table.push(row); // Takes the table's lock.
                step("worker", "added its row");
                drop(counted);
                step("worker", "done");
            })
        };
        let ctrl_c = {
            let shutdown = Arc::clone(&shutdown);
            thread::spawn(move || {
                step("ctrl-c", "first");
                shutdown.request();
                step("ctrl-c", "second");
                shutdown.hurry();
            })
        };
        while !shutdown.is_requested() {
            thread::yield_now();
        }
        let still_serving = shutdown.drain(Duration::from_secs(3600));
        step(
            "main",
            format_args!("drained, {still_serving} still serving; dumps the table"),
        );
        let dumped = table.take_all();
        if still_serving == 0 {
            assert_eq!(dumped, [row], "a drained worker's row is in the dump");
        }
        worker.join().unwrap();
        ctrl_c.join().unwrap();
        assert_eq!(dumped.len() + table.take_all().len(), 1, "one row, once");
    });
}
