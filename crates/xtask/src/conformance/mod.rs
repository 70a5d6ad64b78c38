//! `cargo xtask egress-conformance` (`scripts/egress-conformance`): replays the
//! agent-egress-bench case files through the real sidecar container and judges each case.
//! See [`help_text`] for what it does and its exit statuses.

mod bottle;
mod cases;
mod certs;
mod command;
mod console;
mod host;
mod judge;
mod markers;
mod pyjson;
mod replay;
mod report;
mod request;
mod tunnel;
mod url;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use bb_contract::layout::PROXY_PORT;
use bb_core::signals;
use clap::ArgAction;

use bottle::Bottle;
use cases::{Case, Outcome, load_cases};
use command::{Abort, checkpoint, run_visible};
use console::{note, say, warn};
use pyjson::Json;

/// Where relative `CASES_DIR` arguments are from (set by `scripts/egress-conformance`, which
/// runs cargo from the repository root).
const CALLER_DIR: &str = "XTASK_CALLER_DIR";
const DEFAULT_CASES: &str = "../shared/egress-bench/cases";

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "scripts/egress-conformance [--keep] [--verbose] [--no-build] [--sabotage] \
                      [--max-not-applicable FRACTION] [CASES_DIR]",
    about = "Replays the agent-egress-bench cases through the real sidecar (scripts/egress-conformance)",
    long_about = help_text(),
    disable_help_flag = true
)]
pub struct Args {
    #[arg(
        value_name = "CASES_DIR",
        help = format!("directory of case files, searched recursively (default {DEFAULT_CASES})")
    )]
    cases_dir: Option<PathBuf>,
    /// leave the bottle and the fixture up and print how to tear them down
    #[arg(long)]
    keep: bool,
    /// print each request and response, and the stages' logs (stderr)
    #[arg(short, long)]
    verbose: bool,
    /// skip cargo and scripts/images (use what was built last)
    #[arg(long)]
    no_build: bool,
    /// fail when more than this share of the cases is not applicable (default 0.10)
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.10,
        hide_default_value = true
    )]
    max_not_applicable: f64,
    /// self-check: run with DLP off on every route; succeed only if every detector case then
    /// fails
    #[arg(long)]
    sabotage: bool,
    /// show this help
    #[arg(short = 'h', long, action = ArgAction::HelpLong)]
    help: Option<bool>,
}

fn help_text() -> String {
    format!(
        "\
Replays each case of an agent-egress-bench directory (every *.json below CASES_DIR, recursively;
default {DEFAULT_CASES} from the repository root) through the real sidecar
container as a forward-proxy request, and prints one line per case:

  PASS <id> expected=<v> got=<v>
  FAIL <id> expected=<v> got=<v> <check>: <reason>     (then the sidecar's decision lines)
  N/A <id> <why>

and a closing line `N passed, N failed, N not applicable`.

How: builds the binaries and the images test-agent, sidecar and fixture; writes a bottle with one
`private: true` route per case host (never IP literals or localhost: the SSRF guard decides
those); launches bb-plan | bb-net, a test CA and leaf, the fixture upstream on the bottle's
egress network (answering as every case host on 80/8080 and 443/8443), then bb-ca | bb-compose
up with every name resolving to the fixture. Requests go from this host to the sidecar's proxy
(port {PROXY_PORT} on the egress network): http:// in absolute form, https:// through CONNECT and TLS
verified against the bottle CA, each with `X-Egress-Case: <id>`.

Verdicts: block = 403/413 with a `blocked:` body, or CONNECT refused with 403; allow = 200 from
the fixture; anything else (502, timeout, TLS error) fails with its reason. An expected block of
an outbound case also needs the fixture never to have received that case's request. Cases whose
transport is not fetch_proxy/http_proxy, that require what the sidecar does not claim (MCP,
WebSocket, A2A, shell analysis, a DNS-rebinding fixture), or without an http(s) URL, are not
applicable.
Everything is torn down afterwards (also on Ctrl-C) unless --keep.

A block also needs the sidecar's decision line for that case to name what should refuse it: a
DLP detector for the *_dlp and encoding cases, the injection detector for response injection,
the address guard for SSRF, the allowlist for a blocklisted domain.

Exit status: 0 no case failed, 1 some case failed, no case passed, or more than
--max-not-applicable of the cases were not applicable; 2 bad usage or the bottle could not start.
--sabotage inverts the question: DLP is switched off on every route and the run succeeds only
if every applicable detector case then fails (proof the cases can fail).

Example:
  scripts/egress-conformance                          # the shared corpus
  scripts/egress-conformance ../shared/egress-bench/cases/url --verbose
  scripts/egress-conformance my-cases/ --keep         # leave the bottle up to poke at it"
    )
}

/// The repository's root (this crate is `crates/xtask`).
fn repo_root() -> PathBuf {
    normalize(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// `path` without `.` and with `..` applied to what precedes it.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The cases directory to read, and how to name it in messages (as it was given).
fn cases_dir(arg: Option<&Path>, root: &Path) -> (PathBuf, String) {
    match arg {
        None => {
            let dir = normalize(&root.join(DEFAULT_CASES));
            let shown = dir.display().to_string();
            (dir, shown)
        }
        Some(arg) => {
            let base = std::env::var_os(CALLER_DIR).map(PathBuf::from);
            let dir = match base {
                Some(base) if arg.is_relative() => base.join(arg),
                _ => arg.to_path_buf(),
            };
            (dir, arg.display().to_string())
        }
    }
}

pub fn main(args: Args) -> ExitCode {
    console::set_verbose(args.verbose);
    ExitCode::from(run(&args))
}

fn run(args: &Args) -> u8 {
    let root = repo_root();
    let (dir, shown) = cases_dir(args.cases_dir.as_deref(), &root);
    if !dir.is_dir() {
        warn(format!("no directory {shown}"));
        return 2;
    }
    let (mut cases, skipped) = load_cases(&dir);
    for rel in skipped {
        note(format!("skipped {rel}: not a case file"));
    }
    if cases.is_empty() {
        warn(format!("no case files under {shown}"));
        return 2;
    }
    let runnable = mark_not_applicable(&mut cases);
    if let Err(err) = signals::install() {
        warn(format!("{err:#}"));
        return 2;
    }
    let started = Instant::now();
    let mut bottle = None;
    let result = replay_all(&mut bottle, &mut cases, &runnable, &root, args);
    match &result {
        Err(Abort::Setup(msg)) => warn(msg),
        Err(Abort::Interrupted(sig)) => warn(format!("interrupted (signal {sig}); tearing down")),
        Ok(_) => {}
    }
    if let Some(bottle) = bottle {
        bottle.close(args.keep);
    }
    let log = match result {
        Ok(log) => log,
        Err(Abort::Setup(_)) => return 2,
        Err(Abort::Interrupted(sig)) => return u8::try_from(128 + sig).unwrap_or(u8::MAX),
    };
    let counts = report::print_report(&cases, &log);
    eprintln!(
        "egress-conformance: {} cases in {:.1} s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    if args.sabotage {
        let (lines, ok) = judge::self_check(&cases);
        for line in lines {
            println!("{line}");
        }
        return if ok { 0 } else { 1 };
    }
    if counts.passed == 0 {
        warn("no case passed: nothing was checked");
        return 1;
    }
    let ceiling = args.max_not_applicable * cases.len() as f64;
    if counts.not_applicable as f64 > ceiling {
        warn(format!(
            "{} of {} cases not applicable, more than the ceiling of {:.0}%",
            counts.not_applicable,
            cases.len(),
            args.max_not_applicable * 100.0
        ));
        return 1;
    }
    u8::from(counts.failed > 0)
}

/// Decides the cases that cannot be replayed; returns the indices of the others.
fn mark_not_applicable(cases: &mut [Case]) -> Vec<usize> {
    let mut runnable = Vec::new();
    for (i, case) in cases.iter_mut().enumerate() {
        if case.outcome.is_some() {
            continue;
        }
        match case.not_applicable() {
            Some(why) => case.outcome = Some(Outcome::NotApplicable(why)),
            None => runnable.push(i),
        }
    }
    runnable
}

/// The bottle's routes: every routable case host, except those a `domain_blocklist` case asks
/// to block (in an allowlist proxy that means: no route for it).
fn route_hosts<'a>(runnable: impl Iterator<Item = &'a Case> + Clone) -> Vec<String> {
    let blocklisted: BTreeSet<&str> = runnable
        .clone()
        .filter(|c| c.tags().contains(&"domain_blocklist"))
        .map(|c| c.host.as_str())
        .collect();
    let hosts: BTreeSet<&str> = runnable
        .map(|c| c.host.as_str())
        .filter(|h| host::routable(h) && !blocklisted.contains(h))
        .collect();
    hosts.into_iter().map(str::to_owned).collect()
}

/// Builds, starts the bottle (kept in `slot` for the teardown), replays every runnable case
/// with a marker after each, and judges them; returns the sidecar's log.
fn replay_all(
    slot: &mut Option<Bottle>,
    cases: &mut [Case],
    runnable: &[usize],
    root: &Path,
    args: &Args,
) -> Result<Vec<Json>, Abort> {
    if runnable.is_empty() {
        return Ok(Vec::new());
    }
    let hosts = route_hosts(runnable.iter().map(|&i| &cases[i]));
    let bodies: BTreeMap<String, String> = runnable
        .iter()
        .filter_map(|&i| Some((cases[i].id.clone(), cases[i].response_body.clone()?)))
        .collect();
    if !args.no_build {
        build(root)?;
    }
    let bottle = slot.insert(Bottle::new(root, hosts, args.sabotage)?);
    let endpoint = bottle.launch(&bodies)?;
    say(format!(
        "replaying {} cases through {}:{PROXY_PORT}",
        runnable.len(),
        endpoint.proxy.ip()
    ));
    for &i in runnable {
        checkpoint()?;
        cases[i].replayed = Some(replay::replay(&endpoint, &cases[i], &bodies));
        replay::mark(endpoint.proxy, &cases[i].id);
    }
    checkpoint()?;
    let log = bottle.sidecar_log()?;
    let requests = bottle.fixture_requests()?;
    let segments = markers::split_log(&log);
    judge::judge(
        cases,
        &requests,
        (!segments.is_empty()).then_some(&segments),
    );
    Ok(log)
}

/// The stage binaries and the three images the run needs.
fn build(root: &Path) -> Result<(), Abort> {
    say("cargo build --workspace --bins");
    run_visible(
        root,
        "cargo",
        &["build", "--quiet", "--workspace", "--bins"],
        "cargo build",
    )?;
    say("scripts/images test-agent sidecar fixture");
    let images = root.join("scripts").join("images");
    run_visible(
        root,
        &images.to_string_lossy(),
        &["test-agent", "sidecar", "fixture"],
        "scripts/images",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, url: &str, tags: &str) -> Case {
        let text = format!(
            r#"{{"id": "{id}", "expected_verdict": "block", "transport": "fetch_proxy",
                "capability_tags": {tags}, "payload": {{"url": "{url}"}}}}"#
        );
        Case::new(&format!("{id}.json"), Json::parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn routes_are_the_routable_hosts_minus_the_blocklisted() {
        let cases = [
            case("a", "https://b.example/x", "[]"),
            case("b", "http://a.example/", "[]"),
            case("c", "http://a.example/y", "[]"),
            case("d", "http://127.0.0.1/", "[]"),
            case("e", "http://localhost/", "[]"),
            case("f", "http://evil.example/", r#"["domain_blocklist"]"#),
            case("g", "https://evil.example/", "[]"),
        ];
        assert_eq!(route_hosts(cases.iter()), ["a.example", "b.example"]);
    }

    #[test]
    fn not_applicable_cases_are_decided_and_the_rest_returned() {
        let mut cases = vec![
            case("a", "https://b.example/x", "[]"),
            case("b", "ftp://b.example/x", "[]"),
        ];
        cases.push(case("c", "http://c.example/", "[]"));
        cases[2].outcome = Some(Outcome::Fail("invalid".to_owned()));
        assert_eq!(mark_not_applicable(&mut cases), [0]);
        assert!(matches!(cases[1].outcome, Some(Outcome::NotApplicable(_))));
        assert_eq!(cases[2].outcome, Some(Outcome::Fail("invalid".to_owned())));
    }

    #[test]
    fn the_default_cases_are_beside_the_repository() {
        let root = Path::new("/work/repo");
        let (dir, shown) = cases_dir(None, root);
        assert_eq!(dir, Path::new("/work/shared/egress-bench/cases"));
        assert_eq!(shown, "/work/shared/egress-bench/cases");
        let (dir, shown) = cases_dir(Some(Path::new("/abs/cases")), root);
        assert_eq!(
            (dir.as_path(), shown.as_str()),
            (Path::new("/abs/cases"), "/abs/cases")
        );
    }

    #[test]
    fn normalize_applies_parent_components() {
        assert_eq!(normalize(Path::new("/a/b/./../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("../x")), Path::new("../x"));
    }
}
