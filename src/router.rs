//! The router: gives each client the first free server slot and relays the answer.
//!
//! The original `router.py` guarded four server addresses (four Azure VMs) with `Semaphore(4)`.
//! A thread per client acquired it, took the first free address (`check()`), appended `[addr,
//! server]` to the IP table, forwarded the request, sent the answer back, slept 5 s holding the
//! slot (so that the semaphore could be seen at work) and released it. [`Router::run`] is the
//! accept loop (`accept.rs`); `Shared::serve` is one client's thread:
//!
//! 1. read the request line, and refuse a bad one before it takes a slot;
//! 2. get a slot: at once, or after waiting in the queue in front of the semaphore;
//! 3. record `[client, server]` in the IP table;
//! 4. forward the request to the slot's server ([`ask_server`]) and read its answer;
//! 5. add `"router": {"slot", "server", "queue_position", "waited_ms", "turn"}`, send it on;
//! 6. keep the slot for `--hold-secs` (0 by default; the original's `time.sleep(5)`);
//! 7. drop the permit: the slot is free, and the next client in the queue is woken.
//!
//! No lock is held across socket I/O. Beyond the original, each entered by one call: the queue
//! (`extras/queue.rs`), failover, `--trace`, `--table-limit`; `extras/startup.rs` binds it.

use crate::extras::queue::{Queue, QueuedNotice};
use crate::extras::{deadline, failover::Failover, local_servers::LocalServers, table_limit};
use crate::extras::{startup::RouterReport, trace::Step, trace::Trace, Limits};
use crate::iptable::{IpTable, RouterEntry};
use crate::protocol::{self, LineReader, Request, MAX_REPLY_LINE};
use crate::reply::{Reply, Served};
use crate::signal::{self, Shutdown};
use crate::{accept, extras::Output};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use std::{io, io::Write, path::PathBuf, sync::Arc};

/// A router with its socket bound (by `Router::bind`), ready to [`Router::run`].
pub struct Router {
    pub(crate) listener: TcpListener,
    pub(crate) shared: Arc<Shared>,
    pub(crate) local_servers: LocalServers,
}

/// What every client thread shares.
pub(crate) struct Shared {
    /// The server behind each slot.
    pub(crate) servers: Vec<SocketAddr>,
    /// The slots: a semaphore, and a queue in front of it.
    pub(crate) queue: Queue,
    /// `[client, server]` rows.
    pub(crate) table: IpTable,
    /// How long a client keeps its slot after its answer (`--hold-secs`).
    pub(crate) hold: Duration,
    pub(crate) log: Option<PathBuf>,
    pub(crate) limits: Limits,
    pub(crate) out: Output,
    pub(crate) failover: Failover,
    pub(crate) trace: Trace,
    pub(crate) shutdown: Arc<Shutdown>,
}

impl Router {
    /// Serves until a stop is requested, waits for the clients being served, prints the table
    /// and appends it to the log; then stops the in-process servers, if any.
    pub fn run(self) -> RouterReport {
        let shared = Arc::clone(&self.shared);
        let (listener, shutdown, limits, out) =
            (self.listener, &shared.shutdown, &shared.limits, shared.out);
        out.notice(format_args!(
            "router: press Ctrl-C to stop and write the IP tables"
        ));
        let serving = Arc::clone(&shared);
        let serve = move |stream, client| serving.serve(stream, client);
        // Linux keeps 15 characters of a thread name: `client-<port>`, the client's port.
        accept::serve_each_connection("router", "client", listener, shutdown, limits, out, serve);
        let rows = shared.table.take_oldest(usize::MAX);
        let (table, log) = signal::dump("router", out, shared.log.as_deref(), rows);
        shared.trace.write(out);
        let servers = self.local_servers.stop(shutdown.was_hurried());
        RouterReport {
            table,
            log,
            servers,
            hurried: shutdown.was_hurried(),
        }
    }
}

impl Shared {
    /// Serves one client: the original's `threaded(c, addr)`.
    fn serve(&self, stream: TcpStream, client: SocketAddr) {
        let (limits, out) = (&self.limits, self.out);
        // The client may get two lines, a notice and the answer: no waiting for Nagle.
        if limits.apply_write_timeout(&stream).is_err() || stream.set_nodelay(true).is_err() {
            return;
        }
        out.progress(format_args!(
            "router: Connected to : {} : {}",
            client.ip(),
            client.port()
        ));

        // 1. The request, checked before it may take a slot.
        let request = match protocol::read_request(&stream, Instant::now() + limits.request_timeout)
        {
            Ok(request) => request,
            Err(Some(refusal)) => return send(&stream, &refusal),
            Err(None) => return, // Closed without a word: nothing to answer, nothing to log.
        };
        let query = request.query();

        // 2. A slot: at once, or after waiting in the queue, told its place.
        let arrived = Instant::now();
        let told = |position| {
            out.progress(format_args!(
                "router: {client} waits: number {position} in the queue"
            ));
            self.trace.record(client, Step::Queued { place: position });
            protocol::write_line(&stream, &QueuedNotice::new(position)).is_ok()
        };
        let (permit, position) = match self.queue.take_slot(limits.queue_timeout, told) {
            Ok(granted) => granted,
            Err(None) => return, // The client went away while waiting.
            Err(Some(waited)) => {
                let secs = waited.as_secs_f64();
                let why = format!("waited {secs:.1} s for a server: all are busy; try again");
                return send(&stream, &Reply::fail(query, why));
            }
        };
        let (waited, first) = (arrived.elapsed(), (permit.slot(), permit.turn()));

        // 3. The IP table: its lock is taken and released inside `push`.
        let (slot, server, ms) = (first.0, self.servers[first.0], waited.as_millis());
        self.table.push(RouterEntry { client, server });
        out.progress(format_args!(
            "router: {client} -> slot {slot} ({server}), waited {ms} ms"
        ));

        // 4. Ask the slot's server. (Beyond the original: if it fails, its slot goes out of
        // service for a while, and the client is given another slot.)
        let asked = self
            .failover
            .ask_until_answered(permit, self.queue.semaphore(), |permit| {
                let (slot, turn) = (permit.slot(), permit.turn());
                self.trace.record(client, Step::Granted { slot, turn });
                // The row names the server asked: another one if the first failed.
                if slot != first.0 {
                    self.table.replace(RouterEntry {
                        client,
                        server: self.servers[slot],
                    });
                }
                ask_server(self.servers[slot], request, limits)
            });

        // 5. Say who served the client, and pass the answer on.
        let (answer, permit) = match asked {
            Ok((answer, permit)) => (answer, Some(permit)),
            Err(why) => {
                out.progress(format_args!("router: {client}: {why}"));
                let reply = serde_json::to_value(Reply::fail(query, why));
                (
                    reply
                        .ok()
                        .and_then(|r| r.as_object().cloned())
                        .unwrap_or_default(),
                    None,
                )
            }
        };
        let (slot, turn) = permit.as_ref().map_or(first, |p| (p.slot(), p.turn()));
        let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        let server = self.servers[slot].to_string();
        let served = Served {
            slot,
            server,
            queue_position: position,
            waited_ms,
            turn,
        };
        if (&stream)
            .write_all(with_router_field(answer, &served).as_bytes())
            .is_err()
        {
            out.progress(format_args!("router: {client} left before its answer"));
        }

        if let Some(permit) = permit {
            // 6. The original's time.sleep(5): the slot stays taken, so that others queue.
            if !self.hold.is_zero() {
                self.shutdown.sleep(self.hold);
            }
            // 7. Dropping the permit frees the slot and wakes the next client in the queue.
            self.trace.record(
                client,
                Step::Released {
                    slot: permit.slot(),
                },
            );
            drop(permit);
        }
        // (Beyond the original: a full table goes to the log, after the answer and the slot.)
        let log = self.log.as_deref();
        table_limit::spill_if_full("router", out, log, &self.table, limits.table_limit);
    }
}

/// Sends a reply line; a client that has gone cannot be told, and nothing is left to do.
fn send(stream: &TcpStream, reply: &Reply) {
    let _ = protocol::write_line(stream, reply);
}

/// The fields of an answer, in the order they came.
type Fields = serde_json::Map<String, serde_json::Value>;

/// One exchange with a server (the original's `serverconnect()`): connect, send the request
/// line, read the answer line, and check that it is a JSON object with a `status`. The error
/// says what failed: `cannot connect: ...`, `no reply: ...`, `unusable reply: ...`.
pub fn ask_server(server: SocketAddr, request: Request, limits: &Limits) -> io::Result<Fields> {
    let context =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    let mut stream = TcpStream::connect_timeout(&server, limits.connect_timeout)
        .map_err(context("cannot connect"))?;
    limits
        .apply_write_timeout(&stream)
        .map_err(context("cannot connect"))?;
    stream
        .write_all(request.to_line().as_bytes())
        .map_err(context("cannot send the request"))?;
    let deadline = Instant::now() + limits.read_timeout;
    let answer =
        LineReader::new(deadline::Reader::new(&stream, deadline)).read_line(MAX_REPLY_LINE);
    let answer = answer.map_err(context("no reply"))?;
    let unusable =
        |why| io::Error::new(io::ErrorKind::InvalidData, format!("unusable reply: {why}"));
    let fields: Fields = serde_json::from_str(&answer).map_err(|e| unusable(e.to_string()))?;
    match fields.get("status").and_then(|status| status.as_str()) {
        Some(status) if !status.is_empty() => Ok(fields),
        _ => Err(unusable("no status".into())),
    }
}

/// The server's answer, with `"router": served` added as its last field, as a line.
fn with_router_field(mut answer: Fields, served: &Served) -> String {
    answer.insert(
        "router".into(),
        serde_json::to_value(served).unwrap_or_default(),
    );
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
        let line = with_router_field(
            serde_json::from_str(r#"{"status":"fail","message":"x","query":""}"#).unwrap(),
            &served,
        );
        let reply = Reply::from_json(line.trim_end()).unwrap();
        assert_eq!(
            (reply.router, reply.message.as_deref()),
            (Some(served), Some("x"))
        );
    }
}
