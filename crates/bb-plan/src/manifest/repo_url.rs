//! Upstream repository URLs: `ssh://user@host[:port]/path` or scp-like `user@host:path`.

/// An upstream SSH URL split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoUrl {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// Starts with `/` for `ssh://` URLs; scp-like paths are relative to the login's home.
    pub path: String,
}

impl RepoUrl {
    /// The normalised `ssh://` form.
    pub fn normalised(&self) -> String {
        let port = if self.port == 22 {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        let path = if self.path.starts_with('/') {
            self.path.clone()
        } else {
            format!("/~/{}", self.path)
        };
        format!("ssh://{}@{}{}{}", self.user, self.host, port, path)
    }
}

type Problem = (String, String);

fn problem(message: impl Into<String>) -> Problem {
    (
        message.into(),
        "write `ssh://user@host[:port]/path.git` or `user@host:path.git`".into(),
    )
}

/// Parses either accepted form.
pub fn parse(url: &str) -> Result<RepoUrl, Problem> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(problem("the URL contains whitespace"));
    }
    if let Some(rest) = url.strip_prefix("ssh://") {
        return parse_ssh(rest);
    }
    if url.contains("://") {
        return Err(problem(format!(
            "`{url}` is not an SSH URL; the git gate forwards pushes over SSH only"
        )));
    }
    parse_scp(url)
}

fn parse_ssh(rest: &str) -> Result<RepoUrl, Problem> {
    let (authority, path) = rest
        .find('/')
        .map(|i| (&rest[..i], &rest[i..]))
        .ok_or_else(|| problem("the URL has no path"))?;
    let (user, hostport) = split_user(authority)?;
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| problem(format!("`{port}` is not a port")))?,
        ),
        None => (hostport, 22),
    };
    finish(user, host, port, path)
}

fn parse_scp(url: &str) -> Result<RepoUrl, Problem> {
    let (authority, path) = url
        .split_once(':')
        .ok_or_else(|| problem(format!("`{url}` is not an SSH URL")))?;
    let (user, host) = split_user(authority)?;
    finish(user, host, 22, path)
}

fn split_user(authority: &str) -> Result<(&str, &str), Problem> {
    authority
        .split_once('@')
        .filter(|(user, _)| !user.is_empty())
        .ok_or_else(|| problem("the URL names no SSH user (such as `git@`)"))
}

fn finish(user: &str, host: &str, port: u16, path: &str) -> Result<RepoUrl, Problem> {
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if !host_ok {
        return Err(problem(format!("`{host}` is not a host name")));
    }
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() || path.split('/').any(|part| part == "..") {
        return Err(problem(format!("`{path}` is not a repository path")));
    }
    if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(problem(format!("`{user}` is not an SSH user name")));
    }
    Ok(RepoUrl {
        user: user.to_string(),
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_form_with_port() {
        let url = parse("ssh://git@git.example.org:2222/team/shop.git").unwrap();
        assert_eq!(
            url,
            RepoUrl {
                user: "git".into(),
                host: "git.example.org".into(),
                port: 2222,
                path: "/team/shop.git".into()
            }
        );
        assert_eq!(
            url.normalised(),
            "ssh://git@git.example.org:2222/team/shop.git"
        );
    }

    #[test]
    fn scp_form_is_normalised() {
        let url = parse("git@github.com:team/shop.git").unwrap();
        assert_eq!(url.port, 22);
        assert_eq!(url.path, "team/shop.git");
        assert_eq!(url.normalised(), "ssh://git@github.com/~/team/shop.git");
    }

    #[test]
    fn rejects_what_the_gate_cannot_forward() {
        for bad in [
            "https://github.com/team/shop.git",
            "ssh://github.com/team/shop.git",
            "github.com:team/shop.git",
            "ssh://git@host:99999/x.git",
            "ssh://git@host",
            "git@host:",
            "ssh://git@ho st/x",
            "ssh://git@host/../etc",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
