//! The public address the server's NAT pool starts from.
//!
//! The original asked `https://api.ipify.org` at start-up, with no timeout, and crashed when
//! offline. Here the address comes from `--public-ip` if given, else from ipify within a short
//! timeout, else from a fixed fallback: 117.222.175.180, the address the original's own runs
//! used (see `sample.json`). Start-up says which, so nobody mistakes the fallback for their own
//! address.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The address used when neither `--public-ip` nor ipify gives one.
pub const FALLBACK: Ipv4Addr = Ipv4Addr::new(117, 222, 175, 180);

/// ipify's plain-HTTP endpoint; it answers with the caller's address as text.
pub const IPIFY_URL: &str = "http://api.ipify.org";

/// The longest we wait for ipify at start-up.
pub const IPIFY_TIMEOUT: Duration = Duration::from_secs(2);

/// A public address and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIp {
    /// The address.
    pub addr: Ipv4Addr,
    /// Where it came from.
    pub origin: Origin,
}

/// Where a [`PublicIp`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--public-ip` on the command line.
    Given,
    /// ipify answered.
    Ipify,
    /// ipify did not answer usefully; the reason.
    Fallback(String),
}

impl fmt::Display for PublicIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::Given => write!(f, "public IP {} (from --public-ip)", self.addr),
            Origin::Ipify => write!(f, "public IP {} (from ipify)", self.addr),
            Origin::Fallback(why) => write!(
                f,
                "public IP {} (the original's address, used because {why}; pass --public-ip to set it)",
                self.addr
            ),
        }
    }
}

/// `given` if set, else asks ipify for at most [`IPIFY_TIMEOUT`], else [`FALLBACK`].
pub fn resolve(given: Option<Ipv4Addr>) -> PublicIp {
    resolve_with(given, IPIFY_URL, IPIFY_TIMEOUT)
}

/// [`resolve`] with ipify at `url` (tests start their own) and at most `timeout`. Never fails
/// and never panics, online or offline.
pub fn resolve_with(given: Option<Ipv4Addr>, url: &str, timeout: Duration) -> PublicIp {
    if let Some(addr) = given {
        return PublicIp {
            addr,
            origin: Origin::Given,
        };
    }
    match ask_ipify(url, timeout) {
        Ok(addr) => PublicIp {
            addr,
            origin: Origin::Ipify,
        },
        Err(why) => PublicIp {
            addr: FALLBACK,
            origin: Origin::Fallback(why),
        },
    }
}

fn ask_ipify(url: &str, timeout: Duration) -> Result<Ipv4Addr, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    let text = agent
        .get(url)
        .call()
        .map_err(|e| format!("ipify is unreachable ({e})"))?
        .body_mut()
        .with_config()
        .limit(256)
        .read_to_string()
        .map_err(|e| format!("ipify's answer is unreadable ({e})"))?;
    text.trim()
        .parse()
        .map_err(|_| format!("ipify answered {:?}, not an IPv4 address", text.trim()))
}
