//! `cargo run --example client`: asks the router where you are and prints the labels of the
//! original's window. See `geotracker::client`.
use geotracker::cli::{self, ClientOptions, CLIENT_USAGE};

fn main() -> std::process::ExitCode {
    let options = cli::parse_or_exit(ClientOptions::parse, CLIENT_USAGE);
    cli::run_client(options)
}
