//! `bb-kube apply | delete | exec` against a recording `kubectl` (this machine has no
//! cluster): the order of the calls, what goes on kubectl's stdin and what in its argv, the
//! namespace deleted after a failed apply, and the plan each prints.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bb_testkit::kubectl::FakeKubectl;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
const TOKEN: &str = "sk-ant-oat01-PLANTED-apply-3f9e1b";
const CLUSTER_IP: &str = "10.96.0.77";

/// The namespace exists once something was applied (or from the start: `FAKE_NS_EXISTS`).
/// kubectl has a current context only with `FAKE_CONTEXT`.
/// `FAKE_FAIL=secrets` fails the apply that carries the Secrets, quoting it all on stderr;
/// `FAKE_FAIL=wait` the wait for the agent.
const ANSWERS: &str = r#"
  *" apply "*) cat > "$dir/call-$n.stdin"; : > "$dir/namespace"
    if [ "$FAKE_FAIL" = secrets ] && grep -q stringData "$dir/call-$n.stdin"; then
      echo "Error from server: $(cat "$dir/call-$n.stdin")" >&2; exit 1; fi ;;
  *" get namespace/"*) if [ -e "$dir/namespace" ] || [ -n "$FAKE_NS_EXISTS" ]; then
      printf 'namespace/x\n'; fi ;;
  *" config current-context "*) [ -n "$FAKE_CONTEXT" ] || exit 1; echo "$FAKE_CONTEXT" ;;
  *" get service "*) printf '%s' "${FAKE_CLUSTER_IP:-10.96.0.77}" ;;
  *" wait "*) if [ "$FAKE_FAIL" = wait ]; then
      echo "error: timed out waiting for the condition on pods/agent" >&2; exit 1; fi ;;
  *" exec "*) exit 7 ;;
"#;

struct Cluster {
    kubectl: FakeKubectl,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            kubectl: FakeKubectl::new(ANSWERS),
        }
    }

    fn state(&self) -> PathBuf {
        self.kubectl.dir().join("state")
    }

    fn bb_kube(&self, args: &[&str], plan: &str) -> Command {
        let mut cmd = Command::cargo_bin("bb-kube").unwrap();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap())
            .env("BB_KUBECTL", self.kubectl.program())
            .env("CLAUDE_CODE_OAUTH_TOKEN", TOKEN)
            .args(args)
            .write_stdin(plan.to_string());
        cmd
    }

    fn calls(&self) -> Vec<String> {
        self.kubectl.calls()
    }

    /// What the `index`th call read on stdin: a List.
    fn stdin_of(&self, index: usize) -> Value {
        serde_json::from_slice(&self.kubectl.stdin_at(index)).unwrap()
    }
}

/// The `repos` fixture with its key command printing the fixture's deploy key, its state
/// folder in a temporary one.
fn plan_text(state: &Path) -> String {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("repos.json"))
        .unwrap()
        .replace("@FIXTURES@", FIXTURES);
    let mut plan: Value = serde_json::from_str(&text).unwrap();
    let key = format!("{FIXTURES}/deploy_key");
    plan["git_gate"]["repos"][1]["key_command"] = serde_json::json!(["cat", key]);
    plan["state_dir"] = serde_json::json!(state);
    plan.to_string()
}

fn secret_values() -> Vec<String> {
    let read = |name: &str| std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap();
    vec![
        TOKEN.to_string(),
        "PLANTED-DEPLOY-KEY".to_string(),
        "PLANTED-CA-KEY".to_string(),
        read("ca-key.pem").trim().to_string(),
    ]
}

fn items_of<'a>(list: &'a Value, kind: &str) -> Vec<&'a Value> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["kind"] == kind)
        .collect()
}

#[test]
fn apply_makes_the_namespace_and_service_first_then_everything_with_its_address() {
    let cluster = Cluster::new();
    let out = cluster
        .bb_kube(
            &[
                "apply",
                "--sidecar-image",
                "reg.example/sidecar:1",
                "--context",
                "lab",
            ],
            &plan_text(&cluster.state()),
        )
        .assert()
        .success()
        .get_output()
        .clone();
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kube = &plan["kube"];
    let namespace = kube["namespace"].as_str().unwrap();
    assert!(namespace.starts_with("bb-"), "{kube}");
    assert_eq!(kube["sidecar_ip"], CLUSTER_IP);
    assert_eq!(kube["context"], "lab");
    assert_eq!(kube["applied"], true);

    let calls = cluster.calls();
    let verbs: Vec<&str> = calls
        .iter()
        .map(|c| c.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["get", "apply", "get", "apply", "rollout", "wait"],
        "{calls:#?}"
    );
    assert!(
        calls.iter().all(|c| c.starts_with("--context lab ")),
        "{calls:#?}"
    );
    assert!(
        calls[1].contains("--server-side"),
        "no last-applied annotation: {}",
        calls[1]
    );

    let first = cluster.stdin_of(1);
    let kinds: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Namespace", "Service"]);
    assert!(
        first["items"][1]["spec"].get("clusterIP").is_none(),
        "the cluster picks it"
    );

    let all = cluster.stdin_of(3);
    let pod = items_of(&all, "Pod")[0];
    assert_eq!(pod["spec"]["dnsConfig"]["nameservers"][0], CLUSTER_IP);
    let secret = |name: &str| {
        items_of(&all, "Secret")
            .into_iter()
            .find(|s| s["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Secret {name}"))
            .clone()
    };
    assert_eq!(secret("sidecar-env")["stringData"]["EGRESS_TOKEN_1"], TOKEN);
    let keys = secret("gate-keys");
    for repo in ["shop", "docs.site"] {
        let key = keys["stringData"][repo].as_str().unwrap();
        assert!(
            key.contains("PLANTED-DEPLOY-KEY"),
            "{repo}: the key file and the command"
        );
    }
    let ca = secret("bottle-ca");
    assert!(
        ca["stringData"]["ca-key.pem"]
            .as_str()
            .unwrap()
            .contains("PLANTED-CA-KEY")
    );
    let agent_canary = secret("agent-env")["stringData"]["BOT_BOTTLE_CANARY"].clone();
    assert_eq!(
        agent_canary,
        secret("sidecar-env")["stringData"]["BB_SIDECAR_CANARY"],
        "one canary, in both pods"
    );

    let shown = format!(
        "{}{}{}",
        calls.join("\n"),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for value in secret_values() {
        assert!(
            !shown.contains(&value),
            "{value} is in an argv, the plan or a log"
        );
    }
}

#[test]
fn a_failed_wait_deletes_the_namespace_and_shows_no_secret() {
    let cluster = Cluster::new();
    let out = cluster
        .bb_kube(
            &["apply", "--sidecar-image", "reg.example/sidecar:1"],
            &plan_text(&cluster.state()),
        )
        .env("FAKE_FAIL", "wait")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("waiting for the agent"), "{stderr}");
    let calls = cluster.calls();
    let n = calls.len();
    assert!(
        calls[n - 2].starts_with("delete deployment,pod -n bb-")
            && calls[n - 2].contains("--wait=true"),
        "the pods go first, while the policies still wall them in: {calls:#?}"
    );
    assert!(
        calls[n - 1].starts_with("delete namespace/bb-")
            && calls[n - 1].contains("--ignore-not-found"),
        "{calls:#?}"
    );
    for value in secret_values() {
        assert!(!stderr.contains(&value), "{value}");
    }
}

#[test]
fn a_failed_apply_of_a_kept_bottle_keeps_its_home() {
    let cluster = Cluster::new();
    cluster
        .bb_kube(
            &["apply", "--sidecar-image", "reg.example/sidecar:1"],
            &plan_text(&cluster.state()),
        )
        .env("FAKE_FAIL", "wait")
        .env("FAKE_NS_EXISTS", "1")
        .assert()
        .code(1);
    let calls = cluster.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("delete namespace/")),
        "the namespace held the home of a kept bottle: {calls:#?}"
    );
    let n = calls.len();
    assert!(
        calls[n - 2].starts_with("delete deployment,pod "),
        "{calls:#?}"
    );
    assert!(
        calls[n - 1].starts_with("delete service,secret,configmap,networkpolicy "),
        "{calls:#?}"
    );
}

#[test]
fn a_server_that_quotes_the_secrets_gets_them_scrubbed() {
    let cluster = Cluster::new();
    let out = cluster
        .bb_kube(
            &["apply", "--sidecar-image", "reg.example/sidecar:1"],
            &plan_text(&cluster.state()),
        )
        .env("FAKE_FAIL", "secrets")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stringData") && stderr.contains("[redacted]"),
        "control: the server's message is shown: {stderr}"
    );
    for value in secret_values() {
        assert!(!stderr.contains(&value), "{value} in {stderr}");
    }
}

#[test]
fn an_address_outside_the_service_range_is_refused_before_anything_else_is_made() {
    let cluster = Cluster::new();
    let out = cluster
        .bb_kube(
            &["apply", "--sidecar-image", "reg.example/sidecar:1"],
            &plan_text(&cluster.state()),
        )
        .env("FAKE_CLUSTER_IP", "10.43.0.10")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("10.43.0.10, outside --service-cidr 10.96.0.0/12"),
        "{stderr}"
    );
    let errors = stderr.lines().filter(|l| l.contains("error")).count();
    assert_eq!(errors, 1, "one line, with its fix: {stderr}");
    let calls = cluster.calls();
    let verbs: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        verbs,
        ["config", "get", "apply", "get", "get", "delete", "delete"],
        "the context, the namespace and Service, their address, then nothing but deletion: {calls:#?}"
    );
    assert!(calls[6].starts_with("delete namespace/"), "{calls:#?}");
}

/// The plan `apply` printed, with its `provision` section as bb-provision adds it.
fn applied_plan(cluster: &Cluster) -> Value {
    let out = cluster
        .bb_kube(
            &["apply", "--sidecar-image", "reg.example/sidecar:1"],
            &plan_text(&cluster.state()),
        )
        .env("FAKE_CONTEXT", "fake-context")
        .assert()
        .success()
        .get_output()
        .clone();
    let mut plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["provision"] = serde_json::json!({
        "ca_cert": "/usr/local/share/ca-certificates/bot-bottle.crt",
        "prompt_file": "/home/node/.bot-bottle-prompt.txt",
        "skills": [],
        "gitconfig": "/home/node/.gitconfig"
    });
    plan
}

#[test]
fn exec_runs_the_agent_in_its_pod_and_exits_with_its_status() {
    let cluster = Cluster::new();
    let plan = applied_plan(&cluster);
    let namespace = plan["kube"]["namespace"].as_str().unwrap().to_string();
    cluster
        .bb_kube(
            &["exec", "--headless", "--prompt", "run the tests"],
            &plan.to_string(),
        )
        .assert()
        .code(7);
    let calls = cluster.calls();
    let exec = calls.last().unwrap();
    let expected =
        format!("--context fake-context exec -n {namespace} agent -c agent -- sh -c cd '");
    assert!(exec.starts_with(&expected), "{exec}");
    assert!(exec.contains("'run the tests'"), "{exec}");
}

#[test]
fn delete_removes_the_namespace_with_the_plans_context() {
    let cluster = Cluster::new();
    let mut plan = applied_plan(&cluster);
    plan["kube"]["context"] = "lab".into();
    let out = cluster
        .bb_kube(&["delete"], &plan.to_string())
        .assert()
        .success()
        .get_output()
        .clone();
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["kube"]["applied"], false);
    let calls = cluster.calls();
    let namespace = plan["kube"]["namespace"].as_str().unwrap();
    assert!(
        calls
            .last()
            .unwrap()
            .starts_with(&format!("--context lab delete namespace/{namespace} ")),
        "{calls:#?}"
    );
}

#[test]
fn exec_and_delete_need_an_applied_plan_and_kubectl() {
    let cluster = Cluster::new();
    let out = cluster
        .bb_kube(&["exec"], &plan_text(&cluster.state()))
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("run bb-kube apply first"), "{stderr}");
    let out = cluster
        .bb_kube(&["delete"], &plan_text(&cluster.state()))
        .env("BB_KUBECTL", "")
        .env("PATH", "/nonexistent")
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kubectl is not on PATH"), "{stderr}");
    assert!(cluster.calls().is_empty());
}
