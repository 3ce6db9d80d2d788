//! A router's or a server's configuration (what the command line says), the log check at
//! start-up, and what each reports when it stops.
//!
//! The original hard-coded its ports and its four VMs' addresses. Here a [`RouterConfig`] or
//! [`ServerConfig`] holds them and every knob beyond them. `Router::bind` (`router.rs`) and
//! `Server::bind` (`server.rs`) take one and open everything a run needs, so that a program
//! that cannot start says why before any client connects.

use crate::extras::limits::{self, Limits};
use crate::extras::output::Output;
use crate::geo::GeoChoice;
use crate::iplog::{self, Appended};
use crate::iptable::RouterEntry;
use crate::nat::NatEntry;
use crate::signal::HURRIED_EXIT_CODE;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
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
        RouterConfig {
            bind,
            servers: Servers::At(servers),
            hold: Duration::ZERO,
            log: LogFile::None,
            limits: Limits::default(),
            trace: None,
            output: Output::Everything,
        }
    }

    /// The log's path, if there is one: `--log`, or the default name in `--log-dir`.
    pub(crate) fn log_path(&self) -> Option<PathBuf> {
        let default_name = default_log_name("router", self.bind.ip(), None);
        self.log.path(&default_name)
    }

    /// Raises the limit on open files where it can, and lowers `--max-clients` (the router's,
    /// and its in-process servers') to what the limit leaves room for; the start-up line that
    /// says so (`limits.rs`).
    pub(crate) fn fit_to_descriptors(&mut self) -> Option<String> {
        // Descriptors per client: its connection and the one to its server, and that server's
        // end too if the servers are in this process.
        let in_process = matches!(self.servers, Servers::InProcess { .. });
        let per_client = 2 + usize::from(in_process);
        let line = limits::fit_to_descriptors(&mut self.limits, per_client);
        if let Servers::InProcess { config, .. } = &mut self.servers {
            let max_clients = config.limits.max_clients.min(self.limits.max_clients);
            config.limits.max_clients = max_clients;
        }
        line
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
        ServerConfig {
            bind,
            public_ip: None,
            geo: GeoChoice::default(),
            log: LogFile::None,
            limits: Limits::default(),
            output: Output::Everything,
        }
    }

    /// The log's path, if there is one, for a server bound to `bound`.
    pub(crate) fn log_path(&self, bound: SocketAddr) -> Option<PathBuf> {
        let default_name = default_log_name("server", bound.ip(), Some(bound.port()));
        self.log.path(&default_name)
    }

    /// Raises the limit on open files where it can, and lowers `--max-clients` to what it
    /// leaves room for; the start-up line that says so (`limits.rs`).
    pub(crate) fn fit_to_descriptors(&mut self) -> Option<String> {
        // Descriptors per caller: its connection, and one to ip-api.com if it is asked.
        limits::fit_to_descriptors(&mut self.limits, 2)
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

/// How a server bound to `bound` names itself after "server ": by port, and by address too
/// when it is not 127.0.0.1 or every address, so that four servers on 127.0.0.2..5 with one
/// port print lines that can be told apart.
pub(crate) fn server_label(bound: SocketAddr) -> String {
    let ip = bound.ip();
    if ip == IpAddr::from([127, 0, 0, 1]) || ip.is_unspecified() {
        bound.port().to_string()
    } else {
        bound.to_string()
    }
}

/// Checks at start-up what the log will need at Ctrl-C, so that a run is not lost then: the
/// folder exists and can be written (the lock file beside the log is created), and an old file
/// is a log, or is moved aside now. Returns the path, or why the program cannot start.
pub(crate) fn ready_log(
    who: &str,
    path: Option<PathBuf>,
    out: Output,
) -> Result<Option<PathBuf>, StartError> {
    let Some(path) = path else {
        return Ok(None);
    };
    let cannot = |e: io::Error| {
        let shown = path.display();
        StartError(format!("{who}: cannot keep a log at {shown}: {e}"))
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
