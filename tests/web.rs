//! The client's web page (`client --web`, src/extras/web.rs) over real TCP, as a browser would
//! use it: the page and its files, the JSON answers, refusals of bad requests, several browsers
//! at once, and the stop. (The page in a real browser: tests/web_browser.rs.)

mod common;

use common::{start_web_page, System};
use geotracker::web::{MAX_HEAD, MAX_HEADERS, MAX_REQUEST_LINE};
use geotracker::{Reply, Request};
use std::io::{Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// One answer as it came: status code, head, body.
struct Answer {
    code: u16,
    head: String,
    body: String,
}

impl Answer {
    /// The value of header `name`.
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then_some(value.trim())
        })
    }

    /// The body as a reply, for `/json`.
    fn reply(&self) -> Reply {
        assert_eq!(self.code, 200, "{}", self.head);
        assert_eq!(self.header("Content-Type"), Some("application/json"));
        Reply::from_json(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `request` as it is, then reads the whole answer (the server closes after it).
fn exchange(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    read_answer(stream)
}

fn read_answer(mut stream: TcpStream) -> Answer {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {text:?}"));
    let code = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .map(str::parse);
    let code = code
        .unwrap_or_else(|| panic!("not a status line: {head}"))
        .unwrap();
    let answer = Answer {
        code,
        head: head.to_string(),
        body: body.to_string(),
    };
    assert_eq!(
        answer.header("Content-Length"),
        Some(body.len().to_string().as_str())
    );
    assert_eq!(answer.header("Connection"), Some("close"));
    answer
}

/// A browser's GET of `path`.
fn get(addr: SocketAddr, path: &str) -> Answer {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n");
    exchange(addr, request.as_bytes())
}

/// Every `src="..."` and `href="..."` value in `html`.
fn links(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            found.push(&rest[..rest.find('"').unwrap()]);
        }
    }
    found
}

#[test]
fn the_page_has_the_button_and_a_field_per_reply_field_and_loads_nothing_from_elsewhere() {
    let (page, shutdown) = start_web_page(common::any_port(), |_| {});
    let index = get(page.addr, "/");
    assert_eq!(index.code, 200);
    assert_eq!(
        index.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        index.header("Content-Security-Policy"),
        Some("default-src 'self'")
    );
    assert_eq!(
        index
            .body
            .matches(">Click me to get your location!</button>")
            .count(),
        1
    );
    for id in common::PAGE_FIELD_IDS {
        assert_eq!(
            index.body.matches(&format!(" id=\"{id}\"")).count(),
            1,
            "id {id}"
        );
    }
    assert_eq!(get(page.addr, "/index.html").body, index.body);
    assert_eq!(get(page.addr, "/?from=bookmark").body, index.body);
    // Everything the page loads is this server's own, and is there.
    let links = links(&index.body);
    assert_eq!(links.len(), 3, "{links:?}");
    for (path, content_type) in [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        assert!(links.contains(&path), "{path} in {links:?}");
        let file = get(page.addr, path);
        assert_eq!(
            (file.code, file.header("Content-Type")),
            (200, Some(content_type))
        );
        assert!(file.body.len() > 100, "{path}");
        if path != "/favicon.svg" {
            // (The icon names its XML namespace, which is not a download.)
            for elsewhere in ["http:", "https:", "//", "@import"] {
                let code = file.body.replace("// ", "").replace("//\n", "");
                assert!(!code.contains(elsewhere), "{path} has {elsewhere}");
            }
        }
    }
    assert!(!index.body.contains("http:") && !index.body.contains("https:"));
    let script = get(page.addr, "/app.js").body;
    for id in common::PAGE_FIELD_IDS {
        assert!(script.contains(&format!("\"{id}\"")), "app.js fills {id}");
    }
    shutdown.request();
    page.join().unwrap();
}

/// `reply` without the router's part, which names the slot that served it.
fn without_router(mut reply: Reply) -> Reply {
    reply.router = None;
    reply
}

#[test]
fn json_answers_what_the_terminal_client_gets() {
    let system = System::start(Duration::ZERO);
    let (page, shutdown) = start_web_page(system.router_addr, |_| {});
    let mine = get(page.addr, "/json").reply();
    assert_eq!(
        (mine.status.as_str(), mine.query.as_str()),
        ("success", "117.222.175.180")
    );
    let served = mine
        .router
        .clone()
        .expect("the router says which slot served it");
    assert!(
        system
            .server_addrs
            .iter()
            .any(|s| s.to_string() == served.server),
        "{served:?}"
    );
    let terminal = |ip: &str| system.ask(Request::parse(ip).unwrap()).reply;
    assert_eq!(
        without_router(mine.clone()),
        without_router(terminal(&mine.query))
    );
    for (path, ip) in [
        ("/json/8.8.8.8", "8.8.8.8"),
        ("/json/2001%3A4860%3A4860%3A%3A8888", "2001:4860:4860::8888"),
        ("/json/%208.8.4.4%20", "8.8.4.4"),
        ("/json/10.0.0.1", "10.0.0.1"),
    ] {
        let reply = get(page.addr, path).reply();
        assert_eq!(
            without_router(reply.clone()),
            without_router(terminal(ip)),
            "{path}"
        );
        assert_eq!(reply.query, ip);
    }
    assert_eq!(
        get(page.addr, "/json/8.8.8.8")
            .reply()
            .location
            .unwrap()
            .country_code,
        "US"
    );
    let private = get(page.addr, "/json/10.0.0.1").reply();
    assert_eq!(
        (private.status.as_str(), private.message.as_deref()),
        ("fail", Some("private range"))
    );
    for (path, query) in [
        ("/json/not-an-address", "not-an-address"),
        ("/json/%zz", "%zz"),
    ] {
        let reply = get(page.addr, path).reply();
        assert_eq!(reply, Reply::fail(query, "invalid query"), "{path}");
    }
    shutdown.request();
    page.join().unwrap();
    let (router, _) = system.stop();
    // /json and its terminal twin, four paths and their twins, then 8.8.8.8 and 10.0.0.1 again;
    // the two that are not addresses are answered by the page itself.
    assert_eq!(
        router.table.len(),
        1 + 1 + 4 * 2 + 2,
        "each lookup went through the router once"
    );
}

#[test]
fn a_router_that_is_down_or_silent_is_said_in_words() {
    let down = TcpListener::bind(common::any_port())
        .unwrap()
        .local_addr()
        .unwrap();
    let (page, shutdown) = start_web_page(down, |_| {});
    let reply = get(page.addr, "/json").reply();
    assert_eq!(reply.status, "fail");
    let message = reply.message.unwrap();
    let expected =
        format!("cannot reach the router at {down} (is `cargo run --example router` running?): ");
    assert!(message.starts_with(&expected), "{message}");
    shutdown.request();
    page.join().unwrap();

    // A router that takes the connection and never answers.
    let silent = TcpListener::bind(common::any_port()).unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let (page, shutdown) = start_web_page(silent_addr, |config| {
        config.timeout = Duration::from_millis(500)
    });
    let reply = get(page.addr, "/json/8.8.8.8").reply();
    assert_eq!(reply.status, "fail");
    assert_eq!(reply.query, "8.8.8.8");
    let message = reply.message.unwrap();
    assert_eq!(
        message,
        "no answer from the router: timed out waiting for a line"
    );
    drop(silent);
    shutdown.request();
    page.join().unwrap();
}

#[test]
fn bad_or_oversized_requests_get_a_4xx_and_the_page_is_still_served() {
    let (page, shutdown) = start_web_page(common::any_port(), |config| {
        config.limits.read_timeout = Duration::from_millis(500)
    });
    let many_headers: String = (0..=MAX_HEADERS)
        .map(|i| format!("X-{i}: {i}\r\n"))
        .collect();
    let big_header = format!("Cookie: {}\r\n", "c".repeat(MAX_HEAD));
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (b"garbage\r\n\r\n".to_vec(), 400),
        (b"GET /\r\n\r\n".to_vec(), 400),
        (b"GET / HTTP/2.0\r\n\r\n".to_vec(), 400),
        (b"GET  / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET http://elsewhere/ HTTP/1.1\r\n\r\n".to_vec(), 400),
        (b"GET /\xff\xfe HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            b"POST /json HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
            405,
        ),
        (b"HEAD / HTTP/1.1\r\n\r\n".to_vec(), 405),
        (b"GET /nowhere HTTP/1.1\r\n\r\n".to_vec(), 404),
        (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n".to_vec(), 404),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_REQUEST_LINE)).into_bytes(),
            414,
        ),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD * 4)).into_bytes(),
            414,
        ),
        (
            format!("GET / HTTP/1.1\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        (
            format!("GET / HTTP/1.1\r\n{big_header}\r\n").into_bytes(),
            431,
        ),
    ];
    for (request, code) in &cases {
        let answer = exchange(page.addr, request);
        let shown = String::from_utf8_lossy(&request[..request.len().min(40)]).into_owned();
        assert_eq!(answer.code, *code, "{shown:?}: {}", answer.head);
        assert!(answer.body.len() > 10, "a refusal says why: {shown:?}");
        if *code == 405 {
            assert_eq!(answer.header("Allow"), Some("GET"));
        }
    }
    // A request that ends before its empty line, and one that never ends.
    let mut cut = TcpStream::connect(page.addr).unwrap();
    cut.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    cut.shutdown(Direction::Write).unwrap();
    assert_eq!(read_answer(cut).code, 400);
    let slow = TcpStream::connect(page.addr).unwrap();
    (&slow).write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let answer = read_answer(slow);
    assert_eq!(answer.code, 408, "{}", answer.body);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the read timeout is 0.5 s"
    );
    // A connection that closes at once gets nothing, and the page is still served.
    drop(TcpStream::connect(page.addr).unwrap());
    assert_eq!(get(page.addr, "/").code, 200);
    shutdown.request();
    page.join().unwrap();
}

#[test]
fn several_browsers_at_once_are_each_served_on_a_thread_of_their_own() {
    let system = System::start(Duration::ZERO);
    let (page, shutdown) = start_web_page(system.router_addr, |config| {
        config.limits.read_timeout = Duration::from_secs(60)
    });
    // A connection that sends nothing holds its thread for up to 60 s; the others go on.
    let idle = TcpStream::connect(page.addr).unwrap();
    let browsers = 12;
    let start = Arc::new(Barrier::new(browsers));
    let (done, answers) = mpsc::channel();
    for k in 0..browsers {
        let (start, done) = (Arc::clone(&start), done.clone());
        // One browser: it loads the page and asks, together with the others.
        thread::spawn(move || {
            start.wait();
            let path = if k % 2 == 0 { "/json" } else { "/json/8.8.8.8" };
            let _ = done.send((k, get(page.addr, "/").code, get(page.addr, path).reply()));
        });
    }
    drop(done);
    let mut turns = Vec::new();
    for _ in 0..browsers {
        let (k, page_code, reply) = answers
            .recv_timeout(Duration::from_secs(30))
            .expect("every browser is answered");
        assert_eq!(
            (page_code, reply.status.as_str()),
            (200, "success"),
            "browser {k}"
        );
        if k % 2 == 1 {
            assert_eq!(reply.query, "8.8.8.8");
        }
        turns.push(reply.router.unwrap().turn);
    }
    turns.sort();
    assert_eq!(
        turns,
        (1..=browsers as u64).collect::<Vec<_>>(),
        "one router turn each"
    );
    drop(idle);
    shutdown.request();
    page.join().unwrap();
    system.stop();
}

#[test]
fn past_max_clients_a_newcomer_is_told_503_at_once() {
    let (page, shutdown) = start_web_page(common::any_port(), |config| {
        config.limits.max_clients = 2;
        config.limits.read_timeout = Duration::from_secs(60);
    });
    // Accepted in order, each counted before the next accept: the third is one too many.
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(page.addr).unwrap())
        .collect();
    // Told before it sends its request: the accepting thread does not wait for one.
    let third = read_answer(TcpStream::connect(page.addr).unwrap());
    assert_eq!(third.code, 503, "{}", third.body);
    drop(held);
    shutdown.request();
    page.join().unwrap();
}

#[test]
fn a_stop_ends_the_page_and_closes_its_port() {
    let (page, shutdown) = start_web_page(common::any_port(), |_| {});
    let addr = page.addr;
    assert_eq!(get(addr, "/").code, 200);
    let (stopped, stop) = mpsc::channel();
    // Joins the page's thread, so that the test can wait for it with a time limit.
    thread::spawn(move || {
        shutdown.request();
        let _ = stopped.send(page.join().is_ok());
    });
    assert_eq!(
        stop.recv_timeout(Duration::from_secs(10)),
        Ok(true),
        "run() returns after a stop"
    );
    assert!(TcpStream::connect(addr).is_err(), "nobody listens any more");
}

/// `client --web` as a program: it prints where to open the page, serves it, and stops with
/// exit code 0 at Ctrl-C (Unix: SIGINT is sent with `kill`).
#[cfg(unix)]
#[test]
fn the_client_example_prints_the_address_serves_the_page_and_stops_at_ctrl_c() {
    use geotracker::client;
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let system = System::start(Duration::ZERO);
    let mut child = Command::new(common::example("client"))
        .args([
            "--web",
            "127.0.0.1:0",
            "--router",
            &system.router_addr.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("open http://")
        .and_then(|rest| rest.strip_suffix('/'));
    let addr: SocketAddr = url.unwrap_or_else(|| panic!("{first}")).parse().unwrap();
    assert_ne!(addr.port(), 0, "the port picked is printed");
    let reply = get(addr, "/json/8.8.8.8").reply();
    let terminal = client::ask(
        system.router_addr,
        Request::parse("8.8.8.8").unwrap(),
        common::CLIENT_TIMEOUT,
        |_| {},
    );
    assert_eq!(
        without_router(reply),
        without_router(terminal.unwrap().reply)
    );
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (exited, exit) = mpsc::channel();
    // `wait` has no timeout, so it runs here and the test waits on a channel.
    thread::spawn(move || {
        let _ = exited.send(child.wait().map(|status| status.code()));
    });
    let code = exit
        .recv_timeout(Duration::from_secs(10))
        .expect("it stops at Ctrl-C");
    assert_eq!(code.unwrap(), Some(0));
    system.stop();
}
