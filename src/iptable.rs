//! The router's IP table, and how any IP table is printed when the program stops.
//!
//! The original router appended `[addr, ips[index]]` to a global list `iptable` for each client
//! it served: the client's `(ip, port)` and the server (VM) address its request went to. Here
//! that list sits behind a `parking_lot::Mutex` so that client threads can append to it
//! concurrently without losing rows. The server's table, which also maps addresses, is in
//! [`crate::nat`].

use crate::iplog::{self, Appended, LogError};
use crate::nat::AddrPair;
use parking_lot::Mutex;
use serde::ser::{Serialize, SerializeTuple, Serializer};
use std::fmt::{self, Display, Write as _};
use std::net::SocketAddr;
use std::path::Path;

/// One row of the router's table: `[["127.0.0.1", 54136], "127.0.0.1:12347"]` in the JSON log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterEntry {
    /// The client as the router saw it.
    pub client: SocketAddr,
    /// The server its request was forwarded to.
    pub server: SocketAddr,
}

/// A table of rows shared by many threads: appended to, and a row corrected at most.
pub struct IpTable<E> {
    /// The rows in the order they were appended.
    rows: Mutex<Vec<E>>,
}

impl<E: Clone> IpTable<E> {
    /// An empty table.
    pub fn new() -> IpTable<E> {
        IpTable {
            rows: Mutex::new(Vec::new()),
        }
    }

    /// Appends a row and returns its 1-based index (the `"Index"` of the JSON log).
    pub fn push(&self, row: E) -> usize {
        // Critical section: one append; the lock is held for nothing else.
        let mut rows = self.rows.lock();
        rows.push(row);
        rows.len()
    }

    /// Replaces row `index` (1-based, as [`IpTable::push`] returned it). The router does this
    /// when a client's first server failed and another one answered it. An index that is not
    /// in the table is ignored.
    pub fn replace(&self, index: usize, row: E) {
        // Critical section: one write; the lock is held for nothing else.
        if let Some(slot) = self.rows.lock().get_mut(index.wrapping_sub(1)) {
            *slot = row;
        }
    }

    /// A copy of the rows, taken under the lock.
    pub fn snapshot(&self) -> Vec<E> {
        self.rows.lock().clone()
    }

    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.rows.lock().len()
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
    print!("{}", format_table(who, rows));
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
                eprintln!(
                    "{who}: the old log could not be read as a log; it was kept as {} and a new log started",
                    aside.display()
                );
            }
            println!(
                "{who}: table written to the log as {} ({} rows)",
                done.key, done.rows
            );
        }
        Err(e) => eprintln!("{who}: {e}; the log file was left as it was"),
    }
    Some(outcome)
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
