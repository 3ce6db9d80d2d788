//! Geolocation: from an IP address to ip-api.com's fields.
//!
//! The original server called ip-api.com for every request. That needs the Internet, and
//! ip-api.com's free endpoint allows 45 requests a minute per address, which one lab behind one
//! NAT uses up in seconds. So a [`Geolocator`] has three implementations:
//!
//! - [`mmdb::MmdbGeolocator`], the default: MaxMind-format databases read into memory
//!   ([`database`] opens them and recognises their [`records`]). The library carries a sample
//!   database; full ones are given with `--geo-db` and `--asn-db`.
//! - [`ip_api::IpApi`]: the original's behaviour, asking ip-api.com over HTTP (`--geo ip-api`),
//!   with a per-address [`cache`] and respect for its [`rate_limit`].
//! - [`auto::Auto`]: ip-api.com while it answers, the local database when it does not
//!   (`--geo auto`).
//!
//! All of them answer private and reserved addresses the way ip-api.com does, without a lookup
//! ([`ranges`]).

pub mod auto;
pub mod cache;
pub mod countries;
pub mod database;
pub mod ip_api;
pub mod mmdb;
pub mod ranges;
pub mod rate_limit;
pub mod records;

use crate::reply::Reply;
use std::net::IpAddr;

/// Something that can locate an IP address. Shared by all of a server's threads.
pub trait Geolocator: Send + Sync {
    /// Locates `ip`. Never fails: a failure is a [`Reply`] with `status` `"fail"` and a
    /// `message` saying why, as ip-api.com answers. A located reply's `source` names the
    /// source that answered.
    fn locate(&self, ip: IpAddr) -> Reply;

    /// What this geolocator uses, for the start-up lines, e.g.
    /// `dbip-lite-sample (GeoIP2 City, IPv4 and IPv6)`.
    fn name(&self) -> &str;
}

/// The answer for an address that has no public location, if `ip` is one; the step every
/// [`Geolocator`] takes first.
pub fn answer_special(ip: IpAddr) -> Option<Reply> {
    ranges::special_range(ip).map(|message| Reply::fail(ip.to_string(), message))
}
