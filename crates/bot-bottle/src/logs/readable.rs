//! One readable line per log line: time, verdict, service, target, reason; a refusal's rule and
//! the bottle key that would allow it; the bottle's identity first when lines of several mix.

use std::borrow::Cow;

use bb_contract::log::{LogLine, Service, Verdict};

/// `12:03:04  BLOCK  egress  GET evil.test/x  host evil.test is not in the allowlist
///   [no_route → egress.routes: add a route …]`.
pub fn readable(line: &LogLine<'_>, with_bottle: bool) -> String {
    let bottle = match line.bottle() {
        Some(b) if with_bottle => format!("{b}  "),
        _ => String::new(),
    };
    match line {
        LogLine::Event(e) => {
            let ok = if e.ok { "" } else { " FAILED" };
            format!(
                "{}  {bottle}event  {:<6}  {}{ok}: {}",
                clock(&e.time),
                e.service,
                e.event,
                e.message
            )
        }
        LogLine::Decision(d) => {
            let field = |f: &Option<Cow<str>>| f.as_deref().unwrap_or("").to_string();
            let place = d
                .repo
                .as_deref()
                .map_or_else(|| field(&d.path), |r| format!(" {r}"));
            let target = format!("{} {}{place}", field(&d.method), field(&d.host));
            let verdict = match d.verdict {
                Verdict::Allow => "ALLOW",
                Verdict::Block => "BLOCK",
            };
            let service = match d.service {
                Service::Egress => "egress",
                Service::Dns => "dns",
                Service::Supervise => "supervise",
                Service::Git => "git",
            };
            let detector = d
                .detector
                .as_deref()
                .map(|det| format!(" [{det}]"))
                .unwrap_or_default();
            let why = d
                .refused_by
                .as_ref()
                .map(|r| {
                    let rule = serde_json::to_value(r.rule)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    match &r.key {
                        Some(key) => format!("  [{rule} → {key}: {}]", r.fix),
                        None => format!("  [{rule} → {}]", r.fix),
                    }
                })
                .unwrap_or_default();
            format!(
                "{}  {bottle}{verdict:<5}  {service:<6}  {}  {}{detector}{why}",
                clock(&d.time),
                target.trim(),
                d.reason
            )
        }
    }
}

/// The `HH:MM:SS` of an RFC 3339 time.
fn clock(time: &str) -> &str {
    time.get(11..19).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> LogLine<'static> {
        LogLine::parse(line).unwrap()
    }

    #[test]
    fn decisions_read_as_one_line_each() {
        let line = r#"{"time":"2026-11-25T16:59:13.711Z","service":"egress","host":"evil.test","method":"GET","path":"/x","verdict":"allow","reason":"route evil.test","detector":null}"#;
        assert_eq!(
            readable(&parse(line), false),
            "16:59:13  ALLOW  egress  GET evil.test/x  route evil.test"
        );
        let dlp = r#"{"time":"2026-11-25T16:59:14Z","service":"egress","host":"api.test","method":"POST","path":"/u","verdict":"block","reason":"known_secrets found canary in body","detector":"known_secrets","refused_by":{"rule":"known_secret","key":null,"fix":"nothing may: the bottle's own credentials and canary never leave it"}}"#;
        assert!(
            readable(&parse(dlp), false).ends_with(
                "in body [known_secrets]  [known_secret → nothing may: the bottle's own credentials and canary never leave it]"
            ),
            "{}",
            readable(&parse(dlp), false)
        );
        let event = r#"{"time":"2026-11-25T16:59:00Z","service":"sidecar","event":"reload","ok":false,"message":"bad file","bottle":"shop-1"}"#;
        assert_eq!(
            readable(&parse(event), true),
            "16:59:00  shop-1  event  sidecar  reload FAILED: bad file"
        );
    }

    #[test]
    fn a_refusal_names_the_key_to_change() {
        let line = r#"{"time":"2026-11-25T16:59:13Z","service":"egress","host":"evil.test","method":"GET","path":"/x","verdict":"block","reason":"host evil.test is not in the allowlist","detector":null,"refused_by":{"rule":"no_route","key":"egress.routes","fix":"add a route `- host: evil.test` to egress.routes in the bottle file"}}"#;
        assert_eq!(
            readable(&parse(line), false),
            "16:59:13  BLOCK  egress  GET evil.test/x  host evil.test is not in the allowlist  [no_route → egress.routes: add a route `- host: evil.test` to egress.routes in the bottle file]"
        );
        let push = r#"{"time":"2026-11-25T16:59:13Z","service":"git","host":"git.example.org","method":"push","path":null,"verdict":"block","reason":"refs/heads/main: not a fast-forward","detector":null,"refused_by":{"rule":"force_push","key":"git-gate.repos.shop.allow.force_push","fix":"set it to true in the bottle file"},"repo":"shop"}"#;
        assert!(
            readable(&parse(push), false)
                .starts_with("16:59:13  BLOCK  git     push git.example.org shop  refs/heads/main"),
            "{}",
            readable(&parse(push), false)
        );
    }
}
