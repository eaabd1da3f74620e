//! Argon2id PHC hashes for passwords and security-question answers, with
//! m=7168 KiB, t=5, p=1: of OWASP's equivalent sets (19456/2, 12288/3,
//! 9216/4, 7168/5) the fastest inside a Spin component, measured by
//! `tests/bench.sh --argon` (README, "Password hashing"): a fresh instance per
//! request pays for every page of memory it touches. Hashes made with other
//! parameters keep verifying (the PHC string names them) and are rehashed at
//! sign-in. Unit tests use a cheaper set so the suite stays fast in debug
//! builds; `production_params_are_owasp` pins the real ones.

use crate::errors::{ApiError, Result};
use crate::platform::clock::Random;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const M_COST_KIB: u32 = 7168;
pub const T_COST: u32 = 5;
pub const P_COST: u32 = 1;

fn production() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[cfg(not(test))]
fn current() -> Argon2<'static> {
    production()
}

#[cfg(test)]
fn current() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).expect("valid test parameters"))
}

fn hash_with(argon: &Argon2<'_>, random: &dyn Random, secret: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    random.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::internal("Salt encoding failed."))?;
    argon
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal("Hashing failed."))
}

/// A fresh PHC string (`$argon2id$v=19$m=7168,t=5,p=1$salt$hash`).
pub fn hash(random: &dyn Random, secret: &str) -> Result<String> {
    hash_with(&current(), random, secret)
}

/// A PHC string made with other Argon2id parameters (m KiB, t passes, p=1):
/// for the benchmark that picks the shipped ones. `None` for invalid ones.
pub fn hash_with_params(random: &dyn Random, secret: &str, m_kib: u32, t: u32) -> Option<String> {
    let params = Params::new(m_kib, t, P_COST, None).ok()?;
    hash_with(&Argon2::new(Algorithm::Argon2id, Version::V0x13, params), random, secret).ok()
}

/// Whether `secret` matches the PHC string; a malformed hash never matches.
/// The parameters are read from the PHC string, so old hashes keep verifying.
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Whether a stored hash was made with other parameters than today's, so a
/// successful sign-in should re-hash it.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return true };
    let argon = current();
    let p = argon.params();
    let get = |name: &str| parsed.params.get_decimal(name);
    parsed.algorithm.as_str() != "argon2id"
        || get("m") != Some(p.m_cost())
        || get("t") != Some(p.t_cost())
        || get("p") != Some(p.p_cost())
}

/// A hash of nothing anyone knows (a random 256-bit secret, discarded), with
/// the production parameters, verified on paths that must cost the same as a
/// real check (unknown user at sign-in). A constant, because a component
/// instance lives for one request: hashing a dummy lazily would cost an extra
/// Argon2 run on every such request and make unknown users slower, not equal.
pub const DUMMY_PHC: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$pvwxlJqQzmyg9vwmPiyPSA$lAyhcg95bXuzWTUkHIft6Id/uf0ScPw5CvQm4RVVfGE";

/// How a PHC string made with the production parameters starts.
pub fn production_prefix() -> String {
    format!("$argon2id$v=19$m={M_COST_KIB},t={T_COST},p={P_COST}$")
}

pub fn dummy_verify(secret: &str) {
    let _ = verify(secret, DUMMY_PHC);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::OsRandom;

    #[test]
    fn hash_then_verify() {
        let h = hash(&OsRandom, "correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("Correct horse", &h));
        assert!(!verify("x", "not a phc string"));
        assert_ne!(h, hash(&OsRandom, "correct horse").unwrap(), "salted");
    }

    #[test]
    fn production_params_are_owasp() {
        let h = hash_with(&production(), &OsRandom, "pw").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(h.starts_with(&production_prefix()) && DUMMY_PHC.starts_with(&production_prefix()));
        assert!(verify("pw", &h));
        // Test builds hash cheaper, so a production hash reads as "other parameters".
        assert!(needs_rehash(&h));
        assert!(!needs_rehash(&hash(&OsRandom, "pw").unwrap()));
        assert!(needs_rehash("garbage"));
    }
}
