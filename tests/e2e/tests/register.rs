//! "Register for password reset" end to end: an administrator creates a user
//! with only a password through the admin API; the user signs in, registers a phone, an email and security questions (codes from
//! the dev outbox; every change after the first needs a step-up with the phone), finishes, and can then start a reset with
//! the new methods. A stolen password alone cannot replace a registered email.
//! Afterwards no password, code or answer is in any KV value, nor in what the
//! components printed.

use serde_json::{Value, json};
use unlatch_core::users::NewUser;
use unlatch_e2e::App;
use unlatch_e2e::account::*;
use unlatch_e2e::journey::*;

const ADMIN_TOKEN: &str = "e2e-admin-token-for-registration";

/// The app as an operator runs it for these journeys: dev outbox and admin API on.
fn app() -> App {
    App::start_with(&[("dev_mode", "true"), ("admin_token", ADMIN_TOKEN)])
}

const ANSWERS: [&str; 3] = ["Rex The Wonder Dog", "Grandma's Lasagne", "Captain Marmalade"];

fn questions() -> Value {
    json!({ "questions": [
        { "id": "q29", "answer": ANSWERS[0] },
        { "question": "What is your favorite food?", "answer": ANSWERS[1] },
        { "id": "q27", "answer": ANSWERS[2] },
    ]})
}

/// The whole journey; returns the secrets it used (password, codes, answers).
fn journey(app: &App) -> Vec<String> {
    set_policy(app, |p| p.captcha_difficulty = 8);
    let created = app.request(
        "POST",
        "/api/admin/users",
        &[("authorization", &format!("Bearer {ADMIN_TOKEN}")), ("content-type", "application/json")],
        json!({ "username": "sam@contoso.com", "display_name": "Sam Lee", "password": PASSWORD })
            .to_string()
            .as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let sam_id = created.json()["id"].as_str().expect("the new user's id").to_owned();
    let s = sign_in(app, "sam@contoso.com", PASSWORD);
    assert_eq!(s.signin["registration_required"], true);
    let status = s.get(app, "/api/register").json();
    assert_eq!(
        (status["complete"].as_bool(), status["required"].as_u64(), status["missing"].as_u64()),
        (Some(false), Some(1), Some(1))
    );
    let unfinished = s.send(app, "POST", "/api/register/finish", None).json();
    assert_eq!(unfinished["complete"], false);
    assert_eq!(unfinished["missing"], 1);
    // Without a registration, "Who are you?" cannot go on.
    assert_eq!(identify(app, "sam@contoso.com", "reset").json()["error"], "not_registered");

    let mut codes = Vec::new();
    let phone = s.register_contact(app, "authentication_phone", "+1", "(425) 555-0177", "text");
    assert_eq!(phone.status, 200, "{}", phone.text());
    assert_eq!(phone.json()["next"], "finish");
    codes.push(last_code(app));
    assert_eq!(outbox(app)[0]["to"], "+14255550177");
    // The phone is registered now: the next change first proves it (a step-up of this session).
    let refused = s.send(
        app,
        "POST",
        "/api/register/start",
        Some(&json!({ "method": "alternate_email", "destination": "Sam.Lee@Fabrikam.com" })),
    );
    assert_error(&refused, 403, "step_up_required");
    let stepped = s.step_up(app, "mobile_text", "+1 425 555 0177");
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    assert_eq!(stepped.json()["next"], "register");
    codes.push(last_code(app));
    let email = s.register_contact(app, "alternate_email", "", "Sam.Lee@Fabrikam.com", "");
    assert_eq!(email.status, 200, "{}", email.text());
    codes.push(last_code(app));

    // An office phone is proven by a "press #" call: another key saves nothing.
    let started = s.send(app, "POST", "/api/register/start", Some(&json!({ "method": "office_phone", "country_code": "1", "destination": "425 555 0100", "mode": "call" }))).json();
    let flow = started["flow"].as_str().unwrap();
    assert_eq!(send_code(app, flow, "office_call", "425 555 0101").json()["error"], "destination_mismatch");
    assert_eq!(send_code(app, flow, "office_call", "425 555 0100").status, 202);
    assert_eq!(press_last_call(app, "1").json()["passed"], false);
    assert_error(&poll_call(app, flow, "office_call"), 410, "call_failed");
    assert!(user(app, &sam_id).contacts.office_phone.is_none());

    let q = s.send(app, "PUT", "/api/register/questions", Some(&questions()));
    assert_eq!(q.status, 200, "{}", q.text());
    let status = s.get(app, "/api/register").json();
    assert_eq!(status["methods"], json!(["authentication_phone", "alternate_email", "security_questions"]));
    assert_eq!(status["registered"]["alternate_email"], "s•••@fabrikam.com");
    assert_eq!(status["registered"]["authentication_phone"]["hint"], "+1 •••• ••77");
    assert!(!status.to_string().contains("555-0177") && !status.to_string().contains("sam.lee@"));

    let done = s.send(app, "POST", "/api/register/finish", None);
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json()["complete"], true);
    assert_eq!(done.json()["missing"], 0);

    // Removing a method is fine while enough stay; never below the requirement.
    set_policy(app, |p| p.gates_required = 2);
    assert_eq!(s.send(app, "DELETE", "/api/register/alternate_email", None).status, 200);
    let refused = s.send(app, "DELETE", "/api/register/authentication_phone", None);
    assert_eq!((refused.status, refused.json()["error"].as_str()), (409, Some("below_required")));
    assert_eq!(s.register_contact(app, "alternate_email", "", "Sam.Lee@Fabrikam.com", "").status, 200);
    codes.push(last_code(app));
    set_policy(app, |p| p.gates_required = 1);

    // The reset journey now offers what was registered, and the new phone works as a gate.
    let started = identify(app, "sam@contoso.com", "reset");
    assert_eq!(started.status, 200, "{}", started.text());
    let started = started.json();
    let ids: Vec<&str> = started["methods"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["email", "mobile_text", "mobile_call", "questions"]);
    let flow = started["flow"].as_str().unwrap();
    pass_code_gate(app, flow, "mobile_text", "+1 425 555 0177");
    codes.push(last_code(app));

    let events = unlatch_core::audit::list(
        &app.store(),
        &unlatch_core::audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(events.len(), 5, "phone, email, questions, removal, email again");
    let mut secrets = vec![PASSWORD.to_owned()];
    secrets.extend(codes);
    secrets.extend(ANSWERS.iter().map(|a| a.to_string()));
    secrets.extend(ANSWERS.iter().map(|a| unlatch_core::questions::normalise(a)));
    secrets
}

fn assert_no_secret_in_kv(app: &App, secrets: &[String]) {
    for (key, value) in kv_dump(app) {
        // The dev outbox is the code's delivery channel, on only with dev_mode.
        if key.starts_with("outbox:") {
            continue;
        }
        let lower = value.to_lowercase();
        for secret in secrets {
            assert!(!lower.contains(&secret.to_lowercase()), "{key} holds a secret");
        }
    }
}

#[test]
fn register_phone_email_questions_then_reset_with_them() {
    let app = app();
    let secrets = journey(&app);
    assert_no_secret_in_kv(&app, &secrets);
}

/// Runs the journey in a child process whose stdout/stderr (where the runner
/// writes component output) is captured, and looks for secrets in it.
#[test]
fn nothing_secret_reaches_component_output() {
    if std::env::var_os("UNLATCH_E2E_CHILD").is_some() {
        let app = app();
        let secrets = journey(&app);
        println!("SECRETS {}", serde_json::to_string(&secrets).unwrap());
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "nothing_secret_reaches_component_output", "--nocapture", "--test-threads=1"])
        .env("UNLATCH_E2E_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("SECRETS ").map(|(_, rest)| rest))
        .expect("the child lists its secrets");
    let secrets: Vec<String> = serde_json::from_str(line).unwrap();
    let printed = format!("{}\n{}", stdout.replace(line, ""), stderr).to_lowercase();
    for secret in &secrets {
        assert!(!printed.contains(&secret.to_lowercase()), "a secret was printed");
    }
}

#[test]
fn question_rules_over_http() {
    let app = App::start();
    create_user(&app, NewUser { username: "sam@contoso.com".into(), password: PASSWORD.into(), ..Default::default() });
    let s = sign_in(&app, "sam@contoso.com", PASSWORD);
    let put = |body: Value| s.send(&app, "PUT", "/api/register/questions", Some(&body));
    let alike = put(
        json!({ "questions": [{ "id": "q01", "answer": "Paris" }, { "id": "q02", "answer": " paris " }, { "id": "q03", "answer": "Rome" }] }),
    );
    assert_eq!((alike.status, alike.json()["error"].as_str()), (422, Some("invalid_questions")));
    assert!(!alike.text().to_lowercase().contains("paris"), "answers are not echoed");
    let dup = put(
        json!({ "questions": [{ "id": "q01", "answer": "Paris" }, { "id": "q01", "answer": "Oslo" }, { "id": "q03", "answer": "Rome" }] }),
    );
    assert_eq!(dup.status, 422);
    let short = put(
        json!({ "questions": [{ "id": "q01", "answer": "P" }, { "id": "q02", "answer": "Oslo" }, { "id": "q03", "answer": "Rome" }] }),
    );
    assert_eq!(short.status, 422);
    let two = put(json!({ "questions": [{ "id": "q01", "answer": "Paris" }, { "id": "q02", "answer": "Oslo" }] }));
    assert_eq!(two.status, 422);
    let ok = put(
        json!({ "questions": [{ "id": "q01", "answer": "Paris" }, { "id": "q02", "answer": "Oslo" }, { "id": "q03", "answer": "Rome" }] }),
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let stored = unlatch_core::users::find_by_username(&app.store(), "sam@contoso.com").unwrap().unwrap();
    assert!(
        stored.security_answers.iter().all(|a| a.answer_hash.starts_with(&unlatch_core::hashing::production_prefix()))
    );
}

/// The attack: with only the password, sign in and replace the victim's email.
/// Refused (403 `step_up_required`) until the session proves a method the user
/// already has; another session of the same user stays refused; the old address
/// is told of the change, and the audit holds only masked addresses.
#[test]
fn a_password_alone_cannot_replace_the_email() {
    let app = app();
    let victim = user_with(&app, "vic@contoso.com", |_| {});
    let attacker = sign_in(&app, "vic@contoso.com", PASSWORD);
    let replace = json!({ "method": "alternate_email", "destination": "attacker@evil.example" });
    let refused = attacker.send(&app, "POST", "/api/register/start", Some(&replace));
    let body = assert_error(&refused, 403, "step_up_required");
    assert_eq!(body["step_up"], "/api/register/verify");
    let questions_refused = attacker.send(&app, "PUT", "/api/register/questions", Some(&questions()));
    assert_error(&questions_refused, 403, "step_up_required");
    assert_error(&attacker.send(&app, "DELETE", "/api/register/alternate_email", None), 403, "step_up_required");
    assert_eq!(attacker.get(&app, "/api/register").json()["step_up_required"], true);

    // The step-up offers only what the victim has, masked; the attacker's address is not it.
    let started = attacker.send(&app, "POST", "/api/register/verify", None);
    assert_eq!(started.status, 201, "{}", started.text());
    let started = started.json();
    assert_eq!(
        started["methods"],
        json!([{ "id": "email", "kind": "email", "hint": "j•••@fabrikam.com", "label": "Email my alternate email" }])
    );
    let flow = started["flow"].as_str().unwrap();
    assert_error(&send_code(&app, flow, "email", "attacker@evil.example"), 422, "destination_mismatch");
    // A step-up flow is no reset flow.
    assert_error(&set_password(&app, flow, "violet kestrel harbour"), 409, "flow_state");
    assert_eq!(user(&app, &victim.id).contacts.alternate_email.as_deref(), Some(EMAIL));
    assert!(outbox(&app).iter().all(|m| m["to"] != "attacker@evil.example"), "nothing went to the attacker");

    // The owner steps up in their own session with the OLD email's code …
    let owner = sign_in(&app, "vic@contoso.com", PASSWORD);
    let stepped = owner.step_up(&app, "email", EMAIL);
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    // … which does nothing for the other session.
    assert_error(&attacker.send(&app, "POST", "/api/register/start", Some(&replace)), 403, "step_up_required");

    // Stepped up, the owner's change goes through, and the old address hears of it.
    let changed = owner.register_contact(&app, "alternate_email", "", "vic.new@fabrikam.com", "");
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(user(&app, &victim.id).contacts.alternate_email.as_deref(), Some("vic.new@fabrikam.com"));
    let notice = outbox(&app).into_iter().find(|m| m["to"] == EMAIL).expect("a notice to the old address");
    assert_eq!(notice["subject"], "Your security info changed");
    let text = notice["body"].as_str().unwrap();
    assert!(text.contains("alternate email of your account vic@contoso.com was changed"), "{text}");
    assert!(text.contains("If this wasn't you, contact your administrator"), "{text}");

    let events = unlatch_core::audit::list(
        &app.store(),
        &unlatch_core::audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail["from"], "j•••@fabrikam.com");
    assert_eq!(events[0].detail["to"], "v•••@fabrikam.com");
    let audit = serde_json::to_string(&events).unwrap();
    assert!(!audit.contains("jane.doe") && !audit.contains("vic.new"), "the audit holds masked addresses only");
}
