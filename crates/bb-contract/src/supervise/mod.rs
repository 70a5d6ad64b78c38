//! Supervise: what crosses between a bottle's sidecar and the operator's host.
//!
//! The sidecar's MCP server turns an agent's `request-egress` into a [`Proposal`] file in its
//! supervise folder ([`crate::layout::sidecar::SUPERVISE_DIR`], a volume of the sidecar only);
//! the operator's `bot-bottle supervise` copies the proposals out (through the engine, or
//! `kubectl exec` on a cluster) into the bottle's `state/<identity>/supervise/`, imports them
//! into the host store and answers each with a [`Decision`] file, carried back into the sidecar
//! after the routes file with an approved route. Each file is written whole under a temporary
//! name, then renamed: a reader sees all of it or nothing.
//! A proposal's id is its file name, so a proposal read twice is the same proposal.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod hold;

pub use hold::Hold;

/// How long the sidecar holds a `request-egress` call for the operator's answer by default.
pub const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
/// The name the agents' CLIs know the supervise MCP server by.
pub const MCP_SERVER_NAME: &str = "bot-bottle-supervise";

/// Folder of the proposals, inside the supervise folder.
pub const PROPOSALS: &str = "proposals";
/// Folder of the decisions, inside the supervise folder.
pub const DECISIONS: &str = "decisions";
/// Folder of the sidecar's counts of the grants' uses, inside the supervise folder.
pub const USED: &str = "used";

/// What an agent asks for: a host, optionally only some path prefixes and methods, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    pub host: String,
    /// Path prefixes (`/v1/`); empty: every path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Methods (`GET`); empty: every method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    pub reason: String,
}

/// The most path prefixes, methods and reason characters a request may carry.
pub const MAX_PATHS: usize = 16;
pub const MAX_REASON: usize = 1000;
/// The methods a request may name.
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// `added_by` of the routes an approval adds.
pub const ADDED_BY: &str = "supervise";

impl EgressRequest {
    /// The request in its one accepted form (host in lower case without a final dot, methods
    /// in upper case), or why it cannot be asked: a host name (or `*.` and one) rather than an
    /// address, path prefixes that start with `/`, known methods, a reason.
    pub fn normalized(mut self) -> Result<EgressRequest, String> {
        self.host = requestable_host(&self.host).map_err(|why| {
            format!(
                "{why} (ask for a name such as `docs.rs` or `*.example.org`, not an address or URL)"
            )
        })?;
        if self.paths.len() > MAX_PATHS {
            return Err(format!("at most {MAX_PATHS} path prefixes"));
        }
        if let Some(bad) = self.paths.iter().find(|p| !is_path_prefix(p)) {
            return Err(format!(
                "path `{}` does not start with `/` or holds spaces",
                shown(bad)
            ));
        }
        for m in &mut self.methods {
            m.make_ascii_uppercase();
        }
        self.methods.sort();
        self.methods.dedup();
        if let Some(bad) = self.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(format!(
                "unknown method `{}` (one of {})",
                shown(bad),
                METHODS.join(", ")
            ));
        }
        self.reason = self.reason.trim().to_string();
        if self.reason.is_empty() {
            return Err("say why the access is needed (`reason`)".into());
        }
        if self.reason.chars().count() > MAX_REASON
            || self
                .reason
                .chars()
                .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_format_char(c))
        {
            return Err(format!(
                "the reason is over {MAX_REASON} characters or holds control characters"
            ));
        }
        Ok(self)
    }

    /// The route an approval adds: this host, limited to the paths and methods asked for, with
    /// the detectors every route gets by default and no credential.
    pub fn to_route(&self) -> crate::plan::Route {
        use crate::plan::{Dlp, OnMatch, PathMatch, PathMatchKind, Route, RouteMatch};
        let matches = if self.paths.is_empty() && self.methods.is_empty() {
            Vec::new()
        } else {
            vec![RouteMatch {
                paths: self
                    .paths
                    .iter()
                    .map(|p| PathMatch {
                        kind: PathMatchKind::Prefix,
                        value: p.clone(),
                    })
                    .collect(),
                methods: self.methods.clone(),
                headers: Vec::new(),
            }]
        };
        Route {
            host: self.host.clone(),
            auth: None,
            matches,
            dlp: Dlp::defaults(OnMatch::Block),
            tls_passthrough: false,
            private: false,
            added_by: Some(ADDED_BY.into()),
            provider_api: None,
            grant: None,
        }
    }
}

/// Whether a route the operator edited can be granted, in its accepted form (the host in lower
/// case without a final dot): a host name pattern, absolute path prefixes, known methods, no
/// credential (a token reaches the sidecar only at launch) and intercepted (a tunnel the proxy
/// does not read could hold no grant's limits).
pub fn check_route(mut route: crate::plan::Route) -> Result<crate::plan::Route, String> {
    if route.tls_passthrough {
        return Err("a granted route cannot be `tls_passthrough`".into());
    }
    route.host = requestable_host(&route.host)?;
    if route.auth.is_some() {
        return Err(
            "a granted route cannot carry `auth`: add credentials in the bottle file and relaunch"
                .into(),
        );
    }
    for m in &route.matches {
        if let Some(p) = m.paths.iter().find(|p| !is_path_prefix(&p.value)) {
            return Err(format!(
                "path `{}` does not start with `/`",
                shown(&p.value)
            ));
        }
        if let Some(bad) = m.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(format!("unknown method `{}`", shown(bad)));
        }
    }
    Ok(route)
}

/// Zero-width and bidirectional-override characters: text that displays otherwise than it
/// reads.
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

/// A route host as [`crate::route_host::normalise`] accepts it, with two labels or more: a
/// single-label name (`localhost`, a container's alias) is never something to ask for.
fn requestable_host(host: &str) -> Result<String, String> {
    let not_a_host = || format!("`{}` is not a host name", shown(host));
    let host = crate::route_host::normalise(host).map_err(|_| not_a_host())?;
    if !host.trim_start_matches("*.").contains('.') {
        return Err(not_a_host());
    }
    Ok(host)
}

fn is_path_prefix(path: &str) -> bool {
    path.starts_with('/') && path.len() <= 512 && path.bytes().all(|b| b.is_ascii_graphic())
}

/// Agent-chosen text fit for one line of an error: printable ASCII, cut at 80 characters.
fn shown(text: &str) -> String {
    text.chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// One pending question to the operator, as the sidecar files it: an agent's
/// `request-egress`, or a request the proxy holds ([`Hold`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// 32 lowercase hex digits (random); the file's name.
    pub id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When the agent stops waiting (RFC 3339, UTC): an answer after it is refused.
    pub expires_at: String,
    /// What is asked. For a hold: the held request's host, and the proxy's account as reason.
    pub request: EgressRequest,
    /// Set when the proxy holds a request its content checks flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

impl Proposal {
    /// Whether the proposal is in its one accepted form: a request as
    /// [`EgressRequest::normalized`] leaves it, or a hold of plain text whose reason is its
    /// own account. The host checks again what the sidecar checked before showing it.
    pub fn is_well_formed(&self) -> bool {
        if !is_id(&self.id) {
            return false;
        }
        match &self.hold {
            None => self.request.clone().normalized().as_ref() == Ok(&self.request),
            Some(hold) => {
                hold.is_plain()
                    && crate::route_host::normalise(&self.request.host).as_deref()
                        == Ok(self.request.host.as_str())
                    && crate::route_host::normalise(&hold.route).as_deref()
                        == Ok(hold.route.as_str())
                    && crate::route_host::covers(&hold.route, &self.request.host)
                    && self.request.paths.is_empty()
                    && self.request.methods.is_empty()
                    && self.request.reason == hold.reason()
            }
        }
    }
}

/// The operator's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
}

/// The answer to one proposal, as the host files it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub verdict: Verdict,
    /// The operator's reason (a rejection always has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The route now in the bottle's routes file (an approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::plan::Route>,
    /// RFC 3339, UTC.
    pub decided_at: String,
}

/// A time of these files and of a grant: RFC 3339 in UTC with whole seconds, so that the text
/// orders as the time does and a sidecar and a host compare them as strings.
pub fn timestamp(t: time::OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0)
        .unwrap_or(utc)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Now, as [`timestamp`].
pub fn now() -> String {
    timestamp(time::OffsetDateTime::now_utc())
}

/// Whether `id` is a proposal id (and so a safe file name).
pub fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `<dir>/proposals/<id>.json`.
pub fn proposal_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(PROPOSALS).join(format!("{id}.json"))
}

/// `<dir>/decisions/<id>.json`.
pub fn decision_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(DECISIONS).join(format!("{id}.json"))
}

/// Writes `value` as JSON to `path` whole: a temporary file in the same folder, synced, then
/// renamed over `path` (the folder is created when missing). Mode 0644: the sidecar and the
/// operator may run as different users; the bottle's state folder (0700) keeps others out.
pub fn write_whole<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)?;
    file.write_all(&text)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Reads a file [`write_whole`] wrote; `None` when it is not there (yet).
pub fn read_whole<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_file_names() {
        assert!(is_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_id("0123456789abcdef0123456789abcde"));
        assert!(!is_id("../456789abcdef0123456789abcdef01"));
        assert!(!is_id("0123456789ABCDEF0123456789abcdef"));
    }

    fn request(host: &str) -> EgressRequest {
        EgressRequest {
            host: host.into(),
            paths: vec![],
            methods: vec![],
            reason: "read the docs".into(),
        }
    }

    #[test]
    fn requests_name_hosts_paths_methods_and_a_reason() {
        let ok = EgressRequest {
            methods: vec!["get".into()],
            paths: vec!["/crate/".into()],
            ..request("Docs.RS.")
        }
        .normalized()
        .unwrap();
        assert_eq!(ok.host, "docs.rs");
        assert_eq!(ok.methods, ["GET"]);
        assert!(request("*.example.org").normalized().is_ok());
        for bad in [
            "10.0.0.1",
            "localhost",
            "https://docs.rs/",
            "a..b",
            "-a.b",
            "*.*.b.c",
            "",
            "[::1]",
        ] {
            let err = request(bad).normalized().unwrap_err();
            assert!(err.contains("is not a host name"), "{bad}: {err}");
        }
        let no_reason = EgressRequest {
            reason: "  ".into(),
            ..request("docs.rs")
        };
        assert!(no_reason.normalized().unwrap_err().contains("reason"));
        let bad_method = EgressRequest {
            methods: vec!["CONNECT".into()],
            ..request("docs.rs")
        };
        assert!(
            bad_method
                .normalized()
                .unwrap_err()
                .contains("unknown method")
        );
        let bad_path = EgressRequest {
            paths: vec!["crate".into()],
            ..request("docs.rs")
        };
        assert!(bad_path.normalized().is_err());
        let escape = EgressRequest {
            reason: "ok\u{1b}[2J".into(),
            ..request("docs.rs")
        };
        assert!(
            escape.normalized().is_err(),
            "terminal escapes never reach the operator"
        );
        let bidi = EgressRequest {
            reason: "ok \u{202E}gnp.exe".into(),
            ..request("docs.rs")
        };
        assert!(
            bidi.normalized().is_err(),
            "nor text that displays otherwise than it reads"
        );
        let twice = EgressRequest {
            methods: vec!["get".into(), "GET".into()],
            ..request("docs.rs")
        };
        assert_eq!(twice.normalized().unwrap().methods, ["GET"]);
        let mut passthrough = request("Docs.RS.").to_route();
        assert_eq!(check_route(passthrough.clone()).unwrap().host, "docs.rs");
        passthrough.tls_passthrough = true;
        assert!(check_route(passthrough).is_err());
    }

    #[test]
    fn an_approval_adds_a_route_limited_to_what_was_asked() {
        let whole = request("docs.rs").to_route();
        assert!(whole.matches.is_empty());
        assert_eq!(whole.added_by.as_deref(), Some(ADDED_BY));
        assert!(whole.auth.is_none() && !whole.private && !whole.tls_passthrough);
        let narrow = EgressRequest {
            paths: vec!["/crate/".into()],
            methods: vec!["GET".into()],
            ..request("docs.rs")
        }
        .to_route();
        assert_eq!(narrow.matches.len(), 1);
        assert_eq!(narrow.matches[0].methods, ["GET"]);
        assert_eq!(narrow.matches[0].paths[0].value, "/crate/");
    }

    #[test]
    fn files_are_written_whole_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        let path = proposal_path(tmp.path(), id);
        assert!(read_whole::<Proposal>(&path).unwrap().is_none());
        let proposal = Proposal {
            id: id.into(),
            created_at: "2026-12-07T00:00:00Z".into(),
            expires_at: "2026-12-07T00:02:00Z".into(),
            request: EgressRequest {
                host: "docs.rs".into(),
                paths: vec!["/crate/".into()],
                methods: vec![],
                reason: "read the docs".into(),
            },
            hold: None,
        };
        write_whole(&path, &proposal).unwrap();
        assert_eq!(read_whole::<Proposal>(&path).unwrap(), Some(proposal));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    }
}
