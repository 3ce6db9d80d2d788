//! What `report/scripts/bench.sh` measures geotracker against: the floor, and a load
//! generator for systems that do not answer in JSON.
//!
//! **The floor** is a bare relay with geotracker's shape and nothing else. The relay gives each
//! accepted connection a thread, reads one line, connects to the next of four servers in turn
//! (a new connection per request, as the router makes), forwards the line and copies the answer
//! back. Each server gives each connection a thread, reads the line and writes a fixed answer
//! of geotracker's size, with the `router` field already in it, so that the client's `--load`
//! counts it as an answer from a slot. No semaphore, queue, IP table, NAT, lookup, log or
//! timeout: what geotracker does on top of this is what it costs, and the floor's answers per
//! second are what thread-per-connection reaches on the machine.
//!
//! **The raw load** is the client's `--load` loop (connect, send, wait for the answer, again)
//! for answers that are not geotracker's JSON: it sends fixed bytes, reads to the end and counts
//! an answer that contains `success`. `bench.sh` uses it only for the optional comparison with
//! the Python original, whose router answers a Python `dict`'s text.
//!
//! They live here, not in `src/` or `examples/`, because they are yardsticks, not part of the
//! program: a test binary needs no entry in `Cargo.toml`, and the two tests below keep them
//! honest. `bench.sh` runs the ignored ones:
//!
//! ```text
//! GEOTRACKER_FLOOR_PORT=0 cargo test --release --test yardsticks -- --ignored --nocapture floor
//! GEOTRACKER_RAW_LOAD=127.0.0.1:9020 GEOTRACKER_RAW_CLIENTS=16 GEOTRACKER_RAW_SECS=5 \
//!   GEOTRACKER_RAW_SEND='\n' cargo test --release --test yardsticks -- --ignored --nocapture raw
//! ```

use geotracker::load::{self, LoadConfig, LoadReport};
use geotracker::Request;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The answer geotracker gives for 117.222.175.180, with a `router` field for slot `slot`.
fn answer(slot: usize, server: SocketAddr) -> String {
    format!(
        "{{\"status\":\"success\",\"country\":\"India\",\"countryCode\":\"IN\",\"region\":\"\",\
         \"regionName\":\"Karnataka\",\"city\":\"Bengaluru\",\"zip\":\"\",\"lat\":12.9716,\
         \"lon\":77.5946,\"timezone\":\"\",\"isp\":\"Bharat Sanchar Nigam Ltd\",\
         \"org\":\"Bharat Sanchar Nigam Ltd\",\"as\":\"AS9829 Bharat Sanchar Nigam Ltd\",\
         \"query\":\"117.222.175.180\",\"source\":\"dbip-lite-sample\",\"router\":{{\"slot\":{slot},\
         \"server\":\"{server}\",\"queue_position\":0,\"waited_ms\":0,\"turn\":0}}}}\n"
    )
}

/// Reads one line (up to and with its newline).
fn read_line(stream: &TcpStream) -> io::Result<String> {
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line)
}

/// Starts the floor's four servers and its relay on `relay` (port 0: any free port); returns
/// the relay's address. The threads serve until the process ends.
fn start_floor(relay: SocketAddr) -> io::Result<SocketAddr> {
    let mut servers = Vec::new();
    for slot in 0..4 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let reply = answer(slot, addr);
        servers.push(addr);
        // A server's accept loop: a thread per caller, as geotracker's servers have.
        thread::Builder::new()
            .name(format!("floor-server-{slot}"))
            .spawn(move || {
                for mut caller in listener.incoming().flatten() {
                    let reply = reply.clone();
                    // One caller: read its line, write the fixed answer, close. (Unnamed: naming
                    // a thread costs a system call, which the floor leaves out.)
                    thread::spawn(move || {
                        if read_line(&caller).is_ok() {
                            let _ = caller.write_all(reply.as_bytes());
                        }
                    });
                }
            })?;
    }
    let listener = TcpListener::bind(relay)?;
    let addr = listener.local_addr()?;
    // The relay's accept loop: a thread per client, each sent to the next server in turn.
    thread::Builder::new()
        .name("floor-relay".into())
        .spawn(move || {
            for (n, mut client) in listener.incoming().flatten().enumerate() {
                let server = servers[n % servers.len()];
                // One client: forward its line to a server and copy the answer back.
                thread::spawn(move || {
                    let Ok(line) = read_line(&client) else { return };
                    let Ok(mut upstream) = TcpStream::connect(server) else {
                        return;
                    };
                    let mut answer = Vec::new();
                    if upstream.write_all(line.as_bytes()).is_ok()
                        && upstream.read_to_end(&mut answer).is_ok()
                    {
                        let _ = client.write_all(&answer);
                    }
                });
            }
        })?;
    Ok(addr)
}

/// One raw exchange: connect, send `send`, read to the end; the answer, or why there is none.
fn ask_raw(addr: SocketAddr, send: &[u8]) -> Result<(), String> {
    let timeout = Duration::from_secs(30);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|_| "cannot reach")?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream.write_all(send).map_err(|_| "cannot send")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|_| "no answer")?;
    match String::from_utf8_lossy(&answer).contains("success") {
        true => Ok(()),
        false => Err("not an answer".to_string()),
    }
}

/// `clients` threads each ask `addr` in a loop for `duration`: the client's `--load`, raw.
fn raw_load(addr: SocketAddr, clients: usize, duration: Duration, send: &[u8]) -> LoadReport {
    let (done, tallies) = mpsc::channel();
    let began = Instant::now();
    let deadline = began + duration;
    for n in 0..clients {
        let (done, send) = (done.clone(), send.to_vec());
        // One client asking in a loop until the deadline; sends back what it saw.
        thread::Builder::new()
            .name(format!("raw-load-{n}"))
            .spawn(move || {
                let (mut latencies, mut errors) = (Vec::new(), Vec::new());
                while Instant::now() < deadline {
                    let asked = Instant::now();
                    match ask_raw(addr, &send) {
                        Ok(()) => latencies.push(asked.elapsed()),
                        Err(kind) => errors.push(kind),
                    }
                }
                let _ = done.send((latencies, errors));
            })
            .expect("a load thread starts");
    }
    drop(done);
    let mut report = LoadReport {
        clients,
        ..LoadReport::default()
    };
    for (latencies, errors) in tallies {
        report.latencies.extend(latencies);
        for kind in errors {
            *report.errors.entry(kind).or_insert(0) += 1;
        }
    }
    report.elapsed = began.elapsed();
    report.latencies.sort_unstable();
    report
}

/// The floor answers the way the client's `--load` counts: every answer through a slot, no
/// error, the four servers taken in turn.
#[test]
fn the_floor_relays_answers_that_the_load_mode_counts() {
    let floor = start_floor("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = LoadConfig {
        router: floor,
        clients: 4,
        duration: Duration::from_millis(200),
        request: Request::MyLocation,
        timeout: Duration::from_secs(30),
    };
    let report = load::run(&config).unwrap();
    assert_eq!(report.error_count(), 0, "{:?}", report.errors);
    let answers = report.latencies.len();
    assert!(answers >= 4, "{answers} answers");
    assert_eq!(report.by_slot.values().sum::<usize>(), answers);
    assert_eq!(
        report.by_slot.keys().copied().collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(report.queued, 0, "the floor has no queue");

    // The raw load counts the same answers, and a listener that answers nothing as errors.
    let raw = raw_load(floor, 2, Duration::from_millis(100), b"\n");
    assert!(
        !raw.latencies.is_empty() && raw.errors.is_empty(),
        "{:?}",
        raw.errors
    );
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    // Accepts and closes each connection at once: an "answer" without `success`.
    thread::spawn(move || silent.incoming().for_each(drop));
    let refused = raw_load(addr, 1, Duration::from_millis(50), b"");
    assert!(refused.latencies.is_empty() && refused.errors["not an answer"] > 0);
}

/// `report/scripts/bench.sh` runs this to serve the floor on `GEOTRACKER_FLOOR_PORT` until it
/// is killed.
#[test]
#[ignore = "serves until killed; run by report/scripts/bench.sh"]
fn floor() {
    let Ok(port) = std::env::var("GEOTRACKER_FLOOR_PORT") else {
        println!("skipped: set GEOTRACKER_FLOOR_PORT (0: any free port) to serve the floor");
        return;
    };
    let port: u16 = port
        .parse()
        .expect("GEOTRACKER_FLOOR_PORT is a port number");
    let addr = start_floor(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    println!("floor: listening on {addr}");
    loop {
        thread::park();
    }
}

/// `report/scripts/bench.sh` runs this to measure a system that does not answer in JSON:
/// `GEOTRACKER_RAW_LOAD` (its address), `GEOTRACKER_RAW_CLIENTS`, `GEOTRACKER_RAW_SECS`,
/// `GEOTRACKER_RAW_SEND` (the bytes each client sends; `\n` is a newline). Prints the report
/// in the client's `--load` format.
#[test]
#[ignore = "a measurement; run by report/scripts/bench.sh"]
fn raw() {
    let Ok(addr) = std::env::var("GEOTRACKER_RAW_LOAD") else {
        println!("skipped: set GEOTRACKER_RAW_LOAD=ADDR:PORT (and _CLIENTS, _SECS, _SEND)");
        return;
    };
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_string());
    let addr: SocketAddr = addr.parse().expect("GEOTRACKER_RAW_LOAD is ADDR:PORT");
    let clients: usize = var("GEOTRACKER_RAW_CLIENTS", "16")
        .parse()
        .expect("a number");
    let secs: f64 = var("GEOTRACKER_RAW_SECS", "5")
        .parse()
        .expect("a number of seconds");
    let send = var("GEOTRACKER_RAW_SEND", "").replace("\\n", "\n");
    println!(
        "{}",
        raw_load(
            addr,
            clients,
            Duration::from_secs_f64(secs),
            send.as_bytes()
        )
    );
}
