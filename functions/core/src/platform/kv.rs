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
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::internal("A record could not be encoded."))?;
    store.set(key, &bytes)?;
    Ok(())
}

/// Replaces the record only if it still holds `expected` (CAS is safe here:
/// the key exists). Returns whether the swap happened.
pub fn swap_json<T: Serialize>(store: &dyn Store, key: &str, expected: &[u8], value: &T) -> Result<bool> {
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::internal("A record could not be encoded."))?;
    Ok(store.compare_and_swap(key, expected, &bytes)?)
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
}
