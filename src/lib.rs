//! # geotracker
//!
//! A Rust teaching port of a multi-client, multi-server IP geolocation system. Clients ask a
//! **router**, which holds a counting semaphore over four **server slots**, gives each client
//! the first free one, records it in its **IP table** and relays the answer. Each **server**
//! maps its caller to a public address (**NAT**), geolocates it and answers with ip-api.com's
//! fields. On Ctrl-C both print their IP tables and append them to a JSON log. Blocking I/O and
//! one OS thread per connection, as in the original.
//!
//! **Reading order.** A request: `client.rs` → `accept.rs` → `router.rs` (`RouterState::serve`,
//! the original's `threaded()` step by step, with `protocol.rs`, `semaphore.rs`, `iptable.rs`)
//! → `server.rs` (with `nat.rs`, `geo/`) → `reply.rs`. Ctrl-C: `signal.rs`, then `iplog.rs`.
//! What goes beyond the original is in `extras/`, entered from these files only by the calls
//! that `extras/mod.rs` lists.
//!
//! ```
//! use geotracker::geo::{Geolocator, MmdbGeolocator};
//! let reply = MmdbGeolocator::bundled().unwrap().locate([8, 8, 8, 8].into());
//! assert_eq!(reply.location.unwrap().country_code, "US");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod accept;
pub mod client;
mod extras;
pub mod geo;
mod iplog;
mod iptable;
mod nat;
mod protocol;
mod reply;
mod router;
mod semaphore;
mod server;
mod signal;

pub use extras::config::{default_log_name, LogFile, RouterConfig, RouterReport, Servers};
pub use extras::config::{ServerConfig, ServerReport, StartError, ROUTER_PORT, SERVER_PORT};
pub use extras::limits::Limits;
pub use extras::output::Output;
pub use extras::queue::{Joined, Place, Queue};
pub use extras::{args, load, web};
pub use iplog::{append_run, Appended};
pub use iptable::{IpTable, RouterEntry};
pub use nat::{is_inside, next_in_pool, NatEntry, NatTable};
pub use protocol::{LineReader, QueuedNotice, Request, MAX_REPLY_LINE, MAX_REQUEST_LINE};
pub use reply::{Location, Reply, Served};
pub use router::Router;
pub use semaphore::{Permit, Semaphore};
pub use server::Server;
pub use signal::{InFlight, Shutdown, HURRIED_EXIT_CODE};
