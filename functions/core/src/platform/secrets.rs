//! Server-side keys: the CAPTCHA signing key and the code-hashing key (which
//! also names flows in the store and binds CSRF tokens).
//!
//! They come from secret Spin variables, kept apart from the store they
//! protect: a copy of the store alone then yields no pending code (each is an
//! HMAC under the code key) and no flow id (flows are stored under an HMAC of
//! their id). An empty variable is a configuration error (503
//! `not_configured`), except on a development instance (`dev_mode` = `true`),
//! where a random 32-byte key is made once and kept in KV, so `spin up` works
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

/// The shortest secret taken: `openssl rand -hex 32` makes 64 characters.
pub const MIN_SECRET_CHARS: usize = 32;

impl Secrets {
    /// Keys from the variables' values. An empty value is 503 `not_configured`
    /// naming the variables to set, unless `dev_mode`, where the key is made
    /// once and kept in KV. A value shorter than [`MIN_SECRET_CHARS`] is
    /// refused alike.
    pub fn resolve(
        store: &dyn Store,
        random: &dyn Random,
        captcha_var: &str,
        code_var: &str,
        dev_mode: bool,
    ) -> Result<Self> {
        let vars = [("captcha_secret", captcha_var.trim()), ("code_secret", code_var.trim())];
        let unset: Vec<&str> = vars.iter().filter(|(_, v)| v.is_empty() && !dev_mode).map(|(name, _)| *name).collect();
        let short: Vec<&str> = vars
            .iter()
            .filter(|(_, v)| !v.is_empty() && v.chars().count() < MIN_SECRET_CHARS)
            .map(|(name, _)| *name)
            .collect();
        if !unset.is_empty() || !short.is_empty() {
            return Err(not_configured(&unset, &short));
        }
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

/// 503 `not_configured`, naming what to set and how.
fn not_configured(unset: &[&str], short: &[&str]) -> ApiError {
    // "the secret variable `a` is" / "the secret variables `a` and `b` are"
    let subject = |list: &[&str]| {
        let names = list.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" and ");
        if list.len() == 1 {
            format!("the secret variable {names} is")
        } else {
            format!("the secret variables {names} are")
        }
    };
    let mut problems = Vec::new();
    if !unset.is_empty() {
        problems.push(format!("{} empty", subject(unset)));
    }
    if !short.is_empty() {
        problems.push(format!("{} shorter than {MIN_SECRET_CHARS} characters", subject(short)));
    }
    ApiError::not_configured(format!(
        "This service is not configured: {}. Set each to a random value of at least {MIN_SECRET_CHARS} \
         characters (`openssl rand -hex 32`); only a development instance (`dev_mode` = `true`) makes its own keys.",
        problems.join(", and ")
    ))
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
    use crate::platform::store::WholeStoreScan;
    use std::sync::Arc;

    const CAPTCHA: &str = "0123456789abcdef0123456789abcdef-captcha";
    const CODE: &str = "0123456789abcdef0123456789abcdef-code";

    #[test]
    fn configured_values_are_used_as_is_in_either_mode() {
        for dev_mode in [false, true] {
            let s = MemoryStore::new();
            let k = Secrets::resolve(&s, &OsRandom, CAPTCHA, &format!(" {CODE} "), dev_mode).unwrap();
            assert_eq!(k.captcha_key, CAPTCHA.as_bytes());
            assert_eq!(k.code_key, CODE.as_bytes());
            assert!(s.keys_with_prefix("secret").unwrap().is_empty());
        }
    }

    #[test]
    fn outside_dev_mode_an_empty_or_short_secret_is_not_configured_and_nothing_is_stored() {
        let s = MemoryStore::new();
        let e = Secrets::resolve(&s, &OsRandom, "", " ", false).unwrap_err();
        assert_eq!((e.status(), e.error()), (503, "not_configured"));
        assert!(e.message.contains("variables `captcha_secret` and `code_secret` are empty"), "{}", e.message);
        assert!(e.message.contains("openssl rand -hex 32"));
        let e = Secrets::resolve(&s, &OsRandom, CAPTCHA, "", false).unwrap_err();
        assert!(e.message.contains("variable `code_secret` is empty"), "{}", e.message);
        assert!(!e.message.contains("captcha_secret"), "{}", e.message);
        for dev_mode in [false, true] {
            let e = Secrets::resolve(&s, &OsRandom, "short", CODE, dev_mode).unwrap_err();
            assert_eq!(e.error(), "not_configured");
            assert!(e.message.contains("`captcha_secret` is shorter than 32 characters"), "{}", e.message);
        }
        assert!(s.keys_with_prefix("").unwrap().is_empty(), "no key is made outside dev_mode");
    }

    #[test]
    fn in_dev_mode_empty_values_make_one_key_that_every_caller_shares() {
        let s = Arc::new(MemoryStore::new());
        let keys: Vec<Secrets> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || Secrets::resolve(&*s, &OsRandom, "", " ", true).unwrap())
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
