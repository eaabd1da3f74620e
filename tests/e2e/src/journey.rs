//! Steps of the journeys as a client takes them, plus the fixtures a test
//! sets up through core (users, policy) on the app's own store.

use crate::{App, Reply};
use serde_json::{Value, json};
use unlatch_core::phone::Phone;
use unlatch_core::questions::PREDEFINED;
use unlatch_core::users::{self, Contacts, NewAnswer, NewUser, User};
use unlatch_core::{Ctx, OsRandom, Policy, Secrets, SystemClock, captcha};

pub const PASSWORD: &str = "Old-password-42!";
pub const EMAIL: &str = "jane.doe@fabrikam.com";
pub const MOBILE: &str = "+1 (425) 555-0112";
pub const OFFICE: &str = "+1 425 555 0199";

/// Runs `f` with a core context on the app's store (for fixtures only: the
/// components have their own keys).
pub fn with_ctx<T>(app: &App, f: impl FnOnce(&Ctx) -> T) -> T {
    let store = app.store();
    let ctx = Ctx::new(&store, &SystemClock, &OsRandom, Secrets::fixed(b"fixture", b"fixture"), "127.0.0.1");
    f(&ctx)
}

/// A user registered for everything: alternate email, mobile, office phone and
/// five security questions answered "Answer 1".."Answer 5".
pub fn user_with_everything(app: &App, username: &str) -> User {
    create_user(app, new_user_with_everything(username))
}

/// The record `user_with_everything` creates, to adjust before creating it.
pub fn new_user_with_everything(username: &str) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: "Jane Doe".into(),
        password: PASSWORD.into(),
        contacts: Contacts {
            alternate_email: Some(EMAIL.into()),
            mobile_phone: Some(Phone::new("1", "(425) 555-0112")),
            office_phone: Some(Phone::new("1", "425 555 0199")),
            ..Default::default()
        },
        security_answers: (1..=5)
            .map(|i| NewAnswer {
                question_id: PREDEFINED[i - 1].0.into(),
                question: PREDEFINED[i - 1].1.into(),
                answer: format!("Answer {i}"),
            })
            .collect(),
        ..Default::default()
    }
}

pub fn create_user(app: &App, new: NewUser) -> User {
    with_ctx(app, |ctx| users::create(ctx, new)).expect("create the user")
}

pub fn user(app: &App, id: &str) -> User {
    users::get(&app.store(), id).unwrap().expect("the user exists")
}

/// The app in dev mode with a low CAPTCHA difficulty, so a test spends its
/// time on the journey rather than on proof-of-work.
pub fn quick_app() -> App {
    let app = App::start();
    set_policy(&app, |p| p.captcha_difficulty = 8);
    app
}

/// A user with only an alternate email (one method) and the fixture password;
/// `change` adjusts the record before it is created.
pub fn user_with(app: &App, username: &str, change: impl FnOnce(&mut NewUser)) -> User {
    let mut new = NewUser {
        username: username.into(),
        display_name: "John Roe".into(),
        password: PASSWORD.into(),
        contacts: Contacts { alternate_email: Some(EMAIL.into()), ..Default::default() },
        ..Default::default()
    };
    change(&mut new);
    create_user(app, new)
}

/// Changes the stored policy; tests lower the CAPTCHA work so they stay quick.
pub fn set_policy(app: &App, change: impl FnOnce(&mut Policy)) {
    let store = app.store();
    let mut policy = Policy::load(&store).unwrap();
    change(&mut policy);
    policy.save(&store).unwrap();
}

/// A solved CAPTCHA, fresh from `GET /api/identify/challenge`.
pub fn solved_captcha(app: &App) -> Value {
    let challenge = app.get("/api/identify/challenge");
    assert_eq!(challenge.status, 200, "{}", challenge.text());
    let c = challenge.json();
    let text = c["challenge"].as_str().expect("a challenge").to_owned();
    let difficulty = c["difficulty"].as_u64().expect("a difficulty") as u8;
    json!({ "challenge": text, "solution": captcha::solve(&text, difficulty) })
}

pub fn identify(app: &App, username: &str, purpose: &str) -> Reply {
    let captcha = solved_captcha(app);
    app.post_json("/api/identify", &json!({ "username": username, "captcha": captcha, "purpose": purpose }))
}

/// Identifies and returns the new flow id, failing the test otherwise.
pub fn start_flow(app: &App, username: &str, purpose: &str) -> String {
    let reply = identify(app, username, purpose);
    assert_eq!(reply.status, 200, "identify: {}", reply.text());
    reply.json()["flow"].as_str().unwrap().to_owned()
}

pub fn send_code(app: &App, flow: &str, method: &str, destination: &str) -> Reply {
    app.post_json("/api/send-code", &json!({ "flow": flow, "method": method, "destination": destination }))
}

pub fn verify_code(app: &App, flow: &str, method: &str, code: &str) -> Reply {
    app.post_json("/api/verify-code", &json!({ "flow": flow, "method": method, "code": code }))
}

pub fn set_password(app: &App, flow: &str, new_password: &str) -> Reply {
    app.post_json("/api/set-password", &json!({ "flow": flow, "new_password": new_password }))
}

pub fn unlock(app: &App, flow: &str) -> Reply {
    app.post_json("/api/unlock", &json!({ "flow": flow }))
}

/// Asks for the security questions (send-code with method `questions`) and
/// returns the drawn ones (`[{id, text}]`).
pub fn ask_questions(app: &App, flow: &str) -> Vec<Value> {
    let reply = app.post_json("/api/send-code", &json!({ "flow": flow, "method": "questions" }));
    assert_eq!(reply.status, 200, "send-code questions: {}", reply.text());
    reply.json()["questions"].as_array().cloned().expect("drawn questions")
}

/// The answer `user_with_everything` registered for a predefined question id
/// ("Answer N" for the N-th predefined question).
pub fn fixture_answer(question_id: &str) -> String {
    let n = PREDEFINED
        .iter()
        .position(|(id, _)| *id == question_id)
        .unwrap_or_else(|| panic!("unknown question {question_id}"));
    format!("Answer {}", n + 1)
}

/// Answers drawn questions with `answer(id)`.
pub fn answer_questions(app: &App, flow: &str, questions: &[Value], answer: impl Fn(&str) -> String) -> Reply {
    let answers: Vec<Value> = questions
        .iter()
        .map(|q| {
            let id = q["id"].as_str().expect("a question id");
            json!({ "id": id, "answer": answer(id) })
        })
        .collect();
    app.post_json("/api/verify-code", &json!({ "flow": flow, "method": "questions", "answers": answers }))
}

/// Asks and rightly answers the security questions: one gate passed.
pub fn pass_questions_gate(app: &App, flow: &str) -> Value {
    let questions = ask_questions(app, flow);
    let verified = answer_questions(app, flow, &questions, fixture_answer);
    assert_eq!(verified.status, 200, "verify answers: {}", verified.text());
    verified.json()
}

/// Asserts an API error: this status, this `error` code, and a human `message`.
/// Returns the body for further checks.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, error: &str) -> Value {
    assert_eq!(reply.status, status, "expected {status} {error}, got: {}", reply.text());
    let body = reply.json();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "a human message: {body}");
    body
}

/// The dev outbox, newest message first.
pub fn outbox(app: &App) -> Vec<Value> {
    let reply = app.get("/api/dev/outbox");
    assert_eq!(reply.status, 200, "outbox: {}", reply.text());
    reply.json()["messages"].as_array().cloned().unwrap_or_default()
}

/// The 6-digit code in the newest outbox message that carries one (voice
/// messages space the digits out: "7 1 9 6 8 4"; the notice of a change of
/// security info, sent after the code that proved it, carries none).
pub fn last_code(app: &App) -> String {
    let messages = outbox(app);
    let newest = messages.first().expect("a message in the outbox")["body"].as_str().unwrap().to_owned();
    messages
        .iter()
        .find_map(|m| code_in(m["body"].as_str().unwrap_or_default()))
        .unwrap_or_else(|| panic!("no 6-digit code in {newest:?}"))
}

fn code_in(body: &str) -> Option<String> {
    let mut runs = Vec::new();
    let mut run = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else if c != ' ' || run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    runs.push(run);
    runs.into_iter().find(|r| r.len() == 6)
}

/// Presses `digit` on the newest call in the dev outbox (`POST /api/dev/outbox/<seq>/press`).
pub fn press_last_call(app: &App, digit: &str) -> Reply {
    let call = outbox(app).into_iter().find(|m| m["callback_url"].is_string()).expect("a call in the outbox");
    app.post_json(&format!("/api/dev/outbox/{}/press", call["seq"]), &json!({ "digit": digit }))
}

/// Polls verify-code for a call method (no code).
pub fn poll_call(app: &App, flow: &str, method: &str) -> Reply {
    app.post_json("/api/verify-code", &json!({ "flow": flow, "method": method }))
}

/// Sends a code to `destination` and verifies it: one gate passed. For a
/// call method, the call is answered with # (the dev outbox's "press") and polled.
pub fn pass_code_gate(app: &App, flow: &str, method: &str, destination: &str) -> Value {
    let sent = send_code(app, flow, method, destination);
    assert_eq!(sent.status, 202, "send-code: {}", sent.text());
    if method.ends_with("_call") {
        let pressed = press_last_call(app, "#");
        assert_eq!(pressed.status, 200, "press: {}", pressed.text());
        let verified = poll_call(app, flow, method);
        assert_eq!(verified.status, 200, "poll: {}", verified.text());
        return verified.json();
    }
    let verified = verify_code(app, flow, method, &last_code(app));
    assert_eq!(verified.status, 200, "verify-code: {}", verified.text());
    verified.json()
}
