//! Plumbing under everything: the key-value seam and its Spin implementation,
//! counters, JSON records, clock and randomness, secrets, the per-request
//! context and request-body parsing. Imports nothing above it.

pub mod clock;
pub mod counter;
pub mod ctx;
pub mod expiry;
pub mod http;
pub mod keys;
pub mod kv;
pub mod request;
pub mod route;
pub mod secrets;
#[cfg(target_arch = "wasm32")]
pub mod spin_store;
pub mod store;
