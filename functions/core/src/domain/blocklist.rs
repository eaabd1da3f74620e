//! The bundled list of common passwords (30,000 entries from zxcvbn's
//! frequency lists, MIT; see `data/README.md`), decompressed on first use and
//! looked up in a hash set.

use std::collections::HashSet;
use std::sync::OnceLock;

static COMPRESSED: &[u8] = include_bytes!("../../data/common-passwords.txt.zlib");

fn set() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        // The data is compiled in and checked by a test; failing to inflate it is a build defect.
        let bytes = miniz_oxide::inflate::decompress_to_vec_zlib(COMPRESSED).expect("bundled blocklist inflates");
        String::from_utf8_lossy(&bytes).lines().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).collect()
    })
}

/// Whether `password` (compared in lowercase) is on the list.
pub fn contains(password: &str) -> bool {
    set().contains(&password.to_lowercase())
}

pub fn len() -> usize {
    set().len()
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
}
