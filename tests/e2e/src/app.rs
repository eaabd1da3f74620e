//! The app as a test sees it: `spin.toml` from the repository root, started the
//! way `spin up` is started, on a free port with its own state directory and
//! SQLite key-value file:
//!
//! `<bin> up -f spin.toml --listen 127.0.0.1:<port> --runtime-config-file <file> --state-dir <dir>`
//!
//! `<bin>` is `$UNLATCH_SPIN` (a real `spin`), or the repository's runner
//! (`$UNLATCH_RUNNER` when set, e.g. the benchmark's optimised build).
//!
//! `App::start_on_redis` points the runtime config at a Redis instead
//! (`type = "redis"`), and `App::another_host` starts a second host on the
//! same store, as two SpinKube replicas would share one.

use crate::client::{self, Reply};
use crate::kv::SqliteStore;
use crate::redis::RedisStore;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use unlatch_core::{Store, StoreError, WholeStoreScan};

pub struct App {
    child: Option<Child>,
    addr: SocketAddr,
    sqlite: PathBuf,
    /// The Redis URL of the default store, instead of `sqlite`.
    redis: Option<String>,
    vars: HashMap<String, String>,
    dir: tempfile::TempDir,
    ready_after: Duration,
    /// The manifest `spin up -f` is given (the repository's `spin.toml`).
    manifest: PathBuf,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The host binary: `UNLATCH_SPIN`, else `UNLATCH_RUNNER`, else the runner
/// `cargo build` put in the target directory.
pub fn host_binary() -> PathBuf {
    for var in ["UNLATCH_SPIN", "UNLATCH_RUNNER"] {
        if let Some(bin) = std::env::var_os(var).filter(|s| !s.is_empty()) {
            return PathBuf::from(bin);
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    target.join("debug").join("unlatch-runner")
}

/// Whether the suite runs on a real Spin rather than the runner.
pub fn on_real_spin() -> bool {
    std::env::var_os("UNLATCH_SPIN").is_some_and(|s| !s.is_empty())
}

/// A port free now and never handed out before in this process: the kernel
/// reuses a just-released port, and two apps on one port would talk to each
/// other's host.
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The server secrets as an operator sets them (`openssl rand -hex 32`), for
/// tests that run the app without `dev_mode`: there, empty ones are 503
/// `not_configured`.
pub const SECRETS: [(&str, &str); 2] = [
    ("captcha_secret", "9f2c4e1a7b3d5f6e8a0c2e4f6a8b0d1c3e5f7a9b1d3f5e7c9a1b3d5f7e9a1c3e"),
    ("code_secret", "4b6d8f0a2c4e6a8c0e2a4c6e8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c"),
];

/// Whether an HTTP request to the static pages gets an HTTP answer.
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("HEAD / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let mut head = [0u8; 8];
    stream.write_all(request.as_bytes()).is_ok() && stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

fn owned(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

impl App {
    /// The app with `dev_mode` on (the dev outbox readable), as a developer runs it.
    pub fn start() -> App {
        App::start_with(&[("dev_mode", "true")])
    }

    /// The app with these variables (name, value) set as `SPIN_VARIABLE_*`.
    pub fn start_with(vars: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        let sqlite = dir.path().join("kv.db");
        App::launch(dir, sqlite, None, owned(vars))
    }

    /// The app from another manifest (e.g. the repository's with a benchmark
    /// component added), with these variables.
    pub fn start_manifest(manifest: &Path, vars: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        let sqlite = dir.path().join("kv.db");
        App::launch_from(manifest.to_path_buf(), dir, sqlite, None, owned(vars))
    }

    /// The app with these variables on an existing SQLite key-value file
    /// (runtime config `type = "spin"`, `path` = `sqlite`), e.g. a seeded one.
    pub fn start_on_sqlite(sqlite: &Path, vars: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        App::launch(dir, sqlite.to_path_buf(), None, owned(vars))
    }

    /// The app with these variables, its default store on the Redis at `url`
    /// (runtime config `type = "redis"`).
    pub fn start_on_redis(url: &str, vars: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        let sqlite = dir.path().join("kv.db");
        App::launch(dir, sqlite, Some(url.into()), owned(vars))
    }

    /// A second host process on this one's store (same runtime config, same
    /// variables, its own port and state directory).
    pub fn another_host(&self) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        App::launch_from(self.manifest.clone(), dir, self.sqlite.clone(), self.redis.clone(), self.vars.clone())
    }

    /// Starts a host of the repository's `spin.toml` on this store configuration, its state in `dir`.
    fn launch(dir: tempfile::TempDir, sqlite: PathBuf, redis: Option<String>, vars: HashMap<String, String>) -> App {
        App::launch_from(root().join("spin.toml"), dir, sqlite, redis, vars)
    }

    fn launch_from(
        manifest: PathBuf,
        dir: tempfile::TempDir,
        sqlite: PathBuf,
        redis: Option<String>,
        vars: HashMap<String, String>,
    ) -> App {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut app = App { child: None, addr, sqlite, redis, vars, dir, ready_after: Duration::ZERO, manifest };
        app.boot();
        app
    }

    fn boot(&mut self) {
        let config = self.dir.path().join("runtime-config.toml");
        let toml = match &self.redis {
            Some(url) => format!("[key_value_store.default]\ntype = \"redis\"\nurl = {url:?}\n"),
            None => {
                format!("[key_value_store.default]\ntype = \"spin\"\npath = {:?}\n", self.sqlite.display().to_string())
            }
        };
        std::fs::write(&config, toml).expect("write the runtime config");
        // A port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            self.addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut cmd = Command::new(host_binary());
            // Its own process group: `spin up` runs the app in a child process
            // (`spin trigger http`), and stopping must end both.
            cmd.process_group(0)
                .current_dir(root())
                .arg("up")
                .arg("-f")
                .arg(&self.manifest)
                .args(["--listen", &self.addr.to_string()])
                .arg("--runtime-config-file")
                .arg(&config)
                .arg("--state-dir")
                .arg(self.dir.path().join("state"))
                .envs(self.vars.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v)));
            // The host's output goes to a file the test reads (`App::logs`).
            let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("host.log"));
            if let Ok((out, err)) = log.and_then(|l| Ok((l.try_clone()?, l))) {
                cmd.stdout(out).stderr(err);
            }
            let spawned = Instant::now();
            let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", host_binary().display()));
            self.child = Some(child);
            if self.wait_ready() {
                self.ready_after = spawned.elapsed();
                return;
            }
            self.stop();
        }
        panic!("the app did not start on {}", host_binary().display());
    }

    /// Waits until the host answers HTTP (not merely accepts: `spin up` binds
    /// the address once to check it is free before its trigger listens);
    /// false if it exited first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                eprintln!("the host exited with {status}");
                return false;
            }
            if answers_http(self.addr) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    /// Kills the host's whole process group at once, as `kill -9` would.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) with a negative pid signals the group we created; no memory is involved.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// How long the host took from its start to accepting connections (the last boot).
    pub fn ready_after(&self) -> Duration {
        self.ready_after
    }

    /// `kill -9` of the host (its whole process group); the store stays.
    pub fn kill(&mut self) {
        self.stop();
    }

    /// Stops the host and starts a new one on the same key-value file.
    pub fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    /// The app's key-value store, as core sees it.
    pub fn store(&self) -> AppStore {
        match &self.redis {
            Some(url) => AppStore::Redis(RedisStore::open(url)),
            None => AppStore::Sqlite(SqliteStore::open(&self.sqlite)),
        }
    }

    /// Everything the host and the components wrote: the host's stdout and
    /// stderr, and (on a real Spin) the component logs under the state directory.
    pub fn logs(&self) -> String {
        let mut out = std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default();
        if let Ok(dir) = std::fs::read_dir(self.dir.path().join("state/logs")) {
            for entry in dir.flatten() {
                out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        out
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host's process id, which is also its process group's: `spin up`
    /// serves from a child process in that group, the runner from this one.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the host is running").id()
    }

    pub fn get(&self, target: &str) -> Reply {
        client::send(self.addr(), "GET", target, &[], b"")
    }

    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        client::send(self.addr(), method, target, headers, body)
    }

    pub fn post_json(&self, target: &str, body: &serde_json::Value) -> Reply {
        let bytes = serde_json::to_vec(body).unwrap();
        client::send(self.addr(), "POST", target, &[("content-type", "application/json")], &bytes)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The store an [`App`] runs on: its SQLite file or its Redis.
pub enum AppStore {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

impl AppStore {
    /// Every key and its raw value, sorted by key.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            AppStore::Sqlite(s) => s.entries(),
            AppStore::Redis(r) => r.entries(),
        }
    }

    fn inner(&self) -> &dyn Store {
        match self {
            AppStore::Sqlite(s) => s,
            AppStore::Redis(r) => r,
        }
    }
}

impl Store for AppStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner().get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner().set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner().delete(key)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner().increment(key, delta)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        self.inner().compare_and_swap(key, expected, new)
    }
}

impl WholeStoreScan for AppStore {
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            AppStore::Sqlite(s) => s.keys_with_prefix(prefix),
            AppStore::Redis(r) => r.keys_with_prefix(prefix),
        }
    }
}
