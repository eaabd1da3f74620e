//! What real Spin's key-value store does to the app: counters are 8-byte
//! little-endian on its SQLite backend, and every place that reads a counter
//! back must read that. These walk whole journeys and then read every counter
//! family over HTTP and in the store file, on the runner or on `$UNLATCH_SPIN`.

use serde_json::json;
use unlatch_core::counter::{self, Counter};
use unlatch_core::platform::keys;
use unlatch_e2e::account::{sign_in, signin};
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const TOKEN: &str = "e2e-admin-token-fidelity-0123456789";
const NEW_PASSWORD: &str = "Correct-Horse-Battery-9";

fn app() -> App {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", TOKEN)]);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    app
}

fn admin_get(app: &App, path: &str) -> Reply {
    app.request("GET", path, &[("authorization", &format!("Bearer {TOKEN}"))], b"")
}

#[test]
fn a_whole_reset_then_the_outbox_the_audit_and_sign_in_read_back() {
    let app = app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &flow, "email", EMAIL);
    let done = set_password(&app, &flow, NEW_PASSWORD);
    assert_eq!(done.status, 200, "{}", done.text());

    // outbox-seq: the code and the "password was reset" notice.
    let messages = outbox(&app);
    assert!(messages.len() >= 2, "{messages:?}");
    // audit-seq: the whole journey, newest first.
    let audit = admin_get(&app, "/api/admin/audit");
    assert_eq!(audit.status, 200, "{}", audit.text());
    let kinds: Vec<String> =
        audit.json()["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert!(kinds.iter().any(|k| k.contains("reset")), "{kinds:?}");
    // The used flow is refused (its account recorded it), not a 500.
    assert_eq!(set_password(&app, &flow, "Another-Good-One-77").status, 409);
    // session-epoch (the reset ended every session): signing in afterwards works.
    let session = sign_in(&app, "jane@contoso.com", NEW_PASSWORD);
    assert_eq!(session.get(&app, "/api/session").status, 200);
}

#[test]
fn every_counter_family_is_stored_as_the_backend_does_and_reads_back() {
    let app = app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    // throttle, captcha-used, secret-claim, destination-mismatches (a typed destination is compared)
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &flow, "email", EMAIL);
    // questions-answered
    let questions_flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_questions_gate(&app, &questions_flow);
    // session-epoch, outbox-seq, audit-seq
    assert_eq!(set_password(&app, &flow, NEW_PASSWORD).status, 200);
    // code-attempts, proofs-failed: a wrong code on a new flow (the reset cleared the old ones).
    let wrong_flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &wrong_flow, "email", EMAIL).status, 202);
    let wrong = if last_code(&app) == "000000" { "111111" } else { "000000" };
    assert_eq!(verify_code(&app, &wrong_flow, "email", wrong).status, 401);
    // voice-used: a "press #" call answered through the dev outbox.
    let call_flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &call_flow, "office_call", OFFICE);
    // signin-failures: a good sign-in clears the count, a wrong one counts.
    // flow-done: a step-up flow ends by its claim.
    let session = sign_in(&app, "jane@contoso.com", NEW_PASSWORD);
    assert_eq!(session.step_up(&app, "email", EMAIL).status, 200);
    assert_eq!(signin(&app, "jane@contoso.com", "wrong-password").status, 401);
    // unknown-failures: an unknown name is counted as a real account is.
    assert_eq!(signin(&app, "nobody@contoso.com", "wrong-password").status, 401);
    // username-claim, user-index-seq, admins-claim: an administrator created through the admin API.
    let created = app.request(
        "POST",
        "/api/admin/users",
        &[("authorization", &format!("Bearer {TOKEN}")), ("content-type", "application/json")],
        &serde_json::to_vec(
            &json!({ "username": "sam@contoso.com", "display_name": "Sam", "password": PASSWORD, "role": "admin" }),
        )
        .unwrap(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    // audit-user-seq, audit-indexing: the sweep builds the per-user audit index behind the requests.
    let swept =
        app.request("POST", "/api/admin/maintenance/sweep", &[("authorization", &format!("Bearer {TOKEN}"))], b"");
    assert_eq!(swept.status, 200, "{}", swept.text());

    let store = app.store();
    let entries = store.entries();
    for family in keys::COUNTER_FAMILIES {
        let keys: Vec<&(String, Vec<u8>)> = entries.iter().filter(|(k, _)| k.starts_with(family)).collect();
        assert!(!keys.is_empty(), "the journeys wrote no `{family}` counter");
        for (key, value) in keys {
            assert_eq!(value.len(), 8, "`{key}` is not an 8-byte little-endian counter: {value:?}");
            let n = Counter::new(&store, key.clone()).read().unwrap();
            assert_eq!(n, i64::from_le_bytes(value.as_slice().try_into().unwrap()));
        }
    }
    // No record key was ever incremented: each decodes as what it is.
    for (key, value) in &entries {
        if !keys::is_counter(key) {
            assert!(value.len() != 8 || counter::decode(value).is_err(), "`{key}` looks like a counter: {value:?}");
        }
    }
    assert_eq!(Counter::new(&store, format!("session-epoch:{}", jane.id)).read().unwrap(), 1, "one reset, one epoch");
    let window = user(&app, &jane.id).lock_epoch;
    assert_eq!(Counter::new(&store, format!("signin-failures:{}:{window}", jane.id)).read().unwrap(), 1);
    // Reading a counter over HTTP again: the outbox and the audit still answer.
    assert_eq!(app.get("/api/dev/outbox").status, 200);
    assert_eq!(admin_get(&app, "/api/admin/audit").status, 200);
}
