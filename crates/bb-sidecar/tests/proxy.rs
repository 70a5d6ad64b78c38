//! The proxy in-process on 127.0.0.1, with upstreams the tests start on 127.0.0.1: plain
//! HTTP, passthrough tunnels, the SSRF guard, DNS-over-HTTPS refusal and introspection. Test host
//! names (`allowed.test`, …) resolve to loopback through an injected resolver: nothing here
//! resolves or contacts a real internet name. TLS interception: `tests/intercept.rs`.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bb_sidecar::config::{self, RouteTable};
use bb_sidecar::log::Log;
use bb_sidecar::proxy::AddressPolicy;
use bb_sidecar::secrets::Secrets;
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "SECRETVALUE-do-not-log";

fn default_routes() -> RouteTable {
    let mut api = route("api.test");
    api["matches"] = json!([{"paths": [{"type": "prefix", "value": "/v1/"}], "methods": ["GET"]}]);
    let mut pass = route("pass.test");
    pass["tls_passthrough"] = json!(true);
    plan(vec![route("allowed.test"), route("*.wild.test"), api, pass])
}

#[tokio::test]
async fn allowed_plain_http_is_forwarded_without_proxy_credentials() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let request = format!(
        "GET http://Allowed.Test:{port}/some/path?q={SECRET} HTTP/1.1\r\nHost: allowed.test:{port}\r\n\
         Proxy-Authorization: Basic {SECRET}\r\nProxy-Connection: keep-alive\r\nX-Custom: {SECRET}\r\n\
         Connection: close\r\n\r\n"
    );
    let a = send(p.addr, &request).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(hits.requests(), 1);
    assert!(a.head.contains("x-upstream: yes"), "{}", a.head);
    assert!(
        !a.head.contains("x-hop"),
        "hop-by-hop response header kept: {}",
        a.head
    );
    let body = a.body.to_ascii_lowercase();
    assert!(
        body.starts_with(&format!(
            "http/1.1 get /some/path?q={}\n",
            SECRET.to_ascii_lowercase()
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("host: allowed.test:{port}\n")),
        "{body}"
    );
    assert!(body.contains("x-custom: "), "{body}");
    assert!(!body.contains("proxy-authorization"), "{body}");
    assert!(!body.contains("proxy-connection"), "{body}");

    let lines = p.lines.json();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["service"], "egress");
    assert_eq!(l["host"], "allowed.test");
    assert_eq!(l["method"], "GET");
    assert_eq!(l["path"], "/some/path");
    assert_eq!(l["verdict"], "allow");
    assert!(l["detector"].is_null());
    assert!(
        !p.lines.all().concat().contains(SECRET),
        "a header value or query was logged"
    );
}

#[tokio::test]
async fn request_bodies_are_forwarded() {
    let (port, _) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let request = format!(
        "POST http://allowed.test:{port}/upload HTTP/1.1\r\nHost: allowed.test:{port}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    );
    let a = send(p.addr, &request).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("body: hello world\n"), "{}", a.body);
}

#[tokio::test]
async fn wildcard_routes_cover_subdomains_not_the_apex() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let ok = send(
        p.addr,
        &get(
            &format!("http://a.wild.test:{port}/"),
            &format!("a.wild.test:{port}"),
        ),
    )
    .await;
    assert_eq!(ok.status, 200);
    let apex = send(
        p.addr,
        &get(
            &format!("http://wild.test:{port}/"),
            &format!("wild.test:{port}"),
        ),
    )
    .await;
    assert_eq!(apex.status, 403);
    assert_eq!(
        apex.body,
        "blocked: host wild.test is not in the allowlist\n"
    );
    assert_eq!(hits.requests(), 1);
}

#[tokio::test]
async fn disallowed_host_gets_403_and_upstream_is_not_contacted() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let a = send(
        p.addr,
        &get(&format!("http://evil.example:{port}/x"), "evil.example"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        "blocked: host evil.example is not in the allowlist\n"
    );
    assert!(a.head.contains("content-type: text/plain"));
    assert_eq!(hits.requests(), 0);
    let l = &p.lines.json()[0];
    assert_eq!(l["verdict"], "block");
    assert_eq!(l["host"], "evil.example");
    assert_eq!(l["reason"], "host evil.example is not in the allowlist");
    assert_eq!(l["refused_by"]["rule"], "no_route");
    assert_eq!(l["refused_by"]["key"], "egress.routes");
    let fix = l["refused_by"]["fix"].as_str().unwrap();
    assert!(fix.contains("- host: evil.example"), "{fix}");
}

#[tokio::test]
async fn host_header_must_agree_with_the_target() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "evil.example"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert!(a.body.starts_with("blocked: the Host header"), "{}", a.body);
    assert_eq!(hits.requests(), 0);
}

#[tokio::test]
async fn route_matches_are_enforced_on_plain_http() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let host = format!("api.test:{port}");
    let ok = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v1/models"), &host),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let wrong_path = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v2/models"), &host),
    )
    .await;
    assert_eq!(wrong_path.status, 403);
    assert_eq!(
        wrong_path.body,
        "blocked: GET /v2/models on api.test matches none of the route's `matches`\n"
    );
    let escape = send(
        p.addr,
        &get(&format!("http://api.test:{port}/v1/../admin"), &host),
    )
    .await;
    assert_eq!(escape.status, 403);

    let post = format!(
        "POST http://api.test:{port}/v1/models HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let wrong_method = send(p.addr, &post).await;
    assert_eq!(wrong_method.status, 403);
    assert!(
        wrong_method.body.starts_with("blocked: POST /v1/models"),
        "{}",
        wrong_method.body
    );
    assert_eq!(hits.requests(), 1);
    let refusals: Vec<Value> = p
        .lines
        .json()
        .into_iter()
        .filter(|l| l["verdict"] == "block")
        .collect();
    assert_eq!(refusals.len(), 3);
    let rules: Vec<&Value> = refusals.iter().map(|l| &l["refused_by"]["rule"]).collect();
    assert_eq!(rules, ["no_match", "ambiguous_request", "no_match"]);
    for l in &refusals {
        assert_eq!(
            l["refused_by"]["key"], "egress.routes[api.test].matches",
            "{l}"
        );
    }
}

#[tokio::test]
async fn connect_to_a_passthrough_route_tunnels_bytes() {
    let port = start_echo().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let (mut s, a) = connect(p.addr, &format!("Pass.Test.:{port}")).await;
    assert_eq!(a.status, 200);
    for msg in [&b"ping"[..], b"\x00\x01binary\xff", b"pong"] {
        s.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, msg);
    }
    let l = &p.lines.json()[0];
    assert_eq!(l["method"], "CONNECT");
    assert_eq!(l["host"], "pass.test");
    assert_eq!(l["verdict"], "allow");
    assert!(
        l["reason"].as_str().unwrap().contains("not inspected"),
        "{l}"
    );
    assert!(l["path"].is_null());
}

#[tokio::test]
async fn connect_to_a_disallowed_host_is_403() {
    let port = start_echo().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    assert_eq!(
        connect_refused(p.addr, &format!("evil.example:{port}")).await,
        "blocked: host evil.example is not in the allowlist\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("wild.test:{port}")).await,
        "blocked: host wild.test is not in the allowlist\n"
    );
    assert_eq!(
        connect_refused(p.addr, "_egress.local:443").await,
        "blocked: _egress.local answers plain http:// requests only\n"
    );
    let lines = p.lines.json();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["verdict"] == "block" && l["method"] == "CONNECT")
    );
    // A route with `matches` is intercepted now: CONNECT itself is allowed.
    let (_s, ok) = connect(p.addr, &format!("api.test:{port}")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn strict_address_policy_refuses_loopback_upstreams() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::strict()).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "allowed.test"),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        "blocked: allowed.test resolves to 127.0.0.1, a loopback address\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("pass.test:{port}")).await,
        "blocked: pass.test resolves to 127.0.0.1, a loopback address\n"
    );
    assert_eq!(hits.requests(), 0);
    assert_eq!(hits.connections(), 0);
    for l in p.lines.json().iter().filter(|l| l["verdict"] == "block") {
        assert_eq!(l["refused_by"]["rule"], "guarded_address", "{l}");
        assert!(l["refused_by"]["key"].is_null(), "{l}");
        assert!(
            l["refused_by"]["fix"]
                .as_str()
                .unwrap()
                .starts_with("nothing may: ")
        );
    }
}

#[tokio::test]
async fn the_bottles_own_networks_are_refused_even_on_private_routes() {
    let (port, hits) = start_upstream().await;
    let echo = start_echo().await;
    let mut private = route("private.test");
    private["private"] = json!(true);
    let mut pass = route("pass.test");
    pass["private"] = json!(true);
    pass["tls_passthrough"] = json!(true);
    let table = || plan(vec![private.clone(), pass.clone()]);
    let deny = AddressPolicy::unchecked().deny(["127.0.0.0/8".parse().unwrap()]);
    let p = start_proxy(table(), deny).await;
    let url = format!("http://private.test:{port}/x");
    let a = send(p.addr, &get(&url, "private.test")).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        "blocked: private.test resolves to 127.0.0.1, in the bottle's own network 127.0.0.0/8\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("pass.test:{echo}")).await,
        "blocked: pass.test resolves to 127.0.0.1, in the bottle's own network 127.0.0.0/8\n"
    );
    assert_eq!(
        connect_refused(p.addr, &format!("127.0.0.1:{echo}")).await,
        "blocked: 127.0.0.1 is in the bottle's own network 127.0.0.0/8\n"
    );
    assert_eq!(hits.connections(), 0);
    // The same route without the deny net reaches the upstream.
    let open = start_proxy(table(), AddressPolicy::unchecked()).await;
    assert_eq!(
        send(open.addr, &get(&url, "private.test")).await.status,
        200
    );
    assert_eq!(hits.requests(), 1);
}

#[tokio::test]
async fn ip_forms_are_refused_without_asking_the_resolver() {
    let p = start_proxy(default_routes(), AddressPolicy::strict()).await;
    for (target, shown) in [
        ("0x7f000001", "0x7f000001 (127.0.0.1) is a loopback address"),
        ("0177.0.0.1", "0177.0.0.1 (127.0.0.1) is a loopback address"),
        ("2130706433", "2130706433 (127.0.0.1) is a loopback address"),
        ("127.1", "127.1 (127.0.0.1) is a loopback address"),
        (
            "0xa9fea9fe",
            "0xa9fea9fe (169.254.169.254) is a link-local address",
        ),
        (
            "[::ffff:127.0.0.1]",
            "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address",
        ),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        (
            "93.184.216.34",
            "93.184.216.34 is an IP address; routes allow host names only",
        ),
    ] {
        assert_eq!(
            connect_refused(p.addr, &format!("{target}:443")).await,
            format!("blocked: {shown}\n"),
            "{target}"
        );
        let host = target.trim_start_matches('[').trim_end_matches(']');
        let a = send(p.addr, &get(&format!("http://{target}/"), target)).await;
        assert_eq!(a.status, 403, "{target}");
        assert_eq!(a.body, format!("blocked: {shown}\n"), "{target} {host}");
    }
    // A numeric last label that is no address is no name either.
    let a = send(p.addr, &get("http://1.2.3.999/", "1.2.3.999")).await;
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("neither a host name nor an IP address"),
        "{}",
        a.body
    );
    assert_eq!(
        p.resolved.load(Ordering::SeqCst),
        0,
        "the resolver was asked"
    );
}

#[tokio::test]
async fn dns_over_https_and_tls_need_a_route_that_names_the_host() {
    let (port, hits) = start_upstream().await;
    let p = start_proxy(
        plan(vec![route("*.wild.test"), route("doh.test")]),
        AddressPolicy::unchecked(),
    )
    .await;
    let doh = |host: &str, extra: &str, path: &str| {
        format!(
            "GET http://{host}:{port}{path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}Connection: close\r\n\r\n"
        )
    };
    for (extra, path) in [
        (
            "",
            "/dns-query?dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB",
        ),
        ("Accept: application/dns-message\r\n", "/resolve"),
        ("Content-Type: application/dns-message\r\n", "/"),
    ] {
        let a = send(p.addr, &doh("a.wild.test", extra, path)).await;
        assert_eq!(a.status, 403, "{extra}{path}");
        assert_eq!(
            a.body,
            "blocked: DNS over HTTPS to a.wild.test is refused unless a route names the host\n"
        );
        let named = send(p.addr, &doh("doh.test", extra, path)).await;
        assert_eq!(named.status, 200, "{extra}{path}");
    }
    assert_eq!(hits.requests(), 3);
    let plain = send(p.addr, &doh("a.wild.test", "", "/dns-query")).await;
    assert_eq!(plain.status, 200);

    // DNS over TLS: port 853.
    assert_eq!(
        connect_refused(p.addr, "a.wild.test:853").await,
        "blocked: DNS over TLS (port 853) to a.wild.test is refused unless a route names the host\n"
    );
    let (_s, ok) = connect(p.addr, "doh.test:853").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn plain_http_never_carries_a_route_credential_and_drops_the_agents() {
    let (port, hits) = start_upstream().await;
    let mut api = route("api.test");
    api["auth"] = json!({"scheme": "Bearer", "slot": "EGRESS_TOKEN_1", "port": port});
    let mut setup = Setup::new(plan(vec![api, route("allowed.test")]));
    setup.secrets = Secrets::from_values([("EGRESS_TOKEN_1".to_owned(), SECRET.to_owned())], None);
    let p = start(setup).await;
    let request = |host: &str, method: &str| {
        format!(
            "{method} http://{host}:{port}/v1/x HTTP/1.1\r\nHost: {host}:{port}\r\n\
             Authorization: Bearer placeholder\r\nProxy-Authorization: Basic eA==\r\nConnection: close\r\n\r\n"
        )
    };
    let a = send(p.addr, &request("api.test", "GET")).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(
        a.body,
        "blocked: api.test injects a credential: only https:// is allowed, plain http:// would send it in the clear\n"
    );
    assert!(!a.body.contains(SECRET));

    let none = send(p.addr, &request("allowed.test", "GET")).await;
    assert_eq!(none.status, 200);
    assert!(!none.body.contains("authorization"), "{}", none.body);
    assert!(!none.body.contains("placeholder"), "{}", none.body);

    for method in ["TRACE", "TRACK", "trace"] {
        let echo = send(p.addr, &request("allowed.test", method)).await;
        assert_eq!(echo.status, 403, "{method}: {}", echo.body);
        assert!(echo.body.contains("echoes the request"), "{}", echo.body);
    }
    assert_eq!(hits.requests(), 1);
    let rules: Vec<Value> = p
        .lines
        .json()
        .into_iter()
        .filter(|l| l["verdict"] == "block")
        .map(|l| l["refused_by"].clone())
        .collect();
    assert_eq!(rules[0]["rule"], "credential_in_clear");
    assert!(rules[0]["key"].is_null(), "{}", rules[0]);
    assert!(
        rules[1..]
            .iter()
            .all(|r| r["rule"] == "echo_method" && r["key"].is_null())
    );
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    // A port nothing listens on: bind, note, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let a = send(
        p.addr,
        &get(&format!("http://allowed.test:{port}/"), "allowed.test"),
    )
    .await;
    assert_eq!(a.status, 502);
    assert!(
        a.body
            .starts_with(&format!("bad gateway: allowed.test:{port}")),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn health_and_introspection() {
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let direct = send(p.addr, &get("/healthz", "whatever")).await;
    assert_eq!((direct.status, direct.body.as_str()), (200, "ok\n"));
    let via = send(
        p.addr,
        &get("http://_egress.local/healthz", "_egress.local"),
    )
    .await;
    assert_eq!((via.status, via.body.as_str()), (200, "ok\n"));
    assert!(p.lines.all().is_empty(), "health checks are not logged");

    let list = send(
        p.addr,
        &get("http://_egress.local/allowlist", "_egress.local"),
    )
    .await;
    assert_eq!(list.status, 200);
    assert!(list.head.contains("content-type: application/json"));
    let v: Value = serde_json::from_str(&list.body).unwrap();
    let hosts: Vec<&str> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        ["allowed.test", "*.wild.test", "api.test", "pass.test"]
    );
    assert_eq!(v["routes"][2]["matches"][0]["methods"], json!(["GET"]));

    let other = send(p.addr, &get("/", "allowed.test")).await;
    assert_eq!(other.status, 403);
    assert!(
        other.body.starts_with("blocked: not a proxy request"),
        "{}",
        other.body
    );
    let missing = send(p.addr, &get("http://_egress.local/nope", "_egress.local")).await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn reload_swaps_the_table_and_keeps_it_on_a_bad_file() {
    let (port, _) = start_upstream().await;
    let p = start_proxy(default_routes(), AddressPolicy::unchecked()).await;
    let other = get(&format!("http://other.test:{port}/"), "other.test");
    let allowed = get(&format!("http://allowed.test:{port}/"), "allowed.test");
    assert_eq!(send(p.addr, &other).await.status, 403);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.json");
    let (log, events) = Log::memory();
    std::fs::write(
        &file,
        json!({"routes": [route("other.test")], "token_slots": []}).to_string(),
    )
    .unwrap();
    assert!(config::reload(&file, &p.routes, &log));
    assert_eq!(send(p.addr, &other).await.status, 200);
    assert_eq!(send(p.addr, &allowed).await.status, 403);

    std::fs::write(&file, "{\"routes\": [").unwrap();
    assert!(!config::reload(&file, &p.routes, &log));
    assert_eq!(
        send(p.addr, &other).await.status,
        200,
        "the old table is kept"
    );
    let events = events.json();
    assert_eq!(events[1]["event"], "reload");
    assert_eq!(events[1]["ok"], false);
}

#[tokio::test]
async fn a_secret_in_a_host_name_method_or_header_name_is_refused_before_any_lookup() {
    const TOKEN: &str = "q8Wm2Lx7Rt4Kp9Zs3Vn6Bc1Hd5Jf0Gy";
    let (port, hits) = start_upstream().await;
    let mut wild = route("*.wild.test");
    wild["dlp"] = json!({"outbound": ["known_secrets", "token_patterns"], "inbound": [], "on_match": "redact"});
    let mut setup = Setup::new(plan(vec![wild]));
    setup.secrets = Secrets::from_values([("EGRESS_TOKEN_1".to_owned(), TOKEN.to_owned())], None);
    setup.inspector = Some(Arc::new(bb_sidecar::inspect::DetectInspector::new(
        &setup.secrets,
    )));
    let p = start(setup).await;
    let hex: String = TOKEN.bytes().map(|b| format!("{b:02x}")).collect();
    let carriers = [
        format!("{}.wild.test", TOKEN.to_ascii_lowercase()),
        format!("{}.{}.wild.test", &hex[..32], &hex[32..]),
        "akiaqwertyuiopasdfgh.wild.test".to_owned(),
    ];
    for host in &carriers {
        let a = send(p.addr, &get(&format!("http://{host}:{port}/"), host)).await;
        assert_eq!(a.status, 403, "{host}: {}", a.body);
        assert!(a.body.contains("in host name"), "{host}: {}", a.body);
        assert!(!a.body.contains(TOKEN), "{}", a.body);
        let refused = connect_refused(p.addr, &format!("{host}:443")).await;
        assert!(refused.contains("in host name"), "{host}: {refused}");
    }
    assert_eq!(
        p.resolved.load(Ordering::SeqCst),
        0,
        "no name was looked up"
    );
    assert_eq!(hits.requests(), 0);
    // An ordinary subdomain of the same route goes through.
    let ok = send(
        p.addr,
        &get(&format!("http://a.wild.test:{port}/"), "a.wild.test"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}
