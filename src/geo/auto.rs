//! `--geo auto`: ip-api.com while it answers, the local database when it does not.
//!
//! ip-api.com gives the richest answer (time zones, region codes, separate ISP and
//! organisation), but a lab may have no Internet, and a class behind one NAT reaches the rate
//! limit. [`Auto`] asks ip-api.com first; when it is unreachable, too slow, rate limited or
//! answers nonsense, the same lookup is answered from the local database. The reply's `source`
//! always says which one answered (`"ip-api.com"` or, say, `"dbip-lite-sample"`).

use super::ip_api::IpApi;
use super::mmdb::MmdbGeolocator;
use super::Geolocator;
use crate::reply::Reply;
use std::net::IpAddr;

/// ip-api.com first, a local database second.
pub struct Auto {
    online: IpApi,
    local: MmdbGeolocator,
    description: String,
}

impl Auto {
    /// Asks `online`, and `local` when `online` has no answer.
    pub fn new(online: IpApi, local: MmdbGeolocator) -> Auto {
        let description = format!("{}, falling back to {}", online.name(), local.name());
        Auto {
            online,
            local,
            description,
        }
    }
}

impl Geolocator for Auto {
    fn locate(&self, ip: IpAddr) -> Reply {
        // An answer from ip-api.com, even a `fail` one such as "invalid query", is kept; only
        // the absence of an answer sends the lookup to the local database.
        self.online
            .ask(ip)
            .unwrap_or_else(|_unavailable| self.local.locate(ip))
    }

    fn name(&self) -> &str {
        &self.description
    }
}
