//! TLS for the intercepting proxy, with the `ring` provider given explicitly everywhere.
//!
//! - [`Authority`]: the bottle CA (ECDSA P-256, made by `bb-ca`), loaded from PEM; it mints a
//!   leaf certificate per host on demand (fresh P-256 key, valid [`LEAF_VALIDITY`] and never
//!   past the CA, SAN = the host) and caches the resulting server configuration (at most
//!   [`CACHE_CAPACITY`] hosts, re-minted after [`LEAF_REFRESH`]). ALPN: `h2`, `http/1.1`.
//! - [`upstream_config`]: the client configuration for upstream connections, verifying
//!   against the Mozilla roots compiled in (`webpki-roots`: nothing to read at run time, so the
//!   image needs no CA bundle) plus optional extra roots from a PEM file (tests).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

/// Where the compose file mounts the bottle CA.
pub const DEFAULT_CA_CERT: &str = bb_contract::layout::sidecar::CA_CERT;
pub const DEFAULT_CA_KEY: &str = bb_contract::layout::sidecar::CA_KEY;

/// How long a minted leaf is valid (it is never valid past the CA either).
pub const LEAF_VALIDITY: time::Duration = time::Duration::hours(24);
/// A cached leaf older than this is minted again.
pub const LEAF_REFRESH: std::time::Duration = std::time::Duration::from_secs(12 * 3600);
/// How many hosts' leaves are kept.
pub const CACHE_CAPACITY: usize = 512;

/// ALPN protocols, offered to the agent and to upstreams.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider of every TLS configuration here.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bottle CA and its cache of leaf configurations.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
    provider: Arc<CryptoProvider>,
    cache: Mutex<HashMap<String, (Instant, Arc<ServerConfig>)>>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Reads the CA certificate and key (PEM files).
    pub fn load(cert: &Path, key: &Path) -> Result<Authority> {
        let cert_pem = std::fs::read_to_string(cert)
            .with_context(|| format!("cannot read the CA certificate {}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key)
            .with_context(|| format!("cannot read the CA key {}", key.display()))?;
        Authority::from_pem(&cert_pem, &key_pem)
            .with_context(|| format!("CA {} / {}", cert.display(), key.display()))
    }

    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Authority> {
        let key = KeyPair::from_pem(key_pem).context("the CA key is not a PEM private key")?;
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .context("the CA file holds no certificate")?;
        let (_, x509) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| anyhow!("the CA certificate does not parse: {e}"))?;
        if x509.public_key().raw != key.subject_public_key_info().as_slice() {
            bail!("the CA key does not belong to the CA certificate");
        }
        let not_after = x509.validity().not_after.to_datetime();
        if not_after <= OffsetDateTime::now_utc() {
            bail!("the CA certificate has expired");
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| anyhow!("the CA certificate cannot issue: {e}"))?;
        Ok(Authority {
            issuer,
            not_after,
            provider: provider(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The server configuration presenting a leaf for `host` (minted or from the cache).
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>> {
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((made, cfg)) = cache.get(host)
                && made.elapsed() < LEAF_REFRESH
            {
                return Ok(cfg.clone());
            }
        }
        let cfg = Arc::new(self.mint(host)?);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(host) {
            // Drop the oldest entry.
            if let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (made, _))| *made)
                .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(host.to_owned(), (Instant::now(), cfg.clone()));
        Ok(cfg)
    }

    /// How many leaves are cached.
    pub fn cached(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn mint(&self, host: &str) -> Result<ServerConfig> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("generating a leaf key")?;
        let mut params = CertificateParams::new(vec![host.to_owned()])
            .with_context(|| format!("`{host}` cannot be a certificate name"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = (now + LEAF_VALIDITY).min(self.not_after);
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("signing a leaf for {host}"))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut cfg = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)?;
        cfg.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(cfg)
    }
}

/// The client configuration for upstreams: Mozilla's roots plus the certificates in
/// `extra_roots` (a PEM bundle), ALPN `h2` and `http/1.1`.
pub fn upstream_config(extra_roots: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = extra_roots {
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the extra roots {}", path.display()))?;
        let certs =
            extra_root_certs(&pem).with_context(|| format!("extra roots {}", path.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("extra roots {}", path.display()))?;
        }
    }
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(cfg)
}

fn extra_root_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .context("not a PEM certificate bundle")?;
    if certs.is_empty() {
        bail!("no certificate in the file");
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_ca() -> (String, String) {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params
            .distinguished_name
            .push(DnType::CommonName, "test bottle CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn leaves_are_minted_cached_and_bounded() {
        let (cert, key) = test_ca();
        let ca = Authority::from_pem(&cert, &key).unwrap();
        let a = ca.server_config("a.test").unwrap();
        let again = ca.server_config("a.test").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(ca.cached(), 1);
        for i in 0..CACHE_CAPACITY + 3 {
            ca.server_config(&format!("h{i}.test")).unwrap();
        }
        assert_eq!(ca.cached(), CACHE_CAPACITY);
    }

    #[test]
    fn a_key_of_another_ca_is_refused() {
        let (cert, _) = test_ca();
        let (_, other_key) = test_ca();
        let err = Authority::from_pem(&cert, &other_key).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        assert!(Authority::from_pem("junk", "junk").is_err());
    }

    #[test]
    fn extra_roots_need_a_certificate() {
        let (cert, _) = test_ca();
        assert_eq!(extra_root_certs(cert.as_bytes()).unwrap().len(), 1);
        assert!(extra_root_certs(b"nothing here").is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roots.pem");
        std::fs::write(&file, &cert).unwrap();
        upstream_config(Some(&file)).unwrap();
        assert!(upstream_config(Some(&dir.path().join("missing.pem"))).is_err());
    }
}
