//! The router's IP table, and how an IP table is printed when the program stops.
//!
//! For each client, the original router appended `[addr, ips[index]]` to a global list
//! `iptable`: the client's `(ip, port)` and the server (VM) its request went to. Here the list
//! is behind a `parking_lot::Mutex`, so that client threads append to it at once without losing
//! rows. (The server's table is the NAT table: `nat.rs`.)

use crate::extras::sync::parking_lot::Mutex; // parking_lot's (loom's under --cfg loom)
use serde::{Serialize, Serializer};
use std::fmt::{self, Display, Write as _};
use std::net::SocketAddr;

/// One row of the router's table: `[["127.0.0.1", 54136], "127.0.0.1:12347"]` in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterEntry {
    /// The client as the router saw it.
    pub client: SocketAddr,
    /// The server its request went to.
    pub server: SocketAddr,
}

/// The router's IP table, shared by every client thread.
#[derive(Default)]
pub struct IpTable {
    /// The rows in memory, oldest first.
    rows: Mutex<Vec<RouterEntry>>,
}

impl IpTable {
    /// An empty table.
    pub fn new() -> IpTable {
        IpTable::default()
    }

    /// Appends a row: many client threads do so at once.
    pub fn push(&self, row: RouterEntry) {
        // [part 2: IpTable::push]
        // Critical section: one append; the lock is held for nothing else.
        self.rows.lock().push(row);
        // [end of part 2]
    }

    /// Sets the server in the newest row of `row.client`: when a client's server failed and
    /// another one answered it, the row names the one that answered.
    pub fn replace(&self, row: RouterEntry) {
        // Critical section: one search from the newest row back, and one write.
        let mut rows = self.rows.lock();
        if let Some(old) = rows.iter_mut().rev().find(|old| old.client == row.client) {
            *old = row;
        }
    }

    /// A copy of the oldest `n` rows (all of them, if there are fewer).
    pub fn oldest(&self, n: usize) -> Vec<RouterEntry> {
        self.rows.lock().iter().take(n).copied().collect()
    }

    /// Takes out the oldest `n` rows (all of them, if there are fewer).
    pub fn take_oldest(&self, n: usize) -> Vec<RouterEntry> {
        // Critical section: the oldest rows are copied out and removed in one step.
        let mut rows = self.rows.lock();
        let n = n.min(rows.len());
        rows.drain(..n).collect()
    }

    /// Takes out every row: the table's run, at the stop.
    pub fn take_all(&self) -> Vec<RouterEntry> {
        // [part 2: IpTable::take_all]
        // Critical section: the rows are taken and the table left empty in one step.
        std::mem::take(&mut *self.rows.lock())
        // [end of part 2]
    }

    /// How many rows are in memory.
    pub(crate) fn len(&self) -> usize {
        self.rows.lock().len()
    }
}

impl Serialize for RouterEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let client = (self.client.ip().to_string(), self.client.port());
        (client, self.server.to_string()).serialize(s)
    }
}

impl Display for RouterEntry {
    /// `[('127.0.0.1', 54136), '127.0.0.1:12347']`, as the original printed a row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client = self.client;
        write!(
            f,
            "[('{}', {}), '{}']",
            client.ip(),
            client.port(),
            self.server
        )
    }
}

/// The table as the original printed it on Ctrl-C, with `who` ("router", "server 12347") in
/// the heading, so that four servers in one terminal can be told apart.
pub fn format_table<R: Display>(who: &str, rows: &[R]) -> String {
    let mut out =
        format!("\nCurrent IPTABLE of the {who} before terminating the program:\nIndex\t\t\tIPs\n");
    if rows.is_empty() {
        out.push_str("IPTABLE IS EMPTY!!!\n");
    }
    for (index, row) in (1..).zip(rows) {
        let _ = writeln!(out, "{index}\t\t\t{row}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(port: u16) -> RouterEntry {
        RouterEntry {
            client: SocketAddr::from(([127, 0, 0, 1], port)),
            server: "127.0.0.1:12347".parse().unwrap(),
        }
    }

    #[test]
    fn a_failed_over_client_s_row_names_the_server_that_answered() {
        let table = IpTable::new();
        table.push(row(1));
        table.push(row(2));
        let moved = RouterEntry {
            server: "127.0.0.1:12350".parse().unwrap(),
            ..row(1)
        };
        table.replace(moved);
        assert_eq!(table.take_oldest(1), [moved]);
        assert_eq!(table.take_oldest(10), [row(2)], "all that is left");
        assert_eq!(table.len(), 0);
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

    #[test]
    fn rows_pushed_by_many_threads_are_all_taken_once_in_each_thread_s_order() {
        let table = std::sync::Arc::new(IpTable::new());
        let writers: Vec<_> = (0..8u16)
            .map(|writer| {
                let table = std::sync::Arc::clone(&table);
                std::thread::spawn(move || {
                    for n in 0..200 {
                        table.push(row(writer * 1000 + n));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let rows = table.take_all();
        assert_eq!(rows.len(), 1600, "every row pushed is there");
        for writer in 0..8u16 {
            let ports: Vec<u16> = rows
                .iter()
                .map(|row| row.client.port())
                .filter(|port| port / 1000 == writer)
                .collect();
            let in_order: Vec<u16> = (0..200).map(|n| writer * 1000 + n).collect();
            assert_eq!(ports, in_order, "writer {writer}'s rows, in its order");
        }
        assert_eq!(table.take_all(), [], "taken rows are gone");
        table.push(row(1));
        assert_eq!(
            table.take_all(),
            [row(1)],
            "a row pushed after is the next run's"
        );
    }
}
