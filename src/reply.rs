//! The answer a server gives: ip-api.com's JSON, field for field.
//!
//! ip-api.com answers `GET /json/8.8.8.8` with
//!
//! ```json
//! {"status":"success","country":"United States","countryCode":"US","region":"VA",
//!  "regionName":"Virginia","city":"Ashburn","zip":"20149","lat":39.03,"lon":-77.5,
//!  "timezone":"America/New_York","isp":"Google LLC","org":"Google Public DNS",
//!  "as":"AS15169 Google LLC","query":"8.8.8.8"}
//! ```
//!
//! and a failure with `{"status":"fail","message":"private range","query":"10.0.0.1"}`. A
//! [`Reply`] serialises to exactly these shapes, so the original client, a browser and our client
//! read the same fields. Two fields are ours: `source` says which geolocation source answered,
//! and the router adds `router` (which slot served the client and how long it waited).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// `status` of a located answer.
pub const SUCCESS: &str = "success";
/// `status` of an answer without a location; `message` says why.
pub const FAIL: &str = "fail";

/// One reply line of the wire protocol (see [`crate::protocol`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// `"success"` or `"fail"`.
    pub status: String,
    /// Why the lookup failed: `"private range"`, `"reserved range"`, `"invalid query"`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The location; present exactly when `status` is `"success"`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The address that was looked up (or the text of an invalid query).
    #[serde(default)]
    pub query: String,
    /// Which geolocation source answered, e.g. `"dbip-lite-sample"` or `"ip-api.com"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Added by the router: the slot that served this client and its wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<Served>,
}

/// The located fields, named as ip-api.com names them. A field the source does not have is an
/// empty string (or an absent `lat`/`lon`), never a guess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Country name in English, e.g. `"India"`.
    #[serde(default)]
    pub country: String,
    /// ISO 3166-1 alpha-2 code, e.g. `"IN"`.
    #[serde(default, rename = "countryCode")]
    pub country_code: String,
    /// Region (state) code, e.g. `"KA"`.
    #[serde(default)]
    pub region: String,
    /// Region (state) name, e.g. `"Karnataka"`.
    #[serde(default, rename = "regionName")]
    pub region_name: String,
    /// City name.
    #[serde(default)]
    pub city: String,
    /// Postal code.
    #[serde(default)]
    pub zip: String,
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// IANA time zone, e.g. `"Asia/Kolkata"`.
    #[serde(default)]
    pub timezone: String,
    /// Internet service provider.
    #[serde(default)]
    pub isp: String,
    /// Organisation.
    #[serde(default)]
    pub org: String,
    /// Autonomous system, as ip-api.com writes it: `"AS15169 Google LLC"`.
    #[serde(default, rename = "as")]
    pub asn: String,
}

/// What the router adds to a reply: who served the client, and how long it queued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// Index of the server slot, 0 to 3 with four servers (the original's `check()` result).
    pub slot: usize,
    /// Address of the server behind that slot.
    pub server: String,
    /// Place in the queue when the client arrived; 0 if a slot was free at once.
    pub queue_position: usize,
    /// Milliseconds between arriving at the router and getting the slot.
    pub waited_ms: u64,
    /// The client's turn: 1 for the first client the router's semaphore gave a slot to, 2 for
    /// the next, ... Clients that queued get their turns in the order they queued (FIFO).
    #[serde(default)]
    pub turn: u64,
}

impl Reply {
    /// A located answer for `query`.
    pub fn success(query: IpAddr, location: Location, source: &str) -> Reply {
        Reply {
            status: SUCCESS.to_string(),
            message: None,
            location: Some(location),
            query: query.to_string(),
            source: Some(source.to_string()),
            router: None,
        }
    }

    /// A failed answer for `query` (an address, or the text of a request that was not one).
    pub fn fail(query: impl Into<String>, message: impl Into<String>) -> Reply {
        Reply {
            status: FAIL.to_string(),
            message: Some(message.into()),
            location: None,
            query: query.into(),
            source: None,
            router: None,
        }
    }

    /// True for a located answer.
    pub fn is_success(&self) -> bool {
        self.status == SUCCESS
    }

    /// Parses one reply line. A `fail` reply never carries a location, even an empty one.
    pub fn from_json(line: &str) -> Result<Reply, serde_json::Error> {
        let mut reply: Reply = serde_json::from_str(line)?;
        if !reply.is_success() {
            reply.location = None;
        }
        Ok(reply)
    }

    /// The reply as one line of JSON, without the newline.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers into a String cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"status\":\"fail\"}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_has_ip_api_shape() {
        let r = Reply::fail("10.0.0.1", "private range");
        assert_eq!(
            r.to_json(),
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
            r.to_json(),
            "{\"status\":\"success\",\"country\":\"India\",\"countryCode\":\"IN\",\"region\":\"\",\
             \"regionName\":\"\",\"city\":\"Bengaluru\",\"zip\":\"\",\"lat\":12.5,\"lon\":77.5,\
             \"timezone\":\"\",\"isp\":\"\",\"org\":\"\",\"as\":\"\",\"query\":\"117.222.175.180\",\
             \"source\":\"test\"}"
        );
        assert_eq!(Reply::from_json(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn a_parsed_failure_has_no_location() {
        let r =
            Reply::from_json(r#"{"status":"fail","message":"private range","query":"10.0.0.1"}"#)
                .unwrap();
        assert_eq!(r, Reply::fail("10.0.0.1", "private range"));
    }
}
