//! The push scanner's cost, next to git's own floor, in one run:
//!
//! 1. a 10,000-commit history pushed to a new branch (each commit changes or adds a file of
//!    code-like text over a 200-file tree);
//! 2. one commit adding a 100 MB text blob.
//!
//! For each: `git rev-list --objects <tip> --not <known>` (the floor the brief names: walking the
//! range), `rev-list --objects | cat-file --batch` (walking and reading every object once),
//! `rev-list | diff-tree -p` (git producing the patches the scan reads), and
//! the gate's scan (`scan::scan_push`, exactly what the pre-receive hook runs, with the shared
//! detectors, two known secrets and a small gitleaks rule set). Prints the times and ratios.
//!
//! `cargo bench -p bb-gitgate --bench scan`; sizes: BB_GITGATE_BENCH_COMMITS (10000),
//! BB_GITGATE_BENCH_BLOB_MB (100).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bb_gitgate::detect::Detectors;

use bb_gitgate::scan::{self, Update};

const RULES: &str = r#"
[[rules]]
id = "aws-access-token"
regex = '''\b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b'''
keywords = ["akia", "asia", "abia", "acca", "a3t"]
[[rules]]
id = "generic-api-key"
regex = '''(?i)[\w.-]{0,50}?(?:access|auth|api|credential|creds|key|passw(?:or)?d|secret|token)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)[\x60'"\s=]{0,5}([\w.=-]{10,150})(?:[\x60'"\s;]|\\[nr]|$)'''
secretGroup = 1
entropy = 3.5
keywords = ["access", "api", "auth", "key", "credential", "creds", "passwd", "password", "secret", "token"]
[rules.allowlist]
stopwords = ["example", "sample", "dummy"]
[[rules]]
id = "slack-bot-token"
regex = '''(xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*)'''
keywords = ["xoxb"]
[[rules]]
id = "private-key"
regex = '''(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----[\s\S-]{64,}?KEY( BLOCK)?-----'''
keywords = ["-----begin"]
[[rules]]
id = "stripe-access-token"
regex = '''\b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})\b'''
keywords = ["sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod"]
"#;

/// Deterministic pseudo-random numbers (no seed file, same data every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const WORDS: &[&str] = &[
    "let", "mut", "value", "return", "match", "self", "config", "request", "handler", "buffer",
    "index", "result", "error", "map", "filter", "into", "iter", "state", "router", "client", "fn",
    "struct", "impl", "pub", "use", "for", "while", "if", "else", "Some", "None", "Ok",
];

fn code_line(rng: &mut Lcg, out: &mut Vec<u8>) {
    let indent = (rng.next() % 4) as usize * 4;
    out.extend(std::iter::repeat_n(b' ', indent));
    let n = 4 + rng.next() % 8;
    for i in 0..n {
        if i > 0 {
            out.push(b' ');
        }
        if rng.next().is_multiple_of(9) {
            write!(out, "0x{:08x}", rng.next()).unwrap();
        } else {
            out.extend_from_slice(WORDS[(rng.next() as usize) % WORDS.len()].as_bytes());
        }
    }
    out.extend_from_slice(b";\n");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Feeds a fast-import stream built by `build`.
fn fast_import(dir: &Path, build: impl FnOnce(&mut dyn Write)) {
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(["fast-import", "--quiet", "--done"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    {
        let stdin = child.stdin.take().unwrap();
        let mut w = std::io::BufWriter::with_capacity(1 << 20, stdin);
        build(&mut w);
        w.write_all(b"done\n").unwrap();
        w.flush().unwrap();
    }
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

fn data(w: &mut dyn Write, bytes: &[u8]) {
    writeln!(w, "data {}", bytes.len()).unwrap();
    w.write_all(bytes).unwrap();
    w.write_all(b"\n").unwrap();
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let v = f();
    (v, start.elapsed())
}

fn floor_rev_list(dir: &Path, tip: &str) -> (usize, Duration) {
    let (out, t) = timed(|| {
        git(
            dir,
            &[
                "rev-list",
                "--objects",
                tip,
                "--not",
                "--exclude=refs/bench/*",
                "--all",
            ],
        )
    });
    (out.lines().count(), t)
}

fn floor_read(dir: &Path, tip: &str) -> Duration {
    timed(|| {
        let script = format!(
            "git --git-dir '{}' rev-list --objects {tip} --not --exclude='refs/bench/*' --all | cut -d' ' -f1 | git --git-dir '{}' cat-file --batch >/dev/null",
            dir.display(),
            dir.display()
        );
        let ok = Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "read floor failed");
    })
    .1
}

/// What git itself spends producing the patches the scan reads.
fn floor_diff(dir: &Path, tip: &str) -> Duration {
    timed(|| {
        let script = format!(
            "git --git-dir '{d}' rev-list {tip} --not --exclude='refs/bench/*' --all | git --git-dir '{d}' diff-tree --stdin -r -p --text -M -c --root --full-index >/dev/null",
            d = dir.display()
        );
        let ok = Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "diff floor failed");
    })
    .1
}

fn scan_case(dir: &Path, name: &str, tip: &str, detectors: &Detectors) {
    let zero = "0".repeat(tip.len());
    let updates = [Update {
        old: zero,
        new: tip.to_string(),
        refname: "refs/heads/pushed".to_string(),
    }];
    let exclude = ["--exclude=refs/bench/*".to_string(), "--all".to_string()];
    let (objects, floor) = floor_rev_list(dir, tip);
    let read = floor_read(dir, tip);
    let diff = floor_diff(dir, tip);
    let (scanned, t) = timed(|| {
        scan::scan_push(
            &bb_gitgate::run::GitRepo::at(dir),
            &updates,
            &exclude,
            detectors,
        )
        .expect("scan")
    });
    let (findings, stats) = (scanned.findings, scanned.stats);
    let secs = |d: Duration| d.as_secs_f64();
    println!("{name}:");
    println!(
        "  floor  git rev-list --objects            {:>8.3} s  ({objects} objects)",
        secs(floor)
    );
    println!(
        "  floor  rev-list --objects | cat-file     {:>8.3} s  (every object read once)",
        secs(read)
    );
    println!(
        "  git    rev-list | diff-tree -p (alone)   {:>8.3} s  (the patches the scan reads)",
        secs(diff)
    );
    println!(
        "  scan   bb-gitgate pre-receive scan       {:>8.3} s  ({} commits, {:.1} MB scanned, {} findings)",
        secs(t),
        stats.commits,
        stats.bytes as f64 / 1e6,
        findings.len()
    );
    println!(
        "  ratio  scan / rev-list = {:.1}x, scan / read = {:.1}x, scan / diff-tree = {:.1}x",
        secs(t) / secs(floor).max(1e-6),
        secs(t) / secs(read).max(1e-6),
        secs(t) / secs(diff).max(1e-6)
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scan benchmark: run it with `cargo bench -p bb-gitgate --bench scan`");
        return;
    }
    let commits: usize = std::env::var("BB_GITGATE_BENCH_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let blob_mb: usize = std::env::var("BB_GITGATE_BENCH_BLOB_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("repo.git");
    let init = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(init.success());

    let mut rng = Lcg(0x5eed);
    let files = 200usize;
    let mut contents: Vec<Vec<u8>> = (0..files)
        .map(|_| {
            let mut v = Vec::new();
            for _ in 0..40 {
                code_line(&mut rng, &mut v);
            }
            v
        })
        .collect();

    let (_, gen_time) = timed(|| {
        fast_import(&dir, |w| {
            // The known history: one commit with every file, on main.
            writeln!(w, "commit refs/heads/main\nmark :1").unwrap();
            writeln!(w, "committer Bench <bench@example.org> 1700000000 +0000").unwrap();
            data(w, b"base\n");
            for (i, c) in contents.iter().enumerate() {
                writeln!(w, "M 100644 inline src/mod{i:03}.rs").unwrap();
                data(w, c);
            }
            // The pushed history: one file changed (or added) per commit.
            let mut extra = 0usize;
            for n in 0..commits {
                writeln!(w, "commit refs/bench/history\nmark :{}", n + 2).unwrap();
                writeln!(
                    w,
                    "committer Bench <bench@example.org> {} +0000",
                    1700000001 + n
                )
                .unwrap();
                data(w, format!("change {n}\n\nTouches one file.\n").as_bytes());
                writeln!(w, "from :{}", n + 1).unwrap();
                if n % 20 == 19 {
                    let mut v = Vec::new();
                    for _ in 0..40 {
                        code_line(&mut rng, &mut v);
                    }
                    writeln!(w, "M 100644 inline src/new/file{extra:05}.rs").unwrap();
                    data(w, &v);
                    extra += 1;
                } else {
                    let f = (rng.next() as usize) % files;
                    for _ in 0..5 {
                        code_line(&mut rng, &mut contents[f]);
                    }
                    writeln!(w, "M 100644 inline src/mod{f:03}.rs").unwrap();
                    data(w, &contents[f]);
                }
            }
            // The big blob: one commit on top of main.
            let mut big = Vec::with_capacity(blob_mb << 20);
            while big.len() < blob_mb << 20 {
                code_line(&mut rng, &mut big);
            }
            writeln!(w, "commit refs/bench/blob").unwrap();
            writeln!(w, "committer Bench <bench@example.org> 1800000000 +0000").unwrap();
            data(w, b"a big file\n");
            writeln!(w, "from :1").unwrap();
            writeln!(w, "M 100644 inline data/big.txt").unwrap();
            data(w, &big);
        })
    });
    println!(
        "generated {commits} commits and a {blob_mb} MB blob in {:.1} s (git fast-import)",
        gen_time.as_secs_f64()
    );

    let rules = bb_gitleaks::parse(RULES, std::path::Path::new("bench-rules.toml"))
        .expect("bench rules")
        .rules;
    let detectors = Detectors::new(
        vec![
            (
                "EGRESS_TOKEN_GITEA".into(),
                "gt_9f8e7d6c5b4a39281706f5e4".into(),
            ),
            (
                "BB_SIDECAR_CANARY".into(),
                "bbcanary_Q2w3E4r5T6y7U8i9O0p1A2s3D4f5G6h7".into(),
            ),
        ],
        Some(rules),
    );
    let history = git(&dir, &["rev-parse", "refs/bench/history"]);
    let blob = git(&dir, &["rev-parse", "refs/bench/blob"]);
    scan_case(
        &dir,
        &format!("{commits}-commit history to a new branch"),
        &history,
        &detectors,
    );
    scan_case(
        &dir,
        &format!("{blob_mb} MB blob in one commit"),
        &blob,
        &detectors,
    );
    rules_load();
}

/// What each push's hook spends on the rules file: gitleaks' default config (a test fixture
/// beside the clone, `../shared/gitleaks/gitleaks.toml`) loaded as the hook loads it (regexes
/// compiled on first use) and with every regex compiled (as planning and the gate's start do).
fn rules_load() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/gitleaks/gitleaks.toml");
    if !path.is_file() {
        println!("rules load: {} not found, not measured", path.display());
        return;
    }
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..5 {
            f();
        }
        t.elapsed().as_secs_f64() / 5.0 * 1000.0
    };
    let hook = time(&|| {
        let config = bb_gitleaks::load(&path).expect("loads");
        let engine = Detectors::new(Vec::new(), Some(config.rules));
        std::hint::black_box(engine.scan(b"no secret here", "a.txt", "c0ffee"));
    });
    let all = time(&|| {
        std::hint::black_box(bb_gitleaks::load_compiled(&path).expect("compiles"));
    });
    let detectors = time(&|| {
        let engine = Detectors::new(Vec::new(), None);
        std::hint::black_box(engine.scan(b"no secret here", "a.txt", "c0ffee"));
    });
    ask_the_service();
    let asked = time(&ask_the_service);
    println!("rules load, gitleaks' default config (222 rules), mean of 5:");
    println!("  built-in detectors alone                             {detectors:7.1} ms");
    println!("  check  load with every regex compiled               {all:7.1} ms");
    println!("  serve  the same, once at the start and each SIGHUP  {all:7.1} ms");
    println!("  push   a hook's round trip to the service           {asked:7.3} ms");
    println!("  push   a hook on its own (no service): load, build  {hook:7.1} ms");
}

/// One hook's question to a running hook service (an empty push: the config read, the answer
/// relayed), i.e. what a push pays for its rules now that `serve` holds them.
fn ask_the_service() {
    use std::sync::{Arc, OnceLock};
    static SERVICE: OnceLock<(tempfile::TempDir, bb_gitgate::config::Paths)> = OnceLock::new();
    let (_, paths) = SERVICE.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = tmp.path().join("repos.json");
        let host_key = bb_testkit::ssh_keygen(&tmp.path().join("hostkey"));
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let repo = serde_json::json!({"repos": [{
            "name": "shop", "url": "ssh://git@127.0.0.1:1/shop.git",
            "url_as_written": "ssh://git@127.0.0.1:1/shop.git", "ssh_user": "git",
            "host": "127.0.0.1", "port": 1, "path": "/shop.git", "key_path": "/key",
            "host_key": host_key.join(" ")}]});
        std::fs::write(&config, repo.to_string()).unwrap();
        let paths = bb_gitgate::config::Paths::new(&tmp.path().join("root")).unwrap();
        std::fs::create_dir_all(paths.mirror("shop")).unwrap();
        let loaded = bb_gitgate::config::load(&config).unwrap();
        let detectors = Ok(Arc::new(Detectors::new(Vec::new(), None)));
        let service =
            bb_gitgate::hookd::HookService::new(config, paths.clone(), &loaded, detectors);
        service.spawn().expect("hook socket");
        std::mem::forget(service);
        (tmp, paths)
    });
    let mut out = Vec::new();
    let status = bb_gitgate::hookd::ask(paths, "shop", "", &mut out);
    assert_eq!(status, Some(0), "{}", String::from_utf8_lossy(&out));
}
