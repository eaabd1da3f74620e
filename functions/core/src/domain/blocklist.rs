//! The bundled list of common passwords (30,000 entries from zxcvbn's
//! frequency lists, MIT; see `data/README.md`). `build.rs` turns it into a
//! sorted table of 64-bit hashes at compile time, searched in place: a lookup
//! allocates nothing but the lowercased password and builds no table, which
//! matters because every Spin request is a fresh instance. Two entries share a
//! hash, or a password matches one by chance, with odds near 2^-49.

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/blocklist.rs"));

/// The first 8 bytes of SHA-256 (as build.rs hashes each entry).
fn hash(lowercase: &str) -> u64 {
    let digest = Sha256::digest(lowercase.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
}

/// Whether `password` (compared in lowercase) is on the list.
pub fn contains(password: &str) -> bool {
    HASHES.binary_search(&hash(&password.to_lowercase())).is_ok()
}

/// How many distinct entries the list has.
pub fn len() -> usize {
    HASHES.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_real_and_large() {
        assert!(len() >= 10_000, "{}", len());
        for common in ["password", "123456", "qwerty", "iloveyou", "PASSWORD", "trustno1", "football"] {
            assert!(contains(common), "{common}");
        }
        assert!(!contains("correct horse battery staple 9417"));
    }

    #[test]
    fn the_table_is_sorted_so_the_search_is_sound() {
        assert!(HASHES.windows(2).all(|w| w[0] < w[1]));
    }
}
