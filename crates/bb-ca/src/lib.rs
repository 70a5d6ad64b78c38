//! Stage 3: the bottle's certificate authority.
//!
//! An ECDSA P-256 CA valid for [`VALIDITY_DAYS`] days (a bottle is ephemeral; ten years would
//! be wrong), written to `state/<id>/egress/ca.pem` (0644) and `ca-key.pem` (0600, created
//! exclusively). The sidecar mints leaf certificates from it; the agent trusts it. Running the
//! stage again reuses a CA that is still valid for more than a day.

use std::path::Path;

use anyhow::{Context, Result};
use bb_contract::Plan;
use bb_contract::ca::{CA_CERT_FILE, CA_INFO_FILE, CA_KEY_FILE, CaInfo};
use bb_contract::plan::CaPlan;
use bb_core::fsx;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// How long a bottle's CA is valid.
pub const VALIDITY_DAYS: i64 = 30;

/// Mints the CA of `plan` (or reuses a valid one) and returns the plan's `ca` section.
pub fn ensure(plan: &Plan) -> Result<CaPlan> {
    let dir = plan.state_dir.join("egress");
    fsx::create_private_dir(&dir)?;
    let cert = dir.join(CA_CERT_FILE);
    let key = dir.join(CA_KEY_FILE);
    if let Some(info) = reusable(&dir, &cert, &key) {
        return Ok(CaPlan {
            cert,
            key,
            fingerprint_sha256: info.fingerprint_sha256,
            not_after: info.not_after,
        });
    }
    let info = mint(&plan.identity, &cert, &key)?;
    let json = serde_json::to_vec_pretty(&info)?;
    fsx::write_file(&dir.join(CA_INFO_FILE), &json, 0o644)?;
    Ok(CaPlan {
        cert,
        key,
        fingerprint_sha256: info.fingerprint_sha256,
        not_after: info.not_after,
    })
}

fn reusable(dir: &Path, cert: &Path, key: &Path) -> Option<CaInfo> {
    let info: CaInfo = serde_json::from_slice(&std::fs::read(dir.join(CA_INFO_FILE)).ok()?).ok()?;
    let not_after = OffsetDateTime::parse(&info.not_after, &Rfc3339).ok()?;
    let pem = std::fs::read_to_string(cert).ok()?;
    let still_valid = not_after - OffsetDateTime::now_utc() > Duration::days(1);
    let same_cert = fingerprint_of_pem(&pem).ok()? == info.fingerprint_sha256;
    (still_valid && same_cert && key.is_file()).then_some(info)
}

fn mint(identity: &str, cert_path: &Path, key_path: &Path) -> Result<CaInfo> {
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("generating the CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("bot-bottle {identity} CA"));
    params.distinguished_name.push(
        DnType::OrganizationName,
        "bot-bottle (per-bottle, ephemeral)",
    );
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(VALIDITY_DAYS);
    let cert = params
        .self_signed(&key)
        .context("signing the CA certificate")?;
    // The key is written first, exclusively and 0600; an old one is replaced by a new file.
    let _ = std::fs::remove_file(key_path);
    write_exclusive(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    fsx::write_file(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(CaInfo {
        fingerprint_sha256: fingerprint(cert.der()),
        not_after: params.not_after.format(&Rfc3339)?,
    })
}

fn write_exclusive(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// SHA-256 of DER bytes as colon-separated upper-case hex (the form `openssl x509 -fingerprint`
/// prints).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The fingerprint of the first certificate in a PEM file.
pub fn fingerprint_of_pem(pem: &str) -> Result<String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .context("the CA file holds no certificate")?;
    Ok(fingerprint(&der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn plan_in(dir: &Path) -> Plan {
        let mut plan: Plan = serde_json::from_value(bb_testkit::minimal_plan()).unwrap();
        plan.state_dir = dir.to_path_buf();
        plan
    }

    #[test]
    fn mints_with_modes_and_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = plan_in(tmp.path());
        let ca = ensure(&plan).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ca.key), 0o600);
        assert_eq!(mode(&ca.cert), 0o644);
        let pem = std::fs::read_to_string(&ca.cert).unwrap();
        assert_eq!(fingerprint_of_pem(&pem).unwrap(), ca.fingerprint_sha256);
        assert_eq!(ca.fingerprint_sha256.len(), 32 * 3 - 1);
        let not_after = OffsetDateTime::parse(&ca.not_after, &Rfc3339).unwrap();
        let days = (not_after - OffsetDateTime::now_utc()).whole_days();
        assert!(
            (VALIDITY_DAYS - 1..=VALIDITY_DAYS).contains(&days),
            "{days}"
        );
        let again = ensure(&plan).unwrap();
        assert_eq!(again, ca, "a valid CA is reused");
        std::fs::write(&ca.cert, "tampered").unwrap();
        let fresh = ensure(&plan).unwrap();
        assert_ne!(
            fresh.fingerprint_sha256, ca.fingerprint_sha256,
            "a broken CA is replaced"
        );
        assert_eq!(mode(&fresh.key), 0o600);
    }
}
