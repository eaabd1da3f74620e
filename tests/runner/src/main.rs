//! `unlatch-runner up`, with the command line of `spin up` (the subset the app's
//! suites use), so that the same harness can start either binary.

use anyhow::{Result, bail};
use std::path::PathBuf;
use unlatch_runner::{RunOptions, Runner, RunnerConfig, runtime_config};

const USAGE: &str = "usage: unlatch-runner up [-f PATH] [--listen ADDR] [--runtime-config-file FILE] [--state-dir DIR]

  -f, --from PATH               spin.toml, or the directory holding it (default ./spin.toml)
  --listen ADDR                 address to serve on (default 127.0.0.1:3000)
  --runtime-config-file FILE    Spin runtime config; [key_value_store.default] type = \"spin\", path = \"...\"
                                or type = \"redis\", url = \"redis://...\"
  --state-dir DIR               where the default SQLite store lives (default .spin next to the manifest)

Variables come from SPIN_VARIABLE_<NAME> environment variables or their defaults.
UNLATCH_RUNNER_LOG_REQUESTS=1 logs one line per request to stderr.
UNLATCH_KV_STATS=1 adds each request's key-value operations to its response (unlatch-kv-ops).";

fn parse(args: &[String]) -> Result<(RunnerConfig, RunOptions)> {
    let mut config = RunnerConfig::default();
    let log_requests = std::env::var("UNLATCH_RUNNER_LOG_REQUESTS").is_ok_and(|v| v == "1");
    let kv_stats = std::env::var("UNLATCH_KV_STATS").is_ok_and(|v| v == "1");
    let options = RunOptions { log_requests, kv_stats };
    let (mut runtime_config, mut state_dir) = (None, None);
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("up") => {}
        Some("-h" | "--help") | None => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| anyhow::anyhow!("{arg} needs a value"));
        match arg.as_str() {
            "-f" | "--from" | "--file" => {
                let path = PathBuf::from(value()?);
                config.manifest = if path.is_dir() { path.join("spin.toml") } else { path };
            }
            "--listen" => config.listen = value()?,
            "--runtime-config-file" => runtime_config = Some(PathBuf::from(value()?)),
            "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
    }
    // As in Spin: a store the runtime config names wins; otherwise the state directory's file.
    let named = match runtime_config {
        Some(file) => runtime_config::default_store(&file)?,
        None => None,
    };
    match named {
        Some(runtime_config::DefaultStore::Sqlite(path)) => config.sqlite = Some(path),
        Some(runtime_config::DefaultStore::Redis(url)) => config.redis = Some(url),
        None => config.sqlite = state_dir.map(|dir| dir.join(runtime_config::DEFAULT_SQLITE_FILE)),
    }
    Ok((config, options))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = parse(&args).and_then(|(config, options)| {
        let app = Runner::start_with_options(config, options)?;
        println!("Serving {}", app.url());
        println!("Available Routes:");
        for (route, component) in app.routes() {
            println!("  {component}: {}{route}", app.url());
        }
        app.wait();
        Ok(())
    });
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
