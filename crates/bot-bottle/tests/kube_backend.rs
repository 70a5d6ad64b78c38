//! `bot-bottle start --backend kubernetes` against a recording `kubectl` (this machine has no
//! cluster): the stages apply, provision and run the agent in its pod while the sidecar's log
//! is copied into the audit stream; teardown stops the
//! bottle and keeps its home when the state is kept, deletes the namespace on a clean exit;
//! `list active`, `resume` and `cleanup` find it through its record. No secret value reaches an
//! argv, the state folder or the output. The Docker CLI answers nothing here (`BB_DOCKER`): a bottle
//! on a cluster needs no engine, and `cleanup` cannot touch the engine's real bottles.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bb_testkit::kubectl::FakeKubectl;
use bb_testkit::{Fixture, simple_bottle, text, unique_name};
use serde_json::Value;

const TOKEN: &str = "kube-backend-PLANTED-token-6d2f";

/// Answers like a cluster whose pods are up (calls recorded by [`FakeKubectl`]). The agent's
/// own command exits with `$FAKE_AGENT_EXIT`; the sidecar's log stream ends once and is
/// followed again, and its pods are deleted only once it was.
const ANSWERS: &str = r#"
  *" apply "*) cat > "$dir/call-$n.stdin"; rm -f "$dir/deleted"; exit 0 ;;
  *" delete deployment,pod "*) for i in $(seq 600); do [ -e "$dir/refollowed" ] && break; sleep 0.1; done
    : > "$dir/deleted"; exit 0 ;;
  *" get deployment/"*" -o name "*) [ -e "$dir/deleted" ] || echo deployment.apps/sidecar; exit 0 ;;
  *" config current-context "*) [ -e "$dir/../context" ] || exit 1; cat "$dir/../context"; exit 0 ;;
  *" get namespace/"*) printf 'namespace/x\n'; exit 0 ;;
  *" get service "*) printf '10.96.0.88'; exit 0 ;;
  *" get pod "*) printf '{"status":{"phase":"Running","startTime":"2026-01-01T00:00:00Z"},"metadata":{"labels":{"bot-bottle.agent":"%s"}},"spec":{}}' "$FAKE_AGENT"; exit 0 ;;
  *" get deployment/"*) printf '1'; exit 0 ;;
  *" logs -f --timestamps "*" --since-time="*) : > "$dir/refollowed"; echo '2026-12-07T10:00:00.5Z {"time":"2026-12-07T10:00:00.5Z","service":"egress","host":"api.example.org","method":"GET","path":"/","verdict":"allow","reason":"route api.example.org","detector":null}'
    echo '2026-12-07T10:00:01.5Z {"time":"2026-12-07T10:00:01.5Z","service":"dns","host":"after-a-restart.example","method":"A","path":null,"verdict":"block","reason":"sink","detector":null}'; exit 0 ;;
  *" logs -f --timestamps "*) echo '2026-12-07T10:00:00.5Z {"time":"2026-12-07T10:00:00.5Z","service":"egress","host":"api.example.org","method":"GET","path":"/","verdict":"allow","reason":"route api.example.org","detector":null}'; exit 0 ;;
  *" exec "*"tar -x"*) cat > "$dir/call-$n.stdin"; exit 0 ;;
  *" exec -i "*) cat > "$dir/call-$n.stdin"; exit 0 ;;
  *" exec "*"test -d"*) exit 1 ;;
  *" exec "*"kill -HUP 1"*) exit 0 ;;
  *" exec "*" tar -c "*) cat "$dir/../proposals.tar"; exit 0 ;;
  *" exec "*) if [ -n "$FAKE_AGENT_WAITS" ]; then
      for i in $(seq 300); do [ -e "$dir/../answered" ] && break; sleep 0.1; done; fi
    exit "${FAKE_AGENT_EXIT:-0}" ;;
"#;

/// The recording kubectl, and a Docker CLI that answers nothing.
struct Cluster {
    kubectl: FakeKubectl,
    docker: PathBuf,
}

impl Cluster {
    fn new() -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let kubectl = FakeKubectl::new(ANSWERS);
        let docker = kubectl.dir().join("docker");
        std::fs::write(&docker, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cluster { kubectl, docker }
    }

    fn calls(&self) -> Vec<String> {
        self.kubectl.calls()
    }

    fn stdin_of(&self, marker: &str) -> Vec<u8> {
        self.kubectl.stdin_of(marker)
    }

    fn everything(&self) -> String {
        self.kubectl.everything()
    }
}

struct Bottle {
    f: Fixture,
    name: String,
    env: Vec<(String, String)>,
    cluster: Cluster,
}

impl Bottle {
    fn new() -> Bottle {
        let f = Fixture::new();
        let name = unique_name("kb");
        let env = simple_bottle(
            &f,
            &name,
            "egress:\n  routes:\n    - host: api.example.org\n      auth: {scheme: Bearer, token_ref: BB_TEST_KUBE_TOKEN}\n",
        );
        Bottle {
            f,
            name,
            env,
            cluster: Cluster::new(),
        }
    }

    fn run(&self, args: &[&str], agent_exit: &str) -> std::process::Output {
        self.f
            .cmd("bot-bottle")
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BB_KUBECTL", self.cluster.kubectl.program())
            .env("BB_DOCKER", &self.cluster.docker)
            .env("FAKE_AGENT", &self.name)
            .env("FAKE_AGENT_EXIT", agent_exit)
            .env("BB_TEST_KUBE_TOKEN", TOKEN)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    fn start(&self, agent_exit: &str) -> std::process::Output {
        self.run(
            &[
                "start",
                &self.name,
                "--headless",
                "--prompt",
                "run the tests",
                "--runtime",
                "runc",
                "--backend",
                "kubernetes",
                "--sidecar-image",
                "registry.example/bot-bottle-sidecar:1",
                "--context",
                "lab",
            ],
            agent_exit,
        )
    }

    fn state_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.f.home().join("state"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

/// A call of the launch's log follower (`logs -f`, and its check that the sidecar's
/// Deployment is still there).
fn of_follower(call: &str) -> bool {
    call.contains(" logs -f ")
        || call.contains(" get deployment/sidecar ") && call.contains(" -o name")
}

fn verbs(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            let words: Vec<&str> = c.split_whitespace().collect();
            // `--context lab VERB …`
            let verb = words[2..].iter().take(2).copied().collect::<Vec<_>>();
            verb.join(" ").split('/').next().unwrap().to_string()
        })
        .collect()
}

fn files_under(dir: &Path) -> String {
    bb_testkit::walk(dir)
        .iter()
        .filter(|p| p.is_file())
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

#[test]
fn a_kept_launch_stops_the_bottle_keeps_its_home_and_resume_and_cleanup_find_it() {
    let b = Bottle::new();
    let out = b.start("7");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "the agent's status: {stderr}");
    let calls = b.cluster.calls();
    assert!(
        calls.iter().all(|c| c.starts_with("--context lab ")),
        "{calls:#?}"
    );
    // The log's follower runs beside the stages: its calls (and its checks that the sidecar's
    // Deployment is still there) come in any order.
    let (follower, calls): (Vec<String>, Vec<String>) =
        calls.into_iter().partition(|c| of_follower(c));
    let followed: Vec<&String> = follower
        .iter()
        .filter(|c| c.contains(" logs -f "))
        .collect();
    assert!(followed[0].ends_with(" deployment/sidecar"), "{followed:?}");
    assert!(
        followed[1..]
            .iter()
            .any(|c| c.contains(" --since-time=2026-12-07T10:00:00.5Z ")),
        "followed again from the last line when the stream ended: {followed:?}"
    );
    assert_eq!(
        verbs(&calls),
        [
            "get namespace",
            "apply --server-side",
            "get service",
            "apply --server-side",
            "rollout status",
            "wait --for=condition=Ready",
            "exec -i",
            "exec -n",
            // Kept: the pods first (while the policies still wall them in), the home stays.
            "delete deployment,pod",
            "delete service,secret,configmap,networkpolicy",
        ],
        "{calls:#?}"
    );
    assert!(
        calls[7].contains("'run the tests'"),
        "the headless turn: {}",
        calls[7]
    );
    let provisioned = b.cluster.stdin_of("tar -x");
    let mut names: Vec<String> = tar::Archive::new(provisioned.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert!(
        names.contains(&".bot-bottle-prompt.txt".to_string())
            && names.contains(&".gitconfig".to_string()),
        "the home's files went in on kubectl exec's stdin: {names:?}"
    );

    let kept = b.state_dirs();
    assert_eq!(kept.len(), 1, "a non-zero exit keeps the state: {stderr}");
    let identity = kept[0].file_name().unwrap().to_str().unwrap().to_string();
    let logged = b.run(&["logs", &identity, "--json"], "0");
    let lines: Vec<Value> = String::from_utf8_lossy(&logged.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hosts: Vec<&str> = lines.iter().map(|l| l["host"].as_str().unwrap()).collect();
    assert_eq!(
        hosts,
        ["api.example.org", "after-a-restart.example"],
        "the pod's log, kept once, across the end of a stream: {}",
        text(&logged).1
    );
    assert!(lines.iter().all(|l| l["bottle"] == identity.as_str()));
    let record: Value =
        serde_json::from_slice(&std::fs::read(kept[0].join("kube.json")).unwrap()).unwrap();
    assert_eq!(record["applied"]["sidecar_ip"], "10.96.0.88");
    assert_eq!(
        record["launch"]["cluster"]["sidecar_image"],
        "registry.example/bot-bottle-sidecar:1"
    );

    let listed = b.run(&["list", "active", "--json"], "0");
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "running")
        .unwrap_or_else(|| panic!("no running row: {rows}"));
    assert_eq!(row["runtime"], "kubernetes");
    assert_eq!(row["sidecar"], "healthy");
    assert_eq!(row["agent"], b.name.as_str());

    // reload: the routes into the sidecar's configuration folder, then the tokens, both on
    // kubectl exec's stdin.
    let reloaded = b.run(&["reload", &identity], "0");
    assert!(reloaded.status.success(), "{}", text(&reloaded).1);
    let routes = b.cluster.stdin_of("tar -x -m -C /etc/bot-bottle -f -");
    let files = bb_core::engine_files::files_of(&routes).unwrap();
    assert!(
        String::from_utf8_lossy(&files[0].bytes).contains("api.example.org"),
        "{files:?}"
    );
    let tokens = b.cluster.stdin_of("bb-sidecar set-tokens");
    assert_eq!(
        String::from_utf8_lossy(&tokens),
        format!("EGRESS_TOKEN_1={TOKEN}\n")
    );
    let set_tokens = b
        .cluster
        .calls()
        .into_iter()
        .find(|c| c.contains("set-tokens"))
        .unwrap();
    assert!(
        set_tokens.contains(" deployment/sidecar -c sidecar -- "),
        "{set_tokens}"
    );

    let before = b.cluster.calls().len();
    let resumed = b.run(&["resume", &identity, "--yes", "--prompt", "go on"], "0");
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed).1);
    let again: Vec<String> = b.cluster.calls()[before..]
        .iter()
        .filter(|c| !of_follower(c))
        .cloned()
        .collect();
    assert!(
        again[1].contains("apply --server-side")
            && again.last().unwrap().contains("delete namespace/"),
        "resume applies again with the recorded flags and a clean exit deletes the namespace: {again:#?}"
    );
    assert!(b.state_dirs().is_empty(), "a clean exit removes the state");

    let shown = format!("{stdout}{stderr}{}", b.cluster.calls().join("\n"));
    assert!(
        !shown.contains(TOKEN),
        "the token is in an argv or the output"
    );
    assert!(
        b.cluster.everything().contains(TOKEN),
        "control: the Secret got it on stdin"
    );
}

#[test]
fn cleanup_deletes_the_namespace_of_a_kept_bottle_before_its_state() {
    let b = Bottle::new();
    let out = b.start("3");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    let state = files_under(&b.f.home().join("state"));
    assert!(
        !state.contains(TOKEN),
        "a secret value is in the state folder"
    );
    let namespace =
        bb_kube::names::namespace(b.state_dirs()[0].file_name().unwrap().to_str().unwrap());
    let out = b.run(&["cleanup", "--yes"], "0");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("namespace  {namespace}")),
        "{stdout}"
    );
    let last = b.cluster.calls().last().unwrap().clone();
    assert!(
        last.starts_with(&format!("--context lab delete namespace/{namespace} ")),
        "{last}"
    );
    assert!(b.state_dirs().is_empty());
}

/// A proposal as the sidecar files it, in the tar `tar -c -C SUPERVISE_DIR proposals` prints.
fn proposals_tar(id: &str, host: &str) -> Vec<u8> {
    use bb_contract::supervise::{EgressRequest, Proposal};
    let proposal = Proposal {
        id: id.into(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: "2999-01-01T00:00:00Z".into(),
        request: EgressRequest {
            host: host.into(),
            paths: vec![],
            methods: vec![],
            reason: format!("the build needs {host}"),
        },
        hold: None,
    };
    let json = serde_json::to_vec(&proposal).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, format!("proposals/{id}.json"), json.as_slice())
        .unwrap();
    tar.into_inner().unwrap()
}

#[test]
fn supervise_reads_and_answers_a_cluster_bottle_through_kubectl_exec() {
    const ID: &str = "cccc0000000000000000000000000003";
    let b = Bottle::new();
    let dir = b.cluster.kubectl.dir().to_path_buf();
    std::fs::write(dir.join("proposals.tar"), proposals_tar(ID, "pypi.org")).unwrap();
    let launch = bb_testkit::Background::new(
        b.f.spawnable("bot-bottle")
            .args([
                "start",
                &b.name,
                "--headless",
                "--prompt",
                "wait",
                "--runtime",
                "runc",
                "--backend",
                "kubernetes",
                "--sidecar-image",
                "registry.example/sc:1",
            ])
            .envs(b.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("BB_KUBECTL", b.cluster.kubectl.program())
            .env("BB_DOCKER", &b.cluster.docker)
            .env("FAKE_AGENT_WAITS", "1")
            .env("BB_TEST_KUBE_TOKEN", TOKEN)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let running = bb_testkit::wait_for(Duration::from_secs(60), || {
        b.state_dirs()
            .into_iter()
            .find(|d| d.join("kube.json").is_file() && d.join("wrapper.pid").is_file())
    });
    let state = running.expect("the launch came up");
    let identity = state.file_name().unwrap().to_str().unwrap().to_string();
    let sup = |args: &[&str]| {
        b.f.cmd("bot-bottle")
            .args(args)
            .env("BB_KUBECTL", b.cluster.kubectl.program())
            .env("BB_DOCKER", &b.cluster.docker)
            .output()
            .unwrap()
    };
    let listed = sup(&["supervise", "--once", "--json"]);
    let pending: Value = serde_json::from_slice(&listed.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&listed).1));
    assert_eq!(pending[0]["id"], ID, "{pending}");
    assert_eq!(pending[0]["identity"], identity.as_str());

    let approved = sup(&["supervise", "--approve", ID]);
    assert!(approved.status.success(), "{}", text(&approved).1);
    let decision = b
        .cluster
        .stdin_of("tar -x -m -C /var/lib/bot-bottle/supervise -f -");
    let entries: Vec<(String, String)> = tar::Archive::new(decision.as_slice())
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            (e.path().unwrap().display().to_string(), text)
        })
        .collect();
    assert_eq!(entries[0].0, format!("decisions/{ID}.json"));
    assert!(entries[0].1.contains("approved"), "{entries:?}");
    let calls = b.cluster.calls();
    let routes_put = calls
        .iter()
        .rposition(|c| c.contains("tar -x -m -C /etc/bot-bottle -f -"))
        .expect("the routes file went in");
    let decision_put = calls
        .iter()
        .position(|c| c.contains("tar -x -m -C /var/lib/bot-bottle/supervise"))
        .unwrap();
    let hup = calls
        .iter()
        .position(|c| c.contains("kill -HUP 1"))
        .unwrap();
    assert!(
        routes_put < decision_put && decision_put < hup,
        "routes, then the decision, then the signal: {calls:#?}"
    );
    let routes = b.cluster.stdin_of("tar -x -m -C /etc/bot-bottle -f -");
    let routes = bb_core::engine_files::files_of(&routes).unwrap();
    assert!(String::from_utf8_lossy(&routes[0].bytes).contains("pypi.org"));
    assert!(
        calls[hup].contains(" deployment/sidecar -c sidecar -- "),
        "{}",
        calls[hup]
    );

    std::fs::write(dir.join("answered"), "").unwrap();
    let out = launch.wait_with_output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Without `--context`, the context current at the launch is pinned: every call names it, and
/// `stop` reaches that cluster after the current context changed (here: none is left).
#[test]
fn the_launch_pins_the_current_context_and_stop_reaches_it() {
    let b = Bottle::new();
    std::fs::write(b.cluster.kubectl.dir().join("context"), "lab\n").unwrap();
    let out = b.run(
        &[
            "start",
            &b.name,
            "--headless",
            "--prompt",
            "go",
            "--runtime",
            "runc",
            "--backend",
            "kubernetes",
            "--sidecar-image",
            "registry.example/sc:1",
        ],
        "4",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    let calls = b.cluster.calls();
    assert_eq!(calls[0], "config current-context", "{calls:#?}");
    assert!(
        calls[1..].iter().all(|c| c.starts_with("--context lab ")),
        "{calls:#?}"
    );

    std::fs::remove_file(b.cluster.kubectl.dir().join("context")).unwrap();
    let identity = b.state_dirs()[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let before = b.cluster.calls().len();
    let stopped = b.run(&["stop", &identity], "0");
    assert!(stopped.status.success(), "{}", text(&stopped).1);
    let after: Vec<String> = b.cluster.calls()[before..]
        .iter()
        .filter(|c| !of_follower(c))
        .cloned()
        .collect();
    assert!(
        after
            .iter()
            .any(|c| c.starts_with("--context lab delete deployment,pod -n bb-")),
        "{after:#?}"
    );
}
