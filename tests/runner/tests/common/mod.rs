//! Shared test helpers: building the probe component, staging its fixture
//! app in a temp dir, and a minimal HTTP/1.1 client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use unlatch_runner::{Runner, RunnerConfig, RunningApp};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn fixture_dir() -> PathBuf {
    workspace_root().join("tests/fixtures/probe")
}

/// Builds the probe (once per test binary) and returns the `.wasm` path.
/// Honours `CARGO_TARGET_DIR`, like the cargo that builds it.
pub fn probe_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new(env!("CARGO"))
            .args(["build", "--target", "wasm32-wasip2", "--release", "-p", "runner-probe"])
            .current_dir(&root)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the probe component failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map(|d| root.join(d)).unwrap_or_else(|| root.join("target"));
        let wasm = target.join("wasm32-wasip2/release/runner_probe.wasm");
        assert!(wasm.is_file(), "{} missing after build", wasm.display());
        wasm
    })
    .clone()
}

/// The fixture manifest text with `source` pointing at the built probe.
pub fn fixture_manifest_text() -> String {
    let text = std::fs::read_to_string(fixture_dir().join("spin.toml")).unwrap();
    text.replace(
        "\"../../../target/wasm32-wasip2/release/runner_probe.wasm\"",
        &format!("{:?}", probe_wasm().display().to_string()),
    )
}

/// A copy of the fixture app (manifest, assets, static) in its own temp dir.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::with_manifest(&fixture_manifest_text())
    }

    pub fn with_manifest(text: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["assets", "static", "static/css"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        for file in ["assets/hello.txt", "static/index.html", "static/css/site.css"] {
            std::fs::copy(fixture_dir().join(file), dir.path().join(file)).unwrap();
        }
        std::fs::write(dir.path().join("spin.toml"), text).unwrap();
        Fixture { dir }
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin.toml")
    }

    pub fn config(&self) -> RunnerConfig {
        RunnerConfig::new(self.manifest())
    }

    pub fn start(&self) -> RunningApp {
        Runner::start(self.config()).expect("runner starts")
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

pub fn get(addr: SocketAddr, target: &str) -> Reply {
    request(addr, "GET", target, &[])
}

/// One request per connection (`Connection: close`); handles chunked bodies.
pub fn request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    read_reply(stream)
}

fn read_reply(stream: TcpStream) -> Reply {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).expect("status line").parse().unwrap();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// A tiny HTTP server on 127.0.0.1 answering every request with `200 pong`.
pub fn pong_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong");
            });
        }
    });
    addr
}

/// Parses the probe's flat JSON object of string values.
pub fn flat_json(body: &str) -> HashMap<String, String> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect()
}
