//! Server-side keys: the CAPTCHA signing key and the code-hashing key.
//!
//! They come from secret Spin variables; an empty variable means "make one":
//! a random 32-byte key is created once and kept in KV, so `spin up` works
//! with no configuration and every instance agrees on the key.

use crate::errors::{ApiError, Result};
use crate::platform::clock::Random;
use crate::platform::counter::Counter;
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::Store;

#[derive(Clone)]
pub struct Secrets {
    pub captcha_key: Vec<u8>,
    pub code_key: Vec<u8>,
}

impl std::fmt::Debug for Secrets {
    // Never print a key, even in a test failure.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Keys from the variables' values, or from KV when a value is empty.
    pub fn resolve(store: &dyn Store, random: &dyn Random, captcha_var: &str, code_var: &str) -> Result<Self> {
        Ok(Self {
            captcha_key: key_or_stored(store, random, "captcha", captcha_var)?,
            code_key: key_or_stored(store, random, "code", code_var)?,
        })
    }

    /// Fixed keys, for tests and native tools.
    pub fn fixed(captcha_key: &[u8], code_key: &[u8]) -> Self {
        Self { captcha_key: captcha_key.to_vec(), code_key: code_key.to_vec() }
    }
}

fn key_or_stored(store: &dyn Store, random: &dyn Random, name: &str, var: &str) -> Result<Vec<u8>> {
    let var = var.trim();
    if !var.is_empty() {
        return Ok(var.as_bytes().to_vec());
    }
    let key = keys::secret(name);
    if let Some(found) = read_key(store, &key)? {
        return Ok(found);
    }
    // First writer wins: only the claimant writes; everyone else reads back what it wrote.
    if Counter::new(store, keys::secret_claim(name)).claim()? {
        let mut fresh = [0u8; 32];
        random.fill(&mut fresh);
        store.set(&key, kv::to_hex(&fresh).as_bytes())?;
        return Ok(fresh.to_vec());
    }
    // Another instance holds the claim and is writing the key right now.
    for _ in 0..50 {
        if let Some(found) = read_key(store, &key)? {
            return Ok(found);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(ApiError::unavailable("The service is starting up; please try again."))
}

fn read_key(store: &dyn Store, key: &str) -> Result<Option<Vec<u8>>> {
    match store.get(key)? {
        None => Ok(None),
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(kv::from_hex)
            .filter(|k| k.len() == 32)
            .map(Some)
            .ok_or_else(|| ApiError::internal("A stored key is corrupt.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::OsRandom;
    use crate::platform::store::MemoryStore;
    use std::sync::Arc;

    #[test]
    fn configured_values_are_used_as_is() {
        let s = MemoryStore::new();
        let k = Secrets::resolve(&s, &OsRandom, "abc", "def").unwrap();
        assert_eq!(k.captcha_key, b"abc");
        assert_eq!(k.code_key, b"def");
        assert!(s.keys_with_prefix("secret").unwrap().is_empty());
    }

    #[test]
    fn empty_values_make_one_key_that_every_caller_shares() {
        let s = Arc::new(MemoryStore::new());
        let keys: Vec<Secrets> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || Secrets::resolve(&*s, &OsRandom, "", " ").unwrap())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(keys.iter().all(|k| k.captcha_key == keys[0].captcha_key && k.code_key == keys[0].code_key));
        assert_eq!(keys[0].captcha_key.len(), 32);
        assert_ne!(keys[0].captcha_key, keys[0].code_key, "each purpose has its own key");
        assert!(!format!("{:?}", keys[0]).contains(&kv::to_hex(&keys[0].code_key)));
    }
}
