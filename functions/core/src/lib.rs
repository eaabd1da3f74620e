//! Unlatch's domain logic, free of Spin types so it is unit-tested natively.
//!
//! Layers, whose imports only go down (see this crate's README):
//! `steps` (one module per component) → `flow` (the flow record and the gates
//! reset, unlock and registration share) → `domain` (records and rules) →
//! `platform` (store, counters, clock, secrets, context). `errors` is beside
//! them all. Storage, time and randomness come in through the seams in
//! [`platform::store`] and [`platform::clock`], so tests run against
//! [`MemoryStore`] with a fixed clock.

pub mod errors;

pub mod domain;
pub mod flow;
pub mod platform;
pub mod steps;

#[cfg(test)]
mod testing;

// The curated surface the components and the test crates use.
pub use domain::{
    audit, blocklist, captcha, code, delivery, hashing, mask, methods, notify, password_policy, phone, policy,
    questions, session, templates, throttle, users,
};
pub use platform::{counter, kv, request, secrets, store};
pub use steps::identify::contact_admin;
pub use steps::set_password::{change as change_password, reset as reset_password};
pub use steps::{
    account as signin, admin, admin::maintenance, identify, register, send_code, set_password, unlock, verify_code,
};

pub use domain::notify::{DevOutbox, Message, Notifier};
pub use domain::policy::Policy;
pub use errors::{ApiError, ErrorCode, Result};
pub use platform::clock::{Clock, ManualClock, OsRandom, Random, SystemClock};
pub use platform::ctx::Ctx;
pub use platform::secrets::Secrets;
#[cfg(target_arch = "wasm32")]
pub use platform::spin_store::SpinStore;
pub use platform::store::{MemoryStore, Store, StoreError, WholeStoreScan};
