//! The throwaway bottle the cases go through: its home and manifest (one route per case host),
//! the stages bb-plan | bb-net | bb-ca | bb-compose up, the fixture upstream on its egress
//! network, the logs read back, and the teardown that undoes whatever was done.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bb_contract::layout::PROXY_PORT;
use bb_contract::layout::labels::{IDENTITY as IDENTITY_LABEL, ROLE as ROLE_LABEL};
use serde_json::Value;

use super::certs;
use super::command::{Abort, Cmd, Env, checkpoint};
use super::console::{note, say, warn};
use super::pyjson::{Json, py_repr_str};
use super::replay::{Endpoint, healthz};

/// The bottle's and the agent's name.
const BOTTLE: &str = "egress-conformance";
const FIXTURE_IMAGE: &str = "bot-bottle-fixture:latest";

pub struct Bottle {
    hosts: Vec<String>,
    sabotage: bool,
    tmp: PathBuf,
    home: PathBuf,
    fixture_dir: PathBuf,
    plan_file: PathBuf,
    env: Env,
    /// The last stage's plan, as it wrote it.
    plan: Option<String>,
    identity: Option<String>,
    net_up: bool,
    fixture: Option<String>,
    sidecar: Option<String>,
    proxy: Option<SocketAddr>,
}

impl Bottle {
    /// A bottle for `hosts` in a new temporary directory; nothing started yet. `sabotage`
    /// switches DLP off on every route.
    pub fn new(root: &Path, hosts: Vec<String>, sabotage: bool) -> Result<Bottle, Abort> {
        let tmp = tempfile::Builder::new()
            .prefix("bb-egress-conformance.")
            .tempdir()
            .map_err(|err| Abort::setup(format!("creating a temporary directory: {err}")))?
            .keep();
        let home = tmp.join("home");
        Ok(Bottle {
            hosts,
            sabotage,
            fixture_dir: tmp.join("fixture"),
            plan_file: tmp.join("plan.json"),
            env: stage_env(root, &home),
            home,
            tmp,
            plan: None,
            identity: None,
            net_up: false,
            fixture: None,
            sidecar: None,
            proxy: None,
        })
    }

    /// Starts everything; returns where the proxy answers once it does.
    pub fn launch(&mut self, bodies: &BTreeMap<String, String>) -> Result<Endpoint, Abort> {
        self.write_manifest()
            .map_err(|err| Abort::setup(format!("writing the bottle's home: {err}")))?;
        say(format!(
            "bb-plan {BOTTLE} --runtime runc | bb-net   ({} routes)",
            self.hosts.len()
        ));
        let env = self.env.clone();
        let plan = self.stage("bb-plan", &[BOTTLE, "--runtime", "runc"], &env)?;
        self.identity = plan_str(&plan, &["identity"]).ok();
        // bb-net may fail half way: `bb-net rm` then still runs.
        self.net_up = true;
        let plan = self.stage("bb-net", &[], &env)?;
        let identity = plan_str(&plan, &["identity"])?;
        let egress = plan_str(&plan, &["network", "egress"])?;

        say("test CA and leaf (rcgen), fixture upstream");
        let test_ca = certs::write_fixture_dir(&self.fixture_dir, &self.hosts, bodies)
            .map_err(|err| Abort::setup(format!("the test CA: {err:#}")))?;
        let fixture_ip = self.start_fixture(&identity, &egress)?;
        note(format!(
            "fixture {} at {fixture_ip} on {egress}",
            self.fixture.as_deref().unwrap_or_default()
        ));

        say("bb-ca | bb-compose up   (every name resolves to the fixture)");
        self.stage("bb-ca", &[], &env)?;
        let mut up_env = env;
        up_env.insert(
            "BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE".into(),
            fixture_ip.to_string().into(),
        );
        up_env.insert("BOT_BOTTLE_EXTRA_ROOTS".into(), test_ca.into_os_string());
        // The proxy answers on the internal network only; this harness drives it from the host.
        up_env.insert("BOT_BOTTLE_SIDECAR_LISTEN_ALL".into(), "1".into());
        let plan = self.stage("bb-compose", &["up"], &up_env)?;
        let sidecar = plan_str(&plan, &["compose", "sidecar_container"])?;
        self.sidecar = Some(sidecar.clone());
        let proxy = SocketAddr::new(container_ip(&sidecar, &egress)?, PROXY_PORT);
        self.proxy = Some(proxy);
        let bottle_ca = PathBuf::from(plan_str(&plan, &["ca", "cert"])?);
        note(format!("proxy {proxy}, bottle CA {}", bottle_ca.display()));
        wait_proxy(proxy)?;
        Ok(Endpoint { proxy, bottle_ca })
    }

    /// Runs one stage on the current plan (none for bb-plan); keeps and files what it wrote.
    fn stage(&mut self, program: &str, args: &[&str], env: &Env) -> Result<Value, Abort> {
        let mut cmd = Cmd::new(program, args).env(env);
        if let Some(plan) = &self.plan {
            cmd = cmd.stdin(plan.clone());
        }
        let out = cmd.output()?;
        let plan: Value = serde_json::from_str(&out).map_err(|err| {
            let mut line = vec![program];
            line.extend(args);
            Abort::setup(format!("`{}` wrote no plan: {err}", line.join(" ")))
        })?;
        std::fs::write(&self.plan_file, &out)
            .map_err(|err| Abort::setup(format!("{}: {err}", self.plan_file.display())))?;
        self.plan = Some(out);
        Ok(plan)
    }

    fn write_manifest(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(self.home.join("bottles"))?;
        std::fs::create_dir_all(self.home.join("agents"))?;
        std::fs::write(
            self.home.join("bottles").join(format!("{BOTTLE}.md")),
            manifest(&self.hosts, self.sabotage),
        )?;
        std::fs::write(
            self.home.join("agents").join(format!("{BOTTLE}.md")),
            format!("---\nbottle: {BOTTLE}\n---\nThe egress-conformance agent (never runs).\n"),
        )
    }

    /// The fixture on the egress network, also answering as every case host on the engine's
    /// resolver: even a sidecar that ignores the resolve override never sends a case's request
    /// to the real host. Returns its address once it listens.
    fn start_fixture(&mut self, identity: &str, egress: &str) -> Result<IpAddr, Abort> {
        let name = format!("bot-bottle-{identity}-fixture");
        let mount = format!("{}:/fixture:ro", self.fixture_dir.display());
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &format!("{IDENTITY_LABEL}={identity}"),
            "--label",
            &format!("{ROLE_LABEL}=fixture"),
            "--network",
            egress,
            "-v",
            &mount,
            "-e",
            &format!("FIXTURE_TLS_CERT=/fixture/{}", certs::LEAF),
            "-e",
            &format!("FIXTURE_TLS_KEY=/fixture/{}", certs::LEAF_KEY),
            "-e",
            &format!("FIXTURE_BODIES=/fixture/{}", certs::BODIES),
        ]
        .map(str::to_owned)
        .to_vec();
        for host in &self.hosts {
            args.extend(["--network-alias".to_owned(), host.clone()]);
        }
        args.push(FIXTURE_IMAGE.to_owned());
        self.fixture = Some(name.clone());
        Cmd::docker(&args).output()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = Cmd::docker(&["logs", &name]).capture()?;
            let stdout = String::from_utf8_lossy(&logs.stdout);
            if stdout.contains("upstream: listening") {
                break;
            }
            let state = Cmd::docker(&["inspect", "-f", "{{.State.Running}}", &name]).capture()?;
            if String::from_utf8_lossy(&state.stdout).trim() != "true" || Instant::now() > deadline
            {
                let stderr = String::from_utf8_lossy(&logs.stderr);
                return Err(Abort::setup(format!(
                    "the fixture did not start:\n{stdout}{stderr}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        container_ip(&name, egress)
    }

    /// What the fixture received, one entry per request (see images/fixture/upstream.py).
    pub fn fixture_requests(&self) -> Result<Vec<Json>, Abort> {
        let fixture = self.fixture.as_deref().unwrap_or_default();
        let out = Cmd::docker(&["exec", fixture, "cat", "/tmp/requests.jsonl"]).output()?;
        Ok(json_lines(out.as_bytes()))
    }

    /// The sidecar's JSON log lines.
    pub fn sidecar_log(&self) -> Result<Vec<Json>, Abort> {
        let sidecar = self.sidecar.as_deref().unwrap_or_default();
        let out = Cmd::docker(&["logs", sidecar]).capture()?;
        Ok(json_lines(&out.stdout))
    }

    /// Undoes what was done, every step attempted, in reverse order; with `keep`, says how to
    /// do it instead.
    pub fn close(self, keep: bool) {
        if keep {
            self.print_keep_note();
            return;
        }
        say("tearing down");
        let mut problems = Vec::new();
        let plan_file = self.plan_file.to_string_lossy().into_owned();
        let mut attempt = |cmd: Cmd| {
            if let Err(Abort::Setup(err)) = cmd.teardown().output() {
                problems.push(err);
            }
        };
        // `bb-compose down` also removes every container with the identity label (the fixture
        // included); the fixture goes before the networks.
        if self.net_up {
            attempt(
                Cmd::new("bb-compose", &["down", "--home", "--plan", &plan_file]).env(&self.env),
            );
        }
        if let Some(fixture) = &self.fixture {
            let _ = Cmd::docker(&["rm", "-f", fixture]).teardown().capture();
        }
        if self.net_up {
            attempt(Cmd::new("bb-net", &["rm", "--plan", &plan_file]).env(&self.env));
        }
        let _ = std::fs::remove_dir_all(&self.tmp);
        if let Some(identity) = &self.identity {
            problems.extend(leftovers(identity));
        }
        for problem in problems {
            warn(format!("teardown: {problem}"));
        }
    }

    fn print_keep_note(&self) {
        let proxy = self
            .proxy
            .map_or_else(|| "?".to_owned(), |p| p.ip().to_string());
        let plan = self.plan_file.display();
        eprintln!(
            "--keep: bottle left up. Plan {plan}; proxy {proxy}:{PROXY_PORT}; fixture {}; \
             BOT_BOTTLE_HOME={}\n  tear down (compose down also removes the fixture, it carries \
             the identity label):\n  PATH=$PWD/target/debug:$PATH; bb-compose down --plan {plan} \
             >/dev/null; bb-net rm --plan {plan} >/dev/null; rm -rf {}",
            self.fixture.as_deref().unwrap_or("None"),
            self.home.display(),
            self.tmp.display()
        );
    }
}

/// The manifest of the bottle: one `private: true` route per host (DLP off with `sabotage`).
fn manifest(hosts: &[String], sabotage: bool) -> String {
    let mut lines: Vec<String> = ["---", "egress:", "  routes:"].map(str::to_owned).to_vec();
    for host in hosts {
        lines.push(format!(
            "    - host: {}",
            Json::String(host.clone()).dumps()
        ));
        lines.push("      private: true".to_owned());
        if sabotage {
            lines.push("      dlp: {outbound: false, inbound: false}".to_owned());
        }
    }
    if hosts.is_empty() {
        lines.pop();
        lines.push("  routes: []".to_owned());
    }
    lines.extend(
        [
            "---",
            "The egress-conformance bottle: one route per case host.",
            "",
        ]
        .map(str::to_owned),
    );
    lines.join("\n")
}

/// The stages' environment: this one, with the workspace's debug binaries first on `PATH`, the
/// throwaway home, the test images, and none of the sidecar test knobs.
fn stage_env(root: &Path, home: &Path) -> Env {
    let mut env: Env = std::env::vars_os().collect();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| root.join("target"), PathBuf::from);
    let mut path = target.join("debug").into_os_string();
    path.push(":");
    path.push(
        env.get(&OsString::from("PATH"))
            .cloned()
            .unwrap_or_default(),
    );
    env.insert("PATH".into(), path);
    env.insert("BOT_BOTTLE_HOME".into(), home.as_os_str().to_owned());
    env.insert(
        "BOT_BOTTLE_IMAGE".into(),
        "bot-bottle-test-agent:latest".into(),
    );
    // The release-built sidecar of scripts/images, not one built from the debug binaries.
    env.insert(
        "BOT_BOTTLE_SIDECAR_IMAGE".into(),
        "bot-bottle-sidecar:latest".into(),
    );
    for knob in [
        "BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE",
        "BOT_BOTTLE_EXTRA_ROOTS",
        "BOT_BOTTLE_SIDECAR_LISTEN_ALL",
    ] {
        env.remove(&OsString::from(knob));
    }
    env
}

/// The string at `path` in a stage's plan.
fn plan_str(plan: &Value, path: &[&str]) -> Result<String, Abort> {
    path.iter()
        .try_fold(plan, |value, key| value.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Abort::setup(format!("the plan has no {}", path.join("."))))
}

/// The address of container `name` on `network`.
fn container_ip(name: &str, network: &str) -> Result<IpAddr, Abort> {
    let out =
        Cmd::docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", name]).output()?;
    let networks: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    networks
        .get(network)
        .and_then(|n| n.get("IPAddress"))
        .and_then(Value::as_str)
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| Abort::setup(format!("{name} has no address on {network}")))
}

/// Waits up to 15 s for the proxy's `/healthz` to answer 200 from this host.
fn wait_proxy(proxy: SocketAddr) -> Result<(), Abort> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let why = match healthz(proxy) {
            Ok(200) => return Ok(()),
            Ok(status) => format!("/healthz answered {status}"),
            Err(why) => why,
        };
        if Instant::now() > deadline {
            return Err(Abort::setup(format!(
                "the proxy at {proxy} does not answer from this host: {why}"
            )));
        }
        std::thread::sleep(Duration::from_millis(300));
        checkpoint()?;
    }
}

/// The JSON objects among `bytes`' lines; other lines are skipped.
fn json_lines(bytes: &[u8]) -> Vec<Json> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| Json::parse(line).ok())
        .filter(Json::is_object)
        .collect()
}

/// Containers and networks of `identity` still there after the teardown, as a problem.
fn leftovers(identity: &str) -> Option<String> {
    let list = |args: &[&str]| -> Vec<String> {
        Cmd::docker(args)
            .teardown()
            .capture()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(py_repr_str)
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = list(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={IDENTITY_LABEL}={identity}"),
    ]);
    let networks = list(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("name=bot-bottle-{identity}"),
    ]);
    if containers.is_empty() && networks.is_empty() {
        return None;
    }
    Some(format!(
        "left behind: containers [{}], networks [{}]",
        containers.join(", "),
        networks.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_has_one_private_route_per_host() {
        let hosts = ["a.example".to_owned(), "b.example".to_owned()];
        assert_eq!(
            manifest(&hosts, false),
            "---\negress:\n  routes:\n    - host: \"a.example\"\n      private: true\n    \
             - host: \"b.example\"\n      private: true\n---\n\
             The egress-conformance bottle: one route per case host.\n"
        );
        assert!(
            manifest(&hosts[..1], true)
                .contains("private: true\n      dlp: {outbound: false, inbound: false}\n---")
        );
        assert!(manifest(&[], false).starts_with("---\negress:\n  routes: []\n---\n"));
    }

    #[test]
    fn the_stage_env_puts_the_debug_binaries_first_and_drops_the_test_knobs() {
        let env = stage_env(Path::new("/repo"), Path::new("/tmp/h"));
        let path = env[&OsString::from("PATH")].to_string_lossy().into_owned();
        assert!(path.contains("/debug:"), "{path}");
        assert_eq!(env[&OsString::from("BOT_BOTTLE_HOME")], "/tmp/h");
        assert!(!env.contains_key(&OsString::from("BOT_BOTTLE_SIDECAR_LISTEN_ALL")));
    }

    #[test]
    fn plan_fields_and_json_lines() {
        let plan: Value = serde_json::from_str(r#"{"network": {"egress": "e"}}"#).unwrap();
        assert_eq!(plan_str(&plan, &["network", "egress"]).unwrap(), "e");
        assert_eq!(
            plan_str(&plan, &["ca", "cert"]),
            Err(Abort::setup("the plan has no ca.cert"))
        );
        let lines = json_lines(b"{\"a\": 1}\nnot json\n[1]\n{\"b\": 2}");
        assert_eq!(lines.len(), 2);
    }
}
