//! Argon2id parameter sets (not a test): the OWASP-equivalent sets, each timed
//! natively (the Rust `argon2` crate in this process, and libargon2 through
//! the `argon2` command) and inside a Spin component (the argon-probe fixture
//! in the runner), the component built without and with
//! `-C target-feature=+simd128`. Prints a Markdown table of medians, the
//! component's against both native ones.
//!
//!   cargo run --profile bench-native -p unlatch-bench --bin argon_params -- \
//!     <argon_probe.wasm without simd128> <argon_probe.wasm with simd128> [--hashes K]
//!
//! `tests/bench.sh --argon` builds both components and runs it.

use std::path::Path;
use std::time::{Duration, Instant};
use unlatch_bench::libargon2;
use unlatch_bench::stats::{median, ms};
use unlatch_core::{OsRandom, hashing};
use unlatch_e2e::client;
use unlatch_runner::{Runner, RunnerConfig};

/// (m KiB, t) with p=1: OWASP's equivalent choices, the first the shipped one before measuring.
const SETS: [(u32, u32); 4] = [(19456, 2), (12288, 3), (9216, 4), (7168, 5)];

/// Medians of `k` hashes timed inside the component at `wasm`, per set.
fn in_component(wasm: &Path, k: usize) -> Vec<Duration> {
    let dir = std::env::temp_dir().join(format!("unlatch-argon-{}-{}", std::process::id(), k));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("spin.toml");
    let wasm = wasm.canonicalize().expect("the argon-probe component is built");
    let text = format!(
        "spin_manifest_version = 2\n[application]\nname = \"argon\"\nversion = \"0.1.0\"\n[[trigger.http]]\nroute = \"/argon/...\"\ncomponent = \"argon\"\n[component.argon]\nsource = \"{}\"\n",
        wasm.display()
    );
    std::fs::write(&manifest, text).unwrap();
    let config = RunnerConfig {
        manifest,
        listen: "127.0.0.1:0".parse().unwrap(),
        sqlite: Some(dir.join("kv.db")),
        ..Default::default()
    };
    let probe = Runner::start(config).expect("the argon-probe component starts");
    let addr = probe.addr();
    let medians = SETS
        .iter()
        .map(|(m, t)| {
            let target = format!("/argon/hash?m={m}&t={t}");
            let once = || {
                let r = client::send(addr, "GET", &target, &[], b"");
                assert_eq!(r.status, 200, "{target}: {}", r.text());
                let prefix = format!("$argon2id$v=19$m={m},t={t},p=1$");
                assert!(r.json()["phc_prefix"].as_str().unwrap_or("").starts_with(&prefix));
                Duration::from_micros(r.json()["micros"].as_u64().unwrap())
            };
            once();
            median((0..k).map(|_| once()).collect())
        })
        .collect();
    probe.stop();
    let _ = std::fs::remove_dir_all(&dir);
    medians
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(plain), Some(simd)) = (args.first(), args.get(1)) else {
        eprintln!("usage: argon_params <argon_probe.wasm> <argon_probe-simd128.wasm> [--hashes K]");
        std::process::exit(2);
    };
    let k: usize = args.windows(2).find(|w| w[0] == "--hashes").and_then(|w| w[1].parse().ok()).unwrap_or(15);
    let by_crate: Vec<Duration> = SETS
        .iter()
        .map(|(m, t)| {
            let once = || {
                let start = Instant::now();
                hashing::hash_with_params(&OsRandom, "correct horse battery staple", *m, *t).expect("valid set");
                start.elapsed()
            };
            once();
            median((0..k).map(|_| once()).collect())
        })
        .collect();
    let by_libargon2: Vec<Duration> = SETS.iter().map(|(m, t)| libargon2::median_of(k, *m, *t)).collect();
    let plain = in_component(Path::new(plain), k);
    let simd = in_component(Path::new(simd), k);
    println!("## Argon2id parameter sets, p=1 (median of {k}; component times taken inside it)\n");
    println!(
        "Native: the Rust `argon2` crate in this process (crate), and libargon2 through the `argon2` command (the CPU time it prints, in whole milliseconds).\n"
    );
    println!(
        "| m KiB, t | crate ms | libargon2 ms | component ms | vs crate | vs libargon2 | component +simd128 ms | vs crate | vs libargon2 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, (m, t)) in SETS.iter().enumerate() {
        let ratios = |d: Duration| {
            let ratio = |base: Duration| d.as_secs_f64() / base.as_secs_f64();
            format!("{:.2}× | {:.2}×", ratio(by_crate[i]), ratio(by_libargon2[i]))
        };
        println!(
            "| {m}, {t} | {} | {} | {} | {} | {} | {} |",
            ms(by_crate[i]),
            ms(by_libargon2[i]),
            ms(plain[i]),
            ratios(plain[i]),
            ms(simd[i]),
            ratios(simd[i])
        );
    }
}
