//! `cargo run --example router`: the router on port 9020 with four in-process servers on
//! 127.0.0.1:12347..12350, so this one command runs the whole system. See `geotracker::router`.
use geotracker::cli::{self, RouterOptions, ROUTER_USAGE};

fn main() -> std::process::ExitCode {
    let options = cli::parse_or_exit(RouterOptions::parse, ROUTER_USAGE);
    cli::run_router(options)
}
