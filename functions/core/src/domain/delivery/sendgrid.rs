//! `sendgrid` email through the v3 Mail Send API
//! (<https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send>):
//! `POST {sendgrid_api_base}/v3/mail/send`, `Authorization: Bearer <key>`,
//! a JSON body with `personalizations`, `from`, `subject` and `content`
//! (text/plain, then text/html), click and open tracking off. SendGrid names
//! each accepted message in `X-Message-Id`.

use super::{outcome, required};
use crate::domain::notify::{Message, NotifyError};
use crate::errors::Result;
use crate::platform::http::{HttpClient, OutboundRequest};
use serde_json::json;

pub const DEFAULT_API_BASE: &str = "https://api.sendgrid.com";
pub const REQUEST_ID_HEADER: &str = "x-message-id";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub api_base: String,
    pub api_key: String,
    pub from: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sendgrid::Config {{ api_base: {:?}, from: {:?}, api_key: .. }}", self.api_base, self.from)
    }
}

impl Config {
    pub fn from_variables(var: &dyn Fn(&str) -> String) -> Result<Config> {
        Ok(Config {
            api_base: super::origin_var(var, "sendgrid_api_base", DEFAULT_API_BASE, "sendgrid")?,
            api_key: required(var, "sendgrid_api_key", "sendgrid")?,
            from: required(var, "email_from", "sendgrid")?,
        })
    }
}

pub fn request(c: &Config, msg: &Message) -> OutboundRequest {
    let body = json!({
        "personalizations": [{ "to": [{ "email": msg.to }] }],
        "from": { "email": c.from },
        "subject": msg.subject,
        "content": [
            { "type": "text/plain", "value": msg.body },
            { "type": "text/html", "value": crate::domain::templates::email_html(&msg.subject, &msg.body) },
        ],
        "tracking_settings": {
            "click_tracking": { "enable": false },
            "open_tracking": { "enable": false },
        },
    });
    OutboundRequest::post(
        format!("{}/v3/mail/send", c.api_base),
        "application/json",
        serde_json::to_vec(&body).unwrap_or_default(),
    )
    .header("authorization", format!("Bearer {}", c.api_key))
}

pub fn send(c: &Config, http: &dyn HttpClient, msg: &Message) -> std::result::Result<(), NotifyError> {
    outcome("sendgrid", http.send(&request(c, msg)), REQUEST_ID_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::tests::vars;
    use crate::domain::notify::Channel;

    #[test]
    fn mail_send_with_a_bearer_key_text_then_html_and_no_tracking() {
        let c = Config::from_variables(&vars(&[("sendgrid_api_key", "SG.k"), ("email_from", "no-reply@example.com")]))
            .unwrap();
        let msg =
            Message { channel: Channel::Email, to: "a@example.com".into(), subject: "S".into(), body: "b".into() };
        let r = request(&c, &msg);
        assert_eq!(r.url, "https://api.sendgrid.com/v3/mail/send");
        assert_eq!(r.header_value("authorization"), Some("Bearer SG.k"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["personalizations"][0]["to"][0]["email"], "a@example.com");
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert_eq!(body["content"][1]["type"], "text/html");
        assert_eq!(body["tracking_settings"]["open_tracking"]["enable"], false);
        assert!(!format!("{c:?}").contains("SG.k"));
    }
}
