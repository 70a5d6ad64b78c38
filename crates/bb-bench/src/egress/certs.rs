//! The benchmark's certificates, all ECDSA P-256, all throwaway (they live in the temp dir).

use std::path::Path;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// The CA the upstream fixture's leaf chains to (the proxies verify upstreams against it).
pub const BENCH_CA: &str = "bench-ca.pem";
pub const LEAF: &str = "leaf.pem";
pub const LEAF_KEY: &str = "leaf-key.pem";
/// The bottle CA the sidecar mints its intercepting leaves from.
pub const BOTTLE_CA: &str = "bottle-ca.pem";
pub const BOTTLE_CA_KEY: &str = "bottle-ca-key.pem";

/// The second route of the sidecar (same fixture): DLP off, to separate scanning from the rest.
pub fn nodlp_host(host: &str) -> String {
    format!("nodlp.{host}")
}

fn ca_params(name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(2);
    Ok(params)
}

fn p256() -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).context("generating a key")
}

pub fn write_all(dir: &Path, host: &str) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: String| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        let mode = if name.ends_with("-key.pem") {
            0o600
        } else {
            0o644
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", path.display()))
    };

    let bench_key = p256()?;
    let bench_params = ca_params("bot-bottle bench upstream CA")?;
    let bench_ca = bench_params.self_signed(&bench_key)?;
    let issuer = Issuer::new(bench_params, bench_key);
    let leaf_key = p256()?;
    let mut leaf = CertificateParams::new(vec![host.to_owned(), nodlp_host(host)])?;
    leaf.distinguished_name.push(DnType::CommonName, host);
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    leaf.not_before = now - Duration::hours(1);
    leaf.not_after = now + Duration::days(1);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    write(BENCH_CA, bench_ca.pem())?;
    write(LEAF, leaf_cert.pem())?;
    write(LEAF_KEY, leaf_key.serialize_pem())?;

    let bottle_key = p256()?;
    let bottle = ca_params("bot-bottle bench-egress CA")?.self_signed(&bottle_key)?;
    write(BOTTLE_CA, bottle.pem())?;
    write(BOTTLE_CA_KEY, bottle_key.serialize_pem())?;
    Ok(())
}
