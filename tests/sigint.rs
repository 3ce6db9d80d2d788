//! Ctrl-C on the real `router` example, run as a child process (Unix: it sends SIGINT with
//! `kill`, which Windows does not have).
#![cfg(unix)]

mod common;

use common::{example, temp_dir};
use geotracker::Request;
use serde_json::Value;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Starts the router example and returns it with the port it bound and its stdout so far.
fn start_router(log_dir: &std::path::Path) -> (Child, u16, mpsc::Receiver<String>) {
    start_router_with(
        log_dir,
        &["--server-port", "0", "--public-ip", "117.222.175.180"],
    )
}

/// [`start_router`] with these arguments instead of the in-process servers'.
fn start_router_with(
    log_dir: &std::path::Path,
    args: &[&str],
) -> (Child, u16, mpsc::Receiver<String>) {
    let mut child = Command::new(example("router"))
        .args(["--port", "0"])
        .args(args)
        .arg("--log-dir")
        .arg(log_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

/// Waits for the child to exit, failing the test if it takes longer than `limit`.
fn wait_with_limit(mut child: Child, limit: Duration) -> std::process::ExitStatus {
    let (done_tx, done) = mpsc::channel();
    // `wait` has no timeout, so it runs on its own thread and the test waits on a channel.
    thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    done.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the router did not stop within {limit:?}"))
        .unwrap()
}

#[test]
fn sigint_prints_the_table_writes_the_log_and_exits_0() {
    let dir = temp_dir("sigint");
    let (mut child, port, lines) = start_router(&dir);
    let router = ([127, 0, 0, 1], port).into();
    let answer = common::ask(router, Request::MyLocation);
    assert_eq!(answer.reply.status, "success");
    let served = answer.reply.router.clone().unwrap();

    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut stderr = child.stderr.take().unwrap();
    let status = wait_with_limit(child, Duration::from_secs(10));
    let stopped_in = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit code");

    let out: Vec<String> = lines.iter().collect();
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    let out = out.join("\n");
    assert!(
        out.contains("Current IPTABLE of the router before terminating the program:"),
        "{out}"
    );
    assert!(out.contains("1\t\t\t[('127.0.0.1', "), "{out}");
    assert!(out.contains(&format!("'{}']", served.server)), "{out}");
    assert!(
        out.contains("router: table written to the log as IP-Login-1 (1 row)"),
        "{out}"
    );
    assert_eq!(
        out.matches("Current IPTABLE of the server").count(),
        4,
        "{out}"
    );
    assert!(err.is_empty(), "nothing on stderr: {err}");
    assert!(
        out.contains("stopping: serving the clients already in"),
        "{out}"
    );

    let log: Value =
        serde_json::from_slice(&std::fs::read(dir.join("geotracker-router.json")).unwrap())
            .unwrap();
    assert_eq!(log["count"], 1);
    assert_eq!(log["IP-Login-1"][0]["Index"], 1);
    assert_eq!(log["IP-Login-1"][0]["IP No."][1], served.server.as_str());
    // The server that answered logged the router's connection to it.
    let server_port = served.server.rsplit(':').next().unwrap();
    let server_log: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("geotracker-server-{server_port}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        server_log["IP-Login-1"][0]["IP No."][1][0],
        "117.222.175.180"
    );
    eprintln!("stopped {stopped_in:?} after SIGINT");
}

/// Waits for a line of the child's output that starts with `prefix`.
fn wait_for_line(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn send_sigint(child: &Child) {
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn a_second_sigint_exits_at_once_after_writing_the_table() {
    let dir = temp_dir("sigint-twice");
    // A server that takes the request and never answers: the client stays in flight, so the
    // first Ctrl-C has to wait for it (up to the read timeout of 30 s given here).
    let (got_tx, got) = mpsc::channel();
    let silent = common::fake_server(move |stream, _| {
        let _ = got_tx.send(());
        thread::sleep(Duration::from_secs(60));
        drop(stream);
    });
    let servers = silent.to_string();
    let (child, port, lines) =
        start_router_with(&dir, &["--servers", &servers, "--read-timeout", "30"]);
    let router: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let client = thread::spawn(move || {
        geotracker::client::ask(router, Request::MyLocation, common::CLIENT_TIMEOUT, |_| {})
    });
    got.recv_timeout(Duration::from_secs(10))
        .expect("the request reaches the server");

    send_sigint(&child);
    wait_for_line(&lines, "stopping: serving the clients already in");
    let sent = Instant::now();
    send_sigint(&child);
    let status = wait_with_limit(child, Duration::from_secs(5));
    let took = sent.elapsed();
    let stdout_rest = lines.try_iter().collect::<Vec<_>>().join("\n");
    assert_eq!(status.code(), Some(130), "{stdout_rest}");
    assert!(
        took < Duration::from_secs(2),
        "exited {took:?} after the second SIGINT"
    );
    assert!(stdout_rest.contains("stopping at once"), "{stdout_rest}");
    // The table as it was: the one client in flight.
    let log: Value =
        serde_json::from_slice(&std::fs::read(dir.join("geotracker-router.json")).unwrap())
            .unwrap();
    assert_eq!(log["count"], 1);
    assert_eq!(log["IP-Login-1"].as_array().unwrap().len(), 1);
    assert_eq!(log["IP-Login-1"][0]["IP No."][1], servers.as_str());
    // The client's connection was closed by the exit, not left hanging.
    assert!(client.join().unwrap().is_err());
    eprintln!("exited {took:?} after the second SIGINT");
}

#[test]
fn a_router_whose_output_is_gone_still_stops_on_sigint_and_writes_its_log() {
    let dir = temp_dir("sigint-no-stdout");
    let (child, port, lines) = start_router(&dir);
    // Nobody reads the router's output any more (as with `router | head -5`): its progress
    // lines and tables now meet a broken pipe.
    drop(lines);
    let router = ([127, 0, 0, 1], port).into();
    // The reader thread notices the closed channel at the router's next line and closes the
    // pipe; ask until that has happened at least once.
    for _ in 0..5 {
        assert_eq!(
            common::ask(router, Request::MyLocation).reply.status,
            "success"
        );
    }
    send_sigint(&child);
    let status = wait_with_limit(child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    let log: Value =
        serde_json::from_slice(&std::fs::read(dir.join("geotracker-router.json")).unwrap())
            .unwrap();
    assert_eq!(log["IP-Login-1"].as_array().unwrap().len(), 5);
}

/// Closing the terminal sends SIGHUP, and Ctrl-\ sends SIGQUIT: both used to end the router with
/// no log at all. Both now stop it like Ctrl-C, writing the table, exit code 0.
#[test]
fn a_hang_up_or_a_quit_signal_stops_the_router_and_writes_its_log() {
    for signal in ["HUP", "QUIT"] {
        let dir = temp_dir(&format!("sig{signal}"));
        let (child, port, _lines) = start_router(&dir);
        let answer = common::ask(([127, 0, 0, 1], port).into(), Request::MyLocation);
        assert_eq!(answer.reply.status, "success");
        let mut kill = Command::new("kill");
        assert!(kill
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let status = wait_with_limit(child, Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "SIG{signal}: exit code");
        let log: Value =
            serde_json::from_slice(&std::fs::read(dir.join("geotracker-router.json")).unwrap())
                .unwrap_or_else(|e| panic!("SIG{signal}: no log: {e}"));
        assert_eq!(
            log["IP-Login-1"].as_array().map(Vec::len),
            Some(1),
            "SIG{signal}"
        );
    }
}
