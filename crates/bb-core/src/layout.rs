//! Where the sidecar's services listen: the ports every crate must agree on.
//!
//! Every service binds the sidecar's address on the bottle's internal network only, never
//! `0.0.0.0`: a container on the egress network must not reach the proxy (and the tokens it
//! injects) or push through the gate.

/// The egress proxy (HTTP, `CONNECT`).
pub const PROXY_PORT: u16 = 9099;
/// The DNS sink (UDP and TCP).
pub const DNS_PORT: u16 = 53;
/// The git gate (`git://`).
pub const GIT_GATE_PORT: u16 = 9418;
/// The proxy's name on the internal network, as the agent uses it.
pub const PROXY_ALIAS: &str = "egress";
