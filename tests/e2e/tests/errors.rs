//! Entra's guide's error cases on "Who are you?", over HTTP: status, code, the
//! own words of Entra's guide, and no difference between an unknown account and an
//! unregistered one.

use unlatch_core::policy::SsprScope;
use unlatch_core::users::Contacts;
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const CONTACT_ADMIN: &str = "Please contact your admin.";
const NOT_ENABLED: &str = "Your account is not enabled for password reset.";
const NOT_REGISTERED: &str = "We could not verify your account.";
const ADMIN_OFFER: &str =
    "If you'd like, we can contact an administrator in your organization to reset your password for you.";

/// Users for each case: federated, switched off, registered nothing, and one
/// with a single method (too few when the policy asks for two gates).
fn users_for_every_case(app: &App) {
    user_with(app, "federated@contoso.com", |n| n.password_managed_here = Some(false));
    user_with(app, "off@contoso.com", |n| n.sspr_enabled = Some(false));
    user_with(app, "nothing@contoso.com", |n| n.contacts = Contacts::default());
    user_with(app, "one-method@contoso.com", |_| {});
}

/// Status, the JSON body and the content type: what a client can tell apart.
fn visible(reply: &Reply) -> (u16, serde_json::Value, Option<String>) {
    (reply.status, reply.json(), reply.header("content-type").map(str::to_owned))
}

#[test]
fn each_seed_error_has_its_status_code_and_the_seeds_words() {
    let app = quick_app();
    users_for_every_case(&app);

    let body = assert_error(&identify(&app, "federated@contoso.com", "reset"), 403, "contact_admin");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(CONTACT_ADMIN) && message.contains("contact your admin or helpdesk"), "{message}");

    let body = assert_error(&identify(&app, "off@contoso.com", "reset"), 403, "not_enabled");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(NOT_ENABLED) && message.contains(ADMIN_OFFER), "{message}");

    let body = assert_error(&identify(&app, "nothing@contoso.com", "reset"), 403, "not_registered");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(NOT_REGISTERED) && message.contains(ADMIN_OFFER), "{message}");

    // The unlock journey gives the same answers.
    assert_error(&identify(&app, "federated@contoso.com", "unlock"), 403, "contact_admin");
    assert_error(&identify(&app, "off@contoso.com", "unlock"), 403, "not_enabled");
    assert_error(&identify(&app, "nothing@contoso.com", "unlock"), 403, "not_registered");
}

#[test]
fn policy_scope_none_is_not_enabled_for_everyone() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    assert_eq!(identify(&app, "jane@contoso.com", "reset").status, 200, "enabled by default");
    set_policy(&app, |p| p.sspr_enabled = SsprScope::None);
    assert_error(&identify(&app, "jane@contoso.com", "reset"), 403, "not_enabled");
}

#[test]
fn too_few_methods_for_two_gates_is_not_registered() {
    let app = quick_app();
    users_for_every_case(&app);
    assert_eq!(identify(&app, "one-method@contoso.com", "reset").status, 200, "one method is enough for one gate");
    set_policy(&app, |p| p.gates_required = 2);
    assert_error(&identify(&app, "one-method@contoso.com", "reset"), 403, "not_registered");
}

#[test]
fn an_unknown_account_gets_exactly_the_not_registered_answer() {
    let app = quick_app();
    users_for_every_case(&app);
    let registered_nothing = identify(&app, "nothing@contoso.com", "reset");
    let unknown = identify(&app, "nobody@contoso.com", "reset");
    assert_error(&unknown, 403, "not_registered");
    assert_eq!(visible(&unknown), visible(&registered_nothing));
    assert_eq!(unknown.body, registered_nothing.body, "byte for byte");
}

#[test]
fn uniform_errors_collapses_the_three_cases_into_one_answer() {
    let app = quick_app();
    users_for_every_case(&app);
    set_policy(&app, |p| p.uniform_errors = true);
    let unknown = identify(&app, "nobody@contoso.com", "reset");
    assert_error(&unknown, 403, "not_registered");
    for username in ["federated@contoso.com", "off@contoso.com", "nothing@contoso.com"] {
        let reply = identify(&app, username, "reset");
        assert_eq!(visible(&reply), visible(&unknown), "{username}");
        assert_eq!(reply.body, unknown.body, "{username}: byte for byte");
    }
}
