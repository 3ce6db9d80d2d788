//! `cargo run --example client -- [IP]`: asks the router where you are (or where IP is) and
//! prints the labels of the original's window. `--clients N` and `--load` run many clients at
//! once (src/extras/load.rs); `--web` serves the window as a web page (src/extras/web.rs);
//! `--help` lists the flags.
//!
//! Exit code: 0 when the address was located (or the page was stopped), 1 when the answer is a
//! failure or no answer came, 2 for a bad command line.
use geotracker::{args, client, load, web};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args::asks_for_help(&args) {
        println!("{}", args::CLIENT_USAGE);
        return ExitCode::SUCCESS;
    }
    // 1. The command line.
    let config = match args::client(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n{}", args::CLIENT_USAGE);
            return ExitCode::from(2);
        }
    };
    // Beyond the original: many clients at once, or a measurement.
    if config.clients > 1 || config.load.is_some() {
        return ExitCode::from(load::from_command_line(&config));
    }
    // Beyond the original: its window as a web page, until Ctrl-C.
    if config.web.is_some() {
        return ExitCode::from(web::from_command_line(&config));
    }
    // 2. The original's button: ask once (src/client.rs) ...
    let told_place = |position| {
        if !config.json {
            println!("All servers are busy: you are number {position} in the queue...");
        }
    };
    let answer = match client::ask(config.router, config.request, config.timeout, told_place) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::FAILURE;
        }
    };
    // 3. ... and show the answer.
    match config.json {
        true => println!("{}", answer.raw),
        false => print!("{}", client::details(&answer)),
    }
    if answer.reply.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
