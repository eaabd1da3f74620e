//! What a step needs from Spin, gathered once per request: the `default`
//! store, the clock, the CSPRNG, the server keys and the caller's address.

use spin_sdk::http::Request;
use unlatch_core::{ApiError, Ctx, DevOutbox, Notifier, OsRandom, Secrets, SpinStore, SystemClock};

pub struct Host {
    pub store: SpinStore,
    pub secrets: Secrets,
    pub client: String,
}

impl Host {
    /// Opens the store and resolves the keys (from the `captcha_secret` and
    /// `code_secret` variables, or made once and kept in KV when they are empty).
    pub fn open(req: &Request) -> Result<Host, ApiError> {
        let store = SpinStore::open_default()?;
        let secrets = Secrets::resolve(&store, &OsRandom, &variable("captcha_secret")?, &variable("code_secret")?)?;
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

/// Whether `dev_mode` is on (only the exact text `true`).
pub fn dev_mode() -> bool {
    variable("dev_mode").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}
