//! `POST /api/verify-code`: prove a gate with the code that was sent, or with
//! answers to the drawn security questions. A `register` flow proves its new
//! contact through this same step; a `step_up` flow passes the gate exactly as
//! a reset does, and then marks its session stepped up.
//!
//! Every try is counted (atomically) before the secret is compared, so however
//! many guesses arrive at once, at most `code_attempts` are ever evaluated.

use crate::domain::audit;
use crate::domain::methods::MethodId;
use crate::domain::notify::Notifier;
use crate::domain::questions::{self, Answer};
use crate::domain::throttle;
use crate::domain::users::User;
use crate::errors::{ApiError, Result};
use crate::flow::gate::{self, VerifyResponse};
use crate::flow::voice::{self, CallStatus};
use crate::flow::{self, Flow, FlowState, Purpose, registration, step_up};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::route::{self, Routed};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VerifyRequest {
    pub flow: String,
    pub method: String,
    /// The 6-digit code (code methods).
    pub code: Option<String>,
    /// One answer per drawn question (method `questions`).
    pub answers: Option<Vec<Answer>>,
}

/// `POST /api/verify-code`; `notifier` tells the previous contacts when a
/// registration changes security info.
pub fn verify(ctx: &Ctx, notifier: &dyn Notifier, req: VerifyRequest) -> Result<VerifyResponse> {
    let method = gate::parse_method(&req.method)?;
    let (flow, _raw) = flow::load_any(ctx, &req.flow)?;
    match flow.purpose {
        Purpose::Register => return registration::verify(ctx, notifier, flow, method, req.code.as_deref()),
        // A step-up dies with its session.
        Purpose::StepUp => drop(step_up::session_of(ctx, &flow)?),
        Purpose::Reset | Purpose::Unlock => {}
    }
    if method == MethodId::Questions {
        return verify_answers(ctx, flow, req.answers);
    }
    let typed = gate::typed_code(req.code.as_deref())?;
    flow.require_state(&[FlowState::CodeSent])?;
    // A call sends no code: typing one is out of order, and not counted.
    if flow.pending.as_ref().is_some_and(|p| p.method == method && p.call.is_some()) {
        return Err(ApiError::flow_state("This call is verified by pressing # on the phone; no code was sent."));
    }
    // The block is checked after counting, so a burned code keeps answering 410.
    let (user, policy) = gate::gate_context(ctx, &flow, method)?;
    match gate::check_code(ctx, &policy, &flow, method, typed, &user.id, true)? {
        Ok(code_id) => {
            let done = gate::pass_gate(ctx, &flow.id, method, &code_id)?;
            passed(ctx, &done, method)
        }
        Err(attempts_left) => {
            failed(ctx, &user, method)?;
            Err(ApiError::wrong_code(attempts_left))
        }
    }
}

/// Polls per flow per minute: the page polls every 2 s (30 a minute).
pub const POLLS_PER_MINUTE: u32 = 60;

/// `POST /api/verify-code {flow, method}` with no code: for a call method a
/// poll, `Ok(None)` (202 `pending`) while the call is out, the verify response
/// once `#` passed the gate (a registration: once the phone is saved), 410
/// `call_failed` when the call failed ("Call again"); otherwise exactly
/// [`verify`]. A poll is one KV read (the flow record) and one throttle count.
/// The first poll to find the call past its expiry with no callback claims it
/// and counts it as a failed try, as a wrong code is counted (once, however
/// many poll at once: the claim is the callback's `voice-used` one).
pub fn verify_or_poll(ctx: &Ctx, notifier: &dyn Notifier, req: VerifyRequest) -> Result<Option<VerifyResponse>> {
    let is_poll = req.code.as_deref().is_none_or(|c| c.trim().is_empty()) && req.answers.is_none();
    match gate::parse_method(&req.method)? {
        m if is_poll && m.kind() == crate::domain::methods::Kind::Voice => poll(ctx, notifier, &req.flow, m),
        _ => verify(ctx, notifier, req).map(Some),
    }
}

fn poll(ctx: &Ctx, notifier: &dyn Notifier, flow_id: &str, method: MethodId) -> Result<Option<VerifyResponse>> {
    if flow_id.trim().is_empty() {
        return Err(ApiError::missing_field("flow"));
    }
    let flow = flow::peek(ctx, flow_id)?;
    throttle::hit(ctx, "poll", flow.handle(ctx).as_str(), POLLS_PER_MINUTE, 60)?;
    if flow.gates_passed.contains(&method) {
        return Ok(Some(VerifyResponse {
            gates_passed: flow.gates_passed.len() as u8,
            gates_required: flow.gates_required,
            next: flow::next_step(&flow),
        }));
    }
    flow.require_state(&[FlowState::CodeSent])?;
    let Some(pending) = flow.pending.as_ref().filter(|p| p.method == method && p.call.is_some()) else {
        return Err(ApiError::flow_state("No call was placed for this option; request one first."));
    };
    if pending.call == Some(CallStatus::Failed) {
        return Err(ApiError::call_failed());
    }
    if ctx.now() >= pending.expires_at {
        // No callback by the call's expiry: no answer, a failed try. The claim
        // (taken before anything is counted) makes it one, whoever polls.
        if voice::claim(ctx, &pending.hash)? {
            let end = gate::CallEnd::NoAnswer;
            match answer_call(ctx, notifier, &flow.id, method, &pending.code_id, end) {
                // Storage failed: say so. Anything else (a throttle, a block, a
                // newer call) leaves nothing more to count; the call failed.
                Err(e) if e.status() >= 500 => return Err(e),
                _ => {}
            }
        }
        return Err(ApiError::call_failed());
    }
    Ok(None)
}

/// What a "press #" callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CallOutcome {
    pub passed: bool,
}

/// `POST /api/voice/<token>`: the provider (or the dev outbox's "press"
/// action) reports the key pressed; `None` is a hang-up or no answer. `#`
/// passes the gate exactly as a right code does (state checks, the try
/// counted, a failed-proof slot reserved before deciding), or for a
/// registration saves the phone (telling the previous contacts through
/// `notifier`); anything else is a failed attempt with the same limits as a
/// wrong code. The token is single use (replay → 409), and a callback after
/// the call or the flow expired → 410.
pub fn callback(ctx: &Ctx, notifier: &dyn Notifier, token: &str, digits: Option<&str>) -> Result<CallOutcome> {
    let (flow_id, record) = voice::redeem(ctx, token)?;
    let end = gate::CallEnd::Keys { hash: digits.map(str::trim) == Some("#") };
    let answered = answer_call(ctx, notifier, &flow_id, record.method, &record.code_id, end);
    if answered.is_err() {
        // The token is spent: whatever stopped it (a throttle, a block), the page
        // should offer "Call again" rather than wait for a key that cannot count.
        let _ = gate::fail_call(ctx, &flow_id, record.method, &record.code_id);
    }
    answered
}

/// How the call `code_id` of `method` on `flow_id` ended, decided once (the
/// caller holds the call's claim): a reset, unlock or step-up gate, or a
/// registration ([`registration::answer_call`]).
fn answer_call(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    flow_id: &str,
    method: MethodId,
    code_id: &str,
    end: gate::CallEnd,
) -> Result<CallOutcome> {
    let (flow, _raw) = flow::load(ctx, flow_id, &Purpose::ALL)?;
    match flow.purpose {
        Purpose::Register => {
            let passed = registration::answer_call(ctx, notifier, flow, method, code_id, end)?;
            return Ok(CallOutcome { passed });
        }
        Purpose::StepUp => drop(step_up::session_of(ctx, &flow)?),
        Purpose::Reset | Purpose::Unlock => {}
    }
    flow.require_state(&[FlowState::CodeSent])?;
    // A call that a newer one (or a code) replaced is not answered, and not counted.
    if !flow.pending.as_ref().is_some_and(|p| p.method == method && p.code_id == code_id) {
        return Err(ApiError::flow_state("This call was replaced by a newer one."));
    }
    let (user, policy) = gate::gate_context(ctx, &flow, method)?;
    match gate::check_call(ctx, &policy, &flow, method, code_id, &user.id, true, end)? {
        Ok(code_id) => {
            let done = gate::pass_gate(ctx, &flow.id, method, &code_id)?;
            passed(ctx, &done, method)?;
            Ok(CallOutcome { passed: true })
        }
        Err(_) => {
            failed(ctx, &user, method)?;
            gate::fail_call(ctx, &flow.id, method, code_id)?;
            Ok(CallOutcome { passed: false })
        }
    }
}

/// `POST /api/dev/outbox/<seq>/press {digit}`: presses `digit` on the call
/// the dev outbox holds at `seq`, through the same callback a provider
/// reaches, so a whole call journey can be walked with no provider. The
/// component serves it only in `dev_mode`.
pub fn dev_press(ctx: &Ctx, notifier: &dyn Notifier, seq: u64, digit: Option<&str>) -> Result<CallOutcome> {
    let entry = crate::domain::notify::outbox_entry(ctx.store, seq)?.ok_or_else(ApiError::not_found)?;
    let url = entry.callback_url.ok_or_else(|| ApiError::bad_request("This message is not a call."))?;
    let token = url.rsplit('/').next().unwrap_or_default();
    callback(ctx, notifier, token, digit)
}

fn draw_key(flow: &keys::FlowHandle, draw_id: &str) -> String {
    keys::questions_answered(flow, draw_id)
}

fn passed(ctx: &Ctx, flow: &Flow, method: MethodId) -> Result<VerifyResponse> {
    if flow.purpose == Purpose::StepUp && flow.all_gates_passed() {
        step_up::complete(ctx, flow)?;
    }
    audit::append(
        ctx,
        "verified",
        Some(&flow.user_id),
        json!({ "flow_purpose": flow.purpose.as_str(), "method": method.as_str() }),
    )?;
    Ok(VerifyResponse {
        gates_passed: flow.gates_passed.len() as u8,
        gates_required: flow.gates_required,
        next: flow::next_step(flow),
    })
}

/// Audits a wrong proof (its failed-proof slot was kept when it was compared).
fn failed(ctx: &Ctx, user: &User, method: MethodId) -> Result<()> {
    audit::append(ctx, "verification_failed", Some(&user.id), json!({ "method": method.as_str() }))?;
    Ok(())
}

fn verify_answers(ctx: &Ctx, flow: Flow, answers: Option<Vec<Answer>>) -> Result<VerifyResponse> {
    let Some(answers) = answers.filter(|a| !a.is_empty()) else {
        return Err(ApiError::missing_field("answers"));
    };
    if answers.len() > 10 || answers.iter().any(|a| a.answer.len() > 200 || a.id.len() > 64) {
        return Err(ApiError::bad_request("Too many or too long answers."));
    }
    let method = MethodId::Questions;
    let (user, policy) = gate::gate_context(ctx, &flow, method)?;
    // Not blocked; the run the validate window and the proof slot count in (read once).
    let run = throttle::check_blocked(ctx, &user.id)?;
    if flow.state != FlowState::QuestionsAsked || flow.questions.is_empty() {
        return Err(ApiError::flow_state("No questions were asked; choose the questions option first."));
    }
    // Throttled before the claim, so a 429 does not spend the draw.
    throttle::hit(
        ctx,
        "validate",
        &run.factor_subject(method),
        policy.throttles.validations_per_gate_per_hour,
        throttle::FACTOR_WINDOW,
    )?;
    // Each draw is evaluated once: a concurrent second answer to the same draw is refused.
    if !Counter::new(ctx.store, draw_key(&flow.handle(ctx), &flow.draw_id)).claim()? {
        return Err(ApiError::flow_state("These questions were already answered; answer the new ones."));
    }
    // A failed-proof slot of the user, taken before comparing (see `gate::check_code`).
    let slot = throttle::reserve_proof(ctx, &policy, &run)?;
    if questions::all_match(&user.security_answers, &flow.questions, &answers) {
        slot.refund(ctx)?;
        let done = gate::pass_gate(ctx, &flow.id, method, &flow.draw_id)?;
        return passed(ctx, &done, method);
    }
    slot.failed(ctx, &policy)?;
    failed(ctx, &user, method)?;
    // Re-draw after a wrong answer, so an attacker cannot keep working on one set.
    let (mut again, raw) = flow::load(ctx, &flow.id, &[flow.purpose])?;
    again.questions = questions::draw(ctx.random, &user.security_answers, policy.questions_to_reset as usize);
    again.draw_id = kv::random_hex(ctx.random, 8);
    flow::save(ctx, &again, &raw)?;
    let shown = questions::shown(&user.security_answers, &again.questions);
    Err(ApiError::wrong_answers(serde_json::to_value(shown).unwrap_or_default()))
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Verify,
    /// `POST /api/voice/<token>`: a call's callback.
    Voice(String),
    /// `POST /api/dev/outbox/<seq>/press`: answer a call of the dev outbox (only in `dev_mode`).
    DevPress(u64),
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    let path = route::trim(path);
    if let Some(rest) = path.strip_prefix("/api/dev/outbox/") {
        return match rest.strip_suffix("/press").and_then(|seq| seq.parse::<u64>().ok()) {
            Some(seq) => route::pick(method, &[("POST", Endpoint::DevPress(seq))]),
            None => Routed::NotFound,
        };
    }
    match path.strip_prefix("/api/voice/") {
        Some(token) if !token.is_empty() && !token.contains('/') => {
            route::pick(method, &[("POST", Endpoint::Voice(token.to_owned()))])
        }
        Some(_) => Routed::NotFound,
        None => route::single(method, path, "/api/verify-code", "POST", Endpoint::Verify),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questions::PREDEFINED;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::TestEnv;
    use crate::testing::{easy_env, last_call_token, last_code, poll, press, prove_last, send_to, start};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn check(env: &TestEnv, flow: &str, method: &str, code: &str) -> Result<VerifyResponse> {
        verify(
            &env.ctx(),
            &env.outbox(),
            VerifyRequest { flow: flow.into(), method: method.into(), code: Some(code.into()), answers: None },
        )
    }

    fn wrong(code: &str) -> String {
        format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
    }

    fn answer(env: &TestEnv, flow: &str, questions: &[questions::Question], right: bool) -> Result<VerifyResponse> {
        let answers = questions
            .iter()
            .map(|q| {
                let i = PREDEFINED.iter().position(|(id, _)| *id == q.id).unwrap() + 1;
                Answer { id: q.id.clone(), answer: if right { format!("  ANSWER {i}") } else { "nope".into() } }
            })
            .collect();
        verify(
            &env.ctx(),
            &env.outbox(),
            VerifyRequest { flow: flow.into(), method: "questions".into(), code: None, answers: Some(answers) },
        )
    }

    fn setup() -> (TestEnv, String) {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        (env, flow)
    }

    #[test]
    fn the_right_code_passes_the_gate_once() {
        let (env, flow) = setup();
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        let code = last_code(&env);
        let r = check(&env, &flow, "email", &code).unwrap();
        assert_eq!(r, VerifyResponse { gates_passed: 1, gates_required: 1, next: "set_password" });
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({ "gates_passed": 1, "gates_required": 1, "next": "set_password" })
        );
        // The code is cleared: using it again is out of order.
        assert_eq!(check(&env, &flow, "email", &code).unwrap_err().error(), "flow_state");
        assert_eq!(
            send_to(&env, &flow, "mobile_text", "4255550112").unwrap_err().error(),
            "flow_state",
            "all gates passed"
        );
    }

    #[test]
    fn five_wrong_tries_burn_the_code() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let code = last_code(&env);
        for left in (0..5).rev() {
            let e = check(&env, &flow, "mobile_text", &wrong(&code)).unwrap_err();
            assert_eq!((e.status(), e.error()), (401, "wrong_code"));
            assert_eq!(e.details.unwrap()["attempts_left"], left);
        }
        let e = check(&env, &flow, "mobile_text", &code).unwrap_err();
        assert_eq!((e.status(), e.error()), (410, "code_burned"), "even the right code is refused now");
    }

    #[test]
    fn an_expired_code_is_refused_and_a_new_code_replaces_the_old() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let first = last_code(&env);
        env.clock.advance(300);
        let e = check(&env, &flow, "mobile_text", &first).unwrap_err();
        assert_eq!((e.status(), e.error()), (410, "code_expired"));
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let second = last_code(&env);
        if first != second {
            assert_eq!(check(&env, &flow, "mobile_text", &first).unwrap_err().error(), "wrong_code");
        }
        check(&env, &flow, "mobile_text", &second).unwrap();
    }

    #[test]
    fn fifty_concurrent_guesses_evaluate_at_most_five() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let bad = wrong(&last_code(&env));
        let (wrong_count, burned) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..50 {
                s.spawn(|| match check(&env, &flow, "mobile_text", &bad).unwrap_err().error() {
                    "wrong_code" => wrong_count.fetch_add(1, Ordering::SeqCst),
                    "code_burned" => burned.fetch_add(1, Ordering::SeqCst),
                    other => panic!("{other}"),
                });
            }
        });
        assert_eq!(wrong_count.load(Ordering::SeqCst), 5);
        assert_eq!(burned.load(Ordering::SeqCst), 45);
    }

    #[test]
    fn two_gates_need_two_different_methods() {
        let (env, _) = setup();
        env.save_policy(|p| p.gates_required = 2);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        let r = check(&env, &flow, "email", &last_code(&env)).unwrap();
        assert_eq!((r.gates_passed, r.gates_required, r.next), (1, 2, "choose_method"));
        let e = send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"));
        let qs = send_to(&env, &flow, "questions", "").unwrap().questions.unwrap();
        let r = answer(&env, &flow, &qs, true).unwrap();
        assert_eq!((r.gates_passed, r.next), (2, "set_password"));
    }

    #[test]
    fn texting_and_calling_one_phone_are_one_factor() {
        let (env, _) = setup();
        env.save_policy(|p| p.gates_required = 2);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "+1 425 555 0112").unwrap();
        check(&env, &flow, "mobile_text", &last_code(&env)).unwrap();
        let e = send_to(&env, &flow, "mobile_call", "+1 425 555 0112").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"), "the same phone cannot be the second gate");
    }

    /// How many times `step` read a user's run (`reset-blocked:`).
    fn runs_read(env: &TestEnv, step: impl FnOnce(&Ctx)) -> usize {
        let log = crate::testing::StoreLog::new(&env.store);
        step(&env.ctx_on(&log));
        log.reads().iter().filter(|k| k.starts_with("reset-blocked:")).count()
    }

    /// The user's run is read once per request: the block check hands it to
    /// the throttles and the proof slot.
    #[test]
    fn each_gate_step_reads_the_run_once() {
        use crate::testing::{SendCodeRequest, send_code};
        let (env, flow) = setup();
        let env = &env;
        let send = |method: &str, to: &str| {
            let req = SendCodeRequest { flow: flow.clone(), method: method.into(), destination: to.into() };
            move |ctx: &Ctx| drop(send_code(ctx, &env.outbox(), req).unwrap())
        };
        let try_code = |method: &str, code: String| {
            let req = VerifyRequest { flow: flow.clone(), method: method.into(), code: Some(code), answers: None };
            move |ctx: &Ctx| drop(verify(ctx, &env.outbox(), req))
        };
        assert_eq!(runs_read(env, send("mobile_text", "4255550112")), 1, "send-code");
        assert_eq!(runs_read(env, try_code("mobile_text", "abcdef".into())), 1, "a wrong code");
        assert_eq!(runs_read(env, send("questions", "")), 1, "a question draw");
        let wrong = vec![Answer { id: "x".into(), answer: "y".into() }];
        let req = VerifyRequest { flow: flow.clone(), method: "questions".into(), code: None, answers: Some(wrong) };
        let answers = |ctx: &Ctx| assert_eq!(verify(ctx, &env.outbox(), req).unwrap_err().error(), "wrong_answers");
        assert_eq!(runs_read(env, answers), 1, "wrong answers");
        assert_eq!(runs_read(env, send("email", "jane.doe@fabrikam.com")), 1);
        assert_eq!(runs_read(env, try_code("email", last_code(env))), 1, "the right code");
    }

    #[test]
    fn wrong_answers_redraw_and_right_answers_pass() {
        let (env, flow) = setup();
        let qs = send_to(&env, &flow, "questions", "").unwrap().questions.unwrap();
        let e = answer(&env, &flow, &qs, false).unwrap_err();
        assert_eq!((e.status(), e.error()), (401, "wrong_answers"));
        let redrawn: Vec<questions::Question> =
            serde_json::from_value(e.details.unwrap()["questions"].clone()).unwrap();
        assert_eq!(redrawn.len(), 3);
        assert_ne!(
            crate::flow::load(&env.ctx(), &flow, &[crate::flow::Purpose::Reset]).unwrap().0.draw_id,
            "",
            "a new draw is pending"
        );
        assert_eq!(answer(&env, &flow, &redrawn, true).unwrap().next, "set_password");
    }

    #[test]
    fn answers_without_questions_and_codes_without_sending_are_out_of_order() {
        let (env, flow) = setup();
        let qs = vec![questions::Question { id: "q01".into(), text: String::new() }];
        assert_eq!(answer(&env, &flow, &qs, true).unwrap_err().error(), "flow_state");
        assert_eq!(check(&env, &flow, "email", "123456").unwrap_err().error(), "flow_state");
        let e = verify(
            &env.ctx(),
            &env.outbox(),
            VerifyRequest { flow: flow.clone(), method: "email".into(), ..Default::default() },
        )
        .unwrap_err();
        assert_eq!(e.error(), "missing_field");
    }

    #[test]
    fn five_failed_proofs_block_resets_for_a_day() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let code = last_code(&env);
        for _ in 0..5 {
            check(&env, &flow, "mobile_text", &wrong(&code)).unwrap_err();
        }
        let e = send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap_err();
        assert_eq!((e.status(), e.error()), (403, "reset_blocked"));
        assert_eq!(start(&env, "jane@contoso.com", "reset").unwrap_err().error(), "reset_blocked");
        let blocked =
            audit::list(&*env.store, &audit::Query { kind: Some("blocked".into()), ..Default::default() }).unwrap();
        assert_eq!(blocked.len(), 1);
        env.clock.advance(86400);
        start(&env, "jane@contoso.com", "reset").unwrap();
    }

    #[test]
    fn concurrent_answers_to_one_draw_are_evaluated_once() {
        let (env, flow) = setup();
        let qs = send_to(&env, &flow, "questions", "").unwrap().questions.unwrap();
        let before = crate::flow::load(&env.ctx(), &flow, &[crate::flow::Purpose::Reset]).unwrap().0.draw_id;
        // Claim the current draw as a concurrent request would have: this answer is not evaluated.
        assert!(Counter::new(&*env.store, draw_key(&crate::flow::handle(&env.ctx(), &flow), &before)).claim().unwrap());
        assert_eq!(answer(&env, &flow, &qs, true).unwrap_err().error(), "flow_state");
        let events =
            audit::list(&*env.store, &audit::Query { kind: Some("verification_failed".into()), ..Default::default() })
                .unwrap();
        assert!(events.is_empty(), "nothing was evaluated");
    }

    #[test]
    fn five_validations_per_method_per_hour() {
        let (env, _) = setup();
        env.save_policy(|p| p.throttles.failed_proofs_per_day = 100);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let c1 = last_code(&env);
        for _ in 0..4 {
            check(&env, &flow, "mobile_text", &wrong(&c1)).unwrap_err();
        }
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let c2 = last_code(&env);
        check(&env, &flow, "mobile_text", &wrong(&c2)).unwrap_err();
        let e = check(&env, &flow, "mobile_text", &c2).unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"));
    }

    #[test]
    fn a_text_and_a_call_to_one_phone_share_five_validations() {
        let (env, _) = setup();
        env.save_policy(|p| p.throttles.failed_proofs_per_day = 100);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let c1 = last_code(&env);
        for _ in 0..3 {
            check(&env, &flow, "mobile_text", &wrong(&c1)).unwrap_err();
        }
        // A call answered with another key, or hung up, is a wrong try.
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        assert!(!press(&env, Some("1")).unwrap().passed);
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        assert!(!press(&env, None).unwrap().passed);
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        let e = press(&env, Some("#")).unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"), "the sixth check of the phone this hour");
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap_err().error(), "call_failed", "the spent call ends");
        // The office phone is another factor.
        send_to(&env, &flow, "office_call", "4255550199").unwrap();
        prove_last(&env, &flow, "office_call").unwrap();
    }

    #[test]
    fn a_call_says_press_hash_and_hash_passes_the_gate_once() {
        use crate::platform::store::Store;
        let (env, flow) = setup();
        let r = send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        assert_eq!(r.expires_in, Some(300));
        let call = crate::domain::notify::outbox(&*env.store, 1).unwrap().remove(0);
        assert!(call.message.body.contains("press the pound key"), "{}", call.message.body);
        assert!(!call.message.body.chars().any(|c| c.is_ascii_digit()), "no code is read out");
        let token = last_call_token(&env);
        assert_eq!(call.callback_url.as_deref(), Some(format!("https://sspr.example/api/voice/{token}").as_str()));
        // Only a keyed hash of the token is stored.
        for key in env.store.keys_with_prefix("").unwrap().into_iter().filter(|k| !k.starts_with("outbox")) {
            let v = String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).to_string();
            assert!(!key.contains(&token) && !v.contains(&token) && !v.contains(&flow), "{key}");
        }
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap(), None, "pending while the call is out");
        let typed = check(&env, &flow, "mobile_call", "123456").unwrap_err();
        assert_eq!(typed.error(), "flow_state", "a call has no code to type");
        assert!(press(&env, Some("#")).unwrap().passed);
        let r = poll(&env, &flow, "mobile_call").unwrap().unwrap();
        assert_eq!((r.gates_passed, r.next), (1, "set_password"));
        // Single use: a replayed callback is refused, whatever it says.
        let e = callback(&env.ctx(), &env.outbox(), &token, Some("#")).unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"));
        assert_eq!(callback(&env.ctx(), &env.outbox(), &"0".repeat(32), Some("#")).unwrap_err().status(), 404);
        assert_eq!(callback(&env.ctx(), &env.outbox(), "../x", Some("#")).unwrap_err().status(), 404);
    }

    #[test]
    fn another_key_a_hang_up_or_no_answer_fails_the_attempt_and_counts() {
        let (env, flow) = setup();
        for (i, key) in [Some("1"), None, Some("*"), Some(""), Some("##")].into_iter().enumerate() {
            send_to(
                &env,
                &flow,
                if i % 2 == 0 { "mobile_call" } else { "office_call" },
                if i % 2 == 0 { "4255550112" } else { "4255550199" },
            )
            .unwrap();
            assert!(!press(&env, key).unwrap().passed, "{key:?}");
            let method = if i % 2 == 0 { "mobile_call" } else { "office_call" };
            let e = poll(&env, &flow, method).unwrap_err();
            assert_eq!((e.status(), e.error()), (410, "call_failed"));
            assert!(e.message.contains("Call again"));
        }
        let failed =
            audit::list(&*env.store, &audit::Query { kind: Some("verification_failed".into()), ..Default::default() })
                .unwrap();
        assert_eq!(failed.len(), 5);
        // Five failed proofs block resets for a day, as five wrong codes do.
        let e = send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap_err();
        assert_eq!((e.status(), e.error()), (403, "reset_blocked"));
    }

    #[test]
    fn a_callback_after_the_call_or_the_flow_expired_is_410() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        env.clock.advance(300);
        let e = press(&env, Some("#")).unwrap_err();
        assert_eq!((e.status(), e.error()), (410, "code_expired"));
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap_err().error(), "call_failed", "no answer in time");
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        env.clock.advance(900);
        assert_eq!(press(&env, Some("#")).unwrap_err().status(), 410);
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap_err().error(), "flow_expired");
    }

    /// No callback by the call's expiry: every poll answers 410, and the
    /// unanswered call is one failed try (a failed proof), counted once however
    /// many polls (and a late callback) arrive at once; five block resets.
    #[test]
    fn a_call_with_no_callback_by_its_expiry_fails_and_counts_once() {
        let (env, _) = setup();
        let failed = || {
            audit::list(&*env.store, &audit::Query { kind: Some("verification_failed".into()), ..Default::default() })
                .unwrap()
                .len()
        };
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        env.clock.advance(299);
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap(), None, "still ringing");
        env.clock.advance(1);
        let jitter = crate::testing::JitterStore(&env.store);
        let barrier = std::sync::Barrier::new(32);
        std::thread::scope(|s| {
            for i in 0..32 {
                let (env, jitter, barrier, flow) = (&env, &jitter, &barrier, &flow);
                s.spawn(move || {
                    barrier.wait();
                    let ctx = env.jittery_ctx(jitter);
                    if i % 8 == 0 {
                        // A late callback: refused, and it counts nothing itself.
                        let e = callback(&ctx, &env.outbox(), &last_call_token(env), Some("#")).unwrap_err();
                        assert_eq!(e.error(), "code_expired");
                    } else {
                        let req =
                            VerifyRequest { flow: flow.clone(), method: "mobile_call".into(), ..Default::default() };
                        let e = verify_or_poll(&ctx, &env.outbox(), req).unwrap_err();
                        assert_eq!((e.status(), e.error()), (410, "call_failed"));
                    }
                });
            }
        });
        assert_eq!(failed(), 1, "one unanswered call, one failed try");
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap_err().error(), "call_failed");
        assert_eq!(failed(), 1);
        // The same limits as a wrong code: five failed proofs block resets for a day.
        for i in 0..4 {
            let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
            send_to(&env, &flow, "office_call", "4255550199").unwrap();
            env.clock.advance(300);
            assert_eq!(poll(&env, &flow, "office_call").unwrap_err().error(), "call_failed");
            assert_eq!(failed(), 2 + i);
        }
        assert_eq!(start(&env, "jane@contoso.com", "reset").unwrap_err().error(), "reset_blocked");
    }

    #[test]
    fn the_dev_outbox_press_action_answers_the_call() {
        let (env, flow) = setup();
        send_to(&env, &flow, "office_call", "4255550199").unwrap();
        let seq = crate::domain::notify::outbox(&*env.store, 1).unwrap()[0].seq;
        assert!(dev_press(&env.ctx(), &env.outbox(), seq, Some("#")).unwrap().passed);
        assert_eq!(poll(&env, &flow, "office_call").unwrap().unwrap().next, "set_password");
        assert_eq!(dev_press(&env.ctx(), &env.outbox(), seq, Some("#")).unwrap_err().status(), 409, "single use");
        assert_eq!(dev_press(&env.ctx(), &env.outbox(), seq + 1, Some("#")).unwrap_err().status(), 404);
    }

    #[test]
    fn a_new_call_replaces_the_old_one() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        let first = last_call_token(&env);
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        let e = callback(&env.ctx(), &env.outbox(), &first, Some("#")).unwrap_err();
        assert_eq!(e.error(), "flow_state");
        prove_last(&env, &flow, "mobile_call").unwrap();
    }

    #[test]
    fn thirty_two_concurrent_callbacks_on_one_token_pass_once() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        let token = last_call_token(&env);
        let jitter = crate::testing::JitterStore(&env.store);
        let barrier = std::sync::Barrier::new(32);
        let (passed_count, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..32 {
                let (env, jitter, barrier, token) = (&env, &jitter, &barrier, &token);
                let (passed_count, refused) = (&passed_count, &refused);
                s.spawn(move || {
                    barrier.wait();
                    match callback(&env.jittery_ctx(jitter), &env.outbox(), token, Some("#")) {
                        Ok(o) if o.passed => passed_count.fetch_add(1, Ordering::SeqCst),
                        Err(e) if e.error() == "flow_state" => refused.fetch_add(1, Ordering::SeqCst),
                        other => panic!("{other:?}"),
                    };
                });
            }
        });
        assert_eq!((passed_count.into_inner(), refused.into_inner()), (1, 31));
        let verified =
            audit::list(&*env.store, &audit::Query { kind: Some("verified".into()), ..Default::default() }).unwrap();
        assert_eq!(verified.len(), 1);
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap().unwrap().next, "set_password");
    }

    #[test]
    fn polling_is_throttled_and_only_for_calls() {
        let (env, flow) = setup();
        let e = poll(&env, &flow, "mobile_call").unwrap_err();
        assert_eq!(e.error(), "flow_state", "no call out");
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        env.clock.set(1_800_000_000 / 60 * 60 + 60);
        for _ in 0..POLLS_PER_MINUTE {
            assert_eq!(poll(&env, &flow, "mobile_call").unwrap(), None);
        }
        assert_eq!(poll(&env, &flow, "mobile_call").unwrap_err().error(), "throttled");
        // A code method with no code is still a missing field, not a poll.
        let req = VerifyRequest { flow: flow.clone(), method: "email".into(), code: None, answers: None };
        assert_eq!(verify_or_poll(&env.ctx(), &env.outbox(), req).unwrap_err().error(), "missing_field");
    }

    #[test]
    fn without_a_public_base_url_calls_are_not_offered() {
        let (env, flow) = setup();
        let mut ctx = env.ctx();
        ctx.public_base_url.clear();
        let req = crate::testing::SendCodeRequest {
            flow: flow.clone(),
            method: "mobile_call".into(),
            destination: "4255550112".into(),
        };
        let e = crate::testing::send_code(&ctx, &env.outbox(), req).unwrap_err();
        assert_eq!(e.error(), "method_unavailable");
        assert!(e.message.contains("public_base_url"));
    }

    #[test]
    fn the_voice_callback_route() {
        let t = "a".repeat(32);
        assert_eq!(route("POST", &format!("/api/voice/{t}")), Routed::To(Endpoint::Voice(t.clone())));
        assert_eq!(route("GET", &format!("/api/voice/{t}")), Routed::MethodNotAllowed(vec!["POST"]));
        assert_eq!(route("POST", "/api/voice/"), Routed::NotFound);
        assert_eq!(route("POST", "/api/voice/a/b"), Routed::NotFound);
        assert_eq!(route("POST", "/api/verify-code"), Routed::To(Endpoint::Verify));
        assert_eq!(route("POST", "/api/dev/outbox/12/press"), Routed::To(Endpoint::DevPress(12)));
        assert_eq!(route("POST", "/api/dev/outbox/x/press"), Routed::NotFound);
        assert_eq!(route("POST", "/api/dev/outbox/12"), Routed::NotFound);
    }

    /// Sixteen flows of one user, a code out (or questions drawn) in each, over
    /// every method; eight guessers per flow at once, on a store that
    /// interleaves like a real host: at most five wrong proofs are evaluated.
    #[test]
    fn wrong_proofs_across_flows_and_methods_at_once_evaluate_at_most_five() {
        let (env, _) = setup();
        env.save_policy(|p| p.throttles.identify_per_minute = 1000);
        let jane = crate::domain::users::find_by_username(&*env.store, "jane@contoso.com").unwrap().unwrap();
        // A guess is a wrong code or answers, or a call answered with another key.
        let mut guesses: Vec<(VerifyRequest, Option<String>)> = Vec::new();
        for (method, destination, flows) in [
            ("email", "jane.doe@fabrikam.com", 4),
            ("mobile_text", "4255550112", 2),
            ("mobile_call", "4255550112", 2),
            ("office_call", "4255550199", 4),
            ("questions", "", 4),
        ] {
            for _ in 0..flows {
                let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
                let sent = send_to(&env, &flow, method, destination).unwrap();
                let (code, answers, token) = match sent.questions {
                    Some(qs) => (
                        None,
                        Some(qs.iter().map(|q| Answer { id: q.id.clone(), answer: "nope".into() }).collect()),
                        None,
                    ),
                    None if method.ends_with("_call") => (None, None, Some(last_call_token(&env))),
                    None => (Some(wrong(&last_code(&env))), None, None),
                };
                guesses.push((VerifyRequest { flow, method: method.into(), code, answers }, token));
            }
        }
        let jitter = crate::testing::JitterStore(&env.store);
        let barrier = std::sync::Barrier::new(guesses.len() * 8);
        let outcomes: Vec<(u16, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..guesses.len() * 8)
                .map(|i| {
                    let (env, jitter, barrier, (req, token)) =
                        (&env, &jitter, &barrier, guesses[i % guesses.len()].clone());
                    s.spawn(move || {
                        barrier.wait();
                        let ctx = env.jittery_ctx(jitter);
                        let e = match token {
                            Some(token) => match callback(&ctx, &env.outbox(), &token, Some("1")) {
                                Ok(o) => {
                                    assert!(!o.passed);
                                    return (401, "call_failed".to_owned());
                                }
                                Err(e) => e,
                            },
                            None => verify(&ctx, &env.outbox(), req).unwrap_err(),
                        };
                        (e.status(), e.error().to_owned())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let evaluated = outcomes.iter().filter(|(s, _)| *s == 401).count();
        assert!((1..=5).contains(&evaluated), "{evaluated} wrong proofs evaluated: {outcomes:?}");
        assert!(
            outcomes.iter().all(|(s, e)| matches!(
                (s, e.as_str()),
                (401, _) | (403, "reset_blocked") | (409, "flow_state") | (410, "code_burned") | (429, "throttled")
            )),
            "{outcomes:?}"
        );
        let q = |kind: &str| audit::Query {
            kind: Some(kind.into()),
            user_id: Some(jane.id.clone()),
            limit: Some(500),
            ..Default::default()
        };
        assert_eq!(audit::list(&*env.store, &q("verification_failed")).unwrap().len(), evaluated);
        if evaluated == 5 {
            assert_eq!(audit::list(&*env.store, &q("blocked")).unwrap().len(), 1);
            assert_eq!(start(&env, "jane@contoso.com", "reset").unwrap_err().error(), "reset_blocked");
        }
    }
}
