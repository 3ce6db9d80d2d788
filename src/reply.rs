//! The answer a server gives: ip-api.com's JSON, field for field.
//!
//! ip-api.com answers `GET /json/8.8.8.8` with `{"status":"success","country":"United States",
//! "countryCode":"US", ..., "as":"AS15169 Google LLC","query":"8.8.8.8"}`, and fails with
//! `{"status":"fail","message":"private range","query":"10.0.0.1"}`. A [`Reply`] serialises to
//! exactly these shapes, so that the original client, a browser and ours read the same fields.
//! Two fields are ours: `source` (which geolocation source answered) and `router`, added by the
//! router (the slot that served the client, and how long it waited).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One reply line of the wire protocol.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// `"success"` or `"fail"`.
    pub status: String,
    /// Why it failed: `"private range"`, `"invalid query"`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The location: there exactly when `status` is `"success"`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The address looked up (or the text of an invalid query).
    #[serde(default)]
    pub query: String,
    /// Which geolocation source answered, e.g. `"dbip-lite-sample"` or `"ip-api.com"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Added by the router: the slot that served this client, and its wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Served>,
}

/// The located fields, named as ip-api.com names them: `country` (in English), `countryCode`
/// (ISO 3166-1 alpha-2), `region` (a code) and `regionName`, `city`, `zip`, `lat` and `lon`
/// (degrees), `timezone` (IANA), `isp`, `org`, and `as` (`"AS15169 Google LLC"`). A field
/// the source does not know is empty (or, for `lat` and `lon`, absent): never a guess.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Location {
    pub country: String,
    #[serde(rename = "countryCode")]
    pub country_code: String,
    pub region: String,
    #[serde(rename = "regionName")]
    pub region_name: String,
    pub city: String,
    pub zip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    pub timezone: String,
    pub isp: String,
    pub org: String,
    #[serde(rename = "as")]
    pub asn: String,
}

/// What the router adds to a reply: who served the client, and how long it waited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The slot, 0 to 3 with four servers: the original's `check()`.
    pub slot: usize,
    /// The server behind that slot.
    pub server: String,
    /// The place in the queue on arrival; 0 if a slot was free at once.
    pub queue_position: usize,
    /// Milliseconds between arriving at the router and getting the slot.
    pub waited_ms: u64,
    /// 1 for the first client the router's semaphore gave a slot to, 2 for the next, ...
    #[serde(default)]
    pub turn: u64,
}

impl Reply {
    /// A located answer for `query`.
    pub fn success(query: IpAddr, location: Location, source: &str) -> Reply {
        Reply {
            status: "success".into(),
            query: query.to_string(),
            location: Some(location),
            source: Some(source.to_string()),
            ..Reply::default()
        }
    }

    /// A failed answer for `query` (an address, or the text of a request that was not one).
    pub fn fail(query: impl Into<String>, message: impl Into<String>) -> Reply {
        Reply {
            status: "fail".into(),
            message: Some(message.into()),
            query: query.into(),
            ..Reply::default()
        }
    }

    /// True for a located answer.
    pub fn is_success(&self) -> bool {
        self.status == "success"
    }

    /// Parses one reply line. A `fail` reply never carries a location, not even an empty one.
    pub fn from_json(line: &str) -> Result<Reply, serde_json::Error> {
        let mut reply: Reply = serde_json::from_str(line)?;
        if !reply.is_success() {
            reply.location = None;
        }
        Ok(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_has_ip_api_shape() {
        let r = Reply::fail("10.0.0.1", "private range");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"status":"fail","message":"private range","query":"10.0.0.1"}"#
        );
    }

    #[test]
    fn a_success_lists_the_fields_in_ip_api_order() {
        let loc = Location {
            country: "India".into(),
            country_code: "IN".into(),
            city: "Bengaluru".into(),
            lat: Some(12.5),
            lon: Some(77.5),
            ..Location::default()
        };
        let r = Reply::success("117.222.175.180".parse().unwrap(), loc, "test");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "{\"status\":\"success\",\"country\":\"India\",\"countryCode\":\"IN\",\"region\":\"\",\
             \"regionName\":\"\",\"city\":\"Bengaluru\",\"zip\":\"\",\"lat\":12.5,\"lon\":77.5,\
             \"timezone\":\"\",\"isp\":\"\",\"org\":\"\",\"as\":\"\",\"query\":\"117.222.175.180\",\
             \"source\":\"test\"}"
        );
        assert_eq!(
            Reply::from_json(&serde_json::to_string(&r).unwrap()).unwrap(),
            r
        );
    }

    #[test]
    fn a_parsed_failure_has_no_location() {
        let r =
            Reply::from_json(r#"{"status":"fail","message":"private range","query":"10.0.0.1"}"#)
                .unwrap();
        assert_eq!(r, Reply::fail("10.0.0.1", "private range"));
    }
}
