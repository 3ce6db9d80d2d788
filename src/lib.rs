//! # geotracker
//!
//! A Rust teaching port of a student project: a multi-client, multi-server IP geolocation
//! system. Clients ask a **router**; the router holds a counting semaphore over four **server
//! slots**, gives each client the first free one, records the client in its **IP table** and
//! relays the server's answer. Each server maps its caller to a public address (**static NAT**),
//! geolocates it and answers with ip-api.com's fields. On Ctrl-C both print their IP tables and
//! append them to a JSON log.
//!
//! Everything uses blocking I/O and one OS thread per connection, as the original did, so the
//! program can be read top to bottom and stepped through in a debugger.
//!
//! ## Where each idea lives
//! | idea | module |
//! |---|---|
//! | one thread per connection | [`accept`] |
//! | counting semaphore over the slots (Mutex + Condvar, FIFO, RAII permit) | [`semaphore`] |
//! | the router: slot, table, forward, relay | [`router`] |
//! | the server: NAT, locate, answer | [`server`] |
//! | static NAT and the pool of public addresses | [`nat`] |
//! | the router's IP table, printing tables | [`iptable`] |
//! | which servers are up; back-off of a failed one | [`health`] |
//! | the JSON log (`sample.json` format, atomic write) | [`iplog`] |
//! | Ctrl-C: signal flag, waking threads, draining | [`shutdown`] |
//! | the semaphore's timeline (`--trace`) | [`trace`] |
//! | the wire protocol | [`protocol`] |
//! | ip-api.com's reply shape | [`reply`] |
//! | geolocation: offline databases, ip-api.com, and `auto` (one, else the other) | [`geo`] |
//! | the public address the NAT pool starts from | [`public_ip`] |
//! | the client | [`client`] |
//! | the client's load mode: requests/s and latency | [`load`] |
//! | command lines of the examples | [`cli`] |
//! | printing that never panics (stdout may be gone) | [`console`] |
//!
//! ## The simplest use
//! ```
//! use geotracker::geo::{mmdb::MmdbGeolocator, Geolocator};
//! let geo = MmdbGeolocator::bundled().expect("the bundled database opens");
//! let reply = geo.locate("8.8.8.8".parse().unwrap());
//! assert_eq!(reply.location.unwrap().country_code, "US");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accept;
pub mod cli;
pub mod client;
pub mod console;
pub mod geo;
pub mod health;
pub mod iplog;
pub mod iptable;
pub mod load;
pub mod nat;
pub mod protocol;
pub mod public_ip;
pub mod reply;
pub mod router;
pub mod semaphore;
pub mod server;
pub mod shutdown;
pub mod trace;
