//! Faults, load and bad input: each promise of the reliability work has a test named for it.
//! Real TCP on 127.0.0.1, real threads; timeouts are short so that a bug fails a test instead
//! of hanging it.

mod common;

use common::{any_port, fake_server, start_router_with, start_server_with, System, CLIENT_TIMEOUT};
use geotracker::LogFile;
use geotracker::Reply;
use geotracker::{Limits, Request};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Short timeouts: a silent peer is dropped after half a second.
fn short_timeouts() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_secs(1),
        ..common::test_limits()
    }
}

/// Every line `addr` sends on a connection where the test sends nothing, read until the close.
fn lines_after_silence(addr: SocketAddr) -> (Vec<String>, Duration) {
    lines_after(addr, b"")
}

/// Every line `addr` sends after the test sent `request`, read until the close.
fn lines_after(addr: SocketAddr, request: &[u8]) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let lines = BufReader::new(&stream)
        .lines()
        .map_while(Result::ok)
        .collect();
    (lines, started.elapsed())
}

fn reply_of(line: &str) -> Reply {
    Reply::from_json(line).unwrap_or_else(|e| panic!("{line:?} is not a reply: {e}"))
}

/// A stand-in server that answers like a real one, saying which stand-in it is in `city`.
fn answering_server(name: &'static str) -> SocketAddr {
    fake_server(move |mut stream, _line| {
        let reply =
            format!("{{\"status\":\"success\",\"city\":\"{name}\",\"query\":\"8.8.8.8\"}}\n");
        let _ = stream.write_all(reply.as_bytes());
    })
}

/// An address nothing listens on.
fn dead_server() -> SocketAddr {
    TcpListener::bind(any_port()).unwrap().local_addr().unwrap()
}

#[test]
fn a_silent_client_is_dropped_after_the_request_timeout() {
    let server_addr = answering_server("A");
    let (router, shutdown) = start_router_with(vec![server_addr], |c| c.limits = short_timeouts());
    let (lines, took) = lines_after_silence(router.addr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        reply_of(&lines[0]).message.as_deref(),
        Some("bad request: timed out waiting for a line")
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // It never took the only slot: the next client is served at once.
    let answer = common::ask(router.addr, Request::MyLocation);
    assert_eq!(answer.reply.location.unwrap().city, "A");
    shutdown.request();
    assert_eq!(router.join().unwrap().table.len(), 1);

    // The same at a server.
    let (server, shutdown) = start_server_with(|c| c.limits = short_timeouts());
    let (lines, took) = lines_after_silence(server.addr);
    assert_eq!(
        reply_of(&lines[0]).message.as_deref(),
        Some("bad request: timed out waiting for a line")
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    shutdown.request();
    server.join().unwrap();
}

#[test]
fn a_client_sending_one_byte_at_a_time_is_dropped_at_the_deadline() {
    let (router, shutdown) =
        start_router_with(vec![answering_server("A")], |c| c.limits = short_timeouts());
    let stream = TcpStream::connect(router.addr).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let started = Instant::now();
    // Thirty bytes, one every 100 ms: each read returns in time, the whole line never does.
    let dribble = thread::spawn(move || {
        let mut sent = 0;
        for byte in b"111111111111111111111111111111" {
            if writer.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            thread::sleep(Duration::from_millis(100));
        }
        sent
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    let took = started.elapsed();
    assert_eq!(
        reply_of(&line).message.as_deref(),
        Some("bad request: timed out waiting for a line")
    );
    assert!(took < Duration::from_secs(2), "dropped after {took:?}");
    let sent = dribble.join().unwrap();
    assert!(sent < 30, "the router waited for all {sent} bytes");
    shutdown.request();
    router.join().unwrap();
}

#[test]
fn a_dead_server_is_skipped_and_its_clients_go_to_the_next_slot() {
    let servers = vec![dead_server(), answering_server("B"), answering_server("C")];
    let (router, shutdown) = start_router_with(servers.clone(), |c| {
        c.limits.backoff = Duration::from_secs(60);
    });
    // One at a time, so each client is first given slot 0, the dead one. (Usually slot 1 is
    // free again by then; it may still be held for a moment after the previous answer was
    // sent, and then the client gets slot 2.)
    let mut answered_by = Vec::new();
    for n in 0..10 {
        let reply = common::ask(router.addr, Request::MyLocation).reply;
        assert!(reply.is_success(), "client {n}: {reply:?}");
        let slot = reply.router.unwrap().slot;
        let city = reply.location.unwrap().city;
        assert_eq!(
            (slot, city.as_str()),
            if slot == 1 { (1, "B") } else { (2, "C") },
            "{n}"
        );
        answered_by.push(servers[slot]);
    }
    shutdown.request();
    let report = router.join().unwrap();
    // The table names the server that answered each client, never the dead one.
    let in_table: Vec<SocketAddr> = report.table.iter().map(|row| row.server).collect();
    assert_eq!(in_table, answered_by);
}

#[test]
fn with_every_server_down_the_client_is_told_within_the_connect_timeout() {
    let servers: Vec<SocketAddr> = (0..4).map(|_| dead_server()).collect();
    let (router, shutdown) = start_router_with(servers.clone(), |c| {
        c.limits = short_timeouts();
        c.limits.backoff = Duration::from_secs(60);
    });
    let started = Instant::now();
    let first = common::ask(router.addr, Request::MyLocation).reply;
    assert!(started.elapsed() < Duration::from_secs(2));
    let message = first.message.unwrap();
    assert!(message.starts_with("no server reachable: "), "{message}");
    for server in &servers {
        assert!(
            message.contains(&server.to_string()),
            "each slot tried once: {message}"
        );
    }
    // The next client is not made to wait for the dead servers again: all are backing off.
    let second = common::ask(router.addr, Request::MyLocation).reply;
    let message = second.message.unwrap();
    assert_eq!(
        message.matches("is down (tried again in").count(),
        4,
        "{message}"
    );
    shutdown.request();
    router.join().unwrap();
}

#[test]
fn a_server_that_comes_back_is_used_again_after_the_backoff() {
    // Slot 0's port is free now and will be listened on later.
    let port_holder = TcpListener::bind(any_port()).unwrap();
    let slot0 = port_holder.local_addr().unwrap();
    drop(port_holder);
    let (router, shutdown) = start_router_with(vec![slot0, answering_server("B")], |c| {
        c.limits.backoff = Duration::from_millis(200);
    });
    let reply = common::ask(router.addr, Request::MyLocation).reply;
    assert_eq!(reply.router.unwrap().slot, 1, "slot 0 is down");
    // Slot 0's server starts (on the same port), and the back-off runs out.
    let listener = TcpListener::bind(slot0).expect("the port is free again");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(b"{\"status\":\"success\",\"city\":\"A\",\"query\":\"\"}\n");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = common::ask(router.addr, Request::MyLocation).reply;
        if reply.router.unwrap().slot == 0 {
            assert_eq!(reply.location.unwrap().city, "A");
            break;
        }
        assert!(Instant::now() < deadline, "slot 0 was never tried again");
        thread::sleep(Duration::from_millis(50));
    }
    shutdown.request();
    router.join().unwrap();
}

/// Stand-in servers that hold each request until the test releases it, reporting each
/// request as it arrives.
fn held_servers(
    n: usize,
) -> (
    Vec<SocketAddr>,
    mpsc::Receiver<()>,
    Arc<Mutex<Vec<TcpStream>>>,
) {
    let (arrived_tx, arrived) = mpsc::channel();
    let held = Arc::new(Mutex::new(Vec::new()));
    let servers = (0..n)
        .map(|_| {
            let (arrived_tx, held) = (arrived_tx.clone(), Arc::clone(&held));
            fake_server(move |stream, _| {
                held.lock().unwrap().push(stream);
                let _ = arrived_tx.send(());
            })
        })
        .collect();
    (servers, arrived, held)
}

/// Answers every held request.
fn release(held: &Mutex<Vec<TcpStream>>) {
    for mut stream in held.lock().unwrap().drain(..) {
        let _ = stream.write_all(b"{\"status\":\"success\",\"query\":\"\"}\n");
    }
}

#[test]
fn clients_over_max_clients_are_told_router_busy_at_once() {
    let (servers, arrived, held) = held_servers(4);
    let (router, shutdown) = start_router_with(servers, |c| c.limits.max_clients = 2);
    let addr = router.addr;
    let in_flight: Vec<_> = (0..2)
        .map(|_| thread::spawn(move || common::ask(addr, Request::MyLocation)))
        .collect();
    arrived.recv().unwrap();
    arrived.recv().unwrap();
    // Two clients are being served: the third is refused at once, without a thread.
    let started = Instant::now();
    let (lines, _) = lines_after_silence(addr);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(lines.len(), 1);
    assert_eq!(reply_of(&lines[0]), Reply::fail("", "router busy"));
    release(&held);
    for c in in_flight {
        assert!(c.join().unwrap().reply.is_success());
    }
    shutdown.request();
    assert_eq!(router.join().unwrap().table.len(), 2);
}

#[test]
fn callers_over_max_clients_are_told_server_busy_at_once() {
    let (server, shutdown) = start_server_with(|c| c.limits.max_clients = 1);
    // The first caller connects and says nothing, keeping its thread busy; the accept loop
    // takes connections in order, so it is counted before the second is looked at.
    let quiet_one = TcpStream::connect(server.addr).unwrap();
    let (lines, took) = lines_after_silence(server.addr);
    assert_eq!(reply_of(&lines[0]), Reply::fail("", "server busy"));
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(quiet_one);
    shutdown.request();
    server.join().unwrap();
}

/// A refused caller that has already sent its request reads the refusal and then a clean end:
/// the server reads the unread request before it closes, so the close is not a reset.
#[test]
fn two_hundred_refused_callers_read_server_busy_then_a_clean_end_not_a_reset() {
    let (server, shutdown) = start_server_with(|c| c.limits.max_clients = 1);
    let quiet_one = TcpStream::connect(server.addr).unwrap();
    // Eight callers at a time, so that requests arrive while the accept loop is still behind.
    let addr = server.addr;
    let callers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                let ask = || {
                    let mut stream = TcpStream::connect(addr)?;
                    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
                    stream.write_all(b"8.8.8.8\n")?;
                    // Read to the end, as nc does: a reset after the line is an error here.
                    let mut all = String::new();
                    (&stream).read_to_string(&mut all).map(|_| all)
                };
                (0..25).map(|_| ask()).collect::<Vec<_>>()
            })
        })
        .collect();
    let replies: Vec<_> = callers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let busy = Reply::fail("", "server busy");
    let read = replies
        .iter()
        .filter(|r| matches!(r, Ok(l) if reply_of(l) == busy))
        .count();
    let errors: Vec<_> = replies.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        (read, errors.len()),
        (200, 0),
        "first errors: {:?}",
        &errors[..errors.len().min(3)]
    );
    drop(quiet_one);
    shutdown.request();
    server.join().unwrap();
}

#[test]
fn a_client_that_waits_longer_than_the_queue_timeout_is_told_so() {
    let (servers, arrived, held) = held_servers(4);
    let (router, shutdown) = start_router_with(servers, |c| {
        c.limits.queue_timeout = Some(Duration::from_millis(300));
    });
    let addr = router.addr;
    let busy: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || common::ask(addr, Request::MyLocation)))
        .collect();
    for _ in 0..4 {
        arrived.recv().unwrap();
    }
    let (lines, took) = lines_after(addr, b"\n");
    assert_eq!(
        lines.len(),
        2,
        "a queued notice, then the answer: {lines:?}"
    );
    assert_eq!(lines[0], r#"{"status":"queued","position":1}"#);
    assert_eq!(
        reply_of(&lines[1]).message.as_deref(),
        Some("waited 0.3 s for a server: all are busy; try again")
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    release(&held);
    for c in busy {
        assert!(c.join().unwrap().reply.is_success());
    }
    shutdown.request();
    assert_eq!(
        router.join().unwrap().table.len(),
        4,
        "the one that gave up took no slot"
    );
}

#[test]
fn shutdown_with_100_clients_in_flight_answers_and_logs_every_one() {
    let dir = common::temp_dir("shutdown-load");
    let log = dir.join("router.json");
    let log_for_router = log.clone();
    // A one-second hold: four clients are served, and 96 wait in the queue at the signal.
    let system = System::start_with(move |c| {
        c.hold = Duration::from_secs(1);
        c.log = LogFile::At(log_for_router);
    });
    let (queued_tx, queued) = mpsc::channel();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let (addr, queued_tx) = (system.router_addr, queued_tx.clone());
            thread::spawn(move || {
                geotracker::client::ask(addr, Request::MyLocation, CLIENT_TIMEOUT, |_| {
                    let _ = queued_tx.send(());
                })
            })
        })
        .collect();
    for _ in 0..96 {
        queued
            .recv_timeout(Duration::from_secs(20))
            .expect("96 clients queue");
    }
    // All 100 are in: four hold slots, 96 wait. Now Ctrl-C (what the signal watcher calls).
    let stopping = Instant::now();
    let (report, _servers) = system.stop();
    let took = stopping.elapsed();
    let mut clients_seen = BTreeSet::new();
    for c in clients {
        let answer = c
            .join()
            .unwrap()
            .expect("every accepted client gets an answer");
        assert!(answer.reply.is_success(), "{:?}", answer.reply);
        clients_seen.insert(answer.reply.router.unwrap().queue_position);
    }
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
    assert_eq!(report.table.len(), 100, "every client is in the table");
    let distinct: BTreeSet<_> = report.table.iter().map(|e| e.client).collect();
    assert_eq!(distinct.len(), 100);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(written["count"], 1);
    assert_eq!(written["IP-Login-1"].as_array().unwrap().len(), 100);
    eprintln!(
        "100 clients in flight at the stop: 100 answered, 100 rows logged, stopped in {took:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A port scan, or any connection that closes without sending a byte, used to be answered as
/// "where am I?" and logged, so every scan added rows. Now it gets no answer and leaves no row,
/// at the router and at the server.
#[test]
fn a_connection_that_closes_without_a_word_is_not_answered_and_not_logged() {
    let system = System::start(Duration::ZERO);
    for addr in [system.router_addr, system.server_addrs[0]] {
        for _ in 0..5 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
            assert_eq!(answer, "", "{addr} answered a connection that said nothing");
        }
    }
    // A client that says "where am I?" still gets its answer, and its rows.
    assert!(system.ask(Request::MyLocation).reply.is_success());
    let (router, servers) = system.stop();
    assert_eq!(
        router.table.len(),
        1,
        "only the real client is in the router's table"
    );
    let server_rows: usize = servers.iter().map(|s| s.table.len()).sum();
    assert_eq!(
        server_rows, 1,
        "only the router's connection is in a server's table"
    );
}

/// Idle connections from one address used to fill every place (`--max-clients`) and lock every
/// other client out. Now one address may hold at most `--max-per-source` connections, and an
/// idle one is dropped after `--request-timeout`. The attacker here connects over IPv6 (::1)
/// and the student over IPv4 (127.0.0.1), to one router listening on both.
#[test]
fn idle_connections_from_one_address_do_not_lock_other_clients_out() {
    let bind: SocketAddr = "[::]:0".parse().unwrap();
    if TcpListener::bind(bind).is_err() {
        println!("skipped: this machine has no IPv6 loopback, which the test needs");
        return;
    }
    let (router, shutdown) = start_router_with(vec![answering_server("A")], |c| {
        c.bind = bind;
        c.limits.max_clients = 40;
        c.limits.max_per_source = 20;
        c.limits.request_timeout = Duration::from_secs(30);
    });
    let port = router.addr.port();
    // 40 idle connections from ::1, accepted in order: the first 20 are kept waiting for their
    // request line, the other 20 are told "busy" at once.
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("::1", port)).unwrap())
        .collect();
    for stream in &idle[20..] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        assert!(
            line.contains("router busy: 20 connections from ::1 already"),
            "{line}"
        );
    }
    for stream in &idle[..20] {
        stream.set_nonblocking(true).unwrap();
        let e = (&*stream)
            .read(&mut [0; 1])
            .expect_err("an admitted connection is kept open");
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    // A student on 127.0.0.1 is still served, at once.
    let started = Instant::now();
    let answer = common::ask(([127, 0, 0, 1], port).into(), Request::MyLocation);
    assert!(answer.reply.is_success(), "{:?}", answer.reply);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    shutdown.request();
    assert_eq!(router.join().unwrap().table.len(), 1);
}

/// The request line has a short deadline of its own (`--request-timeout`), but a client that
/// has sent its request and waits in the queue for a slot is not idle: it waits, past that
/// deadline, until a slot frees.
#[test]
fn a_client_waiting_in_the_queue_outlives_the_request_timeout() {
    let (servers, arrived, held) = held_servers(4);
    let (router, shutdown) = start_router_with(servers, |c| {
        c.limits.request_timeout = Duration::from_millis(200);
    });
    let addr = router.addr;
    let busy: Vec<_> = (0..4)
        .map(|_| thread::spawn(move || common::ask(addr, Request::MyLocation)))
        .collect();
    for _ in 0..4 {
        arrived.recv().unwrap();
    }
    let (queued_tx, queued) = mpsc::channel();
    let waiting = thread::spawn(move || {
        geotracker::client::ask(addr, Request::MyLocation, CLIENT_TIMEOUT, |p| {
            queued_tx.send(p).unwrap()
        })
    });
    assert_eq!(queued.recv().unwrap(), 1, "the fifth client queues");
    // Five times the request timeout, then a slot frees.
    thread::sleep(Duration::from_millis(1000));
    release(&held);
    for c in busy {
        assert!(c.join().unwrap().reply.is_success());
    }
    arrived.recv().unwrap();
    release(&held);
    let answer = waiting
        .join()
        .unwrap()
        .expect("the queued client is answered");
    assert!(answer.reply.is_success(), "{:?}", answer.reply);
    assert!(answer.reply.router.unwrap().waited_ms >= 1000);
    shutdown.request();
    assert_eq!(router.join().unwrap().table.len(), 5);
}

/// `--timeout-secs` is a deadline for the whole exchange: a router that sends one byte every
/// 100 ms (never a newline) used to keep the client waiting for ever, since each byte reset a
/// per-read timeout. Now the client gives up when the deadline passes.
#[test]
fn a_router_trickling_bytes_cannot_keep_the_client_past_its_deadline() {
    let listener = TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    // The trickling router: a byte every 100 ms to each client, for as long as it reads.
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                while stream.write_all(b" ").is_ok() {
                    thread::sleep(Duration::from_millis(100));
                }
            });
        }
    });
    let started = Instant::now();
    let deadline = Duration::from_secs(1);
    let err = geotracker::client::ask(addr, Request::MyLocation, deadline, |_| {})
        .expect_err("no answer can come");
    let took = started.elapsed();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        took >= deadline && took < Duration::from_secs(3),
        "gave up after {took:?}"
    );
}
