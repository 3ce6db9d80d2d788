//! Timeouts and caps: what a router or server takes on, and for how long.
//!
//! The original waited for ever on every socket and started a thread for every connection.
//! Here every socket has timeouts, and a request line must arrive within a few seconds
//! (`--request-timeout`), so that an idle connection costs little; a client that has sent its
//! request and waits for a slot is not idle, and waits as long as it must. Past
//! `--max-clients` connections at once, or `--max-per-source` from one address, a newcomer is
//! told "router busy" (or "server busy") at once, on the accepting thread, instead of getting a
//! thread of its own: one address cannot lock everybody else out. At a stop, the connections
//! that completed their handshake but were not accepted yet (they wait in the kernel's listen
//! backlog) are told "router shutting down" instead of being reset.

use crate::extras::output::Output;
use crate::protocol;
use crate::reply::Reply;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Timeouts and caps of a router or server (`--connect-timeout`, `--request-timeout`,
/// `--read-timeout`, `--write-timeout`, `--max-clients`, `--max-per-source`, `--table-limit`;
/// the router's `--queue-timeout` and `--backoff-secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a connection to a server (default 3 s).
    pub connect_timeout: Duration,
    /// Longest wait for a new connection's whole request line (default 5 s).
    pub request_timeout: Duration,
    /// Longest wait for a server's whole answer (default 10 s).
    pub read_timeout: Duration,
    /// Longest wait for a line to be sent (default 10 s).
    pub write_timeout: Duration,
    /// Most connections served at once (default 2000: far more than a class, far fewer than
    /// the threads or file descriptors a laptop runs out of).
    pub max_clients: usize,
    /// Most connections at once from one address (default 1000: a whole class behind one NAT).
    pub max_per_source: usize,
    /// Most rows an IP table keeps in memory (default 100,000); see `table_limit.rs`.
    pub table_limit: usize,
    /// Longest wait in the router's queue for a slot; `None` (the default) waits, as the
    /// original did.
    pub queue_timeout: Option<Duration>,
    /// How long the slot of a server that failed is out of service (default 5 s); see
    /// `failover.rs`.
    pub backoff: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_clients: 2000,
            max_per_source: 1000,
            table_limit: 100_000,
            queue_timeout: None,
            backoff: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// Sets the write timeout of `stream`. (The read timeout is set before each read, by the
    /// deadline in `deadline.rs`.)
    pub(crate) fn apply_write_timeout(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_write_timeout(Some(self.write_timeout))
    }
}

/// True for the program's own lack of file descriptors (EMFILE, ENFILE; WSAEMFILE on
/// Windows): not a fault of the peer, nor of a server.
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24 | 10024))
}

/// After `accept()` failed: reports it (once a second at most) and breathes, so that the loop
/// does not spin: 100 ms when the program is out of file descriptors, which the connections it
/// is serving give back as they end; 10 ms otherwise.
pub(crate) fn after_accept_error(who: &str, e: io::Error, out: Output) {
    static LAST_REPORT: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    let mut last = LAST_REPORT.lock();
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
        out.warn(format_args!("{who}: accept failed: {e}; waiting a moment"));
        *last = Some(std::time::Instant::now());
    }
    drop(last);
    let pause = if out_of_descriptors(&e) { 100 } else { 10 };
    std::thread::sleep(Duration::from_millis(pause));
}

/// Raises the soft limit on open files towards the hard one, where the system allows it, and
/// lowers `--max-clients` to what the limit leaves room for, `per_client` descriptors each
/// (the client's connection, the one to its server, and the server's end if it is in this
/// process) after 64 for the rest. Returns the start-up line that says so (none on Windows,
/// which has no such limit to read: the sockets a program can open are bounded by memory).
pub(crate) fn fit_to_descriptors(limits: &mut Limits, per_client: usize) -> Option<String> {
    let (open, raised) = descriptor_limit()?;
    let room = (open.saturating_sub(64) / per_client as u64).max(1);
    let fits = usize::try_from(room).unwrap_or(usize::MAX);
    let raised = raised
        .map(|from| format!(" (raised from {from})"))
        .unwrap_or_default();
    let line = format!("{open} open files{raised}: room for {fits} clients at once");
    if fits >= limits.max_clients {
        return Some(format!("{line}; --max-clients is {}", limits.max_clients));
    }
    let wanted = std::mem::replace(&mut limits.max_clients, fits);
    Some(format!("{line}, so --max-clients is {fits}, not {wanted}"))
}

/// The limit on open files after raising it where possible, and what it was if it was raised.
#[cfg(unix)]
fn descriptor_limit() -> Option<(u64, Option<u64>)> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    // macOS refuses more than 10240 (OPEN_MAX) even under an unlimited hard limit.
    for wanted in [limit.maximum.unwrap_or(u64::MAX), 10_240] {
        if wanted > soft
            && setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(wanted),
                    ..limit
                },
            )
            .is_ok()
        {
            return Some((wanted, Some(soft)));
        }
    }
    Some((soft, None))
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<(u64, Option<u64>)> {
    None
}

/// How many connections each address has open now, and the caps: who may come in.
pub(crate) struct Admissions {
    /// "router" or "server", for the "busy" replies.
    kind: String,
    limits: Limits,
    sources: Arc<Sources>,
}

#[derive(Default)]
struct Sources {
    /// The lock is held for one count up or down.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; dropping it (in a panic too) counts it out.
pub(crate) struct FromSource(Arc<Sources>, IpAddr);

impl Drop for FromSource {
    fn drop(&mut self) {
        let mut open = self.0.open.lock();
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

impl Admissions {
    /// Nobody in yet.
    pub(crate) fn new(kind: &str, limits: Limits) -> Admissions {
        Admissions {
            kind: kind.to_string(),
            limits,
            sources: Arc::default(),
        }
    }

    /// Admits the connection from `peer` unless `in_flight` connections are the most allowed,
    /// or its address has the most allowed open already: then `stream` is told `"<kind> busy"`
    /// and closed, and gets no thread. The returned guard counts the connection against its
    /// address.
    pub(crate) fn admit(
        &self,
        stream: &TcpStream,
        peer: SocketAddr,
        in_flight: usize,
    ) -> Option<FromSource> {
        let ip = peer.ip().to_canonical();
        let kind = &self.kind;
        // Critical section: look at the address's count and take one more, as one step.
        let mut open = self.sources.open.lock();
        let from_ip = open.entry(ip).or_insert(0);
        let refusal = if in_flight >= self.limits.max_clients {
            format!("{kind} busy")
        } else if *from_ip >= self.limits.max_per_source {
            format!("{kind} busy: {from_ip} connections from {ip} already")
        } else {
            *from_ip += 1;
            return Some(FromSource(Arc::clone(&self.sources), ip));
        };
        if *from_ip == 0 {
            open.remove(&ip);
        }
        drop(open); // Not held across the write.
        refuse(stream, &refusal, &self.limits);
        None
    }
}

/// At a stop: tells the connection the loop just accepted, and each one still waiting in the
/// listen backlog, `"<kind> shutting down"`.
pub(crate) fn answer_at_stop(
    kind: &str,
    listener: &TcpListener,
    accepted: io::Result<(TcpStream, std::net::SocketAddr)>,
    limits: &Limits,
) {
    let message = format!("{kind} shutting down");
    if let Ok((stream, _)) = accepted {
        refuse(&stream, &message, limits);
    }
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                // An accepted socket may inherit non-blocking mode on some platforms.
                let _ = stream.set_nonblocking(false);
                refuse(&stream, &message, limits);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock: the backlog is empty.
            Err(_) => return,
        }
    }
}

/// Sends the one-line `fail` reply `message`; a peer that does not read it is not waited for.
///
/// The request the peer has already sent is read and dropped before the socket closes: a
/// socket closed with unread bytes resets the connection, and a reset can reach the peer before
/// it has read the reply, which it then never sees. Only what has already arrived is read; the
/// accept loop never waits here.
fn refuse(stream: &TcpStream, message: &str, limits: &Limits) {
    let _ = limits.apply_write_timeout(stream);
    let _ = protocol::write_line(stream, &Reply::fail("", message));
    drop_what_has_arrived(stream, 64 * 1024);
}

/// Reads and drops what the peer has already sent, without waiting: at most `limit` bytes, so
/// that a peer that keeps sending cannot hold the accepting thread. Leaves the socket
/// non-blocking, to be closed next.
pub(crate) fn drop_what_has_arrived(stream: &TcpStream, limit: u64) {
    if stream.set_nonblocking(true).is_ok() {
        // Ends at the first `WouldBlock` (nothing more has arrived), at the end, or at `limit`.
        let _ = io::copy(&mut stream.take(limit), &mut io::sink());
    }
}
