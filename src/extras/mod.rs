//! Everything beyond the original, one file per feature. A student can skip this folder and
//! still follow a request and a Ctrl-C from end to end: the core (the top-level `src/*.rs`)
//! enters it only by the calls below, each made on a line marked "beyond the original" where
//! it is not plain from its name. A production reader finds every hardening step here.
//!
//! Two of them are everywhere, and say so: printing (`output.rs`: every line a router or
//! server prints goes through it, so that `--quiet` and silent tests work) and the limits
//! (`limits.rs`: every socket has timeouts; the accept loop has caps).
//!
//! The "entered from" column lists every call the core makes into each file, as it is written
//! there; `tests/layout.rs` checks it against the code, so that a call added without a word
//! here fails `cargo test`. (What such a call returns, such as the queue's place, is used on
//! the spot.)
//!
//! | file | what it adds | entered from |
//! |---|---|---|
//! | `config.rs` | the configurations (what the command line says), the log's check at start-up, reports and exit codes | `router.rs`: `config.fit_to_descriptors`, `config.log_path`, `config::ready_log`; `server.rs`: `config.fit_to_descriptors`, `config.log_path`, `config::ready_log`, `config::server_label` |
//! | `queue.rs` | first come, first served: a queue in front of the semaphore; each client told its place; `--queue-timeout` | `router.rs`: `Queue::new`, `queue.join` (then, on the place it gives: its position, and *wait_for_slot*, which calls `Semaphore::acquire_before`) |
//! | `failover.rs` | a failed server's slot out of service for a back-off, the client sent to another slot | `router.rs`: `Failover::new`, `failover.ask_until_answered` |
//! | `limits.rs` | timeouts and caps ([`Limits`]); "busy" past `--max-clients` or `--max-per-source`; the listen backlog answered at a stop; the descriptor limit | everywhere a socket is set up, and the accept loop: `accept.rs`: `Admissions::new`, `admissions.admit`, `limits::after_accept_error`, `limits::answer_at_stop`; `router.rs`: `limits.apply_write_timeout`; `server.rs`: `limits.apply_write_timeout` |
//! | `deadline.rs` | a deadline for a whole line, so a peer sending a byte a second cannot hold a thread | `protocol.rs`: `deadline::Reader::new` (in `LineReader::until`, which every read of a line uses) |
//! | `table_limit.rs` | a full IP table written to the log as a run of its own (`--table-limit`) | `router.rs`: `table_limit::spill_if_full`; `server.rs`: `table_limit::spill_if_full` |
//! | `trace.rs` | the semaphore's timeline (`--trace`) | `router.rs`: `Trace::new`, `trace.record`, `trace.write` |
//! | `output.rs` | `--quiet`, silent tests, and printing that never panics when the output is gone | everywhere something is printed: `accept.rs`: `out.warn`; `router.rs`: `out.notice`, `out.progress`; `server.rs`: `out.notice`, `out.progress`; `signal.rs`: `out.notice`, `out.warn`, `print_line` |
//! | `python_json.rs` | JSON written byte for byte as Python's `json.dump` writes it | `iplog.rs`: `python_json::to_vec` |
//! | `local_servers.rs` | the four servers that `cargo run --example router` starts in-process | `router.rs`: `LocalServers::start_if_asked`, `local_servers.stop` |
//! | `load.rs` | the client's `--clients N` and `--load` modes | `examples/client.rs` |
//! | `web.rs` (and `web/`: the page, its style, script and icon) | the client's `--web`: the original's window as a web page, served by a thread per connection | `examples/client.rs` |
//! | `args.rs` | the command lines of the three examples | `examples/client.rs`, `examples/router.rs`, `examples/server.rs` |
//! | `sync.rs` | `std::sync` normally, loom's model of it for `tests/loom.rs` | the `use` lines of `semaphore.rs`, `signal.rs`, `iptable.rs` (and of `queue.rs` here) |
//!
//! The public address of a server is found in `geo/public_ip.rs`.

pub mod args;
pub(crate) mod config;
pub(crate) mod deadline;
pub(crate) mod failover;
pub(crate) mod limits;
pub mod load;
pub(crate) mod local_servers;
pub(crate) mod output;
pub(crate) mod python_json;
pub mod queue;
pub(crate) mod sync;
pub(crate) mod table_limit;
pub(crate) mod trace;
pub mod web;
