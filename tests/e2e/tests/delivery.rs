//! Delivery through real providers' APIs, against the fake providers
//! (`unlatch_e2e::providers`) on loopback: each provider's origin is an
//! application variable templated into `allowed_outbound_hosts`, pointed at
//! the fake with `SPIN_VARIABLE_*`.

use serde_json::json;
use unlatch_core::audit::{self, Query};
use unlatch_core::users::verify_password;
use unlatch_e2e::App;
use unlatch_e2e::account::kv_dump;
use unlatch_e2e::client;
use unlatch_e2e::journey::*;
use unlatch_e2e::providers::{self, FakeProviders, Mode};

fn app_with(fake: &FakeProviders, sms: &str, email: &str) -> App {
    let vars = fake.vars(sms, email);
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = App::start_with(&refs);
    set_policy(&app, |p| {
        p.captcha_difficulty = 8;
        p.organisation_name = "Contoso".into();
    });
    app
}

/// The 6-digit code in a delivered text.
fn code_in(text: &str) -> String {
    let at = text.find(char::is_numeric).expect("a code in the message");
    text[at..at + 6].to_owned()
}

/// A reset through `method`, with the code read from what the fake received.
fn reset_through(fake: &FakeProviders, app: &App, method: &str, destination: &str) -> providers::Delivered {
    let jane = user_with_everything(app, "jane@contoso.com");
    let flow = start_flow(app, "jane@contoso.com", "reset");
    let sent = send_code(app, &flow, method, destination);
    let why = audit::list(&app.store(), &Query::default()).unwrap();
    assert_eq!(sent.status, 202, "{} {why:?} {:?} {}", sent.text(), fake.rejected(), app.logs());
    let delivered = fake.last();
    let code = code_in(&delivered.text);
    let passed = verify_code(app, &flow, method, &code);
    assert_eq!(passed.status, 200, "{}", passed.text());
    assert_eq!(set_password(app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(verify_password(&user(app, &jane.id), "Correct-Horse-Battery-9"));
    let dev = outbox(app);
    assert!(
        dev.iter().all(|m| !m["body"].as_str().unwrap_or_default().contains(&code)),
        "the code skipped the outbox: {dev:?}"
    );
    delivered
}

fn assert_email(d: &providers::Delivered, provider: &str) {
    assert_eq!((d.provider, d.channel, d.to.as_str()), (provider, "email", EMAIL));
    assert!(d.subject.contains("Contoso") && d.subject.contains("code"), "{}", d.subject);
    let html = d.html.as_deref().expect("an HTML part");
    assert!(html.contains(&code_in(&d.text)) && !html.contains("<img") && !html.contains("<a "), "{html}");
}

fn assert_sms(d: &providers::Delivered, provider: &str) {
    assert_eq!((d.provider, d.channel), (provider, "sms"));
    assert_eq!(d.to, "+14255550112");
    assert!(d.text.chars().count() <= 160 && d.text.contains("Contoso"), "{}", d.text);
    assert!(d.text.ends_with(&format!("@sspr.contoso.com #{}", code_in(&d.text))), "{}", d.text);
}

#[test]
fn reset_by_email_through_sendgrid() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "dev", "sendgrid");
    assert_email(&reset_through(&fake, &app, "email", EMAIL), "sendgrid");
}

#[test]
fn reset_by_email_through_acs() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "dev", "acs");
    assert_email(&reset_through(&fake, &app, "email", EMAIL), "acs");
}

#[test]
fn reset_by_text_through_twilio() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "twilio", "dev");
    assert_sms(&reset_through(&fake, &app, "mobile_text", MOBILE), "twilio");
}

#[test]
fn reset_by_text_through_acs() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "acs", "dev");
    assert_sms(&reset_through(&fake, &app, "mobile_text", MOBILE), "acs");
}

#[test]
fn texts_and_emails_through_the_webhook() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "webhook", "webhook");
    assert_sms(&reset_through(&fake, &app, "mobile_text", MOBILE), "webhook");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    assert_email(&fake.last(), "webhook");
}

#[test]
fn the_fake_rejects_wrong_signatures_and_missing_fields() {
    let fake = FakeProviders::start();
    let post = |target: &str, headers: &[(&str, &str)], body: &str| {
        client::send(fake.addr(), "POST", target, headers, body.as_bytes()).status
    };
    // SendGrid: a wrong key, then a body with no recipient.
    let json_ct = ("content-type", "application/json");
    assert_eq!(post("/v3/mail/send", &[("authorization", "Bearer SG.wrong"), json_ct], "{}"), 401);
    let bearer = format!("Bearer {}", providers::SENDGRID_KEY);
    let body =
        json!({ "from": { "email": "a@b.c" }, "subject": "s", "content": [{ "type": "text/plain", "value": "v" }] });
    assert_eq!(post("/v3/mail/send", &[("authorization", &bearer), json_ct], &body.to_string()), 400);
    // Twilio: no From.
    let basic = "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTp0d2lsaW8tYXV0aC10b2tlbi1zM2NyZXQ=";
    let form = ("content-type", "application/x-www-form-urlencoded");
    let target = format!("/2010-04-01/Accounts/{}/Messages.json", providers::TWILIO_SID);
    assert_eq!(post(&target, &[("authorization", basic), form], "To=%2B1&Body=x"), 400);
    assert_eq!(post(&target, &[("authorization", "Basic eDp5"), form], "To=%2B1&Body=x&From=%2B2"), 401);
    // ACS and the webhook: forged signatures.
    let acs = [
        ("x-ms-date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("x-ms-content-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ("authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=Zm9yZ2Vk"),
        json_ct,
    ];
    assert_eq!(post("/sms?api-version=2021-03-07", &acs, ""), 401);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let hook = [("webhook-id", "msg_1"), ("webhook-timestamp", &now), ("webhook-signature", "v1,Zm9yZ2Vk"), json_ct];
    assert_eq!(post(providers::WEBHOOK_PATH, &hook, "{}"), 401);
    assert!(fake.delivered().is_empty());
    let rejected = fake.rejected().join("\n");
    for why in [
        "wrong bearer key",
        "missing field /personalizations",
        "missing From",
        "wrong Basic",
        "acs:",
        "webhook: wrong signature",
    ] {
        assert!(rejected.contains(why), "{why} in {rejected}");
    }
}

/// Every failure mode: a clean 502 (or 429 with the provider's Retry-After),
/// the audit event with provider, status and request id, no secret anywhere,
/// and the flow still usable once the provider recovers.
#[test]
fn provider_failures_are_clean_audited_and_leave_the_flow_usable() {
    let fake = FakeProviders::start();
    let app = app_with(&fake, "twilio", "sendgrid");
    let _jane = user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");

    for (mode, status) in [(Mode::Status(500), 502), (Mode::Status(401), 502), (Mode::Status(429), 429)] {
        fake.set_mode(mode);
        let r = send_code(&app, &flow, "email", EMAIL);
        if status == 429 {
            assert_error(&r, 429, "throttled");
            assert_eq!(r.header("retry-after"), Some("7"));
        } else {
            let body = assert_error(&r, 502, "delivery_failed");
            assert!(body["message"].as_str().unwrap().contains("another method"), "{body}");
        }
    }
    // A timeout (the fake hangs past 10 s) and a connection error (nothing listens).
    fake.set_mode(Mode::Hang);
    let started = std::time::Instant::now();
    assert_error(&send_code(&app, &flow, "mobile_text", MOBILE), 502, "delivery_failed");
    assert!(started.elapsed() < std::time::Duration::from_secs(14), "the timeout is 10 s");

    let events =
        audit::list(&app.store(), &Query { kind: Some("delivery_failed".into()), ..Default::default() }).unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    let statuses: Vec<_> = events.iter().map(|e| e.detail["status"].as_u64()).collect();
    assert_eq!(statuses, [None, Some(429), Some(401), Some(500)]);
    assert_eq!(events[1].detail["provider"], "sendgrid");
    assert_eq!(events[1].detail["request_id"], "req-429");
    assert_eq!(events[0].detail["provider"], "twilio");

    // The flow is still usable: another method, once the provider answers again.
    fake.set_mode(Mode::Accept);
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    let code = code_in(&fake.last().text);
    assert_eq!(verify_code(&app, &flow, "email", &code).status, 200);

    let dump = format!("{:?}", kv_dump(&app));
    let logs = app.logs();
    for secret in providers::SECRETS {
        assert!(!dump.contains(secret), "{secret} in the store");
        assert!(!logs.contains(secret), "{secret} in the logs");
    }
}
