//! The "Unlock your account" journey over HTTP.

use unlatch_core::users::{self, verify_password};
use unlatch_e2e::journey::*;

#[test]
fn unlock_clears_the_lock_and_keeps_the_password() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    users::lock(&app.store(), &jane.id, None).unwrap();

    let started = identify(&app, "jane@contoso.com", "unlock");
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["purpose"], "unlock");
    let flow = started.json()["flow"].as_str().unwrap().to_owned();
    assert_error(&unlock(&app, &flow), 409, "flow_state");

    let passed = pass_code_gate(&app, &flow, "email", EMAIL);
    assert_eq!(passed["next"], "unlock");
    // An unlock flow never satisfies set-password.
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");

    let done = unlock(&app, &flow);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["status"], "unlocked");
    let after = user(&app, &jane.id);
    assert!(!after.locked && !after.is_locked(u64::MAX / 2), "unlocked in core");
    assert!(verify_password(&after, PASSWORD), "the password is unchanged");
    assert!(!verify_password(&after, "Correct-Horse-Battery-9"));
    assert_error(&unlock(&app, &flow), 409, "flow_state");
}

#[test]
fn unlock_by_security_questions_for_an_account_created_locked() {
    let app = quick_app();
    let jane = create_user(&app, users::NewUser { locked: true, ..new_user_with_everything("jane@contoso.com") });
    let flow = start_flow(&app, "jane@contoso.com", "unlock");
    assert_eq!(pass_questions_gate(&app, &flow)["next"], "unlock");
    assert_eq!(unlock(&app, &flow).status, 200);
    assert!(!user(&app, &jane.id).locked);
}

#[test]
fn an_account_that_is_not_locked_gets_not_locked() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let body = assert_error(&identify(&app, "jane@contoso.com", "unlock"), 409, "not_locked");
    assert!(body.get("flow").is_none(), "no flow is started: {body}");
}

#[test]
fn a_reset_flow_cannot_unlock_but_a_reset_clears_the_lock() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    users::lock(&app.store(), &jane.id, None).unwrap();
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &flow, "email", EMAIL);
    assert_error(&unlock(&app, &flow), 409, "flow_state");
    assert!(user(&app, &jane.id).locked, "still locked");
    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(!user(&app, &jane.id).locked, "a reset ends the lockout");
}
