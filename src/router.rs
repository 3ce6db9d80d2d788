//! The router: gives each client the first free server slot and relays the answer.
//!
//! The original `router.py` knew four server addresses (four Azure VMs) and guarded them with
//! `Semaphore(4)`. For each client it started a thread that acquired the semaphore, took the
//! first free address (`check()`), appended `[addr, server]` to its IP table, forwarded the
//! request, sent the answer back, slept 5 seconds still holding the slot (so that the semaphore
//! could be seen working) and released it.
//!
//! [`Router`] does the same, per client thread ([`Router::spawn`] starts it):
//!
//! 1. read the client's request line, and refuse a malformed one before it takes a slot;
//! 2. [`SlotSemaphore::enter`]: a slot now, or a place in the queue, which the client is told
//!    with a notice line before the thread blocks in [`QueuePlace::wait`];
//! 3. record `[client, server]` in the [`IpTable`];
//! 4. forward the request to the slot's server and read its reply;
//! 5. add `"router": {"slot", "server", "queue_position", "waited_ms"}` and send it on;
//! 6. hold the slot for `hold` (`--hold-secs`, 0 by default; the original's `time.sleep(5)`);
//! 7. drop the [`Permit`], which frees the slot and wakes the queue.
//!
//! No lock is held across socket I/O: the semaphore's lock is taken and released inside
//! `enter`/`wait`/`drop`, and the table's inside `push`, and never one inside the other, so the
//! two cannot deadlock.
//!
//! [`QueuePlace::wait`]: crate::semaphore::QueuePlace::wait

use crate::accept::{accept_loop, Limits};
use crate::health::{Change, SlotHealth, DEFAULT_BACKOFF};
use crate::iplog::{Appended, LogError, LogFile};
use crate::iptable::{IpTable, RouterEntry, TableLog};
use crate::protocol::{
    self, DeadlineReader, LineError, LineReader, QueuedNotice, Request, Timeouts, MAX_REPLY_LINE,
};
use crate::reply::{Reply, Served};
use crate::semaphore::{Admission, Permit, SlotSemaphore};
use crate::shutdown::{InFlight, Shutdown};
use crate::trace::{Step, Trace};
use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The original's router port.
pub const DEFAULT_PORT: u16 = 9020;

/// The default log file of the router.
pub const DEFAULT_LOG_NAME: &str = "geotracker-router.json";

/// The default `--max-clients` of router and server: far more than a class, far fewer than the
/// threads or file descriptors a laptop runs out of.
pub const DEFAULT_MAX_CLIENTS: usize = 2000;

/// How to run a router.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The servers, one per slot (four in the original).
    pub servers: Vec<SocketAddr>,
    /// How long a client keeps its slot after its answer was sent.
    pub hold: Duration,
    /// JSON log to append the table to when stopping; the default name is
    /// [`DEFAULT_LOG_NAME`].
    pub log: LogFile,
    /// Timeouts for the sockets to clients and to servers.
    pub timeouts: Timeouts,
    /// How long a slot whose server failed is skipped (`--backoff-secs`).
    pub backoff: Duration,
    /// Longest wait in the queue for a slot (`--queue-timeout`); `None` waits as long as it
    /// takes, as the original did.
    pub queue_timeout: Option<Duration>,
    /// Most clients served at once (`--max-clients`); the next ones are told "router busy".
    pub max_clients: usize,
    /// Most table rows kept in memory before they are written to the log (`--table-limit`).
    pub table_limit: usize,
    /// Where to write the semaphore's timeline when stopping (`--trace`), if anywhere.
    pub trace: Option<std::path::PathBuf>,
    /// No per-client progress lines; start-up lines and the table on exit are still printed.
    pub quiet: bool,
}

impl RouterConfig {
    /// A router on `bind` over `servers`, no hold, no log file, default timeouts.
    pub fn new(bind: SocketAddr, servers: Vec<SocketAddr>) -> RouterConfig {
        RouterConfig {
            bind,
            servers,
            hold: Duration::ZERO,
            log: LogFile::None,
            timeouts: Timeouts::default(),
            backoff: DEFAULT_BACKOFF,
            queue_timeout: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            table_limit: crate::iptable::DEFAULT_TABLE_LIMIT,
            trace: None,
            quiet: false,
        }
    }
}

/// What a router leaves behind when it stops.
#[derive(Debug)]
pub struct RouterReport {
    /// The IP table's rows still in memory when it stopped, in the order they were written: all
    /// of them, unless the table filled up (`--table-limit`) and earlier rows went to the log.
    pub table: Vec<RouterEntry>,
    /// The outcome of appending it to the log, if a log was configured.
    pub log: Option<Result<Appended, LogError>>,
}

/// A bound router, ready to [`Router::run`] or [`Router::spawn`].
pub struct Router {
    listener: TcpListener,
    shared: Arc<Shared>,
}

/// What every client thread shares.
struct Shared {
    config: RouterConfig,
    /// The port actually bound.
    port: u16,
    /// One slot per server; see [`crate::semaphore`].
    slots: SlotSemaphore,
    /// `[client, server]` rows; see [`crate::iptable`].
    table: IpTable<RouterEntry>,
    /// The log, for full tables and the final dump.
    log: TableLog,
    /// Which servers are up; see [`crate::health`].
    health: SlotHealth,
    /// The semaphore's timeline, when `--trace` is on; see [`crate::trace`].
    trace: Trace,
    /// The table is written once: by the normal stop, or by a second Ctrl-C, whichever comes
    /// first (the other waits for it to finish).
    dumped: Once,
    shutdown: Arc<Shutdown>,
    in_flight: Arc<InFlight>,
}

/// A router running on its own thread.
pub struct RouterHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    thread: JoinHandle<RouterReport>,
}

impl RouterHandle {
    /// Waits for the router to stop (after its shutdown is requested) and returns its report.
    pub fn join(self) -> thread::Result<RouterReport> {
        self.thread.join()
    }
}

/// Why a router cannot be configured as asked.
#[derive(Debug)]
pub enum RouterError {
    /// No server addresses were given.
    NoServers,
    /// The listening socket could not be bound.
    Bind(SocketAddr, io::Error),
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouterError::NoServers => write!(f, "router: no servers to forward to"),
            RouterError::Bind(addr, e) => write!(f, "router: cannot listen on {addr}: {e}"),
        }
    }
}

impl std::error::Error for RouterError {}

impl Router {
    /// Binds the listening socket and prints the original's start-up lines.
    pub fn bind(config: RouterConfig, shutdown: Arc<Shutdown>) -> Result<Router, RouterError> {
        if config.servers.is_empty() {
            return Err(RouterError::NoServers);
        }
        let listener =
            TcpListener::bind(config.bind).map_err(|e| RouterError::Bind(config.bind, e))?;
        let port = listener
            .local_addr()
            .map_err(|e| RouterError::Bind(config.bind, e))?
            .port();
        // Start-up lines are printed even when quiet: they say which port was bound.
        crate::say!("router: socket bound to port {port}");
        crate::say!("router: socket is listening");
        let servers: Vec<String> = config.servers.iter().map(|s| s.to_string()).collect();
        crate::say!(
            "router: {} server slots: {}; each client keeps its slot {} s after its answer",
            servers.len(),
            servers.join(", "),
            config.hold.as_secs_f64()
        );
        let shared = Arc::new(Shared {
            table: IpTable::with_limit(config.table_limit),
            trace: Trace::new(config.trace.clone()),
            log: TableLog::new("router", config.log.path(DEFAULT_LOG_NAME)),
            slots: SlotSemaphore::new(config.servers.len()),
            health: SlotHealth::new(config.servers.len(), config.backoff),
            config,
            port,

            shutdown,
            in_flight: InFlight::new(),
            dumped: Once::new(),
        });
        // On a second Ctrl-C: write the table as it is.
        shared.shutdown.on_force_for(&shared, |shared| {
            shared.dump();
        });
        Ok(Router { listener, shared })
    }

    /// The address the router listens on.
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.shared.config.bind.ip(), self.shared.port)
    }

    /// Serves until shutdown is requested, then waits for the clients in flight (at most
    /// [`DRAIN_LIMIT`](crate::accept::DRAIN_LIMIT)), prints the table and appends it to the log.
    pub fn run(self) -> RouterReport {
        let shared = Arc::clone(&self.shared);
        let limits = Limits {
            max_clients: self.shared.config.max_clients,
            busy: "router busy",
            write_timeout: self.shared.config.timeouts.write,
        };
        accept_loop(
            "router",
            self.listener,
            &self.shared.shutdown,
            &self.shared.in_flight,
            &limits,
            // Short enough for Linux, which keeps 15 characters of a thread name (what a
            // debugger lists): the client's port tells the threads apart.
            |peer| format!("client-{}", peer.port()),
            move |stream, peer| shared.serve(stream, peer),
        );
        let log = self.shared.dump();
        match self.shared.trace.write() {
            Ok(Some((path, events))) => crate::say!(
                "router: semaphore timeline written to {} ({events} events)",
                path.display()
            ),
            Ok(None) => {}
            Err(e) => crate::warn!("router: cannot write the semaphore timeline: {e}"),
        }
        RouterReport {
            table: self.shared.table.snapshot(),
            log,
        }
    }

    /// Runs the router on a new thread named `router-<port>`.
    pub fn spawn(self) -> io::Result<RouterHandle> {
        let addr = self.local_addr();
        // The router's accept loop.
        let thread = thread::Builder::new()
            .name(format!("router-{}", self.shared.port))
            .spawn(move || self.run())?;
        Ok(RouterHandle { addr, thread })
    }

    /// Free slots now (a snapshot, for tests and monitoring).
    pub fn free_slots(&self) -> usize {
        self.shared.slots.available()
    }
}

impl Shared {
    /// Prints the table and appends it to the log, the first time it is called.
    fn dump(&self) -> Option<Result<Appended, LogError>> {
        let mut log = None;
        self.dumped
            .call_once(|| log = self.log.dump(&self.table.snapshot()));
        log
    }

    fn say(&self, line: fmt::Arguments<'_>) {
        if !self.config.quiet {
            crate::say!("router: {line}");
        }
    }

    /// Serves one client (the original's `threaded(c, addr)`).
    fn serve(&self, stream: TcpStream, client: SocketAddr) {
        // The request is read with a deadline (which sets the read timeout); the client may get
        // two lines, a notice and the answer, so the second must not wait for Nagle's
        // algorithm.
        if self.config.timeouts.apply_write(&stream).is_err() || stream.set_nodelay(true).is_err() {
            return;
        }
        self.say(format_args!(
            "Connected to : {} : {}",
            client.ip(),
            client.port()
        ));

        // 1. The request, checked before it may take a slot.
        let request = match protocol::read_request_from(&stream, self.config.timeouts.read) {
            Ok(request) => request,
            Err(refused) => {
                // A client that has gone cannot be told; nothing else is left to do.
                let _ = protocol::write_json_line(&mut &stream, &refused.reply());
                return;
            }
        };

        // 2. A slot, now or after queueing.
        let permit = match self.slots.enter() {
            Admission::Granted(permit) => permit,
            Admission::Queued(place) => {
                self.say(format_args!(
                    "all {} servers busy: {client} waits, number {} in the queue",
                    self.config.servers.len(),
                    place.position()
                ));
                self.trace
                    .record(Step::Queued, client, None, Some(place.position()), None);
                let notice = QueuedNotice::new(place.position());
                if protocol::write_json_line(&mut &stream, &notice).is_err() {
                    // The client is gone: dropping `place` gives up its place in the queue.
                    return;
                }
                let waited = match self.config.queue_timeout {
                    None => Ok(place.wait()),
                    Some(limit) => place.wait_for(limit),
                };
                match waited {
                    Ok(permit) => permit,
                    Err(waited) => {
                        let reply = Reply::fail(
                            query_of(request),
                            format!(
                                "waited {:.1} s for a server: all are busy; try again",
                                waited.as_secs_f64()
                            ),
                        );
                        let _ = protocol::write_json_line(&mut &stream, &reply);
                        return;
                    }
                }
            }
        };
        self.trace.record(
            Step::Granted,
            client,
            Some(permit.slot()),
            None,
            Some(permit.serial()),
        );
        let permit = self.forward(&stream, client, request, permit);

        // 6. The original's time.sleep(5): the slot stays taken, so others queue meanwhile.
        // (A client that no server answered holds no slot, and does not wait.)
        if permit.is_some() && !self.config.hold.is_zero() {
            self.shutdown.sleep(self.config.hold);
        }
        // 7. `permit` is dropped here: the slot is free and the queue is woken.
        if let Some(permit) = permit {
            self.release(client, permit);
        }

        // 8. A full table goes to the log: after the answer and the slot, so that neither the
        // client nor the queue waits for the file.
        if self.table.is_full() {
            self.log.spill(|| self.table.take_if_full());
        }
    }

    /// Steps 3 to 5: record, forward (to another slot if this one's server fails), relay.
    /// Returns the permit of the slot that served the client, to be held for `hold`.
    fn forward<'s>(
        &'s self,
        stream: &TcpStream,
        client: SocketAddr,
        request: Request,
        first: Permit<'s>,
    ) -> Option<Permit<'s>> {
        let (first_slot, queue_position, waited, turn) = (
            first.slot(),
            first.queue_position(),
            first.waited(),
            first.serial(),
        );
        // 3. The IP table (its own lock, taken and released inside `push`).
        let row = self.table.push(RouterEntry {
            client,
            server: self.config.servers[first_slot],
        });
        self.say(format_args!(
            "{client} -> slot {first_slot} (server {}), waited {} ms",
            self.config.servers[first_slot],
            waited.as_millis()
        ));

        // 4. Ask a server.
        let (reply, permit) = match self.ask_any_server(client, row, request, first) {
            Ok((line, permit)) => (line, Some(permit)),
            Err(failures) => {
                let reply = Reply::fail(
                    query_of(request),
                    format!("no server reachable: {}", failures.join("; ")),
                );
                self.say(format_args!("{client}: {}", failures.join("; ")));
                (reply.to_json(), None)
            }
        };

        // 5. Say who served the client, and pass the answer on.
        let slot = permit.as_ref().map_or(first_slot, Permit::slot);
        let served = Served {
            slot,
            server: self.config.servers[slot].to_string(),
            queue_position,
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            turn,
        };
        let line = with_router_field(&reply, &served);
        if (&*stream).write_all(line.as_bytes()).is_err() {
            self.say(format_args!("{client} left before its answer"));
        }
        permit
    }

    /// Asks the server of `first`'s slot; if it is down or fails, the next slot that is up and
    /// not tried yet, each at most once. Returns the answer and the permit of the slot that
    /// gave it, or why each server could not.
    fn ask_any_server<'s>(
        &'s self,
        client: SocketAddr,
        row: usize,
        request: Request,
        first: Permit<'s>,
    ) -> Result<(String, Permit<'s>), Vec<String>> {
        let mut held = first;
        let mut tried: Vec<usize> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        loop {
            let slot = held.slot();
            let server = self.config.servers[slot];
            tried.push(slot);
            match self.health.retry_in(slot, Instant::now()) {
                Some(left) => failures.push(is_down(&server, left)),
                None => match ask_server(server, request, &self.config.timeouts) {
                    Ok(line) => {
                        if self.health.answered(slot) == Change::CameBack {
                            self.say_health(format_args!("slot {slot} ({server}) is up again"));
                        }
                        return Ok((line, held));
                    }
                    Err(e) => {
                        if self.health.failed(slot, Instant::now()) == Change::WentDown {
                            self.say_health(format_args!(
                                "slot {slot} ({server}) is down: {e}; skipped for {} s",
                                self.health.backoff().as_secs_f64()
                            ));
                        }
                        failures.push(format!("{server}: {e}"));
                    }
                },
            }
            // This slot is no use to this client: free it before waiting for another.
            self.release(client, held);
            let now = Instant::now();
            let (untried_up, untried_down): (Vec<usize>, Vec<usize>) =
                (0..self.config.servers.len())
                    .filter(|s| !tried.contains(s))
                    .partition(|s| self.health.retry_in(*s, now).is_none());
            let Some(next) = self.slots.take_one_of(&untried_up) else {
                // None is up: say so for the ones not tried, too.
                for slot in untried_down {
                    if let Some(left) = self.health.retry_in(slot, now) {
                        failures.push(is_down(&self.config.servers[slot], left));
                    }
                }
                return Err(failures);
            };
            let server = self.config.servers[next.slot()];
            self.trace.record(
                Step::Granted,
                client,
                Some(next.slot()),
                None,
                Some(next.serial()),
            );
            self.say(format_args!(
                "{client} -> slot {} (server {server}) instead",
                next.slot()
            ));
            // The table says which server served the client (the row's own lock).
            self.table.replace(row, RouterEntry { client, server });
            held = next;
        }
    }

    /// Gives `permit`'s slot back (dropping it frees the slot and wakes the queue), noting it
    /// in the trace.
    fn release(&self, client: SocketAddr, permit: Permit<'_>) {
        self.trace
            .record(Step::Released, client, Some(permit.slot()), None, None);
        drop(permit);
    }

    /// Prints a change of a slot's health, and which slots are up now; even when quiet.
    fn say_health(&self, line: fmt::Arguments<'_>) {
        crate::say!(
            "router: {line}; slots up: {:?}",
            self.health.up_slots(Instant::now())
        );
    }
}

/// `127.0.0.1:12347 is down (tried again in 4 s)`.
fn is_down(server: &SocketAddr, left: Duration) -> String {
    format!(
        "{server} is down (tried again in {} s)",
        left.as_secs_f64().ceil()
    )
}

/// The reply's `query` for a request: the address, or empty for "where am I?".
fn query_of(request: Request) -> String {
    match request {
        Request::Lookup(ip) => ip.to_string(),
        Request::MyLocation => String::new(),
    }
}

/// Why a server gave no usable answer.
#[derive(Debug)]
pub enum ServerFailure {
    /// No connection could be made.
    Connect(io::Error),
    /// The request could not be sent.
    Send(io::Error),
    /// No reply line arrived (closed, timed out, too long, not UTF-8).
    Receive(LineError),
    /// The reply line is not a JSON object with a `status`.
    BadReply(String),
}

impl fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerFailure::Connect(e) => write!(f, "cannot connect: {e}"),
            ServerFailure::Send(e) => write!(f, "cannot send the request: {e}"),
            ServerFailure::Receive(e) => write!(f, "no reply: {e}"),
            ServerFailure::BadReply(why) => write!(f, "unusable reply: {why}"),
        }
    }
}

impl std::error::Error for ServerFailure {}

/// One exchange with a server: connect, send the request line, read the reply line, check that
/// it is a JSON object with a `status`. The line is returned as it came, so that fields this
/// router does not know pass through unchanged, and nothing is decoded and encoded again.
pub fn ask_server(
    server: SocketAddr,
    request: Request,
    timeouts: &Timeouts,
) -> Result<String, ServerFailure> {
    let mut stream =
        TcpStream::connect_timeout(&server, timeouts.connect).map_err(ServerFailure::Connect)?;
    timeouts
        .apply_write(&stream)
        .map_err(ServerFailure::Connect)?;
    stream
        .write_all(request.to_line().as_bytes())
        .map_err(ServerFailure::Send)?;
    let line = LineReader::new(DeadlineReader::new(&stream, timeouts.read))
        .read_line(MAX_REPLY_LINE)
        .map_err(ServerFailure::Receive)?;
    match serde_json::from_str::<ReplyStatus>(&line) {
        Ok(reply) if !reply.status.is_empty() => Ok(line),
        Ok(_) => Err(ServerFailure::BadReply("empty status".into())),
        Err(e) => Err(ServerFailure::BadReply(e.to_string())),
    }
}

/// The one field of a server's reply that the router decodes; the other fields are checked to
/// be JSON, skipped, and passed on as text.
#[derive(serde::Deserialize)]
struct ReplyStatus<'a> {
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
}

/// `reply_line` (a JSON object) with `"router": served` added as its last field, written into
/// the text before the closing brace.
fn with_router_field(reply_line: &str, served: &Served) -> String {
    let served = serde_json::to_string(served).unwrap_or_else(|_| "null".to_string());
    let body = reply_line.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body).trim_end();
    let comma = if body.ends_with('{') { "" } else { "," };
    format!("{body}{comma}\"router\":{served}}}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_field_is_added_to_the_servers_line_as_it_came() {
        let served = Served {
            slot: 2,
            server: "127.0.0.1:12349".into(),
            queue_position: 0,
            waited_ms: 7,
            turn: 9,
        };
        let router = r#""router":{"slot":2,"server":"127.0.0.1:12349","queue_position":0,"waited_ms":7,"turn":9}"#;
        assert_eq!(
            with_router_field(
                r#"{"status":"success","extra":{"a":"}"},"query":"8.8.8.8"}"#,
                &served
            ),
            format!(r#"{{"status":"success","extra":{{"a":"}}"}},"query":"8.8.8.8",{router}}}"#)
                + "\n"
        );
        assert_eq!(
            with_router_field("{ }\r\n", &served),
            format!("{{{router}}}\n")
        );
        let line = with_router_field(r#"{"status":"fail","message":"x","query":""}"#, &served);
        let reply = Reply::from_json(line.trim_end()).unwrap();
        assert_eq!(reply.router, Some(served));
        assert_eq!(reply.message.as_deref(), Some("x"));
    }
}
