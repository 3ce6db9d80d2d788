//! Everything beyond the original, one file per feature, each entered from the core by one
//! call whose name says what it adds. A student can skip this folder and still follow a
//! request from end to end; a production reader finds every hardening step here.
//!
//! | file | what it adds | entered from |
//! |---|---|---|
//! | `queue.rs` | first come, first served: a queue in front of the semaphore; each client told its place; `--queue-timeout` | `router.rs`: `queue.take_slot` |
//! | `failover.rs` | a failed server's slot out of service for a back-off, the client sent to another slot | `router.rs`: `failover.ask_until_answered` |
//! | `limits.rs` | timeouts and caps ([`Limits`]); "busy" past `--max-clients` or `--max-per-source`; the listen backlog answered at a stop | `accept.rs`: `limits::admit`, `limits::answer_at_stop`, `limits::after_accept_error` |
//! | `deadline.rs` | a deadline for a whole line, so a peer sending a byte a second cannot hold a thread | `protocol.rs`, `client.rs`, `router.rs`: `deadline::Reader::new` |
//! | `table_limit.rs` | a full IP table written to the log as a run of its own (`--table-limit`) | `router.rs`, `server.rs`: `table_limit::spill_if_full` |
//! | `trace.rs` | the semaphore's timeline (`--trace`) | `router.rs`: `trace.record` |
//! | `output.rs` | `--quiet`, silent tests, and printing that never panics when the output is gone | `out.progress`, `out.notice`, `out.warn` |
//! | `python_json.rs` | JSON written byte for byte as Python's `json.dump` writes it | `iplog.rs`: `python_json::to_vec` |
//! | `startup.rs` | configurations, binding, start-up lines, reports and exit codes | `Router::bind`, `Server::bind` |
//! | `local_servers.rs` | the four servers that `cargo run --example router` starts in-process | `startup.rs`: `local_servers::start` |
//! | `load.rs` | the client's `--clients N` and `--load` modes | `examples/client.rs` |
//! | `web.rs` (and `web/`: the page, its style, script and icon) | the client's `--web`: the original's window as a web page, served by a thread per connection | `examples/client.rs` |
//! | `args.rs` | the command lines of the three examples | `examples/` |
//! | `sync.rs` | `std::sync` normally, loom's model of it for `tests/loom.rs` | the `use` lines of `semaphore.rs`, `signal.rs`, `iptable.rs`, `queue.rs` |
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
