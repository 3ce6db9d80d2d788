//! The server's NAT table under concurrency.

mod common;

use common::start_server_with;
use geotracker::{LineReader, NatTable, Reply, MAX_REPLY_LINE};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;

/// Defect of the original: `splitip()` bumped the global `ip` outside the lock, so two callers
/// at once could get the same public address, or one could be skipped.
#[test]
fn concurrent_callers_never_share_a_public_address() {
    let table = Arc::new(NatTable::new(Ipv4Addr::new(117, 222, 175, 1)));
    let start = Arc::new(Barrier::new(200));
    let threads: Vec<_> = (0..200u16)
        .map(|i| {
            let (table, start) = (Arc::clone(&table), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                table
                    .map(SocketAddr::from(([192, 168, 0, 10], 40000 + i)))
                    .public
            })
        })
        .collect();
    let publics: BTreeSet<SocketAddr> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let octets: BTreeSet<u8> = publics
        .iter()
        .map(|p| match p.ip() {
            std::net::IpAddr::V4(v4) => v4.octets()[3],
            other => panic!("{other}"),
        })
        .collect();
    // 200 callers, 200 different addresses: exactly .1 to .200, none skipped.
    assert_eq!(octets, (1..=200).collect());
    assert_eq!(table.take_all().len(), 200, "one row per caller");
}

#[test]
fn a_server_maps_each_concurrent_caller_to_its_own_address() {
    let (server, shutdown) = start_server_with(|_| {});
    let start = Arc::new(Barrier::new(50));
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let (start, addr) = (Arc::clone(&start), server.addr);
            thread::spawn(move || {
                start.wait();
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"\n").unwrap();
                let line = LineReader::new(&s).read_line(MAX_REPLY_LINE).unwrap();
                Reply::from_json(&line).unwrap()
            })
        })
        .collect();
    let queries: BTreeSet<String> = callers
        .into_iter()
        .map(|c| {
            let reply = c.join().unwrap();
            assert_eq!(reply.status, "success");
            reply.query
        })
        .collect();
    assert_eq!(
        queries.len(),
        50,
        "each caller was located at its own pool address"
    );
    shutdown.request();
    let report = server.join().unwrap();
    assert_eq!(report.table.len(), 50);
    let publics: BTreeSet<String> = report
        .table
        .iter()
        .map(|e| e.public.ip().to_string())
        .collect();
    assert_eq!(
        publics, queries,
        "the table holds exactly the addresses that were located"
    );
}
