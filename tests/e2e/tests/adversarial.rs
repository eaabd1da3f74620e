//! Attacks and abuse over HTTP: guessing, replay, mismatched destinations,
//! races, hostile bodies, flooding, and the dev outbox outside dev mode.

use serde_json::json;
use unlatch_core::users::verify_password;
use unlatch_e2e::concurrent::{at_once, error_of, wrong};
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

#[test]
fn five_wrong_codes_burn_it_and_the_right_code_then_fails() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    let code = last_code(&app);
    for left in (0..5).rev() {
        let body = assert_error(&verify_code(&app, &flow, "email", &wrong(&code)), 401, "wrong_code");
        assert_eq!(body["attempts_left"], left);
    }
    assert_error(&verify_code(&app, &flow, "email", &code), 410, "code_burned");
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
}

#[test]
fn a_replayed_captcha_solution_is_refused() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let captcha = solved_captcha(&app);
    let body = json!({ "username": "jane@contoso.com", "captcha": captcha, "purpose": "reset" });
    assert_eq!(app.post_json("/api/identify", &body).status, 200);
    assert_error(&app.post_json("/api/identify", &body), 400, "captcha_invalid");
}

#[test]
fn a_mismatched_destination_sends_nothing() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let before = outbox(&app).len();
    assert_error(&send_code(&app, &flow, "email", "jane.doe@fabrikam.co"), 422, "destination_mismatch");
    assert_error(&send_code(&app, &flow, "mobile_text", "14255550113"), 422, "destination_mismatch");
    assert_error(&send_code(&app, &flow, "office_call", "+1 425 555 0112"), 422, "destination_mismatch");
    assert_eq!(outbox(&app).len(), before, "nothing was sent");
    assert_error(&verify_code(&app, &flow, "email", "123456"), 409, "flow_state");
}

#[test]
fn fifty_concurrent_wrong_guesses_evaluate_at_most_five() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "mobile_text", MOBILE).status, 202);
    let code = last_code(&app);
    let guess = wrong(&code);

    let replies = at_once(50, |_| verify_code(&app, &flow, "mobile_text", &guess));
    let outcomes: Vec<(u16, String)> = replies.iter().map(error_of).collect();
    let evaluated = outcomes.iter().filter(|o| **o == (401, "wrong_code".into())).count();
    let burned = outcomes.iter().filter(|o| **o == (410, "code_burned".into())).count();
    assert!((1..=5).contains(&evaluated), "at most 5 guesses evaluated: {outcomes:?}");
    assert_eq!(evaluated + burned, 50, "every other guess is refused as burned: {outcomes:?}");
    assert_error(&verify_code(&app, &flow, "mobile_text", &code), 410, "code_burned");
}

#[test]
fn ten_concurrent_set_passwords_on_one_flow_succeed_once() {
    let app = quick_app();
    let jane = user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &flow, "email", EMAIL);

    let replies = at_once(10, |i| set_password(&app, &flow, &format!("Correct-Horse-Battery-{i}")));
    let outcomes: Vec<(u16, String)> = replies.iter().map(error_of).collect();
    let winners: Vec<usize> = (0..10).filter(|&i| replies[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one success: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == (409, "flow_state".into())).count(), 9, "{outcomes:?}");
    let after = user(&app, &jane.id);
    assert!(
        verify_password(&after, &format!("Correct-Horse-Battery-{}", winners[0])),
        "the winner's password is the one stored"
    );
}

const POST_ROUTES: [&str; 5] =
    ["/api/identify", "/api/send-code", "/api/verify-code", "/api/set-password", "/api/unlock"];

/// Asserts a client error answered as `{error, message}` JSON.
#[track_caller]
fn assert_client_error(reply: &Reply, what: &str) {
    assert!((400..500).contains(&reply.status), "{what}: 4xx expected, got {} {}", reply.status, reply.text());
    let body: serde_json::Value =
        serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", reply.text()));
    assert!(body["error"].is_string() && body["message"].is_string(), "{what}: {body}");
    assert!(reply.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{what}");
}

#[test]
fn hostile_bodies_on_every_post_route_are_4xx_json() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let big = format!(r#"{{"flow":"{flow}","username":"{}"}}"#, "a".repeat(17 * 1024));
    let json_bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", br#"{"flow": "#.to_vec()),
        ("trailing garbage", br#"{"flow": "x"} trailing"#.to_vec()),
        ("empty body", Vec::new()),
        ("not UTF-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("missing fields", b"{}".to_vec()),
        ("only a username (the change branch's shape)", br#"{"username":"jane@contoso.com"}"#.to_vec()),
        ("only the flow", format!(r#"{{"flow":"{flow}"}}"#).into_bytes()),
        ("unknown flow", br#"{"flow":"AAAAAAAAAAAAAAAAAAAAAA","method":"email","code":"123456","destination":"x","new_password":"Correct-Horse-Battery-9"}"#.to_vec()),
        ("wrong types", format!(r#"{{"flow":"{flow}","username":5,"captcha":"x","purpose":1,"method":[],"destination":{{}},"code":123456,"answers":"a","new_password":12345678}}"#).into_bytes()),
        ("wrong nested types", format!(r#"{{"flow":"{flow}","username":"jane@contoso.com","captcha":{{"challenge":1,"solution":"x"}},"method":"questions","answers":[{{"id":1}}],"destination":["x"],"new_password":["x"]}}"#).into_bytes()),
        ("array", br#"["jane@contoso.com"]"#.to_vec()),
        ("string", br#""jane@contoso.com""#.to_vec()),
        ("number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("oversize", big.clone().into_bytes()),
        ("oversize whitespace", vec![b' '; 16 * 1024 + 1]),
    ];
    for route in POST_ROUTES {
        for (what, body) in &json_bodies {
            let reply = app.request("POST", route, &[("content-type", "application/json")], body);
            assert_client_error(&reply, &format!("{route} {what}"));
            if what.starts_with("oversize") {
                assert_eq!(reply.status, 413, "{route} {what}");
            }
        }
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let headers: Vec<(&str, &str)> = content_type.iter().map(|t| ("content-type", *t)).collect();
            let reply = app.request("POST", route, &headers, format!(r#"{{"flow":"{flow}"}}"#).as_bytes());
            assert_client_error(&reply, &format!("{route} content-type {content_type:?}"));
        }
    }
    // None of that moved the flow on or changed the password.
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-9"), 409, "flow_state");
}

#[test]
fn too_many_sends_get_429_with_retry_after() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    for _ in 0..5 {
        assert_eq!(send_code(&app, &flow, "mobile_text", MOBILE).status, 202);
    }
    let sent = outbox(&app).len();
    let reply = send_code(&app, &flow, "mobile_text", MOBILE);
    let body = assert_error(&reply, 429, "throttled");
    let retry: u64 = reply.header("retry-after").expect("a Retry-After header").parse().expect("seconds");
    assert!(retry > 0 && retry <= 3600, "{retry}");
    assert_eq!(body["retry_after"], retry);
    assert_eq!(outbox(&app).len(), sent, "the throttled send sent nothing");
}

#[test]
fn the_dev_outbox_is_404_outside_dev_mode() {
    let app = App::start_with(&unlatch_e2e::app::SECRETS);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    user_with_everything(&app, "jane@contoso.com");
    let flow = start_flow(&app, "jane@contoso.com", "reset");
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    let reply = app.get("/api/dev/outbox");
    assert_error(&reply, 404, "not_found");
    assert!(!reply.text().contains("code"), "{}", reply.text());
}
