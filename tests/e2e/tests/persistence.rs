//! State lives in the key-value store: a runner restart on the same file
//! continues flows and CAPTCHAs, and nothing secret is stored in plain.

use serde_json::json;
use unlatch_core::users::verify_password;
use unlatch_core::{Store, WholeStoreScan};
use unlatch_e2e::journey::*;

#[test]
fn a_flow_started_before_a_restart_continues_after_it() {
    let mut app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    app.restart();
    let passed = pass_code_gate(&app, &flow, "email", EMAIL);
    assert_eq!(passed["next"], "set_password");
    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(verify_password(&user(&app, &jane.id), "Correct-Horse-Battery-9"));
}

#[test]
fn a_captcha_issued_before_a_restart_verifies_after_it() {
    let mut app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let captcha = solved_captcha(&app);
    app.restart();
    let body = json!({ "username": "jane@contoso.com", "captcha": captcha, "purpose": "reset" });
    let reply = app.post_json("/api/identify", &body);
    assert_eq!(reply.status, 200, "the generated CAPTCHA key is kept in KV: {}", reply.text());
    assert_error(&app.post_json("/api/identify", &body), 400, "captcha_invalid");
}

#[test]
fn no_code_password_or_answer_is_stored_in_plain() {
    let app = quick_app();
    set_policy(&app, |p| p.gates_required = 2);
    let jane = user_with_everything(&app, "jane@contoso.com");
    let new_password = "Correct-Horse-Battery-9";
    let flow = start_flow(&app, "jane@contoso.com", "reset");

    // A code that is sent but never used, and one that is used.
    assert_eq!(send_code(&app, &flow, "mobile_text", MOBILE).status, 202);
    let unused = last_code(&app);
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    let used = last_code(&app);
    assert_eq!(verify_code(&app, &flow, "email", &used).status, 200);
    let questions = ask_questions(&app, &flow);
    let typed: Vec<String> = questions.iter().map(|q| fixture_answer(q["id"].as_str().unwrap())).collect();
    assert_eq!(answer_questions(&app, &flow, &questions, fixture_answer).status, 200);
    assert_eq!(set_password(&app, &flow, new_password).status, 200);
    assert!(verify_password(&user(&app, &jane.id), new_password));

    let mut secrets: Vec<String> = vec![unused, used, new_password.into(), PASSWORD.into()];
    for answer in (1..=5).map(|i| format!("Answer {i}")).chain(typed) {
        secrets.push(answer.to_lowercase());
        secrets.push(answer);
    }
    let store = app.store();
    let keys = store.keys_with_prefix("").unwrap();
    assert!(keys.iter().any(|k| k.starts_with("flow:")) && keys.iter().any(|k| k.starts_with("user:")), "{keys:?}");
    let mut scanned = 0;
    for key in keys {
        // The dev outbox is the delivery channel itself (the stand-in for the
        // user's phone and inbox), so it holds the codes by design.
        if key.starts_with("outbox:") {
            continue;
        }
        let value = String::from_utf8_lossy(&store.get(&key).unwrap().unwrap_or_default()).into_owned();
        for secret in &secrets {
            assert!(!value.contains(secret.as_str()), "`{secret}` in plain at {key}: {value}");
            assert!(!key.contains(secret.as_str()), "`{secret}` in the key {key}");
        }
        scanned += 1;
    }
    assert!(scanned > 5, "the scan saw the store ({scanned} keys)");
}
