//! A router that runs for days: IP tables of bounded size (`--table-limit`).
//!
//! The original kept every row in memory until Ctrl-C; at a few thousand requests a second that
//! is gigabytes a day. Here a table holds at most `--table-limit` rows (100,000 by default:
//! about 8 MB for the router, 15 MB for a server). When it is full, its oldest `--table-limit`
//! rows are written to the log as a run of their own and dropped from memory, by the thread
//! that filled it, once its client has its answer. Ctrl-C writes the rows still in memory as
//! the next run. A lab never comes near the limit, so there one Ctrl-C is one run, as in the
//! original.

use crate::extras::Output;
use crate::iplog;
use crate::iptable::{IpTable, RouterEntry};
use crate::nat::{NatEntry, NatTable};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::Path;

/// A table whose oldest rows can be taken out: the router's and the server's.
pub(crate) trait Table {
    /// One row.
    type Row: Serialize;
    /// How many rows are in memory.
    fn len(&self) -> usize;
    /// Takes out the oldest `n` rows.
    fn take_oldest(&self, n: usize) -> Vec<Self::Row>;
}

impl Table for IpTable {
    type Row = RouterEntry;
    fn len(&self) -> usize {
        IpTable::len(self)
    }
    fn take_oldest(&self, n: usize) -> Vec<RouterEntry> {
        IpTable::take_oldest(self, n)
    }
}

impl Table for NatTable {
    type Row = NatEntry;
    fn len(&self) -> usize {
        NatTable::len(self)
    }
    fn take_oldest(&self, n: usize) -> Vec<NatEntry> {
        NatTable::take_oldest(self, n)
    }
}

/// One spill at a time: the check and the take happen together, so that every run written
/// this way holds exactly `limit` rows, and runs reach the log in the order they were taken.
static SPILLING: Mutex<()> = Mutex::new(());

/// If `table` holds `limit` rows, writes its oldest `limit` rows to the log at `log` as a run
/// of their own, drops them from memory, and says so. (Should the stop's dump run at the same
/// moment, after a drain that ran out of time, the two runs may reach the file in either order.)
pub(crate) fn spill_if_full<T: Table>(
    who: &str,
    out: Output,
    log: Option<&Path>,
    table: &T,
    limit: usize,
) {
    // The common case: not full, and no lock taken.
    if table.len() < limit {
        return;
    }
    // Held across the file I/O: only threads that found a full table wait for it.
    let _spilling = SPILLING.lock();
    if table.len() < limit {
        return; // Another thread took the rows first.
    }
    let rows = table.take_oldest(limit);
    let n = rows.len();
    match log.map(|path| iplog::append_run(path, &rows)) {
        Some(Ok(done)) => out.notice(format_args!(
            "{who}: table full, {n} rows written to the log as {} and dropped from memory",
            done.key
        )),
        Some(Err(e)) => out.warn(format_args!("{who}: table full, and {e}; {n} rows lost")),
        None => out
            .notice(format_args!("{who}: table full, {n} rows dropped from memory (no log file)")),
    }
}
