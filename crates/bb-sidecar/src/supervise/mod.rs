//! Supervise: the MCP server an agent asks for more access (streamable HTTP on
//! [`SUPERVISE_PORT`] at [`SUPERVISE_PATH`], on the bottle's internal address only).
//!
//! Two tools: `list-egress-routes` answers the live route table; `request-egress` files the
//! agent's request as a proposal in the bottle's supervise folder ([`queue`]) and waits, up to
//! the timeout, for the operator's decision, which `bot-bottle supervise` writes on the host.
//! An approval has already put the route into the routes file: the sidecar reloads that file
//! before it answers, so the agent's next request to the host passes. A rejection carries the
//! operator's reason; no answer in time is a denial. Every outcome is a decision line of the
//! `supervise` service. The agent can ask; nothing here decides: the answer is a file only the
//! host writes, into a folder the agent's container does not see.

pub mod grants;
pub mod holds;
pub mod queue;

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bb_contract::layout::{SUPERVISE_ALIAS, SUPERVISE_PATH, SUPERVISE_PORT};
use bb_contract::supervise::{EgressRequest, Verdict};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::json;
use tokio::net::TcpListener;

use crate::Shutdown;
use crate::config::SharedRoutes;
use crate::log::{Log, Rule, Service};
use queue::{Outcome, Queue};

/// How long a `request-egress` call waits for the operator by default.
pub const DEFAULT_TIMEOUT: Duration = bb_contract::supervise::DEFAULT_WAIT;

/// Where the server listens and files its proposals.
#[derive(Debug, Clone)]
pub struct SuperviseOptions {
    pub listen: SocketAddr,
    /// The bottle's supervise folder.
    pub dir: PathBuf,
    pub timeout: Duration,
}

/// The MCP server's state: the live routes, the queue, how to reload the routes file.
#[derive(Clone)]
pub struct Supervisor {
    routes: SharedRoutes,
    queue: Arc<Queue>,
    reload: Arc<dyn Fn() + Send + Sync>,
    log: Log,
}

impl Supervisor {
    pub fn new(
        routes: SharedRoutes,
        queue: Arc<Queue>,
        reload: Arc<dyn Fn() + Send + Sync>,
        log: Log,
    ) -> Supervisor {
        Supervisor {
            routes,
            queue,
            reload,
            log,
        }
    }

    async fn request_egress(&self, arguments: Option<JsonObject>) -> CallToolResult {
        let request = match parse_request(arguments) {
            Ok(r) => r,
            Err(why) => return refused(&why),
        };
        let (proposal, outcome) = match self.queue.ask(request, None, &self.log).await {
            Ok(answered) => answered,
            Err(why) => return refused(&why),
        };
        let host = proposal.request.host.clone();
        let line = || self.log.decision(Service::Supervise).host(host.as_str());
        match outcome {
            Outcome::Decided(d) if d.verdict == Verdict::Approved => {
                (self.reload)();
                let route = d
                    .route
                    .map(|r| serde_json::to_value(r).unwrap_or_default())
                    .unwrap_or_default();
                line().allow(&format!("request-egress {} approved by the operator", d.id));
                CallToolResult::success(vec![ContentBlock::text(
                    json!({"decision": "approved", "host": host, "route": route,
                           "note": "the route is live: retry the request"})
                    .to_string(),
                )])
            }
            Outcome::Decided(d) => {
                let reason = d.reason.unwrap_or_else(|| "no reason given".into());
                line().block(
                    Rule::OperatorDenied.refused_by(&host),
                    &format!("request-egress {} rejected by the operator: {reason}", d.id),
                );
                CallToolResult::error(vec![ContentBlock::text(
                    json!({"decision": "rejected", "host": host, "reason": reason}).to_string(),
                )])
            }
            Outcome::TimedOut => {
                let why = self.queue.silence();
                line().block(
                    Rule::OperatorDenied.refused_by(&host),
                    &format!("request-egress {} denied: {why}", proposal.id),
                );
                CallToolResult::error(vec![ContentBlock::text(
                    json!({"decision": "denied", "host": host, "reason": why}).to_string(),
                )])
            }
        }
    }

    fn list_routes(&self) -> CallToolResult {
        let table = self.routes.current().allowlist_json();
        CallToolResult::success(vec![ContentBlock::text(table.to_string())])
    }
}

/// The tool's arguments as a request the operator can read, or why they are not one.
fn parse_request(arguments: Option<JsonObject>) -> Result<EgressRequest, String> {
    let value = serde_json::Value::Object(arguments.unwrap_or_default());
    let request: EgressRequest = serde_json::from_value(value)
        .map_err(|e| format!("request-egress takes host, reason, paths, methods: {e}"))?;
    request.normalized()
}

fn refused(why: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(
        json!({"decision": "refused", "reason": why}).to_string(),
    )])
}

fn tools() -> Vec<Tool> {
    let object = |v: serde_json::Value| match v {
        serde_json::Value::Object(map) => map,
        _ => JsonObject::new(),
    };
    vec![
        Tool::new(
            "list-egress-routes",
            "The hosts (and paths and methods) this bottle may reach now, as JSON.",
            object(json!({"type": "object", "properties": {}})),
        ),
        Tool::new(
            "request-egress",
            "Ask the operator for access to a host this bottle may not reach. Waits for the \
             answer: approved (the route is live at once), rejected (with the operator's reason) \
             or denied when nobody answers in time.",
            object(json!({
                "type": "object",
                "properties": {
                    "host": {"type": "string", "description": "A host name, e.g. docs.rs or *.example.org"},
                    "paths": {"type": "array", "items": {"type": "string"}, "description": "Path prefixes such as /v1/ (default: every path)"},
                    "methods": {"type": "array", "items": {"type": "string"}, "description": "HTTP methods (default: every method)"},
                    "reason": {"type": "string", "description": "Why the access is needed, for the operator"}
                },
                "required": ["host", "reason"]
            })),
        ),
    ]
}

impl ServerHandler for Supervisor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "bot-bottle-supervise",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "This bottle reaches only the hosts of its route table. When a host you need is \
                 refused, call request-egress with the host and a reason; the operator decides.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = match request.name.as_ref() {
            "list-egress-routes" => self.list_routes(),
            "request-egress" => self.request_egress(request.arguments).await,
            other => {
                return Err(ErrorData::invalid_params(
                    Cow::Owned(format!("no tool `{other}`")),
                    None,
                ));
            }
        };
        Ok(result.into())
    }
}

/// Serves MCP on `listener` until shutdown. `Host` must name the server: its alias on the
/// internal network or the address it listens on (DNS rebinding).
pub async fn serve(listener: TcpListener, supervisor: Supervisor, mut shutdown: Shutdown) {
    let mut hosts = vec![
        SUPERVISE_ALIAS.to_string(),
        format!("{SUPERVISE_ALIAS}:{SUPERVISE_PORT}"),
    ];
    if let Ok(addr) = listener.local_addr() {
        hosts.push(addr.ip().to_string());
        hosts.push(addr.to_string());
    }
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let service = StreamableHttpService::new(
        move || Ok(supervisor.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let mut service = service.clone();
                async move {
                    if req.uri().path() != SUPERVISE_PATH {
                        return Ok(not_found());
                    }
                    tower_service::Service::call(&mut service, req).await
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The answer off the MCP path.
fn not_found() -> hyper::Response<BoxBody<Bytes, Infallible>> {
    let body = Full::new(Bytes::from_static(b"not found: MCP is served at /mcp\n"))
        .map_err(|never| match never {})
        .boxed();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::NOT_FOUND;
    response
}
