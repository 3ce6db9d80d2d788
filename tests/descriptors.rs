//! The router under a low limit on open files (`ulimit -n`), run as a child process through
//! `sh` (Linux: `ulimit` is the shell's). With `--max-clients` above what the limit allows, the
//! router's own "too many open files" on connecting to a server was taken for dead servers:
//! healthy servers were marked down and clients were told no server is reachable. Now the soft
//! limit is raised towards the hard one at start, `--max-clients` is fitted to what is left (and
//! the start says so), and the router's own lack of descriptors never marks a server down.
#![cfg(target_os = "linux")]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts the router example under `ulimit` (as `sh` takes it, e.g. `-Sn 256`) with its four
/// in-process servers; returns it, its port and its output lines as they come.
fn router_under(ulimit: &str) -> (Child, u16, mpsc::Receiver<String>) {
    let router = common::example("router");
    let dir = common::temp_dir("descriptors");
    let script = format!(
        "ulimit {ulimit} && exec '{}' --port 0 --server-port 0 --public-ip 117.222.175.180 --no-log",
        router.display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stdout_lines(&mut child);
    let port = common::line_after(
        &lines,
        "router: socket bound to port ",
        Duration::from_secs(20),
    );
    (child, port.parse().unwrap(), lines)
}

/// The start-up line about open files.
fn descriptors_line(lines: &mpsc::Receiver<String>) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the start-up lines");
        if line.contains("open files") {
            return line;
        }
    }
}

#[test]
fn a_low_soft_limit_is_raised_towards_the_hard_one() {
    let (mut child, _, lines) = router_under("-Sn 256");
    let line = descriptors_line(&lines);
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("open files (raised from 256)"), "{line}");
}

#[test]
fn out_of_file_descriptors_the_router_says_busy_and_marks_no_server_down() {
    // Hard and soft: 150 open files leave room for (150 - 64) / 3 = 28 clients at once.
    let (mut child, port, lines) = router_under("-n 150");
    let line = descriptors_line(&lines);
    assert!(
        line.contains(
            "150 open files: room for 28 clients at once, so --max-clients is 28, not 2000"
        ),
        "{line}"
    );
    // 100 clients asking in a loop, far more than fit.
    let load = geotracker::load::LoadConfig {
        router: ([127, 0, 0, 1], port).into(),
        clients: 100,
        duration: Duration::from_secs(2),
        request: geotracker::Request::MyLocation,
        timeout: common::CLIENT_TIMEOUT,
    };
    let report = geotracker::load::run(&load).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let output: Vec<String> = lines.try_iter().collect();
    assert!(
        !output.iter().any(|l| l.contains("is down")),
        "a server was marked down: {output:?}"
    );
    assert!(
        !report.errors.contains_key("no server reachable"),
        "{:?}",
        report.errors
    );
    assert!(!report.latencies.is_empty(), "clients were answered");
    eprintln!(
        "{} answers, errors {:?}",
        report.latencies.len(),
        report.errors
    );
}
