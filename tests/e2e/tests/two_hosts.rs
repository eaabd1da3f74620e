//! Two host processes on one Redis, as two SpinKube replicas share one store:
//! every limit holds across both, a flow or a CAPTCHA lives in the store and
//! not in a host, and `kill -9` of one host loses nothing. The hosts are the
//! runner, or real `spin up` processes with `UNLATCH_SPIN`; both take the
//! runtime config `[key_value_store.default] type = "redis"`, whose CAS reports
//! every swap as failed (Spin's fault, reproduced by the runner), so these
//! journeys also show the app does not depend on what a CAS reports.

use serde_json::json;
use unlatch_core::users::verify_password;
use unlatch_e2e::App;
use unlatch_e2e::account::*;
use unlatch_e2e::concurrent::{at_once, error_of, wrong};
use unlatch_e2e::journey::*;
use unlatch_e2e::redis::RedisServer;

const WRONG: &str = "Not-the-password-1";

/// Two hosts on one Redis. Fields drop in order: the hosts, then Redis.
struct Pair {
    a: App,
    b: App,
    _redis: RedisServer,
}

impl Pair {
    /// Host `i % 2`: requests alternate between the two.
    fn host(&self, i: usize) -> &App {
        if i.is_multiple_of(2) { &self.a } else { &self.b }
    }
}

/// Redis, host A in dev mode with quick CAPTCHAs and per-address throttles out
/// of the way (every request comes from 127.0.0.1), then host B on the same store.
fn pair() -> Pair {
    let redis = RedisServer::start();
    let a = App::start_on_redis(redis.url(), &[("dev_mode", "true")]);
    set_policy(&a, |p| {
        p.captcha_difficulty = 8;
        p.throttles.identify_per_minute = 10_000;
        p.throttles.signins_per_address_per_minute = 10_000;
    });
    let b = a.another_host();
    Pair { a, b, _redis: redis }
}

/// A code that is not `code`.

#[test]
fn fifty_concurrent_wrong_guesses_split_between_hosts_evaluate_at_most_five() {
    let p = pair();
    user_with_everything(&p.a, "jane@contoso.com");
    let flow = start_flow(&p.a, "jane@contoso.com", "reset");
    assert_eq!(send_code(&p.a, &flow, "mobile_text", MOBILE).status, 202);
    let code = last_code(&p.a);
    let guess = wrong(&code);

    let replies = at_once(50, |i| verify_code(p.host(i), &flow, "mobile_text", &guess));
    let outcomes: Vec<(u16, String)> = replies.iter().map(error_of).collect();
    let evaluated = outcomes.iter().filter(|o| **o == (401, "wrong_code".into())).count();
    let burned = outcomes.iter().filter(|o| **o == (410, "code_burned".into())).count();
    assert!((1..=5).contains(&evaluated), "at most 5 guesses evaluated across both hosts: {outcomes:?}");
    assert_eq!(evaluated + burned, 50, "every other guess is refused as burned: {outcomes:?}");
    assert_error(&verify_code(&p.b, &flow, "mobile_text", &code), 410, "code_burned");
    assert_error(&verify_code(&p.a, &flow, "mobile_text", &code), 410, "code_burned");
}

#[test]
fn twenty_concurrent_set_passwords_on_one_flow_across_hosts_have_one_winner() {
    let p = pair();
    let jane = user_with_everything(&p.a, "jane@contoso.com");
    let flow = start_flow(&p.a, "jane@contoso.com", "reset");
    pass_code_gate(&p.b, &flow, "email", EMAIL);

    let replies = at_once(20, |i| set_password(p.host(i), &flow, &format!("Correct-Horse-Battery-{i}")));
    let outcomes: Vec<(u16, String)> = replies.iter().map(error_of).collect();
    let winners: Vec<usize> = (0..20).filter(|&i| replies[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one success: {outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == (409, "flow_state".into())).count(), 19, "{outcomes:?}");
    let winner = format!("Correct-Horse-Battery-{}", winners[0]);
    assert!(verify_password(&user(&p.a, &jane.id), &winner), "the winner's password is the one stored");
    sign_in(&p.a, "jane@contoso.com", &winner);
    sign_in(&p.b, "jane@contoso.com", &winner);
}

#[test]
fn forty_concurrent_wrong_sign_ins_across_hosts_evaluate_exactly_ten() {
    let p = pair();
    user_with_everything(&p.a, "jane@contoso.com");
    let replies = at_once(40, |i| signin(p.host(i), "jane@contoso.com", WRONG));
    let outcomes: Vec<(u16, String)> = replies.iter().map(error_of).collect();
    let evaluated = outcomes.iter().filter(|o| **o == (401, "invalid_credentials".into())).count();
    let locked = outcomes.iter().filter(|o| **o == (423, "account_locked".into())).count();
    assert_eq!(evaluated, 10, "exactly the lockout threshold evaluated: {outcomes:?}");
    assert_eq!(locked, 30, "{outcomes:?}");
    for host in [&p.a, &p.b] {
        assert_error(&signin(host, "jane@contoso.com", PASSWORD), 423, "account_locked");
    }
    // The unlock journey on the other host (a user update through CAS) clears it for both.
    let flow = start_flow(&p.b, "jane@contoso.com", "unlock");
    pass_code_gate(&p.b, &flow, "email", EMAIL);
    let done = unlock(&p.b, &flow);
    assert_eq!(done.status, 200, "{}", done.text());
    sign_in(&p.a, "jane@contoso.com", PASSWORD);
    sign_in(&p.b, "jane@contoso.com", PASSWORD);
}

#[test]
fn a_captcha_solved_on_one_host_is_refused_on_the_other() {
    let p = pair();
    user_with_everything(&p.a, "jane@contoso.com");
    let body = |captcha| json!({ "username": "jane@contoso.com", "captcha": captcha, "purpose": "reset" });
    // A challenge from A, solved and used on A: B refuses the same solution.
    let used_on_a = body(solved_captcha(&p.a));
    assert_eq!(p.a.post_json("/api/identify", &used_on_a).status, 200);
    assert_error(&p.b.post_json("/api/identify", &used_on_a), 400, "captcha_invalid");
    // A challenge from B is good on A, once.
    let from_b = body(solved_captcha(&p.b));
    assert_eq!(p.a.post_json("/api/identify", &from_b).status, 200);
    assert_error(&p.b.post_json("/api/identify", &from_b), 400, "captcha_invalid");
    assert_error(&p.a.post_json("/api/identify", &from_b), 400, "captcha_invalid");
}

#[test]
fn a_flow_started_on_one_host_finishes_on_the_other() {
    let p = pair();
    let jane = user_with_everything(&p.a, "jane@contoso.com");
    let flow = start_flow(&p.a, "jane@contoso.com", "reset");
    assert_eq!(send_code(&p.a, &flow, "email", EMAIL).status, 202);
    // Each gate saves the flow with CAS, which Spin's Redis store reports as failed.
    let verified = verify_code(&p.b, &flow, "email", &last_code(&p.b));
    assert_eq!(verified.status, 200, "{}", verified.text());
    let done = set_password(&p.b, &flow, "Correct-Horse-Battery-9");
    assert_eq!(done.status, 200, "{}", done.text());
    assert_error(&set_password(&p.a, &flow, "Correct-Horse-Battery-10"), 409, "flow_state");
    assert!(verify_password(&user(&p.a, &jane.id), "Correct-Horse-Battery-9"));
    sign_in(&p.a, "jane@contoso.com", "Correct-Horse-Battery-9");
}

#[test]
fn kill_9_of_one_host_mid_journey_loses_nothing() {
    let mut p = pair();
    let jane = user_with_everything(&p.a, "jane@contoso.com");
    let flow = start_flow(&p.a, "jane@contoso.com", "reset");
    assert_eq!(send_code(&p.a, &flow, "mobile_text", MOBILE).status, 202);
    let code = last_code(&p.a);
    // One wrong guess on A, then A dies mid-journey (SIGKILL to its process group).
    assert_error(&verify_code(&p.a, &flow, "mobile_text", &wrong(&code)), 401, "wrong_code");
    p.a.kill();
    // B finds the flow, the code and the one wrong guess where A left them.
    let body = assert_error(&verify_code(&p.b, &flow, "mobile_text", &wrong(&code)), 401, "wrong_code");
    assert_eq!(body["attempts_left"], 3, "A's wrong guess was kept");
    let verified = verify_code(&p.b, &flow, "mobile_text", &code);
    assert_eq!(verified.status, 200, "{}", verified.text());
    let done = set_password(&p.b, &flow, "Correct-Horse-Battery-9");
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(verify_password(&user(&p.b, &jane.id), "Correct-Horse-Battery-9"));
    sign_in(&p.b, "jane@contoso.com", "Correct-Horse-Battery-9");
}
