//! A router or server that runs for days: its IP tables never hold more than `--table-limit`
//! rows in memory; full tables go to the log as runs of their own, and no row is lost.

mod common;

use common::{start_server_with, System};
use geotracker::LogFile;
use geotracker::Request;
use serde_json::Value;
use std::collections::BTreeSet;

/// The rows of every run in the log at `path`, run by run.
fn runs(path: &std::path::Path) -> Vec<Vec<Value>> {
    let log: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let count = log["count"].as_u64().unwrap();
    (1..=count)
        .map(|n| log[format!("IP-Login-{n}")].as_array().unwrap().clone())
        .collect()
}

#[test]
fn full_tables_are_written_to_the_log_and_memory_stays_bounded() {
    let dir = common::temp_dir("table-limit");
    let log = dir.join("router.json");
    let router_log = log.clone();
    let system = System::start_with(move |c| {
        c.limits.table_limit = 10;
        c.log = LogFile::At(router_log);
    });
    for _ in 0..25 {
        assert!(system.ask(Request::MyLocation).reply.is_success());
    }
    let (report, _) = system.stop();
    // 25 rows: two full tables of 10 went to the log on the way, 5 were left for Ctrl-C.
    assert_eq!(report.table.len(), 5);
    let runs = runs(&log);
    let sizes: Vec<usize> = runs.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    // Every client once, in order, each run numbered from 1 as the original's runs are.
    let mut ports = Vec::new();
    for run in &runs {
        for (i, row) in run.iter().enumerate() {
            assert_eq!(row["Index"], i + 1);
            ports.push(row["IP No."][0][1].as_u64().unwrap());
        }
    }
    let distinct: BTreeSet<u64> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), 25, "no client lost or written twice");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_server_forgets_written_callers_but_keeps_its_pool_moving() {
    let dir = common::temp_dir("nat-limit");
    let log = dir.join("server.json");
    let server_log = log.clone();
    let (server, shutdown) = start_server_with(move |c| {
        c.limits.table_limit = 4;
        c.log = LogFile::At(server_log);
    });
    for _ in 0..10 {
        let reply = common::ask(server.addr, Request::MyLocation).reply;
        let missed = reply
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("not in database"));
        assert!(reply.is_success() || missed);
    }
    shutdown.request();
    let report = server.join().unwrap();
    assert_eq!(report.table.len(), 2);
    let runs = runs(&log);
    assert_eq!(runs.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 2]);
    // The pool went on from one run to the next: ten callers, ten consecutive addresses.
    let publics: Vec<String> = runs
        .iter()
        .flatten()
        .map(|row| row["IP No."][1][0].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = (180..190).map(|d| format!("117.222.175.{d}")).collect();
    assert_eq!(publics, expected);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A full table that cannot be written (a full disk, say) used to be dropped ("100 rows lost").
/// Now its rows stay in memory until a write succeeds: none is lost, and the runs keep the
/// order and the size of full tables.
#[test]
fn a_full_table_that_cannot_be_written_keeps_its_rows_until_it_can() {
    let dir = common::temp_dir("full-disk");
    let log = dir.join("router.json");
    let router_log = log.clone();
    let system = System::start_with(move |c| {
        c.limits.table_limit = 10;
        c.log = LogFile::At(router_log);
    });
    // Every write of the log fails while its temporary file's name is taken by a folder.
    let blocked = dir.join(format!(".router.json.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocked).unwrap();
    for _ in 0..25 {
        assert!(system.ask(Request::MyLocation).reply.is_success());
    }
    assert!(!log.exists(), "nothing could be written");
    std::fs::remove_dir(&blocked).unwrap();
    // The disk has room again: at the next full table, every full run is written.
    for _ in 0..10 {
        assert!(system.ask(Request::MyLocation).reply.is_success());
    }
    let (report, _) = system.stop();
    assert_eq!(report.table.len(), 5);
    let runs = runs(&log);
    assert_eq!(
        runs.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 10, 5]
    );
    let ports: BTreeSet<u64> = runs
        .iter()
        .flatten()
        .map(|row| row["IP No."][0][1].as_u64().unwrap())
        .collect();
    assert_eq!(
        ports.len(),
        35,
        "every client once: no row lost, none written twice"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
