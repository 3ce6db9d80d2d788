//! The router: gives each client the first free server slot and relays the answer.
//!
//! The original `router.py` guarded four server addresses (four Azure VMs) with `Semaphore(4)`.
//! Its `threaded(c, addr)`, one thread per client, was (as its report prints it):
//!
//! ```python
//! sem.acquire()
//! index=check()                    # the first free slot
//! iptable.append([addr,ips[index]])
//! info=serverconnect(ips[index])   # forward the request, read the answer
//! time.sleep(5)                    # keep the slot, so that the semaphore is seen at work
//! sem.release()
//! ```
//!
//! (with the answer sent back on `c`, a line the report's copy lost).
//!
//! [`Router::bind`] binds the socket, [`Router::run`] is the accept loop (`accept.rs`), and
//! `RouterState::serve` is one client's thread, the same steps, each a function:
//!
//! 1. `read_request`: read the request line, and refuse a bad one before it takes a slot;
//! 2. `take_slot`: the semaphore's `acquire_before` (the original's `sem.acquire()`), which
//!    takes the first free slot (`check()`);
//! 3. `record`: append `[client, server]` to the IP table;
//! 4. `forward`: send the request to the slot's server and read its answer (`ask_server`);
//! 5. `relay`: add `"router": {"slot", "server", "queue_position", "waited_ms", "turn"}`, send
//!    the answer on;
//! 6. `hold`: keep the slot for `--hold-secs` (0 by default; the original's `time.sleep(5)`);
//! 7. `release`: drop the permit, which frees the slot and wakes one client waiting at the
//!    semaphore.
//!
//! Steps 2 and 4 each have one addition beyond the original wrapped round the original's call:
//! step 2's queue keeps clients in the order they came, and step 4's failover gives a client
//! another slot if its server fails. No lock is held across socket I/O. Beyond the original,
//! each entered by a call marked where it is made: the queue in front of the semaphore (`extras/queue.rs`), failover to another
//! server (`extras/failover.rs`), the semaphore's timeline (`--trace`, `extras/trace.rs`), a
//! bounded table (`--table-limit`, `extras/table_limit.rs`) and the in-process servers
//! (`extras/local_servers.rs`).

use crate::accept::{self, Acceptor};
use crate::extras::config::{self, RouterConfig, RouterReport, StartError};
use crate::extras::failover::Failover;
use crate::extras::limits::Limits;
use crate::extras::local_servers::LocalServers;
use crate::extras::output::Output;
use crate::extras::queue::{Joined, Queue};
use crate::extras::table_limit;
use crate::extras::trace::{Step, Trace};
use crate::iptable::{IpTable, RouterEntry};
use crate::protocol::{self, Incoming, LineReader, QueuedNotice, Request, MAX_REPLY_LINE};
use crate::reply::{Reply, Served};
use crate::semaphore::{Permit, Semaphore};
use crate::signal::{self, Shutdown};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A router with its socket bound, ready to [`Router::run`].
pub struct Router {
    listener: TcpListener,
    state: Arc<RouterState>,
    /// The four servers of `cargo run --example router`; none with `--servers`.
    local_servers: LocalServers,
}

/// What every client thread of the router shares.
struct RouterState {
    /// The server behind each slot: the original's `ips`.
    servers: Vec<SocketAddr>,
    /// The slots: the original's `sem` and `avail`.
    semaphore: Arc<Semaphore>,
    /// Clients waiting for a slot, in the order they came (beyond the original).
    queue: Queue,
    /// `[client, server]` rows: the original's `iptable`.
    table: IpTable,
    /// How long a client keeps its slot after its answer (`--hold-secs`).
    hold: Duration,
    /// The JSON log the table is appended to at the stop.
    log: Option<PathBuf>,
    limits: Limits,
    out: Output,
    failover: Failover,
    trace: Trace,
    shutdown: Arc<Shutdown>,
}

/// The outcome of step 2.
enum Slot {
    /// The client holds a slot.
    Granted(Granted),
    /// `--queue-timeout` passed first, after this long.
    TimedOut(Duration),
    /// The client went away while it waited.
    Left,
}

/// A held slot, and how the client came by it.
struct Granted {
    permit: Permit,
    wait: Wait,
}

/// How a client came by its slot: for the log lines and the answer's `router` field.
#[derive(Clone, Copy)]
struct Wait {
    /// The place it was told in the queue; 0 if a slot was free at once.
    position: usize,
    /// From its request to holding the slot.
    waited: Duration,
}

/// The outcome of step 4.
enum Forwarded {
    /// A server answered; the client holds that server's slot.
    Answered { answer: Fields, permit: Permit },
    /// No server could answer (the message says why); the slot has gone back.
    NoServer(String),
}

/// The fields of an answer, in the order they came.
type Fields = serde_json::Map<String, serde_json::Value>;

impl Router {
    /// Binds the router's socket (the original's `s.bind` and `s.listen`), starts the
    /// in-process servers if the configuration asks for them, and prints the start-up lines.
    /// Everything that can fail at start-up fails here, before any client connects.
    pub fn bind(mut config: RouterConfig, shutdown: Arc<Shutdown>) -> Result<Router, StartError> {
        // (Beyond the original: --max-clients fitted to the file descriptors there are.)
        let descriptors = config.fit_to_descriptors();
        let listener = accept::listen("router", config.bind)?;
        let log = config::ready_log("router", config.log_path(), config.output)?;
        // (Beyond the original: the four servers in this process, unless --servers names them.)
        let (servers, local_servers) = LocalServers::start_if_asked(&config.servers)?;
        if servers.is_empty() {
            return Err(StartError("router: no servers to forward to".into()));
        }
        let router = Router {
            listener,
            state: Arc::new(RouterState::new(servers, log, config, shutdown)),
            local_servers,
        };
        router.say_listening(descriptors);
        Ok(router)
    }

    /// The original's start-up lines, and what the router serves with.
    fn say_listening(&self, descriptors: Option<String>) {
        let out = self.state.out;
        let port = self.local_addr().map_or(0, |addr| addr.port());
        out.notice(format_args!("router: socket bound to port {port}"));
        out.notice(format_args!("router: socket is listening"));
        if let Some(descriptors) = descriptors {
            out.notice(format_args!("router: {descriptors}"));
        }
        let servers = &self.state.servers;
        let count = servers.len();
        let addresses: Vec<String> = servers.iter().map(ToString::to_string).collect();
        let list = addresses.join(", ");
        let hold = self.state.hold.as_secs_f64();
        out.notice(format_args!(
            "router: {count} server slots: {list}; each client keeps its slot {hold} s after its answer"
        ));
    }

    /// The address the router listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until a stop is requested, waits for the clients being served, prints the table
    /// and appends it to the log (the original's `handler`); then stops the in-process servers.
    pub fn run(self) -> RouterReport {
        let state = &self.state;
        let out = state.out;
        out.notice(format_args!(
            "router: press Ctrl-C to stop and write the IP tables"
        ));
        let acceptor = Acceptor {
            who: "router",
            // Linux keeps 15 characters of a thread name: `client-<port>`, the client's port.
            thread_prefix: "client",
            shutdown: &state.shutdown,
            limits: &state.limits,
            out,
        };
        let serving = Arc::clone(state);
        acceptor.serve_each_connection(self.listener, move |stream, client| {
            serving.serve(stream, client)
        });
        // The original's `handler`: the table printed and appended to the log (`signal.rs`).
        let rows = state.table.take_all();
        let (table, log) = signal::dump("router", out, state.log.as_deref(), rows);
        state.trace.write(out);
        let hurried = state.shutdown.was_hurried();
        // (Beyond the original: the in-process servers have a stop of their own, asked for
        // only now, so that the clients that were still queued were served by running servers.)
        let servers = self.local_servers.stop(hurried);
        RouterReport {
            table,
            log,
            servers,
            hurried,
        }
    }
}

impl RouterState {
    /// The state of a router over `servers`, set up as `config` says.
    fn new(
        servers: Vec<SocketAddr>,
        log: Option<PathBuf>,
        config: RouterConfig,
        shutdown: Arc<Shutdown>,
    ) -> RouterState {
        let out = config.output;
        let backoff = config.limits.backoff;
        RouterState {
            semaphore: Arc::new(Semaphore::new(servers.len())),
            queue: Queue::new(),
            table: IpTable::new(),
            hold: config.hold,
            log,
            limits: config.limits,
            out,
            failover: Failover::new(servers.clone(), backoff, out, Arc::clone(&shutdown)),
            trace: Trace::new(config.trace),
            servers,
            shutdown,
        }
    }

    /// One client's thread: the original's `threaded(c, addr)`, step by step.
    fn serve(&self, stream: TcpStream, client: SocketAddr) {
        if self.set_up(&stream, client).is_err() {
            return;
        }
        let request = match self.read_request(&stream) {
            Incoming::Request(request) => request,
            Incoming::Refuse(refusal) => return send(&stream, &refusal),
            Incoming::Closed => return,
        };
        let Granted { permit, wait } = match self.take_slot(&stream, client) {
            Slot::Granted(granted) => granted,
            Slot::TimedOut(waited) => return send(&stream, &waited_too_long(request, waited)),
            Slot::Left => return,
        };
        self.record(client, &permit, wait);
        // The answer names the slot that answered; when none did, the one first given.
        let first = self.served(&permit, wait);
        match self.forward(client, request, permit) {
            Forwarded::Answered { answer, permit } => {
                self.relay(&stream, client, answer, &self.served(&permit, wait));
                self.hold();
                self.release(client, permit);
            }
            // No server could answer: the client is told why, and which slot it was given.
            Forwarded::NoServer(why) => self.relay(&stream, client, failure(request, why), &first),
        }
        // (Beyond the original: a full table goes to the log, after the answer and the slot.)
        let log = self.log.as_deref();
        let limit = self.limits.table_limit;
        table_limit::spill_if_full("router", self.out, log, &self.table, limit);
    }

    /// Sets the client's socket up, and says who connected.
    fn set_up(&self, stream: &TcpStream, client: SocketAddr) -> io::Result<()> {
        self.limits.apply_write_timeout(stream)?;
        // The client may get two lines, a notice and the answer: no waiting for Nagle.
        stream.set_nodelay(true)?;
        self.out.progress(format_args!(
            "router: Connected to : {} : {}",
            client.ip(),
            client.port()
        ));
        Ok(())
    }

    /// Step 1: the request line, checked before the client may take a slot.
    fn read_request(&self, stream: &TcpStream) -> Incoming {
        let deadline = Instant::now() + self.limits.request_timeout;
        protocol::read_request(stream, deadline)
    }

    /// Step 2: a slot: the original's `sem.acquire()`, which waits until one is free, and `check()`,
    /// which takes the first free one. (Beyond the original, clients get slots in the order
    /// they came: one that cannot have a slot at once is told its place, and waits in the
    /// queue for its turn at the semaphore, at most `--queue-timeout`.)
    fn take_slot(&self, stream: &TcpStream, client: SocketAddr) -> Slot {
        let arrived = Instant::now();
        let place = match self.queue.join(|| self.semaphore.try_acquire()) {
            // Nobody was waiting, and a slot was free.
            Joined::SlotFree(permit) => return granted(permit, 0, arrived),
            Joined::Queued(place) => place,
        };
        let position = place.position();
        if !self.tell_place(stream, client, position) {
            return Slot::Left; // Dropping `place` leaves the queue.
        }
        let deadline = self.limits.queue_timeout.map(|limit| arrived + limit);
        // Its turn come, the original's `sem.acquire()`: asleep until a slot is free, then the
        // lowest free one is the client's (`check()`).
        let acquire = |deadline| self.semaphore.acquire_before(deadline);
        match place.wait_for_slot(deadline, acquire) {
            Some(permit) => granted(permit, position, arrived),
            None => Slot::TimedOut(arrived.elapsed()),
        }
    }

    /// Tells a client that must wait its place in the queue. False if it has gone.
    fn tell_place(&self, stream: &TcpStream, client: SocketAddr, position: usize) -> bool {
        self.out.progress(format_args!(
            "router: {client} waits: number {position} in the queue"
        ));
        self.trace.record(client, Step::Queued { place: position });
        protocol::write_line(stream, &QueuedNotice::new(position)).is_ok()
    }

    /// Step 3: the IP table: the original's `iptable.append([addr, ips[index]])`. Its lock is taken
    /// and released inside `push`.
    fn record(&self, client: SocketAddr, permit: &Permit, wait: Wait) {
        let slot = permit.slot();
        let server = self.servers[slot];
        self.table.push(RouterEntry { client, server });
        let ms = wait.waited.as_millis();
        self.out.progress(format_args!(
            "router: {client} -> slot {slot} ({server}), waited {ms} ms"
        ));
    }

    /// Step 4: the request goes to the slot's server: the original's `serverconnect(ips[index])`,
    /// which is `ask_slot_server` below. (Beyond the original, `ask_until_answered` runs it
    /// with the client's permit; if that server fails, its slot goes out of service for a
    /// while, and the closure runs again with a permit for another slot, each server at most
    /// once. It gives back the answer and the permit it came with, or why no server answered,
    /// the permit then given back; see `extras/failover.rs`.)
    fn forward(&self, client: SocketAddr, request: Request, permit: Permit) -> Forwarded {
        let first_slot = permit.slot();
        let asked = self
            .failover
            .ask_until_answered(permit, &self.semaphore, |permit| {
                // The row names the server asked: another one if the first failed.
                if permit.slot() != first_slot {
                    let server = self.servers[permit.slot()];
                    self.table.replace(RouterEntry { client, server });
                }
                self.ask_slot_server(client, request, permit)
            });
        match asked {
            Ok((answer, permit)) => Forwarded::Answered { answer, permit },
            Err(why) => {
                self.out.progress(format_args!("router: {client}: {why}"));
                Forwarded::NoServer(why)
            }
        }
    }

    /// Asks the server behind `permit`'s slot.
    fn ask_slot_server(
        &self,
        client: SocketAddr,
        request: Request,
        permit: &Permit,
    ) -> io::Result<Fields> {
        let slot = permit.slot();
        let turn = permit.turn();
        self.trace.record(client, Step::Granted { slot, turn });
        ask_server(self.servers[slot], request, &self.limits)
    }

    /// Step 5: the answer, with who served the client added, sent on: the original's `c.send`.
    fn relay(&self, stream: &TcpStream, client: SocketAddr, answer: Fields, served: &Served) {
        let line = with_router_field(answer, served);
        let mut stream = stream;
        if stream.write_all(line.as_bytes()).is_err() {
            self.out
                .progress(format_args!("router: {client} left before its answer"));
        }
    }

    /// Who served a client, for the answer's `router` field: `permit`'s slot and turn, and how
    /// the client came by its slot.
    fn served(&self, permit: &Permit, wait: Wait) -> Served {
        Served {
            slot: permit.slot(),
            server: self.servers[permit.slot()].to_string(),
            queue_position: wait.position,
            waited_ms: u64::try_from(wait.waited.as_millis()).unwrap_or(u64::MAX),
            turn: permit.turn(),
        }
    }

    /// Step 6: the original's `time.sleep(5)`: the slot stays taken, so that others queue. A stop
    /// cuts it short.
    fn hold(&self) {
        if !self.hold.is_zero() {
            self.shutdown.sleep(self.hold);
        }
    }

    /// Step 7: the original's `sem.release()`: dropping the permit frees the slot and wakes one
    /// client waiting at the semaphore (`Drop for Permit`, `semaphore.rs`): with the queue in
    /// front, the one at its front.
    fn release(&self, client: SocketAddr, permit: Permit) {
        let slot = permit.slot();
        self.trace.record(client, Step::Released { slot });
        drop(permit);
    }
}

/// Step 2's outcome for a client given `permit`, told `position` in the queue (0: none), which
/// arrived at `arrived`.
fn granted(permit: Permit, position: usize, arrived: Instant) -> Slot {
    let wait = Wait {
        position,
        waited: arrived.elapsed(),
    };
    Slot::Granted(Granted { permit, wait })
}

/// Sends a reply line; a client that has gone cannot be told, and nothing is left to do.
fn send(stream: &TcpStream, reply: &Reply) {
    let _ = protocol::write_line(stream, reply);
}

/// The reply to a client that waited `--queue-timeout` for a slot.
fn waited_too_long(request: Request, waited: Duration) -> Reply {
    let secs = waited.as_secs_f64();
    let why = format!("waited {secs:.1} s for a server: all are busy; try again");
    Reply::fail(request.query(), why)
}

/// A `fail` answer for `request`, as fields, for the router to add its field to.
fn failure(request: Request, why: String) -> Fields {
    match serde_json::to_value(Reply::fail(request.query(), why)) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => Fields::new(),
    }
}

/// One exchange with a server (the original's `serverconnect()`): connect, send the request
/// line, read the answer line, and check that it is a JSON object with a `status`. The error
/// says what failed: `cannot connect: ...`, `cannot send the request: ...`, `no reply: ...`,
/// `unusable reply: ...`.
fn ask_server(server: SocketAddr, request: Request, limits: &Limits) -> io::Result<Fields> {
    let mut stream = TcpStream::connect_timeout(&server, limits.connect_timeout)
        .and_then(|stream| limits.apply_write_timeout(&stream).map(|()| stream))
        .map_err(|e| context("cannot connect", e))?;
    stream
        .write_all(request.to_line().as_bytes())
        .map_err(|e| context("cannot send the request", e))?;
    let deadline = Instant::now() + limits.read_timeout;
    let answer = LineReader::until(&stream, deadline)
        .read_line(MAX_REPLY_LINE)
        .map_err(|e| context("no reply", e))?;
    let fields: Fields = serde_json::from_str(&answer).map_err(|e| unusable(&e.to_string()))?;
    match fields.get("status").and_then(|status| status.as_str()) {
        Some(status) if !status.is_empty() => Ok(fields),
        _ => Err(unusable("no status")),
    }
}

/// `e`, with what was being done when it happened in front of its message.
fn context(doing: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{doing}: {e}"))
}

/// A server's answer that is not one.
fn unusable(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unusable reply: {why}"))
}

/// The server's answer, with `"router": served` added as its last field, as a line.
fn with_router_field(mut answer: Fields, served: &Served) -> String {
    let router = serde_json::to_value(served).unwrap_or_default();
    answer.insert("router".into(), router);
    format!("{}\n", serde_json::Value::Object(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_field_is_added_last_and_the_other_fields_pass_through() {
        let served = Served {
            slot: 2,
            server: "127.0.0.1:12349".into(),
            queue_position: 0,
            waited_ms: 7,
            turn: 9,
        };
        let answer = r#"{"status":"success","extra":{"a":"}"},"query":"8.8.8.8"}"#;
        let router = r#""router":{"slot":2,"server":"127.0.0.1:12349","queue_position":0,"waited_ms":7,"turn":9}"#;
        let expected =
            format!(r#"{{"status":"success","extra":{{"a":"}}"}},"query":"8.8.8.8",{router}}}"#);
        assert_eq!(
            with_router_field(serde_json::from_str(answer).unwrap(), &served),
            expected + "\n"
        );
        let line = with_router_field(failure(Request::MyLocation, "x".into()), &served);
        let reply = Reply::from_json(line.trim_end()).unwrap();
        assert_eq!(
            (reply.router, reply.message.as_deref()),
            (Some(served), Some("x"))
        );
    }
}
