//! The server's NAT table: each caller's private address mapped to a public one.
//!
//! The original server kept a global `ip` (its public address, from ipify) and a list
//! `iptable`. A new caller `(private_ip, port)` was recorded as `[(private_ip, port), (ip,
//! port)]`, then `splitip()` added one to the last octet of `ip`: each new caller got the next
//! address of a pool, as a NAT router with a pool of public addresses maps inside hosts to
//! outside ones. A caller is an address *and* port (a client connecting again from a new port
//! is a new caller), and after .254 the pool wraps round to .1 and hands addresses out again.
//!
//! The original bumped `ip` in `splitip()` *after* releasing its lock, so two threads could get
//! the same address or skip one. Here the lookup, the insertion and the bump are one critical
//! section under one `parking_lot::Mutex`.

use parking_lot::Mutex;
use serde::{Serialize, Serializer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::{collections::HashMap, fmt};

/// One row of the NAT table: `[["127.0.0.1", 46516], ["117.222.175.180", 46516]]` in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatEntry {
    /// The caller as the server saw it.
    pub private: SocketAddr,
    /// The public address it is mapped to; the port is kept, as in the original.
    pub public: SocketAddr,
}

/// The NAT table of one server.
pub struct NatTable {
    /// The pool and the rows change together, under one lock.
    state: Mutex<NatState>,
}

struct NatState {
    /// The public address the next new caller gets: the original's global `ip`.
    next_public: Ipv4Addr,
    /// The callers mapped so far, in arrival order.
    rows: Vec<NatEntry>,
    /// Caller -> its place in `rows`, so that finding a caller does not scan the table.
    index: HashMap<SocketAddr, usize>,
}

/// True for a caller that is translated: one whose address cannot be reached from the
/// Internet, so that it must be "inside".
///
/// The original translated every caller: its servers only ever saw the router, from inside
/// Azure. A real NAT sits between an inside realm of private addresses and the outside world
/// (traditional NAT, RFC 3022) and decides by interface and rule: what comes in on the inside
/// interface is translated. A server here has one interface, so it decides by the caller's
/// address instead: private (10/8, 172.16/12, 192.168/16: RFC
/// 1918), shared (100.64/10, the carriers' own NAT: RFC 6598), loopback, link-local, and the
/// documentation networks that the Mininet lab uses as its "Internet" (192.0.2/24,
/// 198.51.100/24, 203.0.113/24: RFC 5737) are inside; so are IPv6's loopback, unique-local
/// (fc00::/7) and link-local (fe80::/10) addresses. Any other address is taken to be public.
pub fn is_inside(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            let shared = a == 100 && (64..128).contains(&b);
            ip.is_private()
                || shared
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_documentation()
                || ip.is_unspecified()
        }
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unique_local()
                || ip.is_unicast_link_local()
                || ip.is_unspecified()
        }
    }
}

/// The original's `splitip()`: the next address of the pool, the last octet plus one, from
/// .254 back to .1, so that after the first (the server's own address, as it is) .0 and .255
/// are never handed out.
pub fn next_in_pool(ip: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, d] = ip.octets();
    Ipv4Addr::new(a, b, c, if d >= 254 { 1 } else { d + 1 })
}

impl NatTable {
    /// An empty table whose first new caller gets `base`, the server's public address.
    pub fn new(base: Ipv4Addr) -> NatTable {
        let state = NatState {
            next_public: base,
            rows: Vec::new(),
            index: HashMap::new(),
        };
        NatTable {
            state: Mutex::new(state),
        }
    }

    /// The public address of `caller`, which is recorded if it is new:
    /// - a caller seen before (same address and port) gets the same mapping again;
    /// - a new caller from inside ([`is_inside`]) gets the next address of the pool;
    /// - any other new caller keeps its address: it is public already.
    ///
    /// Looking the caller up, recording it and moving the pool on are one critical section, so
    /// that two callers at once never get the same public address and none is skipped.
    pub fn map(&self, caller: SocketAddr) -> NatEntry {
        // [part 3: NatTable::map]
        let caller = SocketAddr::new(caller.ip().to_canonical(), caller.port());
        // Critical section: find, insert and bump the pool as one step, or two callers could
        // get the same public address.
        let mut state = self.state.lock();
        if let Some(&row) = state.index.get(&caller) {
            return state.rows[row];
        }
        let public = if is_inside(caller.ip()) {
            let ip = state.next_public;
            state.next_public = next_in_pool(ip);
            SocketAddr::new(IpAddr::V4(ip), caller.port())
        } else {
            caller
        };
        let entry = NatEntry {
            private: caller,
            public,
        };
        let row = state.rows.len();
        state.rows.push(entry);
        state.index.insert(caller, row);
        entry
        // [end of part 3]
    }

    /// A copy of the oldest `n` rows (all of them, if there are fewer).
    pub fn oldest(&self, n: usize) -> Vec<NatEntry> {
        self.state.lock().rows.iter().take(n).copied().collect()
    }

    /// Takes out the oldest `n` rows (all of them, if there are fewer) and forgets those
    /// callers: one that comes back is mapped anew. The pool goes on from where it was.
    pub fn take_oldest(&self, n: usize) -> Vec<NatEntry> {
        // Critical section: the rows and their index change together.
        let mut state = self.state.lock();
        let n = n.min(state.rows.len());
        let taken: Vec<NatEntry> = state.rows.drain(..n).collect();
        let NatState { rows, index, .. } = &mut *state;
        index.clear();
        index.extend(
            rows.iter()
                .enumerate()
                .map(|(row, entry)| (entry.private, row)),
        );
        taken
    }

    /// Takes out every row and forgets every caller: the table's run, at the stop. The pool
    /// goes on from where it was.
    pub fn take_all(&self) -> Vec<NatEntry> {
        // Critical section: the rows and their index are emptied together.
        let mut state = self.state.lock();
        state.index.clear();
        std::mem::take(&mut state.rows)
    }

    /// How many callers are recorded.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().rows.len()
    }
}

impl Serialize for NatEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let pair = |a: SocketAddr| (a.ip().to_string(), a.port());
        (pair(self.private), pair(self.public)).serialize(s)
    }
}

impl fmt::Display for NatEntry {
    /// `[('127.0.0.1', 46516), ('115.97.93.214', 46516)]`, as the original printed a row.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let private = self.private;
        let public = self.public;
        write!(
            f,
            "[('{}', {}), ('{}', {})]",
            private.ip(),
            private.port(),
            public.ip(),
            public.port()
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
        assert_eq!(t.map(addr("127.0.0.1:1")).public, addr("117.222.175.182:1"));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn the_pool_wraps_inside_1_to_254() {
        assert_eq!(
            next_in_pool([117, 222, 175, 180].into()),
            Ipv4Addr::new(117, 222, 175, 181)
        );
        assert_eq!(
            next_in_pool([117, 222, 175, 254].into()),
            Ipv4Addr::new(117, 222, 175, 1)
        );
        let t = NatTable::new("10.0.0.253".parse().unwrap());
        let ips: Vec<String> = (1..=4)
            .map(|port| {
                t.map(SocketAddr::from(([192, 168, 1, 9], port)))
                    .public
                    .ip()
                    .to_string()
            })
            .collect();
        assert_eq!(ips, ["10.0.0.253", "10.0.0.254", "10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn a_public_caller_is_not_translated_and_uses_no_pool_address() {
        let t = NatTable::new("117.222.175.180".parse().unwrap());
        let e = t.map(addr("117.213.135.183:54704"));
        assert_eq!(e.public, addr("117.213.135.183:54704"));
        assert_eq!(t.map(addr("127.0.0.1:5")).public, addr("117.222.175.180:5"));
    }

    #[test]
    fn taken_callers_are_forgotten_and_the_pool_goes_on() {
        let t = NatTable::new("10.0.0.1".parse().unwrap());
        let first = t.map(addr("127.0.0.1:1"));
        let second = t.map(addr("127.0.0.1:2"));
        assert_eq!(t.take_oldest(1), [first]);
        assert_eq!(t.map(addr("127.0.0.1:2")), second, "still known");
        assert_eq!(
            t.map(addr("127.0.0.1:1")).public,
            addr("10.0.0.3:1"),
            "mapped anew"
        );
    }

    #[test]
    fn rows_serialise_and_print_as_the_original_wrote_them() {
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

    #[test]
    fn callers_from_inside_are_translated_and_public_ones_are_not() {
        let inside = [
            "10.0.0.7",
            "172.16.0.1",
            "192.168.1.9",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.1.1",
            "198.51.100.10",
            "203.0.113.5",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ];
        let outside = [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "117.213.135.183",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ];
        for ip in inside {
            assert!(is_inside(ip.parse().unwrap()), "{ip} is inside");
        }
        for ip in outside {
            assert!(!is_inside(ip.parse().unwrap()), "{ip} is public");
        }
    }
}
