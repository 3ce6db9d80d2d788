//! Geolocation: from an IP address to ip-api.com's fields.
//!
//! The original server called ip-api.com for every request. That needs the Internet, and
//! ip-api.com's free endpoint allows 45 requests a minute per address, which one lab behind one
//! NAT uses up in seconds. So a [`Geolocator`] has three implementations:
//!
//! - [`MmdbGeolocator`], the default: MaxMind-format databases read into memory
//!   (`database.rs` opens them, `verify.rs` checks every byte of them first, `records.rs` maps
//!   their records to the reply). The library carries two: DB-IP Lite's country for every
//!   address DB-IP locates, with its city for a sample of networks, and the autonomous systems
//!   of the ip-location-db lists; full ones are given with `--geo-db` and `--asn-db`.
//! - [`IpApi`]: the original's behaviour, asking ip-api.com over HTTP (`--geo ip-api`), with a
//!   per-address cache (`cache.rs`) that obeys its rate limit (`rate_limit.rs`).
//! - [`Auto`]: ip-api.com while it answers, the local database when it does not (`--geo auto`).
//!
//! All of them answer private and reserved addresses the way ip-api.com does, without a lookup,
//! and locate a 6to4, NAT64 or Teredo address by the IPv4 address inside it (`ranges.rs`).
//! Country names come from one table (`countries.rs`) whatever the source. [`public_ip`] finds
//! the server's own public address, where its NAT pool starts.

mod auto;
mod cache;
mod countries;
mod database;
mod ip_api;
mod mmdb;
pub mod public_ip;
mod ranges;
mod rate_limit;
mod records;
mod verify;

pub use auto::Auto;
pub use countries::name_of as country_name;
pub use database::{Database, GeoDbError, Role, Schema};
pub use database::{BUNDLED_ASN_DB, BUNDLED_ASN_NAME, BUNDLED_DB, BUNDLED_NAME};
pub use ip_api::{IpApi, IpApiConfig, Unavailable, FIELDS as IP_API_FIELDS};
pub use mmdb::MmdbGeolocator;
pub use public_ip::PublicIp;
pub use ranges::{address_to_locate, special_range, PRIVATE, RESERVED};

use crate::reply::Reply;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

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

/// The answer for an address that has no public location, if `ip` is one: the step every
/// [`Geolocator`] takes first.
pub fn answer_special(ip: IpAddr) -> Option<Reply> {
    special_range(ip).map(|message| Reply::fail(ip.to_string(), message))
}

/// Where answers come from (`--geo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeoSource {
    /// Local databases only.
    #[default]
    Offline,
    /// ip-api.com only.
    IpApi,
    /// ip-api.com, and the local databases when it has no answer.
    Auto,
}

/// The geolocation a server uses: the source, the databases, ip-api.com's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoChoice {
    /// `--geo`.
    pub source: GeoSource,
    /// City databases in the order they are tried; empty means the bundled ones.
    pub city_dbs: Vec<PathBuf>,
    /// ASN database, if any.
    pub asn_db: Option<PathBuf>,
    /// ip-api.com's settings (for `ip-api` and `auto`).
    pub ip_api: IpApiConfig,
}

impl GeoChoice {
    /// Opens the source. A database that cannot be used is reported here, at start-up,
    /// before any client connects.
    pub fn open(&self) -> Result<Arc<dyn Geolocator>, GeoDbError> {
        let local = || MmdbGeolocator::open_all(&self.city_dbs, self.asn_db.as_deref());
        Ok(match self.source {
            GeoSource::Offline => Arc::new(local()?),
            GeoSource::IpApi => Arc::new(IpApi::new(&self.ip_api)),
            GeoSource::Auto => Arc::new(Auto::new(IpApi::new(&self.ip_api), local()?)),
        })
    }
}
