//! `cargo run --example server -- [--port 12347] ...`: one geolocation server, one of the
//! original's four VMs. `--help` lists the flags.
//!
//! Exit code: 0 when the IP table was written, 1 when the log could not be written, 2 for a bad
//! command line or a server that cannot start, 130 after a second Ctrl-C.
use geotracker::args;
use geotracker::{Server, Shutdown};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args::asks_for_help(&args) {
        println!("{}", args::SERVER_USAGE);
        return ExitCode::SUCCESS;
    }
    // 1. The command line, as the server's configuration.
    let config = match args::server(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n{}", args::SERVER_USAGE);
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
    // 3. Open the database, find the public address, bind the socket: src/server.rs.
    let server = match Server::bind(config, shutdown) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // 4. Serve until Ctrl-C, then write the IP table.
    let report = server.run();
    ExitCode::from(report.exit_code())
}
