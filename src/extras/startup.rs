//! Setting up a router or a server: its configuration (what the command line says), binding its
//! socket, and what it reports when it stops.
//!
//! The original hard-coded its ports and its four VMs' addresses. Here a [`RouterConfig`] or
//! [`ServerConfig`] holds them and every knob beyond them; `Router::bind` and `Server::bind`
//! open everything a run needs (the socket, the database, the in-process servers), so that a
//! program that cannot start says why before any client connects. Binding prints the
//! original's start-up lines (`socket bound to port 9020`, `socket is listening`).

use super::failover::Failover;
use super::local_servers;
use super::queue::Queue;
use super::trace::Trace;
use super::{limits, Limits, Output};
use crate::geo::{public_ip, GeoChoice, Geolocator};
use crate::iplog::{self, Appended};
use crate::iptable::{IpTable, RouterEntry};
use crate::nat::{NatEntry, NatTable};
use crate::signal::{Shutdown, HURRIED_EXIT_CODE};
use crate::{router, server, Router, Server};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The original's router port.
pub const ROUTER_PORT: u16 = 9020;
/// The original's server port.
pub const SERVER_PORT: u16 = 12347;

/// Why a router or server cannot start: a port in use, an unusable database, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Where a router or server keeps its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    /// No log.
    None,
    /// This file.
    At(PathBuf),
    /// The program's default file name (which may name its port) in this folder.
    DefaultIn(PathBuf),
}

impl LogFile {
    /// The file to write, given the program's default file name.
    pub fn path(&self, default_name: &str) -> Option<PathBuf> {
        match self {
            LogFile::None => None,
            LogFile::At(path) => Some(path.clone()),
            LogFile::DefaultIn(dir) => Some(dir.join(default_name)),
        }
    }
}

/// How to run a router.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The servers behind the slots: four in the original.
    pub servers: Servers,
    /// How long a client keeps its slot after its answer was sent (`--hold-secs`).
    pub hold: Duration,
    /// The JSON log the table is appended to (default `geotracker-router.json`; see
    /// [`default_log_name`]).
    pub log: LogFile,
    /// Timeouts and caps.
    pub limits: Limits,
    /// Where to write the semaphore's timeline when stopping (`--trace`).
    pub trace: Option<PathBuf>,
    /// What to print.
    pub output: Output,
}

/// The servers behind the router's slots.
#[derive(Debug, Clone)]
pub enum Servers {
    /// Servers running elsewhere (`--servers`).
    At(Vec<SocketAddr>),
    /// Four servers set up like `config`, started in this process on ports `first_port` to
    /// `first_port + 3` (all on free ports if 0): `cargo run --example router`.
    InProcess {
        /// The port of the first one.
        first_port: u16,
        /// How each is set up; the port of its `bind` is replaced.
        config: Box<ServerConfig>,
    },
}

impl RouterConfig {
    /// A router on `bind` over the servers at `servers`, with the flags' defaults.
    pub fn new(bind: SocketAddr, servers: Vec<SocketAddr>) -> RouterConfig {
        let (hold, log, limits) = (Duration::ZERO, LogFile::None, Limits::default());
        let servers = Servers::At(servers);
        RouterConfig {
            bind,
            servers,
            hold,
            log,
            limits,
            trace: None,
            output: Output::Everything,
        }
    }
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// The server's public address, where its NAT pool starts; `None`: ask ipify.
    pub public_ip: Option<Ipv4Addr>,
    /// Where locations come from (`--geo`, `--geo-db`, ...).
    pub geo: GeoChoice,
    /// The JSON log the table is appended to (default `geotracker-server-<port>.json`; see
    /// [`default_log_name`]).
    pub log: LogFile,
    /// Timeouts and caps.
    pub limits: Limits,
    /// What to print.
    pub output: Output,
}

impl ServerConfig {
    /// A server on `bind` with the flags' defaults.
    pub fn new(bind: SocketAddr) -> ServerConfig {
        let (geo, log, limits) = (GeoChoice::default(), LogFile::None, Limits::default());
        ServerConfig {
            bind,
            public_ip: None,
            geo,
            log,
            limits,
            output: Output::Everything,
        }
    }
}

/// What a router leaves when it stops.
#[derive(Debug)]
pub struct RouterReport {
    /// The table's last run: the rows that were in memory, in order.
    pub table: Vec<RouterEntry>,
    /// What happened to the log, if there is one.
    pub log: Option<io::Result<Appended>>,
    /// The reports of the in-process servers.
    pub servers: Vec<ServerReport>,
    /// True when a second Ctrl-C cut the stop short.
    pub hurried: bool,
}

impl RouterReport {
    /// The exit code: 0, 1 if a log could not be written, 130 after a second Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        exit_code(
            self.hurried,
            self.servers.iter().map(|s| &s.log).chain([&self.log]),
        )
    }
}

/// What a server leaves when it stops.
#[derive(Debug)]
pub struct ServerReport {
    /// The table's last run: the rows that were in memory, in arrival order.
    pub table: Vec<NatEntry>,
    /// What happened to the log, if there is one.
    pub log: Option<io::Result<Appended>>,
    /// True when a second Ctrl-C cut the stop short.
    pub hurried: bool,
}

impl ServerReport {
    /// The exit code: 0, 1 if the log could not be written, 130 after a second Ctrl-C.
    pub fn exit_code(&self) -> u8 {
        exit_code(self.hurried, [&self.log])
    }
}

/// The default log file name: `geotracker-router.json`, `geotracker-server-12347.json`, with
/// the address too when it is not the default 127.0.0.1 (`geotracker-server-127.0.0.2-12347.json`),
/// so that servers on one port of several loopback addresses, or routers on several
/// addresses, keep one log each. (Programs that share a log anyway lose no run: see `iplog.rs`.)
pub fn default_log_name(kind: &str, ip: IpAddr, port: Option<u16>) -> String {
    let ip = if ip == IpAddr::from([127, 0, 0, 1]) {
        String::new()
    } else {
        format!("-{ip}")
    };
    let port = port.map(|port| format!("-{port}")).unwrap_or_default();
    format!("geotracker-{kind}{ip}{port}.json").replace(':', "_")
}

/// Checks at start-up what the log will need at Ctrl-C, so that a run is not lost then: the
/// folder exists and can be written (the lock file beside the log is created), and an old file
/// is a log, or is moved aside now. Returns the path, or why the program cannot start.
fn ready_log(who: &str, path: Option<PathBuf>, out: Output) -> Result<Option<PathBuf>, StartError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let cannot = |e: io::Error| {
        StartError(format!(
            "{who}: cannot keep a log at {}: {e}",
            path.display()
        ))
    };
    let lock = iplog::lock_path(&path).map_err(cannot)?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock)
        .map_err(cannot)?;
    match std::fs::read(&path) {
        Ok(bytes) if iplog::read_log(&bytes).is_some() => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        _ => {
            let aside = iplog::move_aside(&path).map_err(cannot)?;
            out.warn(format_args!(
                "{who}: {} is not a log; it was kept as {}",
                path.display(),
                aside.display()
            ));
        }
    }
    Ok(Some(path))
}

/// Binds `addr` (the original's `s.bind` and `s.listen`); returns the socket and its port.
fn listen(kind: &str, addr: SocketAddr) -> Result<(TcpListener, u16), StartError> {
    let bound = TcpListener::bind(addr).and_then(|l| Ok((l.local_addr()?.port(), l)));
    let (port, listener) =
        bound.map_err(|e| StartError(format!("{kind}: cannot listen on {addr}: {e}")))?;
    Ok((listener, port))
}

impl Router {
    /// Binds the router's socket, starts the in-process servers if the configuration asks for
    /// them, and prints the start-up lines. Everything that can fail at start-up fails here.
    pub fn bind(mut config: RouterConfig, shutdown: Arc<Shutdown>) -> Result<Router, StartError> {
        // Descriptors per client: its connection and the one to its server, and that server's
        // end too if the servers are in this process.
        let in_process = matches!(config.servers, Servers::InProcess { .. });
        let descriptors =
            limits::fit_to_descriptors(&mut config.limits, 2 + usize::from(in_process));
        if let Servers::InProcess {
            config: servers, ..
        } = &mut config.servers
        {
            servers.limits.max_clients = servers.limits.max_clients.min(config.limits.max_clients);
        }
        let (listener, port) = listen("router", config.bind)?;
        let log_file = config
            .log
            .path(&default_log_name("router", config.bind.ip(), None));
        let log = ready_log("router", log_file, config.output)?;
        let local_servers = local_servers::start(&mut config.servers)?;
        let servers = match config.servers {
            Servers::At(servers) if !servers.is_empty() => servers,
            _ => return Err(StartError("router: no servers to forward to".into())),
        };
        let out = config.output;
        out.notice(format_args!("router: socket bound to port {port}"));
        out.notice(format_args!("router: socket is listening"));
        if let Some(descriptors) = descriptors {
            out.notice(format_args!("router: {descriptors}"));
        }
        let list: Vec<String> = servers.iter().map(ToString::to_string).collect();
        let (n, list, hold) = (servers.len(), list.join(", "), config.hold.as_secs_f64());
        out.notice(format_args!(
            "router: {n} server slots: {list}; each client keeps its slot {hold} s after its answer"
        ));
        let shared = Arc::new(router::Shared {
            queue: Queue::new(n),
            table: IpTable::new(),
            hold: config.hold,
            log,
            failover: Failover::new(
                servers.clone(),
                config.limits.backoff,
                out,
                Arc::clone(&shutdown),
            ),
            trace: Trace::new(config.trace),
            limits: config.limits,
            servers,
            out,
            shutdown,
        });
        Ok(Router {
            listener,
            shared,
            local_servers,
        })
    }

    /// The address the router listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Server {
    /// Opens the geolocation source, finds the public address (`--public-ip`, else ipify, else
    /// the original's), binds the socket and prints the start-up lines.
    pub fn bind(mut config: ServerConfig, shutdown: Arc<Shutdown>) -> Result<Server, StartError> {
        // Descriptors per caller: its connection, and one to ip-api.com if it is asked.
        let descriptors = limits::fit_to_descriptors(&mut config.limits, 2);
        let geo = config
            .geo
            .open()
            .map_err(|e| StartError(format!("server: {e}")))?;
        let public = public_ip::resolve(config.public_ip);
        let server = Server::bind_with(
            ServerConfig {
                public_ip: Some(public.addr),
                ..config
            },
            geo,
            shutdown,
        )?;
        server.say_listening();
        let (who, out) = (&server.shared.who, server.shared.out);
        if let Some(descriptors) = descriptors {
            out.notice(format_args!("{who}: {descriptors}"));
        }
        out.notice(format_args!("{who}: NAT pool starts at {public}"));
        out.notice(format_args!(
            "{who}: geolocation source: {}",
            server.shared.geo.name()
        ));
        Ok(server)
    }

    /// Binds the socket, with a geolocation source already open (the router's in-process
    /// servers share one) and the NAT pool at `config.public_ip` (else 117.222.175.180). Prints
    /// nothing: everything is bound before anything is printed.
    pub fn bind_with(
        config: ServerConfig,
        geo: Arc<dyn Geolocator>,
        shutdown: Arc<Shutdown>,
    ) -> Result<Server, StartError> {
        let (listener, port) = listen("server", config.bind)?;
        // Named by port, and by address too when it is not 127.0.0.1 or every address, so that
        // four servers on 127.0.0.2..5 with one port print lines that can be told apart.
        let ip = config.bind.ip();
        let at = if ip == IpAddr::from([127, 0, 0, 1]) || ip.is_unspecified() {
            port.to_string()
        } else {
            SocketAddr::new(ip, port).to_string()
        };
        let (who, out) = (format!("server {at}"), config.output);
        let log_file = config.log.path(&default_log_name("server", ip, Some(port)));
        let log = ready_log(&who, log_file, out)?;
        let shared = Arc::new(server::Shared {
            nat: NatTable::new(config.public_ip.unwrap_or(public_ip::FALLBACK)),
            log,
            limits: config.limits,
            who,
            geo,
            out,
            shutdown,
        });
        Ok(Server { listener, shared })
    }

    /// The original's start-up lines.
    pub(crate) fn say_listening(&self) {
        let (who, out) = (&self.shared.who, self.shared.out);
        let port = self.local_addr().map_or(0, |addr| addr.port());
        out.notice(format_args!("{who}: socket bound to port {port}"));
        out.notice(format_args!("{who}: socket is listening"));
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// The exit code of a stopped program: 130 after a second Ctrl-C, else 1 if a log could not be
/// written, else 0.
fn exit_code<'a>(
    hurried: bool,
    logs: impl IntoIterator<Item = &'a Option<io::Result<Appended>>>,
) -> u8 {
    let failed = logs.into_iter().any(|log| matches!(log, Some(Err(_))));
    if hurried {
        HURRIED_EXIT_CODE
    } else {
        u8::from(failed)
    }
}
