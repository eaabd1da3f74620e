//! What every step needs from its host: storage, time, randomness, keys and
//! the caller's address (for per-address throttles and audit).

use crate::platform::clock::{Clock, Random};
use crate::platform::secrets::Secrets;
use crate::platform::store::Store;

pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub secrets: Secrets,
    pub client_addr: String,
}

impl<'a> Ctx<'a> {
    pub fn new(
        store: &'a dyn Store,
        clock: &'a dyn Clock,
        random: &'a dyn Random,
        secrets: Secrets,
        client_addr: impl Into<String>,
    ) -> Self {
        Self { store, clock, random, secrets, client_addr: client_addr.into() }
    }

    pub fn now(&self) -> u64 {
        self.clock.now()
    }
}
