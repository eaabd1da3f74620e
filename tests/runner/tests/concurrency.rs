//! Atomic increments under concurrency: many requests, two runners, two processes.

mod common;

use common::{Fixture, get};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use unlatch_runner::{Runner, RunnerConfig};

/// `threads` clients, each sending `per_thread` increments of `key`, spread
/// over `addrs`; returns how many the host reported as done.
fn hammer(addrs: &[SocketAddr], key: &str, threads: usize, per_thread: usize) -> usize {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let addr = addrs[t % addrs.len()];
                s.spawn(move || {
                    (0..per_thread).filter(|_| get(addr, &format!("/probe?op=incr&key={key}")).status == 200).count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

fn counter(addr: SocketAddr, key: &str) -> String {
    get(addr, &format!("/probe?op=incr&key={key}&delta=0")).body
}

#[test]
fn eight_threads_times_500_increments_make_4000() {
    let fx = Fixture::new();
    let app = fx.start();
    let started = std::time::Instant::now();
    assert_eq!(hammer(&[app.addr()], "hits", 8, 500), 4000, "one host never fails an increment");
    eprintln!("4000 increments in {:?}", started.elapsed());
    assert_eq!(counter(app.addr(), "hits"), "4000");
}

/// Two hosts on one SQLite file is not a setup Spin supports (its store takes
/// no write lock before reading, so two processes can deadlock and one gets
/// SQLITE_BUSY). What must hold is that no increment reported as done is lost.
#[test]
fn two_runners_on_one_database_lose_no_reported_increment() {
    let fx = Fixture::new();
    let db = fx.dir.path().join("shared.db");
    let start = || Runner::start(RunnerConfig { sqlite: Some(db.clone()), ..fx.config() }).unwrap();
    let (a, b) = (start(), start());
    let done = hammer(&[a.addr(), b.addr()], "shared", 6, 200);
    assert!(done > 0);
    assert_eq!(counter(a.addr(), "shared"), done.to_string());
    assert_eq!(counter(b.addr(), "shared"), done.to_string());
}

/// The CLI on a free port; returns the child and the address it printed.
fn spawn_cli(manifest: &std::path::Path, state_dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state_dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    let addr = first.strip_prefix("Serving http://").unwrap_or_else(|| panic!("{first}"));
    let addr = addr.parse().unwrap();
    // Keep draining the routes table so the child never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

#[test]
fn two_processes_on_one_database_lose_no_reported_increment() {
    let fx = Fixture::new();
    let state = fx.dir.path().join("state");
    let (mut a, addr_a) = spawn_cli(&fx.manifest(), &state);
    let (mut b, addr_b) = spawn_cli(&fx.manifest(), &state);
    let done = hammer(&[addr_a, addr_b], "procs", 6, 200);
    let total = counter(addr_a, "procs");
    a.kill().unwrap();
    b.kill().unwrap();
    let _ = (a.wait(), b.wait());
    assert!(state.join("sqlite_key_value.db").is_file(), "the store lives in the state directory");
    assert_eq!(total, done.to_string());
}
