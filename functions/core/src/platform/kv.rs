//! JSON records on top of [`Store`], hex encoding (the `hex` crate) and the small KV idioms
//! (CAS updates) the steps share. Counters are [`crate::platform::counter::Counter`]'s.

use crate::errors::{ApiError, Result};
use crate::platform::store::Store;
use serde::{Serialize, de::DeserializeOwned};

pub fn get_json<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<T>> {
    Ok(get_json_raw(store, key)?.map(|(v, _)| v))
}

/// The record and the exact bytes read, for a later compare-and-swap.
pub fn get_json_raw<T: DeserializeOwned>(store: &dyn Store, key: &str) -> Result<Option<(T, Vec<u8>)>> {
    match store.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            let value =
                serde_json::from_slice(&bytes).map_err(|_| ApiError::internal("A stored record is corrupt."))?;
            Ok(Some((value, bytes)))
        }
    }
}

pub fn put_json<T: Serialize>(store: &dyn Store, key: &str, value: &T) -> Result<()> {
    let (key, bytes) = json_record(key, value)?;
    store.set(&key, &bytes)?;
    Ok(())
}

/// A JSON record as (key, bytes), for a caller that writes several in one `set-many`.
pub fn json_record<T: Serialize>(key: &str, value: &T) -> Result<(String, Vec<u8>)> {
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::internal("A record could not be encoded."))?;
    Ok((key.to_owned(), bytes))
}

/// Replaces the record only if it still holds `expected` (CAS is safe here:
/// the key exists). Returns whether the swap happened.
pub fn swap_json<T: Serialize>(store: &dyn Store, key: &str, expected: &[u8], value: &T) -> Result<bool> {
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::internal("A record could not be encoded."))?;
    Ok(store.compare_and_swap(key, expected, &bytes)?)
}

/// The field [`swap_json_checked`] stamps into a record: a fresh random id per write.
pub const WRITE_ID: &str = "write_id";

/// Replaces the record only if it still holds `expected`, stamped with a fresh
/// write id (`"write_id"`, ignored when the record is read back), and says
/// whether *this* write landed: `Some(bytes stored)`, or `None` when another
/// write won. A swap reported done is trusted. A swap reported failed is
/// checked by re-reading, because a host's report is not trustworthy: Spin's
/// Redis store reports every swap as `cas-failed`, written or not (it sends
/// `UNWATCH` with an argument, which Redis refuses). The record then holds this
/// write's bytes (and its unique id) exactly when this write landed and nothing
/// has replaced it since.
pub fn swap_json_checked<T: Serialize>(
    store: &dyn Store,
    key: &str,
    expected: &[u8],
    value: &T,
    random: &dyn crate::platform::clock::Random,
) -> Result<Option<Vec<u8>>> {
    let encode_error = || ApiError::internal("A record could not be encoded.");
    let mut record = serde_json::to_value(value).map_err(|_| encode_error())?;
    let fields = record.as_object_mut().ok_or_else(encode_error)?;
    fields.insert(WRITE_ID.to_owned(), serde_json::Value::String(random_hex(random, 16)));
    let bytes = serde_json::to_vec(&record).map_err(|_| encode_error())?;
    if store.compare_and_swap(key, expected, &bytes)? {
        return Ok(Some(bytes));
    }
    Ok((store.get(key)?.as_deref() == Some(&bytes[..])).then_some(bytes))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The bytes of a hex string, or `None` when it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// `n` random bytes as lowercase hex: URL-safe ids (16 bytes = 128 bits).
pub fn random_hex(random: &dyn crate::platform::clock::Random, n: usize) -> String {
    let mut buf = vec![0u8; n];
    random.fill(&mut buf);
    to_hex(&buf)
}

/// A uniform integer in `0..bound` without modulo bias (rejection sampling).
pub fn random_below(random: &dyn crate::platform::clock::Random, bound: u32) -> u32 {
    assert!(bound > 0);
    // Largest multiple of `bound` that fits in u32's range; draws at or above it are retried.
    let zone = (u32::MAX as u64 + 1) / bound as u64 * bound as u64;
    loop {
        let mut b = [0u8; 4];
        random.fill(&mut b);
        let v = u32::from_le_bytes(b) as u64;
        if v < zone {
            return (v % bound as u64) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0, 15, 255]), "000fff");
        assert_eq!(from_hex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn a_misreported_swap_is_known_by_its_write_id_and_a_lost_one_is_not_taken_for_ours() {
        let memory = crate::platform::store::MemoryStore::new();
        let store = crate::testing::MisreportingStore { inner: &memory, meanwhile: |_, _, _| {} };
        let random = crate::platform::clock::OsRandom;
        store.set("rec", br#"{"n":1}"#).unwrap();
        // Written, reported failed: ours, by the write id in the record.
        let ours = swap_json_checked(&store, "rec", br#"{"n":1}"#, &serde_json::json!({"n": 2}), &random).unwrap();
        let ours = ours.expect("the write landed");
        assert_eq!(store.get("rec").unwrap().as_deref(), Some(&ours[..]));
        let stored: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        assert_eq!(stored["n"], 2);
        assert_eq!(stored[WRITE_ID].as_str().map(str::len), Some(32));
        // Two writers over the same bytes: one lands, the other is told it lost.
        let again = swap_json_checked(&store, "rec", br#"{"n":1}"#, &serde_json::json!({"n": 3}), &random).unwrap();
        assert_eq!(again, None, "the record moved on: nothing written");
        let first = swap_json_checked(&store, "rec", &ours, &serde_json::json!({"n": 4}), &random).unwrap();
        let second = swap_json_checked(&store, "rec", &ours, &serde_json::json!({"n": 5}), &random).unwrap();
        assert!(first.is_some() && second.is_none());
        // Equal contents still get distinct write ids.
        let third = swap_json_checked(&store, "rec", &first.clone().unwrap(), &serde_json::json!({"n": 4}), &random);
        assert_ne!(third.unwrap(), first);
    }
}
