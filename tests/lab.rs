//! The Mininet lab, `report/lab/lab.py --selftest`: two homes of clients behind NAT gateways, a
//! router and four servers on hosts of their own, real kernel NAT, one server stopped half-way.
//! The lab checks itself (exit code 0); this test also reads the logs it left.
//!
//! It needs Linux, root and Mininet under the system Python. Anywhere else it skips, printing
//! one line that says why and what to install (`lab.py --check` gives the reason).
#![cfg(target_os = "linux")]

mod common;

use serde_json::Value;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// `lab.py`'s exit code for "this machine cannot run the lab"; its last line says why.
const CANNOT_RUN_HERE: i32 = 77;
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Says why the test does not run, on the terminal: `println!` would be captured, and a skip
/// must not look like a pass.
fn skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "tests/lab.rs: skipped: {why}");
}

fn lab(args: &[&std::ffi::OsStr]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("report/lab/lab.py");
    Command::new(SYSTEM_PYTHON)
        .arg(script)
        .args(args)
        .output()
        .expect("run report/lab/lab.py")
}

fn text(output: &Output) -> String {
    let (out, err) = (&output.stdout, &output.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(err)
    )
}

/// The rows of the last run of a JSON log.
fn last_run(path: &Path) -> Vec<Value> {
    let log: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("a log"))
        .expect("the log is JSON");
    let count = log["count"].as_u64().expect("a count");
    let rows = log[format!("IP-Login-{count}")]
        .as_array()
        .expect("the last run");
    rows.iter().map(|row| row["IP No."].clone()).collect()
}

#[test]
fn the_lab_selftest_shows_only_the_gateways_to_the_router_and_uses_four_servers() {
    if !Path::new(SYSTEM_PYTHON).exists() {
        return skip(&format!(
            "{SYSTEM_PYTHON} is missing; on Debian/Ubuntu: sudo apt-get install python3 \
             mininet nftables conntrack"
        ));
    }
    let check = lab(&["--check".as_ref()]);
    if check.status.code() == Some(CANNOT_RUN_HERE) {
        let said = text(&check);
        let why = said.lines().last().unwrap_or("no reason given");
        return skip(why.trim_start_matches("lab: cannot run here: "));
    }
    assert!(
        check.status.success(),
        "lab.py --check failed:\n{}",
        text(&check)
    );

    let bin_dir = common::example("router")
        .parent()
        .expect("the examples' folder")
        .to_owned();
    let (_, _) = (common::example("server"), common::example("client"));
    let out = common::temp_dir("lab");
    let args = ["--selftest".as_ref(), "--out".as_ref(), out.as_os_str()];
    let run = lab(&[&args[..], &["--bin-dir".as_ref(), bin_dir.as_os_str()]].concat());
    assert!(
        run.status.success(),
        "lab.py --selftest failed:\n{}",
        text(&run)
    );

    // The router saw only the two gateways, each connection on a port of its own: 3 clients
    // behind each gateway asked twice (the lab's defaults).
    let rows = last_run(&out.join("geotracker-router.json"));
    let callers: Vec<(String, u64)> = rows
        .iter()
        .map(|row| {
            (
                row[0][0].as_str().unwrap().to_owned(),
                row[0][1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(callers.len(), 12, "rows: {rows:?}");
    let gateways: HashSet<&str> = callers.iter().map(|(ip, _)| ip.as_str()).collect();
    assert_eq!(
        gateways,
        HashSet::from(["203.0.113.1", "203.0.113.2"]),
        "rows: {rows:?}"
    );
    assert_eq!(
        callers.iter().collect::<HashSet<_>>().len(),
        12,
        "a (gateway, port) repeated"
    );
    let servers: HashSet<&str> = rows.iter().map(|row| row[1].as_str().unwrap()).collect();
    assert_eq!(servers.len(), 4, "the router used {servers:?}");

    // Each server served, and saw the router (not a client) as its caller.
    for server in ["srv1", "srv2", "srv3", "srv4"] {
        let rows = last_run(&out.join(format!("geotracker-server-{server}.json")));
        assert!(!rows.is_empty(), "{server} served nobody");
        assert!(
            rows.iter().all(|row| row[0][0] == "198.51.100.10"),
            "{server}: {rows:?}"
        );
    }
    // Every client was located, twice.
    for host in ["h1", "h2", "h3", "h4", "h5", "h6"] {
        let said = std::fs::read_to_string(out.join(format!("{host}.out"))).expect("its output");
        let located = said
            .lines()
            .filter(|l| l.contains(r#""status":"success""#))
            .count();
        assert_eq!(located, 2, "{host} said:\n{said}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
