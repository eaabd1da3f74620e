//! The `unlatch-runner` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn up_prints_address_and_routes_then_serves() {
    let fx = common::Fixture::new();
    // The command line `spin up` takes, with the store named in a runtime config.
    let config = fx.dir.path().join("runtime-config.toml");
    std::fs::write(&config, "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(fx.manifest())
        .arg("--runtime-config-file")
        .arg(&config)
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
    common::get(addr.parse().unwrap(), "/exact?op=kv-set&key=a&value=b");
    assert!(fx.dir.path().join("data/kv.db").is_file(), "relative paths are under the runtime config's directory");
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn startup_errors_exit_non_zero_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "-f", "/nonexistent/spin.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/spin.toml"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner")).arg("down").output().unwrap();
    assert!(!out.status.success());

    // Flags `spin up` does not have (or means otherwise, like `--sqlite`) are refused.
    for flag in ["--sqlite", "--manifest", "--quiet"] {
        let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner")).args(["up", flag, "x"]).output().unwrap();
        assert!(!out.status.success(), "{flag}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option"), "{flag}");
    }
}
