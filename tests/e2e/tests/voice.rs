//! "Press #" calls over HTTP, with the dev notifier: send-code places a call
//! (no code read out), the callback `POST /api/voice/<token>` or the dev
//! outbox's "press" action answers it, and verify-code with no code polls.

use serde_json::{Value, json};
use unlatch_core::Store;
use unlatch_core::domain::delivery::voice;
use unlatch_e2e::App;
use unlatch_e2e::account::{Session, sign_in};
use unlatch_e2e::journey::*;

/// Signs in a new user with nothing registered (no step-up needed for a first method).
fn signed_in_blank(app: &App, username: &str) -> (Session, String) {
    let sam = user_with(app, username, |u| u.contacts = Default::default());
    (sign_in(app, username, PASSWORD), sam.id)
}

/// `POST /api/register/start` for a phone by call: the flow and the send-code method and hint.
fn start_by_call(app: &App, s: &Session, method: &str, number: &str) -> (String, String, Value) {
    let body = json!({ "method": method, "country_code": "1", "destination": number, "mode": "call" });
    let started = s.send(app, "POST", "/api/register/start", Some(&body));
    assert_eq!(started.status, 201, "{}", started.text());
    let started = started.json();
    let send = started["send_code"].clone();
    (started["flow"].as_str().unwrap().to_owned(), send["method"].as_str().unwrap().to_owned(), send)
}

fn call_token(app: &App) -> String {
    let call = outbox(app).into_iter().find(|m| m["callback_url"].is_string()).expect("a call");
    call["callback_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()
}

#[test]
fn a_reset_by_a_press_hash_call_end_to_end() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let sent = send_code(&app, &flow, "mobile_call", MOBILE);
    assert_eq!(sent.status, 202, "{}", sent.text());
    let call = outbox(&app).remove(0);
    assert_eq!(call["channel"], "voice");
    let says = call["body"].as_str().unwrap();
    assert!(says.contains("press the pound key") && !says.chars().any(|c| c.is_ascii_digit()), "{says}");
    // In dev mode with no public_base_url the callback is on the request's own origin.
    let url = call["callback_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{}/api/voice/", app.addr())), "{url}");

    let pending = poll_call(&app, &flow, "mobile_call");
    assert_eq!((pending.status, pending.json()), (202, json!({ "status": "pending" })));
    let pressed = press_last_call(&app, "#");
    assert_eq!((pressed.status, pressed.json()["passed"].clone()), (200, json!(true)), "{}", pressed.text());
    let done = poll_call(&app, &flow, "mobile_call");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["next"], "set_password");
    let reset = app.post_json("/api/set-password", &json!({ "flow": flow, "new_password": "Correct-Horse-Battery-9" }));
    assert_eq!(reset.status, 200, "{}", reset.text());
}

#[test]
fn a_phone_registered_by_a_press_hash_call_through_the_dev_outbox() {
    let app = quick_app();
    let (s, sam) = signed_in_blank(&app, "sam@contoso.com");
    let (flow, method, send) = start_by_call(&app, &s, "office_phone", "425 555 0100");
    assert_eq!((method.as_str(), send["hint"].as_str()), ("office_call", Some("+1 •••• ••00")));
    assert_eq!(send_code(&app, &flow, &method, "4255550100").status, 202);
    let call = outbox(&app).remove(0);
    assert_eq!((call["channel"].as_str(), call["to"].as_str()), (Some("voice"), Some("+14255550100")));
    let says = call["body"].as_str().unwrap();
    assert!(says.contains("press the pound key") && !says.chars().any(|c| c.is_ascii_digit()), "{says}");
    // A code typed for a call is out of order.
    assert_error(&verify_code(&app, &flow, &method, "123456"), 409, "flow_state");
    assert_eq!(poll_call(&app, &flow, &method).json(), json!({ "status": "pending" }));
    // Another key fails the call ("Call again"); # on the next call saves the phone.
    assert_eq!(press_last_call(&app, "2").json()["passed"], false);
    let e = assert_error(&poll_call(&app, &flow, &method), 410, "call_failed");
    assert!(e["message"].as_str().unwrap().contains("Call again"));
    assert!(user(&app, &sam).contacts.office_phone.is_none());
    assert_eq!(send_code(&app, &flow, &method, "4255550100").status, 202);
    let pressed = press_last_call(&app, "#");
    assert_eq!((pressed.status, pressed.json()["passed"].clone()), (200, json!(true)), "{}", pressed.text());
    let done = poll_call(&app, &flow, &method);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json(), json!({ "gates_passed": 1, "gates_required": 1, "next": "finish" }));
    assert_eq!(user(&app, &sam).contacts.office_phone.unwrap().e164(), "+14255550100");
    let status = s.get(&app, "/api/register").json();
    assert_eq!(status["registered"]["office_phone"], json!({ "hint": "+1 •••• ••00", "mode": "call" }));
    assert_eq!(status["complete"], true);
}

#[test]
fn the_callback_route_a_replay_a_wrong_key_and_expiry() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "office_call", OFFICE).status, 202);
    let token = call_token(&app);
    // Another key: a failed attempt; the page is told to call again.
    let r = app.post_json(&format!("/api/voice/{token}"), &json!({ "digits": "1" }));
    assert_eq!((r.status, r.json()["passed"].clone()), (200, json!(false)), "{}", r.text());
    let e = assert_error(&poll_call(&app, &flow, "office_call"), 410, "call_failed");
    assert!(e["message"].as_str().unwrap().contains("Call again"));
    // A replayed token is refused.
    assert_error(&app.post_json(&format!("/api/voice/{token}"), &json!({ "digits": "#" })), 409, "flow_state");
    assert_eq!(app.post_json(&format!("/api/voice/{}", "0".repeat(32)), &json!({})).status, 404);
    assert_eq!(app.get(&format!("/api/voice/{token}")).status, 405);
    // Call again: # on the new call passes.
    assert_eq!(send_code(&app, &flow, "office_call", OFFICE).status, 202);
    let r = app.post_json(&format!("/api/voice/{}", call_token(&app)), &json!({ "digits": "#" }));
    assert_eq!(r.json()["passed"], true, "{}", r.text());
    assert_eq!(poll_call(&app, &flow, "office_call").status, 200);

    // After the flow expired: 410.
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
    let token = call_token(&app);
    age_everything(&app, 3600);
    assert_eq!(app.post_json(&format!("/api/voice/{token}"), &json!({ "digits": "#" })).status, 410);
    assert_error(&poll_call(&app, &flow, "mobile_call"), 410, "flow_expired");
}

/// Moves every flow and call record `seconds` into the past (the host's clock cannot be moved).
fn age_everything(app: &App, seconds: u64) {
    let store = app.store();
    for (key, value) in store.entries() {
        if !(key.starts_with("flow:") || key.starts_with("voice-call:")) {
            continue;
        }
        let mut v: serde_json::Value = serde_json::from_slice(&value).unwrap();
        for field in ["expires_at", "created_at"] {
            if let Some(n) = v[field].as_u64() {
                v[field] = json!(n - seconds);
            }
        }
        if let Some(n) = v["pending"]["expires_at"].as_u64() {
            v["pending"]["expires_at"] = json!(n - seconds);
        }
        store.set(&key, &serde_json::to_vec(&v).unwrap()).unwrap();
    }
}

#[test]
fn thirty_two_concurrent_callbacks_on_one_token_pass_once() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
    let token = call_token(&app);
    let statuses: Vec<(u16, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| {
                let (app, token) = (&app, &token);
                s.spawn(move || {
                    let r = app.post_json(&format!("/api/voice/{token}"), &json!({ "digits": "#" }));
                    (r.status, r.status == 200 && r.json()["passed"] == true)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|(_, passed)| *passed).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|(s, passed)| *passed || *s == 409), "{statuses:?}");
    assert_eq!(poll_call(&app, &flow, "mobile_call").json()["gates_passed"], 1);
}

#[test]
fn without_dev_mode_calls_need_a_public_base_url_and_signed_callbacks() {
    let mut vars = unlatch_e2e::app::SECRETS.to_vec();
    vars.push(("admin_token", "voice-admin-token-voice-admin-token"));
    let app = App::start_with(&vars);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    // The admin policy check says why calls are not offered.
    let auth = [("authorization", "Bearer voice-admin-token-voice-admin-token")];
    let check = app.request("GET", "/api/admin/policy/check", &auth, b"");
    assert_eq!(check.status, 200, "{}", check.text());
    assert!(check.json()["notes"][0].as_str().unwrap().contains("public_base_url"), "{}", check.text());
    user_with_everything(&app, "jane@contoso.com");
    let started = identify(&app, "jane@contoso.com", "reset").json();
    let ids: Vec<&str> = started["methods"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&"mobile_call") && !ids.contains(&"office_call"), "{ids:?}");
    let flow = started["flow"].as_str().unwrap();
    let e = assert_error(&send_code(&app, flow, "office_call", OFFICE), 422, "method_unavailable");
    assert!(e["message"].as_str().unwrap().contains("public_base_url"));
    // The dev outbox's press action does not exist, and an unsigned callback is refused.
    assert_eq!(app.post_json("/api/dev/outbox/1/press", &json!({ "digit": "#" })).status, 404);
    assert_error(
        &app.post_json(&format!("/api/voice/{}", "a".repeat(32)), &json!({ "digits": "#" })),
        403,
        "invalid_signature",
    );

    vars.push(("public_base_url", "https://sspr.contoso.com"));
    let app = App::start_with(&vars);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    user_with_everything(&app, "jane@contoso.com");
    let started = identify(&app, "jane@contoso.com", "reset").json();
    let ids: Vec<&str> = started["methods"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"mobile_call") && ids.contains(&"office_call"), "{ids:?}");
    let check = app.request("GET", "/api/admin/policy/check", &auth, b"");
    assert_eq!(check.json()["notes"], json!([]), "{}", check.text());
}

#[test]
fn twilio_callbacks_need_twilios_signature() {
    let mut vars = unlatch_e2e::app::SECRETS.to_vec();
    vars.extend([
        ("public_base_url", "https://sspr.contoso.com"),
        ("voice_provider", "twilio"),
        ("twilio_account_sid", "AC123"),
        ("twilio_auth_token", "twilio-auth-token"),
        ("twilio_from", "+14255550100"),
    ]);
    let app = App::start_with(&vars);
    let path = format!("/api/voice/{}", "ab".repeat(16));
    let body = b"CallSid=CA1&Digits=%23";
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let post = |signature: &str| {
        let headers = [form[0], ("x-twilio-signature", signature)];
        app.request("POST", &path, &headers, body)
    };
    // A forged signature (or none) is refused before anything is looked up.
    assert_error(&post("bm90IGEgc2lnbmF0dXJl"), 403, "invalid_signature");
    assert_error(&app.request("POST", &path, &form, body), 403, "invalid_signature");
    // Signed over another URL: refused too.
    let params = [("CallSid".to_owned(), "CA1".to_owned()), ("Digits".to_owned(), "#".to_owned())];
    let elsewhere = voice::twilio_signature("twilio-auth-token", &format!("https://evil.example{path}"), &params);
    assert_error(&post(&elsewhere), 403, "invalid_signature");
    // Twilio's signature over the public URL is accepted: the token is then looked up (unknown: 404).
    let signed = voice::twilio_signature("twilio-auth-token", &format!("https://sspr.contoso.com{path}"), &params);
    assert_eq!(post(&signed).status, 404);
}

mod through_providers {
    use super::*;
    use unlatch_core::domain::delivery::webhook;
    use unlatch_e2e::providers::{self, FakeProviders};

    fn app_with(fake: &FakeProviders, voice: &str) -> App {
        let mut vars = fake.vars("dev", "dev");
        vars.push(("voice_provider".into(), voice.into()));
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let app = App::start_with(&refs);
        set_policy(&app, |p| p.captcha_difficulty = 8);
        user_with_everything(&app, "jane@contoso.com");
        app
    }

    /// The callback path in a call's TwiML (`action="https://sspr.contoso.com/api/voice/<token>"`).
    fn action_path(twiml: &str) -> String {
        let url = twiml.split("action=\"").nth(1).unwrap().split('"').next().unwrap();
        url.strip_prefix("https://sspr.contoso.com").unwrap().to_owned()
    }

    /// Twilio's callback for `digits` (none: no key), signed with `token`.
    fn twilio_press(app: &App, path: &str, digits: Option<&str>, token: &str) -> unlatch_e2e::Reply {
        let mut params = vec![("CallSid".to_owned(), "CA1".to_owned())];
        if let Some(d) = digits {
            params.push(("Digits".to_owned(), d.to_owned()));
        }
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let sig = voice::twilio_signature(token, &format!("https://sspr.contoso.com{path}"), &params);
        let headers = [("content-type", "application/x-www-form-urlencoded"), ("x-twilio-signature", sig.as_str())];
        app.request("POST", path, &headers, body.as_bytes())
    }

    #[test]
    fn a_reset_by_a_press_hash_call_through_twilio() {
        let fake = FakeProviders::start();
        let app = app_with(&fake, "twilio");
        let flow = start_flow(&app, "jane@contoso.com", "reset");
        assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
        let call = fake.last();
        assert_eq!((call.provider, call.channel, call.to.as_str()), ("twilio", "voice", "+14255550112"));
        assert!(call.text.contains("press the pound key") && !call.text.contains("verification code is"));
        let path = action_path(&call.text);
        assert_eq!(poll_call(&app, &flow, "mobile_call").status, 202);
        // A forged signature is refused and changes nothing.
        assert_error(&twilio_press(&app, &path, Some("#"), "not-the-auth-token"), 403, "invalid_signature");
        // Another key: a failed attempt; "Call again".
        let r = twilio_press(&app, &path, Some("5"), providers::TWILIO_TOKEN);
        assert_eq!((r.status, r.header("content-type")), (200, Some("text/xml")), "{}", r.text());
        assert!(r.text().contains("not verified"));
        assert_error(&poll_call(&app, &flow, "mobile_call"), 410, "call_failed");
        assert_error(&twilio_press(&app, &path, Some("#"), providers::TWILIO_TOKEN), 409, "flow_state");
        // Call again; no key at all (the Gather's fall-through) fails too; then # passes.
        assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
        let path = action_path(&fake.last().text);
        assert!(twilio_press(&app, &path, None, providers::TWILIO_TOKEN).text().contains("not verified"));
        assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
        let path = action_path(&fake.last().text);
        let r = twilio_press(&app, &path, Some("#"), providers::TWILIO_TOKEN);
        assert!(r.text().contains("You are verified"), "{}", r.text());
        assert_eq!(poll_call(&app, &flow, "mobile_call").json()["next"], "set_password");
        assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    }

    #[test]
    fn a_phone_registered_by_a_press_hash_call_through_twilio() {
        let fake = FakeProviders::start();
        let app = app_with(&fake, "twilio");
        let (s, sam) = signed_in_blank(&app, "sam@contoso.com");
        let (flow, method, _) = start_by_call(&app, &s, "authentication_phone", "(425) 555-0177");
        assert_eq!(method, "mobile_call");
        assert_eq!(send_code(&app, &flow, &method, "+1 425 555 0177").status, 202);
        let call = fake.last();
        assert_eq!((call.provider, call.channel, call.to.as_str()), ("twilio", "voice", "+14255550177"));
        assert!(
            call.text.contains("register this phone") && call.text.contains("press the pound key"),
            "{}",
            call.text
        );
        assert!(!call.text.contains("code"), "no code is read out: {}", call.text);
        assert_eq!(poll_call(&app, &flow, &method).status, 202);
        // Forged: refused, nothing changes. Another key: a failed try, "Call again".
        let path = action_path(&call.text);
        assert_error(&twilio_press(&app, &path, Some("#"), "not-the-auth-token"), 403, "invalid_signature");
        assert_eq!(poll_call(&app, &flow, &method).status, 202);
        assert!(twilio_press(&app, &path, Some("9"), providers::TWILIO_TOKEN).text().contains("not verified"));
        assert_error(&poll_call(&app, &flow, &method), 410, "call_failed");
        assert!(user(&app, &sam).contacts.authentication_phone.is_none());
        // Call again, and # (signed as Twilio signs) saves the phone.
        assert_eq!(send_code(&app, &flow, &method, "+1 425 555 0177").status, 202);
        let path = action_path(&fake.last().text);
        let r = twilio_press(&app, &path, Some("#"), providers::TWILIO_TOKEN);
        assert!(r.text().contains("You are verified"), "{}", r.text());
        assert_eq!(poll_call(&app, &flow, &method).json()["next"], "finish");
        let phone = user(&app, &sam).contacts.authentication_phone.unwrap();
        assert_eq!(phone.e164(), "+14255550177");
        assert_eq!(s.get(&app, "/api/register").json()["registered"]["authentication_phone"]["mode"], "call");
        assert_error(&twilio_press(&app, &path, Some("#"), providers::TWILIO_TOKEN), 409, "flow_state");
        assert!(fake.rejected().is_empty(), "{:?}", fake.rejected());
    }

    #[test]
    fn a_press_hash_call_through_the_webhook() {
        let fake = FakeProviders::start();
        let app = app_with(&fake, "webhook");
        let flow = start_flow(&app, "jane@contoso.com", "reset");
        assert_eq!(send_code(&app, &flow, "office_call", OFFICE).status, 202);
        let call = fake.last();
        assert_eq!((call.provider, call.channel), ("webhook", "voice"));
        let path = call.text.strip_prefix("https://sspr.contoso.com").unwrap().to_owned();
        let config = webhook::Config::from_variables(&|name| match name {
            "webhook_origin" => "https://gw.example".into(),
            "webhook_secret" => providers::WEBHOOK_SECRET.into(),
            _ => String::new(),
        })
        .unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let body = br##"{"digits":"#"}"##;
        let press = |signature: &str| {
            let ts = now.to_string();
            let headers = [
                ("content-type", "application/json"),
                ("webhook-id", "msg_cb1"),
                ("webhook-timestamp", ts.as_str()),
                ("webhook-signature", signature),
            ];
            app.request("POST", &path, &headers, body)
        };
        assert_error(&press("v1,Zm9yZ2Vk"), 403, "invalid_signature");
        let r = press(&webhook::sign(&config.key, "msg_cb1", now, body));
        assert_eq!(r.json()["passed"], true, "{}", r.text());
        assert_eq!(poll_call(&app, &flow, "office_call").status, 200);
    }
}
