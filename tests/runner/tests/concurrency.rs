//! Atomic increments under concurrency: many requests, two runners, two processes.

mod common;

use common::{Fixture, get};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::io::{BufRead, BufReader};
use unlatch_runner::{Runner, RunnerConfig};

/// `threads` clients, each sending `per_thread` increments of `key`, spread over `addrs`.
fn hammer(addrs: &[SocketAddr], key: &str, threads: usize, per_thread: usize) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let addr = addrs[t % addrs.len()];
            s.spawn(move || {
                for _ in 0..per_thread {
                    let r = get(addr, &format!("/probe?op=incr&key={key}"));
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            });
        }
    });
}

#[test]
fn eight_threads_times_500_increments_make_4000() {
    let fx = Fixture::new();
    let app = fx.start();
    let started = std::time::Instant::now();
    hammer(&[app.addr()], "hits", 8, 500);
    eprintln!("4000 increments in {:?}", started.elapsed());
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=hits").body, "4000");
}

#[test]
fn two_runners_on_one_database_add_up() {
    let fx = Fixture::new();
    let db = fx.dir.path().join("shared.db");
    let start = || Runner::start(RunnerConfig { sqlite: Some(db.clone()), ..fx.config() }).unwrap();
    let (a, b) = (start(), start());
    hammer(&[a.addr(), b.addr()], "shared", 6, 200);
    assert_eq!(get(a.addr(), "/probe?op=kv-get&key=shared").body, "1200");
    assert_eq!(get(b.addr(), "/probe?op=kv-get&key=shared").body, "1200");
}

/// The CLI on a free port; returns the child and the address it printed.
fn spawn_cli(manifest: &std::path::Path, db: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--quiet", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(manifest)
        .arg("--sqlite")
        .arg(db)
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
fn two_processes_on_one_database_add_up() {
    let fx = Fixture::new();
    let db = fx.dir.path().join("procs.db");
    let (mut a, addr_a) = spawn_cli(&fx.manifest(), &db);
    let (mut b, addr_b) = spawn_cli(&fx.manifest(), &db);
    hammer(&[addr_a, addr_b], "procs", 6, 200);
    let total = get(addr_a, "/probe?op=kv-get&key=procs").body;
    a.kill().unwrap();
    b.kill().unwrap();
    let _ = (a.wait(), b.wait());
    assert_eq!(total, "1200");
}
