//! The rules a repo behind the git gate follows, checked by the planner (so bad input fails at
//! planning, exit 2) and by the gate (which must not trust the file it is given) alike.

use std::fmt;

/// The public key types OpenSSH accepts in `known_hosts` (no `ssh-dss`: OpenSSH refuses it).
pub const HOST_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The longest repo name: it becomes a file name and part of a URL.
pub const MAX_REPO_NAME_LEN: usize = 100;

/// A git object id: 40 (SHA-1) or 64 (SHA-256) hex digits.
pub fn is_oid(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A repo name usable as `<name>.git` under the gate's mirrors and in a `git://` URL: starts
/// with a letter or digit, then letters, digits, `.`, `_`, `-`; no `..`; no `.git` suffix.
pub fn is_repo_name(name: &str) -> bool {
    name.len() <= MAX_REPO_NAME_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.ends_with(".git")
        && !name.contains("..")
}

/// What [`is_repo_name`] asks for, as a fix for an error message.
pub const REPO_NAME_RULE: &str = "use letters, digits, `.`, `_` and `-` (starting with a letter or digit), without a `.git` suffix";

/// A host an upstream may name: a host name or an address, never an option (`-oProxyCommand`).
pub fn is_ssh_host(host: &str) -> bool {
    !host.is_empty()
        && !host.starts_with('-')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// A pinned SSH host key: its type and its base64 blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey<'a> {
    pub kind: &'a str,
    pub blob: &'a str,
}

/// Why a pinned host key line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeyError {
    #[error("the pinned host key must be one line")]
    MultiLine,
    #[error("the pinned host key `{0}` does not start with a key type OpenSSH accepts")]
    UnknownType(String),
    #[error("the pinned host key has no base64 key after `{0}`")]
    NoKey(String),
}

impl HostKeyError {
    /// How to fix it, for the planner's one-line error.
    pub fn fix(&self) -> String {
        format!(
            "paste the server's key as `ssh-ed25519 AAAA…` (ssh-keyscan HOST prints it); key types: {}",
            HOST_KEY_TYPES.join(", ")
        )
    }
}

/// Parses `TYPE BASE64 [comment]`; a leading host pattern (a `known_hosts` line pasted whole)
/// is skipped.
pub fn parse_host_key(line: &str) -> Result<HostKey<'_>, HostKeyError> {
    if line.contains(['\n', '\r']) {
        return Err(HostKeyError::MultiLine);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words
        .iter()
        .take(2)
        .position(|w| HOST_KEY_TYPES.contains(w))
        .ok_or_else(|| HostKeyError::UnknownType(words.first().copied().unwrap_or("").into()))?;
    let (kind, blob) = (words[at], words.get(at + 1).copied().unwrap_or_default());
    let base64 = blob.len() >= 16
        && blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if !base64 {
        return Err(HostKeyError::NoKey(kind.into()));
    }
    Ok(HostKey { kind, blob })
}

impl fmt::Display for HostKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn repo_names() {
        for good in ["shop", "my-repo", "a.b_c", "9lives"] {
            assert!(is_repo_name(good), "{good}");
        }
        let long = "a".repeat(MAX_REPO_NAME_LEN + 1);
        for bad in [
            "",
            ".hidden",
            "-x",
            "shop.git",
            "a..b",
            "a/b",
            "a b",
            long.as_str(),
        ] {
            assert!(!is_repo_name(bad), "{bad}");
        }
    }

    #[test]
    fn host_keys_of_every_openssh_type_parse_and_others_do_not() {
        for kind in HOST_KEY_TYPES {
            let line = format!("{kind} {KEY} me@host");
            let key = parse_host_key(&line).unwrap();
            assert_eq!((key.kind, key.blob), (*kind, KEY));
        }
        let line = format!("github.com ssh-ed25519 {KEY}");
        let pasted = parse_host_key(&line).unwrap();
        assert_eq!(pasted.to_string(), format!("ssh-ed25519 {KEY}"));
        assert_eq!(
            parse_host_key(&format!("ssh-dss {KEY}")),
            Err(HostKeyError::UnknownType("ssh-dss".into()))
        );
        assert_eq!(
            parse_host_key("ssh-ed25519 AAAA$(reboot)AAAAAAAAAAA"),
            Err(HostKeyError::NoKey("ssh-ed25519".into()))
        );
        assert_eq!(
            parse_host_key(&format!("ssh-ed25519 {KEY}\nx")),
            Err(HostKeyError::MultiLine)
        );
    }
}
