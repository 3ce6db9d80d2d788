//! The examples' command lines: defaults, flags, and clear errors.

mod common;

use geotracker::args::{self, UsageError, ASN_DB_ENV, GEO_DB_ENV};
use geotracker::geo::{GeoChoice, GeoSource};
use geotracker::{LogFile, Request, ServerConfig, Servers};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn defaults_are_the_originals_ports() {
    let router = args::router(args("")).unwrap();
    assert_eq!(router.bind.to_string(), "127.0.0.1:9020");
    let Servers::InProcess { first_port, config } = router.servers else {
        panic!("four servers in this process by default")
    };
    assert_eq!(first_port, 12347);
    assert_eq!(router.hold, Duration::ZERO);
    assert_eq!(router.log, LogFile::DefaultIn(PathBuf::from(".")));
    assert_eq!(config.log, LogFile::DefaultIn(PathBuf::from(".")));
    assert_eq!(config.geo, GeoChoice::default());
    assert_eq!(config.geo.source, GeoSource::Offline);
    assert!(config.geo.city_dbs.is_empty(), "the bundled database");
    let server = args::server(args("")).unwrap();
    assert_eq!(server.bind.to_string(), "127.0.0.1:12347");
    assert_eq!(server.log, LogFile::DefaultIn(PathBuf::from(".")));
    let client = args::client(args("")).unwrap();
    assert_eq!(client.router.to_string(), "127.0.0.1:9020");
    assert_eq!((client.clients, client.request), (1, Request::MyLocation));
    assert_eq!(client.web, None);
}

#[test]
fn web_takes_an_optional_address() {
    let web = |line: &str| args::client(args(line)).unwrap().web.map(|a| a.to_string());
    assert_eq!(web("--web").as_deref(), Some("127.0.0.1:8080"));
    assert_eq!(web("--web 0.0.0.0:0").as_deref(), Some("0.0.0.0:0"));
    assert_eq!(web("--web=[::1]:8081").as_deref(), Some("[::1]:8081"));
    let client = args::client(args("--web --router 10.0.0.5:9021 --timeout-secs 7")).unwrap();
    assert_eq!(client.web.unwrap().to_string(), "127.0.0.1:8080");
    assert_eq!(client.router.to_string(), "10.0.0.5:9021");
    assert_eq!(client.timeout, Duration::from_secs(7));
    let refused =
        "--web asks from the page, a click at a time: give it no IP, --clients, --json or --load";
    for line in [
        "8.8.8.8 --web",
        "--web --clients 3",
        "--web --json",
        "--load --web",
    ] {
        assert_eq!(args::client(args(line)).unwrap_err().0, refused, "{line}");
    }
    let not_an_address = args::client(args("--web 8.8.8.8")).unwrap_err().0;
    assert_eq!(not_an_address, "--web: \"8.8.8.8\" is not an ADDR:PORT");
    assert!(args::CLIENT_USAGE.contains("--web [A:P]"));
}

#[test]
fn flags_are_read_in_both_spellings() {
    let router = args::router(args(
        "--hold-secs 5 --port=9021 --servers 10.0.0.1:12347,10.0.0.2:12347 --bind 0.0.0.0 --no-log",
    ))
    .unwrap();
    assert_eq!(router.hold, Duration::from_secs(5));
    assert_eq!(router.bind.to_string(), "0.0.0.0:9021");
    assert!(matches!(router.servers, Servers::At(ref list) if list.len() == 2));
    assert_eq!(router.log, LogFile::None);
    let Servers::InProcess { config, .. } = args::router(args("--no-log")).unwrap().servers else {
        panic!("in-process servers")
    };
    assert_eq!(
        config.log,
        LogFile::None,
        "--no-log: the in-process servers write none either"
    );
    let router =
        args::router(args("--read-timeout 0.5 --queue-timeout=2 --table-limit 7")).unwrap();
    assert_eq!(router.limits.read_timeout, Duration::from_millis(500));
    assert_eq!(router.limits.queue_timeout, Some(Duration::from_secs(2)));
    let Servers::InProcess { config, .. } = router.servers else {
        panic!("in-process servers")
    };
    assert_eq!(
        (config.limits.read_timeout, config.limits.table_limit),
        (Duration::from_millis(500), 7)
    );
    let client = args::client(args("8.8.8.8 --clients 8 --json")).unwrap();
    assert_eq!(client.request, Request::Lookup("8.8.8.8".parse().unwrap()));
    assert_eq!(client.clients, 8);
    assert!(client.json);
    let server = args::server(args(
        "--geo ip-api --geo-url http://127.0.0.1:1 --geo-cache-secs 0 --geo-cache-size 7",
    ))
    .unwrap();
    assert_eq!(server.geo.source, GeoSource::IpApi);
    assert_eq!(server.geo.ip_api.url, "http://127.0.0.1:1");
    assert_eq!(server.geo.ip_api.cache_ttl, Duration::ZERO);
    assert_eq!(server.geo.ip_api.cache_size, 7);
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    let cases = [
        (
            args::router(args("--frobnicate")).unwrap_err().0,
            "unknown argument \"--frobnicate\"",
        ),
        (
            args::router(args("--port 70000")).unwrap_err().0,
            "--port: \"70000\" is not a port number (0 to 65535)",
        ),
        (
            args::router(args("--servers 1.2.3.4")).unwrap_err().0,
            "--servers: \"1.2.3.4\" is not an ADDR:PORT",
        ),
        (
            args::router(args("--hold-secs")).unwrap_err().0,
            "--hold-secs needs a whole number of seconds",
        ),
        (
            args::server(args("--geo maybe")).unwrap_err().0,
            "--geo: \"maybe\" is not offline, ip-api or auto",
        ),
        (
            args::client(args("999.1.1.1")).unwrap_err().0,
            "not an IP address: \"999.1.1.1\"",
        ),
        (
            args::client(args("--clients 0")).unwrap_err().0,
            "--clients must be at least 1",
        ),
        (
            args::server(args("--read-timeout 0")).unwrap_err().0,
            "--read-timeout: \"0\" seconds: a time must be more than 0",
        ),
        (
            args::router(args("--queue-timeout=1e-9")).unwrap_err().0,
            "--queue-timeout: \"1e-9\" seconds is less than a millisecond, the shortest time",
        ),
        (
            args::server(args("--request-timeout NaN")).unwrap_err().0,
            "--request-timeout: \"NaN\" is not a number of seconds",
        ),
        (
            args::server(args("--write-timeout soon")).unwrap_err().0,
            "--write-timeout: \"soon\" is not a number of seconds",
        ),
        (
            args::router(args("--backoff-secs 100000")).unwrap_err().0,
            "--backoff-secs: \"100000\" seconds is more than a day, the longest time",
        ),
        (
            args::server(args("--max-per-source 0")).unwrap_err().0,
            "--max-per-source must be at least 1",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

/// `parse_with_env` for the server with these environment variables and no others.
fn server_with_env(line: &str, vars: &[(&str, &str)]) -> Result<ServerConfig, UsageError> {
    let vars: Vec<(String, OsString)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    args::server_with_env(args(line), &|name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

#[test]
fn databases_come_from_flags_then_the_environment() {
    let list = std::env::join_paths(["/data/city-v4.mmdb", "/data/city-v6.mmdb"]).unwrap();
    let list = list.to_str().unwrap();
    let env = [(GEO_DB_ENV, list), (ASN_DB_ENV, "/data/asn.mmdb")];

    let from_env = server_with_env("", &env).unwrap().geo;
    assert_eq!(
        from_env.city_dbs,
        [
            PathBuf::from("/data/city-v4.mmdb"),
            PathBuf::from("/data/city-v6.mmdb")
        ]
    );
    assert_eq!(from_env.asn_db, Some(PathBuf::from("/data/asn.mmdb")));

    let flags = server_with_env("--geo-db a.mmdb --geo-db b.mmdb --asn-db c.mmdb", &env)
        .unwrap()
        .geo;
    assert_eq!(
        flags.city_dbs,
        [PathBuf::from("a.mmdb"), PathBuf::from("b.mmdb")]
    );
    assert_eq!(flags.asn_db, Some(PathBuf::from("c.mmdb")));

    // ip-api.com needs no database: the environment is not an error there, a flag is.
    let online = server_with_env("--geo ip-api", &env).unwrap().geo;
    assert!(online.city_dbs.is_empty() && online.asn_db.is_none());
    assert_eq!(
        server_with_env("--geo ip-api --geo-db a.mmdb", &[])
            .unwrap_err()
            .0,
        "--geo-db and --asn-db go with --geo offline or --geo auto"
    );
    let auto = server_with_env("--geo auto", &env).unwrap().geo;
    assert_eq!((auto.source, auto.city_dbs.len()), (GeoSource::Auto, 2));
    assert_eq!(
        server_with_env("--geo-url http://x", &[]).unwrap_err().0,
        "--geo-url and --geo-cache-* go with --geo ip-api or --geo auto"
    );
    // An empty variable is unset.
    let empty = server_with_env("", &[(GEO_DB_ENV, "")]).unwrap().geo;
    assert!(empty.city_dbs.is_empty());
}

#[test]
fn a_port_in_use_and_a_bad_flag_exit_2_with_one_line_and_no_backtrace() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    // The fourth in-process server's port is the one taken: three servers and the router are
    // bound first, and still nothing is printed before the error.
    let first = (taken.local_addr().unwrap().port() - 3).to_string();
    // A log folder that does not exist, and a log "folder" that is a file: found at start-up,
    // not at Ctrl-C, when the run would be lost.
    let dir = common::temp_dir("exit-2");
    let missing = dir.join("missing").to_string_lossy().into_owned();
    std::fs::write(dir.join("a-file"), "").unwrap();
    let in_a_file = dir
        .join("a-file")
        .join("server.json")
        .to_string_lossy()
        .into_owned();
    let taken_addr = taken.local_addr().unwrap().to_string();
    #[allow(unused_mut)] // Pushed to on Linux only.
    let mut runs = vec![
        (
            "router",
            vec![
                "--port",
                "0",
                "--log-dir",
                missing.as_str(),
                "--server-port",
                "0",
                "--public-ip",
                "1.2.3.4",
            ],
            "error: router: cannot keep a log at ",
        ),
        (
            "server",
            vec![
                "--port",
                "0",
                "--log",
                in_a_file.as_str(),
                "--public-ip",
                "1.2.3.4",
            ],
            "error: server ",
        ),
        (
            "router",
            vec![
                "--port",
                "0",
                "--server-port",
                first.as_str(),
                "--public-ip",
                "1.2.3.4",
            ],
            "error: router: in-process server: cannot listen on 127.0.0.1:",
        ),
        (
            "server",
            vec![
                "--port",
                port.as_str(),
                "--public-ip",
                "1.2.3.4",
                "--no-log",
            ],
            "error: server: cannot listen on 127.0.0.1:",
        ),
        (
            "router",
            vec![
                "--port",
                port.as_str(),
                "--server-port",
                "0",
                "--public-ip",
                "1.2.3.4",
            ],
            "error: router: cannot listen on 127.0.0.1:",
        ),
        (
            "router",
            vec!["--hold-secs", "soon"],
            "error: --hold-secs: \"soon\"",
        ),
        ("client", vec!["--clients"], "error: --clients needs"),
        (
            "server",
            vec!["--read-timeout", "-1"],
            "error: --read-timeout: \"-1\" seconds: a time must be more than 0",
        ),
        (
            "client",
            vec!["--web", taken_addr.as_str()],
            "error: client: cannot listen on 127.0.0.1:",
        ),
    ];
    // Four servers on 127.0.0.2..5 with one port (Linux answers on all of 127.0.0.0/8) name
    // their address in their lines, or all four would print "server 12347: ...".
    #[cfg(target_os = "linux")]
    runs.push((
        "server",
        vec![
            "--bind",
            "127.0.0.2",
            "--port",
            "0",
            "--log",
            in_a_file.as_str(),
            "--public-ip",
            "1.2.3.4",
        ],
        "error: server 127.0.0.2:",
    ));
    for (program, args, first_line) in runs {
        let output = std::process::Command::new(common::example(program))
            .args(&args)
            .current_dir(&dir)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{program} {args:?}: {stderr}"
        );
        if args.iter().any(|a| a.starts_with("--log")) {
            assert!(stderr.contains("cannot keep a log at /"), "{stderr}");
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout, "",
            "{program} {args:?}: nothing is printed before the error"
        );
        assert!(
            stderr.starts_with(first_line),
            "{program} {args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
    drop(taken);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The client's exit code says whether it located the address: 0 located, 1 a failure answer
/// (here a private address) or no router at all, 2 a bad command line. It used to be 0 for a
/// failure answer.
#[test]
fn the_client_exits_0_when_located_1_when_not_and_2_for_a_bad_command_line() {
    let system = common::System::start(Duration::ZERO);
    let router = system.router_addr.to_string();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let runs = [
        (vec!["--router", router.as_str()], 0),
        (vec!["--router", router.as_str(), "8.8.8.8", "--json"], 0),
        (vec!["--router", router.as_str(), "192.168.1.200"], 1),
        (
            vec!["--router", router.as_str(), "--clients", "3", "10.0.0.1"],
            1,
        ),
        (vec!["--router", router.as_str(), "--clients", "3"], 0),
        (vec!["--router", dead.as_str()], 1),
        (vec!["--router", router.as_str(), "not-an-address"], 2),
    ];
    for (args, code) in runs {
        let output = std::process::Command::new(common::example("client"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "client {args:?}: {stderr}"
        );
    }
    system.stop();
}

/// The handout's debugger walkthrough (report section 8) runs the client with
/// `--timeout-secs 3600`, to sit at a breakpoint; beyond a day a deadline is refused, as is
/// `u64::MAX`, which used to overflow `Instant + Duration` and panic once connected.
#[test]
fn the_client_timeout_is_at_most_a_day() {
    let timeout = |line: &str| args::client(args(line)).map(|c| c.timeout).map_err(|e| e.0);
    assert_eq!(
        timeout("--timeout-secs 3600"),
        Ok(Duration::from_secs(3600))
    );
    assert_eq!(
        timeout("--timeout-secs=0.5"),
        Ok(Duration::from_millis(500))
    );
    assert_eq!(timeout(""), Ok(Duration::from_secs(120)), "the default");
    assert_eq!(
        timeout("--timeout-secs 18446744073709551615"),
        Err(
            "--timeout-secs: \"18446744073709551615\" seconds is more than a day, the longest time"
                .into()
        )
    );
    assert_eq!(
        timeout("--timeout-secs 0"),
        Err("--timeout-secs: \"0\" seconds: a time must be more than 0".into())
    );
}
