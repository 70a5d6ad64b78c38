//! `bb-plan` on a 50-bottle manifest: five `extends` chains ten deep, all five tips merged.
//!
//! Prints the median and p90 of (1) the library call `planner::plan`, (2) the `bb-plan`
//! process end to end, next to two baselines measured in the same run: reading the 51 files
//! (the floor of any manifest loader) and spawning `/bin/true` (the floor of any process).
//! Run with `scripts/bench plan`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bb_contract::plan::RuntimeName;
use bb_plan::{Host, Request, planner};

const CHAINS: usize = 5;
const DEPTH: usize = 10;
const RUNS: usize = 200;
const PROCESS_RUNS: usize = 50;

fn write_manifest(home: &Path) -> Vec<String> {
    std::fs::create_dir_all(home.join("bottles")).unwrap();
    std::fs::create_dir_all(home.join("agents")).unwrap();
    let mut tips = Vec::new();
    for chain in 0..CHAINS {
        for level in 0..DEPTH {
            let name = format!("c{chain}-l{level}");
            let extends = if level == 0 {
                String::new()
            } else {
                format!("extends: c{chain}-l{}\n", level - 1)
            };
            let text = format!(
                "---\n{extends}env:\n  VAR_{chain}_{level}: value\n  SHARED: from-{name}\ngit-gate:\n  user: {{name: Bot {name}}}\negress:\n  routes:\n    - host: api{level}.c{chain}.example.org\n      matches:\n        - paths: [{{type: prefix, value: /v1/}}]\n          methods: [GET]\n    - host: '*.cdn{level}.example.org'\n---\nBottle {name}.\n"
            );
            std::fs::write(home.join(format!("bottles/{name}.md")), text).unwrap();
        }
        tips.push(format!("c{chain}-l{}", DEPTH - 1));
    }
    std::fs::write(
        home.join("agents/bench.md"),
        "---\nbottle: c0-l9\n---\nBenchmark agent.\n",
    )
    .unwrap();
    tips
}

fn host(home: &Path) -> Host {
    Host {
        home: home.to_path_buf(),
        cwd: home.to_path_buf(),
        user_home: home.to_path_buf(),
        env: Box::new(|_| None),
        engine: Box::new(|| {
            Ok(bb_core::docker::EngineInfo {
                runtimes: Vec::new(),
                cpus: 4,
                memory: 8 << 30,
            })
        }),
        probe_runtime: Box::new(|_, _| bb_core::docker::RuntimeProbe::NoImage),
        warn: Box::new(|_| {}),
    }
}

fn time(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    (samples[runs / 2], samples[runs * 9 / 10])
}

fn report(name: &str, (median, p90): (Duration, Duration), baseline: Option<Duration>) {
    let ratio = baseline
        .map(|b| {
            format!(
                "  ({:.1}x baseline)",
                median.as_secs_f64() / b.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "{name:<44} median {:>9.3} ms  p90 {:>9.3} ms{ratio}",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let tips = write_manifest(home);
    let request = Request {
        agent: Some("bench".into()),
        bottles: tips.clone(),
        runtime: Some(RuntimeName::Runc),
        ..Request::default()
    };
    let host = host(home);
    let planned = planner::plan(&host, &request).unwrap();
    assert_eq!(
        planned.plan.bottles.len(),
        CHAINS * DEPTH,
        "all 50 bottles resolved"
    );

    let files: Vec<_> = std::fs::read_dir(home.join("bottles"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let read = time(RUNS, || {
        for file in &files {
            std::hint::black_box(std::fs::read(file).unwrap());
        }
        std::hint::black_box(std::fs::read(home.join("agents/bench.md")).unwrap());
    });
    let library = time(RUNS, || {
        std::hint::black_box(planner::plan(&host, &request).unwrap());
    });
    println!(
        "bb-plan, {} bottles ({CHAINS} chains of extends {DEPTH} deep), {RUNS} runs",
        files.len()
    );
    report("baseline: read the 51 files", read, None);
    report(
        "planner::plan (parse, resolve, check, plan)",
        library,
        Some(read.0),
    );

    let bin = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("bb-plan");
    if bin.exists() {
        let state = tempfile::tempdir().unwrap();
        let spawn_true = time(PROCESS_RUNS, || {
            assert!(Command::new("true").status().unwrap().success());
        });
        let mut args: Vec<String> = vec!["bench".into(), "--runtime".into(), "runc".into()];
        for tip in &tips {
            args.push("--bottle".into());
            args.push(tip.clone());
        }
        let process = time(PROCESS_RUNS, || {
            let out = Command::new(&bin)
                .args(&args)
                .env("BOT_BOTTLE_HOME", home)
                .env("HOME", state.path())
                .current_dir(home)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        report("baseline: spawn /bin/true", spawn_true, None);
        report(
            "bb-plan process (also writes the state dir)",
            process,
            Some(spawn_true.0),
        );
    } else {
        println!(
            "(build the bb-plan binary with `cargo build --release -p bb-plan` to time the process too)"
        );
    }
}
