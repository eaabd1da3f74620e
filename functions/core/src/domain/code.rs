//! One-time codes: six uniform digits from the OS CSPRNG, kept only as an
//! HMAC-SHA256 bound to the flow and the code's own id, compared in constant time.

use crate::platform::clock::Random;
use crate::platform::kv;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Six digits, uniformly distributed (rejection sampling, no modulo bias).
pub fn generate(random: &dyn Random) -> String {
    format!("{:06}", kv::random_below(random, 1_000_000))
}

fn mac(key: &[u8], flow_id: &str, code_id: &str, code: &str) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    // Length-free fields joined by a separator that none of them contains.
    m.update(b"unlatch-code-v1\n");
    m.update(flow_id.as_bytes());
    m.update(b"\n");
    m.update(code_id.as_bytes());
    m.update(b"\n");
    m.update(code.as_bytes());
    m
}

/// The stored form of a code (hex).
pub fn hash(key: &[u8], flow_id: &str, code_id: &str, code: &str) -> String {
    kv::to_hex(&mac(key, flow_id, code_id, code).finalize().into_bytes())
}

/// Constant-time check of a typed code against the stored hash.
pub fn matches(key: &[u8], flow_id: &str, code_id: &str, typed: &str, stored_hex: &str) -> bool {
    let Some(stored) = kv::from_hex(stored_hex) else { return false };
    // Spaces or dashes in a typed code are formatting, not digits.
    let typed: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    mac(key, flow_id, code_id, &typed).verify_slice(&stored).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::OsRandom;

    #[test]
    fn codes_are_six_digits_and_spread_evenly() {
        let mut first_digit = [0u32; 10];
        for _ in 0..5000 {
            let c = generate(&OsRandom);
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            first_digit[(c.as_bytes()[0] - b'0') as usize] += 1;
        }
        // Each leading digit expects 500; a biased generator (e.g. `% 1e6` on a byte) would skew hard.
        assert!(first_digit.iter().all(|&n| (350..650).contains(&n)), "{first_digit:?}");
    }

    #[test]
    fn hash_is_keyed_and_bound_to_flow_and_code_id() {
        let h = hash(b"k", "flow", "c1", "123456");
        assert!(!h.contains("123456"));
        assert!(matches(b"k", "flow", "c1", "123 456", &h));
        assert!(!matches(b"k", "flow", "c1", "123457", &h));
        assert!(!matches(b"other", "flow", "c1", "123456", &h));
        assert!(!matches(b"k", "flow2", "c1", "123456", &h));
        assert!(!matches(b"k", "flow", "c2", "123456", &h));
        assert!(!matches(b"k", "flow", "c1", "123456", "zz"));
    }
}
