//! `unlatch-runner up [--manifest spin.toml] [--listen 127.0.0.1:3000] [--sqlite PATH]`

use anyhow::{Result, bail};
use std::path::PathBuf;
use unlatch_runner::{RunOptions, Runner, RunnerConfig};

const USAGE: &str = "usage: unlatch-runner up [--manifest PATH] [--listen ADDR] [--sqlite PATH] [--quiet]

  --manifest, -f PATH   spin.toml to run (default ./spin.toml)
  --listen ADDR         address to serve on (default 127.0.0.1:3000)
  --sqlite PATH         key-value database (default .spin/sqlite_key_value.db next to the manifest)
  --quiet               do not log each request

Variables come from SPIN_VARIABLE_<NAME> environment variables or their defaults.";

fn parse(args: &[String]) -> Result<(RunnerConfig, RunOptions)> {
    let mut config = RunnerConfig::default();
    let mut options = RunOptions { log_requests: true };
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
            "--manifest" | "-f" | "--from" => config.manifest = PathBuf::from(value()?),
            "--listen" => config.listen = value()?,
            "--sqlite" => config.sqlite = Some(PathBuf::from(value()?)),
            "--quiet" | "-q" => options.log_requests = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option `{other}`\n{USAGE}"),
        }
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
