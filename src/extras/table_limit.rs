//! A router that runs for days: IP tables of bounded size (`--table-limit`).
//!
//! The original kept every row in memory until Ctrl-C; at a few thousand requests a second that
//! is gigabytes a day. Here a table holds at most `--table-limit` rows (100,000 by default:
//! about 8 MB for the router, 15 MB for a server). When it is full, its oldest `--table-limit`
//! rows are written to the log as a run of their own and dropped from memory, by the thread
//! that filled it, once its client has its answer. Ctrl-C writes the rows still in memory as
//! the next run. A lab never comes near the limit, so there one Ctrl-C is one run, as in the
//! original.
//!
//! Rows leave memory only once they are in the log. If a run cannot be written (a full disk,
//! say), its rows stay, the error is reported once, and the write is tried again when another
//! `--table-limit` rows have come (each full run in turn), or at Ctrl-C with all the others.

use crate::extras::output::Output;
use crate::iplog;
use crate::iptable::{IpTable, RouterEntry};
use crate::nat::{NatEntry, NatTable};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A table whose oldest rows can be taken out: the router's and the server's.
pub(crate) trait Table {
    /// One row.
    type Row: Serialize;
    /// How many rows are in memory.
    fn len(&self) -> usize;
    /// A copy of the oldest `n` rows.
    fn oldest(&self, n: usize) -> Vec<Self::Row>;
    /// Takes out the oldest `n` rows.
    fn take_oldest(&self, n: usize) -> Vec<Self::Row>;
}

impl Table for IpTable {
    type Row = RouterEntry;
    fn len(&self) -> usize {
        IpTable::len(self)
    }
    fn oldest(&self, n: usize) -> Vec<RouterEntry> {
        IpTable::oldest(self, n)
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
    fn oldest(&self, n: usize) -> Vec<NatEntry> {
        NatTable::oldest(self, n)
    }
    fn take_oldest(&self, n: usize) -> Vec<NatEntry> {
        NatTable::take_oldest(self, n)
    }
}

/// One spill at a time: the check, the write and the take happen together, so that every run
/// written this way holds exactly `limit` rows, and runs reach the log in the order of their
/// rows. It also holds, for each log whose last write failed, the table size at which to try
/// again.
static SPILLING: Mutex<Vec<(PathBuf, usize)>> = Mutex::new(Vec::new());

/// If `table` holds `limit` rows, writes its oldest `limit` rows to the log at `log` as a run
/// of their own (each full run in turn), drops them from memory, and says so. (Should the
/// stop's dump run at the same moment, after a drain that ran out of time, the two runs may
/// reach the file in either order.)
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
    let mut retry_at = SPILLING.lock();
    let Some(path) = log else {
        let n = table.take_oldest(limit).len();
        return out.notice(format_args!(
            "{who}: table full, {n} rows dropped from memory (no log file)"
        ));
    };
    let failed_before = retry_at.iter().position(|(failed, _)| failed == path);
    if failed_before.is_some_and(|i| table.len() < retry_at[i].1) {
        return; // The last write failed: try again when another full run has come.
    }
    while table.len() >= limit {
        let rows = table.oldest(limit);
        match iplog::append_run(path, &rows) {
            Ok(done) => {
                table.take_oldest(limit);
                retry_at.retain(|(failed, _)| failed != path);
                let (n, key) = (rows.len(), done.key);
                out.notice(format_args!("{who}: table full, {n} rows written to the log as {key} and dropped from memory"));
            }
            Err(e) => {
                if failed_before.is_none() {
                    out.warn(format_args!("{who}: table full, and {e}; its rows stay in memory and are written at the next try, or at the stop"));
                }
                retry_at.retain(|(failed, _)| failed != path);
                retry_at.push((path.to_path_buf(), table.len() + limit));
                return;
            }
        }
    }
}
