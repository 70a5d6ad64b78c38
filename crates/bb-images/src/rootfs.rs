//! The debootstrap rootfs: a private directory that is unmounted and removed when its guard is
//! dropped (also on an error or a caught signal), and the cleaning before `docker import`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A rootfs directory, unmounted and removed on drop.
pub struct Rootfs {
    path: PathBuf,
}

impl Rootfs {
    /// A new empty directory (mode 0755) in `parent`; not /tmp by default, which may be mounted
    /// nodev/noexec and break debootstrap.
    pub fn create(parent: &Path) -> Result<Rootfs> {
        let path = tempfile::Builder::new()
            .prefix("bot-bottle-rootfs.")
            .tempdir_in(parent)
            .with_context(|| format!("creating a rootfs directory in {}", parent.display()))?
            .keep();
        let rootfs = Rootfs { path };
        std::fs::set_permissions(&rootfs.path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", rootfs.path.display()))?;
        Ok(rootfs)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        umount_under(&self.path);
        // Never delete through a mount that is still there (a bind-mounted /dev is the host's).
        if mounts_under(&self.path).is_empty() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            crate::log(format_args!(
                "base: {} still has mounts; not removed",
                self.path.display()
            ));
        }
    }
}

/// The mount points at or under `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let table = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut found = mount_points(&table, &dir);
    found.sort_by(|a, b| {
        b.as_os_str()
            .as_encoded_bytes()
            .cmp(a.as_os_str().as_encoded_bytes())
    });
    found
}

/// The mount points of a `/proc/mounts` table at or under `dir`.
fn mount_points(table: &str, dir: &Path) -> Vec<PathBuf> {
    table
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(|field| PathBuf::from(unescape(field)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// `/proc/mounts` writes blanks, tabs, newlines and backslashes as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Unmounts whatever is still mounted under `dir` (a failed debootstrap can leave proc, sys or
/// a bind-mounted /dev behind), deepest first.
pub fn umount_under(dir: &Path) {
    for mount in mounts_under(dir) {
        let _ = duct::cmd!("umount", "-l", &mount)
            .stdin_null()
            .stdout_null()
            .stderr_null()
            .unchecked()
            .run();
    }
}

/// Strips what must not be shared by every container (ssh host keys, the host's resolver and
/// name) and what only takes space (apt lists and caches, logs, device nodes Docker provides).
pub fn clean(r: &Path) -> Result<()> {
    let all = |_: &str| true;
    remove_matching(&r.join("etc/ssh"), |n| n.starts_with("ssh_host_"))?;
    remove_matching(&r.join("var/lib/apt/lists"), all)?;
    remove_matching(&r.join("var/cache/apt"), |n| n.ends_with(".bin"))?;
    remove_matching(&r.join("var/cache/apt/archives"), |n| n.ends_with(".deb"))?;
    remove_matching(&r.join("var/cache/apt/archives/partial"), all)?;
    remove_matching(&r.join("var/cache/debconf"), |n| n.ends_with("-old"))?;
    remove_matching(&r.join("var/log/apt"), all)?;
    remove_matching(&r.join("tmp"), all)?;
    remove_matching(&r.join("var/tmp"), all)?;
    for path in [
        "var/log/dpkg.log",
        "var/log/bootstrap.log",
        "var/log/alternatives.log",
        "root/.cache",
        "dev",
        "etc/machine-id",
        "var/lib/dbus/machine-id",
        // Replaced below; removed first so a link never writes outside the rootfs.
        "etc/resolv.conf",
        "etc/hostname",
    ] {
        remove(&r.join(path))?;
    }
    for dir in ["var/lib/apt/lists/partial", "dev", "proc", "sys"] {
        std::fs::create_dir_all(r.join(dir)).with_context(|| format!("creating {dir}"))?;
    }
    std::fs::write(r.join("etc/resolv.conf"), "").context("writing etc/resolv.conf")?;
    std::fs::write(r.join("etc/hostname"), "localhost\n").context("writing etc/hostname")?;
    Ok(())
}

/// Removes the entries of `dir` whose name matches, like the shell's `dir/PATTERN` (so names
/// starting with `.` are kept).
fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && matches(&name) {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

/// `rm -rf PATH` (never following a link).
fn remove(path: &Path) -> Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => Err(err),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.with_context(|| format!("removing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_under_a_directory_are_found_and_unescaped() {
        let table = "\
proc /proc proc rw 0 0
proc /var/tmp/r/proc proc rw 0 0
udev /var/tmp/r/dev devtmpfs rw 0 0
devpts /var/tmp/r/dev/pts devpts rw 0 0
x /var/tmp/r\\040b/sys sysfs rw 0 0
y /var/tmp/rr tmpfs rw 0 0
";
        let found = mount_points(table, Path::new("/var/tmp/r"));
        assert_eq!(
            found,
            ["/var/tmp/r/proc", "/var/tmp/r/dev", "/var/tmp/r/dev/pts"].map(PathBuf::from)
        );
        assert_eq!(
            mount_points(table, Path::new("/var/tmp/r b")),
            [PathBuf::from("/var/tmp/r b/sys")]
        );
    }

    #[test]
    fn cleaning_removes_keys_caches_and_logs_and_resets_identity() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for file in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/sshd_config",
            "var/lib/apt/lists/x_Packages",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/a.deb",
            "var/cache/apt/archives/lock",
            "var/log/dpkg.log",
            "var/log/keep.log",
            "tmp/junk",
            "tmp/.keep",
            "root/.cache/x",
            "dev/null",
            "etc/machine-id",
        ] {
            let path = r.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
        std::os::unix::fs::symlink("/nonexistent/resolv.conf", r.join("etc/resolv.conf")).unwrap();
        clean(r).unwrap();
        for gone in [
            "etc/ssh/ssh_host_ed25519_key",
            "var/lib/apt/lists/x_Packages",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/a.deb",
            "var/log/dpkg.log",
            "tmp/junk",
            "root/.cache",
            "dev/null",
            "etc/machine-id",
        ] {
            assert!(!r.join(gone).exists(), "{gone}");
        }
        for kept in [
            "etc/ssh/sshd_config",
            "var/cache/apt/archives/lock",
            "var/log/keep.log",
            "tmp/.keep",
            "var/lib/apt/lists/partial",
            "proc",
            "sys",
            "dev",
        ] {
            assert!(r.join(kept).exists(), "{kept}");
        }
        assert_eq!(
            std::fs::read_to_string(r.join("etc/resolv.conf")).unwrap(),
            ""
        );
        assert!(!r.join("etc/resolv.conf").is_symlink());
        assert_eq!(
            std::fs::read_to_string(r.join("etc/hostname")).unwrap(),
            "localhost\n"
        );
    }

    #[test]
    fn the_guard_removes_the_directory() {
        let parent = tempfile::tempdir().unwrap();
        let rootfs = Rootfs::create(parent.path()).unwrap();
        let path = rootfs.path().to_path_buf();
        std::fs::write(path.join("f"), "x").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
        drop(rootfs);
        assert!(!path.exists());
    }
}
