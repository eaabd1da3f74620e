//! Start-up (not a test): how long the host takes from its start to its first
//! HTTP answer (the harness's readiness probe, `HEAD /`, served by `pages`),
//! with the compile cache cold and then warm, and the first request of each
//! component after that against its steady state. The host
//! is the runner, or `UNLATCH_SPIN` (whose cache this does not control).
//!
//!   bash tests/bench.sh --startup

use std::time::{Duration, Instant};
use unlatch_bench::stats::ms;
use unlatch_e2e::App;

/// One cheap request per component (any answer will do: each is a fresh instance).
const PROBES: [(&str, &str, &str); 9] = [
    ("pages", "GET", "/"),
    ("identify", "POST", "/api/identify"),
    ("send-code", "POST", "/api/send-code"),
    ("verify-code", "POST", "/api/verify-code"),
    ("set-password", "POST", "/api/set-password"),
    ("unlock", "POST", "/api/unlock"),
    ("register", "GET", "/api/register/questions"),
    ("account", "GET", "/api/session"),
    ("admin", "GET", "/api/admin/users"),
];

fn timed(app: &App, method: &str, target: &str) -> Duration {
    let start = Instant::now();
    app.request(method, target, &[("content-type", "application/json")], b"{}");
    start.elapsed()
}

fn main() {
    let cache = std::env::temp_dir().join(format!("unlatch-startup-cache-{}", std::process::id()));
    // SAFETY: set before any thread is started; the host processes inherit it.
    unsafe { std::env::set_var("UNLATCH_RUNNER_CACHE", &cache) };
    let cold = App::start();
    let cold_ready = cold.ready_after();
    drop(cold);
    let app = App::start();
    println!("## Start-up\n");
    println!("| host start → first HTTP answer | ms |");
    println!("|---|---:|");
    println!("| compile cache empty | {} |", ms(cold_ready));
    println!("| compile cache warm | {} |", ms(app.ready_after()));
    println!("\n| component | first request ms | steady state ms (median of 20) |");
    println!("|---|---:|---:|");
    for (component, method, target) in PROBES {
        let first = timed(&app, method, target);
        let mut steady: Vec<Duration> = (0..20).map(|_| timed(&app, method, target)).collect();
        steady.sort();
        println!("| {component} | {} | {} |", ms(first), ms(steady[steady.len() / 2]));
    }
    drop(app);
    let _ = std::fs::remove_dir_all(&cache);
}
