//! Opening a MaxMind-format (`.mmdb`) database and finding out what it holds.
//!
//! The file format, a binary search tree over the address bits followed by a data section and a
//! metadata map, is read by the `maxminddb` crate. Different publishers put different records in
//! it; this file recognises the three record shapes the server can use ([`Schema`]) and refuses
//! everything else at start-up with a reason a person can act on: a Country-only or ASN-only
//! database given as the city database, a damaged or truncated file, a file that is not a
//! database at all.
//!
//! Before any of that, the whole file is checked ([`verify`](super::verify)): a damaged search
//! tree or data section is refused here, at start-up, not met by a lookup in the middle of a lab.
//! The shape is then read from the records themselves (the keys of every record the tree points
//! to), and the metadata's `database_type` is quoted in the error, so a renamed file is still
//! recognised.

use super::verify::{self, Checked, Layout};
use maxminddb::Reader;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The City database compiled into the library: DB-IP Lite's country for every network DB-IP
/// locates, IPv4 and IPv6, and its city for a sample of networks (see
/// `src/geo/data/LICENSE.md`).
pub static BUNDLED_DB: &[u8] = include_bytes!("data/dbip-lite-sample.mmdb");

/// The `source` name of the bundled City database.
pub const BUNDLED_NAME: &str = "dbip-lite-sample";

/// The ASN database compiled into the library: the autonomous system of every IPv4 range the
/// ip-location-db ASN lists know, and of their IPv6 ranges of a /32 or more.
pub static BUNDLED_ASN_DB: &[u8] = include_bytes!("data/ip-location-db-asn.mmdb");

/// The `source` name of the bundled ASN database.
pub const BUNDLED_ASN_NAME: &str = "ip-location-db-asn";

/// The record shapes the server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// MaxMind's GeoIP2 City shape (GeoLite2-City, GeoIP2-City, DB-IP Lite City in MaxMind
    /// format): nested `country`, `subdivisions`, `city`, `postal`, `location` maps.
    GeoIp2City,
    /// The flat shape of the ip-location-db project's city databases: `country_code, state1,
    /// state2, city, postcode, latitude, longitude, timezone`.
    FlatCity,
    /// MaxMind's GeoLite2-ASN shape: `autonomous_system_number`,
    /// `autonomous_system_organization`.
    Asn,
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Schema::GeoIp2City => "GeoIP2 City",
            Schema::FlatCity => "ip-location-db city",
            Schema::Asn => "GeoLite2 ASN",
        })
    }
}

/// What a database is asked to provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Locations (`--geo-db`): a [`Schema::GeoIp2City`] or [`Schema::FlatCity`] database.
    City,
    /// Autonomous systems (`--asn-db`): any database whose records carry
    /// `autonomous_system_number`.
    Asn,
}

/// Why a database cannot be used.
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

/// An opened database whose records have a known [`Schema`].
pub struct Database {
    reader: Reader<Cow<'static, [u8]>>,
    name: String,
    schema: Schema,
    has_asn: bool,
    families: Families,
    bundled: bool,
}

/// Which address families a database has records for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Families {
    ipv4: bool,
    ipv6: bool,
}

impl Database {
    /// The City database compiled into the library: works from any directory, no set-up.
    pub fn bundled() -> Result<Database, GeoDbError> {
        // The check's result: the first caller computes it, the others wait for it and share it.
        static CHECKED: OnceLock<Result<Checked, String>> = OnceLock::new();
        Self::bundled_one(BUNDLED_DB, BUNDLED_NAME, Role::City, &CHECKED)
    }

    /// The ASN database compiled into the library.
    pub fn bundled_asn() -> Result<Database, GeoDbError> {
        // The check's result: the first caller computes it, the others wait for it and share it.
        static CHECKED: OnceLock<Result<Checked, String>> = OnceLock::new();
        Self::bundled_one(BUNDLED_ASN_DB, BUNDLED_ASN_NAME, Role::Asn, &CHECKED)
    }

    /// A bundled database, checked once per process: its bytes cannot change after the build.
    fn bundled_one(
        bytes: &'static [u8],
        name: &str,
        role: Role,
        checked: &OnceLock<Result<Checked, String>>,
    ) -> Result<Database, GeoDbError> {
        let error = |reason: &String| GeoDbError {
            path: None,
            reason: reason.clone(),
        };
        let checked = checked
            .get_or_init(|| check(bytes))
            .as_ref()
            .map_err(error)?;
        let mut db = Self::from_checked(Cow::Borrowed(bytes), name, role, None, checked)?;
        db.bundled = true;
        Ok(db)
    }

    /// Opens the database at `path` for `role`. The whole file is read into memory (a full
    /// city database is 60 to 130 MB), so lookups never touch the disk.
    pub fn open(path: &Path, role: Role) -> Result<Database, GeoDbError> {
        let bytes = std::fs::read(path).map_err(|e| GeoDbError {
            path: Some(path.to_path_buf()),
            reason: format!("cannot read it: {e}"),
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mmdb".to_string());
        Self::from_bytes(Cow::Owned(bytes), &name, role, Some(path))
    }

    /// Reads a database from `bytes`, after checking all of it; `path` is only for messages.
    pub fn from_bytes(
        bytes: Cow<'static, [u8]>,
        name: &str,
        role: Role,
        path: Option<&Path>,
    ) -> Result<Database, GeoDbError> {
        let error = |reason: String| GeoDbError {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let checked = check(&bytes).map_err(error)?;
        Self::from_checked(bytes, name, role, path, &checked)
    }

    /// Reads a database from `bytes`, which [`check`] passed with the result `checked`.
    fn from_checked(
        bytes: Cow<'static, [u8]>,
        name: &str,
        role: Role,
        path: Option<&Path>,
        checked: &Checked,
    ) -> Result<Database, GeoDbError> {
        let error = |reason: String| GeoDbError {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let reader = Reader::from_source(bytes).map_err(|e| error(unreadable(e)))?;
        let kind = reader.metadata().database_type.clone();
        let keys = &checked.keys;
        let has = |key: &str| keys.contains_key(key);
        let has_asn = has("autonomous_system_number");
        let has_country = has("country") || has("registered_country");
        let schema = if has("country_code") && (has("city") || has("state1")) {
            Some(Schema::FlatCity)
        } else if has_country && (has("city") || has("location") || has("subdivisions")) {
            Some(Schema::GeoIp2City)
        } else if has_asn {
            Some(Schema::Asn)
        } else {
            None
        };
        let what = describe_keys(keys, checked.records);
        let database = |reader: Reader<Cow<'static, [u8]>>, schema| Database {
            families: families(&reader),
            reader,
            name: name.to_string(),
            schema,
            has_asn,
            bundled: false,
        };
        match (role, schema) {
            (Role::City, Some(schema @ (Schema::GeoIp2City | Schema::FlatCity))) => {
                Ok(database(reader, schema))
            }
            (Role::City, Some(Schema::Asn)) => Err(error(format!(
                "it is an ASN database ({kind:?}, {what}); give it with --asn-db, \
                 and a City database with --geo-db"
            ))),
            (Role::City, None) if has_country || has("country_code") => Err(error(format!(
                "it is a Country database ({kind:?}, {what}): it has no regions, \
                 cities or coordinates; a City database (GeoLite2-City, GeoIP2-City, DB-IP Lite \
                 City or ip-location-db city) is needed"
            ))),
            (Role::Asn, _) if has_asn => Ok(database(reader, Schema::Asn)),
            (Role::Asn, Some(_)) => Err(error(format!(
                "it is a City database without autonomous systems ({kind:?}, {what}); \
                 give it with --geo-db, and an ASN database (GeoLite2-ASN) with \
                 --asn-db"
            ))),
            (_, None) => Err(error(format!(
                "it is neither a City nor an ASN database ({kind:?}, {what}): \
                 expected the GeoIP2 City fields (country, city, location), the \
                 ip-location-db fields (country_code, city, latitude) or the GeoLite2-ASN \
                 fields (autonomous_system_number)"
            ))),
        }
    }

    /// The name replies give as their `source`: the file name without `.mmdb`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The record shape.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// True when the records also carry `autonomous_system_number` (the bundled database does).
    pub fn has_asn(&self) -> bool {
        self.has_asn
    }

    /// True for a database compiled into the library.
    pub fn is_bundled(&self) -> bool {
        self.bundled
    }

    /// 4 for an IPv4-only database, 6 for one that holds IPv6 (and usually IPv4 too).
    pub fn ip_version(&self) -> u16 {
        self.reader.metadata().ip_version
    }

    /// True when the database has records for `ip`'s address family: an IPv6 address is never
    /// in an IPv4-only database, and ip-location-db's IPv6 files have no IPv4 records.
    pub fn can_hold(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() {
            self.families.ipv4
        } else {
            self.families.ipv6
        }
    }

    /// The record for `ip` decoded as `T`, `Ok(None)` when the database has none for it.
    pub fn lookup<'de, T: serde::Deserialize<'de>>(
        &'de self,
        ip: IpAddr,
    ) -> Result<Option<T>, maxminddb::MaxMindDbError> {
        if !self.can_hold(ip) {
            return Ok(None);
        }
        self.reader.lookup(ip)?.decode::<T>()
    }
}

impl fmt::Display for Database {
    /// `dbip-city-ipv4 (ip-location-db city, IPv4)`, for start-up lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let families = match (self.families.ipv4, self.families.ipv6) {
            (true, true) => "IPv4 and IPv6",
            (false, true) => "IPv6",
            (true, false) => "IPv4",
            (false, false) => "no addresses",
        };
        write!(f, "{} ({}, {families})", self.name, self.schema)
    }
}

/// The reason for a file the `maxminddb` crate cannot open.
fn unreadable(e: maxminddb::MaxMindDbError) -> String {
    format!(
        "not a readable MaxMind database: the file is damaged, truncated or of another format \
         ({e})"
    )
}

/// Checks the whole of `bytes` (see [`verify`]); the error says what is damaged.
fn check(bytes: &[u8]) -> Result<Checked, String> {
    let reader = Reader::from_source(bytes).map_err(unreadable)?;
    let meta = reader.metadata();
    let layout = Layout {
        node_count: meta.node_count as usize,
        record_size: meta.record_size,
        ip_version: meta.ip_version,
    };
    verify::check(bytes, &layout).map_err(|e| {
        format!(
            "a damaged {:?} database: {e}; the file was cut or overwritten, download it again",
            meta.database_type
        )
    })
}

/// Which address families the database has records for. (ip-location-db's IPv6 files have an
/// IPv6 tree but no IPv4 records.)
fn families(reader: &Reader<Cow<'static, [u8]>>) -> Families {
    let has_data_in = |cidr: &str| {
        cidr.parse()
            .ok()
            .and_then(|net| reader.within(net, Default::default()).ok())
            .is_some_and(|mut networks| networks.next().is_some())
    };
    let ipv4 = has_data_in("0.0.0.0/0");
    let ipv6 = reader.metadata().ip_version == 6 && has_data_in("2000::/3");
    Families { ipv4, ipv6 }
}

/// `records with country, location` (keys sorted), or `no records` for an empty database.
fn describe_keys(keys: &HashMap<String, usize>, records: usize) -> String {
    if records == 0 {
        return "no records".to_string();
    }
    if keys.is_empty() {
        return format!("{records} records without named fields");
    }
    let mut names: Vec<&str> = keys.keys().map(String::as_str).collect();
    names.sort_unstable();
    format!("records with {}", names.join(", "))
}
