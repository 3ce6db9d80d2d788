//! Addresses that have no location: private, loopback and reserved ranges.
//!
//! ip-api.com answers these without a lookup, with `"private range"` or `"reserved range"`;
//! we do the same, so that a lab network's 192.168.x.y gets the answer students would see on
//! the web. The ranges are the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890
//! and its updates), which are facts, not code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `message` for an address inside a private network (RFC 1918, loopback, link-local, ULA).
pub const PRIVATE: &str = "private range";
/// `message` for any other address that is not routed on the public Internet.
pub const RESERVED: &str = "reserved range";

/// `Some(PRIVATE)` or `Some(RESERVED)` for an address that has no public location, `None` for a
/// public address.
///
/// ```
/// use geotracker::geo::special_range;
/// assert_eq!(special_range("192.168.1.200".parse().unwrap()), Some("private range"));
/// assert_eq!(special_range("203.0.113.200".parse().unwrap()), Some("reserved range"));
/// assert_eq!(special_range("8.8.8.8".parse().unwrap()), None);
/// ```
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const PRIVATE_V4: &[([u8; 4], u32)] = &[
        ([10, 0, 0, 0], 8),     // RFC 1918
        ([172, 16, 0, 0], 12),  // RFC 1918
        ([192, 168, 0, 0], 16), // RFC 1918
        ([127, 0, 0, 0], 8),    // loopback
        ([169, 254, 0, 0], 16), // link-local
    ];
    const RESERVED_V4: &[([u8; 4], u32)] = &[
        ([0, 0, 0, 0], 8),       // "this network"
        ([100, 64, 0, 0], 10),   // shared address space (carrier-grade NAT)
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // TEST-NET-1 (documentation)
        ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // TEST-NET-2 (documentation)
        ([203, 0, 113, 0], 24),  // TEST-NET-3 (documentation)
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved for future use, and broadcast
    ];
    if PRIVATE_V4.iter().any(|&(net, len)| in_v4(ip, net, len)) {
        Some(PRIVATE)
    } else if RESERVED_V4.iter().any(|&(net, len)| in_v4(ip, net, len)) {
        Some(RESERVED)
    } else {
        None
    }
}

fn in_v6(ip: Ipv6Addr, net: u128, len: u32) -> bool {
    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
    u128::from(ip) & mask == net & mask
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    const PRIVATE_V6: &[(u128, u32)] = &[
        (1, 128),            // ::1 loopback
        (0xfc00 << 112, 7),  // unique local addresses
        (0xfe80 << 112, 10), // link-local
    ];
    const RESERVED_V6: &[(u128, u32)] = &[
        (0, 128),                     // :: unspecified
        (0x0064_ff9b_0001 << 80, 48), // local-use IPv4/IPv6 translation
        (0x0100 << 112, 64),          // discard-only
        (0x2001_0db8 << 96, 32),      // documentation
        (0x2001 << 112, 23),          // IETF protocol assignments
        (0xff00 << 112, 8),           // multicast
        (0, 8),                       // ::/8 reserved by IETF
    ];
    if PRIVATE_V6.iter().any(|&(net, len)| in_v6(ip, net, len)) {
        Some(PRIVATE)
    } else if RESERVED_V6.iter().any(|&(net, len)| in_v6(ip, net, len)) {
        Some(RESERVED)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        special_range(s.parse().unwrap())
    }

    #[test]
    fn the_addresses_of_the_original_runs() {
        assert_eq!(class("127.0.0.1"), Some(PRIVATE));
        for public in ["117.222.175.180", "13.68.207.73", "40.88.6.7", "115.97.93.214"] {
            assert_eq!(class(public), None, "{public}");
        }
    }

    #[test]
    fn range_edges() {
        assert_eq!(class("172.15.255.255"), None);
        assert_eq!(class("172.16.0.0"), Some(PRIVATE));
        assert_eq!(class("172.31.255.255"), Some(PRIVATE));
        assert_eq!(class("172.32.0.0"), None);
        assert_eq!(class("100.63.255.255"), None);
        assert_eq!(class("100.64.0.1"), Some(RESERVED));
        assert_eq!(class("255.255.255.255"), Some(RESERVED));
        assert_eq!(class("224.0.0.1"), Some(RESERVED));
        assert_eq!(class("::1"), Some(PRIVATE));
        assert_eq!(class("::ffff:10.1.2.3"), Some(PRIVATE));
        assert_eq!(class("fd12::1"), Some(PRIVATE));
        assert_eq!(class("2001:db8::1"), Some(RESERVED));
        assert_eq!(class("2001:4860:4860::8888"), None);
        assert_eq!(class("2606:4700:4700::1111"), None);
    }
}
