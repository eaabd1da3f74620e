//! The self-hosted proof-of-work CAPTCHA of "Who are you?".
//!
//! A challenge is `v1.<expires_at>.<difficulty>.<nonce>.<hmac>`, signed with
//! the CAPTCHA key so the server keeps no state until it is solved. A solution
//! is a decimal counter such that SHA-256(`<challenge>:<counter>`) starts with
//! `difficulty` zero bits. Each challenge is accepted once (first claim wins).

use crate::domain::policy::Policy;
use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// `GET /api/identify/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub challenge: String,
    pub difficulty: u8,
    pub expires_at: u64,
    /// How to solve, for clients: find a decimal counter with SHA-256(challenge ":" counter) having `difficulty` leading zero bits.
    pub algorithm: String,
}

/// The client's answer, sent as `captcha` in `POST /api/identify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Solution {
    pub challenge: String,
    /// The counter, as a JSON number or a string of digits.
    #[serde(deserialize_with = "number_or_digits")]
    pub solution: u64,
}

fn number_or_digits<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.trim().parse().map_err(|_| serde::de::Error::custom("solution must be a number")),
    }
}

pub const ALGORITHM: &str = "sha256-leading-zero-bits";

fn sign(key: &[u8], payload: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(b"unlatch-captcha\n");
    m.update(payload.as_bytes());
    m
}

/// A fresh challenge with the policy's difficulty and lifetime.
pub fn issue(ctx: &Ctx, policy: &Policy) -> Challenge {
    let expires_at = ctx.now() + policy.captcha_lifetime_seconds;
    let payload = format!("v1.{expires_at}.{}.{}", policy.captcha_difficulty, kv::random_hex(ctx.random, 16));
    let sig = kv::to_hex(&sign(&ctx.secrets.captcha_key, &payload).finalize().into_bytes());
    Challenge {
        challenge: format!("{payload}.{sig}"),
        difficulty: policy.captcha_difficulty,
        expires_at,
        algorithm: ALGORITHM.into(),
    }
}

pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut n = 0;
    for b in digest {
        if *b == 0 {
            n += 8;
        } else {
            return n + b.leading_zeros();
        }
    }
    n
}

fn work(challenge: &str, counter: u64) -> u32 {
    leading_zero_bits(&Sha256::digest(format!("{challenge}:{counter}").as_bytes()))
}

/// Finds a solution (what the page's script does; used by tests and the runner).
pub fn solve(challenge: &str, difficulty: u8) -> u64 {
    (0..).find(|&c| work(challenge, c) >= difficulty as u32).expect("a solution exists")
}

/// Checks signature, expiry and work, then claims the challenge so it cannot
/// be replayed. Any failure is the same 400 `captcha_invalid`.
pub fn verify(ctx: &Ctx, s: &Solution) -> Result<()> {
    let parts: Vec<&str> = s.challenge.split('.').collect();
    let [version, expires_at, difficulty, nonce, sig] = parts.as_slice() else {
        return Err(ApiError::captcha_invalid());
    };
    let payload = format!("{version}.{expires_at}.{difficulty}.{nonce}");
    let sig_ok =
        kv::from_hex(sig).is_some_and(|sig| sign(&ctx.secrets.captcha_key, &payload).verify_slice(&sig).is_ok());
    let (Ok(expires_at), Ok(difficulty)) = (expires_at.parse::<u64>(), difficulty.parse::<u8>()) else {
        return Err(ApiError::captcha_invalid());
    };
    if !sig_ok || *version != "v1" || ctx.now() >= expires_at || work(&s.challenge, s.solution) < difficulty as u32 {
        return Err(ApiError::captcha_invalid());
    }
    let used = keys::captcha_used(expires_at, nonce);
    if !Counter::new(ctx.store, used.as_str()).claim()? {
        return Err(ApiError::captcha_invalid());
    }
    // Spent nonces go once they could no longer verify.
    ctx.expires(&used, expires_at);
    Ok(())
}

/// What the sweep does with `captcha-used:<expires_at>:<nonce>`: gone once its
/// challenge has expired (the time is in the key).
pub fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let expires_at = key.split(':').nth(1).and_then(|t| t.parse::<u64>().ok());
    Ok(match expires_at {
        Some(at) if at > ctx.now() => Fate::Until(at),
        _ => Fate::Stale(vec![key.to_owned()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    fn policy(difficulty: u8) -> Policy {
        Policy { captcha_difficulty: difficulty, ..Policy::default() }
    }

    #[test]
    fn a_solved_challenge_passes_once() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let c = issue(&ctx, &policy(8));
        let s = Solution { solution: solve(&c.challenge, c.difficulty), challenge: c.challenge };
        verify(&ctx, &s).unwrap();
        assert_eq!(verify(&ctx, &s).unwrap_err().error(), "captcha_invalid", "replay");
    }

    #[test]
    fn wrong_work_forged_or_expired_challenges_fail() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let c = issue(&ctx, &policy(12));
        let good = solve(&c.challenge, 12);
        let bad = (0..).find(|&n| work(&c.challenge, n) < 12).unwrap();
        assert_eq!(
            verify(&ctx, &Solution { challenge: c.challenge.clone(), solution: bad }).unwrap_err().status(),
            400
        );
        // Lowering the difficulty in the challenge breaks the signature.
        let forged = c.challenge.replacen(".12.", ".0.", 1);
        assert_eq!(verify(&ctx, &Solution { challenge: forged, solution: 0 }).unwrap_err().error(), "captcha_invalid");
        // Another key's challenge is not ours.
        let mut other = env.ctx();
        other.secrets.captcha_key = b"another key".to_vec();
        assert!(verify(&other, &Solution { challenge: c.challenge.clone(), solution: good }).is_err());
        assert!(verify(&ctx, &Solution { challenge: "garbage".into(), solution: 1 }).is_err());
        env.clock.advance(300);
        assert_eq!(
            verify(&ctx, &Solution { challenge: c.challenge, solution: good }).unwrap_err().error(),
            "captcha_invalid"
        );
    }

    #[test]
    fn zero_bits_are_counted_from_the_top() {
        assert_eq!(leading_zero_bits(&[0, 0x1f, 0xff]), 11);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}
