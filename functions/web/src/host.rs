//! What a step needs from Spin, gathered once per request: the `default`
//! store, the clock, the CSPRNG, the server keys and the caller's address.

use crate::outbound::SpinHttp;
use spin_sdk::http::Request;
use std::sync::atomic::{AtomicBool, Ordering};
use unlatch_core::domain::delivery::{Config as DeliveryConfig, Delivery};
use unlatch_core::{ApiError, Ctx, DevOutbox, ErrorCode, Notifier, OsRandom, Secrets, SpinStore, SystemClock};

pub struct Host {
    pub store: SpinStore,
    pub secrets: Secrets,
    pub client: String,
    /// Where providers reach our callbacks (see [`public_base_url`]).
    pub public_base_url: String,
}

impl Host {
    /// Opens the store and resolves the keys from the `captcha_secret` and
    /// `code_secret` variables. Empty ones are 503 `not_configured` (logged to
    /// stderr), except in `dev_mode`, where they are made once and kept in KV.
    pub fn open(req: &Request) -> Result<Host, ApiError> {
        let store = SpinStore::open_default()?;
        let secrets =
            Secrets::resolve(&store, &OsRandom, &variable("captcha_secret")?, &variable("code_secret")?, dev_mode())
                .inspect_err(log_if_not_configured)?;
        Ok(Host { store, secrets, client: crate::client_ip(req), public_base_url: public_base_url(req) })
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.store, &SystemClock, &OsRandom, self.secrets.clone(), self.client.clone())
            .with_public_base_url(&self.public_base_url)
    }

    /// The notifier the `sms_provider` and `email_provider` variables name
    /// (`dev`, the KV outbox, by default), sending over Spin's outbound HTTP.
    /// An unknown provider, or one missing a variable, is 503 `not_configured`.
    pub fn notifier(&self) -> Result<Box<dyn Notifier + '_>, ApiError> {
        let config = DeliveryConfig::from_variables(&|name| variable(name).unwrap_or_default())
            .inspect_err(log_if_not_configured)?;
        Ok(Box::new(Delivery {
            config,
            http: &SpinHttp,
            clock: &SystemClock,
            random: &OsRandom,
            outbox: DevOutbox { store: &self.store, clock: &SystemClock },
        }))
    }
}

/// A Spin variable of this component; one it does not declare is a manifest error.
pub fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name)
        .map_err(|e| ApiError::internal(format!("The variable `{name}` is not available to this component ({e}).")))
}

/// The base URL of our callbacks ("press #" calls): the `public_base_url`
/// variable; empty (or not declared) means calls are not offered. In
/// `dev_mode` an empty one falls back to the request's own origin (from
/// `spin-full-url`), so the dev outbox's "press" action works with no setup.
pub fn public_base_url(req: &Request) -> String {
    let set = variable("public_base_url").unwrap_or_default();
    if !set.trim().is_empty() || !dev_mode() {
        return set.trim().to_owned();
    }
    let full = req.header("spin-full-url").and_then(|v| v.as_str()).unwrap_or_default();
    match full.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
        None => String::new(),
    }
}

/// Whether `dev_mode` is on: only the exact text `true` (not `TRUE`, not ` true`),
/// so no near-miss turns it on. A component that does not declare it is not in dev mode.
pub fn dev_mode() -> bool {
    variable("dev_mode").is_ok_and(|v| v == "true")
}

/// The operator's half of a `not_configured` answer: one line on the
/// component's stderr (once per instance, and an instance serves one request).
fn log_if_not_configured(e: &ApiError) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if e.code == ErrorCode::NotConfigured && !LOGGED.swap(true, Ordering::Relaxed) {
        eprintln!("unlatch: not configured: {}", e.message);
    }
}
