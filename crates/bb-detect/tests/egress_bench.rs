//! The public egress-bench cases (`../shared/egress-bench/cases`), as a regression check of
//! the detectors. Not checked (with a note) when the folder is not there, except under CI. Categories and cases that
//! are not this crate's job (SSRF, domain block lists) are left out; the cases the detectors
//! knowingly do not catch are listed in `NOT_COVERED`.

use std::path::PathBuf;

use bb_detect::{Confidence, Detector, Engine, OutboundConfig};
use serde_json::Value;

/// Outside this crate's detectors: DNS-label exfiltration with labels shorter than an entropy
/// token (entropy only warns anyway).
const NOT_COVERED: &[&str] = &["url-entropy-subdomain-007"];

fn cases() -> Option<Vec<Value>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/egress-bench/cases");
    if !dir.is_dir() {
        // CI always has shared/ beside the clone: there the cases must be checked.
        assert!(
            std::env::var_os("CI").is_none(),
            "egress-bench cases not found at {}",
            dir.display()
        );
        eprintln!(
            "egress-bench cases not found at {}: not checked",
            dir.display()
        );
        return None;
    }
    let mut out = Vec::new();
    for sub in ["url", "headers", "request-body", "response-fetch"] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join(sub))
            .unwrap_or_else(|e| panic!("egress-bench cases: {}: {e}", dir.join(sub).display()))
            .flatten()
            .collect();
        files.sort_by_key(|f| f.path());
        for f in files {
            let text = std::fs::read_to_string(f.path()).expect("case file");
            out.push(serde_json::from_str(&text).expect("case json"));
        }
    }
    Some(out)
}

#[test]
fn egress_bench_cases() {
    let Some(cases) = cases() else { return };
    let engine = Engine::default();
    let mut checked = 0;
    for c in &cases {
        let id = c["id"].as_str().unwrap();
        let tags: Vec<&str> = c["capability_tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if NOT_COVERED.contains(&id)
            || tags
                .iter()
                .any(|t| matches!(*t, "ssrf" | "domain_blocklist"))
        {
            continue;
        }
        let block = c["expected_verdict"] == "block";
        let p = &c["payload"];
        if c["input_type"] == "response_content" {
            let f = engine.scan_inbound(p["response_body"].as_str().unwrap().as_bytes());
            let high = f.iter().any(|f| f.confidence == Confidence::High);
            assert_eq!(high, block, "{id}: {f:?}");
            checked += 1;
            continue;
        }
        let entropy_case = tags.contains(&"entropy");
        let cfg = if entropy_case {
            OutboundConfig::ALL
        } else {
            OutboundConfig::DEFAULT_ON
        };
        let mut parts: Vec<String> = vec![p["url"].as_str().unwrap_or_default().to_string()];
        if let Some(h) = p["headers"].as_object() {
            for (k, v) in h {
                parts.push(v.as_str().unwrap().to_string());
                parts.push(format!("{k}: {}", v.as_str().unwrap()));
            }
        }
        if let Some(b) = p["body"].as_str() {
            parts.push(b.to_string());
        }
        let findings: Vec<_> = parts
            .iter()
            .flat_map(|s| engine.scan(&cfg, s.as_bytes()))
            .collect();
        let hit = if entropy_case {
            findings.iter().any(|f| f.detector == Detector::Entropy)
        } else {
            !findings.is_empty()
        };
        assert_eq!(hit, block, "{id}: {findings:?}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked} cases checked");
}
