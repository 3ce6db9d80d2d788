//! The command lines of the three examples: parsing them, and starting what they ask for.
//!
//! The examples in `examples/` are a few lines each: parse with `*Options::parse`, print the
//! usage and exit with code 2 on a bad command line, otherwise call `run_*`. Parsing is done by
//! hand (`cli/args.rs`); the geolocation flags, shared by server and router, are in `cli/geo.rs`.

mod args;
mod geo;

pub use args::UsageError;
pub use geo::{GeoChoice, GeoSource, ASN_DB_ENV, GEO_DB_ENV};

use crate::client::{self, Answer, ClientError};
use crate::iplog::{Appended, LogError, LogFile};
use crate::load::{self, LoadConfig};
use crate::protocol::{Request, Timeouts};
use crate::public_ip::{self, PublicIp};
use crate::router::{self, Router, RouterConfig};
use crate::server::{self, Server, ServerConfig};
use crate::shutdown::Shutdown;
use args::Args;
use geo::GeoFlags;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

/// What `--port` and `--server-port` take; the words appear in the error for a bad value.
const PORT: &str = "a port number (0 to 65535)";

/// Usage of `cargo run --example server`.
pub const SERVER_USAGE: &str = "\
usage: cargo run --example server -- [--port P] [--bind IP] [--public-ip IPV4]
                                     [GEO FLAGS] [LIMITS] [--log FILE | --no-log] [--quiet]
  --port P        port to listen on (default 12347)
  --bind IP       address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)
  --public-ip A   first public address of the NAT pool (default: ask ipify, else 117.222.175.180)
  --log FILE      JSON log of IP tables (default geotracker-server-<port>.json)
LIMITS (router and server; seconds may have decimals):
  --connect-timeout S   longest wait to connect (default 3)
  --read-timeout S      longest wait for a whole request or reply line (default 10)
  --write-timeout S     longest wait to send a line (default 10)
  --max-clients N       most clients served at once; the next are told \"busy\" (default 2000)
  --table-limit N       rows an IP table keeps in memory; a full table is written to the log
                        as a run of its own (default 100000)
GEO FLAGS:
  --geo SOURCE          offline (default: local databases), ip-api (ip-api.com), or auto
                        (ip-api.com, and the local databases when it has no answer)
  --geo-db CITY.mmdb    a City database instead of the bundled sample; give it twice for
                        separate IPv4 and IPv6 files (default: $GEOTRACKER_GEO_DB)
  --asn-db ASN.mmdb     an ASN database for isp, org and as (default: $GEOTRACKER_ASN_DB)
  --geo-url URL         ip-api.com's address (default http://ip-api.com)
  --geo-cache-secs N    keep each ip-api.com answer N seconds (default 600; 0 keeps none)
  --geo-cache-size N    keep at most N answers (default 10000)";

/// Options of `cargo run --example server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Listening address.
    pub bind: SocketAddr,
    /// `--public-ip`, if given.
    pub public_ip: Option<Ipv4Addr>,
    /// Geolocation source.
    pub geo: GeoChoice,
    /// Log file.
    pub log: LogFile,
    /// Socket timeouts and the cap on callers.
    pub limits: Reliability,
    /// No progress lines.
    pub quiet: bool,
}

/// Timeouts and caps that router and server share (`--connect-timeout`, `--read-timeout`,
/// `--write-timeout`, `--max-clients`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reliability {
    /// Socket timeouts.
    pub timeouts: Timeouts,
    /// Most clients served at once.
    pub max_clients: usize,
    /// Most table rows kept in memory.
    pub table_limit: usize,
}

impl Default for Reliability {
    fn default() -> Reliability {
        Reliability {
            timeouts: Timeouts::default(),
            max_clients: router::DEFAULT_MAX_CLIENTS,
            table_limit: crate::iptable::DEFAULT_TABLE_LIMIT,
        }
    }
}

impl Reliability {
    /// Reads one of these flags if `flag` is one; `Ok(false)` if it is not.
    fn take(&mut self, flag: &str, args: &mut Args) -> Result<bool, UsageError> {
        match flag {
            "--connect-timeout" => self.timeouts.connect = seconds(flag, args)?,
            "--read-timeout" => self.timeouts.read = seconds(flag, args)?,
            "--write-timeout" => self.timeouts.write = seconds(flag, args)?,
            "--max-clients" => {
                self.max_clients = args.value(flag, "a number of clients")?;
                if self.max_clients == 0 {
                    return Err(UsageError("--max-clients must be at least 1".into()));
                }
            }
            "--table-limit" => {
                self.table_limit = args.value(flag, "a number of rows")?;
                if self.table_limit == 0 {
                    return Err(UsageError("--table-limit must be at least 1".into()));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A positive number of seconds, decimals allowed (`0.5`).
fn seconds(flag: &str, args: &mut Args) -> Result<Duration, UsageError> {
    let secs: f64 = args.value(flag, "a number of seconds")?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(UsageError(format!(
            "{flag}: {secs} is not between 0 and 86400 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl ServerOptions {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerOptions, UsageError> {
        Self::parse_with_env(args, &|name| std::env::var_os(name))
    }

    /// [`ServerOptions::parse`] with `env` in place of the process's environment.
    pub fn parse_with_env(
        args: impl IntoIterator<Item = String>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<ServerOptions, UsageError> {
        let mut args = Args::new(args);
        let (mut ip, mut port) = (IpAddr::from([127, 0, 0, 1]), server::DEFAULT_PORT);
        let mut public_ip = None;
        let mut geo = GeoFlags::default();
        let mut log = LogFile::DefaultIn(PathBuf::from("."));
        let mut quiet = false;
        let mut limits = Reliability::default();
        while let Some(flag) = args.next() {
            if geo.take(&flag, &mut args)? || limits.take(&flag, &mut args)? {
                continue;
            }
            match flag.as_str() {
                "--port" => port = args.value(&flag, PORT)?,
                "--bind" => ip = args.value(&flag, "an IP address")?,
                "--public-ip" => public_ip = Some(args.value(&flag, "an IPv4 address")?),
                "--log" => log = LogFile::At(args.value(&flag, "a file path")?),
                "--no-log" => log = LogFile::None,
                "--quiet" => quiet = true,
                other => return Err(UsageError(format!("unknown argument {other:?}"))),
            }
        }
        Ok(ServerOptions {
            bind: SocketAddr::new(ip, port),
            public_ip,
            geo: geo.choice(env)?,
            log,
            limits,
            quiet,
        })
    }
}

/// Usage of `cargo run --example router`.
pub const ROUTER_USAGE: &str = "\
usage: cargo run --example router -- [--port P] [--bind IP] [--hold-secs N]
                                     [--servers A:P,B:P,C:P,D:P | --server-port P]
                                     [--public-ip IPV4] [GEO FLAGS] [LIMITS] [--log-dir DIR]
                                     [--log FILE | --no-log] [--quiet]
  --port P          port to listen on (default 9020)
  --bind IP         address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)
  --hold-secs N     keep each slot N seconds after answering (default 0; the original used 5)
  --servers LIST    forward to these servers instead of starting four in this process
  --server-port P   first port of the four in-process servers (default 12347; 0 = any free)
  --log-dir DIR     where geotracker-router.json and geotracker-server-<port>.json go (default .)
  --log FILE        the router's own log file
  --queue-timeout S tell a client that waited S seconds for a slot to try again (default: wait)
  --backoff-secs S  skip a slot whose server failed for S seconds, then try it again (default 5)
  --trace FILE      on stopping, write the semaphore's timeline (queued, granted, released)
                    to FILE as JSON lines, for report/scripts/plot_timeline.py
  LIMITS (timeouts, --max-clients) as for the server, also for the in-process servers;
  --public-ip and GEO FLAGS (see the server's --help) set up the in-process servers";

/// Options of `cargo run --example router`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterOptions {
    /// Listening address.
    pub bind: SocketAddr,
    /// `--servers`, if given; otherwise four servers are started in-process.
    pub servers: Option<Vec<SocketAddr>>,
    /// First port of the in-process servers.
    pub server_port: u16,
    /// `--hold-secs`.
    pub hold: Duration,
    /// Folder for the default log names.
    pub log_dir: PathBuf,
    /// The router's log, if not the default.
    pub log: Option<LogFile>,
    /// `--public-ip` for the in-process servers.
    pub public_ip: Option<Ipv4Addr>,
    /// Geolocation of the in-process servers.
    pub geo: GeoChoice,
    /// Socket timeouts and the cap on clients (also for the in-process servers).
    pub limits: Reliability,
    /// `--queue-timeout`: longest wait in the queue for a slot.
    pub queue_timeout: Option<Duration>,
    /// `--backoff-secs`: how long a failed server is skipped.
    pub backoff: Duration,
    /// `--trace FILE`: write the semaphore's timeline there when stopping.
    pub trace: Option<PathBuf>,
    /// No progress lines.
    pub quiet: bool,
}

/// How many servers the router starts in-process: the original's four VMs.
pub const LOCAL_SERVERS: u16 = 4;

impl RouterOptions {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<RouterOptions, UsageError> {
        Self::parse_with_env(args, &|name| std::env::var_os(name))
    }

    /// [`RouterOptions::parse`] with `env` in place of the process's environment.
    pub fn parse_with_env(
        args: impl IntoIterator<Item = String>,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<RouterOptions, UsageError> {
        let mut args = Args::new(args);
        let (mut ip, mut port) = (IpAddr::from([127, 0, 0, 1]), router::DEFAULT_PORT);
        let mut opts = RouterOptions {
            bind: SocketAddr::new(ip, port),
            servers: None,
            server_port: server::DEFAULT_PORT,
            hold: Duration::ZERO,
            log_dir: PathBuf::from("."),
            log: None,
            public_ip: None,
            geo: GeoChoice::default(),
            limits: Reliability::default(),
            queue_timeout: None,
            backoff: crate::health::DEFAULT_BACKOFF,
            trace: None,
            quiet: false,
        };
        let mut geo = GeoFlags::default();
        while let Some(flag) = args.next() {
            if geo.take(&flag, &mut args)? || opts.limits.take(&flag, &mut args)? {
                continue;
            }
            match flag.as_str() {
                "--port" => port = args.value(&flag, PORT)?,
                "--bind" => ip = args.value(&flag, "an IP address")?,
                "--hold-secs" => {
                    opts.hold = Duration::from_secs(args.value(&flag, "a whole number of seconds")?)
                }
                "--servers" => {
                    let list: String = args.value(&flag, "a comma-separated list of ADDR:PORT")?;
                    let servers = list
                        .split(',')
                        .map(|s| {
                            s.trim().parse::<SocketAddr>().map_err(|_| {
                                UsageError(format!("--servers: {s:?} is not an ADDR:PORT"))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    opts.servers = Some(servers);
                }
                "--server-port" => {
                    opts.server_port = args.value(&flag, PORT)?;
                    if opts.server_port > u16::MAX - LOCAL_SERVERS {
                        return Err(UsageError(
                            "--server-port: too high for four servers".into(),
                        ));
                    }
                }
                "--log-dir" => opts.log_dir = args.value(&flag, "a folder")?,
                "--queue-timeout" => opts.queue_timeout = Some(seconds(&flag, &mut args)?),
                "--backoff-secs" => opts.backoff = seconds(&flag, &mut args)?,
                "--trace" => opts.trace = Some(args.value(&flag, "a file path")?),
                "--log" => opts.log = Some(LogFile::At(args.value(&flag, "a file path")?)),
                "--no-log" => opts.log = Some(LogFile::None),
                "--public-ip" => opts.public_ip = Some(args.value(&flag, "an IPv4 address")?),
                "--quiet" => opts.quiet = true,
                other => return Err(UsageError(format!("unknown argument {other:?}"))),
            }
        }
        opts.bind = SocketAddr::new(ip, port);
        if opts.servers.is_some() && (opts.public_ip.is_some() || geo.any()) {
            return Err(UsageError(
                "--public-ip and --geo* configure in-process servers; with --servers, give them to each server".into(),
            ));
        }
        opts.geo = geo.choice(env)?;
        Ok(opts)
    }
}

/// Usage of `cargo run --example client`.
pub const CLIENT_USAGE: &str = "\
usage: cargo run --example client -- [IP] [--router ADDR:PORT] [--clients N] [--json]
                                     [--timeout-secs N] [--load [--secs S]]
  IP              look this address up instead of \"my location\"
  --router A:P    the router (default 127.0.0.1:9020)
  --clients N     run N clients at once and print one row each (default 1)
  --json          print the raw reply line(s)
  --timeout-secs  give up on a silent router after N seconds (default 120)
  --load          measure: --clients N clients ask in a loop for --secs S seconds (default 5),
                  then print answers per second, latency percentiles, errors and slots
                  (build with --release for figures worth quoting)";

/// Options of `cargo run --example client`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// The router.
    pub router: SocketAddr,
    /// What to ask.
    pub request: Request,
    /// How many clients at once.
    pub clients: usize,
    /// Print raw replies.
    pub json: bool,
    /// Read timeout (the wait in the queue counts).
    pub timeout: Duration,
    /// `--load`: run the load mode for this long (`--secs`).
    pub load: Option<Duration>,
}

impl ClientOptions {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientOptions, UsageError> {
        let mut args = Args::new(args);
        let mut opts = ClientOptions {
            router: client::DEFAULT_ROUTER
                .parse()
                .map_err(|_| UsageError("bad default router".into()))?,
            request: Request::MyLocation,
            clients: 1,
            json: false,
            timeout: Duration::from_secs(120),
            load: None,
        };
        let mut load = false;
        let mut secs = Duration::from_secs(5);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--router" => opts.router = args.value(&arg, "an ADDR:PORT")?,
                "--clients" => {
                    opts.clients = args.value(&arg, "a number of clients")?;
                    if opts.clients == 0 {
                        return Err(UsageError("--clients must be at least 1".into()));
                    }
                }
                "--json" => opts.json = true,
                "--load" => load = true,
                "--secs" => secs = seconds(&arg, &mut args)?,
                "--timeout-secs" => {
                    opts.timeout = Duration::from_secs(args.value(&arg, "a number of seconds")?)
                }
                flag if flag.starts_with("--") => {
                    return Err(UsageError(format!("unknown argument {flag:?}")))
                }
                text => {
                    opts.request = Request::parse(text).map_err(|e| UsageError(e.to_string()))?
                }
            }
        }
        opts.load = load.then_some(secs);
        Ok(opts)
    }
}

/// Runs a server until Ctrl-C. Exit code 0 when its table was written, 1 on any failure.
pub fn run_server(opts: ServerOptions) -> ExitCode {
    let geo = match opts.geo.open() {
        Ok(geo) => geo,
        Err(e) => return refuse(&format!("server: {e}")),
    };
    let public = public_ip::resolve(
        opts.public_ip,
        public_ip::IPIFY_URL,
        public_ip::IPIFY_TIMEOUT,
    );
    let shutdown = match Shutdown::on_signals() {
        Ok(s) => s,
        Err(e) => return fail(&format!("server: cannot install the Ctrl-C handler: {e}")),
    };
    let mut config = ServerConfig::new(opts.bind, public.addr);
    config.log = opts.log;
    config.timeouts = opts.limits.timeouts;
    config.max_clients = opts.limits.max_clients;
    config.table_limit = opts.limits.table_limit;
    config.quiet = opts.quiet;
    let server = match Server::bind(config, Arc::clone(&geo), shutdown) {
        Ok(s) => s,
        Err(e) => return refuse(&format!("server: cannot listen on {}: {e}", opts.bind)),
    };
    announce(
        &format!("server {}", server.local_addr().port()),
        &public,
        geo.name(),
    );
    let report = server.run();
    exit_code(!log_failed(&report.log))
}

/// Runs a router (and, unless `--servers` was given, four servers) until Ctrl-C.
pub fn run_router(opts: RouterOptions) -> ExitCode {
    let shutdown = match Shutdown::on_signals() {
        Ok(s) => s,
        Err(e) => return fail(&format!("router: cannot install the Ctrl-C handler: {e}")),
    };
    let local_ip = IpAddr::from([127, 0, 0, 1]);
    // The in-process servers stop after the router: clients still queued at the router when
    // Ctrl-C arrives are served by running servers while the router drains.
    let servers_shutdown = Shutdown::child_of(&shutdown);
    let mut local_servers = Vec::new();
    let servers = match &opts.servers {
        Some(list) => list.clone(),
        None => {
            let geo = match opts.geo.open() {
                Ok(geo) => geo,
                Err(e) => return refuse(&format!("router: {e}")),
            };
            let public = public_ip::resolve(
                opts.public_ip,
                public_ip::IPIFY_URL,
                public_ip::IPIFY_TIMEOUT,
            );
            for i in 0..LOCAL_SERVERS {
                let port = if opts.server_port == 0 {
                    0
                } else {
                    opts.server_port + i
                };
                let mut config = ServerConfig::new(SocketAddr::new(local_ip, port), public.addr);
                config.log = LogFile::DefaultIn(opts.log_dir.clone());
                config.timeouts = opts.limits.timeouts;
                config.max_clients = opts.limits.max_clients;
                config.table_limit = opts.limits.table_limit;
                config.quiet = opts.quiet;
                match Server::bind(config, Arc::clone(&geo), Arc::clone(&servers_shutdown)) {
                    Ok(server) => local_servers.push(server),
                    Err(e) => {
                        return refuse(&format!(
                            "router: cannot start the in-process server on port {port}: {e}"
                        ))
                    }
                }
            }
            announce("servers", &public, geo.name());
            local_servers.iter().map(Server::local_addr).collect()
        }
    };
    let mut config = RouterConfig::new(opts.bind, servers);
    config.hold = opts.hold;
    config.log = opts
        .log
        .clone()
        .unwrap_or_else(|| LogFile::DefaultIn(opts.log_dir.clone()));
    config.timeouts = opts.limits.timeouts;
    config.max_clients = opts.limits.max_clients;
    config.table_limit = opts.limits.table_limit;
    config.queue_timeout = opts.queue_timeout;
    config.backoff = opts.backoff;
    config.trace = opts.trace.clone();
    config.quiet = opts.quiet;
    // Bound before the servers start, so a router that cannot listen leaves no server logs.
    let router = match Router::bind(config, Arc::clone(&shutdown)) {
        Ok(r) => r,
        Err(e) => return refuse(&e.to_string()),
    };
    let mut handles = Vec::new();
    for server in local_servers {
        match server.spawn() {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                servers_shutdown.request();
                return fail(&format!("router: cannot start a server thread: {e}"));
            }
        }
    }
    crate::say!("router: press Ctrl-C to stop and write the IP tables");
    let report = router.run();
    servers_shutdown.request();
    let mut all_written = !log_failed(&report.log);
    for handle in handles {
        // A server thread that panicked wrote nothing.
        all_written &= handle.join().is_ok_and(|r| !log_failed(&r.log));
    }
    exit_code(all_written)
}

/// Asks the router once, or `--clients N` times at once, and prints the answers.
pub fn run_client(opts: ClientOptions) -> ExitCode {
    let timeouts = Timeouts {
        read: opts.timeout,
        ..Timeouts::default()
    };
    if let Some(duration) = opts.load {
        let config = LoadConfig {
            router: opts.router,
            clients: opts.clients,
            duration,
            request: opts.request,
            timeouts,
        };
        crate::say!(
            "load: {} clients asking {} in a loop for {:.1} s",
            config.clients,
            opts.router,
            duration.as_secs_f64()
        );
        return match load::run(&config) {
            Ok(report) => {
                crate::console::print_block(&report.to_string());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("client: cannot start the load threads: {e}")),
        };
    }
    if opts.clients == 1 {
        let result = client::ask(opts.router, opts.request, &timeouts, |position| {
            if !opts.json {
                crate::say!("All servers are busy: you are number {position} in the queue...");
            }
        });
        return match result {
            Ok(answer) if opts.json => {
                crate::say!("{}", answer.raw);
                ExitCode::SUCCESS
            }
            Ok(answer) => {
                crate::console::print_block(&client::details(&answer));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("client: {e}")),
        };
    }

    // N clients at once: each thread connects when all are ready, and reports back.
    let start = Arc::new(Barrier::new(opts.clients));
    let (done, results) = mpsc::channel::<(usize, Result<Answer, ClientError>)>();
    for n in 1..=opts.clients {
        let (start, done) = (Arc::clone(&start), done.clone());
        let spawned = thread::Builder::new()
            .name(format!("client-{n}"))
            .spawn(move || {
                // All clients are released together, so they really compete for the slots.
                start.wait();
                let _ = done.send((n, client::ask(opts.router, opts.request, &timeouts, |_| {})));
            });
        if let Err(e) = spawned {
            return fail(&format!("client: cannot start client thread {n}: {e}"));
        }
    }
    drop(done);
    if !opts.json {
        crate::say!("{}", client::row_header());
    }
    let mut failed = 0;
    // Rows in the order the answers arrive: the waiting clients come last.
    for (n, result) in results {
        match result {
            Ok(answer) if opts.json => crate::say!("{}", answer.raw),
            Ok(answer) => crate::say!("{}", client::row(n, &answer)),
            Err(e) => {
                failed += 1;
                crate::warn!("client {n}: {e}");
            }
        }
    }
    if failed > 0 {
        return fail(&format!(
            "client: {failed} of {} clients got no answer",
            opts.clients
        ));
    }
    ExitCode::SUCCESS
}

fn announce(who: &str, public: &PublicIp, geo: &str) {
    crate::say!("{who}: NAT pool starts at {public}");
    crate::say!("{who}: geolocation source: {geo}");
}

fn fail(message: &str) -> ExitCode {
    crate::warn!("{message}");
    ExitCode::FAILURE
}

/// For a command line that names something unusable (a database of the wrong kind, say): the
/// same exit code, 2, as for a command line that cannot be parsed.
fn refuse(message: &str) -> ExitCode {
    crate::warn!("error: {message}");
    ExitCode::from(2)
}

/// True when a log was configured and could not be written.
fn log_failed(log: &Option<Result<Appended, LogError>>) -> bool {
    matches!(log, Some(Err(_)))
}

/// 0 if every configured log was written, 1 otherwise.
fn exit_code(all_written: bool) -> ExitCode {
    if all_written {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Parses `std::env::args()` with `parse`, or prints the error and `usage` and exits with 2.
pub fn parse_or_exit<T>(
    parse: impl FnOnce(Vec<String>) -> Result<T, UsageError>,
    usage: &str,
) -> T {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        crate::say!("{usage}");
        std::process::exit(0);
    }
    match parse(args) {
        Ok(options) => options,
        Err(e) => {
            crate::warn!("error: {e}\n{usage}");
            std::process::exit(2);
        }
    }
}
