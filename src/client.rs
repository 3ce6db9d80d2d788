//! The client: asks the router and shows the answer.
//!
//! The original client was a Tk window with one button, "Click me to get your location!". A
//! click connected to the router, read one `recv(1024)`, picked the fields out of the text by
//! splitting it at commas and colons, and set one label per field. [`ask`] does the exchange
//! (past a queue notice, and up to the newline however long the answer is); [`details`] prints
//! the same labels in a terminal.

use crate::protocol::{LineReader, QueuedNotice, Request, MAX_REPLY_LINE};
use crate::reply::Reply;
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
    let context =
        |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let started = Instant::now();
    let unreachable =
        format!("cannot reach the router at {router} (is `cargo run --example router` running?)");
    let stream = TcpStream::connect_timeout(&router, timeout).map_err(context(unreachable))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(context("cannot send the request".into()))?;
    let sent = (&stream).write_all(request.to_line().as_bytes());
    sent.map_err(context("cannot send the request".into()))?;
    let mut lines = LineReader::until(&stream, started + timeout);
    let mut queued_at = None;
    loop {
        let line = lines
            .read_line(MAX_REPLY_LINE)
            .map_err(context("no answer from the router".into()))?;
        if let Some(notice) = QueuedNotice::from_line(&line) {
            queued_at = Some(notice.position);
            on_queued(notice.position);
            continue;
        }
        let not_an_answer = context(format!("not an answer: {line:?}"));
        let reply = Reply::from_json(&line).map_err(|e| not_an_answer(e.into()))?;
        return Ok(Answer {
            reply,
            raw: line,
            queued_at,
            elapsed: started.elapsed(),
        });
    }
}

/// The answer as the original window showed it, a label per field; then which slot served
/// the client, and how long it waited.
pub fn details(answer: &Answer) -> String {
    let r = &answer.reply;
    let mut out = format!(
        "Getting details for IP: {}....\n--DETAILS--\nStatus : {}\n",
        r.query, r.status
    );
    if let Some(message) = &r.message {
        let _ = writeln!(out, "Message : {message}");
    }
    if let Some(l) = &r.location {
        let coordinate = |c: Option<f64>| c.map(|v| v.to_string()).unwrap_or_default();
        let (lat, lon) = (coordinate(l.lat), coordinate(l.lon));
        for (label, value) in [
            ("Country", &l.country),
            ("CountryCode", &l.country_code),
            ("Region", &l.region),
            ("RegionName", &l.region_name),
            ("City", &l.city),
            ("Zip", &l.zip),
            ("LAT", &lat),
            ("LON", &lon),
            ("Timezone", &l.timezone),
            ("ISP", &l.isp),
            ("AS", &l.asn),
        ] {
            let _ = writeln!(out, "{label} : {value}");
        }
    }
    if let Some(source) = &r.source {
        let _ = writeln!(out, "Source : {source}");
    }
    if let Some(s) = &r.router {
        let _ = writeln!(out, "Served by : slot {} (server {})", s.slot, s.server);
        let _ = match answer.queued_at {
            Some(at) => {
                writeln!(
                    out,
                    "Waited for a slot : {} ms, number {at} in the queue",
                    s.waited_ms
                )
            }
            None => writeln!(
                out,
                "Waited for a slot : {} ms, a slot was free",
                s.waited_ms
            ),
        };
    }
    out
}
