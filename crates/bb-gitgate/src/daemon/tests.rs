//! The front end on a loopback port, with one repo whose upstream cannot be reached.

use super::*;
use std::io::Write;
use std::path::Path;

struct Rig {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

fn repo() -> RepoPlan {
    RepoPlan {
        name: "shop".into(),
        url: "ssh://git@127.0.0.1:9/srv/shop.git".into(),
        url_as_written: "ssh://git@127.0.0.1:9/srv/shop.git".into(),
        ssh_user: "git".into(),
        host: "127.0.0.1".into(),
        port: 9,
        path: "/srv/shop.git".into(),
        key: bb_contract::plan::RepoKey::File {
            key_path: "/k".into(),
        },
        host_key:
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOa0zV2j0k6n8S2m0T1g0YH3y5Vf3p0l7e1N4cT0yZk0"
                .into(),
        allow: Default::default(),
    }
}

fn rig(limits: Limits) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path()).unwrap();
    let config = GateConfig {
        repos: vec![repo()],
        user: Default::default(),
        rules: None,
        key_dir: dir.path().join("keys"),
        agent_keys: false,
    };
    let config_path = dir.path().join("repos.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    mirror::ensure(
        &paths,
        &config.repos[0],
        Path::new("/bin/false"),
        &config_path,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let daemon = Daemon::new(
        config_path,
        paths,
        limits,
        Arc::new(Detectors::new(vec![], None)),
    );
    daemon.spawn_acceptor(listener).unwrap();
    Rig { _dir: dir, addr }
}

/// Connects, sends `payload` as a pkt-line (when given) and reads until the gate closes.
fn exchange(addr: SocketAddr, payload: Option<&[u8]>) -> (String, Duration) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    if let Some(p) = payload {
        s.write_all(&pkt::pkt(p)).unwrap();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[test]
fn bad_requests_get_one_err_line() {
    let r = rig(Limits::default());
    let (out, _) = exchange(r.addr, Some(b"git-upload-pack /nope.git\0host=x\0"));
    // One pkt-line, nothing else.
    assert_eq!(
        usize::from_str_radix(&out[..4], 16).unwrap(),
        out.len(),
        "{out}"
    );
    assert_eq!(
        &out[4..],
        "ERR bot-bottle git-gate: no repository `nope` behind this gate"
    );
    let (out, _) = exchange(r.addr, Some(b"git-upload-archive /shop.git\0host=x\0"));
    assert!(
        out.contains("service `git-upload-archive` is not offered"),
        "{out}"
    );
    let (out, _) = exchange(r.addr, Some(b"git-upload-pack /shop.git/../x\0host=x\0"));
    assert!(out.contains("no such repository `/shop.git/../x`"), "{out}");
    let (out, _) = exchange(r.addr, Some(b"git-upload-pack /shop.git"));
    assert!(out.contains("no NUL after the path"), "{out}");
}

#[test]
fn a_fetch_is_refused_when_upstream_is_unreachable() {
    let r = rig(Limits::default());
    let (out, _) = exchange(
        r.addr,
        Some(b"git-upload-pack /shop.git\0host=--help\0\0version=2\0"),
    );
    assert!(
        out.contains("ERR bot-bottle git-gate: upstream 127.0.0.1:9 is unreachable ("),
        "{out}"
    );
    assert!(out.contains("refusing to serve a stale mirror"), "{out}");
}

#[test]
fn a_silent_client_is_dropped_after_the_init_timeout() {
    let r = rig(Limits {
        init_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let (out, took) = exchange(r.addr, None);
    assert!(out.contains("no request within the init timeout"), "{out}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn connections_over_the_cap_are_refused() {
    let r = rig(Limits {
        max_connections: 1,
        ..Limits::default()
    });
    let held = TcpStream::connect(r.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (out, _) = exchange(r.addr, Some(b"git-upload-pack /nope.git\0host=x\0"));
    assert!(out.contains("too many connections"), "{out}");
    drop(held);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (out, _) = exchange(r.addr, Some(b"git-upload-pack /nope.git\0host=x\0"));
        if out.contains("no repository `nope`") {
            break;
        }
        assert!(Instant::now() < end, "the slot was never given back: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_push_connection_ends_at_the_deadline() {
    let r = rig(Limits {
        connection_timeout: Duration::from_secs(1),
        ..Limits::default()
    });
    // receive-pack advertises, then waits for commands that never come; no upstream contact.
    let (out, took) = exchange(r.addr, Some(b"git-receive-pack /shop.git\0host=x\0"));
    assert!(out.contains("capabilities^{}"), "{out}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}
