//! `bb-gitgate serve` stopped with SIGTERM while a service or a mirror refresh runs: its
//! process group ends with the gate, which exits promptly. Runs the binary on loopback ports;
//! no Docker.

use std::fs::Permissions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bb_contract::plan::RepoPlan;
use bb_gitgate::GateConfig;
use rustix::process::{Pid, Signal, kill_process};

/// One repo `shop` whose upstream is `127.0.0.1:port`, with a key file.
fn write_config(dir: &Path, port: u16) -> PathBuf {
    let url = format!("ssh://git@127.0.0.1:{port}/srv/shop.git");
    let repo = RepoPlan {
        name: "shop".into(),
        url: url.clone(),
        url_as_written: url,
        ssh_user: "git".into(),
        host: "127.0.0.1".into(),
        port,
        path: "/srv/shop.git".into(),
        key: bb_contract::plan::RepoKey::File {
            key_path: "/k".into(),
        },
        host_key:
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa0zV2j0k6n8S2m0T1g0YH3y5Vf3p0l7e1N4cT0yZk0"
                .into(),
        allow: Default::default(),
    };
    let config = GateConfig {
        repos: vec![repo],
        user: Default::default(),
        rules: None,
        key_dir: dir.join("keys"),
        agent_keys: false,
    };
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/shop"), "not a key\n").unwrap();
    std::fs::set_permissions(dir.join("keys/shop"), Permissions::from_mode(0o600)).unwrap();
    let path = dir.join("repos.json");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A connection to `gate` once it listens; `None` when it exited first (its port was taken:
/// `free_addr` hands out a port that another test may be handed too).
fn connect_when_up(addr: SocketAddr, gate: &mut Child, root: &Path) -> Option<TcpStream> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if gate.try_wait().unwrap().is_some() {
            return None;
        }
        // The gate makes its root before it listens: a connection before that reached
        // another test's gate on the same port.
        if root.exists()
            && let Ok(s) = TcpStream::connect(addr)
        {
            return Some(s);
        }
        assert!(Instant::now() < end, "the gate never listened on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `(pid, process group, state)` of every process, from /proc.
fn processes() -> Vec<(u32, u32, char)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Ok(pid), Some(state), Some(Ok(pgrp))) = (
            head.split_whitespace().next().unwrap_or("").parse::<u32>(),
            fields.first().and_then(|s| s.chars().next()),
            fields.get(2).map(|s| s.parse::<u32>()),
        ) else {
            continue;
        };
        all.push((pid, pgrp, state));
    }
    all
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The process group of the running `git <command>` on the mirror under `root`.
fn git_group(command: &str, root: &Path) -> u32 {
    let mirror = root
        .canonicalize()
        .unwrap()
        .join("mirrors")
        .display()
        .to_string();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let found = processes().into_iter().find(|&(pid, _, state)| {
            let line = cmdline(pid);
            state != 'Z' && line.contains(command) && line.contains(&mirror)
        });
        if let Some((_, pgrp, _)) = found {
            return pgrp;
        }
        assert!(Instant::now() < end, "no git {command} on {mirror}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Members of the group that are still running (zombies are gone but for their parent's wait).
fn live_members(pgrp: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|&(_, g, state)| g == pgrp && state != 'Z')
        .map(|(pid, _, _)| pid)
        .collect()
}

/// `bb-gitgate serve` for the config in `dir`, and a client connected to it that asked for
/// `request`.
fn gate_with_client(dir: &Path, upstream_port: u16, request: &[u8]) -> (Child, TcpStream) {
    let config = write_config(dir, upstream_port);
    for _ in 0..5 {
        let addr = free_addr();
        let mut gate = Command::new(env!("CARGO_BIN_EXE_bb-gitgate"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--listen")
            .arg(addr.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(mut client) = connect_when_up(addr, &mut gate, &dir.join("root")) {
            client.write_all(&bb_gitgate::pkt::pkt(request)).unwrap();
            return (gate, client);
        }
    }
    panic!("the gate never got a port of its own")
}

/// SIGTERM to the gate; asserts it exits cleanly and promptly and `group` went with it.
fn stop_and_check(mut gate: Child, group: u32) {
    assert!(!live_members(group).is_empty());
    let started = Instant::now();
    let pid = Pid::from_raw(i32::try_from(gate.id()).unwrap()).unwrap();
    kill_process(pid, Signal::TERM).unwrap();
    let status = loop {
        if let Some(status) = gate.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = gate.kill();
            panic!("the gate did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = started.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(5),
        "the gate took {took:?} to stop"
    );
    assert!(
        live_members(group).is_empty(),
        "the process group outlived the gate: {:?}",
        live_members(group)
    );
}

#[test]
fn sigterm_ends_a_running_service_with_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    // A push never contacts upstream (nothing listens on port 9).
    let (gate, mut client) =
        gate_with_client(dir.path(), 9, b"git-receive-pack /shop.git\0host=x\0");
    // receive-pack advertises, then waits for commands that never come.
    let mut length = [0u8; 4];
    client.read_exact(&mut length).unwrap();
    let group = git_group("receive-pack", &dir.path().join("root"));
    stop_and_check(gate, group);
}

#[test]
fn sigterm_ends_a_running_mirror_refresh_with_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    // An upstream that accepts and never says a word: the fetch's refresh hangs in ssh.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    let held = std::thread::spawn(move || upstream.accept().map(|(s, _)| s));
    let (gate, _client) =
        gate_with_client(dir.path(), port, b"git-upload-pack /shop.git\0host=x\0");
    let group = git_group("ls-remote", &dir.path().join("root"));
    stop_and_check(gate, group);
    drop(held);
}
