//! `twilio` SMS through the Messages API
//! (<https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource>):
//! `POST {twilio_api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`,
//! form-encoded `To`, `Body` and `From` or `MessagingServiceSid`, with HTTP
//! Basic auth (account SID : auth token, <https://www.twilio.com/docs/usage/requests-to-twilio>).
//! Twilio names each answer in `Twilio-Request-Id`.
//!
//! [`account_url`] and [`post_form`] are the reusable halves for other
//! Twilio resources (the Calls API).

use super::{b64, form, outcome, required};
use crate::domain::notify::{Message, NotifyError};
use crate::errors::{ApiError, Result};
use crate::platform::http::{HttpClient, OutboundRequest};

pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
pub const REQUEST_ID_HEADER: &str = "twilio-request-id";

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub api_base: String,
    pub account_sid: String,
    pub auth_token: String,
    pub sender: Sender,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "twilio::Config {{ api_base: {:?}, account_sid: {:?}, auth_token: .. }}",
            self.api_base, self.account_sid
        )
    }
}

impl Config {
    pub fn from_variables(var: &dyn Fn(&str) -> String) -> Result<Config> {
        let api_base = super::origin_var(var, "twilio_api_base", DEFAULT_API_BASE, "twilio")?;
        let account_sid = required(var, "twilio_account_sid", "twilio")?;
        let auth_token = required(var, "twilio_auth_token", "twilio")?;
        let service = var("twilio_messaging_service_sid").trim().to_owned();
        let from = var("twilio_from").trim().to_owned();
        let sender = match (service.is_empty(), from.is_empty()) {
            (false, _) => Sender::MessagingService(service),
            (true, false) => Sender::From(from),
            (true, true) => {
                return Err(ApiError::not_configured(
                    "This service is not configured: `twilio` needs `twilio_from` or `twilio_messaging_service_sid`.",
                ));
            }
        };
        Ok(Config { api_base, account_sid, auth_token, sender })
    }
}

/// `{base}/2010-04-01/Accounts/{sid}/{resource}` (e.g. `Messages.json`).
pub fn account_url(c: &Config, resource: &str) -> String {
    let sid: String = url::form_urlencoded::byte_serialize(c.account_sid.as_bytes()).collect();
    format!("{}/2010-04-01/Accounts/{sid}/{resource}", c.api_base)
}

/// A form POST to an account resource with Basic auth.
pub fn form_request(c: &Config, resource: &str, fields: &[(&str, &str)]) -> OutboundRequest {
    let basic = b64(format!("{}:{}", c.account_sid, c.auth_token).as_bytes());
    OutboundRequest::post(account_url(c, resource), "application/x-www-form-urlencoded", form(fields).into_bytes())
        .header("authorization", format!("Basic {basic}"))
        .header("accept", "application/json")
}

pub fn post_form(
    c: &Config,
    http: &dyn HttpClient,
    resource: &str,
    fields: &[(&str, &str)],
) -> std::result::Result<(), NotifyError> {
    outcome("twilio", http.send(&form_request(c, resource, fields)), REQUEST_ID_HEADER)
}

pub fn sms_request(c: &Config, msg: &Message) -> OutboundRequest {
    let (sender_field, sender) = match &c.sender {
        Sender::From(from) => ("From", from.as_str()),
        Sender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
    };
    form_request(c, "Messages.json", &[("To", &msg.to), (sender_field, sender), ("Body", &msg.body)])
}

pub fn send_sms(c: &Config, http: &dyn HttpClient, msg: &Message) -> std::result::Result<(), NotifyError> {
    outcome("twilio", http.send(&sms_request(c, msg)), REQUEST_ID_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::tests::vars;
    use crate::domain::notify::Channel;
    use crate::platform::http::fake::FakeHttp;

    #[test]
    fn a_text_is_a_form_post_with_basic_auth() {
        let c = Config::from_variables(&vars(&[
            ("twilio_account_sid", "AC123"),
            ("twilio_auth_token", "s3cr3t"),
            ("twilio_from", "+14255550100"),
        ]))
        .unwrap();
        let http = FakeHttp::answering(201, &[]);
        let msg = Message {
            channel: Channel::Sms,
            to: "+14255550112".into(),
            subject: String::new(),
            body: "123 & go".into(),
        };
        send_sms(&c, &http, &msg).unwrap();
        let r = http.last();
        assert_eq!(r.url, "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
        assert_eq!(r.header_value("authorization"), Some("Basic QUMxMjM6czNjcjN0"));
        assert_eq!(r.header_value("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(String::from_utf8(r.body).unwrap(), "To=%2B14255550112&From=%2B14255550100&Body=123+%26+go");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_messaging_service_replaces_from_and_one_of_them_is_required() {
        let c = Config::from_variables(&vars(&[
            ("twilio_api_base", "http://127.0.0.1:9"),
            ("twilio_account_sid", "AC1"),
            ("twilio_auth_token", "t"),
            ("twilio_messaging_service_sid", "MG1"),
        ]))
        .unwrap();
        let msg = Message { channel: Channel::Sms, to: "+1".into(), subject: String::new(), body: "b".into() };
        let body = String::from_utf8(sms_request(&c, &msg).body).unwrap();
        assert!(body.contains("MessagingServiceSid=MG1") && !body.contains("From="), "{body}");
        assert!(sms_request(&c, &msg).url.starts_with("http://127.0.0.1:9/"));
        let e =
            Config::from_variables(&vars(&[("twilio_account_sid", "AC1"), ("twilio_auth_token", "t")])).unwrap_err();
        assert_eq!(e.error(), "not_configured");
    }
}
