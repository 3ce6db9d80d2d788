//! Offline geolocation from a MaxMind-format (`.mmdb`) database.
//!
//! The file format, a binary search tree over the address bits followed by a data section, is
//! read by the `maxminddb` crate. This file maps the GeoIP2 City schema (used by MaxMind
//! GeoLite2-City and GeoIP2-City, and by DB-IP Lite City in MaxMind format) to ip-api.com's
//! fields:
//!
//! | reply field | database field |
//! |---|---|
//! | `country`, `countryCode` | `country.names.en`, `country.iso_code` |
//! | `region`, `regionName` | `subdivisions[0].iso_code`, `subdivisions[0].names.en` |
//! | `city`, `zip` | `city.names.en`, `postal.code` |
//! | `lat`, `lon`, `timezone` | `location.latitude`, `location.longitude`, `location.time_zone` |
//! | `isp`, `org`, `as` | `autonomous_system_organization`, and `AS<autonomous_system_number> <organization>` |
//!
//! A field the record does not have stays empty.

use super::{answer_special, countries, Geolocator};
use crate::reply::{Location, Reply};
use maxminddb::Reader;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The sample database compiled into the library (about 1.9 MB; see `src/geo/data/LICENSE.md`).
pub static BUNDLED_DB: &[u8] = include_bytes!("data/dbip-lite-sample.mmdb");

/// The `source` name of the bundled database.
pub const BUNDLED_NAME: &str = "dbip-lite-sample";

/// A geolocator backed by a MaxMind-format database held in memory.
pub struct MmdbGeolocator {
    reader: Reader<Cow<'static, [u8]>>,
    name: String,
}

/// Why a database could not be used.
#[derive(Debug)]
pub struct GeoDbError {
    /// The file, or `None` for the bundled database.
    pub path: Option<PathBuf>,
    /// What is wrong, in words a person can act on.
    pub reason: String,
}

impl fmt::Display for GeoDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "geolocation database {}: {}", p.display(), self.reason),
            None => write!(f, "bundled geolocation database: {}", self.reason),
        }
    }
}

impl std::error::Error for GeoDbError {}

impl MmdbGeolocator {
    /// The sample database compiled into the library: works from any directory, no set-up.
    pub fn bundled() -> Result<MmdbGeolocator, GeoDbError> {
        Self::from_bytes(Cow::Borrowed(BUNDLED_DB), BUNDLED_NAME.to_string(), None)
    }

    /// Opens a City database file (GeoLite2-City, GeoIP2-City, DB-IP Lite City in MaxMind
    /// format). Fails with a clear reason for a missing file, a file that is not a MaxMind
    /// database, or a database of another kind (Country, ASN, ...).
    pub fn open(path: &Path) -> Result<MmdbGeolocator, GeoDbError> {
        let bytes = std::fs::read(path).map_err(|e| GeoDbError {
            path: Some(path.to_path_buf()),
            reason: format!("cannot read it: {e}"),
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mmdb".to_string());
        Self::from_bytes(Cow::Owned(bytes), name, Some(path))
    }

    fn from_bytes(
        bytes: Cow<'static, [u8]>,
        name: String,
        path: Option<&Path>,
    ) -> Result<MmdbGeolocator, GeoDbError> {
        let error = |reason: String| GeoDbError {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let reader = Reader::from_source(bytes)
            .map_err(|e| error(format!("not a readable MaxMind database ({e})")))?;
        let kind = reader.metadata().database_type.clone();
        if !kind.to_ascii_lowercase().contains("city") {
            return Err(error(format!(
                "it is a {kind:?} database; a City database (GeoLite2-City, GeoIP2-City or DB-IP \
                 Lite City) is needed"
            )));
        }
        Ok(MmdbGeolocator { reader, name })
    }

    /// The database's `database_type` metadata, e.g. `"GeoLite2-City"`.
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The record for `ip` mapped to ip-api.com fields, `Ok(None)` if the database has none.
    pub fn lookup(&self, ip: IpAddr) -> Result<Option<Location>, maxminddb::MaxMindDbError> {
        let result = self.reader.lookup(ip)?;
        Ok(result
            .decode::<CityRecord>()?
            .map(CityRecord::into_location))
    }
}

impl Geolocator for MmdbGeolocator {
    fn locate(&self, ip: IpAddr) -> Reply {
        let ip = ip.to_canonical();
        if let Some(reply) = answer_special(ip) {
            return reply;
        }
        match self.lookup(ip) {
            Ok(Some(location)) => Reply::success(ip, location, &self.name),
            Ok(None) => Reply::fail(ip.to_string(), "not in database"),
            Err(e) => Reply::fail(ip.to_string(), format!("database error: {e}")),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// The parts of a GeoIP2 City record (plus GeoLite2-ASN fields) that the reply uses. Strings
/// borrow from the database, so decoding allocates only the reply.
#[derive(Deserialize, Default)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    city: Place<'a>,
    #[serde(borrow, default)]
    country: Place<'a>,
    #[serde(borrow, default)]
    subdivisions: Vec<Place<'a>>,
    #[serde(borrow, default)]
    postal: Postal<'a>,
    #[serde(borrow, default)]
    location: Coordinates<'a>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// A city, country or subdivision: all three have names, and the last two an ISO code.
#[derive(Deserialize, Default)]
struct Place<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

/// Localised names; only English is used, the other languages are skipped while decoding.
#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Coordinates<'a> {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

fn english(names: &Names<'_>) -> String {
    names.en.unwrap_or_default().to_string()
}

impl CityRecord<'_> {
    fn into_location(self) -> Location {
        let country_code = self.country.iso_code.unwrap_or_default().to_string();
        let mut country = english(&self.country.names);
        if country.is_empty() {
            country = countries::name_of(&country_code)
                .unwrap_or_default()
                .to_string();
        }
        let region = self.subdivisions.first();
        let organization = self.autonomous_system_organization.unwrap_or_default();
        let asn = match self.autonomous_system_number {
            Some(n) if organization.is_empty() => format!("AS{n}"),
            Some(n) => format!("AS{n} {organization}"),
            None => String::new(),
        };
        Location {
            country,
            country_code,
            region: region
                .and_then(|r| r.iso_code)
                .unwrap_or_default()
                .to_string(),
            region_name: region.map(|r| english(&r.names)).unwrap_or_default(),
            city: english(&self.city.names),
            zip: self.postal.code.unwrap_or_default().to_string(),
            lat: self.location.latitude,
            lon: self.location.longitude,
            timezone: self.location.time_zone.unwrap_or_default().to_string(),
            isp: organization.to_string(),
            org: organization.to_string(),
            asn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Reply::fail("127.0.0.1", "private range")
        );
        assert_eq!(
            locate("::ffff:192.168.1.2"),
            Reply::fail("192.168.1.2", "private range")
        );
        assert_eq!(
            locate("240.0.0.1"),
            Reply::fail("240.0.0.1", "reserved range")
        );
    }

    #[test]
    fn ipv6_and_ipv4_share_the_database() {
        let r = locate("2001:4860:4860::8888");
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.location.unwrap().asn, "AS15169 Google LLC");
    }
}
