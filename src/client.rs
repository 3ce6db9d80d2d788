//! The client: asks the router and shows the answer.
//!
//! The original client was a Tk window with one button, "Click me to get your location!". A
//! click connected to the router, read one `recv(1024)`, picked the fields out of the text by
//! splitting it at commas and colons, and set one label per field. [`ask`] does the exchange
//! (past a queue notice, and up to the newline however long the answer is); [`details`] prints
//! the same labels in a terminal.

use crate::protocol::{LineReader, QueuedNotice, Request, MAX_REPLY_LINE};
use crate::reply::{Location, Reply};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One answer, and what the client saw on the way.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer.
    pub reply: Reply,
    /// The answer's line exactly as it came.
    pub raw: String,
    /// The place in the queue the router gave, if the client had to wait.
    pub queued_at: Option<usize>,
    /// From connecting to having the whole answer.
    pub elapsed: Duration,
}

/// Asks the router at `router` and waits for the answer, at most `timeout` for the whole
/// exchange, the queue included. `on_queued(position)` is called if the client must wait. The
/// error says what failed: `cannot reach the router at ...`, `no answer from the router: ...`.
pub fn ask(
    router: SocketAddr,
    request: Request,
    timeout: Duration,
    mut on_queued: impl FnMut(usize),
) -> io::Result<Answer> {
    let started = Instant::now();
    let stream = connect(router, timeout)?;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| (&stream).write_all(request.to_line().as_bytes()))
        .map_err(|e| context("cannot send the request", e))?;
    let mut lines = LineReader::until(&stream, started + timeout);
    let mut queued_at = None;
    loop {
        let line = lines
            .read_line(MAX_REPLY_LINE)
            .map_err(|e| context("no answer from the router", e))?;
        // A notice of the client's place in the queue: the answer comes after it.
        if let Some(notice) = QueuedNotice::from_line(&line) {
            queued_at = Some(notice.position);
            on_queued(notice.position);
            continue;
        }
        let reply = Reply::from_json(&line)
            .map_err(|e| context(&format!("not an answer: {line:?}"), e.into()))?;
        return Ok(Answer {
            reply,
            raw: line,
            queued_at,
            elapsed: started.elapsed(),
        });
    }
}

/// Connects to the router, or says that it cannot be reached, and why.
fn connect(router: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    TcpStream::connect_timeout(&router, timeout).map_err(|e| {
        let hint = "is `cargo run --example router` running?";
        context(&format!("cannot reach the router at {router} ({hint})"), e)
    })
}

/// `e`, with what was being done when it happened in front of its message.
fn context(doing: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{doing}: {e}"))
}

/// The answer as the original window showed it, a label per field; then which slot served
/// the client, and how long it waited.
pub fn details(answer: &Answer) -> String {
    let reply = &answer.reply;
    let mut out = format!(
        "Getting details for IP: {}....\n--DETAILS--\nStatus : {}\n",
        reply.query, reply.status
    );
    if let Some(message) = &reply.message {
        let _ = writeln!(out, "Message : {message}");
    }
    if let Some(location) = &reply.location {
        for (label, value) in labels(location) {
            let _ = writeln!(out, "{label} : {value}");
        }
    }
    if let Some(source) = &reply.source {
        let _ = writeln!(out, "Source : {source}");
    }
    if let Some(served) = &reply.router {
        let _ = writeln!(
            out,
            "Served by : slot {} (server {})",
            served.slot, served.server
        );
        let how = match answer.queued_at {
            Some(at) => format!("number {at} in the queue"),
            None => "a slot was free".to_string(),
        };
        let _ = writeln!(out, "Waited for a slot : {} ms, {how}", served.waited_ms);
    }
    out
}

/// The original window's labels, each with its field of `location`.
fn labels(location: &Location) -> [(&'static str, String); 11] {
    let coordinate = |c: Option<f64>| c.map(|v| v.to_string()).unwrap_or_default();
    [
        ("Country", location.country.clone()),
        ("CountryCode", location.country_code.clone()),
        ("Region", location.region.clone()),
        ("RegionName", location.region_name.clone()),
        ("City", location.city.clone()),
        ("Zip", location.zip.clone()),
        ("LAT", coordinate(location.lat)),
        ("LON", coordinate(location.lon)),
        ("Timezone", location.timezone.clone()),
        ("ISP", location.isp.clone()),
        ("AS", location.asn.clone()),
    ]
}
