//! Every example of `bb_testkit::tokens` found by the gate's engine (the broad tier over whole
//! buffers) where tokens sit, whole or streamed in chunks of any size; the proxy's engine finds
//! the examples of the rules it runs.

use bb_detect::{Engine, Finding, OutboundConfig};
use bb_testkit::tokens::examples;

const CFG: OutboundConfig = OutboundConfig::DEFAULT_ON;

fn contexts(token: &str) -> Vec<String> {
    vec![
        format!("{{\"model\": \"x\", \"api_key\": \"{token}\", \"n\": 1}}"),
        format!("curl -H 'Authorization: Bearer {token}' https://api.example.test/v1/run\n"),
        format!("POST /v1/keys/{token}/rotate\n"),
        format!(
            "{}{token}\n{}",
            "filler text, ".repeat(300),
            "more text ".repeat(50)
        ),
    ]
}

fn rules_of(found: &[Finding]) -> Vec<String> {
    let mut r: Vec<String> = found.iter().map(|f| f.rule.clone()).collect();
    r.sort();
    r.dedup();
    r
}

fn streamed(engine: &Engine, text: &str, chunk: usize) -> Vec<Finding> {
    let mut stream = engine.stream(CFG);
    let mut found = Vec::new();
    for part in text.as_bytes().chunks(chunk) {
        found.extend(stream.feed(part));
    }
    found.extend(stream.finish());
    found
}

#[test]
fn every_example_is_found_by_the_gate_engine_whole_and_streamed() {
    let engine = Engine::with_broad_rules(Vec::new());
    for (rule, token) in examples() {
        for text in contexts(&token) {
            let whole = engine.scan(&CFG, text.as_bytes());
            assert!(
                whole.iter().any(|f| f.rule == rule),
                "{rule} not found in {text:?}: {:?}",
                rules_of(&whole)
            );
            for chunk in [1, 7, 64, 1000] {
                let found = streamed(&engine, &text, chunk);
                assert_eq!(
                    rules_of(&found),
                    rules_of(&whole),
                    "{rule} in chunks of {chunk}"
                );
            }
        }
    }
}

#[test]
fn the_proxy_engine_runs_the_core_and_first_tier_rules() {
    let proxy = Engine::new(Vec::new());
    for (rule, token) in examples() {
        let text = format!("key = {token}\n");
        let found = proxy.scan(&CFG, text.as_bytes());
        let core = !bb_detect::BROAD_TOKEN_RULES.contains(&rule);
        assert_eq!(
            found.iter().any(|f| f.rule == rule),
            core,
            "{rule}: {:?}",
            rules_of(&found)
        );
    }
}
