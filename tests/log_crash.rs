//! The JSON log survives `kill -9` at any moment of a write (Unix: it kills with SIGKILL).
//!
//! Ignored in `cargo test` because it takes about ten seconds; run it with
//!
//! ```text
//! cargo test --release --test log_crash -- --ignored --nocapture
//! ```
//!
//! Fifty times, a child process (this same test binary, running `log_writer_child`) appends
//! runs of 1 to 300 rows to one log as fast as it can, and is killed with SIGKILL after a random
//! 5 to 80 ms. After each kill the log must parse, and every run that was in it before must
//! still be there, unchanged.
#![cfg(unix)]

mod common;

use common::Rng;
use geotracker::append_run;
use geotracker::RouterEntry;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

/// Where the child writes; set by the parent test.
const LOG_ENV: &str = "GEOTRACKER_CRASH_TEST_LOG";

const KILLS: usize = 50;

/// The child's loop: append runs until killed. Does nothing unless the parent started it.
#[test]
#[ignore = "run by the_log_survives_kill_9_during_writes"]
fn log_writer_child() {
    let Some(path) = std::env::var_os(LOG_ENV).map(PathBuf::from) else {
        return;
    };
    let mut rng = Rng::new(u64::from(std::process::id()));
    loop {
        let rows: Vec<RouterEntry> = (0..1 + rng.below(300))
            .map(|i| RouterEntry {
                client: ([10, 0, (i / 256) as u8, i as u8], 40_000 + i as u16).into(),
                server: ([127, 0, 0, 1], 12347).into(),
            })
            .collect();
        append_run(&path, &rows).expect("append a run");
    }
}

/// The runs in the log, in order, or an empty map if there is no log yet.
fn runs(path: &std::path::Path) -> Map<String, Value> {
    let Ok(bytes) = std::fs::read(path) else {
        return Map::new();
    };
    let log: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("the log does not parse after a kill: {e}"));
    let mut map = log.as_object().expect("the log is an object").clone();
    let count = map.remove("count").expect("the log has a count");
    assert_eq!(
        count.as_u64(),
        Some(map.len() as u64),
        "count matches the runs"
    );
    map
}

#[test]
#[ignore = "about ten seconds; see the top of this file"]
fn the_log_survives_kill_9_during_writes() {
    let dir = common::temp_dir("kill-9");
    let path = dir.join("router.json");
    let mut rng = Rng::new(9);
    let mut before = Map::new();
    let mut total_kills = 0;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "log_writer_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env(LOG_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Random moments, so some kills land mid-write, mid-fsync and mid-rename.
        thread::sleep(Duration::from_millis(5 + rng.below(76)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        total_kills += 1;
        let after = runs(&path);
        assert!(after.len() >= before.len(), "round {round}: runs were lost");
        for (key, run) in &before {
            assert_eq!(
                after.get(key),
                Some(run),
                "round {round}: {key} changed or vanished"
            );
        }
        before = after;
    }
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
        .count();
    eprintln!(
        "{total_kills} kills with SIGKILL: the log parses after each, {} runs kept, none lost or \
         changed; {leftovers} temporary files left by killed writes (never read)",
        before.len()
    );
    assert!(!before.is_empty(), "the writers never got a run written");
    std::fs::remove_dir_all(dir).unwrap();
}
