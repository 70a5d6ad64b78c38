//! The self-check: each sabotage must make its attack report the escape.

use std::time::Duration;

use bb_testkit::{docker_try, wait_for};
use serde_json::Value;

use crate::attacks::*;
use crate::classes::{edit_routes, resolver_log, ssrf_refused};
use crate::run::{Runner, decision_lines};
use crate::util::*;
use crate::world::*;

/// The self-check: each sabotage must make its attack report the escape.
pub fn self_check(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "self-check: with DLP switched off the secret reaches the upstream",
        || {
            edit_routes(w, |routes| {
                for route in routes["routes"].as_array_mut().into_iter().flatten() {
                    route["dlp"]["outbound"] = Value::Array(vec![]);
                }
            })?;
            let caught = wait_for(Duration::from_secs(10), || {
                let from = decision_lines(&a.sidecar).len();
                let out = exfiltrate(w, "aws-key", PLANTED[0].2, "body", "plain").ok()?;
                dlp_blocked(w, from, out, "/leak/aws-key/body/plain").err()
            });
            let why = caught.ok_or("the attack still reports success with DLP off")?;
            expect(
                w.upstream_requests().contains("/leak/aws-key/body/plain"),
                || format!("the attack failed for another reason: {why}"),
            )
        },
    );
    run.case(
        "self-check: with the address guard told the route is private, the request gets through",
        || {
            edit_routes(w, |routes| {
                for route in routes["routes"].as_array_mut().into_iter().flatten() {
                    if route["host"] == "ssrf.test" {
                        route["private"] = Value::Bool(true);
                    }
                }
            })?;
            let caught = wait_for(Duration::from_secs(10), || ssrf_refused(w).err());
            caught.ok_or("the guard case still passes with the guard opened")?;
            expect(w.upstream_requests().contains("/guard"), || {
                "the request failed for another reason".into()
            })
        },
    );
    run.case(
        "self-check: with the gate's scan replaced by `exit 0` the dirty push gets in",
        || {
            docker_try(&[
                "exec",
                "-u",
                "root",
                &a.sidecar,
                "sh",
                "-c",
                "for h in /var/lib/bot-bottle/git-gate/mirrors/*/hooks/pre-receive; do printf '#!/bin/sh\\nexit 0\\n' > \"$h\"; done",
            ])?;
            match dirty_push(w) {
                Ok(()) => Err("the dirty push still reports a refusal with the scan gone".into()),
                Err(why) => expect(why.contains("accepted"), || {
                    format!("the push failed for another reason: {why}")
                }),
            }
        },
    );
    run.case(
        "self-check: with the agent on the egress network the direct route is found",
        || {
            docker_try(&["network", "connect", &a.egress_net, &a.agent])?;
            let out = exec(
                &a.agent,
                "node",
                &format!(
                    "curl -sS --noproxy '*' -m 4 -k https://{}/sabotage-direct",
                    w.upstream_ip
                ),
            );
            expect(out.status.success(), || {
                format!("still no route: {}", stderr(&out))
            })?;
            expect(w.upstream_requests().contains("/sabotage-direct"), || {
                "the upstream did not see it".into()
            })
        },
    );
    run.case(
        "self-check: with the sink bypassed the DNS attack reports it, and the resolver got the query",
        || {
            // The agent is on the egress network now: the recording resolver is reachable.
            docker_try(&[
                "exec",
                "-u",
                "root",
                &a.agent,
                "sh",
                "-c",
                &format!("echo 'nameserver {}' > /etc/resolv.conf", w.resolver_ip),
            ])?;
            if dns_exfiltration(w, a).is_ok() {
                return Err("the DNS attack still reports success with the sink bypassed".into());
            }
            // The query the agent's default resolver (now the recording one) sent.
            expect(resolver_log(w).contains("-default"), || {
                "the attack failed for another reason: the resolver received nothing".into()
            })
        },
    );
}
