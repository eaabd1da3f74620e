//! `unlatch-bench [--requests N] [--concurrency C] [--max-seconds T] [--hashes K]`
//!
//! Starts the app from `spin.toml` in the runner, in this process, on
//! 127.0.0.1:0 with a fresh SQLite key-value file; seeds a user through core;
//! then, for the baselines, the CAPTCHA challenge, identify, send-code,
//! verify-code, unlock, sign-in (known and unknown user) and set-password,
//! sends N requests (N/10 for unlock, whose each request needs a locked user
//! of its own, and for the three hashing steps) from C
//! client threads (each on a fresh loopback connection, at most T seconds per
//! step) and reports requests/s and p50/p99 latency. Everything a timed request
//! needs (solved CAPTCHAs, flows, codes) is prepared untimed beforehand, and the
//! policy's throttles are raised so the bench measures the server, not the
//! 429 path. Each step runs next to a baseline component in the same host (one
//! key-value read, one write per request), its requests/s given as a share of
//! the write's, with the key-value operations the runner counted for it
//! (`UNLATCH_KV_STATS`). Argon2id at the shipped parameters: K hashes natively (the
//! Rust `argon2` crate in this process, and libargon2 through the `argon2`
//! command) vs K hashes inside a Spin component (`tests/fixtures/argon-probe`),
//! timed both inside the component and as an HTTP round trip minus a no-op one;
//! the sign-in (known and unknown user) and set-password p50s against both
//! native hashes.
//!
//! `unlatch-bench --scale …`: the scale benchmark instead (`scale.rs`).

mod routes;
mod scale;
mod seed;
mod template;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use unlatch_bench::libargon2;
use unlatch_bench::stats::{median, ms, percentile};
use unlatch_core::{OsRandom, hashing, users};
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply, client};
use unlatch_runner::{Runner, RunnerConfig};

struct Options {
    requests: usize,
    concurrency: usize,
    max_seconds: u64,
    hashes: usize,
}

fn options() -> Options {
    let mut o = Options { requests: 1000, concurrency: 8, max_seconds: 60, hashes: 10 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = || pair.get(1).and_then(|v| v.parse::<usize>().ok()).unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--requests" => o.requests = value().max(1),
            "--concurrency" => o.concurrency = value().max(1),
            "--max-seconds" => o.max_seconds = value() as u64,
            "--hashes" => o.hashes = value().max(1),
            _ => usage(),
        }
    }
    o
}

fn usage() -> ! {
    eprintln!("usage: unlatch-bench [--requests N] [--concurrency C] [--max-seconds T] [--hashes K]");
    std::process::exit(2)
}

/// One timed step: how many requests were answered, how many not as expected,
/// the wall time and each latency.
struct Run {
    name: &'static str,
    ok: usize,
    failed: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    first_failure: Option<String>,
}

/// Sends `request(i)` for i in 0..n from `c` threads, stopping new requests after `max`.
fn timed(
    name: &'static str,
    n: usize,
    c: usize,
    max: Duration,
    expect: u16,
    request: impl Fn(usize) -> Reply + Sync,
) -> (Run, Vec<Option<Reply>>) {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(Duration, Reply)>>> = Mutex::new((0..n).map(|_| None).collect());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..c.min(n) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || start.elapsed() > max {
                        break;
                    }
                    let t = Instant::now();
                    let reply = request(i);
                    let took = t.elapsed();
                    results.lock().unwrap()[i] = Some((took, reply));
                }
            });
        }
    });
    let wall = start.elapsed();
    let results = results.into_inner().unwrap();
    let mut run = Run { name, ok: 0, failed: 0, wall, latencies: Vec::new(), first_failure: None };
    let mut replies = Vec::with_capacity(n);
    for r in results {
        match r {
            Some((took, reply)) => {
                run.latencies.push(took);
                if reply.status == expect {
                    run.ok += 1;
                } else {
                    run.failed += 1;
                    run.first_failure.get_or_insert_with(|| format!("{} {}", reply.status, reply.text()));
                }
                replies.push(Some(reply));
            }
            None => replies.push(None),
        }
    }
    run.latencies.sort();
    (run, replies)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cores} cores, {cpu}, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The app's manifest plus a baseline component (the runner's probe fixture:
/// one key-value read or one write per request), written beside `spin.toml`
/// so its relative paths hold; the steps are measured next to it, in one host.
fn manifest_with_baseline() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let app = std::fs::read_to_string(root.join("spin.toml")).expect("spin.toml");
    let baseline = "\n[[trigger.http]]\nroute = \"/bench-baseline\"\ncomponent = \"bench-baseline\"\n\n\
        [component.bench-baseline]\nsource = \"target/wasm32-wasip2/release/runner_probe.wasm\"\n\
        key_value_stores = [\"default\"]\n";
    let path = root.join("bench.spin.toml");
    std::fs::write(&path, format!("{app}{baseline}")).expect("write bench.spin.toml");
    path
}

/// The key-value operations the runner counted for a step (`UNLATCH_KV_STATS`),
/// from its first answer as expected; "n/a" on a host that does not count.
fn kv_ops(replies: &[Option<Reply>], expect: u16) -> String {
    replies
        .iter()
        .flatten()
        .find(|r| r.status == expect)
        .and_then(|r| r.header("unlatch-kv-ops"))
        .unwrap_or("n/a")
        .to_owned()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--scale") {
        return scale::run(&args[1..]);
    }
    let o = options();
    let max = Duration::from_secs(o.max_seconds);
    // SAFETY: set before any thread starts; the host process inherits it.
    unsafe { std::env::set_var("UNLATCH_KV_STATS", "1") };
    let manifest = manifest_with_baseline();
    let app = App::start_manifest(&manifest, &[("dev_mode", "true")]);
    let _ = std::fs::remove_file(&manifest);
    set_policy(&app, routes::bench_policy);
    user_with_everything(&app, "bench@contoso.com");
    let addr = app.addr();
    let post = |target: &str, body: &Value| {
        client::send(addr, "POST", target, &[("content-type", "application/json")], &serde_json::to_vec(body).unwrap())
    };
    let get = |target: &str| client::send(addr, "GET", target, &[], b"");
    assert_eq!(get("/bench-baseline?op=kv-set&key=bench&value=v").status, 200, "the baseline component answers");

    // Warm-up: every instance path once.
    let warm = start_flow(&app, "bench@contoso.com", "reset");
    pass_code_gate(&app, &warm, "email", EMAIL);

    let n = o.requests;
    let c = o.concurrency;
    eprintln!("solving {n} CAPTCHAs (untimed)…");
    let captchas: Vec<Value> = (0..n).map(|_| solved_captcha(&app)).collect();

    let mut runs = Vec::new();
    // The hashing steps run one at a time: their p50 is then one request's own
    // cost (compared with one native hash), not a queue of hashes on few cores.
    let mut step = |name: &'static str, expect, request: &(dyn Fn(usize) -> Reply + Sync), count| {
        let clients = if name.starts_with("sign-in") || name.starts_with("set-password") { 1 } else { c };
        let (run, replies) = timed(name, count, clients, max, expect, request);
        runs.push((run, kv_ops(&replies, expect)));
        replies
    };
    step("baseline: one KV read", 200, &|_| get("/bench-baseline?op=kv-get&key=bench"), n);
    step("baseline: one KV write", 200, &|i| get(&format!("/bench-baseline?op=kv-set&key=bench&value={i}")), n);
    step("CAPTCHA challenge", 200, &|_| get("/api/identify/challenge"), n);
    let replies = step(
        "identify",
        200,
        &|i| {
            post(
                "/api/identify",
                &json!({ "username": "bench@contoso.com", "captcha": captchas[i], "purpose": "reset" }),
            )
        },
        n,
    );
    let flows: Vec<String> = replies
        .iter()
        .flatten()
        .filter(|r| r.status == 200)
        .map(|r| r.json()["flow"].as_str().unwrap().to_owned())
        .collect();
    step(
        "send-code (email)",
        202,
        &|i| post("/api/send-code", &json!({ "flow": flows[i], "method": "email", "destination": EMAIL })),
        flows.len(),
    );
    eprintln!("sending {} fresh codes and reading them from the dev outbox (untimed)…", flows.len());
    let codes: Vec<String> = flows
        .iter()
        .map(|flow| {
            let sent = send_code(&app, flow, "email", EMAIL);
            assert_eq!(sent.status, 202, "{}", sent.text());
            last_code(&app)
        })
        .collect();
    step(
        "verify-code (right code)",
        200,
        &|i| post("/api/verify-code", &json!({ "flow": flows[i], "method": "email", "code": codes[i] })),
        flows.len(),
    );
    // Unlock and the hashing steps: fewer requests (an unlock's set-up is a
    // user, one Argon2id hash; a hashing step's request is a run or two).
    let hashed = (n / 10).max(10);
    eprintln!("creating {hashed} locked users and walking their unlocks past the email gate (untimed)…");
    let unlocks: Vec<String> = (0..hashed)
        .map(|i| {
            let username = format!("locked-{i}@contoso.com");
            let locked = user_with(&app, &username, |_| {});
            users::lock(&app.store(), &locked.id, None).expect("lock the user");
            let flow = start_flow(&app, &username, "unlock");
            pass_code_gate(&app, &flow, "email", EMAIL);
            flow
        })
        .collect();
    step("unlock", 200, &|i| post("/api/unlock", &json!({ "flow": unlocks[i] })), hashed);
    step(
        "sign-in (right password)",
        200,
        &|_| post("/api/signin", &json!({ "username": "bench@contoso.com", "password": PASSWORD })),
        hashed,
    );
    // A name per request, so none reaches a lockout threshold; its work is one
    // Argon2id verification against a dummy hash.
    step(
        "sign-in (unknown user)",
        401,
        &|i| post("/api/signin", &json!({ "username": format!("nobody-{i}@contoso.com"), "password": PASSWORD })),
        hashed,
    );
    eprintln!("walking {hashed} resets to set-password (untimed)…");
    let verified: Vec<String> = (0..hashed)
        .map(|_| {
            let flow = start_flow(&app, "bench@contoso.com", "reset");
            pass_code_gate(&app, &flow, "email", EMAIL);
            flow
        })
        .collect();
    step(
        "set-password (reset)",
        200,
        &|i| post("/api/set-password", &json!({ "flow": verified[i], "new_password": format!("Lantern-{i}-Sky!x9q") })),
        hashed,
    );

    println!("## Steps next to a one-read and a one-write baseline ({})\n", machine());
    println!(
        "Up to {n} requests per step ({hashed} for unlock and the hashing steps), {c} client threads (one for the hashing steps), loopback, a new connection per request.\n"
    );
    println!(
        "| step | requests | not as expected | requests/s | % of one-write baseline | p50 ms | p99 ms | KV operations per request |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let rate = |r: &Run| (r.ok + r.failed) as f64 / r.wall.as_secs_f64();
    let write_rate = runs.iter().find(|(r, _)| r.name == "baseline: one KV write").map(|(r, _)| rate(r)).unwrap_or(1.0);
    for (r, ops) in &runs {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} % | {} | {} | {} |",
            r.name,
            r.ok + r.failed,
            r.failed,
            rate(r),
            rate(r) / write_rate * 100.0,
            ms(percentile(&r.latencies, 0.50)),
            ms(percentile(&r.latencies, 0.99)),
            ops
        );
    }
    for (r, _) in &runs {
        if let Some(f) = &r.first_failure {
            println!("\n{}: first unexpected answer: {f}", r.name);
        }
    }
    let p50 = |name: &str| runs.iter().find(|(r, _)| r.name == name).map(|(r, _)| percentile(&r.latencies, 0.50));
    let (signin_p50, set_p50) = (p50("sign-in (right password)").unwrap(), p50("set-password (reset)").unwrap());
    let unknown_p50 = p50("sign-in (unknown user)").unwrap();
    drop(app);

    // Argon2id, native: the Rust crate in this process, and libargon2.
    let k = o.hashes;
    let (m, t) = (hashing::M_COST_KIB, hashing::T_COST);
    let native: Vec<Duration> = (0..k)
        .map(|_| {
            let start = Instant::now();
            hashing::hash(&OsRandom, "correct horse battery staple").expect("a hash");
            start.elapsed()
        })
        .collect();
    let libargon2_med = libargon2::median_of(k, m, t);

    // Argon2id in a component: the argon-probe fixture in its own runner.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/argon-probe/spin.toml");
    let dir = std::env::temp_dir().join(format!("unlatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let probe = Runner::start(RunnerConfig {
        manifest,
        listen: "127.0.0.1:0".parse().unwrap(),
        sqlite: Some(dir.join("kv.db")),
        env_vars: Default::default(),
        ..Default::default()
    })
    .expect("the argon-probe fixture starts (build it with tests/bench.sh)");
    let paddr = probe.addr();
    let get = |target: &str| {
        let t = Instant::now();
        let r = client::send(paddr, "GET", target, &[], b"");
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        (t.elapsed(), r)
    };
    get("/argon/hash");
    get("/argon/noop");
    let mut inside = Vec::new();
    let mut round_trip = Vec::new();
    let mut noop = Vec::new();
    for _ in 0..k {
        let (took, reply) = get("/argon/hash");
        let phc = reply.json()["phc_prefix"].as_str().unwrap_or("").to_owned();
        assert!(phc.starts_with(&hashing::production_prefix()), "{phc}");
        inside.push(Duration::from_micros(reply.json()["micros"].as_u64().unwrap()));
        round_trip.push(took);
        noop.push(get("/argon/noop").0);
    }
    probe.stop();
    let _ = std::fs::remove_dir_all(&dir);

    let (native_med, inside_med) = (median(native), median(inside));
    let http = median(round_trip).saturating_sub(median(noop));
    println!("\n## Argon2id m={m} KiB, t={t}, p=1, the shipped parameters (median of {k})\n");
    println!("| where | ms | vs native (crate) | vs native (libargon2) |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, d: Duration| {
        let ratio = |base: Duration| d.as_secs_f64() / base.as_secs_f64();
        println!("| {what} | {} | {:.2}× | {:.2}× |", ms(d), ratio(native_med), ratio(libargon2_med));
    };
    row("native: Rust `argon2` crate, this process", native_med);
    row("native: libargon2, `argon2` command (CPU time it prints, whole ms)", libargon2_med);
    row("in component, timed inside (WASI clock)", inside_med);
    row("in component, HTTP round trip − no-op round trip", http);
    row("sign-in p50 (one verify)", signin_p50);
    row("sign-in of an unknown user p50 (one verify)", unknown_p50);
    row("set-password p50 (two hashes)", set_p50);
    println!("\nset-password p50 − sign-in p50 = {} ms.", ms(set_p50.saturating_sub(signin_p50)));
}
