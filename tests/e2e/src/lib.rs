//! Helpers for the end-to-end tests: start the app from `spin.toml` in the
//! runner, and talk raw HTTP/1.1 to it.

pub mod account;
pub mod app;
pub mod client;
pub mod concurrent;
pub mod journey;
pub mod kv;
pub mod providers;
pub mod redis;

pub use app::App;
pub use client::Reply;
