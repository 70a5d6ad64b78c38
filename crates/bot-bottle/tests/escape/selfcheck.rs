//! The self-check: each sabotage must make its attack report the escape.

use std::time::Duration;

use bb_testkit::{docker_try, wait_for};
use serde_json::Value;

use crate::attacks::*;
use crate::run::{Runner, decision_lines};
use crate::util::*;
use crate::world::*;

/// The self-check: each sabotage must make its attack report the escape.
pub fn self_check(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "self-check: with DLP switched off the secret reaches the upstream",
        || {
            let routes_file = a.state_dir.join("egress/routes.json");
            let text = std::fs::read_to_string(&routes_file).map_err(|e| e.to_string())?;
            let mut routes: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            for route in routes["routes"].as_array_mut().ok_or("no routes")? {
                route["dlp"]["outbound"] = Value::Array(vec![]);
            }
            let tmp = routes_file.with_extension("json.sabotage");
            std::fs::write(&tmp, routes.to_string()).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &routes_file).map_err(|e| e.to_string())?;
            docker_try(&["kill", "-s", "HUP", &a.sidecar])?;
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
        "self-check: with the sink bypassed the DNS attack reports it",
        || {
            docker_try(&[
                "exec",
                "-u",
                "root",
                &a.agent,
                "sh",
                "-c",
                &format!("echo 'nameserver {}' > /etc/resolv.conf", w.resolver_ip),
            ])?;
            match dns_exfiltration(w, a) {
                Ok(()) => Err("the DNS attack still reports success with the sink bypassed".into()),
                Err(_) => Ok(()),
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
}
