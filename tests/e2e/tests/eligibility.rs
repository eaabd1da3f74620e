//! The last step re-checks the user: an admin who disables self-service, hands
//! the password to another directory, unlocks or deletes the user after the
//! gates passed stops the reset or unlock there.

use serde_json::{Value, json};
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const TOKEN: &str = "e2e-admin-token-eligibility-0123456789";
const NEW_PASSWORD: &str = "Correct-Horse-Battery-9";

fn app() -> App {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", TOKEN)]);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    app
}

fn admin(app: &App, method: &str, path: &str, body: &Value) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    app.request(method, path, &headers, &serde_json::to_vec(body).unwrap())
}

/// A user whose reset (or unlock) flow has passed every gate.
fn verified(app: &App, username: &str, purpose: &str) -> (String, String) {
    let user = user_with_everything(app, username);
    if purpose == "unlock" {
        assert_eq!(admin(app, "POST", &format!("/api/admin/users/{}/lock", user.id), &json!({})).status, 200);
    }
    let flow = start_flow(app, username, purpose);
    pass_code_gate(app, &flow, "email", EMAIL);
    (user.id, flow)
}

#[test]
fn set_password_refuses_a_user_an_admin_changed_after_the_gates() {
    let app = app();
    let (id, flow) = verified(&app, "off@contoso.com", "reset");
    let patched = admin(&app, "PATCH", &format!("/api/admin/users/{id}"), &json!({ "sspr_enabled": false }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_error(&set_password(&app, &flow, NEW_PASSWORD), 403, "not_enabled");

    let (id, flow) = verified(&app, "fed@contoso.com", "reset");
    let patched = admin(&app, "PATCH", &format!("/api/admin/users/{id}"), &json!({ "password_managed_here": false }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_error(&set_password(&app, &flow, NEW_PASSWORD), 403, "contact_admin");

    let (id, flow) = verified(&app, "gone@contoso.com", "reset");
    assert_eq!(admin(&app, "DELETE", &format!("/api/admin/users/{id}"), &json!({})).status, 200);
    assert_eq!(set_password(&app, &flow, NEW_PASSWORD).status, 404);
}

#[test]
fn unlock_refuses_a_user_an_admin_unlocked_or_disabled_after_the_gates() {
    let app = app();
    let (id, flow) = verified(&app, "lee@contoso.com", "unlock");
    assert_eq!(admin(&app, "POST", &format!("/api/admin/users/{id}/unlock"), &json!({})).status, 200);
    assert_error(&unlock(&app, &flow), 409, "not_locked");

    let (id, flow) = verified(&app, "kim@contoso.com", "unlock");
    let patched = admin(&app, "PATCH", &format!("/api/admin/users/{id}"), &json!({ "sspr_enabled": false }));
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_error(&unlock(&app, &flow), 403, "not_enabled");
    // Still locked: the refused unlock changed nothing.
    let user = user(&app, &id);
    assert!(user.locked, "{user:?}");
}
