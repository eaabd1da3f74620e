//! Hard limits under parallel attack, over HTTP: the failed-proof budget across
//! every flow and method of a user, sign-in guesses after a lockout ends,
//! unknown names that lock like real ones, the per-address sign-in throttle,
//! send/check budgets per phone rather than per channel, and identify per
//! address through its single-use challenges.

use serde_json::{Value, json};
use unlatch_core::{audit, users};
use unlatch_e2e::account::*;
use unlatch_e2e::concurrent::{at_once, wrong};
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const WRONG: &str = "Not-the-password-1";

fn outcome(reply: &Reply) -> (u16, String) {
    (reply.status, reply.json()["error"].as_str().unwrap_or("").to_owned())
}

fn count(outcomes: &[(u16, String)], status: u16) -> usize {
    outcomes.iter().filter(|(s, _)| *s == status).count()
}

/// The audit events of `kind`, for `user_id` when given.
fn events(app: &App, kind: &str, user_id: Option<&str>) -> Vec<audit::Event> {
    let q = audit::Query {
        kind: Some(kind.into()),
        user_id: user_id.map(str::to_owned),
        limit: Some(500),
        ..Default::default()
    };
    audit::list(&app.store(), &q).unwrap()
}

/// Raises the per-address sign-in throttle, for tests that sign in more than
/// 30 times a minute from one address.
fn allow_many_signins(app: &App) {
    set_policy(app, |p| p.throttles.signins_per_address_per_minute = 1000);
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

// 1. Five failed proofs in 24 hours, across every flow and method of a user.

#[test]
fn parallel_wrong_proofs_across_flows_and_methods_evaluate_at_most_five() {
    let app = quick_app();
    set_policy(&app, |p| p.throttles.identify_per_minute = 100);
    let jane = user_with_everything(&app, "jane@contoso.com");
    // Four flows per method, each with a code out (or questions drawn).
    let methods = [
        ("email", EMAIL),
        ("mobile_text", MOBILE),
        ("mobile_call", MOBILE),
        ("office_call", OFFICE),
        ("questions", ""),
    ];
    let mut guesses: Vec<(String, &str, Value)> = Vec::new();
    for (i, (method, destination)) in methods.iter().enumerate() {
        // Text and call are one phone: two flows each, four for the other methods.
        let flows = if method.starts_with("mobile") { 2 } else { 4 };
        for _ in 0..flows {
            let flow = start_flow(&app, "jane@contoso.com", "reset");
            let body = if *method == "questions" {
                let answers: Vec<Value> = ask_questions(&app, &flow)
                    .iter()
                    .map(|q| json!({ "id": q["id"], "answer": "not the answer" }))
                    .collect();
                json!({ "flow": flow, "method": method, "answers": answers })
            } else {
                let sent = send_code(&app, &flow, method, destination);
                assert_eq!(sent.status, 202, "{method} #{i}: {}", sent.text());
                json!({ "flow": flow, "method": method, "code": wrong(&last_code(&app)) })
            };
            guesses.push((flow, method, body));
        }
    }
    assert_eq!(guesses.len(), 16);
    assert!(events(&app, "verification_failed", Some(&jane.id)).is_empty());

    // Eight guessers per flow, all at once: 128 wrong proofs.
    let replies = at_once(guesses.len() * 8, |i| app.post_json("/api/verify-code", &guesses[i % guesses.len()].2));
    let outcomes: Vec<(u16, String)> = replies.iter().map(outcome).collect();
    assert!(
        outcomes.iter().all(|(s, _)| matches!(s, 401 | 403 | 409 | 410 | 429)),
        "only refusals, never a 5xx: {outcomes:?}"
    );
    let evaluated = count(&outcomes, 401);
    assert!((1..=5).contains(&evaluated), "at most five wrong proofs evaluated, got {evaluated}: {outcomes:?}");
    let failed = events(&app, "verification_failed", Some(&jane.id)).len();
    assert_eq!(failed, evaluated, "each evaluated proof is audited once");
    assert!(outcomes.contains(&(403, "reset_blocked".into())), "{outcomes:?}");
    // Resets are blocked now, for every flow and a new one.
    assert_error(&identify(&app, "jane@contoso.com", "reset"), 403, "reset_blocked");
    assert_error(&send_code(&app, &guesses[0].0, "email", EMAIL), 403, "reset_blocked");
}

// 2. Exactly `lockout_threshold` sign-in guesses per lockout window.

/// Three times over: a lock runs out, then 64 wrong passwords arrive at once.
/// Their starts are spread over about 20 ms (0.3 ms apart): requests released
/// in lockstep all read the old lock before any of them counts, while spread
/// ones also meet the moment some have counted and others still see the lock.
#[test]
fn sixty_four_wrong_passwords_after_a_lockout_ends_evaluate_exactly_ten() {
    let app = quick_app();
    allow_many_signins(&app);
    set_policy(&app, |p| p.lockout_seconds = 60);
    let jane = user_with_everything(&app, "jane@contoso.com");
    for _ in 0..10 {
        assert_error(&signin(&app, "jane@contoso.com", WRONG), 401, "invalid_credentials");
    }
    for round in 1..=3 {
        let locked = assert_error(&signin(&app, "jane@contoso.com", PASSWORD), 423, "account_locked");
        assert!(locked["retry_after"].as_u64().is_some_and(|r| r <= 60), "{locked}");
        // Let the 60-second lock run out now rather than in a minute.
        users::update(&app.store(), &jane.id, |u| u.locked_until = Some(now() - 1)).unwrap();
        let replies = at_once(64, |i| {
            std::thread::sleep(std::time::Duration::from_micros(300 * i as u64));
            signin(&app, "jane@contoso.com", WRONG)
        });
        let outcomes: Vec<(u16, String)> = replies.iter().map(outcome).collect();
        assert_eq!(count(&outcomes, 401), 10, "round {round}: exactly ten guesses evaluated: {outcomes:?}");
        assert_eq!(count(&outcomes, 423), 54, "round {round}: the rest find the account locked: {outcomes:?}");
        assert_eq!(events(&app, "signin_failed", Some(&jane.id)).len(), 10 + 10 * round, "round {round}");
        assert_eq!(events(&app, "locked_out", Some(&jane.id)).len(), 1 + round, "round {round}: one lock per window");
    }
    assert_error(&signin(&app, "jane@contoso.com", PASSWORD), 423, "account_locked");
}

// 3. Unknown names lock like real accounts; sign-ins are throttled per address.

#[test]
fn an_unknown_name_locks_like_a_real_account() {
    let app = quick_app();
    allow_many_signins(&app);
    user_with_everything(&app, "jane@contoso.com");
    let ghost = "ghost.writer@contoso.com";
    let mut answers = Vec::new();
    for name in ["jane@contoso.com", ghost] {
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.push(outcome(&signin(&app, name, WRONG)));
        }
        let locked = signin(&app, name, WRONG);
        let body = assert_error(&locked, 423, "account_locked");
        assert!(locked.header("retry-after").is_some(), "{name}");
        assert!(body["retry_after"].as_u64().is_some_and(|r| r > 1700 && r <= 1800), "{name}: {body}");
        seen.push(outcome(&locked));
        let mut shape = body.clone();
        shape.as_object_mut().unwrap().remove("retry_after");
        answers.push((seen, shape));
    }
    assert_eq!(answers[0], answers[1], "a real account and an unknown name answer alike");
    assert_eq!(answers[0].0[..10], vec![(401, "invalid_credentials".to_owned()); 10]);
    let dump = kv_dump(&app);
    assert!(dump.iter().all(|(k, v)| !k.contains("ghost") && !v.contains("ghost")), "the unknown name is never stored");

    // Under parallel guessing an unknown name also takes exactly ten.
    let replies = at_once(40, |_| signin(&app, "nobody.here@contoso.com", WRONG));
    let outcomes: Vec<(u16, String)> = replies.iter().map(outcome).collect();
    assert_eq!(count(&outcomes, 401), 10, "{outcomes:?}");
    assert_eq!(count(&outcomes, 423), 30, "{outcomes:?}");
}

#[test]
fn signins_are_throttled_per_client_address() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    // Thirty guesses a minute from one address, spread over many names: none locks.
    for i in 0..30 {
        assert_error(&signin(&app, &format!("user{i}@contoso.com"), WRONG), 401, "invalid_credentials");
    }
    let reply = signin(&app, "jane@contoso.com", PASSWORD);
    let body = assert_error(&reply, 429, "throttled");
    let retry: u64 = reply.header("retry-after").expect("a Retry-After header").parse().unwrap();
    assert!((1..=60).contains(&retry) && body["retry_after"] == retry, "{body}");
    assert!(!user(&app, &jane.id).locked, "the throttle locks nobody");
}

// 4. Budgets per phone (factor), not per channel; mismatches throttled.

/// Messages the dev outbox holds for `to`.
fn sent_to(app: &App, to: &str) -> usize {
    unlatch_core::notify::outbox(&app.store(), 1000).unwrap().iter().filter(|m| m.message.to == to).count()
}

#[test]
fn texts_and_calls_to_one_phone_share_one_budget() {
    let app = quick_app();
    set_policy(&app, |p| p.throttles.identify_per_minute = 100);
    user_with_everything(&app, "jane@contoso.com");
    let flows: Vec<String> = (0..32).map(|_| start_flow(&app, "jane@contoso.com", "reset")).collect();
    let replies = at_once(32, |i| {
        let method = if i % 2 == 0 { "mobile_text" } else { "mobile_call" };
        send_code(&app, &flows[i], method, MOBILE)
    });
    let outcomes: Vec<(u16, String)> = replies.iter().map(outcome).collect();
    assert_eq!(count(&outcomes, 202), 5, "five sends to the phone an hour: {outcomes:?}");
    assert_eq!(count(&outcomes, 429), 27, "{outcomes:?}");
    assert_eq!(sent_to(&app, "+14255550112"), 5, "texts and calls together");
    // The office phone is another factor with its own budget.
    assert_eq!(send_code(&app, &flows[0], "office_call", OFFICE).status, 202);
}

#[test]
fn code_checks_count_per_phone_not_per_channel() {
    let app = quick_app();
    // Failed proofs would block first; this test is about the check budget alone.
    set_policy(&app, |p| p.throttles.failed_proofs_per_day = 1000);
    user_with_everything(&app, "jane@contoso.com");
    // Wrong codes on a text, and four calls answered with another key ("press #" calls have no code).
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "mobile_text", MOBILE).status, 202);
    let text = json!({ "flow": flow, "method": "mobile_text", "code": wrong(&last_code(&app)) });
    let mut calls = Vec::new();
    for _ in 0..4 {
        let flow = start_flow(&app, "jane@contoso.com", "reset");
        assert_eq!(send_code(&app, &flow, "mobile_call", MOBILE).status, 202);
        let newest = outbox(&app).remove(0);
        calls.push(newest["callback_url"].as_str().unwrap().split("/api/voice/").nth(1).unwrap().to_owned());
    }
    let replies = at_once(32, |i| match calls.get(i % 8) {
        Some(token) if i < 8 => app.post_json(&format!("/api/voice/{token}"), &json!({ "digits": "1" })),
        _ => app.post_json("/api/verify-code", &text),
    });
    let outcomes: Vec<(u16, String)> = replies
        .iter()
        .map(|r| if r.status == 200 && r.json()["passed"] == false { (401, "call_failed".into()) } else { outcome(r) })
        .collect();
    assert!(outcomes.iter().all(|(s, _)| matches!(s, 401 | 410 | 429)), "{outcomes:?}");
    assert_eq!(count(&outcomes, 401), 5, "five checks an hour for the phone, text and call together: {outcomes:?}");
}

const MISMATCHES: [(&str, &str); 3] =
    [("mobile_text", "+1 425 555 0113"), ("office_call", "+1 425 555 0198"), ("email", "jane.doe@fabrikam.co")];

#[test]
fn mismatched_destinations_are_throttled_per_flow_and_per_user() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    // Per flow: three mismatches, then even the right destination is refused.
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    for (method, typed) in MISMATCHES {
        assert_error(&send_code(&app, &flow, method, typed), 422, "destination_mismatch");
    }
    let reply = send_code(&app, &flow, "email", EMAIL);
    assert_error(&reply, 429, "throttled");
    assert!(reply.header("retry-after").is_some());

    // Per user: ten an hour across flows (three so far).
    for _ in 0..2 {
        let flow = start_flow(&app, "jane@contoso.com", "reset");
        for (method, typed) in MISMATCHES {
            assert_error(&send_code(&app, &flow, method, typed), 422, "destination_mismatch");
        }
    }
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_error(&send_code(&app, &flow, "email", "jane@fabrikam.com"), 422, "destination_mismatch");
    assert_error(&send_code(&app, &flow, "office_call", "+1 425 555 0197"), 429, "throttled");
    assert_error(&send_code(&app, &flow, "email", EMAIL), 429, "throttled");
    assert!(outbox(&app).is_empty(), "no guess got a code out");
}

#[test]
fn parallel_mismatched_destinations_on_one_flow_evaluate_three() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let replies = at_once(32, |i| {
        let (method, typed) = MISMATCHES[i % 3];
        send_code(&app, &flow, method, typed)
    });
    let outcomes: Vec<(u16, String)> = replies.iter().map(outcome).collect();
    assert!(outcomes.iter().all(|(s, _)| matches!(s, 422 | 429)), "{outcomes:?}");
    assert_eq!(count(&outcomes, 422), 3, "three mismatches per flow: {outcomes:?}");
    assert_error(&send_code(&app, &flow, "email", EMAIL), 429, "throttled");
    assert!(outbox(&app).is_empty());
}

// 5. Identify per client address: counted where challenges are issued, each good for one identify.

#[test]
fn identify_is_limited_per_address_by_its_single_use_challenges() {
    let app = quick_app();
    set_policy(&app, |p| p.throttles.identify_per_minute = 3);
    let captchas: Vec<Value> = (0..3).map(|_| solved_captcha(&app)).collect();
    let refused = app.get("/api/identify/challenge");
    assert_eq!(outcome(&refused), (429, "throttled".into()), "{}", refused.text());
    let wait: u64 = refused.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    for captcha in &captchas {
        let ask = || app.post_json("/api/identify", &json!({ "username": "nobody", "captcha": captcha }));
        assert_eq!(outcome(&ask()), (403, "not_registered".into()));
        assert_eq!(outcome(&ask()), (400, "captcha_invalid".into()), "a challenge is good for one identify");
    }
}
