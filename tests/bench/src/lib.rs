//! What the benchmark binaries share: latency statistics and their format,
//! and the libargon2 baseline.

pub mod stats {
    use std::time::Duration;

    /// The `q` quantile (nearest rank) of sorted latencies; zero for none.
    pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    pub fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    /// Milliseconds, two decimals.
    pub fn ms(d: Duration) -> String {
        format!("{:.2}", d.as_secs_f64() * 1000.0)
    }
}

/// Argon2id by libargon2, the reference C implementation, through Debian's
/// `argon2` command (package `argon2`, 0~20171227; `tests/bench.sh` installs
/// it): the native baseline issue 13 names, next to the Rust `argon2` crate
/// that core uses. Run as a command, so no crate links libargon2.
pub mod libargon2 {
    use super::stats::median;
    use std::io::Write;
    use std::process::{Command, Stdio};
    use std::time::Duration;
    use unlatch_core::hashing::P_COST;

    /// One Argon2id hash of a password at `m_kib` KiB, `t` passes, p = core's
    /// `P_COST`, a 32-byte output and a 16-byte salt. The time is the one the
    /// command prints: CPU time around the hash alone (its `clock()`, whole
    /// milliseconds), so process start-up is not counted. Panics if the
    /// command is missing or fails, or its output does not parse or names
    /// other parameters.
    pub fn hash(m_kib: u32, t: u32) -> Duration {
        let args = format!("somesalt16bytes! -id -t {t} -k {m_kib} -p {P_COST} -l 32");
        let mut child = Command::new("argon2")
            .args(args.split(' '))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the `argon2` command (Debian package argon2; tests/bench.sh installs it)");
        child.stdin.take().unwrap().write_all(b"correct horse battery staple").unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "argon2 {args} failed: {text}");
        let encoded = text.lines().find_map(|l| l.strip_prefix("Encoded:\t")).unwrap_or("");
        let prefix = format!("$argon2id$v=19$m={m_kib},t={t},p={P_COST}$");
        assert!(encoded.starts_with(&prefix), "argon2 {args}: expected {prefix}… in: {text}");
        let hex = text.lines().find_map(|l| l.strip_prefix("Hash:\t\t")).unwrap_or("");
        assert_eq!(hex.len(), 64, "argon2 {args}: expected a 32-byte hash in: {text}");
        let seconds = text.lines().find_map(|l| l.strip_suffix(" seconds")).and_then(|s| s.trim().parse::<f64>().ok());
        Duration::from_secs_f64(seconds.unwrap_or_else(|| panic!("argon2 {args}: no time in: {text}")))
    }

    /// The median of `k` such hashes.
    pub fn median_of(k: usize, m_kib: u32, t: u32) -> Duration {
        median((0..k).map(|_| hash(m_kib, t)).collect())
    }
}
