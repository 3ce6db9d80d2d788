//! The client's load mode against a real system (short runs: it measures nothing here, it is
//! checked to count correctly).

mod common;

use common::{start_router_with, System, CLIENT_TIMEOUT};
use geotracker::load::{self, LoadConfig};
use geotracker::Request;
use std::time::Duration;

fn config(router: std::net::SocketAddr, clients: usize) -> LoadConfig {
    LoadConfig {
        router,
        clients,
        duration: Duration::from_millis(500),
        request: Request::MyLocation,
        timeout: CLIENT_TIMEOUT,
    }
}

#[test]
fn the_load_mode_counts_answers_slots_and_queueing() {
    let system = System::start(Duration::ZERO);
    let report = load::run(&config(system.router_addr, 8)).unwrap();
    let answers = report.latencies.len();
    assert!(answers > 0);
    assert_eq!(report.error_count(), 0, "{:?}", report.errors);
    assert_eq!(report.by_slot.values().sum::<usize>(), answers);
    assert!(report.by_slot.keys().all(|slot| *slot < 4));
    assert!(report.queued <= answers);
    assert!(report.percentile(0.5) <= report.percentile(0.99));
    assert!(report.latencies.windows(2).all(|w| w[0] <= w[1]), "sorted");
    let text = report.to_string();
    assert!(text.starts_with("8 clients, "), "{text}");
    assert!(text.contains(&format!("{answers} answers")), "{text}");
    let (router_report, _) = system.stop();
    assert_eq!(
        router_report.table.len(),
        answers,
        "every answer is one table row"
    );
}

#[test]
fn the_load_mode_counts_refusals_as_errors_by_kind() {
    let dead = std::net::TcpListener::bind(common::any_port())
        .unwrap()
        .local_addr()
        .unwrap();
    let (router, shutdown) = start_router_with(vec![dead], |_| {});
    let report = load::run(&config(router.addr, 2)).unwrap();
    assert!(report.latencies.is_empty());
    assert!(
        report.errors["no server reachable"] > 0,
        "{:?}",
        report.errors
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    shutdown.request();
    router.join().unwrap();
}
