//! The debugger walkthrough of the lab report (section 8), checked: `rust-gdb -batch` on the
//! router example stops where the report says, in the thread the report says.
//!
//! Ignored by `cargo test` (it needs `rust-gdb`, which comes with rustup, and gdb); Linux only.
//! Run it with
//!
//! ```text
//! cargo build --examples && cargo test --test debugger -- --ignored --nocapture
//! ```
#![cfg(target_os = "linux")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// `path:line` of the first line of `path` (in this repository) that contains `text`: the
/// breakpoints follow the code when lines move.
fn line_of(path: &str, text: &str) -> String {
    let source = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .expect("read the source");
    let n = source
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{path} has no line with {text:?}"));
    format!("{path}:{}", n + 1)
}

#[test]
#[ignore = "needs rust-gdb; see the top of this file"]
fn rust_gdb_stops_at_the_slot_the_table_and_the_signal_flag_in_named_threads() {
    // A free port for the router, chosen here so that the client knows where to connect.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let table_push = line_of("src/router.rs", "self.table.push(RouterEntry");
    let flag_check = line_of("src/signal.rs", "signalled.swap(false");
    let gdb = Command::new("rust-gdb")
        .args(["-batch", "-nx"])
        .args(["-ex", "set pagination off", "-ex", "set print thread-events off"])
        .args(["-ex", "break geotracker::extras::queue::Queue::enter"])
        .args(["-ex", &format!("break {table_push}")])
        .args(["-ex", "run", "-ex", "info threads", "-ex", "bt 2"])
        .args(["-ex", "continue", "-ex", "bt 1"])
        .args(["-ex", "delete 1 2", "-ex", &format!("break {flag_check}")])
        .args(["-ex", "continue", "-ex", "kill"])
        .arg("--args")
        .arg(common::example("router"))
        .args(["--port", &port.to_string(), "--server-port", "0"])
        .args(["--public-ip", "117.222.175.180", "--no-log", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rust-gdb runs (it comes with rustup)");

    // The client: connect when the router listens, ask, and note its own port, which the
    // router's thread is named after.
    let (client_port_tx, client_port) = mpsc::channel();
    thread::spawn(move || {
        let router: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(router) {
                let _ = client_port_tx.send(stream.local_addr().unwrap().port());
                let _ = stream.write_all(b"\n");
                let _ = stream.read_to_end(&mut Vec::new());
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });

    let output = gdb.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let client_port =
        client_port.recv_timeout(Duration::from_secs(5)).expect("the client connected");
    let thread = format!("\"client-{client_port}\"");
    let stops: Vec<&str> = out.lines().filter(|l| l.contains(" hit Breakpoint ")).collect();
    println!("{}", stops.join("\n"));
    assert_eq!(stops.len(), 3, "{out}");
    assert!(
        stops[0].contains(&thread) && stops[0].contains("Queue::enter"),
        "acquiring a slot, in the client's thread: {out}"
    );
    assert!(
        stops[1].contains(&thread) && stops[1].contains(&table_push.replace("src/", "")),
        "the table update, in the same thread: {out}"
    );
    assert!(
        stops[2].contains("\"signal-watcher\""),
        "the signal flag check, in the watcher: {out}"
    );
    // `info threads` lists the named threads: the accept loops, the watcher, the client's.
    for name in ["\"router\"", "\"signal-watcher\"", "\"server-", &thread] {
        assert!(out.contains(name), "{name} missing from info threads: {out}");
    }
}
