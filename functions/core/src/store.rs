//! The key-value seam: the five operations the domain needs from Spin's store.

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
/// claim wins" must be `increment(key, 1) == 1`.
pub trait Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the counter at `key` (absent counts as 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Replaces the value at `key` with `new` only if it still equals `expected`.
    /// Returns whether the swap happened.
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError>;
    /// Keys starting with `prefix`, in no particular order.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Counters are stored as decimal text, as the `wasi:keyvalue` hosts do, so
/// `get` on a counter key reads back a number.
pub fn parse_counter(bytes: Option<&[u8]>) -> Result<i64, StoreError> {
    match bytes {
        None => Ok(0),
        Some(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(StoreError::NotACounter),
    }
}

/// An in-process store for unit tests and native tools.
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
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map().remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut map = self.map();
        let current = parse_counter(map.get(key).map(Vec::as_slice))?;
        let next = current.checked_add(delta).ok_or(StoreError::NotACounter)?;
        map.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let mut map = self.map();
        match map.get(key) {
            Some(current) if current.as_slice() == expected => {
                map.insert(key.to_owned(), new.to_vec());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

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
    fn increment_starts_at_zero_and_reads_back_as_text() {
        let s = MemoryStore::new();
        assert_eq!(s.increment("c", 1).unwrap(), 1);
        assert_eq!(s.increment("c", 4).unwrap(), 5);
        assert_eq!(s.get("c").unwrap(), Some(b"5".to_vec()));
        s.set("text", b"abc").unwrap();
        assert_eq!(s.increment("text", 1), Err(StoreError::NotACounter));
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
                std::thread::spawn(move || (0..500).for_each(|_| { s.increment("n", 1).unwrap(); }))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(s.increment("n", 0).unwrap(), 4000);
    }
}
