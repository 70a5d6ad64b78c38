//! The `bb-sidecar` binary on loopback: start, health, DNS, SIGHUP reload, SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bb-sidecar");

fn free_port() -> u16 {
    // Free for TCP and UDP at once (the DNS sink binds both).
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn health(url: &str) -> bool {
    Command::new(BIN)
        .args(["health", "--url", url])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

/// Waits for a stdout line containing `needle`.
fn wait_line(lines: &mpsc::Receiver<String>, needle: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return serde_json::from_str(&line).unwrap(),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no stdout line containing {needle}");
}

#[test]
fn health_fails_when_nothing_answers() {
    let port = free_port();
    assert!(!health(&format!("http://127.0.0.1:{port}/healthz")));
}

#[test]
fn bad_routes_file_at_start_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", "--dns", "off", "--listen", "127.0.0.1:0", "--routes"])
        .arg(dir.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("bb-sidecar: error: cannot read"),
        "{stderr}"
    );
}

#[test]
fn runs_serves_reloads_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.json");
    std::fs::write(&routes, r#"{"routes": [], "token_slots": []}"#).unwrap();
    let (proxy_port, dns_port) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .arg("run")
        .env("BB_SIDECAR_ROUTES", &routes)
        .env("BB_SIDECAR_LISTEN", format!("127.0.0.1:{proxy_port}"))
        .args(["--dns", &format!("127.0.0.1:{dns_port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let start = wait_line(&lines, "\"start\"");
    assert_eq!(start["ok"], true);

    let url = format!("http://127.0.0.1:{proxy_port}/healthz");
    assert!(health(&url));

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut query = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    query.extend_from_slice(b"\x04leak\x08attacker\x07example\x00\x00\x01\x00\x01");
    client.send_to(&query, ("127.0.0.1", dns_port)).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..2], &[0xab, 0xcd]);
    assert_eq!(buf[3] & 0x0f, 5, "REFUSED");
    assert_eq!(&buf[12..n], &query[12..]);
    let dns = wait_line(&lines, "\"dns\"");
    assert_eq!(dns["host"], "leak.attacker.example");
    assert_eq!(dns["verdict"], "block");

    std::fs::write(&routes, "{broken").unwrap();
    signal(&child, "-HUP");
    let bad = wait_line(&lines, "\"reload\"");
    assert_eq!(bad["ok"], false);
    assert!(health(&url), "still serving after a bad reload");

    std::fs::write(
        &routes,
        r#"{"routes": [{"host": "a.test", "dlp": {"outbound": [], "inbound": [], "on_match": "block"},
            "tls_passthrough": false, "private": false}], "token_slots": []}"#,
    )
    .unwrap();
    signal(&child, "-HUP");
    let good = wait_line(&lines, "\"reload\"");
    assert_eq!(good["ok"], true, "{good}");

    signal(&child, "-TERM");
    let stop = wait_line(&lines, "\"stop\"");
    assert!(stop["message"].as_str().unwrap().starts_with("SIGTERM"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}
