//! ip-api.com and ipify, each against a local HTTP endpoint started by the test: no test
//! reaches the Internet.

mod common;

use geotracker::geo::ip_api::{IpApi, FIELDS};
use geotracker::geo::Geolocator;
use geotracker::public_ip::{self, Origin};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// A local HTTP endpoint that answers each of `answers` in turn (status, body) and reports the
/// request line it received.
fn http_endpoint(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind(common::any_port()).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    // The endpoint's accept loop, one answer per connection.
    thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(&stream);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            // Skip the headers.
            let mut header = String::new();
            while reader.read_line(&mut header).unwrap() > 2 {
                header.clear();
            }
            seen_tx.send(request_line.trim_end().to_string()).unwrap();
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut stream = stream;
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn ip_api_success_is_passed_through_with_its_source() {
    let body = r#"{"status":"success","country":"United States","countryCode":"US","region":"VA","regionName":"Virginia","city":"Ashburn","zip":"20149","lat":39.03,"lon":-77.5,"timezone":"America/New_York","isp":"Google LLC","org":"Google Public DNS","as":"AS15169 Google LLC","query":"8.8.8.8"}"#;
    let (url, seen) = http_endpoint(vec![(200, body.to_string())]);
    let api = IpApi::new(&url, Duration::from_secs(2));
    let reply = api.locate("8.8.8.8".parse().unwrap());
    assert_eq!(
        seen.recv().unwrap(),
        format!("GET /json/8.8.8.8?fields={FIELDS} HTTP/1.1")
    );
    assert_eq!(reply.status, "success");
    assert_eq!(reply.source.as_deref(), Some("ip-api.com"));
    let loc = reply.location.unwrap();
    assert_eq!(
        (loc.region.as_str(), loc.timezone.as_str()),
        ("VA", "America/New_York")
    );
    assert_eq!(loc.org, "Google Public DNS");
}

#[test]
fn ip_api_failures_become_fail_replies() {
    let (url, _seen) = http_endpoint(vec![(429, String::new()), (200, "not json".to_string())]);
    let api = IpApi::new(&url, Duration::from_secs(2));
    let limited = api.locate("8.8.8.8".parse().unwrap());
    assert_eq!(
        limited.message.as_deref(),
        Some("ip-api.com answered HTTP 429")
    );
    let garbled = api.locate("8.8.8.8".parse().unwrap());
    assert!(garbled
        .message
        .unwrap()
        .starts_with("ip-api.com reply is not JSON"));
    // Private addresses are answered without asking.
    let private = api.locate("10.1.2.3".parse().unwrap());
    assert_eq!(private.message.as_deref(), Some("private range"));
}

#[test]
fn ip_api_unreachable_is_a_fail_reply_not_a_hang() {
    let port = TcpListener::bind(common::any_port())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = IpApi::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
    let reply = api.locate("1.1.1.1".parse().unwrap());
    assert_eq!(reply.status, "fail");
    assert!(reply.message.unwrap().starts_with("ip-api.com unreachable"));
}

#[test]
fn the_public_ip_comes_from_the_flag_then_ipify_then_the_fallback() {
    let given = public_ip::resolve(Some([1, 2, 3, 4].into()), "http://unused", Duration::ZERO);
    assert_eq!(
        (given.addr, given.origin),
        ([1, 2, 3, 4].into(), Origin::Given)
    );

    let (url, seen) = http_endpoint(vec![(200, "203.0.113.7\n".into()), (200, "<html>".into())]);
    let asked = public_ip::resolve(None, &url, Duration::from_secs(2));
    assert_eq!(seen.recv().unwrap(), "GET / HTTP/1.1");
    assert_eq!(
        (asked.addr, asked.origin),
        ([203, 0, 113, 7].into(), Origin::Ipify)
    );

    let garbage = public_ip::resolve(None, &url, Duration::from_secs(2));
    assert_eq!(garbage.addr, public_ip::FALLBACK);
    assert!(matches!(garbage.origin, Origin::Fallback(ref why) if why.contains("<html>")));
    assert!(garbage.to_string().contains("pass --public-ip"));
}
