//! Unlatch's domain logic, free of Spin types so it is unit-tested natively.
//!
//! Storage, time and randomness come in through the seams in [`store`] and
//! [`env`], so tests run against [`MemoryStore`] with a fixed clock.
//!
//! Each HTTP step is one call: [`identify::challenge`], [`identify::identify`],
//! [`send_code::send`], [`verify_code::verify`], [`set_password::reset`],
//! [`unlock::unlock`]; each returns a serialisable response or an
//! [`ApiError`] that carries its HTTP status.

pub mod env;
pub mod store;

pub mod admin;
pub mod audit;
pub mod blocklist;
pub mod captcha;
pub mod change_password;
pub mod code;
pub mod contact_admin;
pub mod counter;
pub mod ctx;
pub mod errors;
pub mod flow;
pub mod hashing;
pub mod identify;
pub mod kv;
pub mod maintenance;
pub mod mask;
pub mod methods;
pub mod notify;
pub mod password_policy;
pub mod phone;
pub mod policy;
pub mod questions;
pub mod register;
pub mod request;
pub mod secrets;
pub mod send_code;
pub mod session;
pub mod set_password;
pub mod signin;
pub mod throttle;
pub mod unlock;
pub mod users;
pub mod verify_code;

#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
pub mod spin_store;

pub use ctx::Ctx;
pub use env::{Clock, ManualClock, OsRandom, Random, SystemClock};
pub use errors::{ApiError, Result};
pub use notify::{DevOutbox, Message, Notifier};
pub use policy::Policy;
pub use secrets::Secrets;
#[cfg(target_arch = "wasm32")]
pub use spin_store::SpinStore;
pub use store::{MemoryStore, Store, StoreError};
