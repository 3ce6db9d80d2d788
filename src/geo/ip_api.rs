//! Online geolocation through ip-api.com, the original's source.
//!
//! `GET http://ip-api.com/json/<ip>?fields=...` answers with exactly the JSON our replies use
//! (see [`crate::reply`]). The free endpoint is plain HTTP and allows 45 requests a minute per
//! client address; use it for a demonstration, and the offline database for a class.
//!
//! The request goes through a single `ureq::Agent`, built once and shared by every thread (it
//! keeps a pool of connections), with a timeout on the whole exchange so that a slow or
//! unreachable service gives a `fail` reply instead of a hung thread.

use super::{answer_special, Geolocator};
use crate::reply::Reply;
use std::net::IpAddr;
use std::time::Duration;

/// Where ip-api.com is; tests point [`IpApi::new`] at a local endpoint instead.
pub const DEFAULT_URL: &str = "http://ip-api.com";

/// The fields we ask for: the ones the reply shows, and nothing else.
pub const FIELDS: &str =
    "status,message,country,countryCode,region,regionName,city,zip,lat,lon,timezone,isp,org,as,query";

/// The `source` name of answers from ip-api.com.
pub const NAME: &str = "ip-api.com";

/// Longest ip-api.com answer body we read.
const MAX_BODY: u64 = 64 * 1024;

/// A geolocator that asks ip-api.com (or a service with the same API at another URL).
pub struct IpApi {
    agent: ureq::Agent,
    base_url: String,
}

impl IpApi {
    /// A client for the service at `base_url` (e.g. [`DEFAULT_URL`]) that gives up on a request
    /// after `timeout`.
    pub fn new(base_url: &str, timeout: Duration) -> IpApi {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // A 429 or 5xx is an answer to report, not a transport error.
            .http_status_as_error(false)
            .build();
        IpApi {
            agent: config.into(),
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    fn ask(&self, ip: IpAddr) -> Result<Reply, String> {
        let url = format!("{}/json/{ip}?fields={FIELDS}", self.base_url);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("ip-api.com unreachable: {e}"))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!("ip-api.com answered HTTP {status}"));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| format!("ip-api.com reply unreadable: {e}"))?;
        let mut reply =
            Reply::from_json(&body).map_err(|e| format!("ip-api.com reply is not JSON: {e}"))?;
        reply.source = Some(NAME.to_string());
        Ok(reply)
    }
}

impl Geolocator for IpApi {
    fn locate(&self, ip: IpAddr) -> Reply {
        let ip = ip.to_canonical();
        if let Some(reply) = answer_special(ip) {
            return reply;
        }
        self.ask(ip)
            .unwrap_or_else(|message| Reply::fail(ip.to_string(), message))
    }

    fn name(&self) -> &str {
        NAME
    }
}
