//! The whole system over real TCP on 127.0.0.1: a router, four servers, many clients.

mod common;

use common::{fake_server, start_router, System};
use geotracker::geo::{BUNDLED_ASN_DB, BUNDLED_DB};
use geotracker::Request;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What an independent reader (maxminddb's generic decoding, no code of ours) says of `ip` in
/// the bundled database `db`.
fn independent(db: &'static [u8], ip: IpAddr) -> Value {
    let reader = maxminddb::Reader::from_source(db).expect("bundled db");
    reader
        .lookup(ip)
        .expect("lookup")
        .decode::<Value>()
        .expect("decode")
        .expect("the bundled database covers this address")
}

#[test]
fn a_dozen_concurrent_clients_get_answers_that_match_the_database() {
    let system = Arc::new(System::start(Duration::ZERO));
    let lookups: Vec<Request> = [
        "8.8.8.8",
        "1.1.1.1",
        "9.9.9.9",
        "208.67.222.222",
        "13.68.207.73",
        "52.186.143.155",
        "40.88.6.7",
        "2001:4860:4860::8888",
    ]
    .iter()
    .map(|ip| Request::Lookup(ip.parse().unwrap()))
    .chain(std::iter::repeat_n(Request::MyLocation, 4))
    .collect();
    assert_eq!(lookups.len(), 12);

    let clients: Vec<_> = lookups
        .iter()
        .map(|&request| {
            let system = Arc::clone(&system);
            thread::spawn(move || (request, system.ask(request)))
        })
        .collect();
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();

    let mut my_addresses = BTreeSet::new();
    for (request, answer) in &answers {
        let r = &answer.reply;
        assert_eq!(r.status, "success", "{request:?}: {}", answer.raw);
        let query: IpAddr = r.query.parse().expect("query is an address");
        match request {
            Request::Lookup(ip) => assert_eq!(query, *ip),
            Request::MyLocation => {
                my_addresses.insert(query);
            }
        }
        let expected = independent(BUNDLED_DB, query);
        let loc = r.location.as_ref().unwrap();
        assert_eq!(loc.country_code, expected["country"]["iso_code"], "{query}");
        assert_eq!(loc.country, expected["country"]["names"]["en"], "{query}");
        assert_eq!(loc.city, expected["city"]["names"]["en"], "{query}");
        assert_eq!(
            loc.region_name, expected["subdivisions"][0]["names"]["en"],
            "{query}"
        );
        assert_eq!(
            loc.lat,
            expected["location"]["latitude"].as_f64(),
            "{query}"
        );
        assert_eq!(
            loc.lon,
            expected["location"]["longitude"].as_f64(),
            "{query}"
        );
        let expected_asn = independent(BUNDLED_ASN_DB, query);
        let asn = expected_asn["autonomous_system_number"].as_u64().unwrap();
        let org = expected_asn["autonomous_system_organization"]
            .as_str()
            .unwrap();
        assert_eq!(loc.asn, format!("AS{asn} {org}"), "{query}");
        assert_eq!(loc.isp, org);
        // The router says who served the client.
        let served = r.router.as_ref().expect("router info");
        assert!(served.slot < 4);
        assert_eq!(served.server, system.server_addrs[served.slot].to_string());
    }
    // "Where am I?" is answered through the NAT pool of the server that took the request; each
    // server's pool starts at the same base, so the addresses lie in the base's /24.
    assert!(!my_addresses.is_empty());
    for ip in &my_addresses {
        assert!(ip.to_string().starts_with("117.222.175."), "{ip}");
    }

    let system = Arc::into_inner(system).expect("all clients are done");
    let server_addrs = system.server_addrs.clone();
    let (router, servers) = system.stop();
    assert_eq!(
        router.table.len(),
        12,
        "every client is in the router's table"
    );
    let server_rows: usize = servers.iter().map(|s| s.table.len()).sum();
    assert_eq!(
        server_rows, 12,
        "every forwarded request is in a server's table"
    );
    // Each router row names one of the four servers, and each server got as many requests as
    // the router's table says it forwarded to it.
    for (addr, report) in server_addrs.iter().zip(&servers) {
        let forwarded = router
            .table
            .iter()
            .filter(|row| row.server == *addr)
            .count();
        assert_eq!(forwarded, report.table.len(), "server {addr}");
    }
}

#[test]
fn an_invalid_query_is_refused_without_taking_a_slot() {
    let system = System::start(Duration::ZERO);
    for bad in ["999.1.1.1", "8.8.8.8:53", "hello"] {
        let mut stream = std::net::TcpStream::connect(system.router_addr).unwrap();
        stream.write_all(format!("{bad}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        std::io::Read::read_to_string(&mut stream, &mut reply).unwrap();
        assert_eq!(
            reply,
            format!("{{\"status\":\"fail\",\"message\":\"invalid query\",\"query\":\"{bad}\"}}\n")
        );
    }
    let private = system.ask(Request::Lookup("192.168.1.200".parse().unwrap()));
    assert_eq!(private.reply.message.as_deref(), Some("private range"));
    let (router, _) = system.stop();
    assert_eq!(router.table.len(), 1, "only the valid request took a slot");
}

/// Defect of the original: its client read one `recv(1024)`, so a longer reply was cut.
#[test]
fn a_reply_longer_than_1024_bytes_arrives_whole() {
    let org = "A very long organisation name ".repeat(100);
    let body = serde_json::json!({"status": "success", "org": org, "query": "8.8.8.8"}).to_string();
    assert!(body.len() > 3000);
    let server = fake_server(move |mut stream, _line| {
        // Sent in small pieces, as a slow network would deliver it.
        for chunk in format!("{body}\n").as_bytes().chunks(500) {
            stream.write_all(chunk).unwrap();
            stream.flush().unwrap();
        }
    });
    let (router, shutdown) = start_router(vec![server], Duration::ZERO);
    let answer = common::ask(router.addr, Request::Lookup("8.8.8.8".parse().unwrap()));
    assert!(answer.raw.len() > 3000);
    assert_eq!(answer.reply.location.unwrap().org, org);
    shutdown.request();
    router.join().unwrap();
}
