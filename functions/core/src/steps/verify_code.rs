//! `POST /api/verify-code`: prove a gate with the code that was sent, or with
//! answers to the drawn security questions.
//!
//! Every try is counted (atomically) before the secret is compared, so however
//! many guesses arrive at once, at most `code_attempts` are ever evaluated.

use crate::domain::audit;
use crate::domain::code;
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::errors::{ApiError, Result};
use crate::flow::{self, Flow, FlowState};
use crate::platform::kv;
use crate::domain::methods::MethodId;
use crate::domain::policy::Policy;
use crate::domain::questions::{self, Answer};
use crate::steps::send_code::{gate_context, parse_method};
use crate::domain::throttle;
use crate::domain::users::User;
use serde::{Deserialize, Serialize};
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyResponse {
    pub gates_passed: u8,
    pub gates_required: u8,
    /// `choose_method` (another gate is needed), `set_password` or `unlock`.
    pub next: &'static str,
}

pub(crate) fn attempts_key(flow_id: &str, code_id: &str) -> String {
    format!("code-attempts:{flow_id}:{code_id}")
}

fn draw_key(flow_id: &str, draw_id: &str) -> String {
    format!("questions-answered:{flow_id}:{draw_id}")
}

/// Marks `method` passed, provided the flow still holds the same pending
/// code or question draw (`token`) the caller evaluated; retried on a CAS race.
fn pass_gate(ctx: &Ctx, flow_id: &str, method: MethodId, token: &str) -> Result<Flow> {
    for _ in 0..8 {
        let (mut flow, raw) = flow::load(ctx, flow_id, &[flow::Purpose::Reset, flow::Purpose::Unlock])?;
        let current = match method {
            MethodId::Questions => Some(flow.draw_id.as_str()),
            _ => flow.pending.as_ref().filter(|p| p.method == method).map(|p| p.code_id.as_str()),
        };
        if current != Some(token) || flow.factor_used(method) {
            return Err(ApiError::flow_state("This code or set of questions was replaced by a newer one."));
        }
        flow.gates_passed.push(method);
        flow.pending = None;
        flow.questions.clear();
        flow.draw_id.clear();
        flow.state = if flow.all_gates_passed() { FlowState::Verified } else { FlowState::ChooseMethod };
        match flow::save(ctx, &flow, &raw) {
            Ok(_) => return Ok(flow),
            Err(e) if e.error == "flow_state" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::flow_state("This session is busy; please try again."))
}

fn passed(ctx: &Ctx, flow: &Flow, method: MethodId) -> Result<VerifyResponse> {
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

fn failed(ctx: &Ctx, policy: &Policy, user: &User, method: MethodId) -> Result<()> {
    audit::append(ctx, "verification_failed", Some(&user.id), json!({ "method": method.as_str() }))?;
    throttle::record_failed_proof(ctx, policy, &user.id)?;
    Ok(())
}

/// `POST /api/verify-code`.
pub fn verify(ctx: &Ctx, req: VerifyRequest) -> Result<VerifyResponse> {
    let method = parse_method(&req.method)?;
    // Registration proves a new contact through this same step.
    if let Some((flow, _raw)) = crate::steps::register::register_flow(ctx, &req.flow) {
        return crate::steps::register::verify_code(ctx, flow, method, req.code.as_deref());
    }
    if method == MethodId::Questions {
        return verify_answers(ctx, req);
    }
    let typed = typed_code(req.code.as_deref())?;
    // The block is checked after counting, so a burned code keeps answering 410.
    let (flow, _raw, user, policy) = gate_context(ctx, &req.flow, method, false)?;
    match check_code(ctx, &policy, &flow, method, typed, &user.id, true)? {
        Ok(code_id) => {
            let done = pass_gate(ctx, &flow.id, method, &code_id)?;
            ctx.store.delete(&attempts_key(&flow.id, &code_id))?;
            passed(ctx, &done, method)
        }
        Err(attempts_left) => {
            failed(ctx, &policy, &user, method)?;
            Err(ApiError::wrong_code(attempts_left))
        }
    }
}

/// The typed code, trimmed: missing → 400 `missing_field`, absurdly long → 400.
pub(crate) fn typed_code(code: Option<&str>) -> Result<&str> {
    let typed = code.map(str::trim).unwrap_or_default();
    if typed.is_empty() {
        return Err(ApiError::missing_field("code"));
    }
    if typed.len() > 32 {
        return Err(ApiError::bad_request("A code has 6 digits."));
    }
    Ok(typed)
}

/// The rules every code check shares, whatever the flow's purpose: a code must
/// be out for `method` and unexpired; the try is counted before comparing (the
/// n-th concurrent guess sees n, so only the first `code_attempts` go on);
/// resets may be blocked (`check_block`); validations are throttled per method.
/// `Ok(Ok(code_id))` on a match, `Ok(Err(attempts_left))` on a miss.
pub(crate) fn check_code(
    ctx: &Ctx,
    policy: &Policy,
    flow: &Flow,
    method: MethodId,
    typed: &str,
    user_id: &str,
    check_block: bool,
) -> Result<std::result::Result<String, u32>> {
    let Some(pending) = flow.pending.as_ref().filter(|p| p.method == method) else {
        return Err(ApiError::flow_state("No code was sent for this option; request one first."));
    };
    if ctx.now() >= pending.expires_at {
        return Err(ApiError::code_expired());
    }
    let limit = policy.throttles.code_attempts as i64;
    let n = Counter::new(ctx.store, attempts_key(&flow.id, &pending.code_id)).add(1)?;
    if n > limit {
        return Err(ApiError::code_burned());
    }
    if check_block {
        throttle::check_blocked(ctx, user_id)?;
    }
    throttle::hit(
        ctx,
        "validate",
        &format!("{user_id}:{}", method.as_str()),
        policy.throttles.validations_per_gate_per_hour,
        3600,
    )?;
    if code::matches(&ctx.secrets.code_key, &flow.id, &pending.code_id, typed, &pending.hash) {
        Ok(Ok(pending.code_id.clone()))
    } else {
        Ok(Err((limit - n) as u32))
    }
}

fn verify_answers(ctx: &Ctx, req: VerifyRequest) -> Result<VerifyResponse> {
    let Some(answers) = req.answers.filter(|a| !a.is_empty()) else {
        return Err(ApiError::missing_field("answers"));
    };
    if answers.len() > 10 || answers.iter().any(|a| a.answer.len() > 200 || a.id.len() > 64) {
        return Err(ApiError::bad_request("Too many or too long answers."));
    }
    let method = MethodId::Questions;
    let (flow, _raw, user, policy) = gate_context(ctx, &req.flow, method, true)?;
    if flow.state != FlowState::QuestionsAsked || flow.questions.is_empty() {
        return Err(ApiError::flow_state("No questions were asked; choose the questions option first."));
    }
    // Throttled before the claim, so a 429 does not spend the draw.
    throttle::hit(
        ctx,
        "validate",
        &format!("{}:{}", user.id, method.as_str()),
        policy.throttles.validations_per_gate_per_hour,
        3600,
    )?;
    // Each draw is evaluated once: a concurrent second answer to the same draw is refused.
    if !Counter::new(ctx.store, draw_key(&flow.id, &flow.draw_id)).claim()? {
        return Err(ApiError::flow_state("These questions were already answered; answer the new ones."));
    }

    if questions::all_match(&user.security_answers, &flow.questions, &answers) {
        let done = pass_gate(ctx, &flow.id, method, &flow.draw_id)?;
        return passed(ctx, &done, method);
    }
    failed(ctx, &policy, &user, method)?;
    // Re-draw after a wrong answer, so an attacker cannot keep working on one set.
    let (mut again, raw) = flow::load(ctx, &flow.id, &[flow.purpose])?;
    again.questions = questions::draw(ctx.random, &user.security_answers, policy.questions_to_reset as usize);
    again.draw_id = kv::random_hex(ctx.random, 8);
    flow::save(ctx, &again, &raw)?;
    let shown = questions::shown(&user.security_answers, &again.questions);
    Err(ApiError::wrong_answers(serde_json::to_value(shown).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::identify::tests::{easy_env, start};
    use crate::domain::questions::PREDEFINED;
    use crate::steps::send_code::tests::{last_code, send_to};
    use crate::testing::TestEnv;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn check(env: &TestEnv, flow: &str, method: &str, code: &str) -> Result<VerifyResponse> {
        verify(
            &env.ctx(),
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
        assert_eq!(check(&env, &flow, "email", &code).unwrap_err().error, "flow_state");
        assert_eq!(
            send_to(&env, &flow, "mobile_text", "4255550112").unwrap_err().error,
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
            assert_eq!((e.status, e.error), (401, "wrong_code"));
            assert_eq!(e.details.unwrap()["attempts_left"], left);
        }
        let e = check(&env, &flow, "mobile_text", &code).unwrap_err();
        assert_eq!((e.status, e.error), (410, "code_burned"), "even the right code is refused now");
    }

    #[test]
    fn an_expired_code_is_refused_and_a_new_code_replaces_the_old() {
        let (env, flow) = setup();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let first = last_code(&env);
        env.clock.advance(300);
        let e = check(&env, &flow, "mobile_text", &first).unwrap_err();
        assert_eq!((e.status, e.error), (410, "code_expired"));
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        let second = last_code(&env);
        if first != second {
            assert_eq!(check(&env, &flow, "mobile_text", &first).unwrap_err().error, "wrong_code");
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
                s.spawn(|| match check(&env, &flow, "mobile_text", &bad).unwrap_err().error {
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
        assert_eq!((e.status, e.error), (409, "flow_state"));
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
        assert_eq!((e.status, e.error), (409, "flow_state"), "the same phone cannot be the second gate");
    }

    #[test]
    fn wrong_answers_redraw_and_right_answers_pass() {
        let (env, flow) = setup();
        let qs = send_to(&env, &flow, "questions", "").unwrap().questions.unwrap();
        let e = answer(&env, &flow, &qs, false).unwrap_err();
        assert_eq!((e.status, e.error), (401, "wrong_answers"));
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
        assert_eq!(answer(&env, &flow, &qs, true).unwrap_err().error, "flow_state");
        assert_eq!(check(&env, &flow, "email", "123456").unwrap_err().error, "flow_state");
        let e = verify(&env.ctx(), VerifyRequest { flow: flow.clone(), method: "email".into(), ..Default::default() })
            .unwrap_err();
        assert_eq!(e.error, "missing_field");
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
        assert_eq!((e.status, e.error), (403, "reset_blocked"));
        assert_eq!(start(&env, "jane@contoso.com", "reset").unwrap_err().error, "reset_blocked");
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
        assert!(Counter::new(&*env.store, draw_key(&flow, &before)).claim().unwrap());
        assert_eq!(answer(&env, &flow, &qs, true).unwrap_err().error, "flow_state");
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
        assert_eq!((e.status, e.error), (429, "throttled"));
    }
}
