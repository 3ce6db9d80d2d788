//! The server's NAT table: static NAT from a caller's private address to a public one.
//!
//! The original server kept a global `ip` (its own public address, from ipify) and a list
//! `iptable`. For each caller `(private_ip, port)` it looked the caller up; a new caller was
//! recorded as `[(private_ip, port), (ip, port)]`, and after answering, `splitip()` added one to
//! the last octet of `ip`, so the next new caller got the next public address: a small pool of
//! public addresses handed out one by one, as a NAT router maps inside hosts to outside ones.
//!
//! The original updated `ip` in `splitip()` *after* releasing its lock, so two threads could
//! hand out the same public address or skip one. Here the lookup, the insertion and the bump of
//! the next address are one critical section under one `parking_lot::Mutex`.

use parking_lot::Mutex;
use serde::ser::{Serialize, SerializeTuple, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// One row of the NAT table: `[[private_ip, port], [public_ip, port]]` in the JSON log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatEntry {
    /// The caller as the server saw it.
    pub private: SocketAddr,
    /// The public address it is mapped to; the port is kept, as in the original.
    pub public: SocketAddr,
}

/// The NAT table of one server.
pub struct NatTable {
    /// The pool cursor and the rows, changed together under one lock.
    state: Mutex<NatState>,
    /// Most rows kept in memory; see [`NatTable::take_if_full`].
    limit: usize,
}

struct NatState {
    /// The public address the next new caller gets (the original's global `ip`).
    next_public: Ipv4Addr,
    /// Every caller mapped so far, in arrival order.
    entries: Vec<NatEntry>,
    /// Caller -> its row in `entries`, so that finding a caller does not scan the table (a
    /// scan under the lock made every request slower than the one before).
    index: HashMap<SocketAddr, usize>,
}

/// The address after `ip` in the pool: the last octet plus one, wrapping from 254 to 1 so that
/// the network (.0) and broadcast (.255) addresses are never handed out. This is the original's
/// `splitip()`.
///
/// ```
/// use geotracker::nat::next_in_pool;
/// assert_eq!(next_in_pool("117.222.175.180".parse().unwrap()), "117.222.175.181".parse::<std::net::Ipv4Addr>().unwrap());
/// assert_eq!(next_in_pool("117.222.175.254".parse().unwrap()), "117.222.175.1".parse::<std::net::Ipv4Addr>().unwrap());
/// ```
pub fn next_in_pool(ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, d] = ip.octets();
    let next = if d >= 254 { 1 } else { d + 1 };
    Ipv4Addr::new(a, b, c, next)
}

/// True when `ip` is usable on the public Internet, i.e. a NAT would not translate it.
pub fn is_public(ip: IpAddr) -> bool {
    crate::geo::ranges::special_range(ip).is_none()
}

impl NatTable {
    /// An empty table whose first new caller is mapped to `base` (the server's public address),
    /// keeping at most [`DEFAULT_TABLE_LIMIT`](crate::iptable::DEFAULT_TABLE_LIMIT) rows.
    pub fn new(base: Ipv4Addr) -> NatTable {
        NatTable::with_limit(base, crate::iptable::DEFAULT_TABLE_LIMIT)
    }

    /// [`NatTable::new`] keeping at most `limit` rows (at least one).
    pub fn with_limit(base: Ipv4Addr, limit: usize) -> NatTable {
        NatTable {
            state: Mutex::new(NatState {
                next_public: base,
                entries: Vec::new(),
                index: HashMap::new(),
            }),
            limit: limit.max(1),
        }
    }

    /// If the table has reached its limit, takes its oldest `limit` rows out (to be written to
    /// the log as one run) and forgets those callers: one that comes back is mapped anew.
    /// Otherwise `None`. The pool cursor is kept, so the next caller still gets the next
    /// address; rows added meanwhile stay for the next run.
    pub fn take_if_full(&self) -> Option<Vec<NatEntry>> {
        // Critical section: the check, the take and the re-indexing are one step.
        let mut state = self.state.lock();
        if state.entries.len() < self.limit {
            return None;
        }
        let taken: Vec<NatEntry> = state.entries.drain(..self.limit).collect();
        for entry in &taken {
            state.index.remove(&entry.private);
        }
        // The rows left moved to the front: index them again (there are few of them).
        let NatState { entries, index, .. } = &mut *state;
        for (row, entry) in entries.iter().enumerate() {
            index.insert(entry.private, row);
        }
        Some(taken)
    }

    /// Maps `caller` to its public address, recording it if it is new.
    ///
    /// - a caller seen before (same address and port) gets the same mapping again;
    /// - a caller whose own address is already public is not translated: it maps to itself,
    ///   as the original's servers on public VMs located the router's public address;
    /// - any other new caller gets the next address of the pool.
    pub fn map(&self, caller: SocketAddr) -> NatEntry {
        let caller_ip = caller.ip().to_canonical();
        let caller = SocketAddr::new(caller_ip, caller.port());
        // Critical section: find-or-insert and the pool bump must not interleave with another
        // caller's, or two callers could share a public address.
        let mut state = self.state.lock();
        if let Some(&row) = state.index.get(&caller) {
            return state.entries[row];
        }
        let public = if is_public(caller_ip) {
            caller
        } else {
            let ip = state.next_public;
            state.next_public = next_in_pool(ip);
            SocketAddr::new(IpAddr::V4(ip), caller.port())
        };
        let entry = NatEntry {
            private: caller,
            public,
        };
        let row = state.entries.len();
        state.entries.push(entry);
        state.index.insert(caller, row);
        entry
    }

    /// True when the table holds its limit of rows (and [`NatTable::take_if_full`] would take
    /// them).
    pub fn is_full(&self) -> bool {
        self.state.lock().entries.len() >= self.limit
    }

    /// A copy of the rows, in arrival order, taken under the lock.
    pub fn snapshot(&self) -> Vec<NatEntry> {
        self.state.lock().entries.clone()
    }

    /// How many callers are recorded.
    pub fn len(&self) -> usize {
        self.state.lock().entries.len()
    }

    /// True when no caller is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `["127.0.0.1", 46516]`: an address as the original's Python tuples appear in JSON.
pub(crate) struct AddrPair(pub SocketAddr);

impl Serialize for AddrPair {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.0.ip().to_string())?;
        t.serialize_element(&self.0.port())?;
        t.end()
    }
}

impl Serialize for NatEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&AddrPair(self.private))?;
        t.serialize_element(&AddrPair(self.public))?;
        t.end()
    }
}

impl fmt::Display for NatEntry {
    /// `[('127.0.0.1', 46516), ('115.97.93.214', 46516)]`, as the original printed its rows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[('{}', {}), ('{}', {})]",
            self.private.ip(),
            self.private.port(),
            self.public.ip(),
            self.public.port()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn new_callers_get_consecutive_public_addresses() {
        let t = NatTable::new("117.222.175.180".parse().unwrap());
        let a = t.map(addr("127.0.0.1:53438"));
        let b = t.map(addr("127.0.0.1:53456"));
        assert_eq!(a.public, addr("117.222.175.180:53438"));
        assert_eq!(b.public, addr("117.222.175.181:53456"));
        // The same caller again: same mapping, no new row, the pool does not move.
        assert_eq!(t.map(addr("127.0.0.1:53438")), a);
        assert_eq!(
            t.map(addr("127.0.0.1:1")).public.ip().to_string(),
            "117.222.175.182"
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn the_pool_wraps_inside_1_to_254() {
        let t = NatTable::new("10.0.0.253".parse().unwrap());
        let ips: Vec<String> = (1..=4)
            .map(|port| {
                t.map(SocketAddr::new([192, 168, 1, 9].into(), port))
                    .public
                    .ip()
                    .to_string()
            })
            .collect();
        assert_eq!(ips, ["10.0.0.253", "10.0.0.254", "10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn a_public_caller_is_not_translated() {
        let t = NatTable::new("117.222.175.180".parse().unwrap());
        let e = t.map(addr("117.213.135.183:54704"));
        assert_eq!(e.public, addr("117.213.135.183:54704"));
        // ... and does not use up a pool address.
        assert_eq!(
            t.map(addr("127.0.0.1:5")).public.ip().to_string(),
            "117.222.175.180"
        );
    }

    #[test]
    fn rows_serialise_as_the_original_wrote_them() {
        let e = NatEntry {
            private: addr("127.0.0.1:46516"),
            public: addr("115.97.93.214:46516"),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"[["127.0.0.1",46516],["115.97.93.214",46516]]"#
        );
        assert_eq!(
            e.to_string(),
            "[('127.0.0.1', 46516), ('115.97.93.214', 46516)]"
        );
    }
}
