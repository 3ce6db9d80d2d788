//! Geolocation: from an IP address to ip-api.com's fields.
//!
//! The original server called ip-api.com for every request. That needs the Internet, and
//! ip-api.com's free endpoint allows 45 requests a minute per address, which one lab behind one
//! NAT uses up in seconds. So a [`Geolocator`] has two implementations:
//!
//! - [`mmdb::MmdbGeolocator`], the default: a MaxMind-format database read from memory. The
//!   library carries a sample database ([`mmdb::MmdbGeolocator::bundled`]); a full one is
//!   opened with `--geo-db PATH`.
//! - [`ip_api::IpApi`]: the original's behaviour, asking ip-api.com over HTTP (`--geo ip-api`).
//!
//! Both answer private and reserved addresses the way ip-api.com does, without a lookup
//! ([`ranges`]).

pub mod countries;
pub mod ip_api;
pub mod mmdb;
pub mod ranges;

use crate::reply::Reply;
use std::net::IpAddr;

/// Something that can locate an IP address. Shared by all of a server's threads.
pub trait Geolocator: Send + Sync {
    /// Locates `ip`. Never fails: a failure is a [`Reply`] with `status` `"fail"` and a
    /// `message` saying why, as ip-api.com answers.
    fn locate(&self, ip: IpAddr) -> Reply;

    /// A short name for start-up lines and the reply's `source` field.
    fn name(&self) -> &str;
}

/// The answer for an address that has no public location, if `ip` is one; the step every
/// [`Geolocator`] takes first.
pub fn answer_special(ip: IpAddr) -> Option<Reply> {
    ranges::special_range(ip).map(|message| Reply::fail(ip.to_string(), message))
}
