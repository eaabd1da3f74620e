//! A Spin-compatible runner for Unlatch's HTTP components, for tests and
//! local use where the Spin CLI is unavailable. See `Runner::start`.

pub mod app;
pub mod body_limit;
pub mod compile_cache;
pub mod files;
pub mod host;
pub mod kv;
pub mod kv_stats;
pub mod logs;
pub mod manifest;
pub mod outbound;
pub mod redis_kv;
pub mod routes;
pub mod runtime_config;
pub mod server;
pub mod variables;

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How to run an application.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Key-value database; default `.spin/sqlite_key_value.db` next to the manifest.
    pub sqlite: Option<PathBuf>,
    /// A Redis URL: the default store is that Redis (as Spin's `type = "redis"`), and `sqlite` is unused.
    pub redis: Option<String>,
    /// `SPIN_VARIABLE_*` values taking precedence over the process environment.
    pub env_vars: HashMap<String, String>,
}

/// Runner behaviour that is not part of the app's configuration.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Log one line per request to stderr.
    pub log_requests: bool,
    /// Add each request's key-value operations to its response (`kv_stats`).
    pub kv_stats: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            manifest: PathBuf::from("spin.toml"),
            listen: "127.0.0.1:3000".into(),
            sqlite: None,
            redis: None,
            env_vars: HashMap::new(),
        }
    }
}

impl RunnerConfig {
    /// A config for tests: the given manifest on a free localhost port.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        RunnerConfig { manifest: manifest.into(), listen: "127.0.0.1:0".into(), ..Default::default() }
    }
}

pub struct Runner;

impl Runner {
    /// Loads the app (compiling every component), binds the listener and
    /// serves on a background thread with its own tokio runtime. Quiet: no
    /// per-request log lines.
    pub fn start(config: RunnerConfig) -> Result<RunningApp> {
        Runner::start_with_options(config, RunOptions::default())
    }

    pub fn start_with_options(config: RunnerConfig, options: RunOptions) -> Result<RunningApp> {
        let app = app::App::load(&config.manifest, config.sqlite.clone(), config.redis.as_deref(), &config.env_vars)?;
        let routes = app.router.table();
        let listener = std::net::TcpListener::bind(&config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("unlatch-runner").build()?;
        let server = Arc::new(server::Server {
            app: Arc::new(app),
            local_addr: addr,
            log_requests: options.log_requests,
            kv_stats: options.kv_stats,
        });
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let thread = std::thread::Builder::new().name("unlatch-runner-main".into()).spawn(move || {
            runtime.block_on(server::serve(server, listener, shutdown_rx));
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
        Ok(RunningApp { addr, routes, shutdown: Some(shutdown_tx), thread: Some(thread) })
    }
}

/// A running application; stops when dropped.
pub struct RunningApp {
    addr: SocketAddr,
    routes: Vec<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningApp {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `(route as written, component id)` for every public route.
    pub fn routes(&self) -> &[(String, String)] {
        &self.routes
    }

    /// Stops accepting requests and waits for the server thread to end.
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    /// Blocks until the server stops (used by the CLI).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn shutdown_and_join(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.shutdown_and_join();
    }
}
