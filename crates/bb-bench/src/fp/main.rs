//! `bb-bench-fp`: the false-positive benchmark behind `scripts/bench fp`.
//!
//! Scans every text file under the given folders (ordinary code and data: crate sources, the
//! host's Python library, headers), and every text member of the wheels and other zip archives
//! found there, with the proxy's blocking detectors, as one request body each, and prints findings per 100 MB, per detector and per rule. Nothing in such a corpus is a
//! credential the agent was given, so every finding counts as a false positive; `--show N` prints
//! where the first N of each rule are, to look at them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use bb_detect::{CANARY_NAME, Engine, KnownSecret, OutboundConfig, mint_canary};
use clap::Parser;

/// Files larger than this are skipped (minified bundles, data dumps: not "ordinary code").
const MAX_FILE: u64 = 8 << 20;
/// A file with a NUL byte in its first bytes is binary and skipped.
const SNIFF: usize = 8192;

#[derive(Debug, Parser)]
#[command(
    name = "bb-bench-fp",
    about = "Blocking-detector findings per 100 MB of ordinary code",
    after_help = "Example:\n  bb-bench-fp ~/.cargo/registry/src /usr/lib/python3 --show 3"
)]
struct Args {
    /// Folders (or files) to scan
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the location and surroundings of the first N findings of each rule
    #[arg(long, default_value_t = 0)]
    show: usize,
    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,
}

#[derive(Default)]
struct Tally {
    files: u64,
    bytes: u64,
    per_rule: BTreeMap<String, u64>,
    per_detector: BTreeMap<&'static str, u64>,
    shown: BTreeMap<String, Vec<String>>,
}

fn main() -> std::process::ExitCode {
    match real_main(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bb-bench-fp: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main(args: Args) -> Result<()> {
    let engine = Engine::new(vec![KnownSecret::new(CANARY_NAME, mint_canary())]);
    let mut tally = Tally::default();
    let start = Instant::now();
    for path in &args.paths {
        walk(path, &mut |file| {
            scan_file(&engine, file, args.show, &mut tally)
        })
        .with_context(|| format!("reading {}", path.display()))?;
    }
    let secs = start.elapsed().as_secs_f64();
    if args.json {
        print_json(&tally, secs);
    } else {
        print_table(&tally, secs);
    }
    Ok(())
}

/// Calls `visit` for every regular file under `path` (symbolic links are not followed).
fn walk(path: &Path, visit: &mut dyn FnMut(&Path)) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        visit(path);
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            // An unreadable folder inside the corpus is skipped, not fatal.
            let _ = walk(&entry, visit);
        }
    }
    Ok(())
}

fn scan_file(engine: &Engine, file: &Path, show: usize, tally: &mut Tally) {
    let Ok(meta) = std::fs::metadata(file) else {
        return;
    };
    if meta.len() > MAX_FILE && !is_archive(file) {
        return;
    }
    if is_archive(file) {
        scan_archive(engine, file, show, tally);
        return;
    }
    if let Ok(data) = std::fs::read(file) {
        scan_text(engine, &file.display().to_string(), &data, show, tally);
    }
}

/// A wheel or another zip archive: its members are scanned without unpacking it.
fn is_archive(file: &Path) -> bool {
    file.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("whl") || e.eq_ignore_ascii_case("zip"))
}

fn scan_archive(engine: &Engine, file: &Path, show: usize, tally: &mut Tally) {
    let Ok(Ok(mut archive)) =
        std::fs::File::open(file).map(|f| zip::ZipArchive::new(std::io::BufReader::new(f)))
    else {
        return;
    };
    for i in 0..archive.len() {
        let Ok(mut member) = archive.by_index(i) else {
            continue;
        };
        if !member.is_file() || member.size() > MAX_FILE {
            continue;
        }
        let member_name = member.name().map(|n| n.into_owned()).unwrap_or_default();
        let name = format!("{}!{member_name}", file.display());
        let mut data = Vec::new();
        if std::io::Read::read_to_end(&mut member, &mut data).is_ok() {
            scan_text(engine, &name, &data, show, tally);
        }
    }
}

/// Scans one text (a file or an archive member); binary data is skipped.
fn scan_text(engine: &Engine, name: &str, data: &[u8], show: usize, tally: &mut Tally) {
    if data[..data.len().min(SNIFF)].contains(&0) {
        return;
    }
    tally.files += 1;
    tally.bytes += data.len() as u64;
    for finding in engine.scan(&OutboundConfig::DEFAULT_ON, data) {
        *tally
            .per_detector
            .entry(finding.detector.as_str())
            .or_default() += 1;
        *tally.per_rule.entry(finding.rule.clone()).or_default() += 1;
        let seen = tally.shown.entry(finding.rule.clone()).or_default();
        if seen.len() < show {
            seen.push(context(name, data, finding.start, finding.end));
        }
    }
}

/// `file:line: …surroundings…` of a finding, on one line.
fn context(name: &str, data: &[u8], start: usize, end: usize) -> String {
    let line = data[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    let from = start.saturating_sub(40);
    let to = (end + 40).min(data.len());
    let text: String = String::from_utf8_lossy(&data[from..to])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("{name}:{line}: {text}")
}

fn per_100mb(count: u64, bytes: u64) -> f64 {
    if bytes == 0 {
        0.0
    } else {
        count as f64 * 100e6 / bytes as f64
    }
}

fn print_table(tally: &Tally, secs: f64) {
    let total: u64 = tally.per_detector.values().sum();
    println!(
        "{} files, {:.1} MB scanned in {secs:.1} s ({:.1} MB/s)",
        tally.files,
        tally.bytes as f64 / 1e6,
        tally.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    println!(
        "blocking findings: {total} ({:.2} per 100 MB)",
        per_100mb(total, tally.bytes)
    );
    for (detector, n) in &tally.per_detector {
        println!(
            "  detector {detector:<28} {n:6} ({:.2} per 100 MB)",
            per_100mb(*n, tally.bytes)
        );
    }
    for (rule, n) in &tally.per_rule {
        println!(
            "  rule {rule:<32} {n:6} ({:.2} per 100 MB)",
            per_100mb(*n, tally.bytes)
        );
        for place in tally.shown.get(rule).into_iter().flatten() {
            println!("      {place}");
        }
    }
}

fn print_json(tally: &Tally, secs: f64) {
    let total: u64 = tally.per_detector.values().sum();
    let value = serde_json::json!({
        "files": tally.files,
        "bytes": tally.bytes,
        "seconds": secs,
        "findings": total,
        "per_100mb": per_100mb(total, tally.bytes),
        "per_detector": tally.per_detector,
        "per_rule": tally.per_rule,
    });
    println!("{value}");
}
