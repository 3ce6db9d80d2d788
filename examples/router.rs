//! `cargo run --example router`: the router on port 9020, with four servers started in the
//! same process on 127.0.0.1:12347..12350, so that this one command runs the whole system.
//! `--servers A:P,B:P,C:P,D:P` uses servers started elsewhere instead; `--help` lists the flags.
//!
//! Exit code: 0 when every IP table was written, 1 when a log could not be written, 2 for a
//! bad command line or a router that cannot start, 130 after a second Ctrl-C.
use geotracker::args;
use geotracker::{Router, Shutdown};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args::asks_for_help(&args) {
        println!("{}", args::ROUTER_USAGE);
        return ExitCode::SUCCESS;
    }
    // 1. The command line, as the router's configuration.
    let config = match args::router(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n{}", args::ROUTER_USAGE);
            return ExitCode::from(2);
        }
    };
    // 2. Ctrl-C (and SIGTERM) will stop it: src/signal.rs.
    let shutdown = match Shutdown::on_ctrl_c() {
        Ok(shutdown) => shutdown,
        Err(e) => {
            eprintln!("error: cannot watch for Ctrl-C: {e}");
            return ExitCode::from(2);
        }
    };
    // 3. Bind the socket (and start the in-process servers): src/router.rs.
    let router = match Router::bind(config, shutdown) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // 4. Serve until Ctrl-C, then write the IP tables.
    let report = router.run();
    ExitCode::from(report.exit_code())
}
