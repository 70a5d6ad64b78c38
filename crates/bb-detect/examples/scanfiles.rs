//! Scans files with the blocking detectors and prints the findings with some context, to
//! review false positives: `cargo run --release -p bb-detect --example scanfiles -- FILE...`
//! (`--inbound` scans them as response bodies instead).

use bb_detect::{Engine, OutboundConfig};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let inbound = args.first().is_some_and(|a| a == "--inbound");
    if inbound {
        args.remove(0);
    }
    let engine = Engine::default();
    let mut total = 0;
    for path in &args {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        total += data.len();
        let spans: Vec<(String, usize, usize)> = if inbound {
            engine
                .scan_inbound(&data)
                .into_iter()
                .filter(|f| f.confidence == bb_detect::Confidence::High)
                .map(|f| (f.rule, f.start, f.end))
                .collect()
        } else {
            engine
                .scan(&OutboundConfig::DEFAULT_ON, &data)
                .into_iter()
                .map(|f| (f.rule, f.start, f.end))
                .collect()
        };
        for (rule, s, e) in spans {
            let a = s.saturating_sub(30);
            let b = (e + 10).min(data.len());
            let ctx = String::from_utf8_lossy(&data[a..b]).replace('\n', "\\n");
            println!("{path}: {rule}: {ctx}");
        }
    }
    eprintln!("{} files, {:.1} MB", args.len(), total as f64 / 1e6);
}
