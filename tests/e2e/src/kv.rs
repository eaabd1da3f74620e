//! The runner's SQLite key-value file as a core [`Store`], so tests can create
//! users and read state through core exactly as the components see it.

use std::path::Path;
use unlatch_core::{Store, StoreError};
use unlatch_runner::kv::{KvStore, Swap};

/// Spin's one store label.
const LABEL: &str = "default";

pub struct SqliteStore(KvStore);

impl SqliteStore {
    pub fn open(path: &Path) -> SqliteStore {
        SqliteStore(KvStore::open(path).expect("open the runner's key-value file"))
    }
}

fn other(e: anyhow::Error) -> StoreError {
    StoreError::Other(e.to_string())
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(LABEL, key).map_err(other)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.0.set(LABEL, key, value).map_err(other)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.delete(LABEL, key).map_err(other)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.0.increment(LABEL, key, delta).map_err(other)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        Ok(self.0.swap(LABEL, key, Some(expected), new).map_err(other)? == Swap::Done)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let keys = self.0.keys(LABEL).map_err(other)?;
        Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
    }
}
