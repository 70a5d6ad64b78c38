//! A bottle's `egress.routes`: hosts, credentials, request matches and DLP per route.

use bb_contract::InputError;
use bb_contract::plan::{AuthScheme, HeaderMatch, PathMatch, PathMatchKind, RouteMatch};

use super::Loc;
use super::bottle::{AuthSpec, RouteSpec};
use super::walk::{Ctx, get, index, join};
use super::yaml::{Node, Value};

const ROUTE_KEYS: &[&str] = &[
    "host",
    "auth",
    "matches",
    "dlp",
    "tls_passthrough",
    "private",
];
const EGRESS_KEYS: &[&str] = &["routes"];
const AUTH_KEYS: &[&str] = &[
    "scheme",
    "token_ref",
    "token_file",
    "token_command",
    "token_timeout",
    "port",
];
const MATCH_KEYS: &[&str] = &["paths", "methods", "headers"];
const PATH_KEYS: &[&str] = &["type", "value"];
const HEADER_KEYS: &[&str] = &["name", "value"];

pub fn parse_egress(ctx: &Ctx, node: &Node) -> Result<Vec<RouteSpec>, InputError> {
    let entries = ctx.map(node, "egress")?;
    ctx.check_keys(entries, "egress", EGRESS_KEYS)?;
    let Some(list) = get(entries, "routes") else {
        return Ok(Vec::new());
    };
    if list.value == Value::Null {
        return Ok(Vec::new());
    }
    let mut routes: Vec<RouteSpec> = Vec::new();
    for (i, item) in ctx.list(list, "egress.routes")?.iter().enumerate() {
        let route = parse_route(ctx, item, i)?;
        if let Some(first) = routes.iter().position(|r| r.host == route.host) {
            return Err(ctx
                .error(
                    item.line,
                    &join(&index("egress.routes", i), "host"),
                    format!(
                        "duplicate route for `{}` (also egress.routes[{first}])",
                        route.host
                    ),
                )
                .fix("keep one route per host and list every `matches` entry under it"));
        }
        routes.push(route);
    }
    Ok(routes)
}

fn parse_route(ctx: &Ctx, node: &Node, position: usize) -> Result<RouteSpec, InputError> {
    let base = &index("egress.routes", position);
    let entries = ctx.map(node, base)?;
    let legacy = super::dlp::LEGACY.iter().map(|(old, _)| *old);
    let keys: Vec<&str> = ROUTE_KEYS.iter().copied().chain(legacy).collect();
    ctx.check_keys(entries, base, &keys)?;
    let host_path = join(base, "host");
    let host_node = get(entries, "host").ok_or_else(|| {
        ctx.error(node.line, &host_path, "missing")
            .fix("every route names its `host`")
    })?;
    let host = bb_contract::route_host::normalise(&ctx.string(host_node, &host_path)?)
        .map_err(|(m, f)| ctx.error(host_node.line, &host_path, m).fix(f))?;
    let flag = |key: &str| -> Result<bool, InputError> {
        get(entries, key)
            .map(|n| ctx.bool(n, &join(base, key)))
            .transpose()
            .map(|v| v.unwrap_or(false))
    };
    let route = RouteSpec {
        host,
        auth: get(entries, "auth")
            .map(|n| parse_auth(ctx, n, &join(base, "auth")))
            .transpose()?,
        matches: get(entries, "matches")
            .map(|n| parse_matches(ctx, n, &join(base, "matches")))
            .transpose()?
            .unwrap_or_default(),
        dlp: super::dlp::parse_route_dlp(ctx, entries, base)?,
        tls_passthrough: flag("tls_passthrough")?,
        private: flag("private")?,
        index: position,
        loc: Loc::new(&ctx.file, node.line + ctx.line_offset),
    };
    if route.tls_passthrough {
        let conflict = [
            ("auth", route.auth.is_some()),
            ("matches", !route.matches.is_empty()),
        ]
        .into_iter()
        .find(|(_, set)| *set);
        if let Some((key, _)) = conflict {
            return Err(ctx
                .error(node.line, &join(base, "tls_passthrough"), format!(
                    "cannot be combined with `{key}`: a passed-through tunnel is never decrypted"
                ))
                .fix(format!("remove `{key}` or `tls_passthrough`")));
        }
    }
    Ok(route)
}

fn parse_auth(ctx: &Ctx, node: &Node, base: &str) -> Result<AuthSpec, InputError> {
    let entries = ctx.map(node, base)?;
    ctx.check_keys(entries, base, AUTH_KEYS)?;
    let example = "write `auth: {scheme: Bearer, token_ref: HOST_VAR}`";
    let Some(scheme_node) = get(entries, "scheme") else {
        return Err(ctx
            .error(node.line, base, "partial auth: `scheme` is missing")
            .fix(example));
    };
    let token = super::token::parse_token(ctx, node, entries, base)?;
    let scheme_path = join(base, "scheme");
    let scheme = match ctx.string(scheme_node, &scheme_path)?.as_str() {
        "Bearer" => AuthScheme::Bearer,
        "token" => AuthScheme::Token,
        "Basic" => AuthScheme::Basic,
        "x-api-key" => AuthScheme::XApiKey,
        other => {
            return Err(ctx
                .error(
                    scheme_node.line,
                    &scheme_path,
                    format!("unknown scheme `{other}`"),
                )
                .fix("use `Bearer`, `token`, `Basic` or `x-api-key`"));
        }
    };
    let port = match get(entries, "port") {
        None => None,
        Some(n) => match &n.value {
            Value::Int(p) if (1..=65535).contains(p) => Some(*p as u16),
            _ => {
                return Err(ctx
                    .error(n.line, &join(base, "port"), "not a port number")
                    .fix("give the TLS port the token goes to, for example `port: 8443` (443 when unset)"));
            }
        },
    };
    Ok(AuthSpec {
        scheme,
        token,
        port,
    })
}

fn parse_matches(ctx: &Ctx, node: &Node, base: &str) -> Result<Vec<RouteMatch>, InputError> {
    let mut out = Vec::new();
    for (i, item) in ctx.list(node, base)?.iter().enumerate() {
        let path = index(base, i);
        let entries = ctx.map(item, &path)?;
        ctx.check_keys(entries, &path, MATCH_KEYS)?;
        let m = RouteMatch {
            paths: get(entries, "paths")
                .map(|n| parse_paths(ctx, n, &join(&path, "paths")))
                .transpose()?
                .unwrap_or_default(),
            methods: get(entries, "methods")
                .map(|n| parse_methods(ctx, n, &join(&path, "methods")))
                .transpose()?
                .unwrap_or_default(),
            headers: get(entries, "headers")
                .map(|n| parse_headers(ctx, n, &join(&path, "headers")))
                .transpose()?
                .unwrap_or_default(),
        };
        if m == RouteMatch::default() {
            return Err(ctx
                .error(item.line, &path, "an empty match would allow everything")
                .fix(
                    "give `paths`, `methods` or `headers`, or drop `matches` to allow all paths",
                ));
        }
        out.push(m);
    }
    Ok(out)
}

fn parse_paths(ctx: &Ctx, node: &Node, base: &str) -> Result<Vec<PathMatch>, InputError> {
    let mut out = Vec::new();
    for (i, item) in ctx.list(node, base)?.iter().enumerate() {
        let path = index(base, i);
        let entries = ctx.map(item, &path)?;
        ctx.check_keys(entries, &path, PATH_KEYS)?;
        let field = |key: &str| {
            get(entries, key)
                .ok_or_else(|| {
                    ctx.error(item.line, &join(&path, key), "missing")
                        .fix("write `{type: prefix, value: /api/}`")
                })
                .and_then(|n| ctx.string(n, &join(&path, key)).map(|v| (v, n.line)))
        };
        let (kind, kind_line) = field("type")?;
        let kind = match kind.as_str() {
            "prefix" => PathMatchKind::Prefix,
            "exact" => PathMatchKind::Exact,
            other => {
                return Err(ctx
                    .error(
                        kind_line,
                        &join(&path, "type"),
                        format!("unknown path match type `{other}`"),
                    )
                    .fix("use `prefix` or `exact`"));
            }
        };
        let (value, value_line) = field("value")?;
        if !value.starts_with('/') {
            return Err(ctx
                .error(
                    value_line,
                    &join(&path, "value"),
                    format!("`{value}` is not an absolute path"),
                )
                .fix("start the path with `/`"));
        }
        out.push(PathMatch { kind, value });
    }
    Ok(out)
}

fn parse_methods(ctx: &Ctx, node: &Node, base: &str) -> Result<Vec<String>, InputError> {
    let methods = ctx.string_list(node, base)?;
    for (i, m) in methods.iter().enumerate() {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ctx
                .error(
                    node.line,
                    &index(base, i),
                    format!("`{m}` is not an HTTP method"),
                )
                .fix("write methods such as GET, POST"));
        }
    }
    Ok(methods
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect())
}

fn parse_headers(ctx: &Ctx, node: &Node, base: &str) -> Result<Vec<HeaderMatch>, InputError> {
    let mut out = Vec::new();
    for (i, item) in ctx.list(node, base)?.iter().enumerate() {
        let path = index(base, i);
        let entries = ctx.map(item, &path)?;
        ctx.check_keys(entries, &path, HEADER_KEYS)?;
        let field = |key: &str| {
            get(entries, key)
                .ok_or_else(|| {
                    ctx.error(item.line, &join(&path, key), "missing")
                        .fix("write `{name: X-Header, value: expected}`")
                })
                .and_then(|n| ctx.string(n, &join(&path, key)))
        };
        let name = field("name")?;
        let value = field("value")?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ctx
                .error(
                    item.line,
                    &join(&path, "name"),
                    format!("`{name}` is not a header name"),
                )
                .fix("use letters, digits and `-`"));
        }
        out.push(HeaderMatch { name, value });
    }
    Ok(out)
}
