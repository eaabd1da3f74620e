//! `POST /api/send-code`: the user picked a method and typed its full
//! destination; if it matches the registered one, a fresh code goes out
//! (replacing any earlier one). For `questions` the questions are drawn instead.

use crate::domain::audit;
use crate::domain::code;
use crate::platform::ctx::Ctx;
use crate::errors::{ApiError, Result};
use crate::flow::{self, Flow, FlowState, PendingCode, Purpose};
use crate::platform::kv;
use crate::domain::mask;
use crate::domain::methods::{Kind, MethodId};
use crate::domain::notify::{Channel, Message, Notifier};
use crate::domain::policy::Policy;
use crate::domain::questions::{self, Question};
use crate::domain::throttle;
use crate::domain::users::{self, User};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SendCodeRequest {
    pub flow: String,
    pub method: String,
    /// The full email address or phone number; not used for `questions`.
    pub destination: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendCodeResponse {
    /// Seconds the code stays valid (code methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// The drawn questions (method `questions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<Vec<Question>>,
}

impl SendCodeResponse {
    /// 202 for a code handed to delivery, 200 for questions shown at once.
    pub fn status(&self) -> u16 {
        if self.questions.is_some() { 200 } else { 202 }
    }
}

pub(crate) fn parse_method(method: &str) -> Result<MethodId> {
    if method.trim().is_empty() {
        return Err(ApiError::missing_field("method"));
    }
    MethodId::parse(method.trim()).ok_or_else(|| ApiError::bad_request(format!("Unknown method `{}`.", method.trim())))
}

/// The flow, its user and the policy, after the checks every gate step shares:
/// a live reset/unlock flow still choosing gates, a method offered and not yet
/// used, and (when `check_block`) resets not blocked.
pub(crate) fn gate_context(
    ctx: &Ctx,
    flow_id: &str,
    method: MethodId,
    check_block: bool,
) -> Result<(Flow, Vec<u8>, User, Policy)> {
    if flow_id.trim().is_empty() {
        return Err(ApiError::missing_field("flow"));
    }
    let (flow, raw) = flow::load(ctx, flow_id.trim(), &[Purpose::Reset, Purpose::Unlock])?;
    if flow.all_gates_passed() {
        return Err(ApiError::flow_state("Every verification step is done; continue to the last step."));
    }
    if flow.factor_used(method) {
        return Err(ApiError::flow_state(
            "This option, or another way to reach the same phone, was already used; choose a different one.",
        ));
    }
    let policy = Policy::load(ctx.store)?;
    let user = users::get(ctx.store, &flow.user_id)?.ok_or_else(ApiError::flow_not_found)?;
    if !flow.methods.contains(&method) || !user.available_methods(&policy).contains(&method) {
        return Err(ApiError::method_unavailable());
    }
    if check_block {
        throttle::check_blocked(ctx, &user.id)?;
    }
    Ok((flow, raw, user, policy))
}

/// The registered destination the typed one names, normalised for delivery
/// (lowercase email or E.164), or `None` when it matches none.
fn matching_destination(user: &User, method: MethodId, typed: &str) -> Option<String> {
    let c = &user.contacts;
    match method {
        MethodId::Email => {
            let typed = typed.trim().to_lowercase();
            c.emails().into_iter().map(|e| e.trim().to_lowercase()).find(|e| *e == typed)
        }
        MethodId::MobileText | MethodId::MobileCall => {
            c.mobiles().into_iter().find(|p| p.matches(typed)).map(|p| p.e164())
        }
        MethodId::OfficeCall => c.office_phone.as_ref().filter(|p| p.matches(typed)).map(|p| p.e164()),
        MethodId::Questions => None,
    }
}

fn message(method: MethodId, to: String, code: &str, minutes: u64) -> Message {
    let (channel, body) = match method.kind() {
        Kind::Email => (
            Channel::Email,
            format!(
                "Your verification code is {code}. It expires in {minutes} minutes. If you did not ask to reset your password, tell your administrator."
            ),
        ),
        // A call reads the digits one by one.
        Kind::Voice => {
            let spoken = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
            (Channel::Voice, format!("Your verification code is {spoken}. Again: {spoken}."))
        }
        _ => (Channel::Sms, format!("{code} is your verification code. It expires in {minutes} minutes.")),
    };
    Message { channel, to, subject: "Your verification code".into(), body }
}

/// `POST /api/send-code`.
pub fn send(ctx: &Ctx, notifier: &dyn Notifier, req: SendCodeRequest) -> Result<SendCodeResponse> {
    let method = parse_method(&req.method)?;
    // Registration proves a new contact through this same step.
    if let Some((flow, raw)) = crate::steps::register::register_flow(ctx, &req.flow) {
        return crate::steps::register::send_code(ctx, notifier, flow, raw, method, &req.destination);
    }
    let (mut flow, raw, user, policy) = gate_context(ctx, &req.flow, method, true)?;
    count_send(ctx, &policy, &user.id, method)?;

    if method == MethodId::Questions {
        flow.questions = questions::draw(ctx.random, &user.security_answers, policy.questions_to_reset as usize);
        flow.draw_id = kv::random_hex(ctx.random, 8);
        flow.pending = None;
        flow.state = FlowState::QuestionsAsked;
        flow::save(ctx, &flow, &raw)?;
        return Ok(SendCodeResponse {
            expires_in: None,
            questions: Some(questions::shown(&user.security_answers, &flow.questions)),
        });
    }

    if req.destination.trim().is_empty() {
        return Err(ApiError::missing_field("destination"));
    }
    let Some(to) = matching_destination(&user, method, &req.destination) else {
        return Err(ApiError::destination_mismatch());
    };
    deliver(ctx, notifier, &policy, flow, &raw, &user.id, method, to)
}

/// Counts one send for the user's method. Counted before the destination is
/// compared, so mismatches cannot probe numbers endlessly. Email has its own
/// budget (10 per 10 minutes, per user); phones and question draws get 5 per
/// method per hour, as in Entra. Registration sends share these budgets.
pub(crate) fn count_send(ctx: &Ctx, policy: &Policy, user_id: &str, method: MethodId) -> Result<()> {
    let t = &policy.throttles;
    if method == MethodId::Email {
        throttle::hit(ctx, "email", user_id, t.emails_per_10_minutes, 600)
    } else {
        throttle::hit(ctx, "send", &format!("{user_id}:{}", method.as_str()), t.sends_per_gate_per_hour, 3600)
    }
}

/// Makes a fresh code for `method` (replacing any earlier one), stores only
/// its keyed hash in the flow, and sends it to `to` (normalised destination).
#[allow(clippy::too_many_arguments)]
pub(crate) fn deliver(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    policy: &Policy,
    mut flow: Flow,
    raw: &[u8],
    user_id: &str,
    method: MethodId,
    to: String,
) -> Result<SendCodeResponse> {
    let plain = code::generate(ctx.random);
    let code_id = kv::random_hex(ctx.random, 8);
    flow.pending = Some(PendingCode {
        method,
        hash: code::hash(&ctx.secrets.code_key, &flow.id, &code_id, &plain),
        code_id,
        expires_at: ctx.now() + policy.code_lifetime_seconds,
        destination: to.clone(),
    });
    flow.questions.clear();
    flow.state = FlowState::CodeSent;
    flow::save(ctx, &flow, raw)?;

    let hint = if method == MethodId::Email {
        mask::email(&to)
    } else {
        format!("+•••{}", &to[to.len().saturating_sub(2)..])
    };
    let msg = message(method, to, &plain, policy.code_lifetime_seconds.div_ceil(60));
    if let Err(e) = notifier.send(&msg) {
        audit::append(ctx, "delivery_failed", Some(user_id), json!({ "method": method.as_str(), "to": hint }))?;
        return Err(ApiError::delivery_failed(format!(
            "The code could not be sent ({}). Please try again or choose another option.",
            e.0
        )));
    }
    audit::append(
        ctx,
        "code_sent",
        Some(user_id),
        json!({ "flow_purpose": flow.purpose.as_str(), "method": method.as_str(), "to": hint }),
    )?;
    Ok(SendCodeResponse { expires_in: Some(policy.code_lifetime_seconds), questions: None })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::steps::identify::tests::{easy_env, start};
    use crate::domain::notify::{self, FailingNotifier};
    use crate::platform::store::Store;
    use crate::testing::TestEnv;

    pub fn send_to(env: &TestEnv, flow: &str, method: &str, destination: &str) -> Result<SendCodeResponse> {
        let ctx = env.ctx();
        send(
            &ctx,
            &env.outbox(),
            SendCodeRequest { flow: flow.into(), method: method.into(), destination: destination.into() },
        )
    }

    /// The code in the newest outbox message.
    pub fn last_code(env: &TestEnv) -> String {
        let m = notify::outbox(&*env.store, 1).unwrap().remove(0).message;
        m.body.chars().filter(char::is_ascii_digit).take(6).collect()
    }

    #[test]
    fn a_matching_destination_gets_a_code_that_is_stored_only_hashed() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        let r = send_to(&env, &flow, "mobile_text", "+1 (425) 555-0112").unwrap();
        assert_eq!((r.expires_in, r.status()), (Some(300), 202));
        let out = notify::outbox(&*env.store, 5).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].message.channel, out[0].message.to.as_str()), (Channel::Sms, "+14255550112"));
        let code = last_code(&env);
        assert_eq!(code.len(), 6);
        // Nowhere in KV but the outbox does the code appear.
        for key in env.store.keys_with_prefix("").unwrap().into_iter().filter(|k| !k.starts_with("outbox")) {
            let v = String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).to_string();
            assert!(!v.contains(&code), "{key} holds the code");
        }
        let events =
            audit::list(&*env.store, &audit::Query { kind: Some("code_sent".into()), ..Default::default() }).unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].detail.to_string().contains("5550112"));
        send_to(&env, &flow, "email", " Jane.Doe@FABRIKAM.com ").unwrap();
        send_to(&env, &flow, "office_call", "14255550199").unwrap();
        assert_eq!(notify::outbox(&*env.store, 1).unwrap()[0].message.channel, Channel::Voice);
    }

    #[test]
    fn a_mismatched_destination_sends_nothing() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for (method, typed) in
            [("mobile_text", "+1 425 555 0113"), ("email", "jane@fabrikam.co"), ("office_call", "+1 425 555 0112")]
        {
            let e = send_to(&env, &flow, method, typed).unwrap_err();
            assert_eq!((e.status, e.error), (422, "destination_mismatch"), "{method}");
        }
        assert!(notify::outbox(&*env.store, 10).unwrap().is_empty());
        assert!(crate::flow::load(&env.ctx(), &flow, &[Purpose::Reset]).unwrap().0.pending.is_none());
    }

    #[test]
    fn bad_requests_and_unavailable_methods() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        assert_eq!(send_to(&env, &flow, "", "x").unwrap_err().error, "missing_field");
        assert_eq!(send_to(&env, &flow, "fax", "x").unwrap_err().status, 400);
        assert_eq!(send_to(&env, "", "email", "x").unwrap_err().error, "missing_field");
        assert_eq!(send_to(&env, &flow, "email", "").unwrap_err().error, "missing_field");
        assert_eq!(send_to(&env, &"a".repeat(32), "email", "x").unwrap_err().error, "flow_not_found");
        env.save_policy(|p| p.methods_allowed = vec![MethodId::Email, MethodId::Questions]);
        assert_eq!(send_to(&env, &flow, "mobile_text", "+14255550112").unwrap_err().error, "method_unavailable");
    }

    #[test]
    fn five_sends_per_method_per_hour() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        env.clock.set(3600 * 500_000 + 600);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for _ in 0..4 {
            send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        }
        // A mismatch uses up a send too (it is counted before the comparison).
        send_to(&env, &flow, "mobile_text", "4255550000").unwrap_err();
        let e = send_to(&env, &flow, "mobile_text", "4255550112").unwrap_err();
        assert_eq!((e.status, e.error, e.retry_after), (429, "throttled", Some(3000)));
        // Another method has its own budget.
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        assert_eq!(notify::outbox(&*env.store, 10).unwrap().len(), 5);
    }

    #[test]
    fn ten_emails_per_ten_minutes_across_flows() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        env.clock.set(600 * 3_000_001 + 100);
        for i in 0..12 {
            let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
            let r = send_to(&env, &flow, "email", "jane.doe@fabrikam.com");
            if i < 10 {
                r.unwrap();
            } else {
                let e = r.unwrap_err();
                assert_eq!((e.error, e.retry_after), ("throttled", Some(500)));
            }
        }
    }

    #[test]
    fn questions_are_drawn_not_sent() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        let r = send_to(&env, &flow, "questions", "").unwrap();
        assert_eq!(r.status(), 200);
        let qs = r.questions.unwrap();
        assert_eq!(qs.len(), 3);
        assert!(qs.iter().all(|q| !q.text.is_empty()));
        assert!(notify::outbox(&*env.store, 10).unwrap().is_empty());
        assert!(
            serde_json::to_value(SendCodeResponse { expires_in: Some(300), questions: None })
                .unwrap()
                .get("questions")
                .is_none()
        );
    }

    #[test]
    fn a_failed_delivery_is_a_502_and_audited() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        let ctx = env.ctx();
        let e = send(
            &ctx,
            &FailingNotifier,
            SendCodeRequest { flow, method: "email".into(), destination: "jane.doe@fabrikam.com".into() },
        )
        .unwrap_err();
        assert_eq!((e.status, e.error), (502, "delivery_failed"));
        assert_eq!(
            audit::list(ctx.store, &audit::Query { kind: Some("delivery_failed".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
    }
}
