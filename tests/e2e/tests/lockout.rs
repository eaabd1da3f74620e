//! Smart lockout over HTTP: ten wrong passwords lock the account (also when
//! they arrive all at once), the right password then gets 423, and the unlock
//! journey clears it.

use unlatch_e2e::App;
use unlatch_e2e::account::*;
use unlatch_e2e::journey::*;

const WRONG: &str = "Not-the-password-1";

fn unlock_by_email(app: &App) {
    let flow = start_flow(app, "jane@contoso.com", "unlock");
    pass_code_gate(app, &flow, "email", EMAIL);
    let done = app.post_json("/api/unlock", &serde_json::json!({ "flow": flow }));
    assert_eq!(done.status, 200, "{}", done.text());
}

#[test]
fn ten_wrong_passwords_lock_and_the_unlock_journey_clears_it() {
    let app = App::start();
    set_policy(&app, |p| p.captcha_difficulty = 8);
    let jane = user_with_everything(&app, "jane@contoso.com");
    // Not locked: the unlock journey has nothing to do.
    assert_eq!(identify(&app, "jane@contoso.com", "unlock").json()["error"], "not_locked");
    for i in 1..=10 {
        let r = signin(&app, "jane@contoso.com", WRONG);
        assert_eq!((r.status, r.json()["error"].as_str()), (401, Some("invalid_credentials")), "attempt {i}");
    }
    let locked = signin(&app, "jane@contoso.com", PASSWORD);
    assert_eq!(locked.status, 423, "{}", locked.text());
    let body = locked.json();
    assert_eq!(body["error"], "account_locked");
    assert!(body["message"].as_str().unwrap().contains("/unlock"));
    assert_eq!(body["unlock"], "/unlock");
    assert!(locked.header("retry-after").is_some());
    let u = user(&app, &jane.id);
    assert!(u.locked && u.locked_until.is_some());
    let store = app.store();
    let kinds = |kind: &str| {
        unlatch_core::audit::list(&store, &unlatch_core::audit::Query { kind: Some(kind.into()), ..Default::default() })
            .unwrap()
    };
    assert_eq!(kinds("signin_failed").len(), 10);
    assert_eq!(kinds("locked_out").len(), 1);
    assert!(kv_dump(&app).iter().all(|(_, v)| !v.contains(WRONG)), "tried passwords are not stored");

    unlock_by_email(&app);
    sign_in(&app, "jane@contoso.com", PASSWORD);
    // The count started again: nine more failures do not lock.
    for _ in 0..9 {
        assert_eq!(signin(&app, "jane@contoso.com", WRONG).status, 401);
    }
    sign_in(&app, "jane@contoso.com", PASSWORD);
}

#[test]
fn twenty_concurrent_wrong_passwords_lock_the_account() {
    let app = App::start();
    set_policy(&app, |p| p.captcha_difficulty = 8);
    user_with_everything(&app, "jane@contoso.com");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20).map(|_| s.spawn(|| signin(&app, "jane@contoso.com", WRONG).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 401 || *s == 423), "{statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 10, "at most ten guesses were evaluated: {statuses:?}");
    let r = signin(&app, "jane@contoso.com", PASSWORD);
    assert_eq!((r.status, r.json()["error"].as_str()), (423, Some("account_locked")));
    let events = unlatch_core::audit::list(
        &app.store(),
        &unlatch_core::audit::Query { kind: Some("locked_out".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(events.len(), 1, "the lockout is audited once");
    unlock_by_email(&app);
    sign_in(&app, "jane@contoso.com", PASSWORD);
}
