//! Helpers shared by the integration tests. Each test file uses a different part of this module.
#![allow(dead_code)]

pub mod mmdb_writer;

use geotracker::geo::{Geolocator, MmdbGeolocator};
use geotracker::web::{WebConfig, WebPage};
use geotracker::{Limits, Output, Request, Router, RouterConfig, RouterReport};
use geotracker::{Server, ServerConfig, ServerReport, Shutdown};
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// The pool base used by every test: the original's address.
pub const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(117, 222, 175, 180);

/// Any free port on the loopback address.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A new empty folder under the system's temporary folder, unique to this call.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "geotracker-test-{name}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// Timeouts for tests: short enough that a bug fails the test instead of hanging it.
pub fn test_limits() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(20),
        write_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// The ids of the web page's fields: ip-api.com's field names (the order the page shows them).
#[allow(dead_code)] // Only the web tests use it.
pub const PAGE_FIELD_IDS: [&str; 15] = [
    "status",
    "message",
    "query",
    "country",
    "countryCode",
    "region",
    "regionName",
    "city",
    "zip",
    "lat",
    "lon",
    "timezone",
    "isp",
    "org",
    "as",
];

/// How long a test client waits for its whole answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Asks the router at `router` like the client example does.
pub fn ask(router: SocketAddr, request: Request) -> geotracker::client::Answer {
    geotracker::client::ask(router, request, CLIENT_TIMEOUT, |_| {})
        .expect("an answer from the router")
}

/// A router or server running on a thread of its own.
pub struct Running<R> {
    /// The address it listens on.
    pub addr: SocketAddr,
    thread: JoinHandle<R>,
}

impl<R> Running<R> {
    /// Waits for it to stop (after its shutdown is requested) and returns its report.
    pub fn join(self) -> std::thread::Result<R> {
        self.thread.join()
    }
}

/// Runs `router` on a thread named `router`.
pub fn spawn_router(router: Router) -> Running<RouterReport> {
    let addr = router.local_addr().expect("the router's address");
    let thread = std::thread::Builder::new()
        .name("router".into())
        .spawn(move || router.run());
    Running {
        addr,
        thread: thread.expect("start the router's thread"),
    }
}

/// Runs `server` on a thread named `server-<port>`.
pub fn spawn_server(server: Server) -> Running<ServerReport> {
    let addr = server.local_addr().expect("the server's address");
    let name = format!("server-{}", addr.port());
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || server.run());
    Running {
        addr,
        thread: thread.expect("start the server's thread"),
    }
}

/// A router with four in-process servers on free ports, the bundled database, quiet.
pub struct System {
    pub router_addr: SocketAddr,
    pub server_addrs: Vec<SocketAddr>,
    /// Stops the router; the servers stop after it, as in the router example.
    pub shutdown: Arc<Shutdown>,
    servers_shutdown: Arc<Shutdown>,
    router: Running<RouterReport>,
    servers: Vec<Running<ServerReport>>,
}

impl System {
    /// Starts the system; `hold` is the router's `--hold-secs`.
    pub fn start(hold: Duration) -> System {
        Self::start_with(|config| config.hold = hold)
    }

    /// [`System::start`], with `adjust` changing the router's configuration first.
    pub fn start_with(adjust: impl FnOnce(&mut RouterConfig)) -> System {
        let servers_shutdown = Shutdown::new();
        let geo: Arc<dyn Geolocator> = Arc::new(MmdbGeolocator::bundled().expect("bundled db"));
        let mut servers = Vec::new();
        for _ in 0..4 {
            let mut config = ServerConfig::new(any_port());
            config.public_ip = Some(PUBLIC_IP);
            config.output = Output::Nothing;
            config.limits = test_limits();
            let server = Server::bind_with(config, Arc::clone(&geo), Arc::clone(&servers_shutdown))
                .expect("bind a server");
            servers.push(spawn_server(server));
        }
        let server_addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
        let (router, shutdown) = start_router_with(server_addrs.clone(), adjust);
        System {
            router_addr: router.addr,
            server_addrs,
            shutdown,
            servers_shutdown,
            router,
            servers,
        }
    }

    /// Asks the router like the client example does.
    pub fn ask(&self, request: Request) -> geotracker::client::Answer {
        ask(self.router_addr, request)
    }

    /// Stops everything as Ctrl-C would and returns the reports.
    pub fn stop(self) -> (RouterReport, Vec<ServerReport>) {
        self.shutdown.request();
        let router = self.router.join().expect("the router thread ends cleanly");
        self.servers_shutdown.request();
        let servers = self
            .servers
            .into_iter()
            .map(|s| s.join().expect("a server thread ends cleanly"))
            .collect();
        (router, servers)
    }
}

/// A stand-in server on a free port: for each connection, in turn, it reads the request line
/// and calls `handle(stream, line)`. Connections are handled one at a time, as a slot's server
/// is used by one client at a time.
pub fn fake_server<F>(handle: F) -> SocketAddr
where
    F: Fn(std::net::TcpStream, String) + Send + 'static,
{
    let listener = std::net::TcpListener::bind(any_port()).expect("bind a fake server");
    let addr = listener.local_addr().expect("fake server address");
    // The fake server's accept loop; it lives until the test process ends.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = geotracker::LineReader::new(&stream);
            let line = reader
                .read_line(geotracker::MAX_REQUEST_LINE)
                .unwrap_or_default();
            handle(stream, line);
        }
    });
    addr
}

/// A router over `servers` (silent, test timeouts, no log), already running.
pub fn start_router(
    servers: Vec<SocketAddr>,
    hold: Duration,
) -> (Running<RouterReport>, Arc<Shutdown>) {
    start_router_with(servers, |config| config.hold = hold)
}

/// [`start_router`], with `adjust` changing the configuration first.
pub fn start_router_with(
    servers: Vec<SocketAddr>,
    adjust: impl FnOnce(&mut RouterConfig),
) -> (Running<RouterReport>, Arc<Shutdown>) {
    let shutdown = Shutdown::new();
    let mut config = RouterConfig::new(any_port(), servers);
    config.output = Output::Nothing;
    config.limits = test_limits();
    adjust(&mut config);
    let router = Router::bind(config, Arc::clone(&shutdown)).expect("bind the router");
    (spawn_router(router), shutdown)
}

/// The example program `name` that `cargo test` built beside the test binaries.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target folder")
        .join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing; run `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// A child's standard output, a line at a time as it comes, so that a test can wait for a line
/// while the child runs. The whole output is read, so that the child never blocks on a full pipe.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (line_tx, lines) = mpsc::channel();
    // Reads the child's output to its end, passing each line on.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    lines
}

/// What follows `prefix` in the next line of `lines` that starts with it. Fails the test when
/// no line at all comes for `patience`.
pub fn line_after(lines: &mpsc::Receiver<String>, prefix: &str, patience: Duration) -> String {
    loop {
        let line = lines.recv_timeout(patience);
        let line = line.unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// A small seeded random-number generator (SplitMix64), so that a failing random test can be
/// run again with the same inputs; the seed is printed by the tests that use it.
pub struct Rng(u64);

impl Rng {
    /// A generator that always gives the same sequence for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A server on a free port (silent, test timeouts, no log, the bundled database), with `adjust`
/// changing the configuration first; already running.
pub fn start_server_with(
    adjust: impl FnOnce(&mut ServerConfig),
) -> (Running<ServerReport>, Arc<Shutdown>) {
    let shutdown = Shutdown::new();
    let mut config = ServerConfig::new(any_port());
    config.public_ip = Some(PUBLIC_IP);
    config.output = Output::Nothing;
    config.limits = test_limits();
    adjust(&mut config);
    let server = Server::bind(config, Arc::clone(&shutdown)).expect("bind a server");
    (spawn_server(server), shutdown)
}

/// The client's web page (`--web`) on a free port, asking the router at `router`, with
/// `adjust` changing the configuration first; already running, on a thread named `web`.
pub fn start_web_page(
    router: SocketAddr,
    adjust: impl FnOnce(&mut WebConfig),
) -> (Running<()>, Arc<Shutdown>) {
    let shutdown = Shutdown::new();
    let mut config = WebConfig::new(any_port(), router);
    config.timeout = CLIENT_TIMEOUT;
    adjust(&mut config);
    let page = WebPage::bind(config, Arc::clone(&shutdown)).expect("bind the web page");
    let addr = page.local_addr().expect("the web page's address");
    let thread = std::thread::Builder::new()
        .name("web".into())
        .spawn(move || page.run());
    (
        Running {
            addr,
            thread: thread.expect("start the web page's thread"),
        },
        shutdown,
    )
}
