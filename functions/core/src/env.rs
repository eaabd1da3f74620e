//! Time and randomness seams, so flows and codes are testable with a fixed clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub trait Clock {
    fn now(&self) -> u64;
}

/// The host's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// Cryptographically secure random bytes.
pub trait Random {
    fn fill(&self, buf: &mut [u8]);
}

/// The OS CSPRNG through getrandom (`wasi:random` inside a component).
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        // Without entropy no secret can be made safely; there is no fallback.
        getrandom::fill(buf).expect("the OS random source failed");
    }
}
