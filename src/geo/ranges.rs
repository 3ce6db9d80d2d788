//! Addresses that have no public location, and addresses that carry another one inside.
//!
//! ip-api.com answers addresses that are not on the public Internet without a lookup, with
//! `"private range"` or `"reserved range"`; we do the same, so that a lab network's 192.168.x.y
//! gets the answer students would see on the web. Which blocks those are is a fact published by
//! IANA, in the IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates), one
//! entry per block, each marked "globally reachable" or not. Here, entry by entry:
//!
//! - `"private range"`: the blocks for private networks, IPv4 Private-Use (10/8, 172.16/12,
//!   192.168/16, RFC 1918) and IPv6 Unique-Local (fc00::/7, RFC 4193);
//! - `"reserved range"`: every other entry that is not globally reachable, loopback included
//!   (ip-api.com answers 127.0.0.1 and ::1 with `"reserved range"`), and the blocks outside both
//!   registries that are not unicast: IPv4 multicast (224/4) and, in IPv6, everything outside
//!   2000::/3, fc00::/7 and fe80::/10 (IANA's IPv6 Address Space registry: multicast, or
//!   reserved by the IETF);
//! - looked up like any address: the entries IANA marks globally reachable, even inside a
//!   reserved block (192.0.0.9, 192.0.0.10, 2001:1::1 to ::3, 2001:3::/32, 2001:4:112::/48,
//!   2001:20::/28, 2001:30::/28) or outside one (AS112 192.31.196/24, 192.175.48/24 and
//!   2620:4f:8000::/48, AMT 192.52.193/24): their operators' databases locate them.
//!
//! Three kinds of IPv6 address carry an IPv4 address, and are located by it (which may itself
//! be private): 6to4 (2002::/16, RFC 3056: the IPv4 address is bits 16 to 47), NAT64's
//! well-known prefix (64:ff9b::/96, RFC 6052: the last 32 bits) and Teredo (2001::/32, RFC 4380:
//! the client's public IPv4 address is the last 32 bits, inverted). An IPv4-mapped address
//! (::ffff:a.b.c.d) is its IPv4 address.
//!
//! std's `Ipv4Addr` and `Ipv6Addr` name most of these blocks (`is_private`, `is_loopback`,
//! `is_unique_local`, ...); the tables below hold the entries std has no stable method for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `message` for an address inside a private network (RFC 1918 IPv4, unique-local IPv6).
pub const PRIVATE: &str = "private range";
/// `message` for any other address that is not routed on the public Internet.
pub const RESERVED: &str = "reserved range";

/// `Some(PRIVATE)` or `Some(RESERVED)` for an address that has no public location, `None` for
/// one that has (a 6to4, NAT64 or Teredo address is judged by the IPv4 address inside it).
///
/// ```
/// use geotracker::geo::special_range;
/// assert_eq!(special_range("192.168.1.200".parse().unwrap()), Some("private range"));
/// assert_eq!(special_range("127.0.0.1".parse().unwrap()), Some("reserved range"));
/// assert_eq!(special_range("2002:c0a8:101::1".parse().unwrap()), Some("private range"));
/// assert_eq!(special_range("8.8.8.8".parse().unwrap()), None);
/// ```
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    match address_to_locate(ip) {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// The address whose location answers for `ip`: the IPv4 address inside an IPv4-mapped, 6to4,
/// NAT64 or Teredo address, else `ip` itself.
///
/// ```
/// use geotracker::geo::address_to_locate;
/// let locate = |s: &str| address_to_locate(s.parse().unwrap()).to_string();
/// assert_eq!(locate("2002:808:808::1"), "8.8.8.8");
/// assert_eq!(locate("64:ff9b::8.8.4.4"), "8.8.4.4");
/// assert_eq!(locate("2001:0:4136:e378:8000:63bf:f7f7:f7f7"), "8.8.8.8");
/// assert_eq!(locate("::ffff:1.1.1.1"), "1.1.1.1");
/// assert_eq!(locate("2001:4860:4860::8888"), "2001:4860:4860::8888");
/// ```
pub fn address_to_locate(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip.to_canonical() else {
        return ip.to_canonical();
    };
    let [a, b, c, d] = v6.octets()[12..] else {
        unreachable!("16 octets")
    };
    let last = Ipv4Addr::new(a, b, c, d);
    let segments = v6.segments();
    if in_block(v6, SIX_TO_FOUR) {
        let [a, b] = segments[1].to_be_bytes();
        let [c, d] = segments[2].to_be_bytes();
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    } else if in_block(v6, NAT64) {
        IpAddr::V4(last)
    } else if in_block(v6, TEREDO) {
        IpAddr::V4(Ipv4Addr::from_bits(!last.to_bits()))
    } else {
        IpAddr::V6(v6)
    }
}

/// A block of an IANA registry: its first address and the length of its prefix.
type Block<A> = (A, u8);

const SIX_TO_FOUR: Block<Ipv6Addr> = (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16);
const NAT64: Block<Ipv6Addr> = (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96);
const TEREDO: Block<Ipv6Addr> = (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32);

/// IPv4 registry entries that are not globally reachable and that std has no stable method
/// for (RFC 1918, loopback, link-local, documentation, broadcast: `Ipv4Addr::is_*`).
const RESERVED_V4: &[Block<Ipv4Addr>] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8), // "this network" (0.0.0.0/32 "this host" inside)
    (Ipv4Addr::new(100, 64, 0, 0), 10), // shared address space (carrier-grade NAT), RFC 6598
    (Ipv4Addr::new(192, 0, 0, 0), 24), // IETF protocol assignments: DS-Lite, dummy, NAT64 discovery
    (Ipv4Addr::new(192, 88, 99, 0), 24), // the deprecated 6to4 relay anycast block, RFC 7526
    (Ipv4Addr::new(198, 18, 0, 0), 15), // benchmarking, RFC 2544
    (Ipv4Addr::new(240, 0, 0, 0), 4), // reserved, RFC 1112
];

/// IPv4 registry entries inside [`RESERVED_V4`] that are globally reachable.
const GLOBAL_V4: &[Block<Ipv4Addr>] = &[
    (Ipv4Addr::new(192, 0, 0, 9), 32), // Port Control Protocol anycast, RFC 7723
    (Ipv4Addr::new(192, 0, 0, 10), 32), // TURN anycast, RFC 8155
];

/// IPv6 registry entries inside 2000::/3 that are not globally reachable (those outside it are
/// all reserved; ::ffff:0:0/96, 64:ff9b::/96, 2001::/32 and 2002::/16 carry an IPv4 address).
const RESERVED_V6: &[Block<Ipv6Addr>] = &[
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23), // IETF protocol assignments
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation, RFC 3849
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20), // documentation, RFC 9637
];

/// IPv6 registry entries inside [`RESERVED_V6`] that are globally reachable.
const GLOBAL_V6: &[Block<Ipv6Addr>] = &[
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128), // Port Control Protocol anycast
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 2), 128), // TURN anycast
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 3), 128), // DNS-SD service registration anycast
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32),  // AMT, RFC 7450
    (Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48), // AS112-v6, RFC 7535
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28), // ORCHIDv2, RFC 7343
    (Ipv6Addr::new(0x2001, 0x30, 0, 0, 0, 0, 0, 0), 28), // drone remote ID tags, RFC 9374
];

/// The IPv6 global unicast block, 2000::/3.
const GLOBAL_UNICAST: Block<Ipv6Addr> = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    if ip.is_private() {
        Some(PRIVATE)
    } else if GLOBAL_V4.iter().any(|&block| in_block(ip, block)) {
        None
    } else if ip.is_loopback()
        || ip.is_link_local()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_broadcast()
        || RESERVED_V4.iter().any(|&block| in_block(ip, block))
    {
        Some(RESERVED)
    } else {
        None
    }
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unique_local() {
        Some(PRIVATE)
    } else if GLOBAL_V6.iter().any(|&block| in_block(ip, block)) {
        None
    } else if !in_block(ip, GLOBAL_UNICAST) || RESERVED_V6.iter().any(|&block| in_block(ip, block))
    {
        // Outside 2000::/3 are loopback, unspecified, link-local, multicast and the blocks the
        // IETF keeps in reserve.
        Some(RESERVED)
    } else {
        None
    }
}

/// An address whose bits can be compared with a block's prefix.
trait Bits: Copy {
    /// The address as an integer, and its width in bits.
    fn bits(self) -> (u128, u32);
}

impl Bits for Ipv4Addr {
    fn bits(self) -> (u128, u32) {
        (u128::from(self.to_bits()), 32)
    }
}

impl Bits for Ipv6Addr {
    fn bits(self) -> (u128, u32) {
        (self.to_bits(), 128)
    }
}

/// True when `ip` is inside `block`: their first `len` bits agree.
fn in_block<A: Bits>(ip: A, (first, len): Block<A>) -> bool {
    let ((ip, width), (first, _)) = (ip.bits(), first.bits());
    (ip ^ first)
        .checked_shr(width - u32::from(len))
        .unwrap_or(0)
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<&'static str> {
        special_range(s.parse().unwrap())
    }

    #[test]
    fn the_addresses_of_the_original_runs() {
        assert_eq!(class("127.0.0.1"), Some(RESERVED));
        for public in [
            "117.222.175.180",
            "13.68.207.73",
            "40.88.6.7",
            "115.97.93.214",
        ] {
            assert_eq!(class(public), None, "{public}");
        }
    }

    #[test]
    fn range_edges_and_globally_reachable_entries_inside_reserved_blocks() {
        for (address, class_of) in [
            ("172.15.255.255", None),
            ("172.16.0.0", Some(PRIVATE)),
            ("172.31.255.255", Some(PRIVATE)),
            ("172.32.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.1", Some(RESERVED)),
            ("100.127.255.255", Some(RESERVED)),
            ("100.128.0.0", None),
            ("198.17.255.255", None),
            ("198.19.255.255", Some(RESERVED)),
            ("198.20.0.0", None),
            ("0.0.0.0", Some(RESERVED)),
            ("0.255.255.255", Some(RESERVED)),
            ("1.0.0.0", None),
            ("223.255.255.255", None),
            ("224.0.0.1", Some(RESERVED)),
            ("255.255.255.255", Some(RESERVED)),
            ("::1", Some(RESERVED)),
            ("::", Some(RESERVED)),
            ("::ffff:10.1.2.3", Some(PRIVATE)),
            ("fd12::1", Some(PRIVATE)),
            ("fe80::1", Some(RESERVED)),
            ("ff02::1", Some(RESERVED)),
            ("1fff:ffff::1", Some(RESERVED)),
            ("4000::1", Some(RESERVED)),
            ("2001:db8::1", Some(RESERVED)),
            ("2001:4860:4860::8888", None),
            ("2606:4700:4700::1111", None),
            // Globally reachable entries inside reserved blocks are looked up.
            ("192.0.0.8", Some(RESERVED)),
            ("192.0.0.9", None),
            ("192.0.0.10", None),
            ("192.0.0.11", Some(RESERVED)),
            ("192.88.99.1", Some(RESERVED)),
            ("192.88.99.2", Some(RESERVED)),
            ("192.31.196.1", None),
            ("2001:1::1", None),
            ("2001:1::4", Some(RESERVED)),
            ("2001:2::1", Some(RESERVED)),
            ("2001:3::1", None),
            ("2001:4:112::1", None),
            ("2001:4:113::1", Some(RESERVED)),
            ("2001:10::1", Some(RESERVED)),
            ("2001:20::1", None),
            ("2001:2f:ffff::1", None),
            ("2001:30::1", None),
            ("2001:40::1", Some(RESERVED)),
            ("2001:200::1", None),
            ("3fff::1", Some(RESERVED)),
            ("3fff:1000::1", None),
        ] {
            assert_eq!(class(address), class_of, "{address}");
        }
    }

    #[test]
    fn tunnels_are_judged_by_the_ipv4_address_inside() {
        assert_eq!(class("2002:c0a8:101::1"), Some(PRIVATE));
        assert_eq!(class("2002:7f00:1::1"), Some(RESERVED));
        assert_eq!(class("2002:808:808::1"), None);
        assert_eq!(class("64:ff9b::a00:1"), Some(PRIVATE));
        assert_eq!(class("64:ff9b::808:808"), None);
        // The local-use NAT64 prefix is not globally reachable, whatever it carries.
        assert_eq!(class("64:ff9b:1::808:808"), Some(RESERVED));
        // Teredo: the client's address is inverted; ffff:ffff is 0.0.0.0.
        assert_eq!(class("2001:0:4136:e378:8000:63bf:f7f7:f7f7"), None);
        assert_eq!(
            class("2001:0:4136:e378:8000:63bf:ffff:ffff"),
            Some(RESERVED)
        );
        assert_eq!(
            address_to_locate("2002:c0a8:101::1".parse().unwrap()).to_string(),
            "192.168.1.1"
        );
    }
}
