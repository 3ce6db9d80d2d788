//! The command lines of the three examples, read by hand (`--flag value` or `--flag=value`) to
//! keep the dependencies to what the course uses. Each function turns the arguments after the
//! program's name into the configuration the library runs: [`router`] gives a
//! [`RouterConfig`], [`server`] a [`ServerConfig`], [`client`] a [`ClientConfig`].
//!
//! The geolocation flags are shared by the server and the router (for its in-process
//! servers); two environment variables give the databases' defaults, and a flag wins:
//!
//! | flag | environment | meaning |
//! |---|---|---|
//! | `--geo offline\|ip-api\|auto` | | the source (default `offline`) |
//! | `--geo-db PATH` (repeatable) | `GEOTRACKER_GEO_DB` (a path list) | City databases, tried in order |
//! | `--asn-db PATH` | `GEOTRACKER_ASN_DB` | an ASN database for `isp`, `org`, `as` |
//! | `--geo-url URL` | | ip-api.com's base URL |
//! | `--geo-cache-secs N`, `--geo-cache-size N` | | ip-api.com's answers kept (600 s, 10,000) |

use crate::extras::config::{
    LogFile, RouterConfig, ServerConfig, Servers, ROUTER_PORT, SERVER_PORT,
};
use crate::extras::limits::Limits;
use crate::extras::output::Output;
use crate::geo::{GeoChoice, GeoSource};
use crate::protocol::Request;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Environment variable: the default City database(s), separated like `PATH` (`:` on Linux
/// and macOS, `;` on Windows).
pub const GEO_DB_ENV: &str = "GEOTRACKER_GEO_DB";
/// Environment variable: the default ASN database.
pub const ASN_DB_ENV: &str = "GEOTRACKER_ASN_DB";

/// Usage of `cargo run --example server`.
pub const SERVER_USAGE: &str = "\
usage: cargo run --example server -- [--port P] [--bind IP] [--public-ip IPV4]
                                     [GEO FLAGS] [LIMITS] [--log FILE | --no-log] [--quiet]
  --port P        port to listen on (default 12347)
  --bind IP       address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)
  --public-ip IPV4
                  first public address of the NAT pool (default: ask ipify, else 117.222.175.180)
  --log FILE      JSON log of IP tables (default geotracker-server-<port>.json, with the
                  address too when --bind is not 127.0.0.1)
  --no-log        write no log: the table is printed at Ctrl-C and kept nowhere
  --quiet         no line per client: only start-up lines, changes, warnings and the table
LIMITS (router and server; seconds may have decimals):
  --connect-timeout S   longest wait to connect (default 3)
  --request-timeout S   longest wait for a new connection's whole request line (default 5)
  --read-timeout S      longest wait for a server's whole answer (default 10)
  --write-timeout S     longest wait to send a line (default 10)
  --max-clients N       most clients served at once; the next are told \"busy\" (default 2000)
  --max-per-source N    most connections at once from one address (default 1000)
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

/// Usage of `cargo run --example router`.
pub const ROUTER_USAGE: &str = "\
usage: cargo run --example router -- [--port P] [--bind IP] [--hold-secs N]
                                     [--servers A:P,B:P,C:P,D:P | --server-port P]
                                     [--public-ip IPV4] [GEO FLAGS] [LIMITS] [--log-dir DIR]
                                     [--log FILE | --no-log] [--quiet] [--queue-timeout S]
                                     [--backoff-secs S] [--trace FILE]
  --port P          port to listen on (default 9020)
  --bind IP         address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)
  --hold-secs N     keep each slot N seconds after answering (default 0; the original used 5)
  --servers LIST    forward to these servers instead of starting four in this process
  --server-port P   first port of the four in-process servers (default 12347; 0 = any free)
  --log-dir DIR     where geotracker-router.json and geotracker-server-<port>.json go (default .)
  --log FILE        the router's own log file (default geotracker-router.json in the log
                    folder, with the address too when --bind is not 127.0.0.1)
  --no-log          write no log at all (nor the in-process servers')
  --quiet           no line per client: only start-up lines, changes, warnings and the
                    tables at Ctrl-C (which are printed whole, however long)
  --queue-timeout S tell a client that waited S seconds for a slot to try again (default: wait)
  --backoff-secs S  a slot whose server failed is out of service for S seconds (default 5)
  --trace FILE      on stopping, write the semaphore's timeline (queued, granted, released)
                    to FILE as JSON lines, for report/scripts/plot_timeline.py
  LIMITS (timeouts, --max-clients, --max-per-source, --table-limit) as for the server, also
  for the in-process servers; --public-ip and GEO FLAGS (see the server's --help) set up the
  in-process servers";

/// Usage of `cargo run --example client`.
pub const CLIENT_USAGE: &str = "\
usage: cargo run --example client -- [IP] [--router ADDR:PORT] [--clients N] [--json]
                                     [--timeout-secs S] [--load [--secs S]] [--web [ADDR:PORT]]
  IP              look this address up instead of \"my location\"
  --router A:P    the router (default 127.0.0.1:9020)
  --clients N     run N clients at once and print one row each (default 1)
  --json          print the raw reply line(s)
  --timeout-secs S
                  give up after S seconds (decimals allowed) for the whole exchange, queue
                  included (default 120, at most 86400: a day; 3600 to sit at a breakpoint,
                  report section 8)
  --load          measure: --clients N clients ask in a loop for --secs S seconds (default 5),
                  then print answers per second, latency percentiles, errors and slots
                  (build with --release for figures worth quoting)
  --web [A:P]     serve the original's window as a web page on A:P (default 127.0.0.1:8080;
                  port 0 picks a free one), print `open http://A:P/`, ask the router at each
                  click; Ctrl-C stops it

exit code: 0 located (every client, with --clients; with --web, the page was stopped), 1 an
answer is a failure or no answer came, 2 a bad command line";

/// What the client example does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The router.
    pub router: SocketAddr,
    /// What to ask.
    pub request: Request,
    /// How many clients at once (`--clients`).
    pub clients: usize,
    /// Print the raw reply lines (`--json`).
    pub json: bool,
    /// Longest wait for the whole exchange, queue included (`--timeout-secs`).
    pub timeout: Duration,
    /// `--load`: ask in a loop for this long (`--secs`).
    pub load: Option<Duration>,
    /// `--web`: serve the page on this address instead of asking once (`extras/web.rs`).
    pub web: Option<SocketAddr>,
}

/// A command line that cannot be run; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// True when the arguments ask for the usage (`--help` or `-h`).
pub fn asks_for_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

/// The server's command line.
pub fn server(args: impl IntoIterator<Item = String>) -> Result<ServerConfig, UsageError> {
    server_with_env(args, &|name| std::env::var_os(name))
}

/// [`server`] with `env` in place of the process's environment.
pub fn server_with_env(
    args: impl IntoIterator<Item = String>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<ServerConfig, UsageError> {
    let (mut args, mut common) = (Args::new(args), Common::new(SERVER_PORT));
    while let Some(flag) = args.next() {
        if !common.take(&flag, &mut args)? {
            return Err(UsageError(format!("unknown argument {flag:?}")));
        }
    }
    let mut config = ServerConfig::new(SocketAddr::new(common.ip, common.port));
    config.log = common.log.unwrap_or(LogFile::DefaultIn(PathBuf::from(".")));
    (config.public_ip, config.limits, config.output) =
        (common.public_ip, common.limits, common.output);
    config.geo = common.geo.choice(env)?;
    Ok(config)
}

/// The router's command line.
pub fn router(args: impl IntoIterator<Item = String>) -> Result<RouterConfig, UsageError> {
    router_with_env(args, &|name| std::env::var_os(name))
}

/// [`router`] with `env` in place of the process's environment.
pub fn router_with_env(
    args: impl IntoIterator<Item = String>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<RouterConfig, UsageError> {
    let (mut args, mut common) = (Args::new(args), Common::new(ROUTER_PORT));
    let (mut hold, mut trace, mut servers) = (Duration::ZERO, None, None);
    let (mut first_port, mut log_dir) = (SERVER_PORT, PathBuf::from("."));
    while let Some(flag) = args.next() {
        if common.take(&flag, &mut args)? {
            continue;
        }
        match flag.as_str() {
            "--hold-secs" => {
                hold = Duration::from_secs(args.value(&flag, "a whole number of seconds")?)
            }
            "--servers" => {
                let list: String = args.value(&flag, "a comma-separated list of ADDR:PORT")?;
                let parse = |s: &str| s.trim().parse::<SocketAddr>();
                let bad = |s: &str| UsageError(format!("--servers: {s:?} is not an ADDR:PORT"));
                let list = list.split(',').map(|s| parse(s).map_err(|_| bad(s)));
                servers = Some(list.collect::<Result<Vec<_>, _>>()?);
            }
            "--server-port" => {
                first_port = args.value(&flag, PORT)?;
                if first_port > u16::MAX - 4 {
                    return Err(UsageError(
                        "--server-port: too high for four servers".into(),
                    ));
                }
            }
            "--log-dir" => log_dir = args.value(&flag, "a folder")?,
            "--queue-timeout" => common.limits.queue_timeout = Some(seconds(&flag, &mut args)?),
            "--backoff-secs" => common.limits.backoff = seconds(&flag, &mut args)?,
            "--trace" => trace = Some(args.value(&flag, "a file path")?),
            other => return Err(UsageError(format!("unknown argument {other:?}"))),
        }
    }
    let mut config = RouterConfig::new(SocketAddr::new(common.ip, common.port), Vec::new());
    (config.hold, config.trace, config.limits, config.output) =
        (hold, trace, common.limits, common.output);
    // --no-log: no log at all, the in-process servers' included.
    let no_log = common.log == Some(LogFile::None);
    config.log = common
        .log
        .unwrap_or_else(|| LogFile::DefaultIn(log_dir.clone()));
    config.servers = match servers {
        Some(_) if common.public_ip.is_some() || common.geo.any() => {
            return Err(UsageError("--public-ip and --geo* configure in-process servers; with --servers, give them to each server".into()));
        }
        Some(list) => Servers::At(list),
        None => {
            let mut server = ServerConfig::new(SocketAddr::new([127, 0, 0, 1].into(), 0));
            (server.public_ip, server.limits, server.output) =
                (common.public_ip, common.limits, common.output);
            server.geo = common.geo.choice(env)?;
            server.log = if no_log {
                LogFile::None
            } else {
                LogFile::DefaultIn(log_dir)
            };
            Servers::InProcess {
                first_port,
                config: Box::new(server),
            }
        }
    };
    Ok(config)
}

/// The flags that the router and the server share.
struct Common {
    ip: IpAddr,
    port: u16,
    public_ip: Option<std::net::Ipv4Addr>,
    log: Option<LogFile>,
    limits: Limits,
    output: Output,
    geo: GeoFlags,
}

impl Common {
    fn new(port: u16) -> Common {
        let (ip, limits, geo) = (
            IpAddr::from([127, 0, 0, 1]),
            Limits::default(),
            GeoFlags::default(),
        );
        Common {
            ip,
            port,
            public_ip: None,
            log: None,
            limits,
            output: Output::Everything,
            geo,
        }
    }

    /// Reads one of the shared flags if `flag` is one; `Ok(false)` if it is not.
    fn take(&mut self, flag: &str, args: &mut Args) -> Result<bool, UsageError> {
        if self.geo.take(flag, args)? || take_limit(&mut self.limits, flag, args)? {
            return Ok(true);
        }
        match flag {
            "--port" => self.port = args.value(flag, PORT)?,
            "--bind" => self.ip = args.value(flag, "an IP address")?,
            "--public-ip" => self.public_ip = Some(args.value(flag, "an IPv4 address")?),
            "--log" => self.log = Some(LogFile::At(args.value(flag, "a file path")?)),
            "--no-log" => self.log = Some(LogFile::None),
            "--quiet" => self.output = Output::Quiet,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The client's command line.
pub fn client(args: impl IntoIterator<Item = String>) -> Result<ClientConfig, UsageError> {
    let mut args = Args::new(args);
    let mut config = ClientConfig {
        router: SocketAddr::from(([127, 0, 0, 1], ROUTER_PORT)),
        request: Request::MyLocation,
        clients: 1,
        json: false,
        timeout: Duration::from_secs(120),
        load: None,
        web: None,
    };
    let (mut load, mut secs) = (false, Duration::from_secs(5));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--router" => config.router = args.value(&arg, "an ADDR:PORT")?,
            "--clients" => {
                config.clients = args.value(&arg, "a number of clients")?;
                if config.clients == 0 {
                    return Err(UsageError("--clients must be at least 1".into()));
                }
            }
            "--json" => config.json = true,
            "--load" => load = true,
            "--secs" => secs = seconds(&arg, &mut args)?,
            // Up to a day: long enough to sit at a breakpoint (report section 8), and a
            // deadline `Instant::now() + timeout` can always be computed.
            "--timeout-secs" => config.timeout = seconds(&arg, &mut args)?,
            // The address is optional: the next argument, unless it is a flag.
            "--web" if args.next_is_flag() => config.web = Some(crate::web::DEFAULT_ADDR),
            "--web" => config.web = Some(args.value(&arg, "an ADDR:PORT")?),
            flag if flag.starts_with("--") => {
                return Err(UsageError(format!("unknown argument {flag:?}")))
            }
            text => {
                let not_an_ip = |text| UsageError(format!("not an IP address: {text:?}"));
                config.request = Request::parse(text).map_err(not_an_ip)?;
            }
        }
    }
    config.load = load.then_some(secs);
    let asks_once = config.request != Request::MyLocation || config.clients > 1;
    if config.web.is_some() && (asks_once || config.json || load) {
        let why = "--web asks from the page, a click at a time: give it no IP, --clients, --json or --load";
        return Err(UsageError(why.into()));
    }
    Ok(config)
}

/// What `--port` and `--server-port` take; the words appear in the error for a bad value.
const PORT: &str = "a port number (0 to 65535)";

/// Reads one of the [`Limits`] flags if `flag` is one; `Ok(false)` if it is not.
fn take_limit(limits: &mut Limits, flag: &str, args: &mut Args) -> Result<bool, UsageError> {
    let at_least_one = |n: usize| match n {
        0 => Err(UsageError(format!("{flag} must be at least 1"))),
        n => Ok(n),
    };
    match flag {
        "--connect-timeout" => limits.connect_timeout = seconds(flag, args)?,
        "--request-timeout" => limits.request_timeout = seconds(flag, args)?,
        "--read-timeout" => limits.read_timeout = seconds(flag, args)?,
        "--write-timeout" => limits.write_timeout = seconds(flag, args)?,
        "--max-clients" => {
            limits.max_clients = at_least_one(args.value(flag, "a number of clients")?)?
        }
        "--max-per-source" => {
            limits.max_per_source = at_least_one(args.value(flag, "a number of connections")?)?
        }
        "--table-limit" => {
            limits.table_limit = at_least_one(args.value(flag, "a number of rows")?)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A number of seconds from a millisecond to a day, decimals allowed (`0.5`).
fn seconds(flag: &str, args: &mut Args) -> Result<Duration, UsageError> {
    let text: String = args.value(flag, "a number of seconds")?;
    let wrong = |why: &str| Err(UsageError(format!("{flag}: {text:?} {why}")));
    match text.parse::<f64>() {
        Ok(secs) if secs.is_nan() || secs.is_infinite() => wrong("is not a number of seconds"),
        Ok(secs) if secs <= 0.0 => wrong("seconds: a time must be more than 0"),
        Ok(secs) if secs < 0.001 => wrong("seconds is less than a millisecond, the shortest time"),
        Ok(secs) if secs > 86_400.0 => wrong("seconds is more than a day, the longest time"),
        Ok(secs) => Ok(Duration::from_secs_f64(secs)),
        Err(_) => wrong("is not a number of seconds"),
    }
}

/// The arguments still to be read.
struct Args {
    rest: VecDeque<String>,
}

impl Args {
    fn new(args: impl IntoIterator<Item = String>) -> Args {
        let mut rest = VecDeque::new();
        for arg in args {
            // --flag=value is read as --flag value.
            match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    rest.extend([flag.into(), value.into()])
                }
                _ => rest.push_back(arg),
            }
        }
        Args { rest }
    }

    fn next(&mut self) -> Option<String> {
        self.rest.pop_front()
    }

    /// True when no argument is left, or the next one is a flag.
    fn next_is_flag(&self) -> bool {
        self.rest.front().is_none_or(|next| next.starts_with("--"))
    }

    /// The value after `flag`, parsed; `what` it should be appears in the error.
    fn value<T: FromStr>(&mut self, flag: &str, what: &str) -> Result<T, UsageError> {
        let text = (self.next()).ok_or_else(|| UsageError(format!("{flag} needs {what}")))?;
        text.parse()
            .map_err(|_| UsageError(format!("{flag}: {text:?} is not {what}")))
    }
}

/// The geolocation flags as read, before the environment fills the gaps.
#[derive(Default)]
struct GeoFlags {
    source: Option<GeoSource>,
    city_dbs: Vec<PathBuf>,
    asn_db: Option<PathBuf>,
    url: Option<String>,
    cache_secs: Option<u64>,
    cache_size: Option<usize>,
}

impl GeoFlags {
    /// Reads one geolocation flag if `flag` is one; `Ok(false)` if it is not.
    fn take(&mut self, flag: &str, args: &mut Args) -> Result<bool, UsageError> {
        match flag {
            "--geo" => {
                let text: String = args.value(flag, "offline, ip-api or auto")?;
                self.source = Some(match text.as_str() {
                    "offline" => GeoSource::Offline,
                    "ip-api" => GeoSource::IpApi,
                    "auto" => GeoSource::Auto,
                    other => {
                        let why = format!("--geo: {other:?} is not offline, ip-api or auto");
                        return Err(UsageError(why));
                    }
                });
            }
            "--geo-db" => self.city_dbs.push(args.value(flag, "a database path")?),
            "--asn-db" => self.asn_db = Some(args.value(flag, "a database path")?),
            "--geo-url" => self.url = Some(args.value(flag, "a URL")?),
            "--geo-cache-secs" => self.cache_secs = Some(args.value(flag, "a number of seconds")?),
            "--geo-cache-size" => self.cache_size = Some(args.value(flag, "a number of answers")?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// True when any geolocation flag was given.
    fn any(&self) -> bool {
        let online = self.url.is_some() || self.cache_secs.is_some() || self.cache_size.is_some();
        self.source.is_some() || !self.city_dbs.is_empty() || self.asn_db.is_some() || online
    }

    /// The choice these flags make, with `env` giving the databases that no flag gave. The
    /// environment is read only where a database is used, so that a lab machine set up once
    /// with `GEOTRACKER_GEO_DB` can still run `--geo ip-api`.
    fn choice(self, env: &dyn Fn(&str) -> Option<OsString>) -> Result<GeoChoice, UsageError> {
        let source = self.source.unwrap_or_default();
        let online = self.url.is_some() || self.cache_secs.is_some() || self.cache_size.is_some();
        if source == GeoSource::Offline && online {
            let why = "--geo-url and --geo-cache-* go with --geo ip-api or --geo auto";
            return Err(UsageError(why.into()));
        }
        if source == GeoSource::IpApi && (!self.city_dbs.is_empty() || self.asn_db.is_some()) {
            let why = "--geo-db and --asn-db go with --geo offline or --geo auto";
            return Err(UsageError(why.into()));
        }
        let mut choice = GeoChoice {
            source,
            city_dbs: self.city_dbs,
            asn_db: self.asn_db,
            ..GeoChoice::default()
        };
        if source != GeoSource::IpApi {
            // An empty variable counts as unset.
            let set = |name: &str| env(name).filter(|v| !v.is_empty());
            if choice.city_dbs.is_empty() {
                choice.city_dbs = set(GEO_DB_ENV)
                    .map_or_else(Vec::new, |list| std::env::split_paths(&list).collect());
            }
            choice.asn_db = choice.asn_db.or_else(|| set(ASN_DB_ENV).map(PathBuf::from));
        }
        if let Some(url) = self.url {
            choice.ip_api.url = url;
        }
        if let Some(secs) = self.cache_secs {
            choice.ip_api.cache_ttl = Duration::from_secs(secs);
        }
        if let Some(size) = self.cache_size {
            choice.ip_api.cache_size = size;
        }
        Ok(choice)
    }
}
