//! `webhook`: a JSON POST to `webhook_origin` + `webhook_path`, signed as
//! Standard Webhooks specifies (<https://www.standardwebhooks.com/>, spec:
//! <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>):
//! headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
//! keyed with the base64 text after `whsec_` in the secret.
//!
//! [`sign`] and [`post`] are the reusable halves (signing a body, sending a
//! signed JSON POST) for any channel.

use super::{b64, b64_decode, hmac_sha256, outcome, required};
use crate::domain::notify::{Message, NotifyError};
use crate::errors::{ApiError, Result};
use crate::platform::clock::Random;
use crate::platform::http::{HttpClient, OutboundRequest};
use serde_json::json;

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `scheme://host[:port]`.
    pub origin: String,
    /// Starts with `/`.
    pub path: String,
    /// The decoded signing key.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "webhook::Config {{ origin: {:?}, path: {:?}, key: .. }}", self.origin, self.path)
    }
}

impl Config {
    pub fn from_variables(var: &dyn Fn(&str) -> String) -> Result<Config> {
        let origin = super::origin_var(var, "webhook_origin", "", "webhook")?;
        let path = or_slash(&var("webhook_path"));
        let secret = required(var, "webhook_secret", "webhook")?;
        let key = secret.strip_prefix("whsec_").and_then(b64_decode).filter(|k| !k.is_empty()).ok_or_else(|| {
            ApiError::not_configured(
                "This service is not configured: `webhook_secret` must be `whsec_` followed by base64.",
            )
        })?;
        Ok(Config { origin, path, key })
    }

    pub fn url(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }
}

fn or_slash(path: &str) -> String {
    let path = path.trim();
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

/// The `webhook-signature` value for one message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", b64(&hmac_sha256(key, &signed)))
}

/// A signed JSON POST of `payload` to the configured URL.
pub fn request(c: &Config, now: u64, random: &dyn Random, payload: &serde_json::Value) -> OutboundRequest {
    let mut id = [0u8; 16];
    random.fill(&mut id);
    let id = format!("msg_{}", hex::encode(id));
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let signature = sign(&c.key, &id, now, &body);
    OutboundRequest::post(c.url(), "application/json", body)
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
}

/// Sends a signed payload; a non-2xx answer, a timeout or a connection error fails.
pub fn post(
    c: &Config,
    http: &dyn HttpClient,
    now: u64,
    random: &dyn Random,
    payload: &serde_json::Value,
) -> std::result::Result<(), NotifyError> {
    outcome("webhook", http.send(&request(c, now, random, payload)), "webhook-id")
}

/// The payload of a text or an email: `{type, channel, to, subject, text, html?}`.
pub fn payload(msg: &Message) -> serde_json::Value {
    let mut p = json!({
        "type": format!("message.{}", channel_name(msg)),
        "channel": msg.channel,
        "to": msg.to,
        "subject": msg.subject,
        "text": msg.body,
    });
    if msg.channel == crate::domain::notify::Channel::Email {
        p["html"] = json!(crate::domain::templates::email_html(&msg.subject, &msg.body));
    }
    p
}

fn channel_name(msg: &Message) -> &'static str {
    match msg.channel {
        crate::domain::notify::Channel::Email => "email",
        crate::domain::notify::Channel::Sms => "sms",
        crate::domain::notify::Channel::Voice => "voice",
    }
}

pub fn send(
    c: &Config,
    http: &dyn HttpClient,
    now: u64,
    random: &dyn Random,
    msg: &Message,
) -> std::result::Result<(), NotifyError> {
    post(c, http, now, random, &payload(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::tests::vars;
    use crate::domain::notify::Channel;
    use crate::platform::clock::OsRandom;
    use crate::platform::http::fake::FakeHttp;

    // The Standard Webhooks test vector (spec, "Signature scheme" example).
    #[test]
    fn signature_matches_the_spec_example() {
        let key = b64_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_text_is_a_signed_json_post_to_origin_and_path() {
        let config = Config::from_variables(&vars(&[
            ("webhook_origin", "https://gw.example.com/"),
            ("webhook_path", "hooks/unlatch"),
            ("webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ]))
        .unwrap();
        let http = FakeHttp::answering(204, &[]);
        let msg =
            Message { channel: Channel::Sms, to: "+14255550112".into(), subject: String::new(), body: "hi".into() };
        send(&config, &http, 1_700_000_000, &OsRandom, &msg).unwrap();
        let r = http.last();
        assert_eq!(r.url, "https://gw.example.com/hooks/unlatch");
        assert_eq!(r.header_value("content-type"), Some("application/json"));
        let id = r.header_value("webhook-id").unwrap();
        assert_eq!(r.header_value("webhook-timestamp"), Some("1700000000"));
        assert_eq!(r.header_value("webhook-signature").unwrap(), sign(&config.key, id, 1_700_000_000, &r.body));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!((body["channel"].as_str(), body["to"].as_str()), (Some("sms"), Some("+14255550112")));
        assert!(!format!("{config:?}").contains("MfKQ"));
    }

    #[test]
    fn a_secret_without_whsec_is_not_configured() {
        let e =
            Config::from_variables(&vars(&[("webhook_origin", "https://gw.example.com"), ("webhook_secret", "abc")]))
                .unwrap_err();
        assert_eq!(e.error(), "not_configured");
    }
}
