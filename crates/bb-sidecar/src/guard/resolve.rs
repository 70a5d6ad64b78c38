//! The resolver: a name turns into addresses once, and IP forms never reach it.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use super::{HostKind, classify_host};

/// What a [`Resolver`] returns.
pub type ResolveFuture = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name and port into addresses. Production uses the system resolver; tests map
/// names such as `allowed.test` to loopback, and `--resolve-override` maps every name to one
/// address.
#[derive(Clone)]
pub struct Resolver(Arc<dyn Fn(String, u16) -> ResolveFuture + Send + Sync>);

impl Resolver {
    /// `tokio::net::lookup_host`.
    pub fn system() -> Resolver {
        Resolver::from_fn(|host, port| {
            Box::pin(async move {
                Ok(tokio::net::lookup_host((host.as_str(), port))
                    .await?
                    .collect())
            })
        })
    }

    pub fn from_fn(f: impl Fn(String, u16) -> ResolveFuture + Send + Sync + 'static) -> Resolver {
        Resolver(Arc::new(f))
    }

    /// A fixed table of names (lower case); every other name fails to resolve.
    pub fn fixed(entries: impl IntoIterator<Item = (String, IpAddr)>) -> Resolver {
        let table: Arc<std::collections::HashMap<String, IpAddr>> =
            Arc::new(entries.into_iter().collect());
        Resolver::from_fn(move |host, port| {
            let found = table.get(&host).map(|ip| vec![SocketAddr::new(*ip, port)]);
            Box::pin(async move {
                found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown host"))
            })
        })
    }

    /// Every name resolves to `ip` (`--resolve-override`, for tests and the conformance
    /// harness: no request heads for a real host).
    pub fn override_all(ip: IpAddr) -> Resolver {
        Resolver::from_fn(move |_, port| {
            Box::pin(async move { Ok(vec![SocketAddr::new(ip, port)]) })
        })
    }

    /// IP forms are returned as they are (never resolved); invalid hosts fail; names go to
    /// the resolver function.
    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        match classify_host(host) {
            HostKind::Ip(ip) => Ok(vec![SocketAddr::new(ip, port)]),
            HostKind::Invalid(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
            HostKind::Name => (self.0)(host.to_owned(), port).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn resolver_never_sees_ip_forms() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = calls.clone();
        let r = Resolver::from_fn(move |_, _| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(vec![]) })
        });
        assert_eq!(
            r.resolve("0x7f000001", 80).await.unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            r.resolve("::1", 81).await.unwrap(),
            vec!["[::1]:81".parse().unwrap()]
        );
        assert!(r.resolve("1.2.3.999", 80).await.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        r.resolve("name.test", 80).await.unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let o = Resolver::override_all(ip("10.0.0.7"));
        assert_eq!(
            o.resolve("anything.example", 443).await.unwrap(),
            vec!["10.0.0.7:443".parse().unwrap()]
        );
    }
}
