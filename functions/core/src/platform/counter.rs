//! Counters: the only code that touches counter keys (see `docs/design.md`, "Counters").
//!
//! Spin's backends store what `wasi:keyvalue/atomics.increment` makes in two
//! ways: SQLite keeps an 8-byte little-endian i64, Redis keeps decimal text
//! (what `INCRBY` writes). Spin's SQLite host panics when it increments a value
//! that is not 8 bytes, so a counter key must never be written with `set`: every
//! counter key lives in one of [`keys::COUNTER_FAMILIES`], and no other key is ever
//! incremented.
//!
//! Reading: a plain `get` plus [`decode`], not `increment(key, 0)`. On Spin's
//! SQLite store `increment` is a read-then-write transaction on its single
//! connection, about 5x the cost of a `get` (measured in `tests/runner/README.md`),
//! and `increment(key, 0)` would create absent keys, letting a reader grow the
//! store. A `get` of an absent counter is 0 and writes nothing.

use crate::platform::keys;
use crate::platform::store::{Store, StoreError};

/// A counter's value from either backend's encoding. An all-digit value (with an
/// optional leading `-`) is Redis' decimal text; otherwise exactly 8 bytes are
/// SQLite's little-endian i64. The two cannot be confused for any count the app
/// makes: a little-endian value below 2^56 has a zero high byte, never a digit.
pub fn decode(bytes: &[u8]) -> Result<i64, StoreError> {
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        // Only ASCII, so the text is valid UTF-8; a parse error is an overflow.
        return std::str::from_utf8(bytes).ok().and_then(|s| s.parse().ok()).ok_or(StoreError::NotACounter);
    }
    let raw: [u8; 8] = bytes.try_into().map_err(|_| StoreError::NotACounter)?;
    Ok(i64::from_le_bytes(raw))
}

/// How a backend that stores counters the SQLite way encodes `n`.
pub fn encode_le(n: i64) -> [u8; 8] {
    n.to_le_bytes()
}

/// One counter key in the store.
pub struct Counter<'s> {
    store: &'s dyn Store,
    key: String,
}

impl<'s> Counter<'s> {
    /// The counter at `key`, which must be in one of the counter families.
    pub fn new(store: &'s dyn Store, key: impl Into<String>) -> Self {
        let key = key.into();
        debug_assert!(keys::is_counter(&key), "`{key}` is not in a counter family");
        Counter { store, key }
    }

    /// Adds `delta` atomically and returns the new value (absent counts as 0).
    pub fn add(&self, delta: i64) -> Result<i64, StoreError> {
        self.store.increment(&self.key, delta)
    }

    /// The current value; an absent counter is 0, and reading writes nothing.
    pub fn read(&self) -> Result<i64, StoreError> {
        self.store.get(&self.key)?.map_or(Ok(0), |bytes| decode(&bytes))
    }

    /// First claim wins: only the caller that moves the counter from 0 to 1
    /// owns it (CAS on an absent key is not atomic on Spin's SQLite backend).
    pub fn claim(&self) -> Result<bool, StoreError> {
        Ok(self.add(1)? == 1)
    }

    /// Removes the counter (it reads 0 again).
    pub fn delete(&self) -> Result<(), StoreError> {
        self.store.delete(&self.key)
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::MemoryStore;

    #[test]
    fn decodes_sqlite_little_endian_and_redis_decimal() {
        for n in [0i64, 1, 5, 10, 255, 256, 12_345_678, 1_796_000_000, -1, -7, i64::MAX, i64::MIN] {
            assert_eq!(decode(&n.to_le_bytes()).unwrap(), n, "little-endian {n}");
            assert_eq!(decode(n.to_string().as_bytes()).unwrap(), n, "decimal {n}");
        }
        // Eight decimal digits are text, not a little-endian value.
        assert_eq!(decode(b"12345678").unwrap(), 12_345_678);
    }

    #[test]
    fn anything_else_is_not_a_counter() {
        for bad in [&b""[..], b"abc", b"-", b"12a", b" 5", b"123456789a", b"99999999999999999999", b"{\"a\":1}"] {
            assert_eq!(decode(bad), Err(StoreError::NotACounter), "{bad:?}");
        }
    }

    #[test]
    fn reading_an_absent_counter_is_zero_and_writes_nothing() {
        let store = MemoryStore::new();
        let c = Counter::new(&store, "throttle:x");
        assert_eq!(c.read().unwrap(), 0);
        assert_eq!(store.get("throttle:x").unwrap(), None);
        assert_eq!(c.add(3).unwrap(), 3);
        assert_eq!(c.read().unwrap(), 3);
        assert!(c.claim().is_ok_and(|won| !won), "a claim on a used counter loses");
        c.delete().unwrap();
        assert_eq!(c.read().unwrap(), 0);
    }

    #[test]
    fn only_the_first_claim_wins_under_concurrency() {
        let s = std::sync::Arc::new(MemoryStore::new());
        let wins: usize = (0..16)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || Counter::new(&*s, "flow-done:c").claim().unwrap() as usize)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(wins, 1);
    }
}
