//! The app as a test sees it: `spin.toml` from the repository root, served by
//! the runner on a free port, with its own SQLite key-value file.

use crate::client::{self, Reply};
use crate::kv::SqliteStore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use unlatch_runner::{RunnerConfig, RunningApp};

pub struct App {
    running: Option<RunningApp>,
    sqlite: PathBuf,
    vars: HashMap<String, String>,
    _dir: tempfile::TempDir,
}

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml")
}

impl App {
    /// The app with `dev_mode` on (the dev outbox readable), as a developer runs it.
    pub fn start() -> App {
        App::start_with(&[("dev_mode", "true")])
    }

    /// The app with these variables (name, value) set as `SPIN_VARIABLE_*` would set them.
    pub fn start_with(vars: &[(&str, &str)]) -> App {
        let dir = tempfile::tempdir().expect("a temp dir");
        let sqlite = dir.path().join("kv.db");
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut app = App { running: None, sqlite, vars, _dir: dir };
        app.boot();
        app
    }

    fn boot(&mut self) {
        let env_vars = self
            .vars
            .iter()
            .map(|(k, v)| (format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v.clone()))
            .collect();
        let config = RunnerConfig {
            manifest: manifest(),
            listen: "127.0.0.1:0".parse().unwrap(),
            sqlite: Some(self.sqlite.clone()),
            env_vars,
        };
        self.running = Some(unlatch_runner::Runner::start(config).expect("the runner starts the app"));
    }

    /// Stops the runner and starts a new one on the same key-value file.
    pub fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
        self.boot();
    }

    /// The app's key-value store, as core sees it.
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.sqlite)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().expect("running").addr()
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
