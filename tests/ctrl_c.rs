//! `Shutdown::on_ctrl_c` alone, in a process of its own: the first stop signal requests the
//! stop, the second hurries it, the third ends the process at once with exit code 130.
//!
//! A signal handler belongs to the whole process, so each test runs this test binary again as a
//! child (the `child_that_waits_for_stop_signals` test, switched on by an environment variable),
//! sends it signals with `kill`, and reads what it prints. Unix only: Windows has no `kill`.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The environment variable that makes `child_that_waits_for_stop_signals` do its work.
const CHILD: &str = "GEOTRACKER_TEST_CTRL_C_CHILD";

/// Long enough for anything that should happen; a test waits this long only when it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// The child's part. Without the variable, a test that does nothing.
#[test]
fn child_that_waits_for_stop_signals() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let shutdown = geotracker::Shutdown::on_ctrl_c().expect("watch the stop signals");
    println!("ready");
    // Returns early once a stop is requested (the 600 s are never waited).
    shutdown.sleep(Duration::from_secs(600));
    println!("requested: {}", shutdown.is_requested());
    // A connection being served: the drain waits for it until the stop is hurried.
    let _busy = shutdown.enter();
    shutdown.drain(Duration::from_secs(600));
    println!("hurried: {}", shutdown.was_hurried());
    // Now only the third signal ends the process.
    thread::sleep(Duration::from_secs(600));
    println!("still alive after 600 s");
}

/// The child, started, and the lines it prints as they come.
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watched {
    fn start() -> Watched {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_that_waits_for_stop_signals",
                "--exact",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .stdout(Stdio::piped())
            // Where the test's own output goes: a child that fails says why there.
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (line_tx, lines) = mpsc::channel();
        // Reads the child's output to its end, passing each line on.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let watched = Watched { child, lines };
        watched.expect_line("ready");
        watched
    }

    /// Waits for a line that starts with `prefix`; fails the test if none comes in time.
    fn expect_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => continue,
                Err(_) => panic!("the child never printed a line starting with {prefix:?}"),
            }
        }
    }

    fn send(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success(), "kill {signal} {pid}");
    }

    /// The child's exit code, once it has exited; fails the test if it does not in time.
    fn exit_code(self) -> Option<i32> {
        let mut child = self.child;
        let pid = child.id().to_string();
        let (exited_tx, exited) = mpsc::channel();
        // Waits for the child to exit.
        thread::spawn(move || exited_tx.send(child.wait().map(|status| status.code())));
        match exited.recv_timeout(PATIENCE) {
            Ok(code) => code.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("the child did not exit after the third signal");
            }
        }
    }
}

/// Sends `signals`, one after the other, each once the child has shown it acted on the last.
fn three_signals(signals: [&str; 3]) {
    let watched = Watched::start();
    watched.send(signals[0]);
    assert_eq!(watched.expect_line("requested"), "requested: true");
    watched.send(signals[1]);
    assert_eq!(watched.expect_line("hurried"), "hurried: true");
    watched.send(signals[2]);
    assert_eq!(
        watched.exit_code(),
        Some(130),
        "the third signal's exit code"
    );
}

#[test]
fn three_ctrl_c_request_the_stop_hurry_it_and_exit_with_130() {
    three_signals(["-INT", "-INT", "-INT"]);
}

#[test]
fn sigterm_sighup_and_sigquit_stop_as_ctrl_c_does() {
    three_signals(["-TERM", "-HUP", "-QUIT"]);
}

#[test]
fn the_watcher_says_what_each_stop_signal_does() {
    let watched = Watched::start();
    watched.send("-INT");
    watched.expect_line("stopping: serving the clients already in");
    watched.send("-INT");
    watched.expect_line("stopping at once: writing the IP tables as they are");
    watched.send("-INT");
    assert_eq!(watched.exit_code(), Some(130));
}
