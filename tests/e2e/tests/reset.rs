//! The "Reset your password" journey over HTTP, end to end.

use serde_json::json;
use unlatch_e2e::App;
use unlatch_e2e::journey::*;

fn quick_app() -> App {
    let app = App::start();
    set_policy(&app, |p| p.captcha_difficulty = 8);
    app
}

#[test]
fn reset_with_one_gate_then_the_new_password_verifies() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");

    let reply = identify(&app, "JANE@contoso.com", "reset");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let started = reply.json();
    assert_eq!(started["purpose"], "reset");
    assert_eq!(started["gates_required"], 1);
    let hints: Vec<String> = started["methods"].as_array().unwrap().iter().map(|m| m["hint"].as_str().unwrap().to_owned()).collect();
    assert!(hints.iter().all(|h| !h.contains("jane.doe@") && !h.contains("555-0112")), "hints are masked: {hints:?}");
    let flow = started["flow"].as_str().unwrap();

    let passed = pass_code_gate(&app, flow, "email", EMAIL);
    assert_eq!(passed["gates_passed"], 1);

    let done = app.post_json("/api/set-password", &json!({ "flow": flow, "new_password": "Correct-Horse-Battery-9" }));
    assert_eq!(done.status, 200, "{}", done.text());

    let after = user(&app, &jane.id);
    assert!(unlatch_core::users::verify_password(&after, "Correct-Horse-Battery-9"));
    assert!(!unlatch_core::users::verify_password(&after, PASSWORD));

    let again = app.post_json("/api/set-password", &json!({ "flow": flow, "new_password": "Another-Good-One-77" }));
    assert_eq!(again.status, 409, "a consumed flow cannot be used twice: {}", again.text());
}
