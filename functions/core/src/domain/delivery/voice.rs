//! "Press #" calls through a provider, and the provider's signature on the
//! callback it makes to `POST /api/voice/<token>`.
//!
//! - `twilio`: the Calls API
//!   (<https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource>):
//!   `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, form fields `To`, `From`
//!   (`twilio_from`; a Messaging Service cannot place calls) and `Twiml`, inline
//!   TwiML with `<Gather numDigits="1" action="…/api/voice/<token>">`
//!   (<https://www.twilio.com/docs/voice/twiml/gather>); `StatusCallback` reports a
//!   call that was not answered. Twilio signs its requests to us with
//!   `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the full
//!   URL followed by every POST parameter, sorted by name, as name + value
//!   (<https://www.twilio.com/docs/usage/webhooks/webhooks-security>).
//! - `webhook`: a signed JSON POST `{type: "voice.call", to, says, callback_url}`;
//!   the gateway reports the key as JSON `{digits}` signed the same Standard
//!   Webhooks way (`webhook-id`, `webhook-timestamp` within 5 minutes,
//!   `webhook-signature`).

use super::{b64, outcome, twilio, webhook};
use crate::domain::notify::{NotifyError, VoiceCall};
use crate::platform::clock::Random;
use crate::platform::http::HttpClient;
use hmac::{Hmac, Mac};
use serde_json::json;
use subtle::ConstantTimeEq;

/// `&`, `<`, `>`, `"` and `'` escaped for XML text and attributes.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// The call's TwiML: say who calls and "press #" while gathering one key; no
/// key at all posts the callback without `Digits` (a failed attempt).
pub fn twiml(call: &VoiceCall) -> String {
    let action = xml(&call.callback_url);
    format!(
        "<Response><Gather numDigits=\"1\" finishOnKey=\"\" method=\"POST\" action=\"{action}\"><Say>{}</Say></Gather><Redirect method=\"POST\">{action}</Redirect></Response>",
        xml(&call.says)
    )
}

/// What a callback answers Twilio: a last word, then hang up.
pub fn twiml_outcome(passed: bool) -> String {
    let say = if passed { "Thank you. You are verified. Goodbye." } else { "The call was not verified. Goodbye." };
    format!("<Response><Say>{say}</Say><Hangup/></Response>")
}

/// Places the call through Twilio's Calls API.
pub fn twilio_call(c: &twilio::Config, http: &dyn HttpClient, call: &VoiceCall) -> Result<(), NotifyError> {
    let twilio::Sender::From(from) = &c.sender else {
        return Err(NotifyError {
            reason: "twilio calls need `twilio_from` (a Messaging Service cannot call)".into(),
            provider: Some("twilio"),
            ..NotifyError::default()
        });
    };
    let fields = [
        ("To", call.to.as_str()),
        ("From", from.as_str()),
        ("Twiml", &twiml(call)),
        ("StatusCallback", call.callback_url.as_str()),
        ("StatusCallbackMethod", "POST"),
    ];
    twilio::post_form(c, http, "Calls.json", &fields)
}

/// `X-Twilio-Signature` for a POST of `params` to `url`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    m.update(url.as_bytes());
    for (name, value) in sorted {
        m.update(name.as_bytes());
        m.update(value.as_bytes());
    }
    b64(&m.finalize().into_bytes())
}

/// Whether Twilio signed this form POST to `url` (compared in constant time).
pub fn twilio_verify(auth_token: &str, url: &str, form_body: &[u8], signature: Option<&str>) -> bool {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(form_body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let expected = twilio_signature(auth_token, url, &params);
    signature.is_some_and(|s| bool::from(s.trim().as_bytes().ct_eq(expected.as_bytes())))
}

/// The key Twilio reports (`Digits`); `None` for a hang-up or no answer.
pub fn twilio_digits(form_body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(form_body).find(|(k, _)| k == "Digits").map(|(_, v)| v.into_owned())
}

/// Places the call through the webhook.
pub fn webhook_call(
    c: &webhook::Config,
    http: &dyn HttpClient,
    now: u64,
    random: &dyn Random,
    call: &VoiceCall,
) -> Result<(), NotifyError> {
    let payload = json!({ "type": "voice.call", "channel": "voice", "to": call.to, "says": call.says, "callback_url": call.callback_url });
    outcome("webhook", http.send(&webhook::request(c, now, random, &payload)), "webhook-id")
}

/// Seconds a webhook callback's timestamp may be off (Standard Webhooks' advice).
pub const WEBHOOK_TOLERANCE: u64 = 300;

/// Whether a callback carries a valid Standard Webhooks signature made with
/// the webhook secret, recent enough. The header may list several signatures.
pub fn webhook_verify(
    c: &webhook::Config,
    now: u64,
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
) -> bool {
    let (Some(id), Some(ts), Some(signatures)) = (id, timestamp.and_then(|t| t.trim().parse::<u64>().ok()), signatures)
    else {
        return false;
    };
    if now.abs_diff(ts) > WEBHOOK_TOLERANCE {
        return false;
    }
    let expected = webhook::sign(&c.key, id, ts, body);
    signatures.split(' ').any(|s| bool::from(s.trim().as_bytes().ct_eq(expected.as_bytes())))
}

/// A callback as it arrived: the URL the provider called (our
/// `public_base_url` + path), a header reader, and the raw body.
pub struct Callback<'a> {
    pub url: &'a str,
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
    pub now: u64,
}

/// Checks a callback's signature the way `voice` (the configured voice
/// provider) signs, and reads the key pressed (`None`: a hang-up, no answer).
/// Twilio: `X-Twilio-Signature`, form body `Digits`. Webhook: the Standard
/// Webhooks headers, JSON `{digits}`. `dev` has no signature, so its callback is
/// taken only with `dev_mode` on (JSON `{digits}` or `{digit}`). Otherwise 403
/// `invalid_signature`.
pub fn authenticate(voice: &super::Provider, dev_mode: bool, cb: &Callback) -> crate::errors::Result<Option<String>> {
    let json_digits = || -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(cb.body).ok()?;
        v.get("digits").or_else(|| v.get("digit")).and_then(|d| d.as_str()).map(str::to_owned)
    };
    let ok = match voice {
        super::Provider::Twilio(c) => {
            twilio_verify(&c.auth_token, cb.url, cb.body, (cb.header)("x-twilio-signature").as_deref())
        }
        super::Provider::Webhook(c) => webhook_verify(
            c,
            cb.now,
            (cb.header)("webhook-id").as_deref(),
            (cb.header)("webhook-timestamp").as_deref(),
            (cb.header)("webhook-signature").as_deref(),
            cb.body,
        ),
        super::Provider::Dev => dev_mode,
        _ => false,
    };
    if !ok {
        return Err(crate::errors::ApiError::invalid_signature());
    }
    Ok(match voice {
        super::Provider::Twilio(_) => twilio_digits(cb.body),
        _ => json_digits(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::tests::vars;
    use crate::platform::http::fake::FakeHttp;

    fn call() -> VoiceCall {
        VoiceCall {
            to: "+14255550112".into(),
            says: "Contoso & co: press the pound key to verify.".into(),
            callback_url: "https://sspr.contoso.com/api/voice/abc".into(),
        }
    }

    #[test]
    fn a_twilio_call_is_a_form_post_with_inline_twiml() {
        let c = twilio::Config::from_variables(&vars(&[
            ("twilio_account_sid", "AC123"),
            ("twilio_auth_token", "s3cr3t"),
            ("twilio_from", "+14255550100"),
        ]))
        .unwrap();
        let http = FakeHttp::answering(201, &[]);
        twilio_call(&c, &http, &call()).unwrap();
        let r = http.last();
        assert_eq!(r.url, "https://api.twilio.com/2010-04-01/Accounts/AC123/Calls.json");
        assert_eq!(r.header_value("authorization"), Some("Basic QUMxMjM6czNjcjN0"));
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(&r.body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let field = |n: &str| form.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!((field("To"), field("From")), ("+14255550112".into(), "+14255550100".into()));
        let twiml = field("Twiml");
        assert!(twiml.contains("<Gather numDigits=\"1\""), "{twiml}");
        assert!(twiml.contains("action=\"https://sspr.contoso.com/api/voice/abc\""), "{twiml}");
        assert!(twiml.contains("Contoso &amp; co: press the pound key"), "{twiml}");
        assert_eq!(field("StatusCallback"), "https://sspr.contoso.com/api/voice/abc");
    }

    #[test]
    fn twilios_documented_signature_example() {
        // The example of https://www.twilio.com/docs/usage/webhooks/webhooks-security.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(twilio_signature("12345", url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        let body = b"Digits=%23&CallSid=CA1";
        let good = twilio_signature(
            "t0k",
            "https://x/api/voice/a",
            &[("Digits".into(), "#".into()), ("CallSid".into(), "CA1".into())],
        );
        assert!(twilio_verify("t0k", "https://x/api/voice/a", body, Some(&good)));
        assert!(!twilio_verify("t0k", "https://x/api/voice/b", body, Some(&good)), "another URL");
        assert!(!twilio_verify("other", "https://x/api/voice/a", body, Some(&good)), "another token");
        assert!(!twilio_verify("t0k", "https://x/api/voice/a", body, None));
        assert_eq!(twilio_digits(body).as_deref(), Some("#"));
        assert_eq!(twilio_digits(b"CallStatus=no-answer"), None);
    }

    #[test]
    fn callbacks_are_authenticated_the_providers_way() {
        use super::super::Provider;
        let c = twilio::Config::from_variables(&vars(&[
            ("twilio_account_sid", "AC1"),
            ("twilio_auth_token", "t0k"),
            ("twilio_from", "+1"),
        ]))
        .unwrap();
        let url = "https://sspr.contoso.com/api/voice/abc";
        let body = b"CallSid=CA1&Digits=%23";
        let sig = twilio_signature("t0k", url, &[("CallSid".into(), "CA1".into()), ("Digits".into(), "#".into())]);
        let good = |name: &str| (name == "x-twilio-signature").then(|| sig.clone());
        let cb = Callback { url, header: &good, body, now: 0 };
        assert_eq!(authenticate(&Provider::Twilio(c.clone()), false, &cb).unwrap().as_deref(), Some("#"));
        let forged = |name: &str| (name == "x-twilio-signature").then(|| "AAAA".to_owned());
        let cb = Callback { url, header: &forged, body, now: 0 };
        let e = authenticate(&Provider::Twilio(c), true, &cb).unwrap_err();
        assert_eq!((e.status(), e.error()), (403, "invalid_signature"));
        let none = |_: &str| None;
        let dev = Callback { url, header: &none, body: br##"{"digits":"#"}"##, now: 0 };
        assert_eq!(authenticate(&Provider::Dev, true, &dev).unwrap().as_deref(), Some("#"));
        assert_eq!(authenticate(&Provider::Dev, false, &dev).unwrap_err().status(), 403, "unsigned only in dev_mode");
    }

    #[test]
    fn a_webhook_call_and_its_signed_callback() {
        let c = webhook::Config::from_variables(&vars(&[
            ("webhook_origin", "https://gw.contoso.com"),
            ("webhook_path", "/hooks"),
            ("webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ]))
        .unwrap();
        let http = FakeHttp::answering(204, &[]);
        webhook_call(&c, &http, 1_700_000_000, &crate::platform::clock::OsRandom, &call()).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&http.last().body).unwrap();
        assert_eq!(body["type"], "voice.call");
        assert_eq!(body["callback_url"], "https://sspr.contoso.com/api/voice/abc");
        let cb = br##"{"digits":"#"}"##;
        let sig = webhook::sign(&c.key, "msg_1", 1_700_000_000, cb);
        assert!(webhook_verify(&c, 1_700_000_100, Some("msg_1"), Some("1700000000"), Some(&sig), cb));
        assert!(webhook_verify(&c, 1_700_000_100, Some("msg_1"), Some("1700000000"), Some(&format!("v1,x {sig}")), cb));
        assert!(!webhook_verify(&c, 1_700_001_000, Some("msg_1"), Some("1700000000"), Some(&sig), cb), "too old");
        assert!(!webhook_verify(&c, 1_700_000_100, Some("msg_2"), Some("1700000000"), Some(&sig), cb));
        assert!(!webhook_verify(&c, 1_700_000_100, Some("msg_1"), Some("1700000000"), Some(&sig), b"{}"));
        assert!(!webhook_verify(&c, 1_700_000_100, None, Some("1700000000"), Some(&sig), cb));
    }
}
