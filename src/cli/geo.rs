//! The geolocation flags the server and the router's in-process servers share, and the
//! environment variables that give their defaults.
//!
//! | flag | environment | meaning |
//! |---|---|---|
//! | `--geo offline\|ip-api\|auto` | | the source (default `offline`) |
//! | `--geo-db PATH` (repeatable) | `GEOTRACKER_GEO_DB` (a path list) | City databases, tried in order |
//! | `--asn-db PATH` | `GEOTRACKER_ASN_DB` | an ASN database for `isp`, `org`, `as` |
//! | `--geo-url URL` | | ip-api.com's base URL |
//! | `--geo-cache-secs N` | | how long an ip-api.com answer is kept (default 600) |
//! | `--geo-cache-size N` | | how many answers are kept (default 10000) |
//!
//! A flag wins over the environment; the environment is read only where a database is used, so a
//! lab machine set up once with `GEOTRACKER_GEO_DB` can still run `--geo ip-api`.

use super::args::{Args, UsageError};
use crate::geo::auto::Auto;
use crate::geo::database::GeoDbError;
use crate::geo::ip_api::{IpApi, IpApiConfig};
use crate::geo::mmdb::MmdbGeolocator;
use crate::geo::Geolocator;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Environment variable: default City database(s), separated like `PATH` (`:` on Linux and
/// macOS, `;` on Windows).
pub const GEO_DB_ENV: &str = "GEOTRACKER_GEO_DB";
/// Environment variable: default ASN database.
pub const ASN_DB_ENV: &str = "GEOTRACKER_ASN_DB";

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

/// The geolocation a server uses: source, databases, ip-api.com settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GeoChoice {
    /// `--geo`.
    pub source: GeoSource,
    /// City databases in the order they are tried; empty means the bundled sample.
    pub city_dbs: Vec<PathBuf>,
    /// ASN database, if any.
    pub asn_db: Option<PathBuf>,
    /// ip-api.com settings (used by `ip-api` and `auto`).
    pub ip_api: IpApiConfig,
}

impl GeoChoice {
    /// Opens the source. A database that cannot be used is reported here, at start-up, before
    /// any client connects.
    pub fn open(&self) -> Result<Arc<dyn Geolocator>, GeoDbError> {
        let local = || MmdbGeolocator::open_all(&self.city_dbs, self.asn_db.as_deref());
        Ok(match self.source {
            GeoSource::Offline => Arc::new(local()?),
            GeoSource::IpApi => Arc::new(IpApi::new(&self.ip_api)),
            GeoSource::Auto => Arc::new(Auto::new(IpApi::new(&self.ip_api), local()?)),
        })
    }
}

/// The geolocation flags as read, before the environment fills the gaps.
#[derive(Debug, Clone, Default)]
pub(crate) struct GeoFlags {
    source: Option<GeoSource>,
    city_dbs: Vec<PathBuf>,
    asn_db: Option<PathBuf>,
    url: Option<String>,
    cache_secs: Option<u64>,
    cache_size: Option<usize>,
}

impl GeoFlags {
    /// Reads one geolocation flag if `flag` is one; `Ok(false)` if it is not.
    pub(crate) fn take(&mut self, flag: &str, args: &mut Args) -> Result<bool, UsageError> {
        match flag {
            "--geo" => {
                let text: String = args.value(flag, "offline, ip-api or auto")?;
                self.source = Some(match text.as_str() {
                    "offline" => GeoSource::Offline,
                    "ip-api" => GeoSource::IpApi,
                    "auto" => GeoSource::Auto,
                    other => {
                        return Err(UsageError(format!(
                            "--geo: {other:?} is not offline, ip-api or auto"
                        )))
                    }
                });
            }
            "--geo-db" => self.city_dbs.push(args.value(flag, "a database path")?),
            "--asn-db" => self.asn_db = Some(args.value(flag, "a database path")?),
            "--geo-url" => self.url = Some(args.value(flag, "a URL")?),
            "--geo-cache-secs" => self.cache_secs = Some(args.value(flag, "a number of seconds")?),
            "--geo-cache-size" => self.cache_size = Some(args.value(flag, "a number of answers")?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// True when any geolocation flag was given.
    pub(crate) fn any(&self) -> bool {
        self.source.is_some()
            || !self.city_dbs.is_empty()
            || self.asn_db.is_some()
            || self.url.is_some()
            || self.cache_secs.is_some()
            || self.cache_size.is_some()
    }

    /// The choice these flags make, with `env` (normally `std::env::var_os`) giving the
    /// databases that were not given as flags.
    pub(crate) fn choice(
        self,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<GeoChoice, UsageError> {
        let source = self.source.unwrap_or_default();
        let online = self.url.is_some() || self.cache_secs.is_some() || self.cache_size.is_some();
        if source == GeoSource::Offline && online {
            return Err(UsageError(
                "--geo-url and --geo-cache-* go with --geo ip-api or --geo auto".into(),
            ));
        }
        if source == GeoSource::IpApi && (!self.city_dbs.is_empty() || self.asn_db.is_some()) {
            return Err(UsageError(
                "--geo-db and --asn-db go with --geo offline or --geo auto".into(),
            ));
        }
        let mut choice = GeoChoice {
            source,
            city_dbs: self.city_dbs,
            asn_db: self.asn_db,
            ip_api: IpApiConfig::default(),
        };
        if source != GeoSource::IpApi {
            // An empty variable counts as unset.
            let set = |name: &str| env(name).filter(|v| !v.is_empty());
            if choice.city_dbs.is_empty() {
                if let Some(list) = set(GEO_DB_ENV) {
                    choice.city_dbs = std::env::split_paths(&list).collect();
                }
            }
            if choice.asn_db.is_none() {
                choice.asn_db = set(ASN_DB_ENV).map(PathBuf::from);
            }
        }
        if let Some(url) = self.url {
            choice.ip_api.url = url;
        }
        if let Some(secs) = self.cache_secs {
            choice.ip_api.cache_ttl = Duration::from_secs(secs);
        }
        if let Some(size) = self.cache_size {
            choice.ip_api.cache_size = size;
        }
        Ok(choice)
    }
}
