//! `bb-sidecar health`: the container's health check (the image has no curl).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use http_body_util::Empty;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::normalize_host;

/// What the health check asks when run by hand (a bottle's compose file names the sidecar's
/// address: `BB_SIDECAR_HEALTH_URL`).
pub fn default_url() -> String {
    format!("http://{}/healthz", crate::proxy::DEFAULT_LISTEN)
}
/// How long the check waits for the answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Ok when `url` (plain `http://`) answers 200 within `timeout`.
pub async fn check(url: &str, timeout: Duration) -> Result<()> {
    tokio::time::timeout(timeout, get(url))
        .await
        .map_err(|_| anyhow!("no answer from {url} within {} s", timeout.as_secs_f32()))?
}

async fn get(url: &str) -> Result<()> {
    let uri: Uri = url
        .parse()
        .with_context(|| format!("`{url}` is not a URL"))?;
    if uri.scheme_str() != Some("http") {
        bail!("`{url}` is not an http:// URL");
    }
    let authority = uri
        .authority()
        .ok_or_else(|| anyhow!("`{url}` has no host"))?
        .clone();
    let host = normalize_host(authority.host());
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let request = Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .body(Empty::<bytes::Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        bail!("{url} answered {}", response.status());
    }
    Ok(())
}
