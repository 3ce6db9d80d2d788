//! The records of each [`Schema`](super::database::Schema), and how each maps to ip-api.com's
//! fields.
//!
//! | reply field | GeoIP2 City | ip-location-db city | GeoLite2 ASN |
//! |---|---|---|---|
//! | `country` | from the code, else `country.names.en` (\*) | from `country_code` | |
//! | `countryCode` | `country.iso_code` (\*) | `country_code` | |
//! | `region` | `subdivisions[0].iso_code` | (none) | |
//! | `regionName` | `subdivisions[0].names.en` | `state1` | |
//! | `city` | `city.names.en` | `city` | |
//! | `zip` | `postal.code` | `postcode` | |
//! | `lat`, `lon` | `location.latitude`, `location.longitude` | `latitude`, `longitude` | |
//! | `timezone` | `location.time_zone` | `timezone` | |
//! | `isp`, `org` | `autonomous_system_organization` | | `autonomous_system_organization` |
//! | `as` | `AS<autonomous_system_number> <organization>` | | the same |
//!
//! (\*) A GeoIP2 record without `country` (GeoLite2 has some: anycast networks, satellite
//! providers) gives the country the network is registered in, `registered_country`, instead.
//! Every `country` name comes from one table, [`countries`], by the code, so that all sources
//! name a country the same way, as ip-api.com does; a code the table lacks keeps the record's
//! English name. A field the record does not have stays empty (`lat`/`lon` absent), never
//! guessed. Strings borrow from the database, so decoding allocates only the reply.

use super::countries;
use crate::reply::Location;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A GeoIP2 City record; the bundled database adds the GeoLite2-ASN fields to it.
#[derive(Deserialize, Default)]
pub struct GeoIp2City<'a> {
    #[serde(borrow, default)]
    city: Place<'a>,
    #[serde(borrow, default)]
    country: Place<'a>,
    #[serde(borrow, default)]
    registered_country: Place<'a>,
    #[serde(borrow, default)]
    subdivisions: Vec<Place<'a>>,
    #[serde(borrow, default)]
    postal: Postal<'a>,
    #[serde(borrow, default)]
    location: Coordinates<'a>,
    // The GeoLite2-ASN fields, listed here rather than flattened: serde's `flatten` would
    // buffer every other key of the record on each lookup.
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
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

/// A record of the ip-location-db project's city databases.
#[derive(Deserialize, Default)]
pub struct FlatCity<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(borrow, default)]
    postcode: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(borrow, default)]
    timezone: Option<&'a str>,
}

/// A GeoLite2-ASN record (also the ASN part of the bundled database's records).
#[derive(Deserialize, Default)]
pub struct Asn<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// A latitude or longitude in degrees. GeoIP2 databases store a `double`; ip-location-db stores
/// a 32-bit `float`, which is shown as the shortest decimal that reads back as the same float
/// (`37.422`, not its exact binary value `37.422000885009766`), as its publisher wrote it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinate(pub f64);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Degrees;
        impl Visitor<'_> for Degrees {
            type Value = Coordinate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of degrees")
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Coordinate, E> {
                // `Display` for f32 prints the shortest decimal that round-trips.
                Ok(Coordinate(v.to_string().parse().unwrap_or(f64::from(v))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coordinate, E> {
                Ok(Coordinate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coordinate, E> {
                Ok(Coordinate(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coordinate, E> {
                Ok(Coordinate(v as f64))
            }
        }
        // The database says which type it stored; `deserialize_any` lets it.
        deserializer.deserialize_any(Degrees)
    }
}

fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

/// The name of `code` in the one country table, else the record's English name, else empty.
fn country_name(english: Option<&str>, code: &str) -> String {
    text(countries::name_of(code).or(english))
}

impl GeoIp2City<'_> {
    /// The record as ip-api.com fields.
    pub fn to_location(&self) -> Location {
        let named = |place: &Place| place.iso_code.is_some() || place.names.en.is_some();
        let country = if named(&self.country) {
            &self.country
        } else {
            &self.registered_country
        };
        let country_code = text(country.iso_code);
        let region = self.subdivisions.first();
        let mut location = Location {
            country: country_name(country.names.en, &country_code),
            country_code,
            region: text(region.and_then(|r| r.iso_code)),
            region_name: text(region.and_then(|r| r.names.en)),
            city: text(self.city.names.en),
            zip: text(self.postal.code),
            lat: self.location.latitude.map(|c| c.0),
            lon: self.location.longitude.map(|c| c.0),
            timezone: text(self.location.time_zone),
            ..Location::default()
        };
        let asn = Asn {
            autonomous_system_number: self.autonomous_system_number,
            autonomous_system_organization: self.autonomous_system_organization,
        };
        asn.fill(&mut location);
        location
    }
}

impl FlatCity<'_> {
    /// The record as ip-api.com fields.
    pub fn to_location(&self) -> Location {
        let country_code = text(self.country_code);
        Location {
            country: country_name(None, &country_code),
            country_code,
            region: String::new(),
            region_name: text(self.state1),
            city: text(self.city),
            zip: text(self.postcode),
            lat: self.latitude.map(|c| c.0),
            lon: self.longitude.map(|c| c.0),
            timezone: text(self.timezone),
            ..Location::default()
        }
    }
}

impl Asn<'_> {
    /// Sets `isp`, `org` and `as` from this record, when it names an autonomous system. (The
    /// free databases have one organisation name; ip-api.com's `isp` and `org` can differ.)
    pub fn fill(&self, location: &mut Location) {
        let Some(number) = self.autonomous_system_number else {
            return;
        };
        let organization = self.autonomous_system_organization.unwrap_or_default();
        location.isp = organization.to_string();
        location.org = organization.to_string();
        location.asn = if organization.is_empty() {
            format!("AS{number}")
        } else {
            format!("AS{number} {organization}")
        };
    }
}
