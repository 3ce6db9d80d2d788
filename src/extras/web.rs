//! `cargo run --example client -- --web [ADDR:PORT]`: the original's window (one button, "Click
//! me to get your location!", and a label per field) as a web page that the client serves
//! itself, so that a class can demo it in any browser with no GUI toolkit.
//!
//! The server is the Rust Book's final project put to use: a [`TcpListener`], one thread per
//! connection, a request line parsed by hand, a status line and a body written back, then the
//! connection closed. The page's files are compiled into the binary (`include_str!`), so that
//! the page works offline and loads nothing from anywhere else:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page, `web/index.html` |
//! | `GET /style.css`, `/app.js`, `/favicon.svg` | its style, its script, its icon (`web/`) |
//! | `GET /json` | where am I: the router's answer, asked with [`client::ask`] as `cargo run --example client` asks |
//! | `GET /json/8.8.8.8` | where 8.8.8.8 is, the same way |
//!
//! `/json` answers as ip-api.com does: `200 OK` and one JSON object, whose `"status":"fail"` and
//! `message` say in words why there is no location (the router is down or silent, the address
//! is private, the text is not an address). A request that is not what a browser sends gets a
//! 4xx status and a sentence, and the server goes on serving. Every read is bounded: the request
//! line ([`MAX_REQUEST_LINE`]), the head ([`MAX_HEAD`], [`MAX_HEADERS`]), and the time to send
//! it (`Limits::read_timeout`); past `Limits::max_clients` connections at once a newcomer gets
//! `503`. Ctrl-C stops it as it stops the router (`signal.rs`): the `accept()` is woken, the
//! loop ends, and the connections being served are waited for.

use crate::args::ClientConfig;
use crate::client;
use crate::extras::config::StartError;
use crate::extras::deadline;
use crate::extras::limits::{self, Limits};
use crate::extras::output::Output;
use crate::protocol::Request;
use crate::reply::Reply;
use crate::signal::{Shutdown, DRAIN_LIMIT, HURRIED_EXIT_CODE};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Where `--web` alone serves the page.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
/// Longest request line accepted (`GET /json/... HTTP/1.1`), line end included.
pub const MAX_REQUEST_LINE: usize = 2 * 1024;
/// Longest head accepted: the request line and every header, line ends included. Browsers send
/// the cookies of every program that ever served 127.0.0.1, so it is generous.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header lines accepted.
pub const MAX_HEADERS: usize = 64;
/// After a refusal, the most bytes still read (and dropped) before closing; see [`linger`].
const LINGER_BYTES: u64 = 1024 * 1024;

/// The page's files: path, content type, text.
const FILES: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("web/index.html"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("web/style.css"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("web/app.js"),
    ),
    (
        "/favicon.svg",
        "image/svg+xml",
        include_str!("web/favicon.svg"),
    ),
];

/// The browser loads nothing but this server's own files: a mistake that would fetch a font
/// or a script from elsewhere is blocked, and shows as an error in the browser's console.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// The content type of refusals, which say in a sentence what is wrong.
const TEXT: &str = "text/plain; charset=utf-8";

/// A status line: code and reason.
type Status = (u16, &'static str);
const OK: Status = (200, "OK");
const BAD_REQUEST: Status = (400, "Bad Request");
const NOT_FOUND: Status = (404, "Not Found");
const METHOD_NOT_ALLOWED: Status = (405, "Method Not Allowed");
const REQUEST_TIMEOUT: Status = (408, "Request Timeout");
const URI_TOO_LONG: Status = (414, "URI Too Long");
const HEAD_TOO_LARGE: Status = (431, "Request Header Fields Too Large");
const BUSY: Status = (503, "Service Unavailable");

/// What the page needs: where to listen, and which router to ask.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The router that the page's questions go to.
    pub router: SocketAddr,
    /// Longest wait for the router's whole answer, the queue included (`--timeout-secs`).
    pub timeout: Duration,
    /// `read_timeout` (longest wait for a request's head), `write_timeout`, and `max_clients`
    /// (most connections at once); the other limits are the router's, and unused here.
    pub limits: Limits,
}

impl WebConfig {
    /// A page on `bind` that asks the router at `router`, with the client's defaults.
    pub fn new(bind: SocketAddr, router: SocketAddr) -> WebConfig {
        WebConfig {
            bind,
            router,
            timeout: Duration::from_secs(120),
            limits: Limits::default(),
        }
    }
}

/// The page's server, bound and ready to [`WebPage::run`].
pub struct WebPage {
    listener: TcpListener,
    config: Arc<WebConfig>,
    shutdown: Arc<Shutdown>,
}

/// The client example's `--web`: serves the page on `config.web` until Ctrl-C. Returns the exit
/// code: 0, 130 after a second Ctrl-C, 2 if the address cannot be listened on, 1 if Ctrl-C
/// cannot be watched.
pub fn from_command_line(config: &ClientConfig) -> u8 {
    let bind = config.web.unwrap_or(DEFAULT_ADDR);
    let shutdown = match Shutdown::on_ctrl_c() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("error: client: cannot watch for Ctrl-C: {e}");
            return 1;
        }
    };
    let web = WebConfig {
        timeout: config.timeout,
        ..WebConfig::new(bind, config.router)
    };
    let page = match WebPage::bind(web, Arc::clone(&shutdown)) {
        Ok(page) => page,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let addr = match page.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: client: the page's address: {e}");
            return 2;
        }
    };
    crate::extras::output::print_line(format_args!("open http://{addr}/"));
    crate::extras::output::print_line(format_args!(
        "(the page asks the router at {}; Ctrl-C stops it)",
        config.router
    ));
    page.run();
    if shutdown.was_hurried() {
        HURRIED_EXIT_CODE
    } else {
        0
    }
}

impl WebPage {
    /// Listens on `config.bind`; [`WebPage::run`] then serves until `shutdown` is requested.
    pub fn bind(config: WebConfig, shutdown: Arc<Shutdown>) -> Result<WebPage, StartError> {
        let addr = config.bind;
        let listener = TcpListener::bind(addr)
            .map_err(|e| StartError(format!("client: cannot listen on {addr}: {e}")))?;
        Ok(WebPage {
            listener,
            config: Arc::new(config),
            shutdown,
        })
    }

    /// The address the page is served on (with the port picked, if port 0 was asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves each connection on a thread of its own, named `web-<peer's port>`, until the
    /// stop; then waits for those threads (at most `signal::DRAIN_LIMIT`).
    pub fn run(self) {
        let WebPage {
            listener,
            config,
            shutdown,
        } = self;
        // Registered, so that the stop wakes the `accept()` below (if it has not come already).
        if !listener
            .local_addr()
            .is_ok_and(|local| shutdown.watch_listener(local))
        {
            return;
        }
        loop {
            let accepted = listener.accept();
            if shutdown.is_requested() {
                break;
            }
            let Ok((stream, peer)) =
                accepted.map_err(|e| limits::after_accept_error("web", e, Output::Quiet))
            else {
                continue;
            };
            if shutdown.in_flight() >= config.limits.max_clients {
                turn_away(&stream, &config.limits);
                continue;
            }
            // Counted before the thread exists, so that a stop starting now waits for it.
            let counted = shutdown.enter();
            let config = Arc::clone(&config);
            // The thread for this one connection, as in the Rust Book's web server.
            let spawned = thread::Builder::new()
                .name(format!("web-{}", peer.port()))
                .spawn(move || {
                    let _counted = counted; // Counted out when the thread ends, even in a panic.
                    serve(&stream, &config);
                });
            if let Err(e) = spawned {
                eprintln!("web: no thread for {peer}: {e}; connection dropped");
            }
        }
        drop(listener);
        // Waits (at most DRAIN_LIMIT) for the connections still being served to end.
        shutdown.drain(DRAIN_LIMIT);
    }
}

/// Past `max_clients`: a 503, written by the accepting thread, which cannot wait for the
/// request. What already came of it is read first, without waiting, so that closing is less
/// likely to reset the connection before the browser has read the answer.
fn turn_away(stream: &TcpStream, limits: &Limits) {
    let _ = limits.apply_write_timeout(stream);
    let _ = respond(
        stream,
        BUSY,
        TEXT,
        "too many connections at once; try again in a moment\n",
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
    limits::drop_what_has_arrived(stream, MAX_HEAD as u64);
}

/// One connection: one request, one answer, then the connection is closed.
fn serve(stream: &TcpStream, config: &WebConfig) {
    let _ = config.limits.apply_write_timeout(stream);
    let deadline = Instant::now() + config.limits.read_timeout;
    let request_line = match read_head(stream, deadline) {
        Ok(Some(line)) => line,
        Ok(None) => return, // Closed without a word: a browser's spare connection, or a stop.
        Err((status, why)) => {
            let _ = respond(stream, status, TEXT, &format!("{why}\n"));
            linger(stream);
            return;
        }
    };
    let (status, content_type, body) = answer(&request_line, config);
    let _ = respond(stream, status, content_type, &body);
}

/// Reads a request's head, its request line and headers up to the empty line, and returns the
/// request line; `Ok(None)` if the peer closed without sending anything. The headers are
/// counted and dropped: nothing here needs them.
fn read_head(stream: &TcpStream, deadline: Instant) -> Result<Option<String>, (Status, String)> {
    let reader = BufReader::new(deadline::Reader::new(stream, deadline));
    let mut head = reader.take(MAX_HEAD as u64);
    let (mut request_line, mut headers) = (None, 0);
    loop {
        let mut line = Vec::new();
        if let Err(e) = head.read_until(b'\n', &mut line) {
            let status = if e.kind() == io::ErrorKind::TimedOut {
                REQUEST_TIMEOUT
            } else {
                BAD_REQUEST
            };
            return Err((status, format!("the request did not arrive whole: {e}")));
        }
        if line.last() != Some(&b'\n') {
            // Either the budget is spent, or the peer closed.
            return match (head.limit(), &request_line) {
                (0, None) => Err((
                    URI_TOO_LONG,
                    format!("request line longer than {MAX_REQUEST_LINE} bytes"),
                )),
                (0, Some(_)) => Err((
                    HEAD_TOO_LARGE,
                    format!("request head longer than {MAX_HEAD} bytes"),
                )),
                (_, None) if line.is_empty() => Ok(None),
                _ => Err((
                    BAD_REQUEST,
                    "the request ended before its empty line".into(),
                )),
            };
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        match &request_line {
            // An empty line before the request line is ignored, as HTTP allows.
            None if text.is_empty() => {}
            None if line.len() > MAX_REQUEST_LINE => {
                return Err((
                    URI_TOO_LONG,
                    format!("request line longer than {MAX_REQUEST_LINE} bytes"),
                ))
            }
            None => match String::from_utf8(text.to_vec()) {
                Ok(text) => request_line = Some(text),
                Err(_) => return Err((BAD_REQUEST, "the request line is not UTF-8".into())),
            },
            Some(_) if text.is_empty() => return Ok(request_line),
            Some(_) => {
                headers += 1;
                if headers > MAX_HEADERS {
                    return Err((
                        HEAD_TOO_LARGE,
                        format!("more than {MAX_HEADERS} header lines"),
                    ));
                }
            }
        }
    }
}

/// The answer to a request line: a file of the page, the router's answer, or a refusal.
fn answer(request_line: &str, config: &WebConfig) -> (Status, &'static str, String) {
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (
            BAD_REQUEST,
            TEXT,
            "a request line is `GET /path HTTP/1.1`\n".into(),
        );
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return (
            BAD_REQUEST,
            TEXT,
            "a request line is `GET /path HTTP/1.1`\n".into(),
        );
    }
    if method != "GET" {
        return (
            METHOD_NOT_ALLOWED,
            TEXT,
            format!("{method} is not served here; only GET is\n"),
        );
    }
    // A query string (`/?x=1`) is ignored.
    let path = target.split('?').next().unwrap_or(target);
    let path = if path == "/index.html" { "/" } else { path };
    if let Some((_, content_type, body)) = FILES.iter().find(|(name, ..)| *name == path) {
        return (OK, content_type, (*body).to_string());
    }
    let json = "application/json";
    if path == "/json" {
        return (OK, json, ask_router(Request::MyLocation, config));
    }
    if let Some(address) = path.strip_prefix("/json/") {
        // Answered as ip-api.com answers a query that is not an address.
        let not_an_address = |text: String| to_json(&Reply::fail(text, "invalid query"));
        return match percent_decoded(address).map(|text| Request::parse(&text)) {
            Some(Ok(request)) => (OK, json, ask_router(request, config)),
            Some(Err(text)) => (OK, json, not_an_address(text)),
            None => (OK, json, not_an_address(address.chars().take(64).collect())),
        };
    }
    (
        NOT_FOUND,
        TEXT,
        format!("nothing at {path}; the page is at /\n"),
    )
}

/// Asks the router as the terminal client does; the answer's line as it came, or a `fail`
/// answer whose message says why none came (`cannot reach the router at ...`).
fn ask_router(request: Request, config: &WebConfig) -> String {
    match client::ask(config.router, request, config.timeout, |_| {}) {
        Ok(answer) => answer.raw,
        Err(e) => to_json(&Reply::fail(request.query(), e.to_string())),
    }
}

/// A reply as one JSON object.
fn to_json(reply: &Reply) -> String {
    let broken = r#"{"status":"fail","message":"the answer could not be written as JSON"}"#;
    serde_json::to_string(reply).unwrap_or_else(|_| broken.into())
}

/// `text` with each `%XX` turned back into its byte (`encodeURIComponent` writes an IPv6
/// address's `:` as `%3A`); `None` if an escape is broken or the result is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let (mut bytes, mut rest) = (Vec::with_capacity(text.len()), text.as_bytes());
    while let Some((&first, tail)) = rest.split_first() {
        rest = tail;
        if first != b'%' {
            bytes.push(first);
            continue;
        }
        let hex = rest
            .get(..2)
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))?;
        bytes.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
        rest = &rest[2..];
    }
    String::from_utf8(bytes).ok()
}

/// Writes a whole answer in one write: the status line, the headers and the body.
fn respond(
    mut stream: &TcpStream,
    (code, reason): Status,
    content_type: &str,
    body: &str,
) -> io::Result<()> {
    let allow = if code == METHOD_NOT_ALLOWED.0 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {allow}Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(&[head.as_bytes(), body.as_bytes()].concat())
}

/// After a refusal the rest of the request may still be arriving, and closing a socket with
/// unread bytes resets the connection: the peer could lose the answer before reading it. So
/// the sending side is shut first, and what still comes is read and dropped, at most
/// [`LINGER_BYTES`] for at most a second.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let rest = deadline::Reader::new(stream, Instant::now() + Duration::from_secs(1));
    let _ = io::copy(&mut rest.take(LINGER_BYTES), &mut io::sink());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_decoded_and_broken_ones_refused() {
        assert_eq!(
            percent_decoded("2001%3A4860%3a%3A8888").as_deref(),
            Some("2001:4860::8888")
        );
        assert_eq!(percent_decoded("8.8.8.8").as_deref(), Some("8.8.8.8"));
        assert_eq!(percent_decoded("%20x%20").as_deref(), Some(" x "));
        for broken in ["%", "%3", "%zz", "%+1", "%ff"] {
            assert_eq!(percent_decoded(broken), None, "{broken}");
        }
    }
}
