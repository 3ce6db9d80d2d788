//! The counting semaphore over the server slots (`src/semaphore.rs`) and the queue in front of
//! it (`src/extras/queue.rs`), alone and inside the router.

mod common;

use common::{fake_server, start_router, CLIENT_TIMEOUT};
use geotracker::Request;
use geotracker::{Joined, Queue, Semaphore};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Defect of the original: `check()` scanned `avail` without a lock, so two threads could take
/// the same slot. 200 threads compete here; each marks its slot busy while it holds it.
#[test]
fn never_more_than_four_clients_hold_a_slot_and_no_slot_is_shared() {
    let sem = Arc::new(Semaphore::new(4));
    let busy: Arc<Vec<AtomicBool>> = Arc::new((0..4).map(|_| AtomicBool::new(false)).collect());
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    // The first four holders meet here, so four really are held at once at least once. (A
    // counter with a deadline rather than a `Barrier`, so that a broken semaphore fails the
    // test instead of hanging it.)
    let first_four = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let (sem, busy, holding, most, first_four) = (
                Arc::clone(&sem),
                Arc::clone(&busy),
                Arc::clone(&holding),
                Arc::clone(&most),
                Arc::clone(&first_four),
            );
            thread::spawn(move || {
                let permit = sem.acquire();
                let slot = permit.slot();
                assert!(
                    !busy[slot].swap(true, Ordering::SeqCst),
                    "slot {slot} was given to two clients"
                );
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                if permit.turn() <= 4 {
                    first_four.fetch_add(1, Ordering::SeqCst);
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while first_four.load(Ordering::SeqCst) < 4 {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "four never held at once"
                        );
                        thread::yield_now();
                    }
                }
                thread::yield_now();
                holding.fetch_sub(1, Ordering::SeqCst);
                busy[slot].store(false, Ordering::SeqCst);
                // The permit is dropped here, after the slot was marked free.
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no slot was shared");
    }
    assert_eq!(most.load(Ordering::SeqCst), 4);
    let (free, waiting, _) = sem.counts();
    assert_eq!((free, waiting), (4, 0));
}

#[test]
fn waiting_clients_are_served_in_arrival_order() {
    let queue = Arc::new(Queue::new());
    let semaphore = Arc::new(Semaphore::new(4));
    let held: Vec<_> = (0..4).map(|_| semaphore.acquire()).collect();
    let (arrived, positions) = mpsc::channel();
    let mut waiters = Vec::new();
    for k in 0..200 {
        let queue = Arc::clone(&queue);
        let semaphore = Arc::clone(&semaphore);
        let arrived = arrived.clone();
        waiters.push(thread::spawn(move || {
            let Joined::Queued(place) = queue.join(|| semaphore.try_acquire()) else {
                panic!("every slot is held, so client {k} must queue")
            };
            arrived.send(place.position()).unwrap();
            let permit = place.wait_for_slot(None, |d| semaphore.acquire_before(d));
            permit.expect("no deadline").turn()
        }));
        // The next client arrives only once this one is in the queue.
        assert_eq!(positions.recv().unwrap(), k + 1, "client {k}'s place");
    }
    drop(held);
    for (k, waiter) in waiters.into_iter().enumerate() {
        // Permits 1..4 went to the holders; client k is served (4 + k + 1)-th.
        assert_eq!(waiter.join().unwrap(), 4 + k as u64 + 1, "client {k}");
    }
}

/// Defect of the original: an exception between `sem.acquire()` and `sem.release()` lost the
/// slot for good.
#[test]
fn a_panicking_worker_does_not_leak_its_slot() {
    let sem = Arc::new(Semaphore::new(4));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                let _permit = sem.acquire();
                panic!("a worker fails while holding a slot");
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().is_err());
    }
    assert_eq!(sem.counts().0, 4);
    let all: Vec<_> = (0..4).map(|_| sem.acquire()).collect();
    assert_eq!(
        all.iter().map(|p| p.slot()).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}

/// Through the router, over TCP: four servers that answer only when the test says so, so the
/// test decides when a slot frees and sees which client's request arrives next.
#[test]
fn the_router_serves_queued_clients_in_arrival_order() {
    let (seen_tx, seen) = mpsc::channel::<(usize, String)>();
    let mut go = Vec::new();
    let mut servers = Vec::new();
    for slot in 0..4 {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let seen_tx = seen_tx.clone();
        go.push(go_tx);
        let go_rx = std::sync::Mutex::new(go_rx);
        servers.push(fake_server(move |mut stream, line| {
            seen_tx.send((slot, line.clone())).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            let reply = format!("{{\"status\":\"success\",\"query\":\"{line}\"}}\n");
            let _ = stream.write_all(reply.as_bytes());
        }));
    }
    let (router, shutdown) = start_router(servers, Duration::ZERO);
    let addr = router.addr;
    let ip = |k: usize| IpAddr::V4(Ipv4Addr::new(8, 8, (k / 256) as u8, (k % 256) as u8));
    let ask = |k: usize, queued: mpsc::Sender<usize>| {
        thread::spawn(move || {
            geotracker::client::ask(addr, Request::Lookup(ip(k)), CLIENT_TIMEOUT, |p| {
                queued.send(p).unwrap()
            })
            .unwrap()
        })
    };

    // Clients 0..3 take the four slots; each server reports its request.
    let (queued_tx, queued) = mpsc::channel();
    let mut clients: Vec<_> = (0..4).map(|k| ask(k, queued_tx.clone())).collect();
    // Every wait has a limit: a broken semaphore must fail this test, not hang it.
    let limit = Duration::from_secs(10);
    let mut busy: Vec<(usize, String)> = (0..4)
        .map(|_| {
            seen.recv_timeout(limit)
                .expect("a request reaches a server")
        })
        .collect();
    busy.sort();
    assert_eq!(busy.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2, 3]);

    // Clients 4..43 arrive one at a time and are told their place.
    const N: usize = 44;
    for k in 4..N {
        clients.push(ask(k, queued_tx.clone()));
        assert_eq!(
            queued
                .recv_timeout(limit)
                .expect("the client is told its place"),
            k - 3,
            "client {k}'s place in the queue"
        );
    }

    // Free one slot at a time; the next request to arrive must be the next client's.
    let mut next_slot = 0;
    for k in 4..N {
        go[next_slot].send(()).unwrap();
        let (slot, line) = seen.recv_timeout(limit).expect("a freed slot is handed on");
        assert_eq!(line, ip(k).to_string(), "served out of order");
        assert_eq!(slot, next_slot, "the freed slot is the one handed on");
        next_slot = (next_slot + 1) % 4;
    }
    for g in &go {
        let _ = g.send(());
    }
    for (k, c) in clients.into_iter().enumerate() {
        let answer = c.join().unwrap();
        assert_eq!(answer.reply.query, ip(k).to_string());
        let served = answer.reply.router.unwrap();
        let expected_position = if k < 4 { 0 } else { k - 3 };
        assert_eq!(served.queue_position, expected_position, "client {k}");
    }
    shutdown.request();
    let report = router.join().unwrap();
    assert_eq!(report.table.len(), N);
}

/// Defect of the original: when the server failed, the slot was never released.
#[test]
fn a_server_that_fails_mid_request_does_not_leak_its_slot() {
    // Two servers read the request and close without a word; two are not even listening.
    let closing: Vec<_> = (0..2)
        .map(|_| fake_server(|stream, _| drop(stream)))
        .collect();
    let dead: Vec<_> = (0..2)
        .map(|_| {
            let l = std::net::TcpListener::bind(common::any_port()).unwrap();
            l.local_addr().unwrap()
            // `l` is dropped here: nothing listens on that port any more.
        })
        .collect();
    let servers = [closing, dead].concat();
    let (router, shutdown) = start_router(servers, Duration::ZERO);
    // Far more requests than slots, in two rounds; a leaked slot would make one hang.
    for round in 0..2 {
        let clients: Vec<_> = (0..20)
            .map(|_| {
                let addr = router.addr;
                thread::spawn(move || common::ask(addr, Request::MyLocation))
            })
            .collect();
        for c in clients {
            let reply = c.join().unwrap().reply;
            assert_eq!(reply.status, "fail", "round {round}");
            let message = reply.message.unwrap();
            assert!(message.starts_with("no server reachable: "), "{message}");
        }
    }
    shutdown.request();
    assert_eq!(router.join().unwrap().table.len(), 40);
}
