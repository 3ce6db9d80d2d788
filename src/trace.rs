//! The semaphore's timeline, for the lab report's figure (`router --trace FILE`).
//!
//! When tracing is on, the router records each client's steps through the semaphore: `queued`
//! (with its place), `granted` (the slot and the client's turn) and `released`, each with the
//! time since the router started. The events are kept in memory, and written to the file as
//! JSON lines when the router stops, so that recording them costs no file I/O while clients
//! wait; at most [`MAX_EVENTS`] are kept. `report/scripts/plot_timeline.py` draws them.

use parking_lot::Mutex;
use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The most events kept (about 150 bytes each): a demonstration, not a log.
pub const MAX_EVENTS: usize = 100_000;

/// What happened to a client at the semaphore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// Every slot was busy: the client joined the queue at `place`.
    Queued,
    /// The client was given `slot`, as the semaphore's `turn`-th grant.
    Granted,
    /// The client gave `slot` back.
    Released,
}

/// One event of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the router started.
    pub t_ms: f64,
    /// What happened.
    pub step: Step,
    /// The client, as the router's table shows it.
    pub client: SocketAddr,
    /// The slot granted or released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<usize>,
    /// The place in the queue, for `queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<usize>,
    /// The grant number, for `granted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn: Option<u64>,
}

/// A timeline being recorded, or nothing when tracing is off.
pub struct Trace {
    /// Where the events go when the router stops; `None`: tracing is off.
    path: Option<PathBuf>,
    started: Instant,
    /// The events so far, in the order they were recorded; the lock is held for one push.
    events: Mutex<Vec<Event>>,
}

impl Trace {
    /// A trace written to `path` at the end, or none if `path` is `None`.
    pub fn new(path: Option<PathBuf>) -> Trace {
        Trace {
            path,
            started: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// True when events are being recorded.
    pub fn is_on(&self) -> bool {
        self.path.is_some()
    }

    /// Records one event (nothing when tracing is off or the trace is full).
    pub fn record(
        &self,
        step: Step,
        client: SocketAddr,
        slot: Option<usize>,
        place: Option<usize>,
        turn: Option<u64>,
    ) {
        if !self.is_on() {
            return;
        }
        let event = Event {
            t_ms: self.started.elapsed().as_secs_f64() * 1000.0,
            step,
            client,
            slot,
            place,
            turn,
        };
        // Critical section: one push.
        let mut events = self.events.lock();
        if events.len() < MAX_EVENTS {
            events.push(event);
        }
    }

    /// The events recorded so far, in time order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = self.events.lock().clone();
        events.sort_by(|a, b| a.t_ms.total_cmp(&b.t_ms));
        events
    }

    /// Writes the events, one JSON object per line, to the trace file. `Ok(None)` when tracing
    /// is off; otherwise the file and how many events it holds.
    pub fn write(&self) -> io::Result<Option<(PathBuf, usize)>> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let events = self.events();
        write_lines(path, &events)?;
        Ok(Some((path.clone(), events.len())))
    }
}

fn write_lines(path: &Path, events: &[Event]) -> io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for event in events {
        serde_json::to_writer(&mut out, event).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
