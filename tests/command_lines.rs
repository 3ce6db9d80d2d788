//! The examples' command lines: defaults, flags, and clear errors.

use geotracker::cli::{ClientOptions, GeoChoice, RouterOptions, ServerOptions};
use geotracker::iplog::LogFile;
use geotracker::protocol::Request;
use std::path::PathBuf;
use std::time::Duration;

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn defaults_are_the_originals_ports() {
    let router = RouterOptions::parse(args("")).unwrap();
    assert_eq!(router.bind.to_string(), "127.0.0.1:9020");
    assert_eq!(router.server_port, 12347);
    assert_eq!(router.servers, None);
    assert_eq!(router.hold, Duration::ZERO);
    assert_eq!(router.geo, GeoChoice::Offline(None));
    let server = ServerOptions::parse(args("")).unwrap();
    assert_eq!(server.bind.to_string(), "127.0.0.1:12347");
    assert_eq!(server.log, LogFile::DefaultIn(PathBuf::from(".")));
    let client = ClientOptions::parse(args("")).unwrap();
    assert_eq!(client.router.to_string(), "127.0.0.1:9020");
    assert_eq!((client.clients, client.request), (1, Request::MyLocation));
}

#[test]
fn flags_are_read_in_both_spellings() {
    let router = RouterOptions::parse(args(
        "--hold-secs 5 --port=9021 --servers 10.0.0.1:12347,10.0.0.2:12347 --bind 0.0.0.0 --no-log",
    ))
    .unwrap();
    assert_eq!(router.hold, Duration::from_secs(5));
    assert_eq!(router.bind.to_string(), "0.0.0.0:9021");
    assert_eq!(router.servers.unwrap().len(), 2);
    assert_eq!(router.log, Some(LogFile::None));
    let client = ClientOptions::parse(args("8.8.8.8 --clients 8 --json")).unwrap();
    assert_eq!(client.request, Request::Lookup("8.8.8.8".parse().unwrap()));
    assert_eq!(client.clients, 8);
    assert!(client.json);
    let server = ServerOptions::parse(args("--geo ip-api --geo-url http://127.0.0.1:1")).unwrap();
    assert_eq!(server.geo, GeoChoice::IpApi("http://127.0.0.1:1".into()));
}

#[test]
fn bad_command_lines_say_what_is_wrong() {
    let cases = [
        (
            RouterOptions::parse(args("--frobnicate")).unwrap_err().0,
            "unknown argument \"--frobnicate\"",
        ),
        (
            RouterOptions::parse(args("--port 70000")).unwrap_err().0,
            "--port: \"70000\" is not a port number (0 to 65535)",
        ),
        (
            RouterOptions::parse(args("--servers 1.2.3.4"))
                .unwrap_err()
                .0,
            "--servers: \"1.2.3.4\" is not an ADDR:PORT",
        ),
        (
            RouterOptions::parse(args("--hold-secs")).unwrap_err().0,
            "--hold-secs needs a whole number of seconds",
        ),
        (
            ServerOptions::parse(args("--geo maybe")).unwrap_err().0,
            "--geo: \"maybe\" is not offline or ip-api",
        ),
        (
            ClientOptions::parse(args("999.1.1.1")).unwrap_err().0,
            "not an IP address: \"999.1.1.1\"",
        ),
        (
            ClientOptions::parse(args("--clients 0")).unwrap_err().0,
            "--clients must be at least 1",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn a_bad_database_is_refused_at_start_up() {
    let missing = GeoChoice::Offline(Some("/nonexistent/city.mmdb".into())).open();
    let message = missing.err().expect("a missing file is an error");
    assert!(
        message.contains("/nonexistent/city.mmdb: cannot read it"),
        "{message}"
    );
    let dir = std::env::temp_dir().join(format!("geotracker-notdb-{}", std::process::id()));
    std::fs::write(&dir, b"this is not a database").unwrap();
    let message = GeoChoice::Offline(Some(dir.clone())).open().err().unwrap();
    assert!(
        message.contains("not a readable MaxMind database"),
        "{message}"
    );
    std::fs::remove_file(dir).unwrap();
}
