//! The four servers that `cargo run --example router` starts in its own process, so that one
//! command runs the whole system; the original ran them on four VMs, as `--servers` still
//! does. They share one geolocation source, and they stop after the router has served the
//! clients still in its queue, so that those are answered by running servers.

use crate::extras::config::{ServerConfig, ServerReport, Servers, StartError};
use crate::geo::public_ip;
use crate::server::Server;
use crate::signal::Shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// The in-process servers while they run; none with `--servers`.
pub(crate) struct LocalServers {
    /// Each server's accept loop, on a thread named `server-<port>`.
    handles: Vec<JoinHandle<ServerReport>>,
    /// Their shutdown: requested after the router's stop, hurried with the router's.
    shutdown: Arc<Shutdown>,
}

impl LocalServers {
    /// The addresses of the servers behind the router's slots: those of `--servers`, or those
    /// of four servers started now in this process when `servers` asks for them. The router's
    /// socket is bound before this, so a router that cannot listen starts (and leaves the logs
    /// of) no server.
    pub(crate) fn start_if_asked(
        servers: &Servers,
    ) -> Result<(Vec<SocketAddr>, LocalServers), StartError> {
        // Their own shutdown: the router's stop must not stop them before its queue is served.
        let shutdown = Shutdown::new();
        let bound = match servers {
            Servers::At(addrs) => {
                let none = LocalServers {
                    handles: Vec::new(),
                    shutdown,
                };
                return Ok((addrs.clone(), none));
            }
            Servers::InProcess { first_port, config } => bind_four(*first_port, config, &shutdown)?,
        };
        let mut addrs = Vec::new();
        let mut handles = Vec::new();
        for server in bound {
            let addr = server
                .local_addr()
                .map_err(|e| in_process(format!("server: {e}")))?;
            // The server's accept loop.
            let spawned = thread::Builder::new()
                .name(format!("server-{}", addr.port()))
                .spawn(move || server.run());
            let handle = spawned.map_err(|e| {
                shutdown.request();
                in_process(format!("server: cannot start its thread: {e}"))
            })?;
            addrs.push(addr);
            handles.push(handle);
        }
        Ok((addrs, LocalServers { handles, shutdown }))
    }

    /// Stops the servers once the router has stopped, and returns their reports. A server
    /// whose thread panicked wrote no log, and its report says so.
    pub(crate) fn stop(self, hurried: bool) -> Vec<ServerReport> {
        self.shutdown.request();
        if hurried {
            self.shutdown.hurry();
        }
        let report = |handle: JoinHandle<ServerReport>| {
            handle.join().unwrap_or_else(|_| ServerReport {
                table: Vec::new(),
                log: Some(Err(std::io::Error::other(
                    "a server thread panicked; no log written",
                ))),
                hurried,
            })
        };
        self.handles.into_iter().map(report).collect()
    }
}

/// Binds four servers set up like `config`, on ports `first_port` to `first_port + 3` (free
/// ones if 0), sharing one geolocation source and `shutdown`; then prints their start-up lines.
fn bind_four(
    first_port: u16,
    config: &ServerConfig,
    shutdown: &Arc<Shutdown>,
) -> Result<Vec<Server>, StartError> {
    let geo = config
        .geo
        .open()
        .map_err(|e| StartError(format!("router: {e}")))?;
    let public = public_ip::resolve(config.public_ip);
    let mut bound = Vec::new();
    for i in 0..4 {
        let port = if first_port == 0 { 0 } else { first_port + i };
        let config = ServerConfig {
            bind: SocketAddr::new(config.bind.ip(), port),
            public_ip: Some(public.addr),
            ..config.clone()
        };
        let server = Server::bind_with(config, Arc::clone(&geo), Arc::clone(shutdown));
        bound.push(server.map_err(|e| in_process(e.0))?);
    }
    // Every socket bound: now say so.
    bound.iter().for_each(Server::say_listening);
    let out = config.output;
    out.notice(format_args!("servers: NAT pool starts at {public}"));
    out.notice(format_args!("servers: geolocation source: {}", geo.name()));
    Ok(bound)
}

/// An error of the in-process servers.
fn in_process(e: String) -> StartError {
    StartError(format!("router: in-process {e}"))
}
