//! The semaphore's timeline, for the lab report's figure (`router --trace FILE`).
//!
//! With tracing on, the router records each client's steps at the semaphore: `queued` (with
//! its place), `granted` (the slot, and the client's turn) and `released`, each with the time
//! since the router started. The events are kept in memory, so that recording costs no file
//! I/O while clients wait (at most [`MAX_EVENTS`]), and written as JSON lines when the router
//! stops. `report/scripts/plot_timeline.py` draws them.

use crate::extras::output::Output;
use parking_lot::Mutex;
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

/// The most events kept (about 100 bytes each): a demonstration, not a log.
pub const MAX_EVENTS: usize = 100_000;

/// What happened to a client at the semaphore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "step")]
pub(crate) enum Step {
    /// Every slot was busy: the client joined the queue at `place`.
    Queued { place: usize },
    /// The client was given `slot`, the semaphore's `turn`-th grant.
    Granted { slot: usize, turn: u64 },
    /// The client gave `slot` back.
    Released { slot: usize },
}

/// One event: `{"t_ms":12.5,"client":"127.0.0.1:50412","step":"granted","slot":0,"turn":1}`.
#[derive(Serialize)]
struct Event {
    t_ms: f64,
    client: SocketAddr,
    #[serde(flatten)]
    step: Step,
}

/// A timeline being recorded, or nothing when tracing is off.
pub(crate) struct Trace {
    /// Where the events go at the stop; `None`: tracing is off.
    path: Option<PathBuf>,
    started: Instant,
    /// The events so far, in the order they were recorded; the lock is held for one push.
    events: Mutex<Vec<Event>>,
}

impl Trace {
    /// A trace to be written to `path`, or none.
    pub(crate) fn new(path: Option<PathBuf>) -> Trace {
        let (started, events) = (Instant::now(), Mutex::new(Vec::new()));
        Trace {
            path,
            started,
            events,
        }
    }

    /// Records one step of `client` (nothing when tracing is off or the trace is full).
    pub(crate) fn record(&self, client: SocketAddr, step: Step) {
        if self.path.is_none() {
            return;
        }
        let t_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        // Critical section: one push.
        let mut events = self.events.lock();
        if events.len() < MAX_EVENTS {
            events.push(Event { t_ms, client, step });
        }
    }

    /// Writes the events, in time order, one JSON object per line, and says so.
    pub(crate) fn write(&self, out: Output) {
        let Some(path) = &self.path else {
            return;
        };
        let mut events = std::mem::take(&mut *self.events.lock());
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        let written = (|| -> io::Result<()> {
            let mut file = BufWriter::new(std::fs::File::create(path)?);
            for event in &events {
                serde_json::to_writer(&mut file, event).map_err(io::Error::other)?;
                file.write_all(b"\n")?;
            }
            file.flush()
        })();
        let (path, n) = (path.display(), events.len());
        match written {
            Ok(()) => out.notice(format_args!(
                "router: semaphore timeline written to {path} ({n} events)"
            )),
            Err(e) => out.warn(format_args!(
                "router: cannot write the semaphore timeline to {path}: {e}"
            )),
        }
    }
}
