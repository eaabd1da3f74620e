//! The runner's request body limit (`src/body_limit.rs`), seen by a component
//! that reads its whole body: up to the limit it gets every byte; past it the
//! read fails and the runner stops reading the connection.

mod common;

use common::{Fixture, get};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use unlatch_runner::body_limit::MAX_REQUEST_BODY;

/// POSTs `len` bytes chunked (64 KiB chunks) to the probe's `body-len` while
/// reading the answer; returns the status, the body and how many bytes the
/// writer got into the socket before the answer (or the connection) ended it.
fn post_chunked(addr: SocketAddr, len: usize) -> (u16, String, usize) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /probe?op=body-len HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
            if writer.write_all(&framed).is_err() {
                return sent;
            }
            sent += n;
        }
        let _ = writer.write_all(b"0\r\n\r\n");
        sent
    });
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    let body = rest.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    // Ends the writer if the runner still reads (it should not).
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    (status, body, sender.join().unwrap())
}

#[test]
fn a_body_within_the_limit_reaches_the_component_whole() {
    let fx = Fixture::new();
    let app = fx.start();
    let len = 3 * 1024 * 1024;
    let (status, body, _) = post_chunked(app.addr(), len);
    assert_eq!(status, 200);
    assert!(body.contains(&len.to_string()), "{body:?}");
}

#[test]
fn past_the_limit_the_component_s_read_fails_and_the_runner_reads_no_further() {
    let fx = Fixture::new();
    let app = fx.start();
    let len = 64 * 1024 * 1024;
    let (status, body, sent) = post_chunked(app.addr(), len);
    assert_ne!(status, 200, "the component never sees a whole body past the limit: {body:?}");
    assert!(
        sent < len / 2,
        "the runner stopped reading soon after {MAX_REQUEST_BODY} bytes (the client got {sent} bytes out)"
    );
    assert_eq!(get(app.addr(), "/probe?op=instance").status, 200, "and keeps serving");
}
