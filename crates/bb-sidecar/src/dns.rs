//! The DNS sink: every query is answered REFUSED and logged, so no name the agent asks about
//! (such as `<secret>.attacker.example`) ever reaches a resolver outside the bottle. The agent
//! needs no DNS for the internet: the proxy resolves names itself.
//!
//! The parser reads the header and the one question just far enough to echo them; anything
//! malformed (short, a response, not exactly one question, compression in the question, labels
//! past the end) is dropped without an answer.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::Shutdown;
use crate::log::{Log, Rule, Service};

const HEADER_LEN: usize = 12;
const MAX_NAME: usize = 255;
/// The RCODE of the answer.
pub const REFUSED: u16 = 5;
/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// The parts of a query the answer and the log need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// The header flags as received.
    pub flags: u16,
    /// The question name, lower case, dot-separated, non-printable bytes as `\DDD`; `.` for the
    /// root.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The question section as received (QNAME, QTYPE, QCLASS), echoed in the answer.
    question: Vec<u8>,
}

fn be16(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Parses a DNS query message; `None` for anything that is not a well-formed one-question query.
pub fn parse_query(packet: &[u8]) -> Option<Query> {
    if packet.len() < HEADER_LEN {
        return None;
    }
    let id = be16(&packet[0..])?;
    let flags = be16(&packet[2..])?;
    if flags & 0x8000 != 0 {
        return None; // a response: never answer those (no loops, no reflection)
    }
    if be16(&packet[4..])? != 1 {
        return None;
    }
    let mut pos = HEADER_LEN;
    let mut name = String::new();
    let mut wire_len = 1; // the root label
    loop {
        let len = usize::from(*packet.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression pointer or reserved label type
        }
        wire_len += len + 1;
        if wire_len > MAX_NAME {
            return None;
        }
        let label = packet.get(pos..pos + len)?;
        pos += len;
        if !name.is_empty() {
            name.push('.');
        }
        for &b in label {
            match b {
                b'.' | b'\\' => name.push_str(&format!("\\{b:03}")),
                0x21..=0x7e => name.push(char::from(b.to_ascii_lowercase())),
                _ => name.push_str(&format!("\\{b:03}")),
            }
        }
    }
    let qtype = be16(packet.get(pos..pos + 2)?)?;
    let qclass = be16(packet.get(pos + 2..pos + 4)?)?;
    pos += 4;
    if name.is_empty() {
        name.push('.');
    }
    Some(Query {
        id,
        flags,
        name,
        qtype,
        qclass,
        question: packet[HEADER_LEN..pos].to_vec(),
    })
}

/// The REFUSED answer: same id, opcode and RD bit, QR set, the question echoed, no records.
pub fn refused(query: &Query) -> Vec<u8> {
    let opcode = query.flags & 0x7800;
    let rd = query.flags & 0x0100;
    let flags = 0x8000 | opcode | rd | REFUSED;
    let mut out = Vec::with_capacity(HEADER_LEN + query.question.len());
    out.extend_from_slice(&query.id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&query.question);
    out
}

/// `A`, `AAAA`, … or `TYPE<n>`.
pub fn qtype_name(qtype: u16) -> String {
    let name = match qtype {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        n => return format!("TYPE{n}"),
    };
    name.to_owned()
}

/// Answers one raw message: the REFUSED answer to send, after logging the query; `None` (and
/// no log line) for a malformed message.
pub fn answer(packet: &[u8], log: &Log) -> Option<Vec<u8>> {
    let query = parse_query(packet)?;
    log.decision(Service::Dns)
        .host(query.name.as_str())
        .method(qtype_name(query.qtype).as_str())
        .block(
            Rule::DnsSink.refused_by(&query.name),
            "dns sink: every name is refused (the proxy resolves names)",
        );
    Some(refused(&query))
}

/// Serves DNS over UDP until shutdown.
pub async fn serve_udp(socket: UdpSocket, log: Log, mut shutdown: Shutdown) {
    let mut buf = vec![0u8; 4096];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = shutdown.wait() => return,
        };
        let Ok((n, peer)) = received else {
            continue;
        };
        if let Some(reply) = answer(&buf[..n], &log) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// Serves DNS over TCP (two-byte length prefix, several messages per connection) until
/// shutdown.
pub async fn serve_tcp(listener: TcpListener, log: Log, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.wait() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(tcp_connection(stream, log.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn tcp_connection(mut stream: TcpStream, log: Log) {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut msg)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(reply) = answer(&msg, &log) else {
            return; // malformed: drop the connection
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = reply_len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A standard query for `name` (RD set), as `dig` sends it, plus an EDNS OPT record.
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&[0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1]);
        for label in name.split('.').filter(|l| !l.is_empty()) {
            p.push(label.len() as u8);
            p.extend_from_slice(label.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        // OPT: root name, type 41, udp size 1232, ttl 0, rdlen 0
        p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn parses_the_question() {
        let q = parse_query(&query(0xbeef, "SeCrEt.Attacker.example", 28)).unwrap();
        assert_eq!(q.id, 0xbeef);
        assert_eq!(q.name, "secret.attacker.example");
        assert_eq!(q.qtype, 28);
        assert_eq!(q.qclass, 1);
        assert_eq!(qtype_name(q.qtype), "AAAA");
        assert_eq!(qtype_name(99), "TYPE99");
        let root = parse_query(&query(1, "", 2)).unwrap();
        assert_eq!(root.name, ".");
    }

    #[test]
    fn refused_echoes_id_opcode_rd_and_question() {
        let packet = query(0x1234, "evil.example", 1);
        let q = parse_query(&packet).unwrap();
        let r = refused(&q);
        assert_eq!(&r[0..2], &[0x12, 0x34]);
        let flags = u16::from_be_bytes([r[2], r[3]]);
        assert_eq!(flags & 0x8000, 0x8000, "QR");
        assert_eq!(flags & 0x0100, 0x0100, "RD copied");
        assert_eq!(flags & 0x0080, 0, "RA clear");
        assert_eq!(flags & 0x000f, REFUSED);
        assert_eq!(&r[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
        let question_len = 1 + 4 + 1 + 7 + 1 + 4;
        assert_eq!(&r[12..], &packet[12..12 + question_len]);
        // The answer is itself not a query, so a sink never answers a sink.
        assert!(parse_query(&r).is_none());
    }

    #[test]
    fn odd_bytes_in_names_are_escaped() {
        let mut p = query(1, "x", 1);
        p[13] = b'.';
        assert_eq!(parse_query(&p).unwrap().name, "\\046");
        p[13] = 0;
        assert_eq!(parse_query(&p).unwrap().name, "\\000");
        p[13] = b'"';
        assert_eq!(parse_query(&p).unwrap().name, "\"");
    }

    #[test]
    fn malformed_packets_are_dropped() {
        let good = query(7, "a.example", 1);
        assert!(parse_query(&[]).is_none());
        assert!(parse_query(&good[..11]).is_none());
        // Every truncation inside the question.
        for end in 12..12 + 1 + 1 + 1 + 7 + 1 + 4 {
            assert!(parse_query(&good[..end]).is_none(), "truncated at {end}");
        }
        let mut response = good.clone();
        response[2] |= 0x80;
        assert!(parse_query(&response).is_none());
        for qd in [[0, 0], [0, 2], [0xff, 0xff]] {
            let mut p = good.clone();
            p[4..6].copy_from_slice(&qd);
            assert!(parse_query(&p).is_none());
        }
        let mut pointer = good.clone();
        pointer[12] = 0xc0;
        assert!(parse_query(&pointer).is_none());
        let mut long_label = good.clone();
        long_label[12] = 64;
        assert!(parse_query(&long_label).is_none());
        // A name past 255 bytes.
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(parse_query(&query(1, &long, 1)).is_none());
        let fits = vec!["a".repeat(63); 3].join(".") + "." + &"b".repeat(61);
        assert!(parse_query(&query(1, &fits, 1)).is_some());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator; mutate every byte of a good packet too.
        let good = query(9, "abc.example", 1);
        for i in 0..good.len() {
            for v in [0u8, 1, 63, 64, 0x80, 0xc0, 0xff] {
                let mut p = good.clone();
                p[i] = v;
                let _ = parse_query(&p).map(|q| refused(&q));
            }
        }
        let mut x: u32 = 0x1234_5678;
        for len in 0..600 {
            let p: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                })
                .collect();
            let _ = parse_query(&p).map(|q| refused(&q));
        }
    }

    #[test]
    fn answer_logs_the_query() {
        let (log, lines) = Log::memory();
        assert!(answer(&query(1, "Leak.Attacker.example.", 16), &log).is_some());
        assert!(answer(b"garbage", &log).is_none());
        let lines = lines.json();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["service"], "dns");
        assert_eq!(lines[0]["host"], "leak.attacker.example");
        assert_eq!(lines[0]["method"], "TXT");
        assert_eq!(lines[0]["verdict"], "block");
        assert!(lines[0]["path"].is_null());
    }

    #[tokio::test]
    async fn serves_udp_and_tcp() {
        let (log, lines) = Log::memory();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let udp_addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let (trigger, shutdown) = Shutdown::channel();
        let u = tokio::spawn(serve_udp(udp, log.clone(), shutdown.clone()));
        let t = tokio::spawn(serve_tcp(tcp, log.clone(), shutdown));

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"junk", udp_addr).await.unwrap();
        client
            .send_to(&query(42, "x.example", 1), udp_addr)
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[0..2], &42u16.to_be_bytes());
        assert_eq!(buf[3] & 0x0f, 5);
        assert!(n > 12);

        let mut s = TcpStream::connect(tcp_addr).await.unwrap();
        for id in [1u16, 2] {
            let q = query(id, "y.example", 28);
            s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
            s.write_all(&q).await.unwrap();
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.unwrap();
            let mut r = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut r).await.unwrap();
            assert_eq!(&r[0..2], &id.to_be_bytes());
            assert_eq!(r[3] & 0x0f, 5);
        }
        let hosts: Vec<_> = lines.json().iter().map(|l| l["host"].clone()).collect();
        assert_eq!(hosts, ["x.example", "y.example", "y.example"]);

        trigger.shutdown();
        tokio::time::timeout(Duration::from_secs(5), async {
            u.await.unwrap();
            t.await.unwrap();
        })
        .await
        .unwrap();
    }
}
