//! Where things are, and what they are called: the container paths, ports, resource names,
//! labels and environment variables the launcher, the sidecar and the gate must agree on.
//!
//! Every service binds the sidecar's address on the bottle's internal network only, never
//! `0.0.0.0`: a container on the egress network must not reach the proxy (and the tokens it
//! injects) or push through the gate.
//! (On Kubernetes the sidecar has a pod of its own and binds `0.0.0.0` there: NetworkPolicies
//! let only the agent's pod in; see [`kube`].)

/// The egress proxy (HTTP, `CONNECT`).
pub const PROXY_PORT: u16 = 9099;
/// The DNS sink (UDP and TCP).
pub const DNS_PORT: u16 = 53;
/// The git gate (`git://`).
pub const GIT_GATE_PORT: u16 = 9418;
/// The supervise MCP server (streamable HTTP).
pub const SUPERVISE_PORT: u16 = 9100;
/// The MCP endpoint's path on [`SUPERVISE_PORT`].
pub const SUPERVISE_PATH: &str = "/mcp";
/// The proxy's name on the internal network, as the agent uses it.
pub const PROXY_ALIAS: &str = "egress";
/// The gate's name on the internal network (`git://git-gate/NAME.git`).
pub const GATE_ALIAS: &str = "git-gate";
/// The supervise server's name on the internal network.
pub const SUPERVISE_ALIAS: &str = "supervise";
/// Every name the sidecar answers to on the internal network.
pub const SIDECAR_ALIASES: [&str; 3] = [PROXY_ALIAS, GATE_ALIAS, SUPERVISE_ALIAS];

/// The proxy URL the agent's `HTTP(S)_PROXY` variables hold.
pub fn proxy_url() -> String {
    format!("http://{PROXY_ALIAS}:{PROXY_PORT}")
}

/// The supervise MCP server's URL, as the agent's CLIs are told it.
pub fn supervise_url() -> String {
    format!("http://{SUPERVISE_ALIAS}:{SUPERVISE_PORT}{SUPERVISE_PATH}")
}

/// Paths inside the agent container.
pub mod agent {
    macro_rules! home {
        () => {
            "/home/node"
        };
    }
    /// The agent's home: the named volume that keeps its state across `resume`.
    pub const HOME: &str = home!();
    /// The workspace copied in from the host (`--cwd`).
    pub const WORKSPACE: &str = concat!(home!(), "/workspace");
    /// The prompt `bb-provision` writes and `bb-exec` passes to the CLI.
    pub const PROMPT_FILE: &str = concat!(home!(), "/.bot-bottle-prompt.txt");
    /// The agent's git configuration (identity, the gate's URLs).
    pub const GITCONFIG: &str = concat!(home!(), "/.gitconfig");
    /// The bottle's CA, where `update-ca-certificates` picks it up.
    pub const CA_CERT: &str = "/usr/local/share/ca-certificates/bot-bottle.crt";
    /// The system bundle that then holds it (for `SSL_CERT_FILE` and friends).
    pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
    /// The user the agent runs as.
    pub const USER: &str = "node";
    /// [`USER`]'s uid and gid in the agent image (`images/agent/Dockerfile` checks it).
    pub const UID: i64 = 1000;
}

/// Paths inside the sidecar container.
pub mod sidecar {
    macro_rules! config {
        () => {
            "/etc/bot-bottle"
        };
    }
    macro_rules! egress {
        () => {
            concat!(config!(), "/egress")
        };
    }
    macro_rules! gate {
        () => {
            concat!(config!(), "/git-gate")
        };
    }
    /// The sidecar's configuration (the proxy's and the gate's): a volume of the container,
    /// filled through the engine before the sidecar starts (`bb_core::engine_files`), never a
    /// folder of the launcher's.
    pub const CONFIG_DIR: &str = config!();

    /// A path of the configuration (`ROUTES`, `CA_KEY`, …) relative to [`CONFIG_DIR`]: its
    /// name in the tar that fills the folder, or under the folder a pod's volume fills.
    pub fn in_config(path: &str) -> &str {
        path.strip_prefix(CONFIG_DIR)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|rest| !rest.is_empty())
            .unwrap_or_else(|| panic!("{path} is not in the sidecar's configuration folder"))
    }
    /// The proxy's configuration folder.
    pub const EGRESS_DIR: &str = egress!();
    /// The plan's `egress` section, as the proxy reads it.
    pub const ROUTES: &str = concat!(egress!(), "/routes.json");
    /// The bottle CA's certificate and key.
    pub const CA_CERT: &str = concat!(egress!(), "/ca.pem");
    pub const CA_KEY: &str = concat!(egress!(), "/ca-key.pem");
    /// Extra upstream roots (`BOT_BOTTLE_EXTRA_ROOTS`).
    pub const EXTRA_ROOTS: &str = concat!(egress!(), "/extra-roots.pem");
    /// The gate's configuration folder.
    pub const GATE_DIR: &str = gate!();
    /// The gate's `repos.json` ([`crate::gate::GateConfig`]).
    pub const GATE_CONFIG: &str = concat!(gate!(), "/repos.json");
    /// The repos' SSH keys, one file per repo name, for a gate run on its own; in a bottle
    /// every key is in the gate's environment instead ([`crate::gate::GateConfig::agent_keys`]).
    pub const GATE_KEY_DIR: &str = concat!(gate!(), "/keys");
    /// The gitleaks-format rules of every push.
    pub const GATE_RULES: &str = concat!(gate!(), "/rules.toml");
    /// The bottle's supervise folder (`state/<identity>/supervise/`): proposals out, decisions
    /// in ([`crate::supervise`]).
    pub const SUPERVISE_DIR: &str = "/var/lib/bot-bottle/supervise";
    /// The gate's working folder (mirrors, known_hosts files, locks): an anonymous volume.
    pub const GATE_ROOT: &str = "/var/lib/bot-bottle/git-gate";
    /// The sidecar's control socket (in its own `/tmp`): `bb-sidecar set-tokens`, run in the
    /// container, hands the running proxy new token values through it.
    pub const CONTROL_SOCKET: &str = "/tmp/bb-sidecar/control.sock";
    /// The binaries in the sidecar image.
    pub const SIDECAR_BIN: &str = "/usr/local/bin/bb-sidecar";
    pub const GATE_BIN: &str = "/usr/local/bin/bb-gitgate";
}

/// Environment variables one crate sets and another reads.
pub mod env {
    /// The sidecar's settings (each also a `bb-sidecar` flag).
    pub const SIDECAR_ROUTES: &str = "BB_SIDECAR_ROUTES";
    pub const SIDECAR_LISTEN: &str = "BB_SIDECAR_LISTEN";
    pub const SIDECAR_DNS: &str = "BB_SIDECAR_DNS";
    pub const SIDECAR_CA_CERT: &str = "BB_SIDECAR_CA_CERT";
    pub const SIDECAR_CA_KEY: &str = "BB_SIDECAR_CA_KEY";
    pub const SIDECAR_EXTRA_ROOTS: &str = "BB_SIDECAR_EXTRA_ROOTS";
    pub const SIDECAR_DENY_NETS: &str = "BB_SIDECAR_DENY_NETS";
    pub const SIDECAR_RESOLVE_OVERRIDE: &str = "BB_SIDECAR_RESOLVE_OVERRIDE";
    pub const SIDECAR_MAX_BODY: &str = "BB_SIDECAR_MAX_BODY";
    pub const SIDECAR_GIT_GATE: &str = "BB_SIDECAR_GIT_GATE";
    pub const SIDECAR_HEALTH_URL: &str = "BB_SIDECAR_HEALTH_URL";
    pub const SIDECAR_SUPERVISE: &str = "BB_SIDECAR_SUPERVISE";
    pub const SIDECAR_SUPERVISE_LISTEN: &str = "BB_SIDECAR_SUPERVISE_LISTEN";
    pub const SIDECAR_SUPERVISE_TIMEOUT: &str = "BB_SIDECAR_SUPERVISE_TIMEOUT";
    /// The canary's value in the sidecar (a known secret of the proxy and the gate).
    pub const SIDECAR_CANARY: &str = "BB_SIDECAR_CANARY";
    /// The canary's value in the agent.
    pub const AGENT_CANARY: &str = "BOT_BOTTLE_CANARY";
    /// The bottle's identity, in the agent.
    pub const AGENT_IDENTITY: &str = "BOT_BOTTLE_IDENTITY";
    /// The gate's settings (each also a `bb-gitgate serve` flag).
    pub const GATE_CONFIG: &str = "BB_GITGATE_CONFIG";
    pub const GATE_ROOT: &str = "BB_GITGATE_ROOT";
    pub const GATE_HEALTH_ADDR: &str = "BB_GITGATE_HEALTH_ADDR";
    pub const GATE_UPSTREAM_TIMEOUT: &str = "BB_GITGATE_UPSTREAM_TIMEOUT";
    /// A route's credential travels in the sidecar's environment as `EGRESS_TOKEN_<n>`.
    pub const TOKEN_SLOT_PREFIX: &str = "EGRESS_TOKEN_";
    /// The name of the `n`th token slot (from 1).
    pub fn token_slot(n: usize) -> String {
        format!("{TOKEN_SLOT_PREFIX}{n}")
    }
    /// A repo's SSH key from a command travels in the sidecar's environment under this prefix
    /// and the repo name in hex ([`gate_key`]).
    pub const GATE_KEY_PREFIX: &str = "BB_GATE_KEY_";
    /// The sidecar's variable holding the key of repo `name` (hex: names may hold `-` and `.`).
    pub fn gate_key(name: &str) -> String {
        let hex: String = name.bytes().map(|b| format!("{b:02X}")).collect();
        format!("{GATE_KEY_PREFIX}{hex}")
    }
    /// The base image of bot-bottle's images (a build argument).
    pub const BASE_IMAGE: &str = "BOT_BOTTLE_BASE_IMAGE";
    /// Quiet progress output in every tool.
    pub const QUIET: &str = "BOT_BOTTLE_QUIET";
}

/// Files of a bottle's state folder (`~/.bot-bottle/state/<identity>/`) that several tools read.
pub mod state_files {
    /// Everything compose printed, written at teardown.
    pub const COMPOSE_LOG: &str = "compose.log";
    /// The bottle's audit stream: every line of its sidecar's log, kept across teardowns and
    /// resumes (rotated: `audit.jsonl.1` is older, and so on).
    pub const AUDIT_LOG: &str = "audit.jsonl";
    /// Where a bottle launched on Kubernetes was applied (a [`crate::plan::KubePlan`]): `list`,
    /// `stop` and `cleanup` find it on the cluster by this.
    pub const KUBE: &str = "kube.json";
    /// Which Docker engine a bottle was launched on (its ID and how it was reached): `stop`,
    /// `reload`, `resume`, `logs` and `cleanup` refuse to act on it through another engine.
    pub const ENGINE: &str = "engine.json";
}

/// How the audit stream is capped: on the engine while the sidecar runs (its log driver's
/// rotation), and in the state folder (rotated files of at most [`audit::MAX_BYTES`]).
pub mod audit {
    /// The engine's cap on one log file of the sidecar (`json-file` `max-size`).
    pub const ENGINE_MAX_SIZE: &str = "10m";
    /// How many files the engine keeps (`json-file` `max-file`).
    pub const ENGINE_MAX_FILES: &str = "5";
    /// The size at which the state folder's `audit.jsonl` is rotated.
    pub const MAX_BYTES: u64 = 8 << 20;
    /// Rotated files kept beside `audit.jsonl` (`.1` … `.3`): at most 32 MiB in all.
    pub const ROTATED: usize = 3;
}

/// Docker resource names of a bottle, all `bot-bottle-<identity>-…`.
pub mod names {
    /// Whether `id` is a bottle identity: 3 to 48 lower-case letters, digits and `-`, not
    /// starting with `-` (a safe Docker name component and file name).
    pub fn is_identity(id: &str) -> bool {
        (3..=48).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    /// The prefix of every resource bot-bottle creates.
    pub const PREFIX: &str = "bot-bottle-";
    /// The compose project.
    pub fn project(identity: &str) -> String {
        format!("{PREFIX}{identity}")
    }
    pub fn agent_container(identity: &str) -> String {
        format!("{PREFIX}{identity}-agent")
    }
    pub fn sidecar_container(identity: &str) -> String {
        format!("{PREFIX}{identity}-sidecar")
    }
    /// The named volume of the agent's home.
    pub fn home_volume(identity: &str) -> String {
        format!("{PREFIX}{identity}-home")
    }
    /// The `internal` network the agent lives on.
    pub fn internal_network(identity: &str) -> String {
        format!("{PREFIX}{identity}-internal")
    }
    /// The network the sidecar reaches the world through.
    pub fn egress_network(identity: &str) -> String {
        format!("{PREFIX}{identity}-egress")
    }
}

/// A bottle on Kubernetes (`bb-kube`): the namespace, the names of its objects, and the labels,
/// annotations and ports that `render` and `apply` agree on.
pub mod kube {
    /// The sidecar's Deployment, as kubectl names it (`logs`, `exec`, `rollout status`).
    pub fn sidecar_deployment() -> String {
        format!("deployment/{SIDECAR}")
    }
    /// A bottle's namespace is this prefix and its identity (`bb-fixer-x7k2p`).
    pub const NAMESPACE_PREFIX: &str = "bb-";
    /// The sidecar's Deployment and Service.
    pub const SIDECAR: &str = super::labels::SIDECAR_ROLE;
    /// The agent's Pod.
    pub const AGENT: &str = super::labels::AGENT_ROLE;
    /// The agent home's PersistentVolumeClaim.
    pub const HOME_CLAIM: &str = "agent-home";
    /// Secret: the bottle CA's certificate and key (sidecar only).
    pub const CA_SECRET: &str = "bottle-ca";
    /// Secret: the sidecar's variables (token slots, canary), one key per variable name.
    pub const SIDECAR_ENV_SECRET: &str = "sidecar-env";
    /// Secret: the gate's SSH keys, one key per repo name (sidecar only).
    pub const GATE_KEYS_SECRET: &str = "gate-keys";
    /// Secret: the agent's secret variables (host-copied, prompted, canary).
    pub const AGENT_ENV_SECRET: &str = "agent-env";
    /// ConfigMap: the sidecar's routes, the gate's repos.json and rules.
    pub const SIDECAR_CONFIG: &str = "sidecar-config";
    /// ConfigMap: the bottle CA's certificate, for the agent's trust store.
    pub const AGENT_CA: &str = "agent-ca";
    /// The DNS sink's port inside the sidecar pod: unprivileged, so the sidecar needs no
    /// capability; the Service maps [`super::DNS_PORT`] to it.
    pub const SIDECAR_DNS_TARGET_PORT: u16 = 5353;
    /// The uid and gid the sidecar runs as (`nobody` in the Debian-based image).
    pub const SIDECAR_UID: i64 = 65534;
    /// The well-known label that tells the sidecar's pod from the agent's.
    pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
    pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY: &str = "bb-kube";
    /// On a Secret rendered without values: who fills it ([`FILLED_BY`]).
    pub const FILLED_BY_ANNOTATION: &str = "bot-bottle.filled-by";
    pub const FILLED_BY: &str = "bb-kube apply";
    /// On a Secret rendered without values: the keys it must hold, comma-separated.
    pub const SECRET_KEYS_ANNOTATION: &str = "bot-bottle.secret-keys";
}

/// Docker labels bot-bottle puts on what it creates (cleanup and `list` find things by them).
pub mod labels {
    pub const IDENTITY: &str = "bot-bottle.identity";
    /// `agent`, `sidecar`, `home`, ...
    pub const ROLE: &str = "bot-bottle.role";
    /// The values of [`ROLE`] for the two containers (the pods' components on a cluster).
    pub const AGENT_ROLE: &str = "agent";
    pub const SIDECAR_ROLE: &str = "sidecar";
    pub const AGENT: &str = "bot-bottle.agent";
    pub const RUNTIME: &str = "bot-bottle.runtime";
    /// The operator's `--label`.
    pub const LABEL: &str = "bot-bottle.label";
    /// On an image made by `bot-bottle commit`: the bottle it was committed from.
    pub const COMMITTED_FROM: &str = "bot-bottle.committed-from";
    /// On images bot-bottle builds: which image (`agent`, `sidecar`, ...).
    pub const IMAGE: &str = "bot-bottle.image";
    /// On images built from a context (`cargo xtask images`): the context's content hash, so an
    /// unchanged context is not built again.
    pub const BUILD_HASH: &str = "bot-bottle.build-hash";
    /// On an agent image built at launch: the ID of the base image it was built on.
    pub const BASE_ID: &str = "bot-bottle.base-id";
    /// Who built an image (`bb-compose`: the images built at launch, which launch may remove).
    pub const BUILT_BY: &str = "bot-bottle.built-by";
    /// On the debootstrap base image: its Debian suite.
    pub const SUITE: &str = "bot-bottle.suite";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_and_nested_where_they_say() {
        assert!(agent::WORKSPACE.starts_with(agent::HOME));
        assert!(sidecar::ROUTES.starts_with(sidecar::EGRESS_DIR));
        assert!(sidecar::GATE_KEY_DIR.starts_with(sidecar::GATE_DIR));
        assert_eq!(proxy_url(), "http://egress:9099");
        assert_eq!(env::token_slot(3), "EGRESS_TOKEN_3");
        assert_eq!(names::home_volume("a-b"), "bot-bottle-a-b-home");
    }
}
