//! How the gate talks to an upstream: ssh with the repo's key and only the pinned host key.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bb_contract::repo::{is_ssh_host, parse_host_key};

use crate::config::{GateConfig, Paths};
use bb_contract::plan::RepoPlan;

/// The known_hosts line pinning `host_key` for `host:port`: `host key` for port 22,
/// `[host]:port key` otherwise (what ssh looks up). `host_key` is `TYPE BASE64 [comment]`; a
/// leading host pattern (a known_hosts line pasted whole) is dropped, the comment too.
pub fn known_hosts_line(host: &str, port: u16, host_key: &str) -> Result<String> {
    let key = parse_host_key(host_key)?;
    if !is_ssh_host(host) {
        bail!("host `{host}` is not a host name or address");
    }
    let host = host.to_ascii_lowercase();
    let pattern = if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    };
    Ok(format!("{pattern} {key}"))
}

/// Quotes a word for `sh` (GIT_SSH_COMMAND is run by the shell).
pub fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:@+,".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Where ssh finds a repo's key: a private key file, or the repo's own agent and the public
/// half that picks the key in it.
pub enum KeyAt<'a> {
    File(&'a Path),
    Agent { socket: &'a Path, public: &'a Path },
}

/// The `GIT_SSH_COMMAND` for a repo: its key only (no other agent), the pinned host key only,
/// no forwarding, no prompts, no user or system ssh config.
pub fn ssh_command(key: KeyAt<'_>, known_hosts: &Path) -> String {
    let quoted = |p: &Path| sh_quote(&p.to_string_lossy());
    let (key, agent) = match key {
        KeyAt::File(path) => (quoted(path), "none".to_owned()),
        KeyAt::Agent { socket, public } => (quoted(public), quoted(socket)),
    };
    let known = sh_quote(&format!(
        "UserKnownHostsFile={}",
        known_hosts.to_string_lossy()
    ));
    format!(
        "ssh -F /dev/null -i {key} -o IdentitiesOnly=yes -o IdentityAgent={agent} \
         -o StrictHostKeyChecking=yes -o {known} -o GlobalKnownHostsFile=/dev/null \
         -o UpdateHostKeys=no -o ConnectTimeout=10 -o BatchMode=yes -o ForwardAgent=no \
         -o ForwardX11=no -o ClearAllForwardings=yes -o PermitLocalCommand=no \
         -o ServerAliveInterval=15 -o ServerAliveCountMax=3"
    )
}

/// Writes the repo's known_hosts file (0644) under the gate's root.
pub fn write_known_hosts(paths: &Paths, repo: &RepoPlan) -> Result<PathBuf> {
    let line = known_hosts_line(&repo.host, repo.port, &repo.host_key)?;
    let path = paths.known_hosts(&repo.name);
    std::fs::create_dir_all(paths.ssh_dir())?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{line}\n"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The key file ssh should use. The mounted key is used in place unless ssh would refuse it
/// (owned by this user and readable by others, as a bind mount of a 0644 file can be); then a
/// private 0600 copy under the root is used.
pub fn usable_key(paths: &Paths, config: &GateConfig, repo: &RepoPlan) -> Result<PathBuf> {
    if crate::agent::uses_agent(config, repo) {
        let public = crate::agent::public_key(paths, &repo.name);
        if !crate::agent::socket(paths, &repo.name).exists() || !public.is_file() {
            bail!(
                "the key of repo `{}` is not loaded (see the gate's log for why)",
                repo.name
            );
        }
        return Ok(public);
    }
    let key = config.key_path(repo);
    let meta = std::fs::metadata(&key).with_context(|| {
        format!(
            "the SSH key of repo `{}` is missing at {} (mount it read-only there)",
            repo.name,
            key.display()
        )
    })?;
    let own = meta.uid() == rustix::process::geteuid().as_raw();
    if !own || meta.mode() & 0o077 == 0 {
        return Ok(key);
    }
    let copy = paths.key_copy(&repo.name);
    std::fs::create_dir_all(paths.ssh_dir())?;
    let data = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
    let tmp = copy.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, &copy)?;
    Ok(copy)
}

use std::os::unix::fs::OpenOptionsExt;

/// Environment for every git command that may contact the upstream of `repo`.
pub fn upstream_env(
    paths: &Paths,
    config: &GateConfig,
    repo: &RepoPlan,
) -> Result<Vec<(String, String)>> {
    let key = usable_key(paths, config, repo)?;
    let known = paths.known_hosts(&repo.name);
    if !known.is_file() {
        write_known_hosts(paths, repo)?;
    }
    let socket = crate::agent::socket(paths, &repo.name);
    let at = if crate::agent::uses_agent(config, repo) {
        KeyAt::Agent {
            socket: &socket,
            public: &key,
        }
    } else {
        KeyAt::File(&key)
    };
    Ok(vec![
        ("GIT_SSH_COMMAND".into(), ssh_command(at, &known)),
        ("GIT_SSH_VARIANT".into(), "ssh".into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_ASKPASS".into(), "/bin/false".into()),
        ("SSH_ASKPASS".into(), "/bin/false".into()),
    ])
}

/// Variables removed from every upstream git command.
pub const UPSTREAM_ENV_REMOVE: &[&str] = &["GIT_SSH", "SSH_AUTH_SOCK", "GIT_PROXY_COMMAND"];

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOa0zV2j0k6n8S2m0T1g0YH3y5Vf3p0l7e1N4cT0yZk0";

    #[test]
    fn known_hosts_line_formats() {
        assert_eq!(
            known_hosts_line("Git.Example.org", 22, &format!("ssh-ed25519 {KEY} me@host")).unwrap(),
            format!("git.example.org ssh-ed25519 {KEY}")
        );
        assert_eq!(
            known_hosts_line("upstream", 2222, &format!("ssh-ed25519 {KEY}")).unwrap(),
            format!("[upstream]:2222 ssh-ed25519 {KEY}")
        );
        // A whole known_hosts line pasted: the host pattern is dropped.
        assert_eq!(
            known_hosts_line("h", 22, &format!("other ssh-ed25519 {KEY}")).unwrap(),
            format!("h ssh-ed25519 {KEY}")
        );
        assert!(known_hosts_line("h", 22, "AAAA ssh-ed25519").is_err());
        assert!(known_hosts_line("h", 22, "ssh-ed25519").is_err());
        assert!(known_hosts_line("h", 22, &format!("ssh-ed25519 {KEY}\nx ssh-rsa {KEY}")).is_err());
        assert!(known_hosts_line("h h", 22, &format!("ssh-ed25519 {KEY}")).is_err());
        assert!(known_hosts_line("-oProxyCommand", 22, &format!("ssh-ed25519 {KEY}")).is_err());
        assert!(known_hosts_line("h", 22, "ssh-ed25519 AAAA$(reboot)AAAAAAAAAAA").is_err());
    }

    #[test]
    fn ssh_command_pins_everything() {
        let cmd = ssh_command(
            KeyAt::File(Path::new("/etc/k/shop")),
            Path::new("/var/x y/shop.known_hosts"),
        );
        let agent = ssh_command(
            KeyAt::Agent {
                socket: Path::new("/r/ssh/shop.agent"),
                public: Path::new("/r/ssh/shop.pub"),
            },
            Path::new("/k"),
        );
        assert!(
            agent.contains(
                "-i /r/ssh/shop.pub -o IdentitiesOnly=yes -o IdentityAgent=/r/ssh/shop.agent"
            ),
            "{agent}"
        );
        for want in [
            "-i /etc/k/shop",
            "-o IdentitiesOnly=yes",
            "-o StrictHostKeyChecking=yes",
            "-o 'UserKnownHostsFile=/var/x y/shop.known_hosts'",
            "-o ConnectTimeout=10",
            "-o BatchMode=yes",
            "-o ForwardAgent=no",
            "-o ClearAllForwardings=yes",
            "-F /dev/null",
        ] {
            assert!(cmd.contains(want), "{want} in {cmd}");
        }
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }
}
