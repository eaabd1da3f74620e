//! What every step needs from its host: storage, time, randomness, keys and
//! the caller's address (for per-address throttles and audit).

use crate::platform::clock::{Clock, Random};
use crate::platform::expiry;
use crate::platform::secrets::Secrets;
use crate::platform::store::Store;
use std::cell::RefCell;

pub struct Ctx<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub secrets: Secrets,
    pub client_addr: String,
    /// Where providers reach our callbacks (`public_base_url`, no trailing
    /// `/`); empty: "press #" calls cannot be placed, so call methods are not offered.
    pub public_base_url: String,
    /// Keys written in this request that will go stale, filed together when
    /// the context ends (see [`Ctx::expires`]).
    expiring: RefCell<Vec<(String, u64)>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        store: &'a dyn Store,
        clock: &'a dyn Clock,
        random: &'a dyn Random,
        secrets: Secrets,
        client_addr: impl Into<String>,
    ) -> Self {
        Self {
            store,
            clock,
            random,
            secrets,
            client_addr: client_addr.into(),
            public_base_url: String::new(),
            expiring: RefCell::default(),
        }
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
    /// expiry; see `platform::expiry`). The keys of one request ride in its
    /// audit event ([`Ctx::take_journal_part`]), or are filed together when
    /// the context ends, in one entry: one `increment` per request, not per key.
    pub fn expires(&self, key: &str, at: u64) {
        let full = {
            let mut list = self.expiring.borrow_mut();
            list.push((key.to_owned(), at));
            (list.len() >= expiry::ENTRY_MAX).then(|| std::mem::take(&mut *list))
        };
        if let Some(batch) = full {
            self.file(&batch);
        }
    }

    /// The keys filed so far that the audit event about to be written can
    /// carry (`expiry::journal_part`), taken out of the context: the request
    /// then files nothing of its own for them.
    pub fn take_journal_part(&self) -> Option<expiry::Filed> {
        expiry::journal_part(self.now(), &mut self.expiring.borrow_mut())
    }

    fn file(&self, batch: &[(String, u64)]) {
        // A request whose answer is already decided does not fail for this; a
        // key not filed is only a stale key the sweep will not find.
        if let Err(e) = expiry::file(self.store, self.now(), batch) {
            eprintln!("could not file {} expiring keys: {e}", batch.len());
        }
    }
}

impl Drop for Ctx<'_> {
    fn drop(&mut self) {
        let batch = std::mem::take(self.expiring.get_mut());
        if !batch.is_empty() {
            self.file(&batch);
        }
    }
}
