//! Several processes, one JSON log: runs are never lost or merged, whatever the interleaving.
//! Two routers stopped together in one folder, or two servers on 127.0.0.2 and 127.0.0.3 with
//! the same log, each read the old file and wrote it back with their run added: one of the two
//! runs was lost. `append_run` now takes a lock on `.<log>.lock` that other processes respect.

mod common;

use geotracker::{append_run, NatEntry};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// How many processes append at once, and how many runs each.
const WRITERS: usize = 8;
const RUNS: usize = 25;

/// The environment variable that turns this test, run again as a child process, into a writer.
const WRITER: &str = "GEOTRACKER_TEST_APPEND_TO";

#[test]
fn processes_appending_to_one_log_at_once_lose_no_run() {
    let row = |n: usize| NatEntry {
        private: ([127, 0, 0, 1], 40_000 + n as u16).into(),
        public: ([117, 222, 175, 180], 40_000 + n as u16).into(),
    };
    // The child's part: append RUNS runs of one row each, as fast as it can.
    if let Ok(path) = std::env::var(WRITER) {
        let me: usize = std::env::var("GEOTRACKER_TEST_WRITER_NUMBER")
            .unwrap()
            .parse()
            .unwrap();
        for _ in 0..RUNS {
            append_run(Path::new(&path), &[row(me)]).expect("append a run");
        }
        return;
    }
    let dir = common::temp_dir("shared-log");
    let path = dir.join("log.json");
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "processes_appending_to_one_log_at_once_lose_no_run",
                    "--exact",
                ])
                .env(WRITER, &path)
                .env("GEOTRACKER_TEST_WRITER_NUMBER", n.to_string())
                .stdout(Stdio::null())
                .spawn()
                .expect("start a writer")
        })
        .collect();
    for mut writer in writers {
        assert!(writer.wait().unwrap().success(), "a writer failed");
    }
    let log: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let runs = WRITERS * RUNS;
    assert_eq!(log["count"], runs, "every run is counted");
    let mut per_writer = vec![0; WRITERS];
    for n in 1..=runs {
        let run = log[format!("IP-Login-{n}")]
            .as_array()
            .unwrap_or_else(|| panic!("IP-Login-{n} lost"));
        assert_eq!(
            run.len(),
            1,
            "IP-Login-{n} holds one run's row, not two merged"
        );
        let port = run[0]["IP No."][0][1].as_u64().unwrap() as usize;
        per_writer[port - 40_000] += 1;
    }
    assert_eq!(
        per_writer,
        vec![RUNS; WRITERS],
        "each writer's runs are all there"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Servers on one port of two loopback addresses (Linux answers on all of 127.0.0.0/8) keep a
/// default log each: the file name has the address in it when it is not 127.0.0.1.
#[cfg(target_os = "linux")]
#[test]
fn servers_on_two_addresses_with_one_port_keep_a_default_log_each() {
    use geotracker::{LogFile, Output, Server, ServerConfig, Shutdown};
    let dir = common::temp_dir("two-addresses");
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stops: Vec<_> = [[127, 0, 0, 2], [127, 0, 0, 3]]
        .into_iter()
        .map(|ip| {
            let shutdown = Shutdown::new();
            let mut config = ServerConfig::new((ip, port).into());
            (config.public_ip, config.output) = (Some(common::PUBLIC_IP), Output::Nothing);
            config.log = LogFile::DefaultIn(dir.clone());
            let server = Server::bind(config, shutdown.clone()).expect("bind the server");
            (common::spawn_server(server), shutdown)
        })
        .collect();
    for (server, shutdown) in stops {
        common::ask(server.addr, geotracker::Request::MyLocation);
        shutdown.request();
        assert!(server.join().unwrap().log.unwrap().is_ok());
    }
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let log = dir.join(format!("geotracker-server-{ip}-{port}.json"));
        let log: Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
        assert_eq!(
            (
                log["count"].as_u64(),
                log["IP-Login-1"].as_array().map(Vec::len)
            ),
            (Some(1), Some(1))
        );
    }
    assert_eq!(
        geotracker::default_log_name("router", [127, 0, 0, 1].into(), None),
        "geotracker-router.json"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The stress run of the issue: two routers and two servers, all four writing one log, stopped
/// together with SIGINT, 50 times. Every stop adds exactly four runs. Ignored (it starts 200
/// processes); run it with
/// `cargo build --examples && cargo test --test shared_log -- --ignored --nocapture`
/// (with `GEOTRACKER_EXAMPLES=DIR` it runs the router and server found in DIR instead).
#[cfg(unix)]
#[test]
#[ignore = "a stress run: 50 stops of four processes"]
fn two_routers_and_two_servers_stopped_together_50_times_lose_no_run() {
    use std::io::{BufRead, BufReader};
    let example = |name: &str| match std::env::var_os("GEOTRACKER_EXAMPLES") {
        Some(dir) => std::path::PathBuf::from(dir).join(name),
        None => common::example(name),
    };
    let dir = common::temp_dir("four-on-one-log");
    let log = dir.join("shared.json");
    let log_arg = log.to_string_lossy().into_owned();
    // Each started program prints the port it bound; the test waits for that line.
    let start = |program: &str, args: &[&str]| {
        let mut child = Command::new(example(program))
            .args(args)
            .args(["--port", "0", "--log", &log_arg, "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = loop {
            let line = lines.next().expect("it starts").unwrap();
            if let Some(port) = line.split("socket bound to port ").nth(1) {
                break port.parse().unwrap();
            }
        };
        // Keep reading, so that the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        (child, port)
    };
    const STOPS: usize = 50;
    for _ in 0..STOPS {
        let servers: Vec<_> = (0..2)
            .map(|_| start("server", &["--public-ip", "117.222.175.180"]))
            .collect();
        let list = format!("127.0.0.1:{},127.0.0.1:{}", servers[0].1, servers[1].1);
        let routers: Vec<_> = (0..2)
            .map(|_| start("router", &["--servers", &list]))
            .collect();
        for (_, port) in &routers {
            common::ask(
                ([127, 0, 0, 1], *port).into(),
                geotracker::Request::MyLocation,
            );
        }
        let mut all: Vec<_> = routers
            .into_iter()
            .chain(servers)
            .map(|(child, _)| child)
            .collect();
        let pids: Vec<String> = all.iter().map(|c| c.id().to_string()).collect();
        // One `kill` for all four: they stop, and write the log, at the same moment.
        assert!(Command::new("kill")
            .arg("-INT")
            .args(&pids)
            .status()
            .unwrap()
            .success());
        for child in &mut all {
            assert_eq!(child.wait().unwrap().code(), Some(0));
        }
    }
    let log: Value = serde_json::from_slice(&std::fs::read(&log).unwrap()).unwrap();
    let runs: Vec<usize> = (1..=4 * STOPS)
        .map(|n| {
            log[format!("IP-Login-{n}")]
                .as_array()
                .map_or(usize::MAX, Vec::len)
        })
        .collect();
    let lost = runs.iter().filter(|&&rows| rows == usize::MAX).count();
    println!(
        "{STOPS} stops of two routers and two servers: {} runs counted, {lost} lost",
        log["count"]
    );
    assert_eq!((log["count"].as_u64(), lost), (Some(4 * STOPS as u64), 0));
    // Each stop wrote two router runs of one row and two server runs (one row for the router
    // that asked it, none for the other): 2 + 2 rows, none merged into another run.
    assert_eq!(runs.iter().sum::<usize>(), 4 * STOPS, "{runs:?}");
    std::fs::remove_dir_all(dir).unwrap();
}
