//! Real delivery behind the [`Notifier`] seam: one small module per provider,
//! each building and reading its HTTP exchange purely (over
//! [`HttpClient`]), chosen per channel by the `sms_provider` and
//! `email_provider` variables (`dev`, the KV outbox, by default).

pub mod acs;
pub mod sendgrid;
pub mod twilio;
pub mod voice;
pub mod webhook;

use crate::domain::notify::{Channel, DevOutbox, Message, Notifier, NotifyError};
use crate::errors::{ApiError, Result};
use crate::platform::clock::{Clock, Random};
use crate::platform::http::{HttpClient, HttpError, OutboundResponse};

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    Dev,
    Webhook(webhook::Config),
    Twilio(twilio::Config),
    Acs(acs::Config),
    SendGrid(sendgrid::Config),
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Dev => "dev",
            Provider::Webhook(_) => "webhook",
            Provider::Twilio(_) => "twilio",
            Provider::Acs(_) => "acs",
            Provider::SendGrid(_) => "sendgrid",
        }
    }
}

/// The provider per channel, read from variables through `var` (a missing
/// variable reads as empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub sms: Provider,
    pub email: Provider,
    /// "Press #" calls (`voice_provider`: `dev`, `twilio` or `webhook`).
    pub voice: Provider,
}

/// A value the operator must set for the chosen provider: 503 `not_configured` naming it.
pub(crate) fn required(var: &dyn Fn(&str) -> String, name: &str, provider: &str) -> Result<String> {
    let value = var(name).trim().to_owned();
    if value.is_empty() {
        return Err(ApiError::not_configured(format!(
            "This service is not configured: the provider `{provider}` needs the variable `{name}`."
        )));
    }
    Ok(value)
}

/// `name`, or `default` when it is empty.
pub(crate) fn or_default(var: &dyn Fn(&str) -> String, name: &str, default: &str) -> String {
    let value = var(name).trim().to_owned();
    if value.is_empty() { default.to_owned() } else { value }
}

impl Config {
    pub fn from_variables(var: &dyn Fn(&str) -> String) -> Result<Config> {
        let pick = |channel: &str, name: &str| -> Result<Provider> {
            let chosen = var(name).trim().to_ascii_lowercase();
            Ok(match (chosen.as_str(), channel) {
                ("" | "dev", _) => Provider::Dev,
                ("webhook", _) => Provider::Webhook(webhook::Config::from_variables(var)?),
                ("twilio", "sms" | "voice") => Provider::Twilio(twilio::Config::from_variables(var)?),
                ("acs", "sms") => Provider::Acs(acs::Config::from_variables(var, acs::Channel::Sms)?),
                ("acs", "email") => Provider::Acs(acs::Config::from_variables(var, acs::Channel::Email)?),
                ("sendgrid", "email") => Provider::SendGrid(sendgrid::Config::from_variables(var)?),
                (other, _) => {
                    return Err(ApiError::not_configured(format!(
                        "This service is not configured: `{name}` = `{other}` is not a provider for {channel}."
                    )));
                }
            })
        };
        Ok(Config {
            sms: pick("sms", "sms_provider")?,
            email: pick("email", "email_provider")?,
            voice: pick("voice", "voice_provider")?,
        })
    }
}

/// The notifier the configuration names: each channel through its provider;
/// `dev` (and voice, until a provider handles it) into the outbox.
pub struct Delivery<'a> {
    pub config: Config,
    pub http: &'a dyn HttpClient,
    pub clock: &'a dyn Clock,
    pub random: &'a dyn Random,
    pub outbox: DevOutbox<'a>,
}

impl Notifier for Delivery<'_> {
    fn send(&self, msg: &Message) -> std::result::Result<(), NotifyError> {
        let provider = match msg.channel {
            Channel::Sms => &self.config.sms,
            Channel::Email => &self.config.email,
            Channel::Voice => &Provider::Dev,
        };
        let now = self.clock.now();
        match provider {
            Provider::Dev => self.outbox.send(msg),
            Provider::Webhook(c) => webhook::send(c, self.http, now, self.random, msg),
            Provider::Twilio(c) => twilio::send_sms(c, self.http, msg),
            Provider::Acs(c) => acs::send(c, self.http, now, msg),
            Provider::SendGrid(c) => sendgrid::send(c, self.http, msg),
        }
    }

    /// "Press #" calls through `voice_provider` (`dev`: the outbox).
    fn call(&self, call: &crate::domain::notify::VoiceCall) -> std::result::Result<(), NotifyError> {
        match &self.config.voice {
            Provider::Twilio(c) => voice::twilio_call(c, self.http, call),
            Provider::Webhook(c) => voice::webhook_call(c, self.http, self.clock.now(), self.random, call),
            _ => self.outbox.call(call),
        }
    }
}

/// A provider's answer as a delivery outcome: 2xx is sent; 429 keeps the
/// provider's `Retry-After`; anything else, a timeout or a connection error
/// fails, with the status and the provider's request id (`request_id_header`).
pub fn outcome(
    provider: &'static str,
    answer: std::result::Result<OutboundResponse, HttpError>,
    request_id_header: &str,
) -> std::result::Result<(), NotifyError> {
    match answer {
        Ok(r) if (200..300).contains(&r.status) => Ok(()),
        Ok(r) => Err(NotifyError {
            reason: format!("the provider answered {}", r.status),
            provider: Some(provider),
            status: Some(r.status),
            request_id: r.header(request_id_header).map(|v| v.chars().take(128).collect()),
            retry_after: if r.status == 429 {
                Some(r.header("retry-after").and_then(|v| v.trim().parse().ok()).unwrap_or(60))
            } else {
                None
            },
        }),
        Err(e) => Err(NotifyError { reason: e.to_string(), provider: Some(provider), ..NotifyError::default() }),
    }
}

/// Percent-encodes a form field (`application/x-www-form-urlencoded`).
pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

/// Base64 (standard alphabet, padded).
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `scheme://host[:port]` without a trailing slash, or 503 naming the variable.
pub(crate) fn origin_var(var: &dyn Fn(&str) -> String, name: &str, default: &str, provider: &str) -> Result<String> {
    let value = or_default(var, name, default);
    let origin = value.trim_end_matches('/').to_owned();
    // spin.toml's placeholders (`https://webhook.invalid`) mean "not set":
    // an empty value in allowed_outbound_hosts would deny every request.
    if origin.is_empty()
        || url::Url::parse(&origin).is_ok_and(|u| u.host_str().is_some_and(|h| h.ends_with(".invalid")))
    {
        return Err(ApiError::not_configured(format!(
            "This service is not configured: the provider `{provider}` needs the variable `{name}`."
        )));
    }
    let ok = url::Url::parse(&origin).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host().is_some() && u.path() == "/" && u.query().is_none()
    });
    if !ok {
        return Err(ApiError::not_configured(format!(
            "This service is not configured: `{name}` for `{provider}` must be an origin (scheme://host[:port])."
        )));
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::{ManualClock, OsRandom};
    use crate::platform::http::fake::FakeHttp;
    use crate::platform::store::MemoryStore;
    use std::collections::HashMap;

    pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> String {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned().unwrap_or_default()
    }

    #[test]
    fn dev_is_the_default_and_unknown_or_incomplete_providers_are_not_configured() {
        let c = Config::from_variables(&vars(&[])).unwrap();
        assert_eq!((c.sms.clone(), c.email.clone()), (Provider::Dev, Provider::Dev));
        let e = Config::from_variables(&vars(&[("sms_provider", "sendgrid")])).unwrap_err();
        assert_eq!(e.error(), "not_configured");
        let e = Config::from_variables(&vars(&[("email_provider", "twilio")])).unwrap_err();
        assert!(e.message.contains("email_provider"), "{}", e.message);
        let e = Config::from_variables(&vars(&[("email_provider", "sendgrid")])).unwrap_err();
        assert!(e.message.contains("sendgrid_api_key"), "{}", e.message);
        let e = Config::from_variables(&vars(&[
            ("sms_provider", "webhook"),
            ("webhook_origin", "https://webhook.invalid"),
        ]))
        .unwrap_err();
        assert!(e.message.contains("`webhook_origin`"), "{}", e.message);
    }

    #[test]
    fn failures_keep_status_request_id_and_retry_after_but_no_body() {
        let ok = outcome("x", Ok(OutboundResponse { status: 202, headers: vec![], body: vec![] }), "x-id");
        assert!(ok.is_ok());
        let r = OutboundResponse {
            status: 429,
            headers: vec![("Retry-After".into(), "17".into()), ("X-Id".into(), "req-1".into())],
            body: b"secret stuff".to_vec(),
        };
        let e = outcome("x", Ok(r), "x-id").unwrap_err();
        assert_eq!((e.status, e.retry_after, e.request_id.as_deref()), (Some(429), Some(17), Some("req-1")));
        let e = outcome("x", Err(HttpError::Timeout), "x-id").unwrap_err();
        assert_eq!((e.status, e.provider), (None, Some("x")));
    }

    #[test]
    fn each_channel_goes_to_its_provider() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(1_700_000_000);
        let http = FakeHttp::answering(202, &[]);
        let config = Config::from_variables(&vars(&[
            ("email_provider", "sendgrid"),
            ("sendgrid_api_key", "SG.key"),
            ("email_from", "no-reply@example.com"),
        ]))
        .unwrap();
        let d = Delivery {
            config,
            http: &http,
            clock: &clock,
            random: &OsRandom,
            outbox: DevOutbox { store: &store, clock: &clock },
        };
        let email =
            Message { channel: Channel::Email, to: "a@example.com".into(), subject: "s".into(), body: "b".into() };
        d.send(&email).unwrap();
        assert!(http.last().url.ends_with("/v3/mail/send"));
        let sms =
            Message { channel: Channel::Sms, to: "+14255550112".into(), subject: String::new(), body: "b".into() };
        d.send(&sms).unwrap();
        assert_eq!(http.sent.borrow().len(), 1, "sms stays in the dev outbox");
        assert_eq!(crate::domain::notify::outbox(&store, 5).unwrap().len(), 1);
    }
}
