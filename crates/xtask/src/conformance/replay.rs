//! Talking to the sidecar's proxy from this host: a case's request (`http://` in absolute form,
//! `https://` through `CONNECT` and TLS verified against the bottle CA), the marker after it,
//! and the health check that says the proxy is up.

use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};

use super::cases::{Case, Replayed, Verdict};
use super::console::note;
use super::host::wire_host;
use super::judge::{Answer, classify};
use super::markers::{MARKER_HOST, marker_url};
use super::request::case_request;
use super::tunnel::{read_connect_head, read_refusal_body};
use super::wire::{Deadline, Request, RequestError, Timed, Within, read_response};

/// How long one case's exchange may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the requests go: the proxy, and the CA its intercepting certificates chain to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub proxy: SocketAddr,
    pub bottle_ca: std::path::PathBuf,
}

/// Sends the case through the proxy and says what came back.
pub fn replay(endpoint: &Endpoint, case: &Case, bodies: &BTreeMap<String, String>) -> Replayed {
    let deadline = Deadline::after(TIMEOUT);
    let payload = case.payload();
    let method = payload
        .truthy_at("method")
        .map_or_else(|| "GET".to_owned(), |m| m.py_str());
    let size = payload
        .get("body")
        .filter(|b| !matches!(b, super::pyjson::Json::Null))
        .map(|b| format!("  (body: {} chars)", b.py_str().chars().count()))
        .unwrap_or_default();
    let url = case.url.as_deref().unwrap_or_default();
    note(format!("-> {}: {method} {url}{size}", case.id));
    let started = Instant::now();
    let answer = if case.split_url().scheme == "https" {
        via_connect(endpoint, case, &deadline)
    } else {
        absolute(endpoint.proxy, case, &deadline)
    };
    let replayed = match answer {
        Ok(answer) => classify(&answer, bodies.get(&case.id).map_or("ok", String::as_str)),
        Err(err) => Replayed {
            verdict: Verdict::Error,
            reason: reason(&err),
        },
    };
    note(format!(
        "<- {}: {} ({}) in {:.2} s",
        case.id,
        replayed.verdict.as_str(),
        replayed.reason,
        started.elapsed().as_secs_f64()
    ));
    replayed
}

/// An error as a verdict's reason.
fn reason(err: &RequestError) -> String {
    match err {
        RequestError::Timeout => format!("timed out after {} s", TIMEOUT.as_secs()),
        RequestError::Tls(reason) => reason.clone(),
        RequestError::Other { class, message } => format!("{class}: {message}"),
    }
}

fn connect(proxy: SocketAddr, deadline: &Deadline) -> Result<TcpStream, RequestError> {
    Ok(TcpStream::connect_timeout(&proxy, deadline.left()?)?)
}

/// Sends `request` on `stream` and reads the answer.
fn exchange<S: Timed>(
    stream: &mut S,
    request: &Request,
    deadline: &Deadline,
) -> Result<Answer, RequestError> {
    let bytes = request.encode()?;
    let mut io = Within { stream, deadline };
    io.write_all(&bytes)?;
    io.flush()?;
    let response = read_response(&mut BufReader::new(io), request.method == "HEAD")?;
    Ok(Answer {
        status: response.status,
        body: response.body,
        connect_refused: false,
    })
}

/// `http://`: the request in absolute form (the case's own URL when it carries a user name).
fn absolute(proxy: SocketAddr, case: &Case, deadline: &Deadline) -> Result<Answer, RequestError> {
    let (mut request, authority) = case_request(case)?;
    request.target = match (case.split_url().username(), case.url.as_deref()) {
        (Some(_), Some(url)) => url.split('#').next().unwrap_or_default().to_owned(),
        _ => format!("http://{authority}{}", request.target),
    };
    let mut stream = connect(proxy, deadline)?;
    exchange(&mut stream, &request, deadline)
}

/// `https://`: `CONNECT host:port`, then TLS verified against the bottle CA, then the request
/// in origin form. A refused `CONNECT` is the answer.
fn via_connect(
    endpoint: &Endpoint,
    case: &Case,
    deadline: &Deadline,
) -> Result<Answer, RequestError> {
    let (request, _) = case_request(case)?;
    let split = case.split_url();
    let port = split
        .port()
        .map_err(|why| RequestError::other("ValueError", why))?
        .filter(|p| *p != 0)
        .unwrap_or(443);
    let host = split.hostname().unwrap_or_default();
    let wire = wire_host(&host).map_err(|why| RequestError::other("UnicodeError", why))?;
    let target = format!("{wire}:{port}");
    let mut tcp = connect(endpoint.proxy, deadline)?;
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    Within {
        stream: &mut tcp,
        deadline,
    }
    .write_all(head.as_bytes())?;
    let (status, headers) = read_connect_head(&mut Within {
        stream: &mut tcp,
        deadline,
    })?;
    if status != 200 {
        let body = read_refusal_body(
            &mut Within {
                stream: &mut tcp,
                deadline,
            },
            &headers,
        );
        return Ok(Answer {
            status,
            body,
            connect_refused: true,
        });
    }
    note(format!("CONNECT {target}: 200"));
    let server_name = wire.trim_start_matches('[').trim_end_matches(']');
    let mut tls = handshake(tcp, server_name, &endpoint.bottle_ca, deadline)?;
    exchange(&mut tls, &request, deadline)
}

/// TLS inside the tunnel, the certificate verified against `ca` for `host`.
fn handshake(
    mut tcp: TcpStream,
    host: &str,
    ca: &Path,
    deadline: &Deadline,
) -> Result<StreamOwned<ClientConnection, TcpStream>, RequestError> {
    let tls_error =
        |err: &dyn std::fmt::Display| RequestError::Tls(format!("TLS handshake: {err}"));
    let config = client_config(ca)?;
    let name = ServerName::try_from(host.to_owned()).map_err(|err| tls_error(&err))?;
    let mut conn = ClientConnection::new(config, name).map_err(|err| tls_error(&err))?;
    while conn.is_handshaking() {
        tcp.set_timeouts(deadline.left()?)?;
        if let Err(err) = conn.complete_io(&mut tcp) {
            let tls = err
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>());
            return Err(match tls {
                Some(rustls::Error::InvalidCertificate(why)) => RequestError::Tls(format!(
                    "TLS: {why}: no bottle-CA certificate for {host} (the tunnel was not \
                     intercepted?)"
                )),
                Some(other) => tls_error(other),
                None if err.kind() == std::io::ErrorKind::UnexpectedEof => tls_error(&err),
                None => RequestError::from(err),
            });
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// A client trusting the certificates in `ca` only.
fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, RequestError> {
    let bad_ca = |err: &dyn std::fmt::Display| {
        RequestError::other("SSLError", format!("{}: {err}", ca.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|err| bad_ca(&err))? {
        roots
            .add(cert.map_err(|err| bad_ca(&err))?)
            .map_err(|err| bad_ca(&err))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| bad_ca(&err))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A plain request to the proxy itself (no case header); its answer.
fn plain(
    proxy: SocketAddr,
    target: &str,
    host: &str,
    limit: Duration,
) -> Result<Answer, RequestError> {
    let deadline = Deadline::after(limit);
    let request = Request {
        method: "GET".to_owned(),
        target: target.to_owned(),
        headers: vec![
            ("Host".to_owned(), host.as_bytes().to_vec()),
            ("Accept-Encoding".to_owned(), b"identity".to_vec()),
        ],
        body: None,
    };
    let mut stream = connect(proxy, &deadline)?;
    exchange(&mut stream, &request, &deadline)
}

/// The request after each case that the proxy refuses and logs (see `markers`); its answer
/// does not matter.
pub fn mark(proxy: SocketAddr, case_id: &str) {
    let _ = plain(proxy, &marker_url(case_id), MARKER_HOST, TIMEOUT);
}

/// The status of the proxy's `/healthz`, or why there is none (the message alone).
pub fn healthz(proxy: SocketAddr) -> Result<u16, String> {
    plain(
        proxy,
        "/healthz",
        &proxy.to_string(),
        Duration::from_secs(2),
    )
    .map(|answer| answer.status)
    .map_err(|err| err.message())
}
