//! The key-value seam: the operations the domain needs from Spin's store (get,
//! set, delete, increment, compare-and-swap, set-many), and the whole-store
//! listing kept apart from them ([`WholeStoreScan`]).

use crate::platform::keys;
use std::collections::HashMap;
use std::sync::Mutex;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The component may not open this store (not in its `key_value_stores`).
    AccessDenied,
    /// No store with this label exists on the host.
    NoSuchStore,
    /// A stored counter did not hold a number.
    NotACounter,
    /// Any other backend failure, with the host's text.
    Other(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::AccessDenied => f.write_str("access to the key-value store was denied"),
            StoreError::NoSuchStore => f.write_str("no such key-value store"),
            StoreError::NotACounter => f.write_str("the key does not hold a counter"),
            StoreError::Other(text) => write!(f, "key-value store error: {text}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Key-value storage as Spin offers it: no expiry, atomic increment, and a
/// compare-and-swap that is only trustworthy on keys that already exist
/// (Spin's SQLite backend does not guard CAS on an absent key), so "first
/// claim wins" must be `increment(key, 1) == 1`. Nor is its answer
/// trustworthy: Spin's Redis store reports every swap as failed, written or
/// not, so record updates check a reported failure by re-reading
/// ([`crate::platform::kv::swap_json_checked`]).
pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Replaces the value at `key` with `new` only if it still equals `expected`.
    /// Returns whether the swap happened.
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError>;
    /// Writes several records at once: on Spin one `wasi:keyvalue/batch`
    /// `set-many` (one transaction on SQLite, where every write otherwise waits
    /// for its own `fsync`; `MSET` on Redis). Never for counter keys.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        entries.iter().try_for_each(|(key, value)| self.set(key, value))
    }
}

/// Listing keys, which Spin can only do by reading every key in the store
/// (`get_keys`; `KEYS *` on Redis, which blocks it for every host). So it is
/// not part of [`Store`]: no step can reach it through its `Ctx`. Tests use
/// it, and so does the one-off admin reindex, which is handed it explicitly.
pub trait WholeStoreScan {
    /// Keys starting with `prefix`, in no particular order.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// An in-process store for unit tests and native tools. It keeps counters as
/// Spin's SQLite backend does (8 bytes, little-endian), and it refuses what
/// would break Spin: a `set` of a counter key, or an `increment` of a key
/// outside the counter families (see [`crate::platform::counter`]). So every core test
/// also checks that no key is written both ways.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-written entry.
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if keys::is_counter(key) {
            return Err(StoreError::Other(format!("`{key}` is a counter key: only increment may write it")));
        }
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map().remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        if !keys::is_counter(key) {
            return Err(StoreError::Other(format!("`{key}` is not in a counter family")));
        }
        let mut map = self.map();
        let current = match map.get(key) {
            None => 0,
            // Spin's SQLite host accepts exactly 8 bytes here, nothing else.
            Some(v) => i64::from_le_bytes(v.as_slice().try_into().map_err(|_| StoreError::NotACounter)?),
        };
        let next = current.checked_add(delta).ok_or(StoreError::NotACounter)?;
        map.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        if keys::is_counter(key) {
            return Err(StoreError::Other(format!("`{key}` is a counter key: only increment may write it")));
        }
        let mut map = self.map();
        match map.get(key) {
            Some(current) if current.as_slice() == expected => {
                map.insert(key.to_owned(), new.to_vec());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl WholeStoreScan for MemoryStore {
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.map().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_delete_round_trip() {
        let s = MemoryStore::new();
        assert_eq!(s.get("k").unwrap(), None);
        s.set("k", b"v").unwrap();
        assert_eq!(s.get("k").unwrap(), Some(b"v".to_vec()));
        s.delete("k").unwrap();
        assert_eq!(s.get("k").unwrap(), None);
    }

    #[test]
    fn increment_starts_at_zero_and_stores_little_endian_as_spin_sqlite_does() {
        let s = MemoryStore::new();
        assert_eq!(s.increment("throttle:c", 1).unwrap(), 1);
        assert_eq!(s.increment("throttle:c", 4).unwrap(), 5);
        assert_eq!(s.get("throttle:c").unwrap(), Some(5i64.to_le_bytes().to_vec()));
    }

    #[test]
    fn no_key_is_both_set_and_incremented() {
        let s = MemoryStore::new();
        s.increment("flow-done:f", 1).unwrap();
        assert!(s.set("flow-done:f", b"1").is_err(), "a counter key cannot be set");
        assert!(s.compare_and_swap("flow-done:f", &1i64.to_le_bytes(), b"2").is_err(), "nor swapped");
        s.set("flow:f", b"{}").unwrap();
        assert!(s.increment("flow:f", 1).is_err(), "a record key cannot be incremented");
        assert_eq!(s.get("flow:f").unwrap(), Some(b"{}".to_vec()), "and is left as it was");
    }

    #[test]
    fn set_many_writes_every_record_and_refuses_counter_keys() {
        let s = MemoryStore::new();
        s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())]).unwrap();
        assert_eq!((s.get("a").unwrap(), s.get("b").unwrap()), (Some(b"1".to_vec()), Some(b"2".to_vec())));
        assert!(s.set_many(&[("audit-seq".into(), b"1".to_vec())]).is_err());
    }

    #[test]
    fn compare_and_swap_only_replaces_the_expected_value() {
        let s = MemoryStore::new();
        assert!(!s.compare_and_swap("k", b"old", b"new").unwrap(), "absent key never swaps");
        s.set("k", b"old").unwrap();
        assert!(!s.compare_and_swap("k", b"other", b"new").unwrap());
        assert!(s.compare_and_swap("k", b"old", b"new").unwrap());
        assert_eq!(s.get("k").unwrap(), Some(b"new".to_vec()));
    }

    #[test]
    fn concurrent_increments_are_not_lost() {
        let s = std::sync::Arc::new(MemoryStore::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..500).for_each(|_| {
                        s.increment("audit-seq", 1).unwrap();
                    })
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(s.increment("audit-seq", 0).unwrap(), 4000);
    }
}
