//! `state/<identity>/egress/ca.json`: what `bb-ca` records about the CA it minted, so a resumed
//! bottle reuses a CA that is still valid.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The file's name inside the bottle's `egress` folder, beside [`CA_CERT_FILE`] and
/// [`CA_KEY_FILE`].
pub const CA_INFO_FILE: &str = "ca.json";
/// The CA certificate (PEM), mode 0644.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA's private key (PEM), mode 0600: the only secret bot-bottle writes to a file.
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// The content of `ca.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "bot-bottle CA info")]
pub struct CaInfo {
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub fingerprint_sha256: String,
    /// The end of the certificate's validity (RFC 3339).
    pub not_after: String,
}
