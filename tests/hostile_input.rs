//! 10,000 hostile, malformed and ordinary inputs against a live router and a live server: each
//! gets a clear `fail` reply (or, for a megabyte the program stops reading, a clean close), no
//! thread panics, none is left stuck, and every request that was valid is in the router's table.
//!
//! The inputs come from a seeded generator (`common::Rng`), so a failure names the seed and the
//! input number to replay.

mod common;

use common::{Rng, System};
use geotracker::Reply;
use geotracker::{QueuedNotice, Request};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const SEED: u64 = 0x6765_6f74;
const INPUTS: usize = 10_000;
const WORKERS: usize = 8;

/// Panics in any thread of this test process, counted by a panic hook.
static PANICS: AtomicUsize = AtomicUsize::new(0);

/// What the reply to an input must be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A located answer, or a `fail` for an address without one (private, not in the database).
    Answer,
    /// `fail` with `invalid query`.
    Invalid,
    /// Nothing at all: the connection is closed without an answer.
    Nothing,
    /// `fail` with a `bad request: ...` message.
    BadRequest,
    /// A 1 MiB line: `bad request: line longer than 4096 bytes`, or the connection closed
    /// while the client was still sending the bytes nobody reads.
    TooLong,
}

/// One generated input: the bytes, whether to half-close after them, and what must come back.
fn input(rng: &mut Rng) -> (Vec<u8>, Expect) {
    let bad_addresses: &[&str] = &[
        "999.1.1.1",
        "1.2.3",
        "256.256.256.256",
        "8.8.8.8:53",
        "[::1]:80",
        "fe80::1%eth0",
        "fe80::1%25",
        "::ffff:999.0.0.1",
        "8.8.8.8 1.1.1.1",
        "0x08080808",
        "localhost",
        "-1",
        "8.8.8.8/24",
    ];
    match rng.below(100) {
        // Random bytes of any value, newline-free, then a newline.
        0..=24 => {
            let len = 1 + rng.below(200) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| rng.next_u64() as u8)
                .filter(|b| *b != b'\n')
                .collect();
            let expect = classify(&bytes);
            bytes.push(b'\n');
            (bytes, expect)
        }
        // Invalid UTF-8.
        25..=34 => {
            let mut bytes = b"8.8.".to_vec();
            bytes.extend([0xff, 0xfe, 0xc3, 0x28][..1 + rng.below(4) as usize].iter());
            bytes.push(b'\n');
            (bytes, Expect::BadRequest)
        }
        // Addresses with zones, ports, prefixes, out-of-range octets...
        35..=54 => {
            let text = rng.pick(bad_addresses);
            (format!("{text}\n").into_bytes(), Expect::Invalid)
        }
        // An empty line asks "where am I?"; a half-close without any byte (a port scan) is
        // not answered, and leaves no row in any table.
        55..=64 if rng.chance(50) => (b"\n".to_vec(), Expect::Answer),
        55..=64 => (Vec::new(), Expect::Nothing),
        // Ordinary public and private addresses, with the odd \r or spaces.
        65..=89 => {
            let ip = IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
            let line = match rng.below(3) {
                0 => format!("{ip}\n"),
                1 => format!("{ip}\r\n"),
                _ => format!("  {ip}  \n"),
            };
            (line.into_bytes(), Expect::Answer)
        }
        // Several lines at once: only the first is the request.
        90..=96 => (b"8.8.8.8\n1.1.1.1\ngarbage\n".to_vec(), Expect::Answer),
        // Control characters and NUL.
        97..=98 => (b"\x00\x01\x02\x1b[2J\n".to_vec(), Expect::Invalid),
        // A line of 1 MiB.
        _ => (vec![b'7'; 1 << 20], Expect::TooLong),
    }
}

/// What a random newline-free line must get: an answer if it happens to be an address (or
/// blank), `invalid query` if it is other UTF-8, `bad request` if it is not UTF-8.
fn classify(line: &[u8]) -> Expect {
    match std::str::from_utf8(line) {
        Err(_) => Expect::BadRequest,
        Ok(text) if Request::parse(text).is_ok() => Expect::Answer,
        Ok(_) => Expect::Invalid,
    }
}

/// Sends `bytes`, half-closes, and reads everything until the peer closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> (Result<(), std::io::Error>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let sent = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let mut received = Vec::new();
    let read = stream.read_to_end(&mut received).map(|_| ());
    (sent.and(read), received)
}

/// Checks one exchange; returns true if it made a row in the router's table.
fn check(
    n: usize,
    to_router: bool,
    expect: Expect,
    outcome: (Result<(), std::io::Error>, Vec<u8>),
) -> bool {
    let (io, received) = outcome;
    let text = String::from_utf8(received)
        .unwrap_or_else(|_| panic!("input {n} (seed {SEED}): the reply is not UTF-8"));
    let mut lines: Vec<&str> = text.lines().collect();
    if expect == Expect::TooLong && lines.is_empty() {
        // The program read 4 KiB, answered and closed; the rest of our megabyte met a
        // closed socket, and the kernel reset the connection before the answer was read.
        let e = io.expect_err("nothing came back, so something failed");
        assert!(
            matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "input {n}: {e}"
        );
        return false;
    }
    if expect == Expect::Nothing {
        assert_eq!(
            text, "",
            "input {n} (seed {SEED}): a silent connection is not answered"
        );
        return false;
    }
    assert!(
        !lines.is_empty(),
        "input {n} (seed {SEED}, {expect:?}): no reply"
    );
    // The router may first say the client is queued.
    if to_router {
        while lines.len() > 1 && QueuedNotice::from_line(lines[0]).is_some() {
            lines.remove(0);
        }
    }
    assert_eq!(lines.len(), 1, "input {n}: {lines:?}");
    let reply = Reply::from_json(lines[0])
        .unwrap_or_else(|e| panic!("input {n} (seed {SEED}): {:?}: {e}", lines[0]));
    let message = reply.message.clone().unwrap_or_default();
    match expect {
        Expect::Answer => {
            assert!(
                reply.is_success()
                    || ["private range", "reserved range"].contains(&message.as_str())
                    || message.starts_with("not in database: "),
                "input {n} (seed {SEED}): {reply:?}"
            );
            true
        }
        Expect::Invalid => {
            assert_eq!(message, "invalid query", "input {n} (seed {SEED})");
            false
        }
        Expect::BadRequest => {
            assert_eq!(
                message, "bad request: line is not UTF-8",
                "input {n} (seed {SEED})"
            );
            false
        }
        Expect::Nothing => unreachable!("checked above"),
        Expect::TooLong => {
            assert_eq!(
                message, "bad request: line longer than 4096 bytes",
                "input {n} (seed {SEED})"
            );
            false
        }
    }
}

#[test]
fn ten_thousand_hostile_inputs_get_clear_replies_with_no_panic_and_no_stuck_thread() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let system = Arc::new(System::start(Duration::ZERO));
    let router = system.router_addr;
    let server = system.server_addrs[0];

    let mut rng = Rng::new(SEED);
    let inputs: Vec<(Vec<u8>, Expect)> = (0..INPUTS).map(|_| input(&mut rng)).collect();
    let inputs = Arc::new(inputs);
    let rows = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (inputs, rows) = (Arc::clone(&inputs), Arc::clone(&rows));
            thread::spawn(move || {
                for n in (w..INPUTS).step_by(WORKERS) {
                    let (bytes, expect) = &inputs[n];
                    // Even inputs go to the router, odd ones straight to a server.
                    let to_router = n % 2 == 0;
                    let addr = if to_router { router } else { server };
                    let recorded = check(n, to_router, *expect, exchange(addr, bytes));
                    if to_router && recorded {
                        rows.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed; see its message above");
    }

    // Nothing is stuck: stopping drains at once (a stuck thread would hold it for 5 s).
    let system = Arc::try_unwrap(system).ok().expect("the workers are done");
    let stopping = Instant::now();
    let (report, servers) = system.stop();
    let took = stopping.elapsed();
    assert!(took < Duration::from_secs(2), "stopped in {took:?}");
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a thread panicked");
    assert_eq!(
        report.table.len(),
        rows.load(Ordering::SeqCst),
        "every valid request to the router, and only those, is in its table"
    );
    let server_rows: usize = servers.iter().map(|s| s.table.len()).sum();
    let kinds = |e: Expect| inputs.iter().filter(|(_, x)| *x == e).count();
    eprintln!(
        "{INPUTS} inputs: {} answers, {} silent, {} invalid, {} not UTF-8, {} of 1 MiB; {} router rows, {server_rows} server rows; stopped in {took:?}",
        kinds(Expect::Answer),
        kinds(Expect::Nothing),
        kinds(Expect::Invalid),
        kinds(Expect::BadRequest),
        kinds(Expect::TooLong),
        report.table.len()
    );
}
