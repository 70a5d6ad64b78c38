//! The supervise MCP server in-process on loopback, spoken to as the agents' CLIs speak
//! (JSON-RPC over streamable HTTP, a session per client), with the operator played by a task
//! that writes decision files (and the route, for an approval) as `bot-bottle supervise` does.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bb_contract::plan::EgressPlan;
use bb_contract::supervise::{self, Decision, EgressRequest, Proposal, Verdict};
use bb_sidecar::config::{RouteTable, SharedRoutes};
use bb_sidecar::log::{Lines, Log};
use bb_sidecar::supervise::queue::Queue;
use bb_sidecar::supervise::{Supervisor, serve};
use bb_sidecar::{Shutdown, ShutdownTrigger};
use common::*;
use serde_json::{Value, json};
use tokio::net::TcpListener;

struct Server {
    addr: std::net::SocketAddr,
    dir: PathBuf,
    routes_file: PathBuf,
    routes: SharedRoutes,
    lines: Lines,
    _stop: ShutdownTrigger,
    _tmp: tempfile::TempDir,
}

async fn start_server(timeout: Duration) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("supervise");
    std::fs::create_dir(&dir).unwrap();
    let routes_file = tmp.path().join("routes.json");
    let table = json!({"routes": [route("allowed.test")], "token_slots": []});
    std::fs::write(&routes_file, table.to_string()).unwrap();
    let routes = SharedRoutes::new(RouteTable::load(&routes_file).unwrap());
    let (log, lines) = Log::memory();
    let reload: Arc<dyn Fn() + Send + Sync> = {
        let (file, routes, log) = (routes_file.clone(), routes.clone(), log.clone());
        Arc::new(move || {
            bb_sidecar::config::reload(&file, &routes, &log);
        })
    };
    let supervisor = Supervisor::new(
        routes.clone(),
        Arc::new(Queue::new(dir.clone(), timeout)),
        reload,
        log,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = Shutdown::channel();
    tokio::spawn(serve(listener, supervisor, shutdown));
    Server {
        addr,
        dir,
        routes_file,
        routes,
        lines,
        _stop: stop,
        _tmp: tmp,
    }
}

/// A minimal MCP client: a session, then JSON-RPC requests; answers read from JSON or SSE.
struct Client {
    http: reqwest_like::Http,
    session: Option<String>,
    next: u64,
}

mod reqwest_like {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    pub struct Http {
        pub client: Client<HttpConnector, Full<Bytes>>,
        pub url: String,
        pub host: String,
    }

    impl Http {
        pub fn new(addr: std::net::SocketAddr, host: &str) -> Http {
            Http {
                client: Client::builder(TokioExecutor::new()).build_http(),
                url: format!("http://{addr}/mcp"),
                host: host.to_string(),
            }
        }

        /// POSTs `body`; (status, session id header, body text).
        pub async fn post(
            &self,
            body: &serde_json::Value,
            session: Option<&str>,
        ) -> (u16, Option<String>, String) {
            let mut req = hyper::Request::post(&self.url)
                .header("host", &self.host)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream");
            if let Some(s) = session {
                req = req
                    .header("mcp-session-id", s)
                    .header("mcp-protocol-version", "2025-06-18");
            }
            let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
            let resp = self.client.request(req).await.unwrap();
            let status = resp.status().as_u16();
            let session = resp
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (status, session, String::from_utf8_lossy(&body).into_owned())
        }
    }
}

/// The JSON-RPC message of an answer: the body, or the last `data:` of an event stream.
fn message(body: &str) -> Value {
    let text = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .rfind(|d| d.starts_with('{'))
        .unwrap_or(body);
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"))
}

impl Client {
    async fn connect(server: &Server) -> Client {
        let http = reqwest_like::Http::new(server.addr, "supervise:9100");
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}});
        let (status, session, body) = http.post(&init, None).await;
        assert_eq!(status, 200, "{body}");
        let answer = message(&body);
        assert_eq!(
            answer["result"]["serverInfo"]["name"], "bot-bottle-supervise",
            "{answer}"
        );
        let session = session.expect("a session id");
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = http.post(&note, Some(&session)).await;
        assert_eq!(status, 202);
        Client {
            http,
            session: Some(session),
            next: 1,
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let req = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let (status, _, body) = self.http.post(&req, self.session.as_deref()).await;
        assert_eq!(status, 200, "{body}");
        message(&body)
    }

    /// A tool's result: (is_error, the JSON in its text).
    async fn tool(&mut self, name: &str, arguments: Value) -> (bool, Value) {
        let answer = self
            .call("tools/call", json!({"name": name, "arguments": arguments}))
            .await;
        let result = &answer["result"];
        let text = result["content"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        (
            result["isError"].as_bool().unwrap_or(false),
            serde_json::from_str(text).unwrap(),
        )
    }
}

/// Plays the operator: answers the first proposal that appears with `verdict` (an approval
/// first writes the route into the routes file, as the host does).
fn operator(server: &Server, verdict: Verdict) -> tokio::task::JoinHandle<Proposal> {
    let (dir, routes_file) = (server.dir.clone(), server.routes_file.clone());
    tokio::spawn(async move {
        let proposal = loop {
            if let Some(p) = first_proposal(&dir) {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let route = (verdict == Verdict::Approved).then(|| proposal.request.to_route());
        if let Some(route) = &route {
            let mut egress: EgressPlan =
                serde_json::from_slice(&std::fs::read(&routes_file).unwrap()).unwrap();
            egress.routes.push(route.clone());
            supervise::write_whole(&routes_file, &egress).unwrap();
        }
        let decision = Decision {
            id: proposal.id.clone(),
            verdict,
            reason: (verdict == Verdict::Rejected).then(|| "use the mirror".to_string()),
            route,
            decided_at: supervise::now(),
        };
        supervise::write_whole(&supervise::decision_path(&dir, &proposal.id), &decision).unwrap();
        proposal
    })
}

fn first_proposal(dir: &Path) -> Option<Proposal> {
    let entries = std::fs::read_dir(dir.join(supervise::PROPOSALS)).ok()?;
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .find_map(|e| supervise::read_whole(&e.path()).ok().flatten())
}

/// The server's first decision line of the `supervise` service.
fn supervise_line(server: &Server) -> Value {
    server
        .lines
        .json()
        .into_iter()
        .find(|l| l["service"] == "supervise")
        .expect("a supervise decision line")
}

#[tokio::test]
async fn the_tools_are_listed_and_the_live_table_is_read() {
    let server = start_server(Duration::from_secs(5)).await;
    let mut client = Client::connect(&server).await;
    let listed = client.call("tools/list", json!({})).await;
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list-egress-routes", "request-egress"]);
    let (error, table) = client.tool("list-egress-routes", json!({})).await;
    assert!(!error);
    assert_eq!(table["routes"][0]["host"], "allowed.test");
}

#[tokio::test]
async fn an_approved_request_is_live_when_the_call_returns() {
    let server = start_server(Duration::from_secs(20)).await;
    let mut client = Client::connect(&server).await;
    let op = operator(&server, Verdict::Approved);
    let (error, answer) = client
        .tool(
            "request-egress",
            json!({"host": "Docs.RS", "paths": ["/crate/"], "methods": ["get"], "reason": "read the serde docs"}),
        )
        .await;
    assert!(!error, "{answer}");
    assert_eq!(answer["decision"], "approved");
    assert_eq!(answer["route"]["host"], "docs.rs");
    let proposal = op.await.unwrap();
    assert_eq!(
        proposal.request,
        EgressRequest {
            host: "docs.rs".into(),
            paths: vec!["/crate/".into()],
            methods: vec!["GET".into()],
            reason: "read the serde docs".into(),
        }
    );
    let hosts: Vec<String> = server
        .routes
        .current()
        .routes()
        .iter()
        .map(|r| r.host.clone())
        .collect();
    assert!(
        hosts.contains(&"docs.rs".to_string()),
        "reloaded before answering: {hosts:?}"
    );
    let line = supervise_line(&server);
    assert_eq!(line["verdict"], "allow");
    assert_eq!(line["host"], "docs.rs");
}

#[tokio::test]
async fn a_rejection_carries_the_reason_and_silence_denies() {
    let server = start_server(Duration::from_secs(20)).await;
    let mut client = Client::connect(&server).await;
    let op = operator(&server, Verdict::Rejected);
    let (error, answer) = client
        .tool(
            "request-egress",
            json!({"host": "pypi.org", "reason": "install a package"}),
        )
        .await;
    op.await.unwrap();
    assert!(error);
    assert_eq!(answer["decision"], "rejected");
    assert_eq!(answer["reason"], "use the mirror");
    assert!(
        !server
            .routes
            .current()
            .routes()
            .iter()
            .any(|r| r.host == "pypi.org")
    );

    let server = start_server(Duration::from_secs(1)).await;
    let mut client = Client::connect(&server).await;
    let (error, answer) = client
        .tool(
            "request-egress",
            json!({"host": "pypi.org", "reason": "install a package"}),
        )
        .await;
    assert!(error);
    assert_eq!(answer["decision"], "denied");
    assert!(
        answer["reason"].as_str().unwrap().contains("no answer"),
        "{answer}"
    );
    let block = supervise_line(&server);
    assert_eq!(block["verdict"], "block");
}

#[tokio::test]
async fn bad_requests_are_refused_without_a_proposal() {
    let server = start_server(Duration::from_secs(5)).await;
    let mut client = Client::connect(&server).await;
    for args in [
        json!({"host": "169.254.169.254", "reason": "metadata"}),
        json!({"host": "docs.rs"}),
        json!({"host": "docs.rs", "reason": "x", "methods": ["CONNECT"]}),
        json!({"host": "docs.rs", "reason": "x", "extra": 1}),
    ] {
        let (error, answer) = client.tool("request-egress", args.clone()).await;
        assert!(error, "{args}");
        assert_eq!(answer["decision"], "refused", "{args}: {answer}");
    }
    assert!(first_proposal(&server.dir).is_none());
}

#[tokio::test]
async fn a_host_header_that_names_another_server_is_refused() {
    let server = start_server(Duration::from_secs(5)).await;
    let http = reqwest_like::Http::new(server.addr, "evil.example");
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let (status, session, _) = http.post(&init, None).await;
    assert_eq!(status, 403);
    assert!(session.is_none());
}

/// A route the operator granted, as `bot-bottle supervise` writes it.
fn granted(host: &str, uses: Option<u32>, expires_at: Option<&str>) -> Value {
    let mut r = route(host);
    r["grant"] =
        json!({"id": "0123456789abcdef0123456789abcdef", "uses": uses, "expires_at": expires_at});
    r
}

#[tokio::test]
async fn the_proxy_holds_a_grant_to_its_requests_and_its_time() {
    let (port, hits) = start_upstream().await;
    let p = start(Setup::new(plan(vec![
        granted("allowed.test", Some(1), None),
        granted("wild.test", None, Some("2000-01-01T00:00:00Z")),
        granted("other.test", None, Some("2999-01-01T00:00:00Z")),
    ])))
    .await;
    let url = |host: &str| format!("http://{host}:{port}/x");
    let first = send(p.addr, &get(&url("allowed.test"), "allowed.test")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = send(p.addr, &get(&url("allowed.test"), "allowed.test")).await;
    assert_eq!(second.status, 403);
    assert!(second.body.contains("used up"), "{}", second.body);
    let expired = send(p.addr, &get(&url("wild.test"), "wild.test")).await;
    assert_eq!(expired.status, 403);
    assert!(
        expired.body.contains("not in the allowlist"),
        "{}",
        expired.body
    );
    let timed = send(p.addr, &get(&url("other.test"), "other.test")).await;
    assert_eq!(timed.status, 200, "a grant before its time: {}", timed.body);
    assert_eq!(hits.requests(), 2, "nothing refused reached the upstream");
}

#[tokio::test]
async fn ended_grants_leave_the_live_table_by_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let table = json!({"routes": [
        granted("allowed.test", Some(1), None),
        granted("wild.test", None, Some("2000-01-01T00:00:00Z")),
        route("other.test"),
    ], "token_slots": []});
    let routes = SharedRoutes::new(RouteTable::parse(&table.to_string()).unwrap());
    let grants = Arc::new(bb_sidecar::supervise::grants::Grants::kept_in(
        tmp.path().to_path_buf(),
    ));
    let (log, lines) = Log::memory();
    let first = routes.current().routes()[0].grant.clone().unwrap();
    grants.take(&first, "allowed.test").unwrap();
    tokio::spawn(bb_sidecar::supervise::grants::prune(
        routes.clone(),
        grants,
        log,
    ));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while routes.current().routes().len() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ended grants stayed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(routes.current().routes()[0].host, "other.test");
    assert!(
        lines.all().concat().contains("grant ended"),
        "{:?}",
        lines.all()
    );
}
