//! Geolocation at its edges, as a user meets them: special-purpose addresses, addresses that
//! carry an IPv4 address inside, a set of databases that cannot answer one address family,
//! country names from different sources, misses, and the autonomous system when the city is not
//! known. Through the router where a reply is what matters; with small databases written by
//! `common::mmdb_writer` where a case needs one.

mod common;

use common::mmdb_writer::{Value as Db, Writer};
use common::{example, temp_dir, System};
use geotracker::args::GEO_DB_ENV;
use geotracker::geo::{Geolocator, MmdbGeolocator};
use geotracker::{Reply, Request};
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn write_db(dir: &Path, name: &str, writer: &Writer) -> PathBuf {
    let path = dir.join(format!("{name}.mmdb"));
    std::fs::write(&path, writer.to_bytes()).unwrap();
    path
}

/// An ip-location-db city record.
fn flat(country: &str, city: &str) -> Db {
    Db::map([("country_code", Db::str(country)), ("city", Db::str(city))])
}

#[test]
fn loopback_and_private_addresses_get_ip_api_s_messages_through_the_router() {
    let system = System::start(Duration::ZERO);
    for (address, message) in [
        ("127.0.0.1", "reserved range"),
        ("127.255.0.9", "reserved range"),
        ("::1", "reserved range"),
        ("192.168.1.200", "private range"),
        ("fd00::1", "private range"),
        ("169.254.1.1", "reserved range"),
        ("100.64.0.1", "reserved range"),
        ("2001:db8::1", "reserved range"),
        ("2001:2::1", "reserved range"),
        ("64:ff9b:1::808:808", "reserved range"),
    ] {
        let reply = system.ask(Request::Lookup(ip(address))).reply;
        assert_eq!(
            (reply.status.as_str(), reply.message.as_deref()),
            ("fail", Some(message))
        );
        assert_eq!(reply.query, address);
    }
    system.stop();
}

#[test]
fn six_to_four_nat64_and_teredo_addresses_are_located_by_the_ipv4_address_inside() {
    let system = System::start(Duration::ZERO);
    let google = system
        .ask(Request::Lookup(ip("8.8.8.8")))
        .reply
        .location
        .unwrap();
    assert_eq!(google.city, "Mountain View");
    for address in [
        "2002:808:808::1",
        "2002:808:808:1234:5678::9",
        "64:ff9b::808:808",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    ] {
        let reply = system.ask(Request::Lookup(ip(address))).reply;
        assert!(reply.is_success(), "{address}: {reply:?}");
        assert_eq!(reply.query, address, "the query is the address asked");
        assert_eq!(reply.location.unwrap(), google, "{address}");
    }
    // 2002:c0a8:101::1 is 192.168.1.1: no longer "US, Culver City".
    let private = system.ask(Request::Lookup(ip("2002:c0a8:101::1"))).reply;
    assert_eq!(
        Reply {
            router: None,
            ..private
        },
        Reply::fail("2002:c0a8:101::1", "private range")
    );
    let loopback = system.ask(Request::Lookup(ip("64:ff9b::7f00:1"))).reply;
    assert_eq!(loopback.message.as_deref(), Some("reserved range"));
    system.stop();
}

#[test]
fn only_the_iana_sub_blocks_of_2001_23_and_192_0_0_24_are_reserved() {
    let geo = MmdbGeolocator::bundled().unwrap();
    // Globally reachable entries inside reserved blocks are looked up: the bundled database
    // has a country for these.
    for address in [
        "2001:3::1",
        "2001:4:112::1",
        "2001:20::1",
        "2001:30::1",
        "192.31.196.1",
    ] {
        let reply = geo.locate(ip(address));
        assert!(reply.is_success(), "{address}: {reply:?}");
        assert!(!reply.location.unwrap().country.is_empty(), "{address}");
    }
    // 192.0.0.9 is globally reachable too, but DB-IP has no record for it: a miss that says
    // which database was asked and how to load another.
    let miss = geo.locate(ip("192.0.0.9"));
    let message = miss.message.clone().unwrap();
    assert_eq!(
        (miss.status.as_str(), miss.source.as_deref()),
        ("fail", Some("dbip-lite-sample"))
    );
    assert!(message.starts_with("not in database: dbip-lite-sample, the database built into"));
    assert!(message.contains("has no record for 192.0.0.9"), "{message}");
    assert!(
        message.contains("--geo-db PATH") && message.contains("db-ip.com"),
        "{message}"
    );
    for address in [
        "192.0.0.8",
        "192.0.0.170",
        "2001:1::4",
        "2001:10::1",
        "2001:db8::1",
    ] {
        assert_eq!(
            geo.locate(ip(address)).message.as_deref(),
            Some("reserved range"),
            "{address}"
        );
    }
}

#[test]
fn a_database_set_without_ipv4_warns_at_start_and_explains_each_ipv4_miss() {
    let dir = temp_dir("one-family");
    let mut v6 = Writer::new("city", "", 6);
    v6.insert(ip("2001:4860::"), 32, &flat("US", "Mountain View"));
    let v6_path = write_db(&dir, "dbip-city-ipv6", &v6);
    let mut v4 = Writer::new("city", "", 4);
    v4.insert(ip("8.8.8.0"), 24, &flat("US", "Mountain View"));
    let v4_path = write_db(&dir, "dbip-city-ipv4", &v4);

    let only_v6 = MmdbGeolocator::open(&v6_path).unwrap();
    assert_eq!(only_v6.warnings().len(), 1, "{:?}", only_v6.warnings());
    assert!(only_v6.warnings()[0].contains("no City database for IPv4 addresses"));
    assert!(only_v6
        .name()
        .contains("; warning: no City database for IPv4 addresses"));
    let miss = only_v6.locate(ip("8.8.8.8"));
    let message = miss.message.unwrap();
    assert!(
        message.starts_with("not in database: no City database for IPv4"),
        "{message}"
    );
    assert!(message.contains("--geo-db PATH"), "{message}");
    assert!(only_v6.locate(ip("2001:4860::1")).is_success());

    let only_v4 = MmdbGeolocator::open(&v4_path).unwrap();
    assert!(only_v4.warnings()[0].contains("no City database for IPv6 addresses"));
    let both = MmdbGeolocator::open_all(&[v4_path, v6_path.clone()], None).unwrap();
    assert!(both.warnings().is_empty(), "{:?}", both.warnings());
    let miss = both.locate(ip("9.9.9.9"));
    assert_eq!(
        miss.source.as_deref(),
        Some("dbip-city-ipv4"),
        "only the IPv4 file was asked"
    );
    assert!(miss
        .message
        .unwrap()
        .starts_with("not in database: dbip-city-ipv4 has no record"));

    // The router says it at start-up, before the first client.
    let mut router = Command::new(example("router"))
        .args([
            "--port",
            "0",
            "--server-port",
            "0",
            "--public-ip",
            "1.2.3.4",
            "--no-log",
        ])
        .arg("--geo-db")
        .arg(&v6_path)
        .env_remove(GEO_DB_ENV)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut start = Vec::new();
    for line in BufReader::new(router.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("press Ctrl-C");
        start.push(line);
        if done {
            break;
        }
    }
    router.kill().unwrap();
    router.wait().unwrap();
    let source = start
        .iter()
        .find(|l| l.starts_with("servers: geolocation source: "))
        .unwrap();
    assert!(
        source.contains("warning: no City database for IPv4 addresses"),
        "{start:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_source_names_a_country_the_way_ip_api_does() {
    let dir = temp_dir("country-names");
    let mut flat_db = Writer::new("city", "", 4);
    flat_db.insert(ip("5.0.0.0"), 16, &flat("RU", "Moscow"));
    flat_db.insert(ip("5.1.0.0"), 16, &flat("NL", "Amsterdam"));
    flat_db.insert(ip("5.2.0.0"), 16, &flat("CI", "Abidjan"));
    let mut geoip2 = Writer::new("GeoLite2-City", "", 6);
    let country = |code: &str, name: &str| {
        Db::map([
            ("iso_code", Db::str(code)),
            ("names", Db::map([("en", Db::str(name))])),
        ])
    };
    let record = |code: &str, name: &str| {
        Db::map([
            ("country", country(code, name)),
            (
                "city",
                Db::map([("names", Db::map([("en", Db::str("X"))]))]),
            ),
        ])
    };
    geoip2.insert(ip("5.0.0.0"), 16, &record("RU", "Russian Federation"));
    geoip2.insert(ip("5.1.0.0"), 16, &record("NL", "Netherlands"));
    geoip2.insert(ip("5.2.0.0"), 16, &record("CI", "Côte d'Ivoire"));
    geoip2.insert(ip("5.3.0.0"), 16, &record("ZZ", "Nowhere Land"));
    let flat_geo = MmdbGeolocator::open(&write_db(&dir, "flat", &flat_db)).unwrap();
    let geoip2_geo = MmdbGeolocator::open(&write_db(&dir, "geoip2", &geoip2)).unwrap();
    for (address, name) in [
        ("5.0.0.1", "Russia"),
        ("5.1.0.1", "The Netherlands"),
        ("5.2.0.1", "Ivory Coast"),
    ] {
        for geo in [&flat_geo, &geoip2_geo] {
            assert_eq!(
                geo.locate(ip(address)).location.unwrap().country,
                name,
                "{}",
                geo.name()
            );
        }
    }
    // A code the table does not know keeps the database's own name.
    assert_eq!(
        geoip2_geo.locate(ip("5.3.0.1")).location.unwrap().country,
        "Nowhere Land"
    );
    // The bundled database too: 77.88.8.8 (Yandex) is in Russia.
    let bundled = MmdbGeolocator::bundled().unwrap().locate(ip("77.88.8.8"));
    assert_eq!(bundled.location.unwrap().country, "Russia");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_autonomous_system_is_kept_when_the_city_is_not_known() {
    let dir = temp_dir("asn-only");
    let mut city = Writer::new("GeoLite2-City", "", 6);
    let us = Db::map([("iso_code", Db::str("US"))]);
    city.insert(
        ip("8.8.8.0"),
        24,
        &Db::map([
            ("country", us.clone()),
            (
                "city",
                Db::map([("names", Db::map([("en", Db::str("Mountain View"))]))]),
            ),
        ]),
    );
    // GeoLite2 has records without `country` (anycast, satellite): the registered country.
    city.insert(
        ip("1.1.1.0"),
        24,
        &Db::map([
            ("registered_country", Db::map([("iso_code", Db::str("AU"))])),
            ("location", Db::map([("accuracy_radius", Db::U16(1000))])),
        ]),
    );
    let mut asn = Writer::new("GeoLite2-ASN", "", 6);
    let google = Db::map([
        ("autonomous_system_number", Db::U32(15169)),
        ("autonomous_system_organization", Db::str("Google LLC")),
    ]);
    asn.insert(ip("8.8.0.0"), 16, &google);
    let city_path = write_db(&dir, "test-city", &city);
    let asn_path = write_db(&dir, "test-asn", &asn);
    let geo = MmdbGeolocator::open_all(&[city_path], Some(&asn_path)).unwrap();

    let both = geo.locate(ip("8.8.8.8"));
    assert_eq!(both.source.as_deref(), Some("test-city"));
    let both = both.location.unwrap();
    assert_eq!(
        (both.city.as_str(), both.asn.as_str()),
        ("Mountain View", "AS15169 Google LLC")
    );

    let asn_only = geo.locate(ip("8.8.4.4"));
    assert!(asn_only.is_success(), "{asn_only:?}");
    assert_eq!(asn_only.source.as_deref(), Some("test-asn"));
    let fields = asn_only.location.unwrap();
    assert_eq!(
        (fields.isp.as_str(), fields.org.as_str()),
        ("Google LLC", "Google LLC")
    );
    assert_eq!(fields.asn, "AS15169 Google LLC");
    assert_eq!((fields.country.as_str(), fields.city.as_str()), ("", ""));

    let registered = geo.locate(ip("1.1.1.1")).location.unwrap();
    assert_eq!(
        (
            registered.country_code.as_str(),
            registered.country.as_str()
        ),
        ("AU", "Australia")
    );

    let neither = geo.locate(ip("9.9.9.9"));
    assert_eq!(neither.status, "fail");
    assert_eq!(neither.source.as_deref(), Some("test-city"));
    std::fs::remove_dir_all(dir).unwrap();
}
