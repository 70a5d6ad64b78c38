//! IPv4 subnets: parsing, overlap, and picking a free /24 for an internal network.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    fn start(self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    fn end(self) -> u32 {
        self.start() | !self.mask()
    }

    pub fn overlaps(self, other: Ipv4Net) -> bool {
        self.start() <= other.end() && other.start() <= self.end()
    }

    /// The `n`-th address of the network.
    pub fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.start() + n)
    }
}

impl FromStr for Ipv4Net {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| anyhow::anyhow!("`{s}` is not a CIDR"))?;
        let prefix: u8 = prefix.parse()?;
        anyhow::ensure!(prefix <= 32, "`{s}` has a prefix over 32");
        Ok(Ipv4Net {
            addr: addr.parse()?,
            prefix,
        })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.start()), self.prefix)
    }
}

/// The pool internal networks come from: 10.213.0.0/16, as /24s.
const POOL_BASE: u32 = 0x0AD5_0000;

/// Whether `candidate` overlaps a subnet in `taken` (a default route overlaps nothing).
pub fn clashes(taken: &[Ipv4Net], candidate: Ipv4Net) -> bool {
    taken.iter().any(|t| t.prefix > 0 && t.overlaps(candidate))
}

/// A random /24 of the pool that overlaps nothing in `taken`.
pub fn pick_free(taken: &[Ipv4Net], rng: &mut impl rand::Rng) -> Option<Ipv4Net> {
    let offset = rng.next_u32() % 256;
    (0..256u32)
        .map(|i| Ipv4Net {
            addr: Ipv4Addr::from(POOL_BASE + (((offset + i) % 256) << 8)),
            prefix: 24,
        })
        .find(|candidate| !clashes(taken, *candidate))
}

/// The host's IPv4 routes (main table, default route excluded), from /proc/net/route.
pub fn host_routes() -> Vec<Ipv4Net> {
    std::fs::read_to_string("/proc/net/route")
        .map(|text| parse_proc_routes(&text))
        .unwrap_or_default()
}

fn parse_proc_routes(text: &str) -> Vec<Ipv4Net> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(fields.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(fields.get(7)?, 16).ok()?;
            // The kernel prints the network-order bytes as a native u32 (little-endian here).
            let (dest, mask) = (dest.to_le_bytes(), u32::from_be_bytes(mask.to_le_bytes()));
            let prefix = mask.count_ones() as u8;
            (prefix > 0).then(|| Ipv4Net {
                addr: Ipv4Addr::from(dest),
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn overlap() {
        assert!(net("10.0.0.0/8").overlaps(net("10.213.4.0/24")));
        assert!(!net("10.213.5.0/24").overlaps(net("10.213.4.0/24")));
        assert!(net("10.213.4.128/25").overlaps(net("10.213.4.0/24")));
        assert_eq!(net("10.213.4.7/24").to_string(), "10.213.4.0/24");
        assert_eq!(net("10.213.4.0/24").host(2), Ipv4Addr::new(10, 213, 4, 2));
    }

    #[test]
    fn picks_a_free_subnet_or_none() {
        let mut rng = rand::rng();
        let taken = vec![net("10.213.0.0/17")];
        for _ in 0..50 {
            let picked = pick_free(&taken, &mut rng).unwrap();
            assert!(!picked.overlaps(taken[0]));
            assert!(net("10.213.0.0/16").overlaps(picked));
        }
        assert_eq!(pick_free(&[net("10.0.0.0/8")], &mut rng), None);
        assert!(
            pick_free(&[net("0.0.0.0/0")], &mut rng).is_some(),
            "the default route is not a collision"
        );
    }

    #[test]
    fn parses_proc_net_route() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_routes(text),
            vec![net("192.168.0.0/24"), net("172.17.0.0/16")]
        );
    }
}
