//! The server: maps each caller through its NAT table, geolocates, answers.
//!
//! The original `server.py` ran on four VMs, on port 12347, and asked ipify for its public
//! address at start-up. A thread per connection, `threaded(c, addr)`, recorded the caller in
//! the IP table (under `print_lock`), located the caller's public address through ip-api.com
//! (`main(ip)`) and sent the answer. [`Server::bind`] binds the socket, [`Server::run`] is the
//! accept loop (`accept.rs`), and `ServerState::serve` is one caller's thread:
//!
//! 1. `read_request`: empty means "locate the caller", an address "locate this";
//! 2. `NatTable::map` (`nat.rs`): the caller's public address, the critical section of the
//!    original;
//! 3. `locate`, with the shared [`Geolocator`] (`geo/`), and `answer`: one reply line.
//!
//! Behind the router, a server's caller is the router's own connection: "where am I?" locates
//! the router's mapped address, as the original's servers did, never the client's. (The
//! geolocation source is the bundled database unless `--geo` says otherwise; the public
//! address, where the pool starts, is `--public-ip`, else asked of ipify at start-up for at
//! most 2 s, else the original's: `geo/public_ip.rs`.)

use crate::accept::{self, Acceptor};
use crate::extras::config::{self, ServerConfig, ServerReport, StartError};
use crate::extras::limits::Limits;
use crate::extras::output::Output;
use crate::extras::table_limit;
use crate::geo::{public_ip, Geolocator};
use crate::nat::{NatEntry, NatTable};
use crate::protocol::{self, Incoming, Request};
use crate::reply::Reply;
use crate::signal::{self, Shutdown};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// A server with its socket bound, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    state: Arc<ServerState>,
}

/// What every caller's thread of a server shares.
struct ServerState {
    /// "server 12347": how it names itself in messages.
    who: String,
    /// The callers and their public addresses: the original's `iptable` and `ip`.
    nat: NatTable,
    /// Where locations come from: the original asked ip-api.com.
    geo: Arc<dyn Geolocator>,
    /// The JSON log the table is appended to at the stop.
    log: Option<PathBuf>,
    limits: Limits,
    out: Output,
    shutdown: Arc<Shutdown>,
}

impl Server {
    /// Opens the geolocation source, finds the public address (`--public-ip`, else ipify, else
    /// the original's), binds the socket and prints the start-up lines.
    pub fn bind(mut config: ServerConfig, shutdown: Arc<Shutdown>) -> Result<Server, StartError> {
        // (Beyond the original: --max-clients fitted to the file descriptors there are.)
        let descriptors = config.fit_to_descriptors();
        let geo = config
            .geo
            .open()
            .map_err(|e| StartError(format!("server: {e}")))?;
        let public = public_ip::resolve(config.public_ip);
        config.public_ip = Some(public.addr);
        let server = Server::bind_with(config, geo, shutdown)?;
        server.say_listening();
        let who = &server.state.who;
        let out = server.state.out;
        if let Some(descriptors) = descriptors {
            out.notice(format_args!("{who}: {descriptors}"));
        }
        out.notice(format_args!("{who}: NAT pool starts at {public}"));
        let source = server.state.geo.name();
        out.notice(format_args!("{who}: geolocation source: {source}"));
        Ok(server)
    }

    /// Binds the socket (the original's `s.bind` and `s.listen`), with a geolocation source
    /// already open (the router's in-process servers share one) and the NAT pool at
    /// `config.public_ip` (else 117.222.175.180). Prints nothing: everything is bound before
    /// anything is printed.
    pub fn bind_with(
        config: ServerConfig,
        geo: Arc<dyn Geolocator>,
        shutdown: Arc<Shutdown>,
    ) -> Result<Server, StartError> {
        let listener = accept::listen("server", config.bind)?;
        let bound = listener
            .local_addr()
            .map_err(|e| StartError(format!("server: cannot listen on {}: {e}", config.bind)))?;
        let who = format!("server {}", config::server_label(bound));
        let log = config::ready_log(&who, config.log_path(bound), config.output)?;
        let state = ServerState {
            who,
            nat: NatTable::new(config.public_ip.unwrap_or(public_ip::FALLBACK)),
            geo,
            log,
            limits: config.limits,
            out: config.output,
            shutdown,
        };
        Ok(Server {
            listener,
            state: Arc::new(state),
        })
    }

    /// The original's start-up lines.
    pub(crate) fn say_listening(&self) {
        let who = &self.state.who;
        let out = self.state.out;
        let port = self.local_addr().map_or(0, |addr| addr.port());
        out.notice(format_args!("{who}: socket bound to port {port}"));
        out.notice(format_args!("{who}: socket is listening"));
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until a stop is requested, waits for the callers being served, prints the table
    /// and appends it to the log (the original's `handler`).
    pub fn run(self) -> ServerReport {
        let state = &self.state;
        let acceptor = Acceptor {
            who: &state.who,
            thread_prefix: "caller",
            shutdown: &state.shutdown,
            limits: &state.limits,
            out: state.out,
        };
        let serving = Arc::clone(state);
        acceptor.serve_each_connection(self.listener, move |stream, caller| {
            serving.serve(stream, caller)
        });
        let rows = state.nat.take_all();
        let (table, log) = signal::dump(&state.who, state.out, state.log.as_deref(), rows);
        ServerReport {
            table,
            log,
            hurried: state.shutdown.was_hurried(),
        }
    }
}

impl ServerState {
    /// One caller's thread: the original's `threaded(c, addr)`.
    fn serve(&self, stream: TcpStream, caller: SocketAddr) {
        if self.limits.apply_write_timeout(&stream).is_err() {
            return;
        }
        // 1. The request line. (The original mapped the caller first; a caller that closes
        // without a word is not answered, nor mapped, nor logged.)
        let deadline = Instant::now() + self.limits.request_timeout;
        let incoming = protocol::read_request(&stream, deadline);
        if let Incoming::Closed = incoming {
            return;
        }
        // 2. The NAT table: its critical section is inside `map`.
        let entry = self.nat.map(caller);
        self.out.progress(format_args!(
            "{}: Connected to : {} : {}",
            self.who,
            caller.ip(),
            caller.port()
        ));
        // 3. Locate, and answer.
        let reply = match incoming {
            Incoming::Request(request) => self.locate(request, entry),
            Incoming::Refuse(refusal) => *refusal,
            Incoming::Closed => return,
        };
        self.answer(&stream, caller, &reply);
        // (Beyond the original: a full table goes to the log, after the answer.)
        let log = self.log.as_deref();
        table_limit::spill_if_full(&self.who, self.out, log, &self.nat, self.limits.table_limit);
    }

    /// The location asked for: of the address in the request, or of the caller's public
    /// address (the original's `main(ip)`).
    fn locate(&self, request: Request, caller: NatEntry) -> Reply {
        let ip = match request {
            Request::Lookup(ip) => ip,
            Request::MyLocation => caller.public.ip(),
        };
        let who = &self.who;
        self.out
            .progress(format_args!("{who}: Getting details for IP: {ip} ...."));
        self.geo.locate(ip)
    }

    /// Sends the reply line: the original's `c.send`.
    fn answer(&self, stream: &TcpStream, caller: SocketAddr, reply: &Reply) {
        let who = &self.who;
        match protocol::write_line(stream, reply) {
            Ok(()) => self.out.progress(format_args!("{who}: Details sent!!!")),
            Err(e) => self
                .out
                .progress(format_args!("{who}: could not answer {caller}: {e}")),
        }
    }
}
