//! "Change your password": old password + new one, over HTTP.

use serde_json::json;
use unlatch_e2e::App;
use unlatch_e2e::account::*;
use unlatch_e2e::journey::*;

const NEW: &str = "Violet-Kestrel-Harbour-7";

fn change(app: &App, old: &str, new: &str) -> unlatch_e2e::Reply {
    app.post_json(
        "/api/set-password",
        &json!({ "username": "jane@contoso.com", "old_password": old, "new_password": new, "confirm_password": new }),
    )
}

#[test]
fn change_password_ends_sessions_and_the_old_password_stops_working() {
    let app = App::start();
    let jane = user_with_everything(&app, "jane@contoso.com");
    let s = sign_in(&app, "jane@contoso.com", PASSWORD);

    let wrong = change(&app, "Not-my-password-1", NEW);
    assert_eq!((wrong.status, wrong.json()["error"].as_str()), (401, Some("invalid_credentials")));
    let weak = change(&app, PASSWORD, "password123");
    assert_eq!((weak.status, weak.json()["error"].as_str()), (422, Some("password_policy")));
    let same = change(&app, PASSWORD, PASSWORD);
    assert_eq!(same.json()["violations"][0]["rule"], "same_as_current");
    let mismatch = app.post_json("/api/set-password", &json!({ "username": "jane@contoso.com", "old_password": PASSWORD, "new_password": NEW, "confirm_password": "other" }));
    assert_eq!(mismatch.status, 422);

    let done = change(&app, PASSWORD, NEW);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json(), json!({ "status": "password_changed", "signin_required": true }));
    assert_eq!(s.get(&app, "/api/session").status, 401, "every session ended");

    let old = signin(&app, "jane@contoso.com", PASSWORD);
    assert_eq!((old.status, old.json()["error"].as_str()), (401, Some("invalid_credentials")));
    sign_in(&app, "jane@contoso.com", NEW);
    let after = user(&app, &jane.id);
    assert!(unlatch_core::users::verify_password(&after, NEW));
    assert_eq!(outbox(&app)[0]["subject"], "Your password was changed");
    let events = unlatch_core::audit::list(
        &app.store(),
        &unlatch_core::audit::Query { kind: Some("password_changed".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert!(kv_dump(&app).iter().all(|(_, v)| !v.contains(NEW) && !v.contains(PASSWORD)), "no password in KV");
}

#[test]
fn wrong_old_passwords_count_toward_the_sign_in_lockout() {
    let app = App::start();
    user_with_everything(&app, "jane@contoso.com");
    for _ in 0..5 {
        assert_eq!(change(&app, "Not-my-password-1", NEW).status, 401);
    }
    for _ in 0..5 {
        assert_eq!(signin(&app, "jane@contoso.com", "Not-my-password-1").status, 401);
    }
    assert_eq!(signin(&app, "jane@contoso.com", PASSWORD).status, 423);
    assert_eq!(change(&app, PASSWORD, NEW).status, 423);
}
