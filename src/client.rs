//! The client: asks the router and shows the answer.
//!
//! The original client was a Tk window with one button, "Click me to get your location!". A
//! click connected to the router, read one `recv(1024)`, picked the fields out of the text by
//! splitting on commas and colons, and set one label per field. [`ask`] does the exchange with
//! the full protocol (it reads past a queue notice and up to the newline, however long the
//! reply), and [`details`] prints the same labels in a terminal.

use crate::protocol::{LineError, LineReader, QueuedNotice, Request, Timeouts, MAX_REPLY_LINE};
use crate::reply::Reply;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The router the client asks unless told otherwise.
pub const DEFAULT_ROUTER: &str = "127.0.0.1:9020";

/// One answer, with what the client saw on the way.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The parsed reply.
    pub reply: Reply,
    /// The reply line exactly as received.
    pub raw: String,
    /// The place in the queue the router reported, if the client had to wait.
    pub queued_at: Option<usize>,
    /// From connecting to having the whole reply.
    pub elapsed: Duration,
    /// The client's own address on this connection: what the router's table records.
    pub local_addr: Option<SocketAddr>,
}

/// Why no answer came.
#[derive(Debug)]
pub enum ClientError {
    /// The router could not be reached.
    Connect(SocketAddr, io::Error),
    /// The request could not be sent.
    Send(io::Error),
    /// No complete reply line arrived.
    Receive(LineError),
    /// A line arrived that is not a reply.
    BadReply(String, serde_json::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(addr, e) => write!(
                f,
                "cannot reach the router at {addr}: {e} (is `cargo run --example router` running?)"
            ),
            ClientError::Send(e) => write!(f, "cannot send the request: {e}"),
            ClientError::Receive(e) => write!(f, "no answer from the router: {e}"),
            ClientError::BadReply(line, e) => write!(f, "not a reply ({e}): {line:?}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Asks the router at `router` and waits for the answer. `on_queued(position)` is called if
/// the router says the client has to wait.
pub fn ask(
    router: SocketAddr,
    request: Request,
    timeouts: &Timeouts,
    mut on_queued: impl FnMut(usize),
) -> Result<Answer, ClientError> {
    let started = Instant::now();
    let mut stream = timeouts
        .connect(router)
        .map_err(|e| ClientError::Connect(router, e))?;
    stream
        .write_all(request.to_line().as_bytes())
        .map_err(ClientError::Send)?;
    let mut reader = LineReader::new(&stream);
    let mut queued_at = None;
    loop {
        let line = reader
            .read_line(MAX_REPLY_LINE)
            .map_err(ClientError::Receive)?;
        if let Some(notice) = QueuedNotice::from_line(&line) {
            queued_at = Some(notice.position);
            on_queued(notice.position);
            continue;
        }
        let reply = Reply::from_json(&line).map_err(|e| ClientError::BadReply(line.clone(), e))?;
        return Ok(Answer {
            reply,
            raw: line,
            queued_at,
            elapsed: started.elapsed(),
            local_addr: stream.local_addr().ok(),
        });
    }
}

/// The answer as the original window showed it: one label per field, then which slot served
/// the client and how long it waited.
pub fn details(answer: &Answer) -> String {
    let r = &answer.reply;
    let mut out = String::new();
    let _ = writeln!(out, "Getting details for IP: {}....", r.query);
    let _ = writeln!(out, "--DETAILS--");
    let _ = writeln!(out, "Status : {}", r.status);
    if let Some(message) = &r.message {
        let _ = writeln!(out, "Message : {message}");
    }
    if let Some(l) = &r.location {
        let coord = |c: Option<f64>| c.map(|v| v.to_string()).unwrap_or_default();
        for (label, value) in [
            ("Country", l.country.clone()),
            ("CountryCode", l.country_code.clone()),
            ("Region", l.region.clone()),
            ("RegionName", l.region_name.clone()),
            ("City", l.city.clone()),
            ("Zip", l.zip.clone()),
            ("LAT", coord(l.lat)),
            ("LON", coord(l.lon)),
            ("Timezone", l.timezone.clone()),
            ("ISP", l.isp.clone()),
            ("AS", l.asn.clone()),
        ] {
            let _ = writeln!(out, "{label} : {value}");
        }
    }
    if let Some(source) = &r.source {
        let _ = writeln!(out, "Source : {source}");
    }
    if let Some(s) = &r.router {
        let _ = writeln!(out, "Served by : slot {} (server {})", s.slot, s.server);
        let waited = match answer.queued_at {
            Some(position) => format!("{} ms, number {position} in the queue", s.waited_ms),
            None => format!("{} ms, a slot was free", s.waited_ms),
        };
        let _ = writeln!(out, "Waited for a slot : {waited}");
    }
    out
}

/// The heading of [`row`]'s table.
pub fn row_header() -> String {
    format!(
        "{:>6}  {:<7}  {:>4}  {:>5}  {:>9}  {:>8}  {:<15}  {}",
        "client", "status", "slot", "queue", "waited_ms", "total_ms", "query", "place"
    )
}

/// One line per client for `--clients N`.
pub fn row(client: usize, answer: &Answer) -> String {
    let r = &answer.reply;
    let (slot, waited) = match &r.router {
        Some(s) => (s.slot.to_string(), s.waited_ms.to_string()),
        None => ("-".into(), "-".into()),
    };
    let queue = answer.queued_at.map_or("-".to_string(), |p| p.to_string());
    let place = match (&r.location, &r.message) {
        (Some(l), _) => format!("{}, {}, {}", l.city, l.region_name, l.country),
        (None, Some(m)) => m.clone(),
        (None, None) => String::new(),
    };
    format!(
        "{client:>6}  {:<7}  {slot:>4}  {queue:>5}  {waited:>9}  {:>8}  {:<15}  {place}",
        r.status,
        answer.elapsed.as_millis(),
        r.query
    )
}
