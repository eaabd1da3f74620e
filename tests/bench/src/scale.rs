//! `unlatch-bench --scale [--users 1000,100000,1000000] [--backends sqlite,redis]
//! [--requests N] [--warmups W] [--sweeps K] [--max-seconds T] [--dir D]`
//!
//! For each backend and each size: seeds N users with 10 audit events each
//! straight into a fresh store (`seed`), starts the host on it (`spin up …
//! --runtime-config-file`, the runner or `UNLATCH_SPIN`), checks the seeded store by
//! signing in as a seeded user and reading their audit list over HTTP, then
//! times W untimed + N sequential requests per route (K for the sweep), each
//! route capped at T seconds, and reads the host's peak memory (the sum of
//! `VmHWM` over its process group). Prints a Markdown table per backend.

use crate::routes::{VARS, admin_get, admin_post, clear_contact_throttles, contact_admin};
use crate::seed::{self, Backend};
use crate::template::{self, EVENTS, Template};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use unlatch_bench::stats::{ms, percentile};
use unlatch_e2e::account::signin;
use unlatch_e2e::journey::*;
use unlatch_e2e::redis::RedisServer;
use unlatch_e2e::{App, Reply};

struct Options {
    users: Vec<u64>,
    backends: Vec<Backend>,
    requests: usize,
    warmups: usize,
    sweeps: usize,
    max: Duration,
    dir: PathBuf,
}

fn options(args: &[String]) -> Options {
    let mut o = Options {
        users: vec![1_000, 100_000, 1_000_000],
        backends: vec![Backend::Sqlite, Backend::Redis],
        requests: 200,
        warmups: 5,
        sweeps: 20,
        max: Duration::from_secs(120),
        dir: std::env::temp_dir(),
    };
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or_else(|| usage());
        let number = || value.parse::<usize>().ok().unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--users" => o.users = value.split(',').map(|n| n.parse().ok().filter(|&n| n > 0)).map(need).collect(),
            "--backends" => o.backends = value.split(',').map(backend).collect(),
            "--requests" => o.requests = number().max(1),
            "--warmups" => o.warmups = number(),
            "--sweeps" => o.sweeps = number(),
            "--max-seconds" => o.max = Duration::from_secs(number() as u64),
            "--dir" => o.dir = PathBuf::from(value),
            _ => usage(),
        }
    }
    o
}

fn need<T>(v: Option<T>) -> T {
    v.unwrap_or_else(|| usage())
}

fn backend(name: &str) -> Backend {
    match name {
        "sqlite" => Backend::Sqlite,
        "redis" => Backend::Redis,
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: unlatch-bench --scale [--users 1000,100000,1000000] [--backends sqlite,redis] [--requests N] \
         [--warmups W] [--sweeps K] [--max-seconds T] [--dir D]"
    );
    std::process::exit(2)
}

/// The routes timed, in table order.
const ROUTES: [&str; 9] = [
    "identify",
    "send-code (email)",
    "verify-code (right code)",
    "sign-in",
    "contact-admin",
    "admin users, first page",
    "admin users, middle page",
    "audit of one user",
    "maintenance sweep",
];

/// One route's latencies at one size.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    failed: usize,
    first_failure: Option<String>,
}

impl Samples {
    fn record(&mut self, took: Duration, reply: &Reply, expect: u16) {
        self.latencies.push(took);
        if reply.status != expect {
            self.failed += 1;
            self.first_failure.get_or_insert_with(|| format!("{} {}", reply.status, reply.text()));
        }
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
    }

    /// "p50 / p99" in ms, with the count when short of `wanted` and the failures.
    fn cell(&self, wanted: usize) -> String {
        let sorted = self.sorted();
        if sorted.is_empty() {
            return if wanted == 0 { "not run".into() } else { "no answer".into() };
        }
        let mut cell = format!("{} / {}", ms(percentile(&sorted, 0.5)), ms(percentile(&sorted, 0.99)));
        if sorted.len() < wanted {
            cell.push_str(&format!(" (n={})", sorted.len()));
        }
        if self.failed > 0 {
            cell.push_str(&format!(" ({} failed)", self.failed));
        }
        cell
    }

    fn p50(&self) -> Duration {
        percentile(&self.sorted(), 0.5)
    }
}

/// Everything measured at one size.
struct SizeResult {
    users: u64,
    seed: Duration,
    /// The host's peak memory before the sweep, and at the end.
    peak_kib: (u64, u64),
    routes: Vec<Route>,
}

fn timed(request: impl FnOnce() -> Reply) -> (Duration, Reply) {
    let t = Instant::now();
    let reply = request();
    (t.elapsed(), reply)
}

/// Like [`timed`], but a request the client gives up on (no answer in its
/// 120 s, e.g. a sweep of a million users' keys) is a failure, not the end of the run.
fn timed_or_failed(request: impl FnOnce() -> Reply) -> (Duration, Reply) {
    let t = Instant::now();
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(request)).unwrap_or_else(|_| Reply {
        status: 0,
        headers: Vec::new(),
        body: b"no answer (the client gave up)".to_vec(),
    });
    (t.elapsed(), reply)
}

/// How many requests of one route: untimed warm-ups, timed ones, and a cap on the time.
#[derive(Clone, Copy)]
struct Plan {
    warmups: usize,
    n: usize,
    max: Duration,
}

/// `plan.warmups` untimed then up to `plan.n` timed requests, within
/// `plan.max`; `before` runs untimed before each.
fn repeat(plan: Plan, expect: u16, mut before: impl FnMut(), request: impl Fn() -> Reply) -> Samples {
    let mut samples = Samples::default();
    let start = Instant::now();
    for i in 0..plan.warmups + plan.n {
        if start.elapsed() > plan.max {
            break;
        }
        before();
        let (took, reply) = timed_or_failed(&request);
        if i >= plan.warmups {
            samples.record(took, &reply, expect);
        }
    }
    samples
}

/// identify → send-code → verify-code, the code read from the dev outbox in
/// between (untimed), a fresh solved CAPTCHA per identify (untimed).
fn code_journeys(app: &App, o: &Options, username: &str) -> [Samples; 3] {
    let mut s: [Samples; 3] = Default::default();
    let start = Instant::now();
    for i in 0..o.warmups + o.requests {
        if start.elapsed() > o.max * 3 {
            break;
        }
        let captcha = solved_captcha(app);
        let body = json!({ "username": username, "captcha": captcha, "purpose": "reset" });
        let warm = i < o.warmups;
        let (took, reply) = timed(|| app.post_json("/api/identify", &body));
        record_unless(warm, &mut s[0], took, &reply, 200);
        let Some(flow) = (reply.status == 200).then(|| reply.json()["flow"].as_str().unwrap().to_owned()) else {
            continue;
        };
        let (took, reply) = timed(|| send_code(app, &flow, "email", EMAIL));
        record_unless(warm, &mut s[1], took, &reply, 202);
        if reply.status != 202 {
            continue;
        }
        let code = last_code(app);
        let (took, reply) = timed(|| verify_code(app, &flow, "email", &code));
        record_unless(warm, &mut s[2], took, &reply, 200);
    }
    s
}

fn record_unless(warm: bool, samples: &mut Samples, took: Duration, reply: &Reply, expect: u16) {
    if !warm {
        samples.record(took, reply, expect);
    }
}

/// Signs in as a seeded user and reads their audit list as the admin: the
/// seeded events are there, theirs, and the user index pages to them.
fn check_seed(app: &App, n: u64) {
    let k = n.div_ceil(2);
    let (name, id) = (seed::username(k), seed::user_id(k));
    let signed = signin(app, &name, PASSWORD);
    assert_eq!(signed.status, 200, "sign-in as a seeded user: {}", signed.text());
    let audit = admin_get(app, &format!("/api/admin/audit?user={name}&limit=500"));
    assert_eq!(audit.status, 200, "audit list: {}", audit.text());
    let events = audit.json()["events"].as_array().cloned().unwrap_or_default();
    assert!(events.iter().all(|e| e["user_id"] == id.as_str()), "only their events");
    let seeded = events.iter().filter(|e| e["seq"].as_u64().is_some_and(|s| s <= n * EVENTS as u64)).count();
    assert_eq!(seeded, EVENTS, "their seeded events: {events:?}");
    let page = admin_get(app, &format!("/api/admin/users?cursor={k}&limit=1"));
    assert_eq!(page.status, 200, "user list: {}", page.text());
    assert_eq!(page.json()["users"][0]["id"], id.as_str(), "the pager reaches the seeded user");
}

type Route = (&'static str, Samples, usize);

/// Every route at this size, on a host already serving the seeded store, and
/// the host's peak memory before the sweep.
fn measure(app: &App, o: &Options, n: u64) -> (Vec<Route>, u64) {
    let k = n.div_ceil(2);
    let (name, id) = (seed::username(k), seed::user_id(k));
    let [identify, send, verify] = code_journeys(app, o, &name);
    let store = app.store();
    let (r, p) = (o.requests, Plan { warmups: o.warmups, n: o.requests, max: o.max });
    let none = || {};
    let mut out = vec![(ROUTES[0], identify, r), (ROUTES[1], send, r), (ROUTES[2], verify, r)];
    out.push((ROUTES[3], repeat(p, 200, none, || signin(app, &name, PASSWORD)), r));
    let contact = repeat(p, 202, || clear_contact_throttles(&store, &name), || contact_admin(app, &name));
    out.push((ROUTES[4], contact, r));
    out.push((ROUTES[5], repeat(p, 200, none, || admin_get(app, "/api/admin/users")), r));
    let middle = format!("/api/admin/users?cursor={}", n / 2);
    out.push((ROUTES[6], repeat(p, 200, none, || admin_get(app, &middle)), r));
    let audit = format!("/api/admin/audit?user={id}");
    out.push((ROUTES[7], repeat(p, 200, none, || admin_get(app, &audit)), r));
    let peak_before_sweep = peak_kib(app.pid());
    // The sweep reads every key of the store (being rewritten): fewer calls, no
    // warm-up (the admin component is warm from the lists), none with `--sweeps 0`.
    let sweep = Plan { warmups: 0, n: o.sweeps, ..p };
    out.push((ROUTES[8], repeat(sweep, 200, none, || admin_post(app, "/api/admin/maintenance/sweep")), o.sweeps));
    (out, peak_before_sweep)
}

/// The host's peak resident memory: `VmHWM` summed over its process group
/// (`spin up` serves from a child process; the runner from itself).
fn peak_kib(pgid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let in_group = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After "(comm)": state, ppid, pgrp.
        stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok()) == Some(pgid)
    };
    let hwm = |pid: &str| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default().to_owned();
        line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let pids: Vec<String> = dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    pids.iter().filter(|p| p.bytes().all(|b| b.is_ascii_digit()) && in_group(p)).map(|p| hwm(p)).sum()
}

/// Checks the seeded store, measures, and reads the peak memory of the host on it.
fn serve(app: &App, o: &Options, n: u64, seed: Duration) -> SizeResult {
    check_seed(app, n);
    eprintln!("  seeded store checked over HTTP; measuring…");
    let (routes, before_sweep) = measure(app, o, n);
    let result = SizeResult { users: n, seed, peak_kib: (before_sweep, peak_kib(app.pid())), routes };
    for (route, samples, wanted) in &result.routes {
        eprintln!("  {route}: {}", samples.cell(*wanted));
        if let Some(f) = &samples.first_failure {
            eprintln!("    first unexpected answer: {}", f.chars().take(300).collect::<String>());
        }
    }
    eprintln!(
        "  host peak memory: {} MiB before the sweep, {} MiB after",
        before_sweep / 1024,
        result.peak_kib.1 / 1024
    );
    result
}

/// A seeded key-value file, deleted when dropped (also when the run panics).
struct SeededFile(PathBuf);

impl Drop for SeededFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run_sqlite(t: &Template, o: &Options, n: u64) -> SizeResult {
    let file = SeededFile(o.dir.join(format!("unlatch-scale-{}-{n}.db", std::process::id())));
    let path = &file.0;
    let start = Instant::now();
    seed::sqlite(t, path, n);
    let took = start.elapsed();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    eprintln!("  seeded in {:.1} s ({} MiB file)", took.as_secs_f64(), size >> 20);
    let app = App::start_on_sqlite(path, &VARS);
    serve(&app, o, n, took)
}

fn run_redis(t: &Template, o: &Options, n: u64) -> SizeResult {
    let server = RedisServer::start();
    let start = Instant::now();
    seed::redis(t, server.url(), n);
    let took = start.elapsed();
    eprintln!("  seeded in {:.1} s", took.as_secs_f64());
    let app = App::start_on_redis(server.url(), &VARS);
    serve(&app, o, n, took)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_table(backend: Backend, results: &[SizeResult]) {
    let (first, last) = (&results[0], &results[results.len() - 1]);
    let ratio = |i: usize| {
        let (a, b) = (first.routes[i].1.p50().as_secs_f64(), last.routes[i].1.p50().as_secs_f64());
        if a > 0.0 && b > 0.0 { format!("{:.2}×", b / a) } else { "—".into() }
    };
    println!("\n### {} (p50 / p99 ms)\n", backend.name());
    let sizes: Vec<String> = results.iter().map(|r| format!("{} users", thousands(r.users))).collect();
    println!("| route | {} | p50 {} / {} |", sizes.join(" | "), thousands(last.users), thousands(first.users));
    println!("|---|{}---:|", "---:|".repeat(results.len()));
    for (i, route) in ROUTES.iter().enumerate() {
        let cells: Vec<String> = results.iter().map(|r| r.routes[i].1.cell(r.routes[i].2)).collect();
        println!("| {route} | {} | {} |", cells.join(" | "), ratio(i));
    }
    let row = |name: &str, cell: &dyn Fn(&SizeResult) -> String| {
        println!("| {name} | {} | |", results.iter().map(cell).collect::<Vec<_>>().join(" | "));
    };
    row("seeding (not a request)", &|r| format!("{:.1} s", r.seed.as_secs_f64()));
    row("host peak memory before the sweep", &|r| format!("{} MiB", r.peak_kib.0 / 1024));
    row("host peak memory after the sweeps", &|r| format!("{} MiB", r.peak_kib.1 / 1024));
}

pub fn run(args: &[String]) {
    let o = options(args);
    eprintln!("capturing the template records from a throwaway host…");
    let t = template::capture();
    for &backend in &o.backends {
        let mut results = Vec::new();
        for &n in &o.users {
            eprintln!("{}: seeding {} users…", backend.name(), thousands(n));
            results.push(match backend {
                Backend::Sqlite => run_sqlite(&t, &o, n),
                Backend::Redis => run_redis(&t, &o, n),
            });
        }
        print_table(backend, &results);
    }
    println!(
        "\n{} sequential requests per route after {} warm-ups ({} sweeps, no warm-up), each route capped at {} s; host: {}.",
        o.requests,
        o.warmups,
        o.sweeps,
        o.max.as_secs(),
        unlatch_e2e::app::host_binary().display()
    );
}
