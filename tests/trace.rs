//! `--trace`: the semaphore's timeline, as the report's figure draws it, read back and checked
//! against what the semaphore promises.

mod common;

use common::System;
use geotracker::Request;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

#[test]
fn the_trace_shows_four_slots_busy_and_the_others_waiting_in_order() {
    let dir = common::temp_dir("trace");
    let path = dir.join("trace.jsonl");
    let trace_path = path.clone();
    let system = Arc::new(System::start_with(move |c| {
        c.hold = Duration::from_millis(500);
        c.trace = Some(trace_path);
    }));
    let clients: Vec<_> = (0..10)
        .map(|_| {
            let system = Arc::clone(&system);
            thread::spawn(move || system.ask(Request::MyLocation))
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap().reply.is_success());
    }
    let system = Arc::try_unwrap(system).ok().expect("the clients are done");
    system.stop();

    let events: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |step: &str| events.iter().filter(|e| e["step"] == step).count();
    assert_eq!((count("granted"), count("released")), (10, 10));
    assert_eq!(
        count("queued"),
        6,
        "four clients got a slot at once, six waited"
    );

    // Replay the timeline: never more than four slots held, never one slot held twice, and each
    // client given a slot after it queued. (A grant is recorded by its thread just after the
    // semaphore made it, so two grants a moment apart may be recorded in either order; the
    // FIFO order is checked on the turns below.)
    let mut held: HashMap<u64, String> = HashMap::new();
    let mut queued_at: HashMap<String, (f64, u64)> = HashMap::new();
    let mut place_and_turn = Vec::new();
    for e in &events {
        let client = e["client"].as_str().unwrap().to_string();
        match e["step"].as_str().unwrap() {
            "queued" => {
                let place = e["place"].as_u64().unwrap();
                queued_at.insert(client, (e["t_ms"].as_f64().unwrap(), place));
            }
            "granted" => {
                let slot = e["slot"].as_u64().unwrap();
                assert!(
                    held.insert(slot, client.clone()).is_none(),
                    "slot {slot} held twice"
                );
                assert!(held.len() <= 4);
                if let Some((t, place)) = queued_at.get(&client) {
                    assert!(e["t_ms"].as_f64().unwrap() >= *t, "granted before queued");
                    place_and_turn.push((*place, e["turn"].as_u64().unwrap()));
                }
            }
            "released" => {
                let slot = e["slot"].as_u64().unwrap();
                assert_eq!(held.remove(&slot), Some(client), "released by its holder");
            }
            other => panic!("unknown step {other}"),
        }
    }
    assert!(held.is_empty());
    // First come, first served: by place in the queue, the turns only go up.
    place_and_turn.sort_unstable();
    assert_eq!(place_and_turn.len(), 6);
    assert!(
        place_and_turn.windows(2).all(|w| w[0].1 < w[1].1),
        "{place_and_turn:?}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
