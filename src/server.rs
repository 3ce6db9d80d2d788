//! The server: maps each caller through its NAT table, geolocates, answers.
//!
//! The original `server.py` ran on four VMs, on port 12347, and asked ipify for its public
//! address at start-up. A thread per connection recorded the caller in the IP table (under
//! `print_lock`), located the caller's public address through ip-api.com and sent the answer.
//! [`Server::run`] is the accept loop (`accept.rs`); `Shared::serve` is one caller's thread:
//!
//! 1. read the request line: empty means "locate the caller", an address "locate this";
//! 2. map the caller with `NatTable::map` (`nat.rs`), the critical section of the original;
//! 3. locate with the shared [`Geolocator`] (`geo/`), and write one reply line.

use crate::extras::{startup::ServerReport, table_limit, Limits};
use crate::protocol::{self, Request};
use crate::signal::{self, Shutdown};
use crate::{accept, extras::Output, geo::Geolocator, nat::NatTable};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::{path::PathBuf, sync::Arc, time::Instant};

/// A server with its socket bound (by `Server::bind`), ready to [`Server::run`].
pub struct Server {
    pub(crate) listener: TcpListener,
    pub(crate) shared: Arc<Shared>,
}

/// What every caller's thread shares.
pub(crate) struct Shared {
    /// "server 12347": how it names itself in messages.
    pub(crate) who: String,
    pub(crate) nat: NatTable,
    pub(crate) geo: Arc<dyn Geolocator>,
    pub(crate) log: Option<PathBuf>,
    pub(crate) limits: Limits,
    pub(crate) out: Output,
    pub(crate) shutdown: Arc<Shutdown>,
}

impl Server {
    /// Serves until a stop is requested, waits for the callers being served, prints the table
    /// and appends it to the log.
    pub fn run(self) -> ServerReport {
        let shared = Arc::clone(&self.shared);
        let (listener, shutdown, limits, out) =
            (self.listener, &shared.shutdown, &shared.limits, shared.out);
        let serving = Arc::clone(&shared);
        let serve = move |stream, caller| serving.serve(stream, caller);
        accept::serve_each_connection(
            &shared.who,
            "caller",
            listener,
            shutdown,
            limits,
            out,
            serve,
        );
        let rows = shared.nat.take_oldest(usize::MAX);
        let (table, log) = signal::dump(&shared.who, out, shared.log.as_deref(), rows);
        ServerReport {
            table,
            log,
            hurried: shutdown.was_hurried(),
        }
    }
}

impl Shared {
    /// Serves one caller: the original's `threaded(c, addr)`.
    fn serve(&self, stream: TcpStream, caller: SocketAddr) {
        let (who, limits, out) = (&self.who, &self.limits, self.out);
        if limits.apply_write_timeout(&stream).is_err() {
            return;
        }
        // 1. The request line. (The original mapped the caller first; a caller that closes
        // without a word is not answered, nor mapped, nor logged.)
        let request = match protocol::read_request(&stream, Instant::now() + limits.request_timeout)
        {
            Ok(request) => Ok(request),
            Err(Some(refusal)) => Err(*refusal),
            Err(None) => return,
        };
        // 2. The NAT table: its critical section is inside `map`.
        let entry = self.nat.map(caller);
        out.progress(format_args!(
            "{who}: Connected to : {} : {}",
            caller.ip(),
            caller.port()
        ));

        // 3. Locate, and answer.
        let reply = match request {
            Ok(request) => {
                let ip = match request {
                    Request::Lookup(ip) => ip,
                    Request::MyLocation => entry.public.ip(),
                };
                out.progress(format_args!("{who}: Getting details for IP: {ip} ...."));
                self.geo.locate(ip)
            }
            Err(refusal) => refusal,
        };
        match protocol::write_line(&stream, &reply) {
            Ok(()) => out.progress(format_args!("{who}: Details sent!!!")),
            Err(e) => out.progress(format_args!("{who}: could not answer {caller}: {e}")),
        }
        // (Beyond the original: a full table goes to the log, after the answer.)
        table_limit::spill_if_full(who, out, self.log.as_deref(), &self.nat, limits.table_limit);
    }
}
