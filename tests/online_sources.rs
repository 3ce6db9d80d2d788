//! ip-api.com, `--geo auto` and ipify, each against a local HTTP endpoint started by the test:
//! no test reaches the Internet. The endpoint reports every request it receives, so the tests
//! count what was sent, not only what came back.

mod common;

use geotracker::geo::public_ip::{self, Origin};
use geotracker::geo::Auto;
use geotracker::geo::Geolocator;
use geotracker::geo::{IpApi, IpApiConfig, IP_API_FIELDS as FIELDS};
use geotracker::geo::{MmdbGeolocator, BUNDLED_NAME};
use geotracker::Reply;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// One answer of the local endpoint.
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// How long the endpoint waits before answering (a slow service).
    delay: Duration,
}

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

impl Answer {
    fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// A local HTTP endpoint that gives each of `answers` in turn, one per connection, and sends
/// the request line of each request it receives to the returned channel before answering it.
fn http_endpoint(answers: Vec<Answer>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind(common::any_port()).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::channel();
    // The endpoint's accept loop; it ends (and the port closes) after the last answer.
    thread::spawn(move || {
        for answer in answers {
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
            thread::sleep(answer.delay);
            let mut response = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n",
                answer.status,
                answer.body.len()
            );
            for (name, value) in &answer.headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            response.push_str(&answer.body);
            let mut stream = stream;
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("http://{addr}"), seen)
}

/// How many requests the endpoint has received so far. Exact once the calls have returned:
/// the endpoint reports a request before it answers it.
fn requests(seen: &mpsc::Receiver<String>) -> usize {
    seen.try_iter().count()
}

fn config(url: &str) -> IpApiConfig {
    IpApiConfig {
        url: url.to_string(),
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        ..IpApiConfig::default()
    }
}

/// An address nothing listens on: bound, then closed.
fn refused_url() -> String {
    let port = TcpListener::bind(common::any_port())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

const ASHBURN: &str = r#"{"status":"success","country":"United States","countryCode":"US","region":"VA","regionName":"Virginia","city":"Ashburn","zip":"20149","lat":39.03,"lon":-77.5,"timezone":"America/New_York","isp":"Google LLC","org":"Google Public DNS","as":"AS15169 Google LLC","query":"8.8.8.8"}"#;

fn ip(text: &str) -> std::net::IpAddr {
    text.parse().unwrap()
}

#[test]
fn ip_api_success_asks_only_for_our_fields_and_is_passed_through() {
    let (url, seen) = http_endpoint(vec![answer(200, ASHBURN)
        .header("X-Rl", "44")
        .header("X-Ttl", "60")]);
    let api = IpApi::new(&config(&url));
    let reply = api.locate(ip("8.8.8.8"));
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
    assert_eq!(
        (loc.org.as_str(), loc.lat),
        ("Google Public DNS", Some(39.03))
    );
}

#[test]
fn ip_api_fail_answers_are_passed_through_and_private_addresses_are_not_sent() {
    let body = r#"{"status":"fail","message":"private range","query":"8.8.4.4"}"#;
    let (url, seen) = http_endpoint(vec![answer(200, body)]);
    let api = IpApi::new(&config(&url));
    let reply = api.locate(ip("8.8.4.4"));
    assert_eq!(reply.status, "fail");
    assert_eq!(reply.message.as_deref(), Some("private range"));
    assert_eq!(reply.query, "8.8.4.4");
    assert_eq!(reply.source.as_deref(), Some("ip-api.com"));
    // Private and reserved addresses are answered here, as ip-api.com would, without asking.
    let private = api.locate(ip("10.1.2.3"));
    assert_eq!(private, Reply::fail("10.1.2.3", "private range"));
    assert_eq!(requests(&seen), 1);
}

#[test]
fn a_429_pauses_all_requests_until_x_ttl_has_passed() {
    let (url, seen) = http_endpoint(vec![
        answer(429, "").header("X-Rl", "0").header("X-Ttl", "30"),
        answer(200, ASHBURN),
    ]);
    let api = IpApi::new(&config(&url));
    let limited = api.locate(ip("8.8.8.8"));
    assert_eq!(
        limited,
        Reply::fail("8.8.8.8", "rate limited by ip-api.com; retry in 30 s")
    );
    // Another address, at once: answered without a request.
    let started = Instant::now();
    let again = api.locate(ip("1.1.1.1"));
    assert!(started.elapsed() < Duration::from_secs(1));
    let message = again.message.unwrap();
    assert!(
        message == "rate limited by ip-api.com; retry in 30 s"
            || message == "rate limited by ip-api.com; retry in 29 s",
        "{message}"
    );
    assert_eq!(requests(&seen), 1, "nothing is sent while paused");
}

#[test]
fn the_last_request_of_the_window_is_answered_and_the_next_one_waits() {
    let (url, seen) = http_endpoint(vec![
        answer(200, ASHBURN)
            .header("X-Rl", "0")
            .header("X-Ttl", "20"),
        answer(200, ASHBURN),
    ]);
    let api = IpApi::new(&config(&url));
    assert!(api.locate(ip("8.8.8.8")).is_success());
    let next = api.locate(ip("9.9.9.9"));
    let message = next.message.unwrap();
    assert!(
        message.starts_with("rate limited by ip-api.com; retry in "),
        "{message}"
    );
    // The answer already given is still served from the cache.
    assert!(api.locate(ip("8.8.8.8")).is_success());
    assert_eq!(requests(&seen), 1);
}

#[test]
fn a_slow_endpoint_gives_a_fail_reply_within_the_timeout() {
    let mut slow = answer(200, ASHBURN);
    slow.delay = Duration::from_secs(5);
    let (url, seen) = http_endpoint(vec![slow]);
    let api = IpApi::new(&IpApiConfig {
        read_timeout: Duration::from_millis(300),
        ..config(&url)
    });
    let started = Instant::now();
    let reply = api.locate(ip("8.8.8.8"));
    let took = started.elapsed();
    assert_eq!(reply.status, "fail");
    let message = reply.message.unwrap();
    assert!(message.starts_with("ip-api.com unreachable"), "{message}");
    assert!(message.contains("timeout"), "{message}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(requests(&seen), 1);
}

#[test]
fn malformed_answers_and_http_errors_become_fail_replies() {
    let (url, _seen) = http_endpoint(vec![
        answer(200, "not json"),
        answer(200, r#"{"status":"maybe"}"#),
        answer(503, "busy"),
    ]);
    let api = IpApi::new(&config(&url));
    let garbled = api.locate(ip("8.8.8.8")).message.unwrap();
    assert!(
        garbled.starts_with("ip-api.com reply is not JSON"),
        "{garbled}"
    );
    let odd = api.locate(ip("8.8.8.8")).message.unwrap();
    assert_eq!(odd, "ip-api.com reply has status \"maybe\"");
    let busy = api.locate(ip("8.8.8.8")).message.unwrap();
    assert_eq!(busy, "ip-api.com answered HTTP 503");
}

#[test]
fn connection_refused_is_a_fail_reply_not_a_hang() {
    let api = IpApi::new(&config(&refused_url()));
    let reply = api.locate(ip("1.1.1.1"));
    assert_eq!(reply.status, "fail");
    let message = reply.message.unwrap();
    assert!(message.starts_with("ip-api.com unreachable"), "{message}");
}

#[test]
fn a_class_asking_at_once_for_one_address_costs_one_request() {
    let mut slow = answer(200, ASHBURN);
    // Slow enough that the other threads arrive while the first request is in flight.
    slow.delay = Duration::from_millis(300);
    let (url, seen) = http_endpoint(vec![slow, answer(200, ASHBURN)]);
    let api = Arc::new(IpApi::new(&config(&url)));
    let students = 16;
    let start = Arc::new(Barrier::new(students));
    let threads: Vec<_> = (0..students)
        .map(|_| {
            let (api, start) = (Arc::clone(&api), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                api.locate(ip("8.8.8.8"))
            })
        })
        .collect();
    for t in threads {
        let reply = t.join().unwrap();
        assert!(reply.is_success(), "{reply:?}");
        assert_eq!(reply.location.unwrap().city, "Ashburn");
    }
    assert_eq!(requests(&seen), 1);
    assert_eq!(api.cached(), 1);
}

#[test]
fn the_cache_is_bounded_and_can_be_turned_off() {
    let answers = (0..6).map(|_| answer(200, ASHBURN)).collect();
    let (url, seen) = http_endpoint(answers);
    let api = IpApi::new(&IpApiConfig {
        cache_size: 2,
        ..config(&url)
    });
    for a in ["8.8.8.8", "8.8.4.4", "1.1.1.1"] {
        assert!(api.locate(ip(a)).is_success());
    }
    assert_eq!((requests(&seen), api.cached()), (3, 2));
    // 8.8.8.8 was the oldest, so it was dropped; 1.1.1.1 is still kept.
    assert!(api.locate(ip("8.8.8.8")).is_success());
    assert!(api.locate(ip("1.1.1.1")).is_success());
    assert_eq!((requests(&seen), api.cached()), (1, 2));

    let (url, seen) = http_endpoint(vec![answer(200, ASHBURN), answer(200, ASHBURN)]);
    let uncached = IpApi::new(&IpApiConfig {
        cache_ttl: Duration::ZERO,
        ..config(&url)
    });
    assert!(uncached.locate(ip("8.8.8.8")).is_success());
    assert!(uncached.locate(ip("8.8.8.8")).is_success());
    assert_eq!((requests(&seen), uncached.cached()), (2, 0));
}

#[test]
fn failures_are_not_cached() {
    let (url, seen) = http_endpoint(vec![answer(503, ""), answer(200, ASHBURN)]);
    let api = IpApi::new(&config(&url));
    assert_eq!(api.locate(ip("8.8.8.8")).status, "fail");
    assert!(api.locate(ip("8.8.8.8")).is_success());
    assert_eq!(requests(&seen), 2);
}

#[test]
fn auto_answers_from_ip_api_when_it_can_and_from_the_database_when_it_cannot() {
    let local = || MmdbGeolocator::bundled().unwrap();
    let (url, _seen) = http_endpoint(vec![answer(200, ASHBURN)]);
    let online = Auto::new(IpApi::new(&config(&url)), local());
    let reply = online.locate(ip("8.8.8.8"));
    assert_eq!(reply.source.as_deref(), Some("ip-api.com"));
    assert_eq!(reply.location.unwrap().region, "VA");

    let offline = Auto::new(IpApi::new(&config(&refused_url())), local());
    let reply = offline.locate(ip("117.222.175.180"));
    assert_eq!(reply.source.as_deref(), Some(BUNDLED_NAME));
    assert_eq!(reply.location.unwrap().city, "Bengaluru");

    let (url, seen) = http_endpoint(vec![answer(429, "").header("X-Ttl", "60")]);
    let limited = Auto::new(IpApi::new(&config(&url)), local());
    for _ in 0..3 {
        let reply = limited.locate(ip("117.222.175.180"));
        assert_eq!(reply.source.as_deref(), Some(BUNDLED_NAME));
    }
    assert_eq!(
        requests(&seen),
        1,
        "rate limited: asked once, then not at all"
    );
    assert!(limited.name().contains("falling back to dbip-lite-sample"));
}

#[test]
fn the_public_ip_comes_from_the_flag_then_ipify_then_the_fallback() {
    let given = public_ip::resolve_with(Some([1, 2, 3, 4].into()), "http://unused", Duration::ZERO);
    assert_eq!(
        (given.addr, given.origin),
        ([1, 2, 3, 4].into(), Origin::Given)
    );

    let (url, seen) = http_endpoint(vec![answer(200, "203.0.113.7\n"), answer(200, "<html>")]);
    let asked = public_ip::resolve_with(None, &url, Duration::from_secs(2));
    assert_eq!(seen.recv().unwrap(), "GET / HTTP/1.1");
    assert_eq!(
        (asked.addr, asked.origin),
        ([203, 0, 113, 7].into(), Origin::Ipify)
    );

    let garbage = public_ip::resolve_with(None, &url, Duration::from_secs(2));
    assert_eq!(garbage.addr, public_ip::FALLBACK);
    assert!(matches!(garbage.origin, Origin::Fallback(ref why) if why.contains("<html>")));
    assert!(garbage.to_string().contains("pass --public-ip"));

    let started = Instant::now();
    let offline = public_ip::resolve_with(None, &refused_url(), Duration::from_secs(2));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(offline.addr, public_ip::FALLBACK);
}
