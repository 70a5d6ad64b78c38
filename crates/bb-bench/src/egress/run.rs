//! `bb-bench-egress run`: the three paths (direct, `bb-sidecar`, `mitmdump`) one after another
//! on the same fixture with the same client, each measurement repeated, medians reported next
//! to the targets (reported, never asserted).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use bb_contract::plan::{Dlp, EgressPlan, InboundDetector, OnMatch, OutboundDetector, Route};
use bb_contract::plan::{TokenSlot, TokenSource};
use bytes::Bytes;

use crate::certs;
use crate::client::{self, Target, Via};
use crate::fixture::SMALL_BODY;
use crate::procs::{self, Proc, Sampler};
use bb_testkit::corpus::{self, Rng};

pub const DEFAULT_HOST: &str = "bench.test";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The upstream fixture (its address on the bench network)
    #[arg(long, value_name = "IP:PORT")]
    upstream: SocketAddr,
    /// The benchmark host name (SNI, Host, the only route)
    #[arg(long, default_value = DEFAULT_HOST)]
    host: String,
    /// The directory `certs` wrote
    #[arg(long, value_name = "DIR")]
    certs: PathBuf,
    /// Scratch directory: routes, logs, mitmproxy's confdir and HOME
    #[arg(long, value_name = "DIR")]
    work: PathBuf,
    #[arg(long, value_name = "FILE")]
    sidecar: PathBuf,
    #[arg(long, value_name = "FILE")]
    mitmdump: PathBuf,
    /// Concurrent clients of the loaded runs
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Seconds of each load run
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Repetitions of each measurement (the median is reported)
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Size of the upload, in MB (10^6 bytes)
    #[arg(long, default_value_t = 100)]
    upload_mb: usize,
}

const SECRETS: usize = 3;

/// One repetition of a load on one path.
#[derive(Debug, Clone, Copy)]
struct Rep {
    rps: f64,
    p50: f64,
    p99: f64,
    cpu_us_per_req: f64,
    errors: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn routes(host: &str) -> EgressPlan {
    EgressPlan {
        routes: vec![
            Route {
                host: host.to_owned(),
                auth: None,
                matches: Vec::new(),
                // A bottle route's defaults.
                dlp: Dlp {
                    outbound: vec![
                        OutboundDetector::TokenPatterns,
                        OutboundDetector::KnownSecrets,
                    ],
                    inbound: vec![InboundDetector::Injection],
                    on_match: OnMatch::Block,
                    personal_data: None,
                    released: Vec::new(),
                },
                tls_passthrough: false,
                // The fixture is on a Docker network (a private address).
                private: true,
                added_by: None,
                provider_api: None,
                grant: None,
            },
            Route {
                host: certs::nodlp_host(host),
                auth: None,
                matches: Vec::new(),
                dlp: Dlp {
                    outbound: Vec::new(),
                    inbound: Vec::new(),
                    on_match: OnMatch::Block,
                    personal_data: None,
                    released: Vec::new(),
                },
                tls_passthrough: false,
                private: true,
                added_by: None,
                provider_api: None,
                grant: None,
            },
        ],
        token_slots: (1..=SECRETS)
            .map(|i| TokenSlot {
                slot: format!("EGRESS_TOKEN_{i}"),
                source: TokenSource::HostEnv {
                    name: format!("BENCH_TOKEN_{i}"),
                },
            })
            .collect(),
    }
}

fn sidecar_command(a: &Args, work: &Path, listen: SocketAddr, rng: &mut Rng) -> Command {
    let c = |name: &str| a.certs.join(name);
    let mut cmd = Command::new(&a.sidecar);
    cmd.arg("run")
        .arg("--routes")
        .arg(work.join("routes.json"))
        .arg("--listen")
        .arg(listen.to_string())
        .args(["--dns", "off"])
        .arg("--ca-cert")
        .arg(c(certs::BOTTLE_CA))
        .arg("--ca-key")
        .arg(c(certs::BOTTLE_CA_KEY))
        .arg("--extra-roots")
        .arg(c(certs::BENCH_CA))
        .arg("--resolve-override")
        .arg(a.upstream.ip().to_string())
        // The default cap (64 MiB) refuses the 100 MB upload: scanned bodies are buffered.
        .args(["--max-body", "256MiB"])
        .arg("--git-gate")
        .arg(work.join("no-git-gate.json"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BB_SIDECAR_") || k.starts_with("EGRESS_TOKEN_") {
            cmd.env_remove(k);
        }
    }
    for i in 1..=SECRETS {
        cmd.env(
            format!("EGRESS_TOKEN_{i}"),
            format!("bbbench{i}_{}", rng.alnum(32)),
        );
    }
    // The shape bb-plan mints (bb_detect::mint_canary), from the seeded generator.
    cmd.env(
        "BB_SIDECAR_CANARY",
        format!("{}{}", bb_detect::CANARY_PREFIX, rng.alnum(32)),
    );
    cmd
}

fn mitm_command(a: &Args, work: &Path, listen: SocketAddr) -> Command {
    let mut cmd = Command::new(&a.mitmdump);
    cmd.args(["--listen-host", "127.0.0.1", "--listen-port"])
        .arg(listen.port().to_string())
        .arg("--set")
        .arg(format!("confdir={}", work.join("mitmproxy").display()))
        .arg("--set")
        .arg(format!(
            "ssl_verify_upstream_trusted_ca={}",
            a.certs.join(certs::BENCH_CA).display()
        ))
        .arg("-s")
        .arg(work.join("mitm_allowlist.py"))
        .env("HOME", work.join("mitm-home"))
        .env("BB_BENCH_HOST", &a.host)
        .env("BB_BENCH_UPSTREAM", a.upstream.to_string());
    cmd
}

fn mitm_version(mitmdump: &Path) -> String {
    Command::new(mitmdump)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("Mitmproxy:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "?".into())
}

pub fn run(a: Args) -> Result<()> {
    let work = a.work.clone();
    let target = Target {
        upstream: a.upstream,
        host: a.host.clone(),
    };
    procs::wait_tcp(a.upstream, "the upstream fixture")?;
    eprintln!("[bench] generating the {} MB upload body", a.upload_mb);
    let body = Bytes::from(corpus::text(a.upload_mb * 1_000_000));
    let mb = body.len() as f64 / 1e6;

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut rng = Rng(seed);
    std::fs::write(
        work.join("routes.json"),
        serde_json::to_vec_pretty(&routes(&a.host))?,
    )?;
    std::fs::write(
        work.join("mitm_allowlist.py"),
        include_str!("mitm_allowlist.py"),
    )?;
    std::fs::create_dir_all(work.join("mitmproxy"))?;
    std::fs::create_dir_all(work.join("mitm-home"))?;
    let version = mitm_version(&a.mitmdump);

    let pids = work.join("pids");
    let ours_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
    let mitm_addr = SocketAddr::from(([127, 0, 0, 1], procs::free_port()?));
    let mut ours = Proc::spawn(
        "bb-sidecar",
        sidecar_command(&a, &work, ours_addr, &mut rng),
        &work.join("sidecar.log"),
        &pids,
    )?;
    let mut mitm = Proc::spawn(
        "mitmdump",
        mitm_command(&a, &work, mitm_addr),
        &work.join("mitmdump.log"),
        &pids,
    )?;
    let mitm_ca = work.join("mitmproxy/mitmproxy-ca-cert.pem");
    ours.wait_ready(ours_addr, || true)?;
    mitm.wait_ready(mitm_addr, || mitm_ca.is_file())?;
    std::thread::sleep(Duration::from_secs(1));
    let idle = [ours.rss(), mitm.rss()];

    let vias = [
        Via {
            name: "direct",
            proxy: None,
            tls: client::tls_config(&a.certs.join(certs::BENCH_CA))?,
        },
        Via {
            name: "bb-sidecar",
            proxy: Some(ours_addr),
            tls: client::tls_config(&a.certs.join(certs::BOTTLE_CA))?,
        },
        Via {
            name: "mitmdump",
            proxy: Some(mitm_addr),
            tls: client::tls_config(&mitm_ca)?,
        },
    ];
    let procs: [Option<&Proc>; 3] = [None, Some(&ours), Some(&mitm)];

    // Same behaviour before measuring: the fixture's answer on every path, 403 off the list.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for via in &vias {
        rt.block_on(async {
            let mut send = client::open(via, &target).await?;
            let (status, got) = client::exchange(&mut send, client::get(&target, false)).await?;
            ensure!(
                status == 200 && got == SMALL_BODY,
                "{}: the first GET answered {status}",
                via.name
            );
            Ok(())
        })
        .with_context(|| format!("{}: first request", via.name))?;
    }
    let other = format!("other.test:{}", a.upstream.port());
    for via in &vias[1..] {
        let code = rt.block_on(client::connect_status(via.proxy.expect("a proxy"), &other))?;
        ensure!(
            code == 403,
            "{} answered {code} to CONNECT {other} (expected 403)",
            via.name
        );
    }

    let sampler = Sampler::start(vec![ours.pid(), mitm.pid()]);
    let loads = [
        (a.clients, false, "kept-alive connections"),
        (1, false, "kept-alive connection"),
        (
            a.clients,
            true,
            "a new connection per request (TCP + CONNECT + full TLS handshake)",
        ),
    ];
    let mut results: Vec<[Vec<Rep>; 3]> = loads.iter().map(|_| Default::default()).collect();
    let mut peak_get = [0u64; 3];
    for (li, &(clients, fresh, _)) in loads.iter().enumerate() {
        for rep in 1..=a.reps {
            for (vi, via) in vias.iter().enumerate() {
                let proc = procs[vi];
                sampler.reset();
                let cpu0 = proc.map_or(f64::NAN, Proc::cpu_secs);
                let l = client::load(via, &target, SMALL_BODY, clients, a.secs, fresh)?;
                let cpu = proc.map_or(f64::NAN, Proc::cpu_secs) - cpu0;
                if let Some(p) = proc {
                    peak_get[vi] = peak_get[vi].max(sampler.peak(p.pid()));
                }
                let r = Rep {
                    rps: l.rps(),
                    p50: l.quantile_ms(0.50),
                    p99: l.quantile_ms(0.99),
                    cpu_us_per_req: cpu * 1e6 / l.requests as f64,
                    errors: l.errors,
                };
                eprintln!(
                    "[bench] GET {} x{clients} {:<10} run {rep}: {:>7.0} req/s  p50 {:.3} ms  p99 {:.3} ms{}",
                    if fresh { "new-conn" } else { "keep-alive" },
                    via.name,
                    r.rps,
                    r.p50,
                    r.p99,
                    if r.errors > 0 {
                        format!("  ({} errors)", r.errors)
                    } else {
                        String::new()
                    }
                );
                results[li][vi].push(r);
            }
        }
    }

    // Uploads: the three paths, then the sidecar again on its DLP-off route (index 3).
    let nodlp = Target {
        upstream: a.upstream,
        host: certs::nodlp_host(&a.host),
    };
    let mut up_wall: [Vec<f64>; 4] = Default::default();
    let mut up_cpu: [Vec<f64>; 4] = Default::default();
    let mut peak_up = [0u64; 4];
    for rep in 1..=a.reps {
        for vi in 0..4 {
            let (via, target, proc) = match vi {
                3 => (&vias[1], &nodlp, procs[1]),
                _ => (&vias[vi], &target, procs[vi]),
            };
            sampler.reset();
            let cpu0 = proc.map_or(f64::NAN, Proc::cpu_secs);
            let (sys0, faults0) = proc.map_or((f64::NAN, 0), Proc::kernel_side);
            let secs = rt.block_on(client::upload(via, target, body.clone()))?;
            let cpu = proc.map_or(f64::NAN, Proc::cpu_secs) - cpu0;
            let (sys1, faults1) = proc.map_or((f64::NAN, 0), Proc::kernel_side);
            if let Some(p) = proc {
                peak_up[vi] = peak_up[vi].max(sampler.peak(p.pid()));
            }
            eprintln!(
                "[bench] POST {mb:.0} MB {:<10} run {rep}: {:>6.1} MB/s  (proxy CPU {:.2} s, of which kernel {:.2} s; {} page faults)",
                if vi == 3 {
                    "bb-sidecar, DLP off"
                } else {
                    via.name
                },
                mb / secs,
                cpu,
                sys1 - sys0,
                faults1 - faults0
            );
            up_wall[vi].push(mb / secs);
            up_cpu[vi].push(mb / cpu);
        }
    }
    drop(sampler);
    std::thread::sleep(Duration::from_secs(1));
    let after = [ours.rss(), mitm.rss()];
    let hwm = [ours.hwm(), mitm.hwm()];

    let t = Report {
        a: &a,
        version,
        loads: &loads,
        results: &results,
        up_wall: &up_wall,
        up_cpu: &up_cpu,
        mb,
        rss: Rss {
            idle,
            peak_get: [peak_get[1], peak_get[2]],
            peak_up: [peak_up[1].max(peak_up[3]), peak_up[2]],
            hwm,
            after,
        },
    };
    t.print();
    Ok(())
}

struct Rss {
    idle: [Option<u64>; 2],
    peak_get: [u64; 2],
    peak_up: [u64; 2],
    hwm: [Option<u64>; 2],
    after: [Option<u64>; 2],
}

struct Report<'a> {
    a: &'a Args,
    version: String,
    loads: &'a [(usize, bool, &'a str)],
    results: &'a [[Vec<Rep>; 3]],
    up_wall: &'a [Vec<f64>; 4],
    up_cpu: &'a [Vec<f64>; 4],
    mb: f64,
    rss: Rss,
}

fn f(v: f64, prec: usize) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.prec$}")
    }
}

fn ratio(ours: f64, mitm: f64) -> String {
    if !(ours > 0.0 && mitm > 0.0) {
        "-".into()
    } else {
        format!("{:.2}x", ours / mitm)
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

impl Report<'_> {
    fn row(label: &str, cells: [String; 3], ratio: String, target: &str) {
        println!(
            "  {label:<34} {:>10} {:>10} {:>10} {:>10}   {target}",
            cells[0], cells[1], cells[2], ratio
        );
    }

    fn print(&self) {
        let a = self.a;
        println!();
        println!(
            "egress: direct vs bb-sidecar vs mitmdump {} (one process each), {} -> fixture {} on a Docker network",
            self.version, a.host, a.upstream
        );
        println!(
            "median of {} runs; route dlp = bottle defaults (out: token_patterns + known_secrets with {SECRETS} token slots + canary; in: injection), on_match block; MB = 10^6 bytes",
            a.reps
        );
        println!();
        println!(
            "  {:<34} {:>10} {:>10} {:>10} {:>10}   target",
            "", "direct", "bb-sidecar", "mitmdump", "ours/mitm"
        );
        for (li, (clients, fresh, what)) in self.loads.iter().enumerate() {
            let reps = &self.results[li];
            let m = |vi: usize, g: fn(&Rep) -> f64| median(reps[vi].iter().map(g).collect());
            println!(
                "GET small body, {clients} client{} x {} s, {what}",
                if *clients == 1 { "" } else { "s" },
                a.secs
            );
            let rps = [0, 1, 2].map(|vi| m(vi, |r| r.rps));
            let (p50, p99) = (
                [0, 1, 2].map(|vi| m(vi, |r| r.p50)),
                [0, 1, 2].map(|vi| m(vi, |r| r.p99)),
            );
            let cpu = [0, 1, 2].map(|vi| m(vi, |r| r.cpu_us_per_req));
            let rps_target = if *clients == 1 {
                String::new()
            } else {
                format!(">= 5x mitmproxy: {}", verdict(rps[1] >= 5.0 * rps[2]))
            };
            Self::row(
                "requests/s",
                rps.map(|v| f(v, 0)),
                ratio(rps[1], rps[2]),
                &rps_target,
            );
            Self::row(
                "latency p50 / p99 (ms)",
                [0, 1, 2].map(|vi| format!("{}/{}", f(p50[vi], 2), f(p99[vi], 2))),
                String::new(),
                "",
            );
            let add50 = [f64::NAN, p50[1] - p50[0], p50[2] - p50[0]];
            let add99 = [f64::NAN, p99[1] - p99[0], p99[2] - p99[0]];
            let lat_target = if *fresh {
                String::new()
            } else {
                format!("< 1 ms: {}", verdict(add50[1] < 1.0))
            };
            Self::row(
                "added latency p50 (ms)",
                add50.map(|v| f(v, 3)),
                ratio(add50[1], add50[2]),
                &lat_target,
            );
            Self::row(
                "added latency p99 (ms)",
                add99.map(|v| f(v, 3)),
                ratio(add99[1], add99[2]),
                "",
            );
            Self::row(
                "proxy CPU per request (us)",
                cpu.map(|v| f(v, 0)),
                ratio(cpu[1], cpu[2]),
                "",
            );
            let errors: [u64; 3] = [0, 1, 2].map(|vi| reps[vi].iter().map(|r| r.errors).sum());
            if errors.iter().any(|e| *e > 0) {
                Self::row(
                    "errors (all runs)",
                    errors.map(|e| e.to_string()),
                    String::new(),
                    "",
                );
            }
        }
        println!(
            "POST {:.0} MB body (256 KiB writes), one connection, DLP scans the whole body",
            self.mb
        );
        let wall = [0, 1, 2].map(|vi| median(self.up_wall[vi].clone()));
        let cpu = [0, 1, 2].map(|vi| median(self.up_cpu[vi].clone()));
        Self::row(
            "throughput (MB/s, wall clock)",
            wall.map(|v| f(v, 0)),
            ratio(wall[1], wall[2]),
            &format!("> 300 MB/s: {}", verdict(wall[1] > 300.0)),
        );
        Self::row(
            "MB per proxy CPU-second",
            cpu.map(|v| f(v, 0)),
            ratio(cpu[1], cpu[2]),
            &format!("> 300 MB/s on one core: {}", verdict(cpu[1] > 300.0)),
        );
        let off = [
            median(self.up_wall[3].clone()),
            median(self.up_cpu[3].clone()),
        ];
        Self::row(
            "sidecar DLP off, MB/s wall/CPU",
            [
                "-".into(),
                format!("{}/{}", f(off[0], 0), f(off[1], 0)),
                "-".into(),
            ],
            String::new(),
            "(streamed, not buffered)",
        );
        println!("RSS (MB, VmRSS; peaks sampled every 50 ms)");
        let mbs = |v: Option<u64>| v.map_or(f64::NAN, |b| b as f64 / 1e6);
        let rss_row = |label: &str, v: [Option<u64>; 2], target: &str| {
            let (o, m) = (mbs(v[0]), mbs(v[1]));
            Self::row(label, ["-".into(), f(o, 1), f(m, 1)], ratio(o, m), target);
        };
        let r = &self.rss;
        rss_row(
            "idle after start",
            r.idle,
            &format!("< 20 MB: {}", verdict(mbs(r.idle[0]) < 20.0)),
        );
        rss_row("peak during the GET loads", r.peak_get.map(Some), "");
        rss_row("peak during the uploads", r.peak_up.map(Some), "");
        rss_row("high-water mark (VmHWM)", r.hwm, "");
        rss_row("idle after the run", r.after, "");
    }
}
