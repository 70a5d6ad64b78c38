//! The SSRF guard: which upstream addresses the proxy may connect to, host strings that are IP
//! addresses in disguise, and the resolver.
//!
//! - [`classify_host`] decides whether a (normalised) host is a name, an IP address — also in
//!   the forms `inet_aton` accepts: `0x7f000001`, `0177.0.0.1`, `2130706433`, `127.1` — or
//!   nothing valid. IP forms are decided by the guard and never reach a resolver.
//! - [`AddressPolicy`] refuses loopback, link-local (cloud metadata included), unspecified,
//!   multicast, broadcast, documentation and other reserved ranges, IPv4-mapped IPv6, and the
//!   bottle's own subnets (`--deny-net`) always; private, shared and unique-local ranges unless
//!   the route says `private: true`.
//! - [`Resolver`] turns a name into addresses once; the caller connects to exactly the
//!   addresses that were checked.

mod host;
mod resolve;

use bb_contract::log::Rule;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

pub use host::{HostKind, classify_host, inet_aton};
pub use resolve::{ResolveFuture, Resolver};

/// An IP network (`10.1.0.0/24`, `fd00::/8`; a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<IpNet> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        let bad = || format!("`{s}` is not a network such as 10.0.0.0/24 or fd00::/64");
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (
                a.parse::<IpAddr>().map_err(|_| bad())?,
                p.parse::<u8>().map_err(|_| bad())?,
            ),
            None => {
                let a = s.parse::<IpAddr>().map_err(|_| bad())?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        IpNet::new(addr, prefix).ok_or_else(bad)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// How an address is treated before the bottle's own networks are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Never allowed.
    Always(&'static str),
    /// Allowed on `private: true` routes.
    Private(&'static str),
    Public,
}

fn in4(ip: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    prefix_eq(&ip.octets(), &net, prefix)
}

fn class_v4(ip: Ipv4Addr) -> Class {
    let table: &[([u8; 4], u8, Class)] = &[
        (
            [0, 0, 0, 0],
            8,
            Class::Always("an unspecified address (0.0.0.0/8)"),
        ),
        ([127, 0, 0, 0], 8, Class::Always("a loopback address")),
        ([169, 254, 0, 0], 16, Class::Always("a link-local address")),
        ([224, 0, 0, 0], 4, Class::Always("a multicast address")),
        (
            [255, 255, 255, 255],
            32,
            Class::Always("the broadcast address"),
        ),
        ([240, 0, 0, 0], 4, Class::Always("a reserved address")),
        ([192, 0, 2, 0], 24, Class::Always("a documentation address")),
        (
            [198, 51, 100, 0],
            24,
            Class::Always("a documentation address"),
        ),
        (
            [203, 0, 113, 0],
            24,
            Class::Always("a documentation address"),
        ),
        ([198, 18, 0, 0], 15, Class::Always("a benchmarking address")),
        ([192, 0, 0, 0], 24, Class::Always("a reserved address")),
        ([192, 88, 99, 0], 24, Class::Always("a reserved address")),
        ([10, 0, 0, 0], 8, Class::Private("a private address")),
        ([172, 16, 0, 0], 12, Class::Private("a private address")),
        ([192, 168, 0, 0], 16, Class::Private("a private address")),
        (
            [100, 64, 0, 0],
            10,
            Class::Private("a shared (carrier-grade NAT) address"),
        ),
    ];
    table
        .iter()
        .find(|(net, prefix, _)| in4(ip, *net, *prefix))
        .map_or(Class::Public, |(_, _, class)| *class)
}

/// The IPv4 address inside a NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

fn class_v6(ip: Ipv6Addr) -> Class {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Class::Always("an unspecified address");
    }
    if ip.is_loopback() {
        return Class::Always("a loopback address");
    }
    if ip.to_ipv4_mapped().is_some() {
        return Class::Always("an IPv4-mapped IPv6 address");
    }
    if s[..6] == [0; 6] {
        return Class::Always("an IPv4-compatible IPv6 address (deprecated)");
    }
    if let Some(v4) = embedded_v4(ip) {
        return match class_v4(v4) {
            Class::Always(_) => Class::Always("a NAT64 or 6to4 address of a refused IPv4 address"),
            Class::Private(_) => Class::Private("a NAT64 or 6to4 address of a private address"),
            Class::Public => Class::Public,
        };
    }
    let first = s[0];
    if first & 0xff00 == 0xff00 {
        Class::Always("a multicast address")
    } else if first & 0xffc0 == 0xfe80 {
        Class::Always("a link-local address")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Class::Always("a documentation address")
    } else if s[0] == 0x2001 && s[1] == 0 {
        Class::Always("a Teredo address")
    } else if s[..4] == [0x100, 0, 0, 0] {
        Class::Always("a discard-only address")
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        Class::Private("a local-use NAT64 address")
    } else if first & 0xfe00 == 0xfc00 {
        Class::Private("a unique-local address")
    } else if first & 0xffc0 == 0xfec0 {
        Class::Private("a site-local address")
    } else {
        Class::Public
    }
}

/// Which upstream addresses the proxy may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Refuse the special-purpose ranges ([`AddressPolicy::strict`]); off only in tests whose
    /// upstreams listen on loopback.
    check_ranges: bool,
    /// The bottle's own subnets: refused even on `private: true` routes and even unchecked.
    deny_nets: Vec<IpNet>,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        AddressPolicy::strict()
    }
}

impl AddressPolicy {
    /// The production policy.
    pub fn strict() -> AddressPolicy {
        AddressPolicy {
            check_ranges: true,
            deny_nets: Vec::new(),
        }
    }

    /// Only the deny nets (tests whose upstreams listen on loopback).
    pub fn unchecked() -> AddressPolicy {
        AddressPolicy {
            check_ranges: false,
            deny_nets: Vec::new(),
        }
    }

    /// Adds networks that are always refused (the bottle's own subnets).
    pub fn deny(mut self, nets: impl IntoIterator<Item = IpNet>) -> AddressPolicy {
        self.deny_nets.extend(nets);
        self
    }

    pub fn deny_nets(&self) -> &[IpNet] {
        &self.deny_nets
    }

    /// Why `ip` is refused for a route (the rule and the reason), or `None` when it may be used.
    pub fn refusal(&self, ip: IpAddr, private_route: bool) -> Option<(Rule, String)> {
        let mut candidates = vec![ip];
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = v6.to_ipv4_mapped().or_else(|| embedded_v4(v6))
        {
            candidates.push(IpAddr::V4(v4));
        }
        for c in &candidates {
            if let Some(net) = self.deny_nets.iter().find(|n| n.contains(*c)) {
                let why = format!("in the bottle's own network {net}");
                return Some((Rule::GuardedAddress, why));
            }
        }
        if !self.check_ranges {
            return None;
        }
        let class = match ip {
            IpAddr::V4(v4) => class_v4(v4),
            IpAddr::V6(v6) => class_v6(v6),
        };
        match class {
            Class::Always(why) => Some((Rule::GuardedAddress, why.to_owned())),
            Class::Private(why) if !private_route => Some((
                Rule::PrivateAddress,
                format!("{why} (the route does not say `private: true`)"),
            )),
            Class::Private(_) | Class::Public => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn strict_policy_refuses_internal_addresses() {
        let p = AddressPolicy::strict();
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:93.184.216.34",
            "::7f00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.200",
            "198.18.0.1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(p.refusal(ip(s), true).is_some(), "{s}");
        }
        for s in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "fc00::1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
        ] {
            assert!(p.refusal(ip(s), false).is_some(), "{s}");
            assert!(p.refusal(ip(s), true).is_none(), "{s} on a private route");
            assert_eq!(p.refusal(ip(s), false).unwrap().0, Rule::PrivateAddress);
        }
        for s in [
            "93.184.216.34",
            "2606:2800:220:1::1",
            "100.128.0.1",
            "172.32.0.1",
            "64:ff9b::5db8:d822",
        ] {
            assert!(p.refusal(ip(s), false).is_none(), "{s}");
        }
        assert!(
            AddressPolicy::unchecked()
                .refusal(ip("127.0.0.1"), false)
                .is_none()
        );
    }

    #[test]
    fn deny_nets_win_over_private_and_unchecked() {
        let nets: Vec<IpNet> = ["10.99.0.0/16", "fd12::/16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for p in [
            AddressPolicy::strict().deny(nets.clone()),
            AddressPolicy::unchecked().deny(nets.clone()),
        ] {
            let (rule, why) = p.refusal(ip("10.99.3.4"), true).unwrap();
            assert_eq!(why, "in the bottle's own network 10.99.0.0/16");
            assert_eq!(rule, Rule::GuardedAddress);
            assert!(p.refusal(ip("::ffff:10.99.3.4"), true).is_some());
            assert!(p.refusal(ip("fd12::5"), true).is_some());
            assert!(p.refusal(ip("10.98.0.1"), true).is_none());
        }
    }

    #[test]
    fn networks_parse_and_contain() {
        let n: IpNet = "10.1.0.0/23".parse().unwrap();
        assert!(n.contains(ip("10.1.1.255")));
        assert!(!n.contains(ip("10.1.2.0")));
        assert!(!n.contains(ip("::1")));
        assert_eq!(n.to_string(), "10.1.0.0/23");
        let single: IpNet = "192.168.5.5".parse().unwrap();
        assert!(single.contains(ip("192.168.5.5")));
        assert!(!single.contains(ip("192.168.5.6")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
