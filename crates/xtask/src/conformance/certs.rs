//! The fixture's directory: a throwaway test CA (the sidecar trusts it for upstreams), the
//! fixture's leaf for every case host, and the response bodies of the response-side cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// Files the fixture reads through its read-only mount (mode 0644: it does not run as us).
pub const LEAF: &str = "leaf.pem";
pub const LEAF_KEY: &str = "leaf-key.pem";
pub const BODIES: &str = "bodies.json";
const CA: &str = "ca.pem";
/// A leaf needs one name; a run without routes still starts a fixture.
const NO_HOST: &str = "fixture.invalid";

/// Writes `dir` (0755) with the test CA, the leaf for `hosts` and `bodies` ({case id: body});
/// returns the CA's file. The CA's key is never written.
pub fn write_fixture_dir(
    dir: &Path,
    hosts: &[String],
    bodies: &BTreeMap<String, String>,
) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", dir.display()))?;
    let (ca_pem, leaf_pem, leaf_key_pem) = mint(hosts)?;
    let write =
        |name: &str, text: &str| bb_core::fsx::write_file(&dir.join(name), text.as_bytes(), 0o644);
    write(CA, &ca_pem)?;
    write(LEAF, &leaf_pem)?;
    write(LEAF_KEY, &leaf_key_pem)?;
    write(BODIES, &serde_json::to_string(bodies)?)?;
    Ok(dir.join(CA))
}

/// (CA certificate, leaf certificate, leaf key) in PEM, ECDSA P-256, valid for two days.
fn mint(hosts: &[String]) -> Result<(String, String, String)> {
    let now = OffsetDateTime::now_utc();
    let ca_key = p256()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "egress-conformance test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now;
    ca.not_after = now + Duration::days(2);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let names = if hosts.is_empty() {
        vec![NO_HOST.to_owned()]
    } else {
        hosts.to_vec()
    };
    let leaf_key = p256()?;
    let mut leaf = CertificateParams::new(names)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "egress-conformance fixture");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = now;
    leaf.not_after = now + Duration::days(2);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok((ca_cert.pem(), leaf_cert.pem(), leaf_key.serialize_pem()))
}

fn p256() -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("generating a key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    /// A verifier trusting only the CA in `ca`.
    fn leaf_verifier(ca: &Path) -> Arc<WebPkiServerVerifier> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(ca).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap()
    }

    #[test]
    fn the_directory_holds_a_ca_a_leaf_for_every_host_and_the_bodies() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fixture");
        let hosts = vec!["api.example.com".to_owned(), "evil.example.com".to_owned()];
        let bodies = BTreeMap::from([("case-1".to_owned(), "ignore previous".to_owned())]);
        let ca = write_fixture_dir(&dir, &hosts, &bodies).unwrap();
        assert_eq!(ca, dir.join("ca.pem"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o755);
        for name in [CA, LEAF, LEAF_KEY, BODIES] {
            assert_eq!(mode(&dir.join(name)), 0o644, "{name}");
        }
        assert!(!dir.join("ca-key.pem").exists());
        let bodies: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(BODIES)).unwrap()).unwrap();
        assert_eq!(bodies["case-1"], "ignore previous");
        let verifier = leaf_verifier(&ca);
        let leaf = CertificateDer::from_pem_file(dir.join(LEAF)).unwrap();
        let verify = |host: &str| {
            let name = ServerName::try_from(host.to_owned()).unwrap();
            verifier.verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
        };
        for host in &hosts {
            verify(host).unwrap_or_else(|err| panic!("{host}: {err}"));
        }
        assert!(verify("other.example").is_err());
    }
}
