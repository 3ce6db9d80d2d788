//! The server: maps each caller through its NAT table, geolocates, answers.
//!
//! The original `server.py` ran on each of four VMs, listening on port 12347. For each
//! connection it started a thread that recorded the caller in the IP table (under
//! `print_lock`), located the caller's public address through ip-api.com and sent the answer.
//! On Ctrl-C it printed the table and appended it to `sample.json`.
//!
//! [`Server`] does the same with these steps per connection ([`Server::spawn`] starts it):
//!
//! 1. map the caller with [`NatTable::map`] (the critical section of the original);
//! 2. read one request line ([`crate::protocol`]): empty means "locate the caller", an address
//!    means "locate this";
//! 3. locate with the shared [`Geolocator`] and write one reply line.

use crate::accept::{accept_loop, Limits};
use crate::geo::Geolocator;
use crate::iplog::{Appended, LogError, LogFile};
use crate::iptable::TableLog;
use crate::nat::{NatEntry, NatTable};
use crate::protocol::{self, Request, Timeouts};
use crate::reply::Reply;
use crate::shutdown::{InFlight, Shutdown};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};

/// The original's server port.
pub const DEFAULT_PORT: u16 = 12347;

/// The default log file of the server on `port`: `geotracker-server-<port>.json`.
pub fn default_log_name(port: u16) -> String {
    format!("geotracker-server-{port}.json")
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// First address of the NAT pool (the server's public address).
    pub public_ip: Ipv4Addr,
    /// JSON log to append the table to when stopping; the default name is
    /// [`default_log_name`] of the port actually bound.
    pub log: LogFile,
    /// Socket timeouts.
    pub timeouts: Timeouts,
    /// Most callers served at once (`--max-clients`); the next ones are told "server busy".
    pub max_clients: usize,
    /// Most NAT rows kept in memory before they are written to the log (`--table-limit`).
    pub table_limit: usize,
    /// No per-connection progress lines (for tests and load runs); start-up lines and the
    /// table on exit are still printed.
    pub quiet: bool,
}

impl ServerConfig {
    /// A server on `bind` with pool base `public_ip`, no log file, default timeouts.
    pub fn new(bind: SocketAddr, public_ip: Ipv4Addr) -> ServerConfig {
        ServerConfig {
            bind,
            public_ip,
            log: LogFile::None,
            timeouts: Timeouts::default(),
            max_clients: crate::router::DEFAULT_MAX_CLIENTS,
            table_limit: crate::iptable::DEFAULT_TABLE_LIMIT,
            quiet: false,
        }
    }
}

/// What a server leaves behind when it stops.
#[derive(Debug)]
pub struct ServerReport {
    /// The NAT table's rows still in memory when it stopped, in arrival order: all of them,
    /// unless the table filled up (`--table-limit`) and earlier rows went to the log.
    pub table: Vec<NatEntry>,
    /// The outcome of appending it to the log, if a log was configured.
    pub log: Option<Result<Appended, LogError>>,
}

/// A bound server, ready to [`Server::run`] or [`Server::spawn`].
pub struct Server {
    listener: TcpListener,
    port: u16,
    shared: Arc<Shared>,
}

/// What every connection thread of one server shares.
struct Shared {
    config: ServerConfig,
    /// The log file (resolved once the port is known), for full tables and the final dump.
    log: TableLog,
    /// The port actually bound (the configured one may be 0).
    port: u16,
    /// The NAT table; see [`crate::nat`] for its lock.
    nat: NatTable,
    geo: Arc<dyn Geolocator>,
    shutdown: Arc<Shutdown>,
    in_flight: Arc<InFlight>,
    /// The table is written once: by the normal stop, or by a second Ctrl-C, whichever comes
    /// first (the other waits for it to finish).
    dumped: Once,
}

/// A server running on its own thread.
pub struct ServerHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    thread: JoinHandle<ServerReport>,
}

impl ServerHandle {
    /// Waits for the server to stop (after its shutdown is requested) and returns its report.
    pub fn join(self) -> thread::Result<ServerReport> {
        self.thread.join()
    }
}

impl Server {
    /// Binds the listening socket and prints the original's start-up lines.
    pub fn bind(
        config: ServerConfig,
        geo: Arc<dyn Geolocator>,
        shutdown: Arc<Shutdown>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(config.bind)?;
        let port = listener.local_addr()?.port();
        // Start-up lines are printed even when quiet: they say which port was bound.
        crate::say!("server {port}: socket bound to port {port}");
        crate::say!("server {port}: socket is listening");
        let shared = Arc::new(Shared {
            nat: NatTable::with_limit(config.public_ip, config.table_limit),
            log: TableLog::new(
                &format!("server {port}"),
                config.log.path(&default_log_name(port)),
            ),
            config,
            port,
            geo,
            shutdown,
            in_flight: InFlight::new(),
            dumped: Once::new(),
        });
        // On a second Ctrl-C: write the table as it is.
        shared.shutdown.on_force_for(&shared, |shared| {
            shared.dump();
        });
        Ok(Server {
            listener,
            port,
            shared,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::new(self.shared.config.bind.ip(), self.port)
    }

    /// Serves until shutdown is requested, then waits for the connections in flight (at most
    /// [`DRAIN_LIMIT`](crate::accept::DRAIN_LIMIT)), prints the table and appends it to the log.
    pub fn run(self) -> ServerReport {
        let shared = Arc::clone(&self.shared);
        let who = format!("server {}", self.port);
        let limits = Limits {
            max_clients: self.shared.config.max_clients,
            busy: "server busy",
            write_timeout: self.shared.config.timeouts.write,
        };
        accept_loop(
            &who,
            self.listener,
            &self.shared.shutdown,
            &self.shared.in_flight,
            &limits,
            // 15 characters at most, as Linux keeps them: the caller's port tells them apart.
            |peer| format!("caller-{}", peer.port()),
            move |stream, peer| shared.serve(stream, peer),
        );
        let log = self.shared.dump();
        ServerReport {
            table: self.shared.nat.snapshot(),
            log,
        }
    }

    /// Runs the server on a new thread named `server-<port>`.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let addr = self.local_addr();
        // The accept loop of this server.
        let thread = thread::Builder::new()
            .name(format!("server-{}", self.port))
            .spawn(move || self.run())?;
        Ok(ServerHandle { addr, thread })
    }
}

impl Shared {
    /// Prints the table and appends it to the log, the first time it is called.
    fn dump(&self) -> Option<Result<Appended, LogError>> {
        let mut log = None;
        self.dumped
            .call_once(|| log = self.log.dump(&self.nat.snapshot()));
        log
    }

    fn say(&self, line: std::fmt::Arguments<'_>) {
        if !self.config.quiet {
            crate::say!("server {}: {line}", self.port);
        }
    }

    /// Serves one connection (the original's `threaded(c, addr)`).
    fn serve(&self, stream: TcpStream, peer: SocketAddr) {
        // The request is read with a deadline, which sets the read timeout; one line is written.
        if self.config.timeouts.apply_write(&stream).is_err() {
            return;
        }
        // 1. The NAT table: the critical section, inside `map`.
        let entry = self.nat.map(peer);
        self.say(format_args!(
            "Connected to : {} : {}",
            peer.ip(),
            peer.port()
        ));

        // 2. The request line; 3. locate and answer.
        let reply = match protocol::read_request_from(&stream, self.config.timeouts.read) {
            Ok(Request::Lookup(ip)) => self.locate(ip),
            Ok(Request::MyLocation) => self.locate(entry.public.ip()),
            Err(refused) => refused.reply(),
        };
        self.answer(&stream, peer, &reply);

        // 4. A full table goes to the log (after the answer, so the caller does not wait).
        if self.nat.is_full() {
            self.log.spill(|| self.nat.take_if_full());
        }
    }

    fn locate(&self, ip: std::net::IpAddr) -> Reply {
        self.say(format_args!("Getting details for IP: {ip} ...."));
        self.geo.locate(ip)
    }

    fn answer(&self, mut stream: &TcpStream, peer: SocketAddr, reply: &Reply) {
        match protocol::write_json_line(&mut stream, reply) {
            Ok(()) => self.say(format_args!("Details sent!!!")),
            Err(e) => self.say(format_args!("could not answer {peer}: {e}")),
        }
    }
}
