//! The router's IP table, and how any IP table is printed when the program stops.
//!
//! The original router appended `[addr, ips[index]]` to a global list `iptable` for each client
//! it served: the client's `(ip, port)` and the server (VM) address its request went to. Here
//! that list sits behind a `parking_lot::Mutex` so that client threads can append to it
//! concurrently without losing rows. The server's table, which also maps addresses, is in
//! [`crate::nat`].
//!
//! **A router that runs for days.** The original kept every row in memory until Ctrl-C; at a
//! few thousand requests a second that is gigabytes a day. Both tables here hold at most
//! `--table-limit` rows (100,000 by default: about 8 MB for the router, 15 MB for a server).
//! When a table is full, its oldest `--table-limit` rows are written to the log as a run of
//! their own and dropped from memory ([`TableLog::spill`]); Ctrl-C writes the rows still in
//! memory as the next run. A lab
//! never comes near the limit, so there one Ctrl-C is one run, as in the original.

use crate::iplog::{self, Appended, LogError};
use crate::nat::AddrPair;
use parking_lot::Mutex;
use serde::ser::{Serialize, SerializeTuple, Serializer};
use std::fmt::{self, Display, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;

/// One row of the router's table: `[["127.0.0.1", 54136], "127.0.0.1:12347"]` in the JSON log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterEntry {
    /// The client as the router saw it.
    pub client: SocketAddr,
    /// The server its request was forwarded to.
    pub server: SocketAddr,
}

/// The default `--table-limit`: rows a table keeps in memory before writing them to the log.
pub const DEFAULT_TABLE_LIMIT: usize = 100_000;

/// A table of rows shared by many threads: appended to, a row corrected at most, and emptied
/// into the log when it reaches its limit.
pub struct IpTable<E> {
    state: Mutex<Rows<E>>,
    limit: usize,
}

/// The rows in memory, in the order they were appended, and how many went to the log before.
struct Rows<E> {
    rows: Vec<E>,
    taken: usize,
}

impl<E: Clone> IpTable<E> {
    /// An empty table that keeps at most [`DEFAULT_TABLE_LIMIT`] rows.
    pub fn new() -> IpTable<E> {
        IpTable::with_limit(DEFAULT_TABLE_LIMIT)
    }

    /// An empty table that keeps at most `limit` rows (at least one).
    pub fn with_limit(limit: usize) -> IpTable<E> {
        IpTable {
            state: Mutex::new(Rows {
                rows: Vec::new(),
                taken: 0,
            }),
            limit: limit.max(1),
        }
    }

    /// Appends a row and returns its number since the table was created (1 for the first).
    pub fn push(&self, row: E) -> usize {
        // Critical section: one append; the lock is held for nothing else.
        let mut state = self.state.lock();
        state.rows.push(row);
        state.taken + state.rows.len()
    }

    /// Replaces row `number` (as [`IpTable::push`] returned it). The router does this when a
    /// client's first server failed and another one answered it. A row that is no longer in
    /// memory (it was written to the log) is left as it was.
    pub fn replace(&self, number: usize, row: E) {
        // Critical section: one write; the lock is held for nothing else.
        let mut state = self.state.lock();
        let at = number.wrapping_sub(state.taken + 1);
        if let Some(slot) = state.rows.get_mut(at) {
            *slot = row;
        }
    }

    /// If the table has reached its limit, takes its oldest `limit` rows out (to be written to
    /// the log as one run); otherwise `None`. Rows pushed meanwhile by other threads stay for
    /// the next run, so every run written this way has exactly `limit` rows.
    pub fn take_if_full(&self) -> Option<Vec<E>> {
        // Critical section: the check and the take are one step.
        let mut state = self.state.lock();
        if state.rows.len() < self.limit {
            return None;
        }
        let rows: Vec<E> = state.rows.drain(..self.limit).collect();
        state.taken += rows.len();
        Some(rows)
    }

    /// True when the table holds its limit of rows (and [`IpTable::take_if_full`] would take
    /// them).
    pub fn is_full(&self) -> bool {
        self.state.lock().rows.len() >= self.limit
    }

    /// A copy of the rows in memory, taken under the lock.
    pub fn snapshot(&self) -> Vec<E> {
        self.state.lock().rows.clone()
    }

    /// How many rows are in memory.
    pub fn len(&self) -> usize {
        self.state.lock().rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E: Clone> Default for IpTable<E> {
    fn default() -> Self {
        IpTable::new()
    }
}

impl Serialize for RouterEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&AddrPair(self.client))?;
        t.serialize_element(&self.server.to_string())?;
        t.end()
    }
}

impl Display for RouterEntry {
    /// `[('127.0.0.1', 54136), '127.0.0.1:12347']`, as the original printed its rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[('{}', {}), '{}']",
            self.client.ip(),
            self.client.port(),
            self.server
        )
    }
}

/// The table as the original printed it on Ctrl-C, with `who` ("router", "server 12347") in
/// the heading so that four servers in one terminal can be told apart.
pub fn format_table<E: Display>(who: &str, rows: &[E]) -> String {
    let mut out = format!("\nCurrent IPTABLE of the {who} before terminating the program:\n");
    out.push_str("Index\t\t\tIPs\n");
    if rows.is_empty() {
        out.push_str("IPTABLE IS EMPTY!!!\n");
    }
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(out, "{}\t\t\t{}", i + 1, row);
    }
    out
}

/// Prints [`format_table`] in one write, so that tables printed by several threads at once do
/// not interleave line by line.
pub fn print_table<E: Display>(who: &str, rows: &[E]) {
    crate::console::print_block(&format_table(who, rows));
}

/// The last step of a stopping router or server (the original's `handler`): prints the table,
/// appends it to the log at `log` if there is one, and says what happened to the log.
pub fn dump_on_exit<E: Display + Serialize>(
    who: &str,
    rows: &[E],
    log: Option<&Path>,
) -> Option<Result<Appended, LogError>> {
    print_table(who, rows);
    let path = log?;
    let outcome = iplog::append_run(path, rows);
    match &outcome {
        Ok(done) => {
            if let Some(aside) = &done.moved_aside {
                crate::warn!(
                    "{who}: the old log could not be read as a log; it was kept as {} and a new log started",
                    aside.display()
                );
            }
            crate::say!(
                "{who}: table written to the log as {} ({} rows)",
                done.key,
                done.rows
            );
        }
        Err(e) => crate::warn!("{who}: {e}; the log file was left as it was"),
    }
    Some(outcome)
}

/// Where a router's or server's table goes: the log file (if any), written one batch at a
/// time and in order, whether the batch is a full table ([`TableLog::spill`]) or the rows left
/// at Ctrl-C ([`TableLog::dump`]).
pub struct TableLog {
    who: String,
    path: Option<PathBuf>,
    /// Held while a batch is written, so two batches never write the file at once and they
    /// arrive in the order they were taken. No other lock is ever taken while holding it.
    writing: Mutex<()>,
}

impl TableLog {
    /// The log of `who` ("router", "server 12347") at `path`, or none.
    pub fn new(who: &str, path: Option<PathBuf>) -> TableLog {
        TableLog {
            who: who.to_string(),
            path,
            writing: Mutex::new(()),
        }
    }

    /// If `take_full` gives a full table's rows, writes them as a run, to keep memory bounded,
    /// and says so. Call it only when the table is full (`is_full`), so that the common case
    /// takes no lock of this log. The rows are taken while this log's lock is held (lock order:
    /// this lock, then the table's, never the other way), so runs reach the file in the order
    /// they were taken; a thread that finds another writing waits for it, then takes the next
    /// batch if the table is still full.
    pub fn spill<E: Serialize>(&self, take_full: impl FnOnce() -> Option<Vec<E>>) {
        let _writing = self.writing.lock();
        let Some(rows) = take_full() else {
            return;
        };
        let Some(path) = &self.path else {
            crate::say!(
                "{}: table full, {} rows dropped from memory (no log file)",
                self.who,
                rows.len()
            );
            return;
        };
        match iplog::append_run(path, &rows) {
            Ok(done) => crate::say!(
                "{}: table full, {} rows written to the log as {} and dropped from memory",
                self.who,
                done.rows,
                done.key
            ),
            Err(e) => crate::warn!(
                "{}: table full, and {e}; {} rows lost",
                self.who,
                rows.len()
            ),
        }
    }

    /// Prints the rows left in memory and appends them as a run: see [`dump_on_exit`].
    pub fn dump<E: Display + Serialize>(&self, rows: &[E]) -> Option<Result<Appended, LogError>> {
        let _writing = self.writing.lock();
        dump_on_exit(&self.who, rows, self.path.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_get_consecutive_indexes() {
        let t = IpTable::new();
        assert_eq!(t.push(1), 1);
        assert_eq!(t.push(2), 2);
        assert_eq!(t.snapshot(), vec![1, 2]);
    }

    #[test]
    fn a_router_row_has_the_original_shape() {
        let row = RouterEntry {
            client: "127.0.0.1:54136".parse().unwrap(),
            server: "127.0.0.1:12347".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"[["127.0.0.1",54136],"127.0.0.1:12347"]"#
        );
        let printed = format_table("router", &[row]);
        assert!(printed.contains("1\t\t\t[('127.0.0.1', 54136), '127.0.0.1:12347']\n"));
        assert!(format_table::<RouterEntry>("router", &[]).contains("IPTABLE IS EMPTY!!!"));
    }
}
