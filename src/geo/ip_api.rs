//! Online geolocation through ip-api.com, the original's source.
//!
//! `GET http://ip-api.com/json/<ip>?fields=...` answers with exactly the JSON our replies use
//! (see `reply.rs`). The free endpoint is plain HTTP and allows 45 requests a minute per
//! client address, so this client:
//!
//! - asks only for the fields the reply shows ([`FIELDS`]);
//! - goes through one `ureq::Agent`, built once and shared by every thread (it keeps a pool of
//!   connections), with a connect timeout and a read timeout, so a slow or unreachable service
//!   gives a `fail` reply instead of a hung thread;
//! - obeys the rate limit ([`RateLimit`]): past it, lookups are answered at once with
//!   `rate limited by ip-api.com; retry in N s` and nothing is sent;
//! - keeps answers per address for a while ([`AnswerCache`]), so a class behind one NAT costs
//!   one request, not forty.

use super::cache::AnswerCache;
use super::rate_limit::{Limited, RateLimit};
use super::{answer_special, Geolocator};
use crate::reply::Reply;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Where ip-api.com is; tests point [`IpApiConfig::url`] at a local endpoint instead.
pub const DEFAULT_URL: &str = "http://ip-api.com";

/// The fields we ask for: the ones the reply shows, and nothing else.
pub const FIELDS: &str =
    "status,message,country,countryCode,region,regionName,city,zip,lat,lon,timezone,isp,org,as,query";

/// The `source` name of answers from ip-api.com.
pub const NAME: &str = "ip-api.com";

/// Longest ip-api.com answer body we read.
const MAX_BODY: u64 = 64 * 1024;

/// How an [`IpApi`] is set up. `Default` is ip-api.com with the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpApiConfig {
    /// Base URL of the service (`--geo-url`).
    pub url: String,
    /// Longest wait for the connection to open.
    pub connect_timeout: Duration,
    /// Longest wait for the answer once connected.
    pub read_timeout: Duration,
    /// How long an answer is kept (`--geo-cache-secs`; zero keeps none).
    pub cache_ttl: Duration,
    /// How many answers are kept at most (`--geo-cache-size`).
    pub cache_size: usize,
}

impl Default for IpApiConfig {
    fn default() -> IpApiConfig {
        IpApiConfig {
            url: DEFAULT_URL.to_string(),
            connect_timeout: Duration::from_secs(3),
            read_timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(600),
            cache_size: 10_000,
        }
    }
}

/// Why ip-api.com gave no answer, e.g. `ip-api.com unreachable: ...` or `rate limited by
/// ip-api.com; retry in 12 s` (the `auto` source then asks the local database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// What happened.
    pub message: String,
}

impl Unavailable {
    fn new(message: String) -> Unavailable {
        Unavailable { message }
    }
}

impl From<Limited> for Unavailable {
    fn from(limited: Limited) -> Unavailable {
        Unavailable::new(limited.message())
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A geolocator that asks ip-api.com (or a service with the same API at another URL).
pub struct IpApi {
    agent: ureq::Agent,
    base_url: String,
    limit: RateLimit,
    cache: AnswerCache<Reply, Unavailable>,
}

impl IpApi {
    /// A client for the service described by `config`.
    pub fn new(config: &IpApiConfig) -> IpApi {
        let agent_config = ureq::Agent::config_builder()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            // The whole exchange, whatever happens: connecting, sending, and reading.
            .timeout_global(Some(config.connect_timeout + config.read_timeout))
            // A 429 or 5xx is an answer to read (its headers matter), not a transport error.
            .http_status_as_error(false)
            .build();
        IpApi {
            agent: agent_config.into(),
            base_url: config.url.trim_end_matches('/').to_string(),
            limit: RateLimit::new(),
            cache: AnswerCache::new(config.cache_ttl, config.cache_size),
        }
    }

    /// ip-api.com's answer for `ip` (which may be a `fail` answer, such as `private range`),
    /// from the cache when it has one; `Err` when there is no answer to give.
    pub fn ask(&self, ip: IpAddr) -> Result<Reply, Unavailable> {
        let ip = ip.to_canonical();
        if let Some(reply) = answer_special(ip) {
            return Ok(reply);
        }
        self.cache.get_or_fetch(ip, || self.fetch(ip))
    }

    /// How many answers the cache holds.
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// One HTTP request, unless the rate limit forbids it.
    fn fetch(&self, ip: IpAddr) -> Result<Reply, Unavailable> {
        self.limit.check(Instant::now())?;
        let url = format!("{}/json/{ip}?fields={FIELDS}", self.base_url);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| Unavailable::new(format!("ip-api.com unreachable: {e}")))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_string)
        };
        let requests_left = header("X-Rl").and_then(|v| v.parse().ok());
        let seconds_to_reset = header("X-Ttl").and_then(|v| v.parse().ok());
        let pause = self
            .limit
            .observe(Instant::now(), status, requests_left, seconds_to_reset);
        if let (429, Some(limited)) = (status, pause) {
            return Err(limited.into());
        }
        if status != 200 {
            return Err(Unavailable::new(format!(
                "ip-api.com answered HTTP {status}"
            )));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| Unavailable::new(format!("ip-api.com reply unreadable: {e}")))?;
        let mut reply = Reply::from_json(&body)
            .map_err(|e| Unavailable::new(format!("ip-api.com reply is not JSON: {e}")))?;
        if reply.status != "success" && reply.status != "fail" {
            return Err(Unavailable::new(format!(
                "ip-api.com reply has status {:?}",
                reply.status
            )));
        }
        reply.source = Some(NAME.to_string());
        Ok(reply)
    }
}

impl Geolocator for IpApi {
    fn locate(&self, ip: IpAddr) -> Reply {
        self.ask(ip)
            .unwrap_or_else(|why| Reply::fail(ip.to_canonical().to_string(), why.message))
    }

    fn name(&self) -> &str {
        NAME
    }
}
