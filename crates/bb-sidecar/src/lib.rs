//! The bot-bottle sidecar: the egress proxy and the DNS sink of one bottle.
//!
//! - [`config`]: the route table (the plan's `egress` section), host and request matching,
//!   reload;
//! - [`proxy`]: the HTTP forward proxy (`CONNECT` tunnels, plain `http://` forwarding,
//!   introspection at `_egress.local`);
//! - [`dns`]: the DNS sink (UDP and TCP), answering REFUSED to every query;
//! - [`log`]: one JSON line per decision or event on stdout;
//! - [`health`]: the client side of the container's health check.
//!
//! [`run`] wires them together with the signals: `SIGHUP` reloads the routes, `SIGTERM` and
//! `SIGINT` stop the listeners and return.

pub mod config;
pub mod dns;
pub mod health;
pub mod log;
pub mod proxy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::{RouteTable, SharedRoutes};
use crate::log::Log;
use crate::proxy::ProxyConfig;

/// Tells the servers to stop accepting.
pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

/// Waits for a [`ShutdownTrigger`]; a dropped trigger never fires.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn channel() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown(rx))
    }

    /// A shutdown that never comes.
    pub fn never() -> Shutdown {
        Shutdown::channel().1
    }

    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What `bb-sidecar run` serves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The routes file (JSON of the plan's `egress` section).
    pub routes: PathBuf,
    /// The proxy's address.
    pub listen: SocketAddr,
    /// The DNS sink's address (UDP and TCP); `None`: no DNS sink.
    pub dns: Option<SocketAddr>,
}

/// Loads the routes, binds every listener, then serves until `SIGTERM` or `SIGINT`;
/// `SIGHUP` reloads the routes file. A routes file that cannot be loaded at start is an error.
pub async fn run(opts: RunOptions, log: Log) -> Result<()> {
    let table = RouteTable::load(&opts.routes)?;
    let route_count = table.routes().len();
    let routes = SharedRoutes::new(table);
    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {} (proxy)", opts.listen))?;
    let dns = match opts.dns {
        Some(addr) => {
            let udp = UdpSocket::bind(addr)
                .await
                .with_context(|| format!("cannot listen on udp {addr} (DNS sink)"))?;
            let tcp = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on tcp {addr} (DNS sink)"))?;
            Some((udp, tcp))
        }
        None => None,
    };
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let (trigger, shutdown) = Shutdown::channel();
    let cfg = Arc::new(ProxyConfig::new(routes.clone(), log.clone()));
    let mut tasks = vec![tokio::spawn(proxy::serve(listener, cfg, shutdown.clone()))];
    if let Some((udp, tcp)) = dns {
        tasks.push(tokio::spawn(dns::serve_udp(
            udp,
            log.clone(),
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(dns::serve_tcp(tcp, log.clone(), shutdown)));
    }
    let dns_text = opts
        .dns
        .map_or_else(|| "off".to_owned(), |a| format!("{a} (udp, tcp)"));
    log.event(
        "start",
        true,
        &format!(
            "egress proxy on {}, DNS sink {dns_text}, {route_count} routes from {}",
            opts.listen,
            opts.routes.display()
        ),
    );

    let signal_name = loop {
        tokio::select! {
            _ = hangup.recv() => {
                config::reload(&opts.routes, &routes, &log);
            }
            _ = terminate.recv() => break "SIGTERM",
            _ = interrupt.recv() => break "SIGINT",
        }
    };
    trigger.shutdown();
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    log.event("stop", true, &format!("{signal_name}: stopped"));
    Ok(())
}
