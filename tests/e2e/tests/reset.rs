//! The "Reset your password" journey over HTTP, end to end.

use serde_json::json;
use unlatch_core::Policy;
use unlatch_core::questions::PREDEFINED;
use unlatch_core::users::verify_password;
use unlatch_e2e::App;
use unlatch_e2e::journey::*;

#[test]
fn reset_with_one_gate_then_the_new_password_verifies() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");

    let reply = identify(&app, "JANE@contoso.com", "reset");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let started = reply.json();
    assert_eq!(started["purpose"], "reset");
    assert_eq!(started["gates_required"], 1);
    let hints: Vec<String> =
        started["methods"].as_array().unwrap().iter().map(|m| m["hint"].as_str().unwrap().to_owned()).collect();
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

#[test]
fn reset_by_mobile_text_typed_differently_at_the_default_captcha_difficulty() {
    // The one journey that solves the CAPTCHA at the shipped difficulty.
    let app = App::start();
    let challenge = app.get("/api/identify/challenge").json();
    assert_eq!(challenge["difficulty"], Policy::default().captcha_difficulty);
    let jane = user_with_everything(&app, "jane@contoso.com");

    let flow = start_flow(&app, "jane@contoso.com", "reset");
    // Registered as +1 (425) 555-0112; typed with the country code and no punctuation.
    let passed = pass_code_gate(&app, &flow, "mobile_text", "14255550112");
    assert_eq!((passed["gates_passed"].as_u64(), passed["next"].as_str()), (Some(1), Some("set_password")));
    let sent = &outbox(&app)[0];
    let to: String = sent["to"].as_str().unwrap().chars().filter(char::is_ascii_digit).collect();
    assert_eq!(to, "14255550112", "the text went to the registered mobile: {sent}");
    assert_eq!(sent["channel"], "sms", "{sent}");

    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(verify_password(&user(&app, &jane.id), "Correct-Horse-Battery-9"));
}

#[test]
fn reset_by_security_questions() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let before = outbox(&app).len();

    let questions = ask_questions(&app, &flow);
    assert_eq!(questions.len(), Policy::default().questions_to_reset as usize, "{questions:?}");
    let mut ids: Vec<&str> = questions.iter().map(|q| q["id"].as_str().unwrap()).collect();
    for q in &questions {
        let id = q["id"].as_str().unwrap();
        let (_, text) = PREDEFINED.iter().find(|(p, _)| *p == id).expect("one of Jane's registered questions");
        assert_eq!(q["text"], *text);
        assert!(jane.security_answers.iter().any(|a| a.question_id == id));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), questions.len(), "no question drawn twice");
    assert_eq!(outbox(&app).len(), before, "questions are asked, not sent");

    // Answers are compared normalised: case, surrounding and inner spaces.
    let verified = answer_questions(&app, &flow, &questions, |id| {
        format!("  {}  ", fixture_answer(id).to_uppercase().replace(' ', "   "))
    });
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(verified.json()["next"], "set_password");

    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(verify_password(&user(&app, &jane.id), "Correct-Horse-Battery-9"));
}

#[test]
fn a_wrong_answer_redraws_the_questions_and_does_not_pass() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let questions = ask_questions(&app, &flow);
    let last = questions.last().unwrap()["id"].as_str().unwrap().to_owned();
    let wrong =
        answer_questions(&app, &flow, &questions, |id| if id == last { "Not it".into() } else { fixture_answer(id) });
    let body = assert_error(&wrong, 401, "wrong_answers");
    let redrawn = body["questions"].as_array().expect("a new draw").clone();
    assert_eq!(redrawn.len(), questions.len());
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
    // The old draw is spent; the new one passes.
    let verified = answer_questions(&app, &flow, &redrawn, fixture_answer);
    assert_eq!(verified.status, 200, "{}", verified.text());
}

#[test]
fn two_gate_policy_needs_a_second_different_method() {
    let app = quick_app();
    set_policy(&app, |p| p.gates_required = 2);
    let jane = user_with_everything(&app, "jane@contoso.com");

    let started = identify(&app, "jane@contoso.com", "reset");
    assert_eq!(started.status, 200, "{}", started.text());
    assert_eq!(started.json()["gates_required"], 2);
    let flow = started.json()["flow"].as_str().unwrap().to_owned();

    let first = pass_code_gate(&app, &flow, "email", EMAIL);
    assert_eq!((first["gates_passed"].as_u64(), first["next"].as_str()), (Some(1), Some("choose_method")));
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
    let sends = outbox(&app).len();
    assert_error(&send_code(&app, &flow, "email", EMAIL), 409, "flow_state");
    assert_eq!(outbox(&app).len(), sends, "no second code for a used method");

    let second = pass_code_gate(&app, &flow, "office_call", OFFICE);
    assert_eq!((second["gates_passed"].as_u64(), second["next"].as_str()), (Some(2), Some("set_password")));
    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
    assert!(verify_password(&user(&app, &jane.id), "Correct-Horse-Battery-9"));
}

#[test]
fn set_password_before_every_gate_passed_is_out_of_order() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
    // A code sent but not verified is not a passed gate either.
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
    assert!(verify_password(&user(&app, &jane.id), PASSWORD), "the password is unchanged");
    // The flow still works once the gate is passed.
    verify_code(&app, &flow, "email", &last_code(&app));
    assert_eq!(set_password(&app, &flow, "Correct-Horse-Battery-9").status, 200);
}
