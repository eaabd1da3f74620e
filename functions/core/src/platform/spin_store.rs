//! [`Store`] on Spin: `fermyon:spin/key-value` for plain reads and writes,
//! `wasi:keyvalue` atomics for increment and compare-and-swap and its batch
//! `set-many` for several writes at once (the interfaces reach the same store
//! on every Spin backend). Never `get-many`: Spin's Redis store implements it
//! with `KEYS` and it fails there.

use crate::platform::store::{Store, StoreError, WholeStoreScan};
use spin_sdk::key_value;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_store};

/// The store labelled `label` (the app uses `default`), opened once per request.
pub struct SpinStore {
    plain: key_value::Store,
    bucket: wasi_store::Bucket,
}

impl SpinStore {
    pub fn open(label: &str) -> Result<Self, StoreError> {
        let plain = key_value::Store::open(label).map_err(from_spin)?;
        let bucket = wasi_store::open(label).map_err(from_wasi)?;
        Ok(Self { plain, bucket })
    }

    pub fn open_default() -> Result<Self, StoreError> {
        Self::open("default")
    }
}

fn from_spin(e: key_value::Error) -> StoreError {
    match e {
        key_value::Error::AccessDenied => StoreError::AccessDenied,
        key_value::Error::NoSuchStore => StoreError::NoSuchStore,
        other => StoreError::Other(other.to_string()),
    }
}

fn from_wasi(e: wasi_store::Error) -> StoreError {
    match e {
        wasi_store::Error::AccessDenied => StoreError::AccessDenied,
        wasi_store::Error::NoSuchStore => StoreError::NoSuchStore,
        wasi_store::Error::Other(text) => StoreError::Other(text),
    }
}

impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.plain.get(key).map_err(from_spin)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.plain.set(key, value).map_err(from_spin)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.plain.delete(key).map_err(from_spin)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(from_wasi)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(from_wasi)?;
        // Only existing keys are guarded by Spin's backends; an absent key never swaps here.
        match cas.current().map_err(from_wasi)? {
            Some(current) if current == expected => {}
            _ => return Ok(false),
        }
        // `false` is not proof that nothing was written: Spin's Redis store
        // reports every swap as `cas-failed`, written or not. Callers that
        // update records go through `kv::swap_json_checked`, which re-reads.
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(from_wasi(e)),
        }
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.iter().any(|(key, _)| crate::platform::keys::is_counter(key)) {
            return Err(StoreError::Other("set-many of a counter key".into()));
        }
        batch::set_many(&self.bucket, entries).map_err(from_wasi)
    }
}

impl WholeStoreScan for SpinStore {
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let keys = self.plain.get_keys().map_err(from_spin)?;
        Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect())
    }
}
