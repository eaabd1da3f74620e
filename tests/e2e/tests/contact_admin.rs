//! "Contact an administrator" over HTTP: the way out of Entra's guide's error pages.

use serde_json::json;
use unlatch_core::users::Role;
use unlatch_e2e::journey::*;

#[test]
fn a_stuck_user_reaches_the_admins_and_a_stranger_gets_the_same_answer_with_nothing_sent() {
    let app = quick_app();
    user_with(&app, "off@contoso.com", |u| u.sspr_enabled = Some(false));
    let ask =
        |username: &str| app.post_json("/api/contact-admin", &json!({ "username": username, "purpose": "reset" }));

    let nobody_to_tell = ask("off@contoso.com");
    assert_error(&nobody_to_tell, 503, "no_administrator");

    user_with(&app, "boss@contoso.com", |u| {
        u.role = Role::Admin;
        u.contacts.alternate_email = Some("boss@fabrikam.com".into());
    });
    let known = ask("off@contoso.com");
    assert_eq!(known.status, 202, "{}", known.text());
    let messages = outbox(&app);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["to"], "boss@fabrikam.com");
    assert!(messages[0]["body"].as_str().unwrap().contains("off@contoso.com"));

    let unknown = ask("nobody@contoso.com");
    assert_eq!(
        (unknown.status, unknown.body.clone()),
        (known.status, known.body.clone()),
        "no hint whether the account exists"
    );
    assert_eq!(outbox(&app).len(), 1, "nothing is relayed for an unknown account");

    for _ in 0..2 {
        ask("off@contoso.com");
    }
    let throttled = ask("off@contoso.com");
    assert_error(&throttled, 429, "throttled");
    assert!(throttled.header("retry-after").is_some());

    assert_error(&app.post_json("/api/contact-admin", &json!({ "purpose": "reset" })), 400, "missing_field");
    assert_eq!(app.get("/api/contact-admin").status, 405);
}
