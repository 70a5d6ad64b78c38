//! The renderer's options, from `bb-kube render`'s flags: each value checked here, so a bad
//! one is refused on one line (exit status 2) before anything is rendered.

use std::fmt;
use std::net::Ipv4Addr;

use clap::{Args, ValueEnum};

use crate::error::RenderError;

/// kubeadm's and kind's default pod network.
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// kubeadm's and kind's default service network.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";
/// The agent home's default size.
pub const DEFAULT_HOME_SIZE: &str = "10Gi";
/// The RuntimeClass of a plan whose runtime is gVisor (`runsc`), unless `--runtime-class` says.
pub const GVISOR_RUNTIME_CLASS: &str = "gvisor";

/// An IPv4 network in CIDR notation, with its host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn parse(text: &str) -> Result<Ipv4Net, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or("is not in CIDR notation (ADDRESS/BITS)")?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| "is not an IPv4 network")?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or("has a prefix length that is not 0 to 32")?;
        let net = Ipv4Net { addr, prefix };
        if net.network() != addr {
            return Err(format!(
                "has host bits set (the network is {})",
                Ipv4Net {
                    addr: net.network(),
                    prefix
                }
            ));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    /// The `n`th address of the network (for examples in messages).
    pub fn nth(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(n))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Host files the plan names, read by the caller (the renderer reads no file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFiles {
    /// The bottle CA's certificate (PEM): `plan.ca.cert`. Public: it goes to the agent.
    pub ca_cert: Option<String>,
    /// The gate's rules with their `[extend]` chain merged (`plan.git_gate.rules`).
    pub gate_rules: Option<String>,
}

/// What the renderer needs besides the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The sidecar Service's ClusterIP; the agent Pod cannot be rendered without it.
    pub sidecar_ip: Option<Ipv4Addr>,
    pub pod_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    /// The agent's RuntimeClass; `None`: `gvisor` for a `runsc` plan, none for `runc`.
    pub runtime_class: Option<String>,
    /// The agent home's size (a Kubernetes quantity).
    pub home_size: String,
    pub storage_class: Option<String>,
    /// The sidecar's image; `None`: the plan's `compose.sidecar_image`.
    pub sidecar_image: Option<String>,
    pub files: HostFiles,
}

impl Default for Options {
    /// The flags' defaults: kubeadm's ranges, a 10Gi home, no address, class or image.
    fn default() -> Options {
        Options {
            sidecar_ip: None,
            pod_cidr: Ipv4Net::parse(DEFAULT_POD_CIDR).expect("the default is a network"),
            service_cidr: Ipv4Net::parse(DEFAULT_SERVICE_CIDR).expect("the default is a network"),
            runtime_class: None,
            home_size: DEFAULT_HOME_SIZE.into(),
            storage_class: None,
            sidecar_image: None,
            files: HostFiles::default(),
        }
    }
}

/// `bb-kube render`'s flags, as typed.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The sidecar Service's ClusterIP: a free address of the service CIDR (the agent's DNS
    /// server and its names for the sidecar point at it)
    #[arg(long, value_name = "IP")]
    pub sidecar_ip: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// `bb-kube apply`'s flags: the cluster's, kubectl's context and how long to wait.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub kubectl: KubectlArgs,
}

/// How to reach the cluster.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct KubectlArgs {
    /// The kubectl context (default: the current one; a plan applied with one keeps it)
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Seconds to wait for the sidecar and the agent to be ready, or for a deletion
    #[arg(long, value_name = "SECS", default_value_t = crate::apply::DEFAULT_WAIT_SECS)]
    pub wait: u64,
}

/// What the objects depend on in the cluster: its networks, classes and images.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct ClusterArgs {
    /// The cluster's pod network: the sidecar may not connect into it
    #[arg(long, value_name = "CIDR", default_value = DEFAULT_POD_CIDR)]
    pub pod_cidr: String,
    /// The cluster's service network: the sidecar may not connect into it
    #[arg(long, value_name = "CIDR", default_value = DEFAULT_SERVICE_CIDR)]
    pub service_cidr: String,
    /// The agent's RuntimeClass (default: `gvisor` when the plan's runtime is runsc, none for
    /// runc); `kata`, for example, for Kata Containers
    #[arg(long, value_name = "NAME")]
    pub runtime_class: Option<String>,
    /// Size of the agent home's PersistentVolumeClaim
    #[arg(long, value_name = "SIZE", default_value = DEFAULT_HOME_SIZE)]
    pub home_size: String,
    /// StorageClass of the agent home (default: the cluster's default class)
    #[arg(long, value_name = "NAME")]
    pub storage_class: Option<String>,
    /// The sidecar's image (default: the plan's, from bb-compose render)
    #[arg(long, value_name = "IMAGE")]
    pub sidecar_image: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

impl RenderArgs {
    /// The checked options (the host files are the caller's to add).
    pub fn options(&self) -> Result<Options, RenderError> {
        let mut options = self.cluster.options()?;
        options.sidecar_ip = self
            .sidecar_ip
            .as_deref()
            .map(|ip| sidecar_ip(ip, options.service_cidr))
            .transpose()?;
        Ok(options)
    }
}

impl ClusterArgs {
    /// The checked options, without the sidecar's address (`apply` learns it from the
    /// cluster).
    pub fn options(&self) -> Result<Options, RenderError> {
        let pod_cidr = cidr("--pod-cidr", &self.pod_cidr)?;
        let service_cidr = cidr("--service-cidr", &self.service_cidr)?;
        Ok(Options {
            sidecar_ip: None,
            pod_cidr,
            service_cidr,
            runtime_class: name_flag("--runtime-class", self.runtime_class.as_deref())?,
            home_size: quantity("--home-size", &self.home_size)?,
            storage_class: name_flag("--storage-class", self.storage_class.as_deref())?,
            sidecar_image: image(self.sidecar_image.as_deref())?,
            files: HostFiles::default(),
        })
    }
}

fn cidr(flag: &'static str, value: &str) -> Result<Ipv4Net, RenderError> {
    Ipv4Net::parse(value).map_err(|problem| {
        RenderError::bad_flag(
            flag,
            value,
            problem,
            "pass the cluster's IPv4 range, such as 10.244.0.0/16 (`kubectl cluster-info dump | grep -m1 -e --cluster-cidr`)",
        )
    })
}

fn sidecar_ip(value: &str, service_cidr: Ipv4Net) -> Result<Ipv4Addr, RenderError> {
    let fix = format!(
        "pass a free address of the service CIDR {service_cidr}, such as {}",
        service_cidr.nth(200)
    );
    let ip: Ipv4Addr = value.parse().map_err(|_| {
        RenderError::bad_flag("--sidecar-ip", value, "is not an IPv4 address", &fix)
    })?;
    if !service_cidr.contains(ip) || ip == service_cidr.addr {
        return Err(RenderError::bad_flag(
            "--sidecar-ip",
            value,
            format!("is not a host address of the service CIDR {service_cidr}"),
            format!("{fix}, or pass --service-cidr with the cluster's range"),
        ));
    }
    Ok(ip)
}

/// A RuntimeClass or StorageClass name: a DNS-1123 subdomain.
fn name_flag(flag: &'static str, value: Option<&str>) -> Result<Option<String>, RenderError> {
    let Some(value) = value else { return Ok(None) };
    if crate::names::is_dns_subdomain(value) {
        Ok(Some(value.to_string()))
    } else {
        Err(RenderError::bad_flag(
            flag,
            value,
            "is not a Kubernetes object name",
            "use lower-case letters, digits, `-` and `.` (`kubectl get runtimeclass,storageclass` lists them)",
        ))
    }
}

/// A storage quantity: digits, an optional fraction, an optional binary or decimal suffix.
fn quantity(flag: &'static str, value: &str) -> Result<String, RenderError> {
    const SUFFIXES: [&str; 13] = [
        "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", "",
    ];
    let number = SUFFIXES
        .iter()
        .find_map(|s| value.strip_suffix(s))
        .unwrap_or(value);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let nonzero = number.bytes().any(|b| (b'1'..=b'9').contains(&b));
    if digits(whole) && digits(fraction) && nonzero {
        Ok(value.to_string())
    } else {
        Err(RenderError::bad_flag(
            flag,
            value,
            "is not a size",
            "pass a Kubernetes quantity such as 10Gi or 500Mi",
        ))
    }
}

fn image(value: Option<&str>) -> Result<Option<String>, RenderError> {
    match value {
        Some(v) if v.is_empty() || v.chars().any(char::is_whitespace) => {
            Err(RenderError::bad_flag(
                "--sidecar-image",
                v,
                "is not an image reference",
                "pass the sidecar image the cluster pulls, such as registry.example/bot-bottle-sidecar:1",
            ))
        }
        other => Ok(other.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RenderArgs,
    }

    fn parse(flags: &[&str]) -> Result<Options, RenderError> {
        let cli = Cli::try_parse_from(std::iter::once("bb-kube").chain(flags.iter().copied()))
            .expect("clap accepts the flags");
        cli.args.options()
    }

    fn problem(flags: &[&str]) -> String {
        parse(flags).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_kubeadm_ranges_and_ten_gibibytes() {
        let opts = parse(&[]).unwrap();
        assert_eq!(opts.pod_cidr.to_string(), DEFAULT_POD_CIDR);
        assert_eq!(opts.service_cidr.to_string(), DEFAULT_SERVICE_CIDR);
        assert_eq!(opts.home_size, "10Gi");
        assert_eq!(opts.sidecar_ip, None);
        assert_eq!((opts.runtime_class, opts.storage_class), (None, None));
    }

    #[test]
    fn every_flag_is_read() {
        let opts = parse(&[
            "--sidecar-ip=10.0.0.10",
            "--service-cidr=10.0.0.0/16",
            "--pod-cidr=192.168.0.0/16",
            "--runtime-class=kata",
            "--home-size=1.5Ti",
            "--storage-class=fast.ssd",
            "--sidecar-image=reg.example/sidecar:1",
        ])
        .unwrap();
        assert_eq!(opts.sidecar_ip, Some(Ipv4Addr::new(10, 0, 0, 10)));
        assert_eq!(opts.pod_cidr.to_string(), "192.168.0.0/16");
        assert_eq!(opts.runtime_class.as_deref(), Some("kata"));
        assert_eq!(opts.home_size, "1.5Ti");
        assert_eq!(opts.storage_class.as_deref(), Some("fast.ssd"));
        assert_eq!(opts.sidecar_image.as_deref(), Some("reg.example/sidecar:1"));
    }

    #[test]
    fn a_bad_sidecar_ip_names_the_flag_and_the_fix() {
        let msg = problem(&["--sidecar-ip", "egress"]);
        assert_eq!(
            msg,
            "--sidecar-ip: `egress` is not an IPv4 address; pass a free address of the service CIDR 10.96.0.0/12, such as 10.96.0.200"
        );
        let msg = problem(&["--sidecar-ip", "10.244.0.9"]);
        assert!(
            msg.contains("is not a host address of the service CIDR"),
            "{msg}"
        );
        assert!(problem(&["--sidecar-ip", "10.96.0.0"]).contains("not a host address"));
    }

    #[test]
    fn bad_cidrs_are_refused_with_the_reason() {
        assert!(problem(&["--pod-cidr", "10.244.0.0"]).contains("not in CIDR notation"));
        assert!(problem(&["--pod-cidr", "10.244.0.0/33"]).contains("prefix length"));
        assert!(problem(&["--service-cidr", "fd00::/108"]).contains("not an IPv4 network"));
        let msg = problem(&["--pod-cidr", "10.244.1.0/16"]);
        assert!(
            msg.starts_with(
                "--pod-cidr: `10.244.1.0/16` has host bits set (the network is 10.244.0.0/16)"
            ),
            "{msg}"
        );
    }

    #[test]
    fn names_and_sizes_are_checked() {
        assert!(problem(&["--runtime-class", "GVisor"]).contains("not a Kubernetes object name"));
        assert!(problem(&["--storage-class=-x"]).starts_with("--storage-class:"));
        for bad in ["10GB", "Gi", "0Gi", "1.Gi", "-1Gi", "ten"] {
            let flag = format!("--home-size={bad}");
            assert!(problem(&[&flag]).contains("is not a size"), "{bad}");
        }
        for good in ["10Gi", "500M", "1073741824", "0.5Ti"] {
            assert!(parse(&["--home-size", good]).is_ok(), "{good}");
        }
        assert!(problem(&["--sidecar-image", "a b"]).contains("not an image reference"));
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = Ipv4Net::parse("10.96.0.0/12").unwrap();
        assert!(net.contains(Ipv4Addr::new(10, 111, 255, 255)));
        assert!(!net.contains(Ipv4Addr::new(10, 112, 0, 0)));
        let all = Ipv4Net::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
    }
}
