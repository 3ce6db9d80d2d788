//! `cargo run --example server -- [--port 12347] ...`: one geolocation server (one of the
//! original's four VMs). See `geotracker::server`.
use geotracker::cli::{self, ServerOptions, SERVER_USAGE};

fn main() -> std::process::ExitCode {
    let options = cli::parse_or_exit(ServerOptions::parse, SERVER_USAGE);
    cli::run_server(options)
}
