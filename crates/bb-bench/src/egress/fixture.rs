//! The upstream fixture: HTTPS with rustls, HTTP/1.1 keep-alive. `GET` (any path) answers
//! [`SMALL_BODY`]; `POST`/`PUT` read the body as it streams in (never buffered) and answer the
//! byte count. Several threads accept on one socket, each with a current-thread runtime.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::certs;

/// What a `GET` answers.
pub const SMALL_BODY: &[u8] = b"hello from the bench upstream\n";

pub fn serve(listen: SocketAddr, dir: &Path, threads: usize) -> Result<()> {
    let chain = CertificateDer::pem_file_iter(dir.join(certs::LEAF))
        .context("reading the leaf")?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join(certs::LEAF_KEY)).context("the leaf key")?;
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(cfg));
    let listener =
        std::net::TcpListener::bind(listen).with_context(|| format!("listening on {listen}"))?;
    listener.set_nonblocking(true)?;
    eprintln!("bb-bench-egress upstream: listening on {listen} with {threads} threads");
    let workers = (0..threads.max(1))
        .map(|_| {
            let listener = listener.try_clone()?;
            let acceptor = acceptor.clone();
            Ok(std::thread::spawn(move || worker(listener, acceptor)))
        })
        .collect::<Result<Vec<_>>>()?;
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a fixture thread panicked"))??;
    }
    Ok(())
}

fn worker(listener: std::net::TcpListener, acceptor: TlsAcceptor) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(answer))
                    .await;
            });
        }
    })
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        r
    };
    if matches!(*req.method(), Method::POST | Method::PUT) {
        let mut body = req.into_body();
        let mut n: u64 = 0;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => n += frame.data_ref().map_or(0, |d| d.len() as u64),
                Err(err) => {
                    let why = format!("reading the body: {err}\n");
                    return Ok(text(StatusCode::BAD_REQUEST, why.into()));
                }
            }
        }
        return Ok(text(StatusCode::OK, format!("{n}\n").into()));
    }
    Ok(text(StatusCode::OK, Bytes::from_static(SMALL_BODY)))
}
