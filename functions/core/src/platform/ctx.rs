//! What every step needs from its host: storage, time, randomness, keys and
//! the caller's address (for per-address throttles and audit).

use crate::platform::clock::{Clock, Random};
use crate::platform::expiry;
use crate::platform::secrets::Secrets;
use crate::platform::store::{Store, StoreError};

pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub secrets: Secrets,
    pub client_addr: String,
    /// Where providers reach our callbacks (`public_base_url`, no trailing
    /// `/`); empty: "press #" calls cannot be placed, so call methods are not offered.
    pub public_base_url: String,
}

impl<'a> Ctx<'a> {
    pub fn new(
        store: &'a dyn Store,
        clock: &'a dyn Clock,
        random: &'a dyn Random,
        secrets: Secrets,
        client_addr: impl Into<String>,
    ) -> Self {
        Self { store, clock, random, secrets, client_addr: client_addr.into(), public_base_url: String::new() }
    }

    /// Sets the callbacks' base URL (trailing `/` dropped).
    pub fn with_public_base_url(mut self, base: &str) -> Self {
        self.public_base_url = base.trim().trim_end_matches('/').to_owned();
        self
    }

    /// Whether "press #" calls can be placed (a callback base is known).
    pub fn calls_possible(&self) -> bool {
        !self.public_base_url.is_empty()
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Files `key` for the sweep to look at once `at` has passed (KV has no
    /// expiry; see `platform::expiry`).
    pub fn expires(&self, key: &str, at: u64) -> Result<(), StoreError> {
        expiry::file(self.store, self.now(), key, at)
    }
}
