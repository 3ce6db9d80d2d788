//! The debugger walkthrough of the lab report (section 8), checked: `rust-gdb -batch` runs
//! `report/debugger/walkthrough.gdb` on the router example with a client and a Ctrl-C, and what
//! gdb prints must be the transcript the report quotes, `report/debugger/walkthrough.txt`
//! (`report/scripts/debugger.sh --check`, on the examples `cargo test` has built).
//!
//! It needs Linux, gdb and rust-gdb (which comes with rustup), and the debug build: anywhere
//! else it prints one line saying why it did not run, and returns.
#![cfg(target_os = "linux")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// `debugger.sh`'s exit code for "this machine cannot run the walkthrough".
const CANNOT_RUN_HERE: i32 = 77;

/// Says why the test does not run, on the terminal: `println!` would be captured, and a skip
/// must not look like a pass.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "tests/debugger.rs: skipped: {why}");
}

#[test]
fn rust_gdb_stops_where_the_report_says_in_the_threads_it_names() {
    if !cfg!(debug_assertions) {
        // An optimised router has its variables optimised out and its small functions inlined.
        return skip("the walkthrough is of the debug build; run cargo test without --release");
    }
    let bin_dir = common::example("router")
        .parent()
        .expect("the examples' folder")
        .to_owned();
    let _ = common::example("client");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("report/scripts/debugger.sh");
    let run = Command::new("bash")
        .arg(script)
        .args(["--check", "--bin-dir"])
        .arg(&bin_dir)
        .output()
        .expect("run report/scripts/debugger.sh");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    if run.status.code() == Some(CANNOT_RUN_HERE) {
        let why = said.lines().last().unwrap_or("no reason given");
        return skip(why.trim_start_matches("skip: debugger walkthrough: "));
    }
    assert!(
        run.status.success(),
        "report/scripts/debugger.sh --check failed:\n{said}"
    );
    assert!(said.starts_with("ok: debugger walkthrough:"), "{said}");
}
