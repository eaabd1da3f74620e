//! The `unlatch-runner` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn up_prints_address_and_routes_then_serves() {
    let fx = common::Fixture::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(fx.manifest())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || lines.next().unwrap().unwrap();
    let serving = next();
    let addr = serving.strip_prefix("Serving http://").unwrap().to_string();
    assert_eq!(next(), "Available Routes:");
    let routes: Vec<String> = (0..5).map(|_| next()).collect();
    assert_eq!(routes[0], format!("  probe: http://{addr}/probe/..."));
    assert!(routes.contains(&format!("  restricted: http://{addr}/api/admin/...")));
    let r = common::get(addr.parse().unwrap(), "/exact?op=env");
    assert_eq!(r.body, "probe");
    // Component stdout reaches the runner's stdout, prefixed with the component id.
    let r = common::get(addr.parse().unwrap(), "/exact?op=log&msg=hello+there");
    assert_eq!(r.body, "logged");
    assert_eq!(next(), "[probe] hello there");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn startup_errors_exit_non_zero_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--manifest", "/nonexistent/spin.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/spin.toml"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner")).arg("down").output().unwrap();
    assert!(!out.status.success());
}
