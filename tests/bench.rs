//! Measurements, not checks of speed: every test here is ignored by `cargo test` and prints its
//! figures. Run them on a quiet machine, in release mode:
//!
//! ```text
//! cargo test --release --test bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! The whole-system comparison with the yardsticks is `report/scripts/bench.sh`.

mod common;

use geotracker::append_run;
use geotracker::geo::special_range;
use geotracker::geo::Geolocator;
use geotracker::geo::MmdbGeolocator;
use geotracker::NatTable;
use geotracker::RouterEntry;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

/// Resident memory of this process in KiB (Linux; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "a measurement; see the top of this file"]
fn lookups_per_second_on_one_core_from_the_bundled_database() {
    let geo = MmdbGeolocator::bundled().unwrap();
    let mut rng = common::Rng::new(1);
    // Random routable addresses: the bundled databases have a country (and most an AS) for
    // nearly all of them, a city for few.
    let ips: Vec<IpAddr> = (0..100_000)
        .map(|_| loop {
            let ip = IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
            if special_range(ip).is_none() {
                break ip;
            }
        })
        .collect();
    let located = ips
        .iter()
        .filter(|ip| geo.locate(**ip).is_success())
        .count();
    let same: Vec<IpAddr> = vec!["117.222.175.180".parse().unwrap(); 100_000];
    for (name, set) in [
        ("random public IPv4", &ips),
        ("one address (a class behind one NAT)", &same),
    ] {
        let rounds = 10;
        let started = Instant::now();
        for _ in 0..rounds {
            for ip in set.iter() {
                black_box(geo.locate(black_box(*ip)));
            }
        }
        let per_second = (rounds * set.len()) as f64 / started.elapsed().as_secs_f64();
        println!("locate, {name}: {per_second:.0} lookups/s on one thread");
    }
    // The lookup itself: the database search and its fields, without building the reply.
    let rounds = 10;
    let started = Instant::now();
    for _ in 0..rounds {
        for ip in same.iter() {
            black_box(geo.lookup(black_box(*ip)).ok());
        }
    }
    let per_second = (rounds * same.len()) as f64 / started.elapsed().as_secs_f64();
    println!("lookup (fields only), one located address: {per_second:.0} lookups/s on one thread");
    println!("({located} of {} random addresses are located)", ips.len());
}

#[test]
#[ignore = "a measurement; see the top of this file"]
fn memory_per_table_row_and_the_time_to_dump_a_million() {
    let n = 1_000_000;
    let before = rss_kib();
    let nat = NatTable::new(Ipv4Addr::new(117, 222, 175, 180));
    for i in 0..n {
        let caller = SocketAddr::from(([127, 0, (i >> 16) as u8, (i >> 8) as u8], i as u16));
        nat.map(caller);
    }
    let nat_bytes = (rss_kib() - before) * 1024;
    let before = rss_kib();
    let table = geotracker::IpTable::new();
    for i in 0..n {
        table.push(RouterEntry {
            client: SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], (i % 60_000) as u16)),
            server: SocketAddr::from(([127, 0, 0, 1], 12347)),
        });
    }
    let router_bytes = (rss_kib() - before) * 1024;
    println!(
        "memory per row: server NAT table {} bytes, router table {} bytes (resident, 1,000,000 rows)",
        nat_bytes / n as u64,
        router_bytes / n as u64
    );

    let dir = common::temp_dir("dump-million");
    let rows = table.take_all();
    let started = Instant::now();
    let appended = append_run(&dir.join("router.json"), &rows).unwrap();
    let first = started.elapsed();
    let started = Instant::now();
    append_run(&dir.join("router.json"), &rows).unwrap();
    let second = started.elapsed();
    let size = std::fs::metadata(dir.join("router.json")).unwrap().len();
    println!(
        "dump of 1,000,000 router rows: {first:?} into a new log ({}), {second:?} appended as a \
         second run; log {} MB",
        appended.key,
        size / 1_000_000
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Resident memory of process `pid` in KiB, now and at its peak (Linux).
#[cfg(unix)]
fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
#[cfg(unix)]
#[ignore = "a measurement; see the top of this file"]
fn two_thousand_clients_waiting_at_once_are_answered_in_fifo_order() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    let clients = 2000;
    let dir = common::temp_dir("fifo-2000");
    let mut router = Command::new(common::example("router"))
        .args([
            "--port",
            "0",
            "--server-port",
            "0",
            "--public-ip",
            "117.222.175.180",
        ])
        .args([
            "--hold-secs",
            "5",
            "--quiet",
            "--max-clients",
            "5000",
            "--max-per-source",
            "5000",
        ])
        .arg("--log-dir")
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if the test fails before the router is stopped, so that no router outlives it.
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let pid = self.0.to_string();
            let _ = Command::new("kill")
                .args(["-KILL", &pid])
                .stderr(Stdio::null())
                .status();
        }
    }
    let _guard = KillOnDrop(router.id());
    let mut lines = BufReader::new(router.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(p) = line.strip_prefix("router: socket bound to port ") {
            break p.parse().unwrap();
        }
    };
    // Keep reading the router's output, or it blocks once the pipe is full.
    std::thread::spawn(move || lines.for_each(drop));
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (queued_tx, queued) = mpsc::channel();
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let queued_tx = queued_tx.clone();
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    // Generous: 2,000 connections at once overflow the listen backlog, and
                    // the kernel makes the overflowing ones retry their SYN a second later.
                    let timeout = std::time::Duration::from_secs(150);
                    geotracker::client::ask(addr, geotracker::Request::MyLocation, timeout, |_| {
                        let _ = queued_tx.send(());
                    })
                })
                .unwrap()
        })
        .collect();
    // Four clients hold the slots for 5 s; the other 1996 wait in the queue.
    for n in 0..clients - 4 {
        queued
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("only {n} clients queued"));
    }
    let all_waiting = started.elapsed();
    let (rss, peak) = rss_of(router.id());
    // Ctrl-C: the holds are cut short and the queue is served, first come first served.
    Command::new("kill")
        .args(["-INT", &router.id().to_string()])
        .status()
        .unwrap();
    let answers: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().unwrap().expect("every waiting client is answered"))
        .collect();
    assert!(router.wait().unwrap().success());
    // FIFO: ordered by their place in the queue, the queued clients' turns only go up.
    let mut queued: Vec<(usize, u64)> = answers
        .iter()
        .map(|a| a.reply.router.as_ref().unwrap())
        .filter(|served| served.queue_position > 0)
        .map(|served| (served.queue_position, served.turn))
        .collect();
    queued.sort_unstable();
    let places: Vec<usize> = queued.iter().map(|(place, _)| *place).collect();
    assert_eq!(
        places,
        (1..=clients - 4).collect::<Vec<_>>(),
        "each place once"
    );
    assert!(
        queued.windows(2).all(|w| w[0].1 < w[1].1),
        "a later place got an earlier turn"
    );
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("geotracker-router.json")).unwrap())
            .unwrap();
    let rows = log["IP-Login-1"].as_array().unwrap().len();
    assert_eq!(rows, clients, "every client is in the table");
    println!(
        "{clients} clients: all waiting {all_waiting:?} after the first connected; router RSS \
         {} MB with all of them waiting (peak {} MB); all answered, {rows} rows logged",
        rss / 1024,
        peak / 1024
    );
    std::fs::remove_dir_all(dir).unwrap();
}
