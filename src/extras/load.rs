//! Many clients at once: the client's `--clients N` and `--load` modes.
//!
//! `--clients N` (`burst`) starts N clients together, so that they really compete for the
//! four slots, and prints a row per answer in the order the answers come: the clients that
//! waited in the queue come last.
//!
//! `--load` ([`run`]) measures the router
//! (`cargo run --release --example client -- --load --clients 16 --secs 5`): each of `clients`
//! threads asks, waits for the answer and asks again ("closed loop") for `duration`. The report
//! gives answers per second, latency percentiles (from connecting to having the whole answer,
//! queueing included), the errors by kind, and how many answers each slot gave, which shows the
//! semaphore handing out the lowest free slot first.

use crate::args::ClientConfig;
use crate::client::{self, Answer};
use crate::protocol::Request;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// The client example's `--clients N` (N > 1) or `--load`; returns the exit code: 0, or 1 if a
/// client got no answer or a failure (with `--clients`), or the threads could not be started.
pub fn from_command_line(config: &ClientConfig) -> u8 {
    let Some(duration) = config.load else {
        return burst(config);
    };
    let (router, clients) = (config.router, config.clients);
    let secs = duration.as_secs_f64();
    crate::extras::output::print_line(format_args!(
        "load: {clients} clients asking {router} in a loop for {secs:.1} s"
    ));
    let load = LoadConfig {
        router,
        clients,
        duration,
        request: config.request,
        timeout: config.timeout,
    };
    match run(&load) {
        Ok(report) => {
            crate::extras::output::print_line(format_args!("{report}"));
            0
        }
        Err(e) => {
            eprintln!("client: cannot start the load threads: {e}");
            1
        }
    }
}

/// `config.clients` clients at once, a row each (or the raw line with `--json`).
fn burst(config: &ClientConfig) -> u8 {
    let (router, request, timeout, n) = (
        config.router,
        config.request,
        config.timeout,
        config.clients,
    );
    // Every client waits here until all are ready, so that they connect together.
    let start = Arc::new(Barrier::new(n));
    let (done, answers) = mpsc::channel::<(usize, std::io::Result<Answer>)>();
    for k in 1..=n {
        let (start, done) = (Arc::clone(&start), done.clone());
        let spawned = thread::Builder::new()
            .name(format!("client-{k}"))
            .spawn(move || {
                start.wait();
                let _ = done.send((k, client::ask(router, request, timeout, |_| {})));
            });
        if let Err(e) = spawned {
            eprintln!("client: cannot start client thread {k}: {e}");
            return 1;
        }
    }
    drop(done);
    if !config.json {
        crate::extras::output::print_line(format_args!(
            "{:>6}  {:<7}  {:>4}  {:>5}  {:>9}  {:>8}  {:<15}  place",
            "client", "status", "slot", "queue", "waited_ms", "total_ms", "query"
        ));
    }
    let (mut failed, mut not_located) = (0, 0);
    for (k, answer) in answers {
        match answer {
            Ok(answer) => {
                not_located += usize::from(!answer.reply.is_success());
                let line = if config.json {
                    answer.raw.clone()
                } else {
                    row(k, &answer)
                };
                crate::extras::output::print_line(format_args!("{line}"));
            }
            Err(e) => {
                failed += 1;
                eprintln!("client {k}: {e}");
            }
        }
    }
    if failed > 0 {
        eprintln!("client: {failed} of {n} clients got no answer");
    }
    u8::from(failed + not_located > 0)
}

/// One row of [`burst`]'s table.
fn row(k: usize, answer: &Answer) -> String {
    let r = &answer.reply;
    let (slot, waited) = match &r.router {
        Some(s) => (s.slot.to_string(), s.waited_ms.to_string()),
        None => ("-".into(), "-".into()),
    };
    let queue = answer.queued_at.map_or("-".to_string(), |p| p.to_string());
    let place = match (&r.location, &r.message) {
        (Some(l), _) => format!("{}, {}, {}", l.city, l.region_name, l.country),
        (None, Some(m)) => m.clone(),
        (None, None) => String::new(),
    };
    let (status, total, query) = (&r.status, answer.elapsed.as_millis(), &r.query);
    format!(
        "{k:>6}  {status:<7}  {slot:>4}  {queue:>5}  {waited:>9}  {total:>8}  {query:<15}  {place}"
    )
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The router.
    pub router: SocketAddr,
    /// How many clients ask at once.
    pub clients: usize,
    /// For how long.
    pub duration: Duration,
    /// What each client asks.
    pub request: Request,
    /// Longest wait for each answer.
    pub timeout: Duration,
}

/// What one client thread saw.
#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: BTreeMap<String, usize>,
    by_slot: BTreeMap<usize, usize>,
    queued: usize,
}

/// The outcome of a load run.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Clients that asked at once.
    pub clients: usize,
    /// How long the run lasted.
    pub elapsed: Duration,
    /// Latency of every answer given by a server, sorted.
    pub latencies: Vec<Duration>,
    /// Requests without such an answer, by kind (`connect`, `timeout`, `router busy`, ...).
    pub errors: BTreeMap<String, usize>,
    /// Answers per slot.
    pub by_slot: BTreeMap<usize, usize>,
    /// Answers that waited in the queue first.
    pub queued: usize,
}

impl LoadReport {
    /// Answers per second.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The latency below which `fraction` (0.5 for the median) of the answers came.
    pub fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((self.latencies.len() as f64 * fraction).ceil() as usize).max(1);
        self.latencies[rank.min(self.latencies.len()) - 1]
    }

    /// Requests that got no answer from a server.
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} clients, {:.1} s: {} answers ({:.0}/s), {} errors",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.latencies.len(),
            self.per_second(),
            self.error_count()
        )?;
        writeln!(
            f,
            "latency: p50 {}, p90 {}, p99 {}, max {}",
            ms(self.percentile(0.50)),
            ms(self.percentile(0.90)),
            ms(self.percentile(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        )?;
        let slots: Vec<String> = self
            .by_slot
            .iter()
            .map(|(slot, n)| format!("{slot}: {n}"))
            .collect();
        writeln!(f, "answers per slot: {}", slots.join(", "))?;
        writeln!(
            f,
            "waited in the queue first: {} of {}",
            self.queued,
            self.latencies.len()
        )?;
        for (kind, n) in &self.errors {
            writeln!(f, "error {kind}: {n}")?;
        }
        Ok(())
    }
}

/// How the router's "no server reachable: ..." message begins.
const NO_SERVER: &str = "no server reachable";

/// A short name for a refusal by the router, without the details that vary.
fn refusal_kind(message: Option<&str>) -> String {
    match message {
        Some(m) if m.starts_with(NO_SERVER) => NO_SERVER.to_string(),
        Some(m) if m.starts_with("waited ") => "waited too long for a slot".to_string(),
        Some(m) => m.to_string(),
        None => "a reply without a router field".to_string(),
    }
}

/// A short name for the kind of a failed request: what its message begins with.
fn error_kind(e: &std::io::Error) -> String {
    let message = e.to_string();
    match ["cannot reach", "cannot send", "not an answer"]
        .into_iter()
        .find(|k| message.starts_with(k))
    {
        Some(kind) => kind.to_string(),
        None => message,
    }
}

/// Runs the load and returns the report. Fails only if the client threads cannot be started.
pub fn run(config: &LoadConfig) -> std::io::Result<LoadReport> {
    let clients = config.clients.max(1);
    let (done, tallies) = mpsc::channel::<Tally>();
    let mut threads = Vec::with_capacity(clients);
    // Each thread waits for its "go" (the common deadline), so that all start together; if a
    // thread cannot be started, the others' senders are dropped and they end without asking.
    let mut go = Vec::with_capacity(clients);
    for n in 0..clients {
        let (go_tx, go_rx) = mpsc::channel::<Instant>();
        let (done, config) = (done.clone(), config.clone());
        let t = thread::Builder::new()
            .name(format!("load-{n}"))
            .spawn(move || {
                if let Ok(deadline) = go_rx.recv() {
                    let _ = done.send(ask_until(&config, deadline));
                }
            })?;
        threads.push(t);
        go.push(go_tx);
    }
    drop(done);
    let began = Instant::now();
    let deadline = began + config.duration;
    for go_tx in go {
        let _ = go_tx.send(deadline);
    }
    let mut report = LoadReport {
        clients,
        ..LoadReport::default()
    };
    for tally in tallies {
        report.latencies.extend(tally.latencies);
        report.queued += tally.queued;
        for (kind, n) in tally.errors {
            *report.errors.entry(kind).or_insert(0) += n;
        }
        for (slot, n) in tally.by_slot {
            *report.by_slot.entry(slot).or_insert(0) += n;
        }
    }
    report.elapsed = began.elapsed();
    report.latencies.sort_unstable();
    for t in threads {
        let _ = t.join();
    }
    Ok(report)
}

/// One client's loop.
fn ask_until(config: &LoadConfig, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let mut queued = false;
        match client::ask(config.router, config.request, config.timeout, |_| {
            queued = true
        }) {
            Ok(answer) => match (&answer.reply.router, answer.reply.message.as_deref()) {
                // A server's answer (a "not in database" one too) through a slot.
                (Some(served), message) if !message.is_some_and(|m| m.starts_with(NO_SERVER)) => {
                    tally.latencies.push(answer.elapsed);
                    *tally.by_slot.entry(served.slot).or_insert(0) += 1;
                    tally.queued += usize::from(queued);
                }
                // No server's answer: "router busy", "no server reachable", a queue timeout...
                (_, message) => {
                    *tally.errors.entry(refusal_kind(message)).or_insert(0) += 1;
                }
            },
            Err(e) => *tally.errors.entry(error_kind(&e)).or_insert(0) += 1,
        }
    }
    tally
}
