//! Offline geolocation from MaxMind-format (`.mmdb`) databases held in memory.
//!
//! A [`MmdbGeolocator`] has one or more City databases, tried in order (ip-location-db ships
//! IPv4 and IPv6 as two files, so `--geo-db` can be given twice), and optionally an ASN
//! database (`--asn-db`) for `isp`, `org` and `as`. Opening them, and refusing a database of
//! the wrong kind, is [`database`](super::database)'s job; mapping their records to ip-api.com's
//! fields is [`records`](super::records)'. The library carries a sample database
//! ([`MmdbGeolocator::bundled`]) with both City and ASN fields, so it works with no set-up.

use super::database::{Database, GeoDbError, Role, Schema};
use super::ranges::address_to_locate;
use super::records::{Asn, FlatCity, GeoIp2City};
use super::{answer_special, Geolocator};
use crate::reply::{Location, Reply};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A geolocator backed by City databases and, optionally, an ASN database.
pub struct MmdbGeolocator {
    cities: Vec<Database>,
    asn: Option<Database>,
    description: String,
}

impl MmdbGeolocator {
    /// The sample database compiled into the library: works from any directory, no set-up.
    pub fn bundled() -> Result<MmdbGeolocator, GeoDbError> {
        Ok(Self::new(vec![Database::bundled()?], None))
    }

    /// Opens one City database file (GeoLite2-City, GeoIP2-City, DB-IP Lite City in MaxMind
    /// format, or an ip-location-db city database). See [`MmdbGeolocator::open_all`].
    pub fn open(path: &Path) -> Result<MmdbGeolocator, GeoDbError> {
        Self::open_all(&[path.to_path_buf()], None)
    }

    /// Opens the City databases `cities` (the bundled one if empty) and the ASN database `asn`.
    /// Fails with a clear reason for a missing file, a file that is not a MaxMind database, a
    /// truncated one, or a database of another kind (Country, ASN as a city database, ...).
    pub fn open_all(cities: &[PathBuf], asn: Option<&Path>) -> Result<MmdbGeolocator, GeoDbError> {
        let cities = if cities.is_empty() {
            vec![Database::bundled()?]
        } else {
            cities.iter().map(|path| Database::open(path, Role::City)).collect::<Result<_, _>>()?
        };
        let asn = asn.map(|path| Database::open(path, Role::Asn)).transpose()?;
        Ok(Self::new(cities, asn))
    }

    /// A geolocator over databases already opened.
    pub fn new(cities: Vec<Database>, asn: Option<Database>) -> MmdbGeolocator {
        let mut description =
            cities.iter().map(ToString::to_string).collect::<Vec<_>>().join(" + ");
        if let Some(asn) = &asn {
            description.push_str(&format!(", autonomous systems from {asn}"));
        }
        MmdbGeolocator { cities, asn, description }
    }

    /// The location of `ip` and the name of the database that had it, `Ok(None)` if none did.
    pub fn lookup(
        &self,
        ip: IpAddr,
    ) -> Result<Option<(Location, &str)>, maxminddb::MaxMindDbError> {
        for db in &self.cities {
            let location = match db.schema() {
                Schema::FlatCity => db.lookup::<FlatCity>(ip)?.map(|r| r.to_location()),
                _ => db.lookup::<GeoIp2City>(ip)?.map(|r| r.to_location()),
            };
            if let Some(mut location) = location {
                if let Some(asn_db) = &self.asn {
                    if let Some(asn) = asn_db.lookup::<Asn>(ip)? {
                        asn.fill(&mut location);
                    }
                }
                return Ok(Some((location, db.name())));
            }
        }
        Ok(None)
    }
}

impl Geolocator for MmdbGeolocator {
    fn locate(&self, ip: IpAddr) -> Reply {
        let ip = ip.to_canonical();
        if let Some(reply) = answer_special(ip) {
            return reply;
        }
        // A 6to4, NAT64 or Teredo address is located by the IPv4 address inside it.
        match self.lookup(address_to_locate(ip)) {
            Ok(Some((location, source))) => Reply::success(ip, location, source),
            Ok(None) => Reply::fail(ip.to_string(), "not in database"),
            Err(e) => Reply::fail(ip.to_string(), format!("database error: {e}")),
        }
    }

    fn name(&self) -> &str {
        &self.description
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::BUNDLED_NAME;

    fn locate(ip: &str) -> Reply {
        MmdbGeolocator::bundled().unwrap().locate(ip.parse().unwrap())
    }

    #[test]
    fn the_bundled_database_locates_the_original_public_address() {
        let r = locate("117.222.175.180");
        assert_eq!(r.status, "success");
        let loc = r.location.unwrap();
        assert_eq!(loc.country, "India");
        assert_eq!(loc.country_code, "IN");
        assert_eq!(loc.region_name, "Karnataka");
        assert_eq!(loc.city, "Bengaluru");
        assert_eq!(loc.asn, "AS9829 Bharat Sanchar Nigam Ltd");
        assert_eq!(r.query, "117.222.175.180");
        assert_eq!(r.source.as_deref(), Some(BUNDLED_NAME));
    }

    #[test]
    fn special_addresses_get_ip_api_messages() {
        assert_eq!(locate("127.0.0.1"), Reply::fail("127.0.0.1", "reserved range"));
        assert_eq!(locate("::1"), Reply::fail("::1", "reserved range"));
        assert_eq!(locate("::ffff:192.168.1.2"), Reply::fail("192.168.1.2", "private range"));
        assert_eq!(locate("240.0.0.1"), Reply::fail("240.0.0.1", "reserved range"));
        assert_eq!(locate("2002:c0a8:101::1"), Reply::fail("2002:c0a8:101::1", "private range"));
    }

    #[test]
    fn ipv6_and_ipv4_share_the_database() {
        let r = locate("2001:4860:4860::8888");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.location.unwrap().asn, "AS15169 Google LLC");
    }
}
