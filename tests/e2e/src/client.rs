//! A deliberately raw HTTP/1.1 client: URL libraries normalise paths like
//! `/../` and `%2e%2e`, and the traversal tests need them sent byte for byte.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response: status, headers (names lower-cased) and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body text when it is not JSON, so a
    /// failing test shows what came back.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {} body is not JSON ({e}): {}", self.status, self.text()))
    }
}

/// Sends one request on a fresh connection and reads the whole response.
pub fn send(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect to the runner");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The body goes out while the answer is read: a server may answer (a 413)
    // and close before a large body is through, which is not the test's failure.
    let mut writer = stream.try_clone().unwrap();
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    if raw.is_empty() {
        read.expect("read the response");
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    parse(&raw, method == "HEAD")
}

/// How [`send_large`] frames its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: <len>`.
    Length,
    /// `Transfer-Encoding: chunked`, 64 KiB chunks.
    Chunked,
}

/// What [`send_large`] saw: the reply, and how many body bytes the client got
/// into the socket before the server answered and stopped reading.
#[derive(Debug)]
pub struct LargeSend {
    pub reply: Reply,
    pub body_bytes_sent: usize,
    pub elapsed: Duration,
}

/// POSTs a body of `len` bytes (`x`) while reading the answer on the same
/// connection, as a client that streams an upload does: the server may answer
/// (and close) long before the body is through.
pub fn send_large(addr: SocketAddr, target: &str, headers: &[(&str, &str)], len: usize, framing: Framing) -> LargeSend {
    let started = std::time::Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect to the host");
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head = format!("POST {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match framing {
        Framing::Length => head.push_str(&format!("content-length: {len}\r\n\r\n")),
        Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n\r\n"),
    }
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            let ok = match framing {
                Framing::Length => writer.write_all(&chunk[..n]),
                Framing::Chunked => writer.write_all(&[format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat()),
            };
            if ok.is_err() {
                // The server answered and closed: the rest is never sent.
                return sent;
            }
            sent += n;
        }
        if framing == Framing::Chunked {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
        sent
    });
    let mut raw = Vec::new();
    // A reset after the answer ends the read with an error; what came before is kept.
    let _ = stream.read_to_end(&mut raw);
    let elapsed = started.elapsed();
    // Unblocks the writer if the server still reads (it should not).
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let body_bytes_sent = sender.join().unwrap();
    LargeSend { reply: parse(&raw, false), body_bytes_sent, elapsed }
}

fn parse(raw: &[u8], head_only: bool) -> Reply {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply { status, headers, body }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    body
}
