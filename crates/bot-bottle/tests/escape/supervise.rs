//! Class 18: the supervise plane. The agent may ask for more access; only the operator, on
//! the host, may answer. The agent can neither answer its own request nor see the folder the
//! answers come through, the operator's store, or another bottle's server.

use bb_contract::layout::SUPERVISE_PORT;
use bb_contract::supervise::{self, DECISIONS, PROPOSALS, Proposal};

use crate::attacks::{curl, expect, expect_blocked};
use crate::run::Runner;
use crate::util::{exec, stderr, stdout};
use crate::world::World;

/// The host the agent asks for in these cases (no route, no fixture: nothing may reach it).
const ASKED: &str = "escape-approval.test";

/// JSON-RPC to the bottle's MCP server from inside agent A, as a CLI speaks it (a session,
/// then the calls); prints each answer on a line of its own. The `request-egress` call is cut
/// after 4 s: nobody answers it.
fn mcp_script() -> String {
    let post = "curl -sS --noproxy '*' -H 'content-type: application/json' -H 'accept: application/json, text/event-stream'";
    format!(
        "set -u; url=http://supervise:{SUPERVISE_PORT}/mcp; \
         s=$({post} -D - -o /dev/null -d '{{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}},\"clientInfo\":{{\"name\":\"x\",\"version\":\"1\"}}}}}}' $url | tr -d '\\r' | sed -n 's/^mcp-session-id: //Ip'); \
         h=\"mcp-session-id: $s\"; v='mcp-protocol-version: 2025-06-18'; \
         {post} -H \"$h\" -H \"$v\" -d '{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}' $url; \
         echo; echo TOOLS; {post} -H \"$h\" -H \"$v\" -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}' $url; \
         echo; echo APPROVE; {post} -H \"$h\" -H \"$v\" -d '{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{{\"name\":\"approve\",\"arguments\":{{\"host\":\"{ASKED}\"}}}}}}' $url; \
         echo; echo ASK; {post} -m 4 -H \"$h\" -H \"$v\" -d '{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{{\"name\":\"request-egress\",\"arguments\":{{\"host\":\"{ASKED}\",\"reason\":\"let me out\"}}}}}}' $url; \
         echo; echo DONE"
    )
}

/// The proposals filed in bottle A's supervise folder (in its sidecar) for [`ASKED`], and
/// whether any has an answer.
fn filed(w: &World) -> (Vec<Proposal>, bool) {
    let dir = bb_contract::layout::sidecar::SUPERVISE_DIR;
    let files = bb_core::engine_files::get(&w.a.sidecar, dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    let found: Vec<Proposal> = files
        .iter()
        .filter(|f| f.path.starts_with(PROPOSALS))
        .filter_map(|f| serde_json::from_slice::<Proposal>(&f.bytes).ok())
        .filter(|p| p.request.host == ASKED)
        .collect();
    let root = std::path::Path::new("");
    let answered = found.iter().any(|p| {
        let decision = supervise::decision_path(root, &p.id);
        files.iter().any(|f| f.path == decision)
    });
    (found, answered)
}

pub fn cases(run: &mut Runner, w: &World) {
    let a = &w.a;
    run.case(
        "18 the agent asks through its MCP server and cannot answer itself",
        || {
            let out = exec(&a.agent, "node", &mcp_script());
            let text = stdout(&out);
            let section = |name: &str| {
                text.split(&format!("{name}\n"))
                    .nth(1)
                    .and_then(|t| t.lines().find(|l| l.contains("jsonrpc")))
                    .unwrap_or_default()
                    .to_string()
            };
            let tools = section("TOOLS");
            expect(
                tools.contains("\"request-egress\"") && tools.contains("\"list-egress-routes\""),
                || {
                    format!(
                        "control: the MCP server answered no tool list: {text} {}",
                        stderr(&out)
                    )
                },
            )?;
            expect(tools.matches("\"name\":\"").count() == 2, || {
                format!("the agent is offered more than asking and listing: {tools}")
            })?;
            expect(section("APPROVE").contains("no tool"), || {
                format!("an unknown tool was not refused: {text}")
            })?;
            let (proposals, answered) = filed(w);
            expect(!proposals.is_empty(), || {
                format!("control: the request never reached the supervise folder: {text}")
            })?;
            expect(!answered, || {
                "the request was answered without the operator".into()
            })?;
            let table = curl(a, "http://_egress.local/allowlist");
            expect(!stdout(&table).contains(ASKED), || {
                format!("the asked host is in the live table: {}", stdout(&table))
            })?;
            expect_blocked(
                &curl(a, &format!("http://{ASKED}/")),
                "not in the allowlist",
            )
        },
    );
    run.case(
        "18 the supervise folder, the operator's store and other bottles' servers are out of reach",
        || {
            let home = w.fixture.home().display().to_string();
            let out = exec(
                &a.agent,
                "node",
                &format!(
                    "cat /proc/self/mountinfo; ls -d {dir} {dir}/{PROPOSALS} {dir}/{DECISIONS} 2>&1; find / -xdev -name 'bot-bottle.db' 2>/dev/null; echo END",
                    dir = bb_contract::layout::sidecar::SUPERVISE_DIR
                ),
            );
            let text = stdout(&out);
            expect(text.ends_with("END"), || format!("control: the probe did not run: {text}"))?;
            expect(!text.contains(&home) && !text.contains("/supervise "), || {
                format!("a host or supervise path is mounted in the agent: {text}")
            })?;
            expect(!text.contains("bot-bottle.db\n"), || format!("the store is visible: {text}"))?;
            expect(text.matches("No such file or directory").count() >= 3, || {
                format!("the sidecar's supervise folder is visible: {text}")
            })?;
            let own = a.ip_on(&a.sidecar, &a.internal_net);
            let other = w.b.ip_on(&w.b.sidecar, &w.b.internal_net);
            let reach = |ip: &str| {
                exec(&a.agent, "node", &format!("nc -z -w 2 {ip} {SUPERVISE_PORT}"))
                    .status
                    .success()
            };
            expect(reach(&own), || "control: the agent cannot reach its own server".into())?;
            expect(!reach(&other), || "the agent reaches another bottle's server".into())?;
            let egress_ip = a.ip_on(&a.sidecar, &a.egress_net);
            let from_egress = exec(&w.upstream, "root", &format!("nc -z -w 2 {egress_ip} {SUPERVISE_PORT}"));
            expect(!from_egress.status.success(), || {
                "the server answers on the egress network".into()
            })
        },
    );
}
