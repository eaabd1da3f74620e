//! Builds the common-password blocklist into a sorted table of 64-bit hashes
//! (`$OUT_DIR/blocklist.rs`), so a lookup is a binary search over static data:
//! nothing is inflated or allocated per request (every Spin request is a fresh
//! instance, so a table built at first use would be built on every request).

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

const SOURCE: &str = "data/common-passwords.txt.zlib";

/// The first 8 bytes of SHA-256 of the lowercased entry; `domain::blocklist::hash` is the same.
fn hash(entry: &str) -> u64 {
    let digest = Sha256::digest(entry.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
}

fn main() {
    println!("cargo::rerun-if-changed={SOURCE}");
    let compressed = std::fs::read(SOURCE).expect("the blocklist data is in the crate");
    let bytes = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).expect("the blocklist inflates");
    let text = String::from_utf8_lossy(&bytes);
    let mut hashes: Vec<u64> =
        text.lines().map(|l| l.trim().to_lowercase()).filter(|l| !l.is_empty()).map(|l| hash(&l)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut out = format!(
        "/// Sorted hashes of the common passwords (built by build.rs).\npub static HASHES: [u64; {}] = [\n",
        hashes.len()
    );
    for h in &hashes {
        writeln!(out, "    {h:#018x},").expect("writing to a String");
    }
    out.push_str("];\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("blocklist.rs");
    std::fs::write(path, out).expect("OUT_DIR is writable");
}
