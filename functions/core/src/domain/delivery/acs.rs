//! `acs`: Azure Communication Services SMS and Email, with access-key
//! request signing
//! (<https://learn.microsoft.com/azure/communication-services/tutorials/hmac-header-tutorial>):
//! `x-ms-date` (HTTP-date), `x-ms-content-sha256` (base64 SHA-256 of the
//! body) and `Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<sig>`,
//! where `<sig>` is the base64 HMAC-SHA256, keyed with the base64-decoded
//! access key, of `"{METHOD}\n{path and query}\n{date};{host};{content hash}"`.
//!
//! - SMS: `POST {endpoint}/sms?api-version=2021-03-07`
//!   (<https://learn.microsoft.com/rest/api/communication/sms/sms/send>).
//! - Email: `POST {endpoint}/emails:send?api-version=2023-03-31`
//!   (<https://learn.microsoft.com/rest/api/communication/dataplane/email/send>),
//!   with engagement tracking off.
//!
//! [`signed_request`] is the reusable half for other ACS APIs.

use super::{b64, b64_decode, hmac_sha256, outcome, required};
use crate::domain::notify::{Message, NotifyError};
use crate::errors::{ApiError, Result};
use crate::platform::http::{HttpClient, OutboundRequest};
use serde_json::json;
use sha2::Digest;

pub const SMS_PATH: &str = "/sms?api-version=2021-03-07";
pub const EMAIL_PATH: &str = "/emails:send?api-version=2023-03-31";
pub const REQUEST_ID_HEADER: &str = "x-ms-request-id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// `https://<resource>.communication.azure.com`.
    pub endpoint: String,
    pub key: Vec<u8>,
    /// `acs_sms_from` or `acs_email_from`, as the channel needs.
    pub from: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "acs::Config {{ endpoint: {:?}, from: {:?}, key: .. }}", self.endpoint, self.from)
    }
}

impl Config {
    pub fn from_variables(var: &dyn Fn(&str) -> String, channel: Channel) -> Result<Config> {
        let endpoint = super::origin_var(var, "acs_endpoint", "", "acs")?;
        let key = b64_decode(&required(var, "acs_access_key", "acs")?).filter(|k| !k.is_empty()).ok_or_else(|| {
            ApiError::not_configured("This service is not configured: `acs_access_key` must be the base64 access key.")
        })?;
        let from = match channel {
            Channel::Sms => required(var, "acs_sms_from", "acs")?,
            Channel::Email => required(var, "acs_email_from", "acs")?,
        };
        Ok(Config { endpoint, key, from })
    }
}

/// An HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix seconds.
pub fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A JSON POST to `path_and_query` of the endpoint, signed with the access key.
pub fn signed_request(c: &Config, now: u64, path_and_query: &str, body: Vec<u8>) -> OutboundRequest {
    let url = format!("{}{path_and_query}", c.endpoint);
    let host = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_default();
    let date = http_date(now);
    let content_hash = b64(&sha2::Sha256::digest(&body));
    let to_sign = format!("POST\n{path_and_query}\n{date};{host};{content_hash}");
    let signature = b64(&hmac_sha256(&c.key, to_sign.as_bytes()));
    OutboundRequest::post(url, "application/json", body)
        .header("x-ms-date", date)
        .header("x-ms-content-sha256", content_hash)
        .header(
            "authorization",
            format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"),
        )
}

pub fn sms_request(c: &Config, now: u64, msg: &Message) -> OutboundRequest {
    let body = json!({
        "from": c.from,
        "smsRecipients": [{ "to": msg.to }],
        "message": msg.body,
        "smsSendOptions": { "enableDeliveryReport": false },
    });
    signed_request(c, now, SMS_PATH, serde_json::to_vec(&body).unwrap_or_default())
}

pub fn email_request(c: &Config, now: u64, msg: &Message) -> OutboundRequest {
    let body = json!({
        "senderAddress": c.from,
        "recipients": { "to": [{ "address": msg.to }] },
        "content": {
            "subject": msg.subject,
            "plainText": msg.body,
            "html": crate::domain::templates::email_html(&msg.subject, &msg.body),
        },
        "userEngagementTrackingDisabled": true,
    });
    signed_request(c, now, EMAIL_PATH, serde_json::to_vec(&body).unwrap_or_default())
}

pub fn send(c: &Config, http: &dyn HttpClient, now: u64, msg: &Message) -> std::result::Result<(), NotifyError> {
    let request = match msg.channel {
        crate::domain::notify::Channel::Email => email_request(c, now, msg),
        _ => sms_request(c, now, msg),
    };
    outcome("acs", http.send(&request), REQUEST_ID_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::tests::vars;
    use crate::domain::notify::Channel as Ch;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
    }

    #[test]
    fn requests_are_signed_over_method_path_date_host_and_body_hash() {
        let key = b64(b"0123456789abcdef0123456789abcdef");
        let c = Config::from_variables(
            &vars(&[
                ("acs_endpoint", "http://127.0.0.1:8123"),
                ("acs_access_key", &key),
                ("acs_sms_from", "+18005550100"),
            ]),
            Channel::Sms,
        )
        .unwrap();
        let msg = Message { channel: Ch::Sms, to: "+14255550112".into(), subject: String::new(), body: "hi".into() };
        let r = sms_request(&c, 784_111_777, &msg);
        assert_eq!(r.url, "http://127.0.0.1:8123/sms?api-version=2021-03-07");
        let hash = b64(&sha2::Sha256::digest(&r.body));
        assert_eq!(r.header_value("x-ms-content-sha256"), Some(hash.as_str()));
        let expected = b64(&hmac_sha256(
            b"0123456789abcdef0123456789abcdef",
            format!("POST\n/sms?api-version=2021-03-07\nSun, 06 Nov 1994 08:49:37 GMT;127.0.0.1:8123;{hash}")
                .as_bytes(),
        ));
        assert_eq!(
            r.header_value("authorization").unwrap(),
            format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}")
        );
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["smsRecipients"][0]["to"], "+14255550112");
    }

    #[test]
    fn email_is_multipart_and_untracked() {
        let c = Config::from_variables(
            &vars(&[
                ("acs_endpoint", "https://r.communication.azure.com"),
                ("acs_access_key", "a2V5"),
                ("acs_email_from", "DoNotReply@example.com"),
            ]),
            Channel::Email,
        )
        .unwrap();
        let msg = Message { channel: Ch::Email, to: "a@example.com".into(), subject: "S".into(), body: "b <x>".into() };
        let body: serde_json::Value = serde_json::from_slice(&email_request(&c, 0, &msg).body).unwrap();
        assert_eq!(body["userEngagementTrackingDisabled"], true);
        assert_eq!(body["content"]["plainText"], "b <x>");
        assert!(body["content"]["html"].as_str().unwrap().contains("b &lt;x&gt;"));
        assert!(
            Config::from_variables(
                &vars(&[("acs_endpoint", "https://r.x"), ("acs_access_key", "a2V5")]),
                Channel::Email
            )
            .is_err()
        );
    }
}
