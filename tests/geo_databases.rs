//! Local databases: our replies against an independent reader, for every supported schema, and
//! a clear refusal at start-up for every kind of unusable file.
//!
//! "Independent" means `maxminddb`'s generic decoding into `serde_json::Value`, read with the
//! field names the publishers document; none of the library's decoding or mapping code is used
//! to compute what a reply should say. Random addresses come from a seeded generator, and the
//! seed is in each assertion's message, so a failure can be replayed.

mod common;

use common::mmdb_writer::{Value as Db, Writer};
use common::{example, temp_dir, Rng};
use geotracker::args::GEO_DB_ENV;
use geotracker::geo::GeoChoice;
use geotracker::geo::MmdbGeolocator;
use geotracker::geo::{address_to_locate, special_range};
use geotracker::geo::{country_name, Geolocator};
use geotracker::geo::{Database, Role, Schema, BUNDLED_ASN_DB, BUNDLED_DB};
use geotracker::{Location, Reply};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

const SEED: u64 = 20261123;

/// One database as the independent reader sees it.
struct Independent {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl Independent {
    fn new(bytes: &[u8]) -> Independent {
        Independent {
            reader: maxminddb::Reader::from_source(bytes.to_vec()).expect("a valid database"),
        }
    }

    /// The record for `ip`, if the database has one; IPv6 is never in an IPv4-only database.
    fn record(&self, ip: IpAddr) -> Option<Value> {
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return None;
        }
        self.reader
            .lookup(ip)
            .expect("lookup")
            .decode::<Value>()
            .expect("decode")
    }

    /// Up to `n` networks of the database, as (first address, prefix length).
    fn networks(&self, n: usize) -> Vec<(IpAddr, u8)> {
        self.reader
            .networks(Default::default())
            .expect("networks")
            .take(n)
            .map(|r| {
                let net = r.expect("network").network().expect("network");
                (net.network(), net.prefix())
            })
            .collect()
    }
}

fn text(v: &Value, path: &[&str]) -> String {
    let mut at = v;
    for key in path {
        match key.parse::<usize>() {
            Ok(i) => at = &at[i],
            Err(_) => at = &at[*key],
        }
    }
    at.as_str().unwrap_or_default().to_string()
}

/// The name of `code` in the one country table, else the record's English name.
fn country(english: String, code: &str) -> String {
    country_name(code).map(str::to_string).unwrap_or(english)
}

/// The documented mapping of a GeoIP2 City record (see the table in `geo/records.rs`):
/// `registered_country` stands in for a missing `country`.
fn expected_geoip2(v: &Value) -> Location {
    let named = |key: &str| v[key]["iso_code"].is_string() || v[key]["names"]["en"].is_string();
    let key = if named("country") {
        "country"
    } else {
        "registered_country"
    };
    let code = text(v, &[key, "iso_code"]);
    let mut loc = Location {
        country: country(text(v, &[key, "names", "en"]), &code),
        country_code: code,
        region: text(v, &["subdivisions", "0", "iso_code"]),
        region_name: text(v, &["subdivisions", "0", "names", "en"]),
        city: text(v, &["city", "names", "en"]),
        zip: text(v, &["postal", "code"]),
        lat: v["location"]["latitude"].as_f64(),
        lon: v["location"]["longitude"].as_f64(),
        timezone: text(v, &["location", "time_zone"]),
        ..Location::default()
    };
    expected_asn(v, &mut loc);
    loc
}

/// The documented mapping of an ip-location-db city record.
fn expected_flat(v: &Value) -> Location {
    let code = text(v, &["country_code"]);
    Location {
        country: country(String::new(), &code),
        country_code: code,
        region: String::new(),
        region_name: text(v, &["state1"]),
        city: text(v, &["city"]),
        zip: text(v, &["postcode"]),
        lat: v["latitude"].as_f64(),
        lon: v["longitude"].as_f64(),
        timezone: text(v, &["timezone"]),
        ..Location::default()
    }
}

/// The documented mapping of the GeoLite2-ASN fields, where the record has them.
fn expected_asn(v: &Value, loc: &mut Location) {
    let Some(number) = v["autonomous_system_number"].as_u64() else {
        return;
    };
    let org = text(v, &["autonomous_system_organization"]);
    loc.isp = org.clone();
    loc.org = org.clone();
    loc.asn = if org.is_empty() {
        format!("AS{number}")
    } else {
        format!("AS{number} {org}")
    };
}

/// Single-precision coordinates (ip-location-db) compared as the floats the file stores.
fn at_f32_precision(mut reply: Reply) -> Reply {
    if let Some(loc) = reply.location.as_mut() {
        loc.lat = loc.lat.map(|x| f64::from(x as f32));
        loc.lon = loc.lon.map(|x| f64::from(x as f32));
    }
    reply
}

/// A random public IPv4 address.
fn public_v4(rng: &mut Rng) -> IpAddr {
    loop {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
        if special_range(ip).is_none() {
            return ip;
        }
    }
}

/// A random address in the global unicast block 2000::/3.
fn public_v6(rng: &mut Rng) -> IpAddr {
    let bits = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    IpAddr::V6(Ipv6Addr::from((bits >> 3) | (1u128 << 125)))
}

/// A random address inside the network `(first, prefix)`.
fn inside(rng: &mut Rng, (first, prefix): (IpAddr, u8)) -> IpAddr {
    let random = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    match first {
        IpAddr::V4(v4) => {
            let host = if prefix >= 32 {
                0
            } else {
                (random as u32) >> prefix
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) | host))
        }
        IpAddr::V6(v6) => {
            let host = if prefix >= 128 { 0 } else { random >> prefix };
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) | host))
        }
    }
}

/// The test addresses: `v4` random public IPv4 addresses, and `v6` IPv6 addresses, half of
/// them random in 2000::/3 and half random inside the IPv6 networks of `dbs` (so that IPv6
/// lookups hit as well as miss).
fn addresses(rng: &mut Rng, v4: usize, v6: usize, dbs: &[&Independent]) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = (0..v4).map(|_| public_v4(rng)).collect();
    let v6_networks: Vec<(IpAddr, u8)> = dbs
        .iter()
        .flat_map(|db| db.networks(usize::MAX))
        .filter(|(ip, _)| ip.is_ipv6() && special_range(*ip).is_none())
        .filter(|(ip, _)| !matches!(ip, IpAddr::V6(v6) if v6.segments()[..6] == [0; 6]))
        .collect();
    for i in 0..v6 {
        let ip = if i % 2 == 0 || v6_networks.is_empty() {
            public_v6(rng)
        } else {
            let network = *rng.pick(&v6_networks);
            inside(rng, network)
        };
        // Tunnels (6to4, Teredo) are located by the IPv4 address inside: `tests/geo_edges.rs`.
        if special_range(ip).is_none() && address_to_locate(ip) == ip {
            ips.push(ip);
        }
    }
    ips
}

/// What the reply for `ip` must be, from the independent reader's records: the first City
/// database's record with the ASN database's fields, or the ASN fields alone when no City
/// database has `ip`; `None` when no database has it.
fn expected_reply(
    ip: IpAddr,
    cities: &[(&Independent, &str, Schema)],
    asn: Option<(&Independent, &str)>,
) -> Option<Reply> {
    let asn_record = asn.and_then(|(a, name)| Some((a.record(ip)?, name)));
    for (db, name, schema) in cities {
        if let Some(record) = db.record(ip) {
            let mut location = match schema {
                Schema::FlatCity => expected_flat(&record),
                _ => expected_geoip2(&record),
            };
            if let Some((asn_record, _)) = &asn_record {
                expected_asn(asn_record, &mut location);
            }
            return Some(Reply::success(ip, location, name));
        }
    }
    let (asn_record, name) = asn_record?;
    let mut location = Location::default();
    expected_asn(&asn_record, &mut location);
    Some(Reply::success(ip, location, name))
}

/// Checks every address; returns how many were found in a database. A miss must name the
/// City databases asked (as its `source` and in its message) and say how to load another.
fn compare_all(
    geo: &MmdbGeolocator,
    ips: &[IpAddr],
    cities: &[(&Independent, &str, Schema)],
    asn: Option<(&Independent, &str)>,
) -> (usize, usize) {
    let flat = cities.iter().any(|(_, _, s)| *s == Schema::FlatCity);
    let (mut v4_hits, mut v6_hits) = (0, 0);
    for &ip in ips {
        let mut got = geo.locate(ip);
        let Some(mut want) = expected_reply(ip, cities, asn) else {
            assert_eq!(
                (got.status.as_str(), got.query.as_str()),
                ("fail", ip.to_string().as_str())
            );
            let message = got.message.unwrap_or_default();
            let source = got.source.unwrap_or_default();
            assert!(message.starts_with("not in database: "), "{ip}: {message}");
            assert!(
                message.contains(&source) && message.contains("--geo-db PATH"),
                "{message}"
            );
            assert!(
                cities.iter().any(|(_, name, _)| source.contains(name)),
                "{ip}: {source}"
            );
            continue;
        };
        if flat {
            (want, got) = (at_f32_precision(want), at_f32_precision(got));
        }
        assert_eq!(got, want, "{ip} (seed {SEED})");
        if got.is_success() {
            if ip.is_ipv4() {
                v4_hits += 1;
            } else {
                v6_hits += 1;
            }
        }
    }
    (v4_hits, v6_hits)
}

#[test]
fn the_bundled_databases_agree_with_an_independent_reader_on_11000_addresses() {
    let (city, asn) = (
        Independent::new(BUNDLED_DB),
        Independent::new(BUNDLED_ASN_DB),
    );
    let geo = MmdbGeolocator::bundled().unwrap();
    let mut rng = Rng::new(SEED);
    let ips = addresses(&mut rng, 10_000, 1_000, &[&city]);
    let cities = [(&city, "dbip-lite-sample", Schema::GeoIp2City)];
    let (v4, v6) = compare_all(&geo, &ips, &cities, Some((&asn, "ip-location-db-asn")));
    // Every routable IPv4 address but two has a country; half the IPv6 addresses are inside
    // the database's networks, the other half random in 2000::/3, mostly unallocated.
    assert!(v4 >= 9_990, "only {v4} IPv4 hits");
    assert!(v6 >= 500, "only {v6} IPv6 hits");
}

/// Random record values: English and other scripts, empty and missing fields.
const CITIES: &[&str] = &[
    "Bengaluru",
    "São Paulo",
    "Zürich",
    "東京",
    "Kyiv",
    "",
    "O'Fallon",
];
const REGIONS: &[(&str, &str)] = &[
    ("KA", "Karnataka"),
    ("SP", "São Paulo"),
    ("ZH", "Zurich"),
    ("13", "Tokyo"),
    ("", ""),
];
const COUNTRIES: &[&str] = &["IN", "BR", "CH", "JP", "UA", "XK", "US", "ZZ", ""];
const ZONES: &[&str] = &["Asia/Kolkata", "America/Sao_Paulo", "Europe/Zurich", ""];
const ORGS: &[&str] = &["Bharat Sanchar Nigam Ltd", "Google LLC", "Ümlaut AG", ""];

fn random_degrees(rng: &mut Rng, max: u64) -> f64 {
    (rng.below(max * 20_000) as f64 - (max * 10_000) as f64) / 10_000.0
}

fn random_geoip2(rng: &mut Rng, with_asn: bool) -> Db {
    let names = |name: &str| Db::map([("en", Db::str(name)), ("de", Db::str("x"))]);
    let mut pairs: Vec<(String, Db)> = Vec::new();
    let code = *rng.pick(COUNTRIES);
    let mut country = vec![("iso_code".to_string(), Db::str(code))];
    if rng.chance(70) {
        country.push(("names".into(), names(&format!("Country {code}"))));
    }
    pairs.push(("country".into(), Db::Map(country)));
    pairs.push((
        "continent".into(),
        Db::map([("code", Db::str("AS")), ("geoname_id", Db::U32(6255147))]),
    ));
    if rng.chance(80) {
        let city = *rng.pick(CITIES);
        pairs.push(("city".into(), Db::map([("names", names(city))])));
    }
    if rng.chance(70) {
        let (code, name) = *rng.pick(REGIONS);
        pairs.push((
            "subdivisions".into(),
            Db::Array(vec![
                Db::map([("iso_code", Db::str(code)), ("names", names(name))]),
                Db::map([("iso_code", Db::str("XX")), ("names", names("Second"))]),
            ]),
        ));
    }
    if rng.chance(60) {
        pairs.push((
            "postal".into(),
            Db::map([("code", Db::str(format!("{}", rng.below(99_999))))]),
        ));
    }
    if rng.chance(90) {
        let mut location = vec![
            ("latitude".to_string(), Db::Double(random_degrees(rng, 90))),
            (
                "longitude".to_string(),
                Db::Double(random_degrees(rng, 180)),
            ),
            ("accuracy_radius".to_string(), Db::U16(100)),
        ];
        if rng.chance(50) {
            location.push(("time_zone".into(), Db::str(*rng.pick(ZONES))));
        }
        pairs.push(("location".into(), Db::Map(location)));
    }
    if with_asn && rng.chance(80) {
        pairs.push((
            "autonomous_system_number".into(),
            Db::U32(rng.below(400_000) as u32),
        ));
        if rng.chance(80) {
            pairs.push((
                "autonomous_system_organization".into(),
                Db::str(*rng.pick(ORGS)),
            ));
        }
    }
    Db::Map(pairs)
}

fn random_flat(rng: &mut Rng) -> Db {
    let (_, region) = *rng.pick(REGIONS);
    let mut pairs = vec![
        ("country_code".to_string(), Db::str(*rng.pick(COUNTRIES))),
        ("state1".to_string(), Db::str(region)),
        ("state2".to_string(), Db::str("")),
        ("city".to_string(), Db::str(*rng.pick(CITIES))),
        ("postcode".to_string(), Db::str("")),
    ];
    if rng.chance(90) {
        pairs.push(("latitude".into(), Db::Float(random_degrees(rng, 90) as f32)));
        pairs.push((
            "longitude".into(),
            Db::Float(random_degrees(rng, 180) as f32),
        ));
    }
    pairs.push(("timezone".into(), Db::str(*rng.pick(ZONES))));
    Db::Map(pairs)
}

fn random_asn(rng: &mut Rng) -> Db {
    let mut pairs = vec![(
        "autonomous_system_number".to_string(),
        Db::U32(rng.below(400_000) as u32),
    )];
    if rng.chance(85) {
        pairs.push((
            "autonomous_system_organization".into(),
            Db::str(*rng.pick(ORGS)),
        ));
    }
    Db::Map(pairs)
}

/// Fills `writer` with networks: three in four of the IPv4 /12 blocks (some split into a /14
/// with its own record), and, in an IPv6 database, 3000 random IPv6 networks of /20 to /48.
fn fill(writer: &mut Writer, rng: &mut Rng, ipv6: bool, mut record: impl FnMut(&mut Rng) -> Db) {
    for block in 0u32..4096 {
        if rng.chance(75) {
            let first = IpAddr::V4(Ipv4Addr::from(block << 20));
            writer.insert(first, 12, &record(rng));
            if rng.chance(20) {
                let sub = IpAddr::V4(Ipv4Addr::from((block << 20) | (1 << 18)));
                writer.insert(sub, 14, &record(rng));
            }
        }
    }
    if ipv6 {
        let mut networks: Vec<(u8, IpAddr)> = (0..3000)
            .map(|_| (20 + rng.below(29) as u8, public_v6(rng)))
            .collect();
        // Larger networks first, so a smaller one inside overrides its part.
        networks.sort_by_key(|(prefix, _)| *prefix);
        for (prefix, ip) in networks {
            let IpAddr::V6(v6) = ip else { unreachable!() };
            let first = u128::from(v6) & (u128::MAX << (128 - prefix));
            writer.insert(IpAddr::V6(Ipv6Addr::from(first)), prefix, &record(rng));
        }
    }
}

fn write_db(dir: &Path, name: &str, writer: &Writer) -> (PathBuf, Vec<u8>) {
    let bytes = writer.to_bytes();
    let path = dir.join(format!("{name}.mmdb"));
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

#[test]
fn a_geoip2_city_database_with_an_asn_database_agrees_with_an_independent_reader() {
    let dir = temp_dir("geoip2");
    let mut rng = Rng::new(SEED + 1);
    let mut city = Writer::new("GeoLite2-City", "test city", 6);
    fill(&mut city, &mut rng, true, |rng| random_geoip2(rng, false));
    let mut asn = Writer::new("GeoLite2-ASN", "test asn", 6);
    fill(&mut asn, &mut rng, true, random_asn);
    let (city_path, city_bytes) = write_db(&dir, "test-city", &city);
    let (asn_path, asn_bytes) = write_db(&dir, "test-asn", &asn);

    let geo = MmdbGeolocator::open_all(&[city_path], Some(&asn_path)).unwrap();
    assert_eq!(
        geo.name(),
        "test-city (GeoIP2 City, IPv4 and IPv6), autonomous systems from test-asn \
         (GeoLite2 ASN, IPv4 and IPv6)"
    );
    let (city_db, asn_db) = (Independent::new(&city_bytes), Independent::new(&asn_bytes));
    let ips = addresses(&mut rng, 10_000, 1_000, &[&city_db]);
    let cities = [(&city_db, "test-city", Schema::GeoIp2City)];
    let (v4, v6) = compare_all(&geo, &ips, &cities, Some((&asn_db, "test-asn")));
    assert!(v4 >= 6_000 && v6 >= 400, "{v4} IPv4 and {v6} IPv6 hits");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ip_location_db_city_files_for_ipv4_and_ipv6_agree_with_an_independent_reader() {
    let dir = temp_dir("flat");
    let mut rng = Rng::new(SEED + 2);
    // As ip-location-db ships them: an IPv4-only file and an IPv6 file without IPv4.
    let mut v4 = Writer::new("city", "", 4);
    fill(&mut v4, &mut rng, false, random_flat);
    let mut v6 = Writer::new("city", "", 6);
    for _ in 0..2000 {
        let prefix = 20 + rng.below(29) as u8;
        let IpAddr::V6(ip) = public_v6(&mut rng) else {
            unreachable!()
        };
        let first = u128::from(ip) & (u128::MAX << (128 - prefix));
        v6.insert(
            IpAddr::V6(Ipv6Addr::from(first)),
            prefix,
            &random_flat(&mut rng),
        );
    }
    let (v4_path, v4_bytes) = write_db(&dir, "dbip-city-ipv4", &v4);
    let (v6_path, v6_bytes) = write_db(&dir, "dbip-city-ipv6", &v6);

    let geo = MmdbGeolocator::open_all(&[v4_path, v6_path], None).unwrap();
    let (v4_db, v6_db) = (Independent::new(&v4_bytes), Independent::new(&v6_bytes));
    let ips = addresses(&mut rng, 10_000, 1_000, &[&v6_db]);
    let (v4_hits, v6_hits) = compare_all(
        &geo,
        &ips,
        &[
            (&v4_db, "dbip-city-ipv4", Schema::FlatCity),
            (&v6_db, "dbip-city-ipv6", Schema::FlatCity),
        ],
        None,
    );
    assert!(
        v4_hits >= 6_000 && v6_hits >= 400,
        "{v4_hits} IPv4 and {v6_hits} IPv6 hits"
    );

    // A float is shown as written: 37.422, not 37.422000885009766.
    let mut one = Writer::new("city", "", 4);
    let record = Db::map([
        ("country_code", Db::str("US")),
        ("city", Db::str("Mountain View")),
        ("latitude", Db::Float(37.422)),
        ("longitude", Db::Float(-122.085)),
    ]);
    one.insert("8.8.8.0".parse().unwrap(), 24, &record);
    let (path, _) = write_db(&dir, "one", &one);
    let reply = MmdbGeolocator::open(&path)
        .unwrap()
        .locate("8.8.8.8".parse().unwrap());
    let loc = reply.location.unwrap();
    assert_eq!((loc.lat, loc.lon), (Some(37.422), Some(-122.085)));
    assert_eq!(loc.country, "United States");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn country_names_come_from_the_iso_table_when_the_database_has_only_codes() {
    assert_eq!(country_name("IN"), Some("India"));
    assert_eq!(country_name("XK"), Some("Kosovo"));
    assert_eq!(country_name("ZZ"), None);
}

/// Each kind of unusable file, and the words its error must contain.
fn bad_databases(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let mut country = Writer::new("GeoLite2-Country", "", 6);
    country.insert(
        "1.0.0.0".parse().unwrap(),
        8,
        &Db::map([
            ("continent", Db::map([("code", Db::str("OC"))])),
            ("country", Db::map([("iso_code", Db::str("AU"))])),
            ("registered_country", Db::map([("iso_code", Db::str("AU"))])),
        ]),
    );
    let mut flat_country = Writer::new("country", "", 4);
    flat_country.insert(
        "1.0.0.0".parse().unwrap(),
        8,
        &Db::map([("country_code", Db::str("AU"))]),
    );
    let mut asn = Writer::new("GeoLite2-ASN", "", 6);
    asn.insert(
        "8.8.8.0".parse().unwrap(),
        24,
        &Db::map([("autonomous_system_number", Db::U32(15169))]),
    );
    let mut odd = Writer::new("Weather", "", 4);
    odd.insert(
        "1.0.0.0".parse().unwrap(),
        8,
        &Db::map([("rain", Db::str("yes"))]),
    );
    let empty = Writer::new("GeoLite2-City", "", 6);
    let half = &BUNDLED_DB[..BUNDLED_DB.len() / 2];
    let short = &BUNDLED_DB[..BUNDLED_DB.len() - 3];
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("country", country.to_bytes(), "it is a Country database"),
        (
            "flat-country",
            flat_country.to_bytes(),
            "it is a Country database",
        ),
        ("asn", asn.to_bytes(), "it is an ASN database"),
        ("weather", odd.to_bytes(), "it is neither a City nor an ASN"),
        ("empty", empty.to_bytes(), "no records"),
        ("half", half.to_vec(), "not a readable MaxMind database"),
        ("short", short.to_vec(), "not a readable MaxMind database"),
        (
            "text",
            b"country,city\nIN,Bengaluru\n".to_vec(),
            "not a readable",
        ),
        ("zero-bytes", Vec::new(), "not a readable MaxMind database"),
    ];
    let mut out: Vec<(&str, PathBuf, &str)> = files
        .into_iter()
        .map(|(name, bytes, words)| {
            let path = dir.join(format!("{name}.mmdb"));
            std::fs::write(&path, bytes).unwrap();
            (name, path, words)
        })
        .collect();
    out.push(("missing", dir.join("missing.mmdb"), "cannot read it"));
    out
}

#[test]
fn each_unusable_city_database_gets_its_own_clear_error() {
    let dir = temp_dir("bad-db");
    for (name, path, words) in bad_databases(&dir) {
        let choice = GeoChoice {
            city_dbs: vec![path.clone()],
            ..GeoChoice::default()
        };
        let error = choice
            .open()
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"));
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("geolocation database {}: ", path.display())),
            "{name}: {message}"
        );
        assert!(message.contains(words), "{name}: {message}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Where a database's search tree, data section and metadata are: (tree end, data end).
fn sections(bytes: &[u8]) -> (usize, usize) {
    let reader = maxminddb::Reader::from_source(bytes).unwrap();
    let meta = reader.metadata();
    let tree_end = meta.node_count as usize * usize::from(meta.record_size) / 4;
    let marker = b"\xAB\xCD\xEFMaxMind.com";
    let data_end = bytes
        .windows(marker.len())
        .rposition(|w| w == marker)
        .unwrap();
    (tree_end, data_end)
}

#[test]
fn a_damaged_database_is_refused_at_start_up_whatever_part_is_damaged() {
    let dir = temp_dir("damaged");
    let mut rng = Rng::new(SEED + 3);
    let mut writer = Writer::new("GeoLite2-City", "test city", 6);
    fill(&mut writer, &mut rng, true, |rng| random_geoip2(rng, true));
    let good = writer.to_bytes();
    let (tree_end, data_end) = sections(&good);
    let data_start = tree_end + 16;
    let zeroed = |from: usize, len: usize| {
        let mut bytes = good.clone();
        bytes[from..from + len].fill(0);
        bytes
    };
    let patched = |at: usize, byte: u8| {
        let mut bytes = good.clone();
        bytes[at] = byte;
        bytes
    };
    let string_at = good[data_start..]
        .windows(9)
        .position(|w| w == b"Bengaluru")
        .unwrap();
    let mut cut = good.clone();
    cut.drain(data_start + (data_end - data_start) / 3..data_start + (data_end - data_start) / 2);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // The middle of the tree zeroed: its records point back at the root.
        (
            "zeroed tree",
            zeroed(tree_end / 2 - 3000, 6000),
            "its search tree loops",
        ),
        (
            "zeroed data",
            zeroed((data_start + data_end) / 2 - 3000, 6000),
            "is damaged",
        ),
        ("a third of the data gone", cut, "damaged"),
        ("the separator", patched(tree_end + 7, 1), "are not zero"),
        (
            "a string",
            patched(data_start + string_at, 0xff),
            "is not UTF-8",
        ),
        // The root's left record, 24 bits, pointing past the data section.
        (
            "a record",
            [vec![0xff; 3], good[3..].to_vec()].concat(),
            "outside the data section",
        ),
    ];
    assert!(Database::from_bytes(good.clone().into(), "good", Role::City, None).is_ok());
    for (what, bytes, words) in cases {
        let path = dir.join("city.mmdb");
        std::fs::write(&path, &bytes).unwrap();
        let choice = GeoChoice {
            city_dbs: vec![path.clone()],
            ..GeoChoice::default()
        };
        let error = choice
            .open()
            .err()
            .unwrap_or_else(|| panic!("{what}: accepted"));
        let message = error.to_string();
        let start = format!("geolocation database {}: ", path.display());
        assert!(message.starts_with(&start), "{what}: {message}");
        assert!(message.contains(words), "{what}: {message}");
        assert!(
            message.contains("a damaged \"GeoLite2-City\" database")
                || message.contains("not a readable MaxMind database"),
            "{what}: {message}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A three-node IPv4 tree as the writer numbers it: the root (node 0) with 0.0.0.0/1 under node
/// 1 and 128.0.0.0/1 under node 2, each with one record in its left half.
fn three_nodes() -> Vec<u8> {
    let mut writer = Writer::new("GeoLite2-City", "three nodes", 4);
    let city = |name: &str| {
        Db::map([
            ("country", Db::map([("iso_code", Db::str("US"))])),
            (
                "city",
                Db::map([("names", Db::map([("en", Db::str(name))]))]),
            ),
        ])
    };
    writer.insert("0.0.0.0".parse().unwrap(), 2, &city("A"));
    writer.insert("128.0.0.0".parse().unwrap(), 2, &city("B"));
    let bytes = writer.to_bytes();
    assert_eq!(writer.node_count(), 3);
    assert_eq!(
        bytes[..6],
        [0, 0, 1, 0, 0, 2],
        "root: 0.0.0.0/1 is node 1, 128.0.0.0/1 node 2"
    );
    bytes
}

#[test]
fn a_node_with_two_parents_is_accepted_and_a_loop_is_not() {
    // Node 2's right half (192.0.0.0/2) made to point back at node 1, as MaxMind's files point
    // ::ffff:0:0/96 at their IPv4 subtree: 192.0.0.0/3 then has the record of 0.0.0.0/2.
    let mut alias = three_nodes();
    alias[12 + 3..12 + 6].copy_from_slice(&[0, 0, 1]);
    let db = Database::from_bytes(alias.clone().into(), "alias", Role::City, None).unwrap();
    assert_eq!(db.schema(), Schema::GeoIp2City);
    let reader = maxminddb::Reader::from_source(&alias[..]).unwrap();
    let city: Option<Value> = reader
        .lookup("192.0.0.1".parse().unwrap())
        .unwrap()
        .decode()
        .unwrap();
    assert_eq!(city.unwrap()["city"]["names"]["en"], "A");
    // Node 1's right half pointed back at the root: a lookup would go round for ever.
    let mut looped = three_nodes();
    looped[6 + 3..6 + 6].copy_from_slice(&[0, 0, 0]);
    let error = Database::from_bytes(looped.into(), "loop", Role::City, None)
        .err()
        .unwrap();
    assert!(
        error.reason.contains("node 1 points back to node 0"),
        "{error}"
    );
}

#[test]
fn databases_given_for_the_wrong_role_say_which_flag_they_belong_to() {
    let dir = temp_dir("roles");
    let mut asn = Writer::new("GeoLite2-ASN", "", 6);
    asn.insert(
        "8.8.8.0".parse().unwrap(),
        24,
        &Db::map([("autonomous_system_number", Db::U32(15169))]),
    );
    let mut flat = Writer::new("city", "", 4);
    flat.insert(
        "8.8.8.0".parse().unwrap(),
        24,
        &Db::map([("country_code", Db::str("US")), ("city", Db::str("X"))]),
    );
    let (asn_path, _) = write_db(&dir, "asn", &asn);
    let (flat_path, _) = write_db(&dir, "flat", &flat);

    let as_city = Database::open(&asn_path, Role::City).err().unwrap();
    assert!(
        as_city.reason.contains("give it with --asn-db"),
        "{as_city}"
    );
    let as_asn = Database::open(&flat_path, Role::Asn).err().unwrap();
    assert!(
        as_asn
            .reason
            .contains("a City database without autonomous systems"),
        "{as_asn}"
    );
    assert!(as_asn.reason.contains("give it with --geo-db"), "{as_asn}");
    // The right roles are accepted, and so are the bundled databases written out as files.
    assert_eq!(
        Database::open(&asn_path, Role::Asn).unwrap().schema(),
        Schema::Asn
    );
    assert_eq!(
        Database::open(&flat_path, Role::City).unwrap().schema(),
        Schema::FlatCity
    );
    let (bundled_city, bundled_asn) = (dir.join("city.mmdb"), dir.join("asn.mmdb"));
    std::fs::write(&bundled_city, BUNDLED_DB).unwrap();
    std::fs::write(&bundled_asn, BUNDLED_ASN_DB).unwrap();
    assert_eq!(
        Database::open(&bundled_city, Role::City).unwrap().schema(),
        Schema::GeoIp2City
    );
    assert_eq!(
        Database::open(&bundled_asn, Role::Asn).unwrap().schema(),
        Schema::Asn
    );
    let asn_as_city = Database::open(&bundled_asn, Role::City).err().unwrap();
    assert!(
        asn_as_city.reason.contains("give it with --asn-db"),
        "{asn_as_city}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_router_refuses_a_bad_database_at_start_up_before_listening() {
    let dir = temp_dir("bad-db-router");
    let cases = bad_databases(&dir);
    // One by flag and one by environment variable; each must stop the program with exit code
    // 2 and the error, before the router or any server listens.
    for (how, (name, path, words)) in [("flag", &cases[0]), ("env", &cases[5])] {
        let mut command = Command::new(example("router"));
        command.args([
            "--port",
            "0",
            "--server-port",
            "0",
            "--public-ip",
            "1.2.3.4",
        ]);
        command.env_remove(GEO_DB_ENV);
        command.current_dir(&dir);
        if how == "flag" {
            command.arg("--geo-db").arg(path);
        } else {
            command.env(GEO_DB_ENV, path);
        }
        let output = command.output().unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        assert_eq!(output.status.code(), Some(2), "{name} by {how}: {stderr}");
        assert!(
            stderr.starts_with("error: router: geolocation database "),
            "{stderr}"
        );
        assert!(stderr.contains(words), "{name} by {how}: {stderr}");
        assert!(
            !stdout.contains("listening") && !stdout.contains("Ctrl-C"),
            "{stdout}"
        );
    }
    // Nothing was started, so no log was written.
    let logs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    assert_eq!(logs, 0);
    std::fs::remove_dir_all(dir).unwrap();
}
