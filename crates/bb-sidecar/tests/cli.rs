//! The `bb-sidecar` binary on loopback: start, health, DNS, SIGHUP reload, SIGTERM; the CA
//! and the flags of the intercepting proxy.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
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

/// A bottle CA like bb-ca's (ECDSA P-256) in `dir`: (cert, key).
fn write_ca(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "test bottle CA");
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
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
/// The child's stdout, line by line, read on a thread.
fn stdout_lines(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    lines
}

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
    let (ca, ca_key) = write_ca(dir.path());
    let (proxy_port, dns_port) = (free_port(), free_port());
    let mut child = Command::new(BIN)
        .arg("run")
        .env("BB_SIDECAR_ROUTES", &routes)
        .env("BB_SIDECAR_CA_CERT", &ca)
        .env("BB_SIDECAR_CA_KEY", &ca_key)
        .env("BB_SIDECAR_DENY_NETS", "10.77.0.0/24,fd77::/64")
        .env("EGRESS_TOKEN_1", "tok-SECRET-in-env")
        .env("BB_SIDECAR_LISTEN", format!("127.0.0.1:{proxy_port}"))
        .args(["--dns", &format!("127.0.0.1:{dns_port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut child);
    let start = wait_line(&lines, "\"start\"");
    assert_eq!(start["ok"], true);
    let message = start["message"].as_str().unwrap();
    assert!(
        message.contains("denied networks: 10.77.0.0/24, fd77::/64"),
        "{message}"
    );
    assert!(message.contains("body cap 67108864 bytes"), "{message}");

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
            "tls_passthrough": false, "private": false,
            "auth": {"scheme": "Bearer", "slot": "EGRESS_TOKEN_2"}}], "token_slots": []}"#,
    )
    .unwrap();
    signal(&child, "-HUP");
    let good = wait_line(&lines, "\"reload\"");
    assert_eq!(good["ok"], true, "{good}");
    let missing = wait_line(&lines, "token slots without a value");
    assert!(
        missing["message"]
            .as_str()
            .unwrap()
            .ends_with("EGRESS_TOKEN_2"),
        "{missing}"
    );

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

#[test]
fn a_missing_or_foreign_ca_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.json");
    std::fs::write(&routes, r#"{"routes": [], "token_slots": []}"#).unwrap();
    let run = |ca: &Path, key: &Path| {
        Command::new(BIN)
            .args(["run", "--dns", "off", "--listen", "127.0.0.1:0", "--routes"])
            .arg(&routes)
            .arg("--ca-cert")
            .arg(ca)
            .arg("--ca-key")
            .arg(key)
            .output()
            .unwrap()
    };
    let out = run(&dir.path().join("no.pem"), &dir.path().join("no-key.pem"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("bb-sidecar: error: cannot read the CA certificate"),
        "{stderr}"
    );
    let (ca, _) = write_ca(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, foreign_key) = write_ca(other.path());
    let out = run(&ca, &foreign_key);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not belong"), "{stderr}");
}

#[test]
fn bad_flag_values_exit_2() {
    for args in [
        &["--deny-net", "10.0.0.0/33"][..],
        &["--resolve-override", "not-an-ip"],
        &["--max-body", "lots"],
    ] {
        let out = Command::new(BIN)
            .args(["run", "--dns", "off"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn resolve_override_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let routes = dir.path().join("routes.json");
    std::fs::write(&routes, r#"{"routes": [], "token_slots": []}"#).unwrap();
    let (ca, ca_key) = write_ca(dir.path());
    let mut child = Command::new(BIN)
        .args(["run", "--dns", "off", "--max-body", "1MiB"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--routes")
        .arg(&routes)
        .arg("--ca-cert")
        .arg(&ca)
        .arg("--ca-key")
        .arg(&ca_key)
        .env("BB_SIDECAR_RESOLVE_OVERRIDE", "10.9.8.7")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut child);
    let start = wait_line(&lines, "\"start\"");
    assert!(
        start["message"]
            .as_str()
            .unwrap()
            .contains("body cap 1048576 bytes")
    );
    let warning = wait_line(&lines, "--resolve-override");
    assert_eq!(warning["event"], "warning");
    assert!(
        warning["message"].as_str().unwrap().contains("10.9.8.7"),
        "{warning}"
    );
    signal(&child, "-TERM");
    wait_line(&lines, "\"stop\"");
    child.wait().unwrap();
}
