//! What a step needs from Spin, gathered once per request: the `default`
//! store, the clock, the CSPRNG, the server keys and the caller's address.

use spin_sdk::http::Request;
use std::sync::atomic::{AtomicBool, Ordering};
use unlatch_core::{ApiError, Ctx, DevOutbox, ErrorCode, Notifier, OsRandom, Secrets, SpinStore, SystemClock};

pub struct Host {
    pub store: SpinStore,
    pub secrets: Secrets,
    pub client: String,
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
        Ok(Host { store, secrets, client: crate::client_ip(req) })
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.store, &SystemClock, &OsRandom, self.secrets.clone(), self.client.clone())
    }

    /// The notifier the `notifier` variable names. Only `dev` (the KV outbox)
    /// exists so far; any other name is refused rather than silently dropped.
    pub fn notifier(&self) -> Result<Box<dyn Notifier + '_>, ApiError> {
        match variable("notifier")?.trim() {
            "" | "dev" => Ok(Box::new(DevOutbox { store: &self.store, clock: &SystemClock })),
            other => {
                Err(ApiError::unavailable(format!("The notifier `{other}` is not supported; set `notifier` to `dev`.")))
            }
        }
    }
}

/// A Spin variable of this component; one it does not declare is a manifest error.
pub fn variable(name: &str) -> Result<String, ApiError> {
    spin_sdk::variables::get(name)
        .map_err(|e| ApiError::internal(format!("The variable `{name}` is not available to this component ({e}).")))
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
