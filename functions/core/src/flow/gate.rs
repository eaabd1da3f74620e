//! The gate every journey shares: a code sent to a method and checked, or a
//! question draw answered, moving a flow's state. Reset, unlock and the
//! registration proof call these; the steps only decide which applies.

use crate::domain::audit;
use crate::domain::code;
use crate::domain::mask;
use crate::domain::methods::{Kind, MethodId};
use crate::domain::notify::{Channel, Message, Notifier, NotifyError};
use crate::domain::policy::Policy;
use crate::domain::questions::Question;
use crate::domain::templates;
use crate::domain::throttle;
use crate::domain::users::{self, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::flow::{self, Flow, FlowState, PendingCode, voice};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use crate::platform::kv;
use serde::Serialize;
use serde_json::json;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyResponse {
    pub gates_passed: u8,
    pub gates_required: u8,
    /// `choose_method` (another gate is needed), `set_password` or `unlock`.
    pub next: &'static str,
}

/// The tries counter of one code of a flow (under the flow's handle, never its id).
pub fn attempts_key(flow: &keys::FlowHandle, code_id: &str) -> String {
    keys::code_attempts(flow, code_id)
}

pub fn parse_method(method: &str) -> Result<MethodId> {
    if method.trim().is_empty() {
        return Err(ApiError::missing_field("method"));
    }
    MethodId::parse(method.trim()).ok_or_else(|| ApiError::bad_request(format!("Unknown method `{}`.", method.trim())))
}

/// The user and the policy, after the checks every reset/unlock gate step
/// shares on the loaded flow: still choosing gates, a method offered and not
/// yet used (nor its factor). Whether resets are blocked is the caller's next
/// check ([`throttle::check_blocked`], which hands back the run its counting needs).
pub fn gate_context(ctx: &Ctx, flow: &Flow, method: MethodId) -> Result<(User, Policy)> {
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
    if method.kind() == Kind::Voice && !ctx.calls_possible() {
        return Err(voice::calls_unavailable());
    }
    if !flow.methods.contains(&method) || !user.available_methods(&policy).contains(&method) {
        return Err(ApiError::method_unavailable());
    }
    Ok((user, policy))
}

/// Counts one send for the method of the user of `run`. Counted before the
/// destination is compared, so mismatches cannot probe numbers endlessly.
/// Email has its own budget (10 per 10 minutes, per user); phones and question
/// draws get 5 per factor per hour (texts and calls to the mobile phone
/// together), as in Entra. Registration sends share these budgets. They count
/// in the user's run, so a successful reset or unlock starts them afresh.
pub fn count_send(ctx: &Ctx, policy: &Policy, run: &throttle::Run, method: MethodId) -> Result<()> {
    let t = &policy.throttles;
    if method == MethodId::Email {
        throttle::hit(ctx, "email", &run.subject(), t.emails_per_10_minutes, throttle::EMAIL_WINDOW)
    } else {
        let subject = run.factor_subject(method);
        throttle::hit(ctx, "send", &subject, t.sends_per_gate_per_hour, throttle::FACTOR_WINDOW)
    }
}

/// Mismatched destinations a flow may type at send-code.
pub const MISMATCHES_PER_FLOW: i64 = 3;
/// Mismatched destinations a user's flows may type per hour, together.
pub const MISMATCHES_PER_USER_PER_HOUR: u32 = 10;

/// Slots taken before a typed destination is compared with the registered
/// ones (see [`reserve_destination_check`]).
#[must_use = "give the slots back when the destination matched"]
pub struct DestinationCheck {
    user: throttle::Reserved,
}

impl DestinationCheck {
    /// The destination matched: only mismatches use the budgets up. The
    /// user's slot is given back; the flow's match is counted in the flow
    /// record by the save that follows (`Flow::destinations_matched`).
    pub fn matched(self, ctx: &Ctx, flow: &mut Flow) -> Result<()> {
        flow.destinations_matched += 1;
        self.user.refund(ctx)
    }
}

/// Takes a mismatch slot of the flow (3 per flow) and of the user (10 an hour)
/// *before* a typed destination is compared, so however many guesses arrive at
/// once, send-code confirms or denies only a few guessed numbers; past either
/// budget every send of the flow (or the user) answers 429, even a right one.
///
/// The flow's counter counts every check and is never given back: the
/// matches recorded in the flow (as loaded, before this count) are taken off
/// it. A match recorded later only makes the check stricter, so the last
/// mismatch compared saw every earlier one, matched or not, counted.
pub fn reserve_destination_check(ctx: &Ctx, flow: &Flow, user_id: &str) -> Result<DestinationCheck> {
    let checks = Counter::new(ctx.store, keys::destination_mismatches(&flow.handle(ctx))).add(1)?;
    if checks - flow.destinations_matched > MISMATCHES_PER_FLOW {
        let left = flow.expires_at.saturating_sub(ctx.now()).max(1);
        return Err(ApiError::throttled(left));
    }
    let user = throttle::reserve(ctx, "mismatch", user_id, MISMATCHES_PER_USER_PER_HOUR, 3600)?;
    Ok(DestinationCheck { user })
}

/// The code message for `method` ([`templates`]: the organisation's name,
/// the lifetime and, by SMS, the origin-bound line for the public host).
fn message(ctx: &Ctx, policy: &Policy, method: MethodId, to: String, code: &str) -> Message {
    let channel = Channel::for_kind(method.kind()).unwrap_or(Channel::Sms);
    let host = templates::origin_host(&ctx.public_base_url);
    let minutes = policy.code_lifetime_seconds.div_ceil(60);
    templates::code_message(channel, to, &policy.organisation_name, code, minutes, host.as_deref())
}

/// Makes a fresh code for `method` (replacing any earlier one), stores only
/// its keyed hash in the flow, and sends it to `to` (normalised destination).
/// A call method, whatever the flow's purpose, places a "press #" call
/// instead ([`voice::prepare`]): no code, a callback token.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    policy: &Policy,
    mut flow: Flow,
    raw: &[u8],
    user_id: &str,
    method: MethodId,
    to: String,
) -> Result<SendCodeResponse> {
    let hint = if method == MethodId::Email {
        mask::email(&to)
    } else {
        format!("+•••{}", &to[to.len().saturating_sub(2)..])
    };
    // A call says "press #"; it never reads out a code.
    if method.kind() == Kind::Voice {
        let (pending, call) = voice::prepare(ctx, &flow, method, &to, policy.code_lifetime_seconds)?;
        flow.pending = Some(pending);
        flow.questions.clear();
        flow.state = FlowState::CodeSent;
        flow::save(ctx, &flow, raw)?;
        if let Err(e) = voice::place(notifier, &call) {
            return Err(delivery_failed(ctx, user_id, method, &hint, &e)?);
        }
        audit::append(
            ctx,
            "call_placed",
            Some(user_id),
            json!({ "flow_purpose": flow.purpose.as_str(), "method": method.as_str(), "to": hint }),
        )?;
        return Ok(SendCodeResponse { expires_in: Some(policy.code_lifetime_seconds), questions: None });
    }
    let plain = code::generate(ctx.random);
    let code_id = kv::random_hex(ctx.random, 8);
    flow.pending = Some(PendingCode {
        method,
        hash: code::hash(&ctx.secrets.code_key, &flow.id, &code_id, &plain),
        code_id,
        expires_at: ctx.now() + policy.code_lifetime_seconds,
        destination: to.clone(),
        call: None,
    });
    flow.questions.clear();
    flow.state = FlowState::CodeSent;
    flow::save(ctx, &flow, raw)?;

    let msg = message(ctx, policy, method, to, &plain);
    if let Err(e) = notifier.send(&msg) {
        return Err(delivery_failed(ctx, user_id, method, &hint, &e)?);
    }
    audit::append(
        ctx,
        "code_sent",
        Some(user_id),
        json!({ "flow_purpose": flow.purpose.as_str(), "method": method.as_str(), "to": hint }),
    )?;
    Ok(SendCodeResponse { expires_in: Some(policy.code_lifetime_seconds), questions: None })
}

/// Audits a failed hand-over (provider, its HTTP status and request id;
/// never the message or a credential) and makes the answer: the provider's
/// 429 as ours with its `Retry-After`, anything else 502 `delivery_failed`.
/// The send was already counted, and the flow stays as it was for another try.
fn delivery_failed(ctx: &Ctx, user_id: &str, method: MethodId, hint: &str, e: &NotifyError) -> Result<ApiError> {
    let detail = e.audit_detail(json!({ "method": method.as_str(), "to": hint }));
    audit::append(ctx, "delivery_failed", Some(user_id), detail)?;
    if let Some(seconds) = e.retry_after {
        let mut throttled = ApiError::throttled(seconds);
        throttled.message =
            "The message service is busy. Please wait before trying again, or choose another option.".into();
        return Ok(throttled);
    }
    Ok(ApiError::delivery_failed("The code could not be sent. Please try another method, or try again later."))
}

/// The typed code, trimmed: missing → 400 `missing_field`, absurdly long → 400.
pub fn typed_code(code: Option<&str>) -> Result<&str> {
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
/// validations are throttled per factor (a text and a call to one phone share
/// them). With `check_block` (reset, unlock) resets may be blocked, and a
/// failed-proof slot of the user is taken before comparing
/// ([`throttle::reserve_proof`]): given back on a match, kept on a miss, so at
/// most `failed_proofs_per_day` wrong proofs are ever evaluated, whatever runs
/// at once. `Ok(Ok(code_id))` on a match, `Ok(Err(attempts_left))` on a miss.
pub fn check_code(
    ctx: &Ctx,
    policy: &Policy,
    flow: &Flow,
    method: MethodId,
    typed: &str,
    user_id: &str,
    check_block: bool,
) -> Result<std::result::Result<String, u32>> {
    check_proof(ctx, policy, flow, method, user_id, check_block, |pending| {
        pending.call.is_none() && code::matches(&ctx.secrets.code_key, &flow.id, &pending.code_id, typed, &pending.hash)
    })
}

/// [`check_code`]'s rules for any proof of the pending entry: `proven` is
/// evaluated only after the try was counted and a failed-proof slot taken.
/// A "press #" callback goes through here with "was the key #?".
pub fn check_proof(
    ctx: &Ctx,
    policy: &Policy,
    flow: &Flow,
    method: MethodId,
    user_id: &str,
    check_block: bool,
    proven: impl FnOnce(&PendingCode) -> bool,
) -> Result<std::result::Result<String, u32>> {
    let Some(pending) = flow.pending.as_ref().filter(|p| p.method == method) else {
        return Err(ApiError::flow_state("No code was sent for this option; request one first."));
    };
    if ctx.now() >= pending.expires_at {
        return Err(ApiError::code_expired());
    }
    judge(ctx, policy, flow, pending, method, user_id, check_block, proven)
}

/// How a "press #" call ended: the key its callback reported (`hash`: it was
/// `#`; another key, or none for a hang-up), or no callback by the call's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    Keys { hash: bool },
    NoAnswer,
}

/// The try of the call `code_id` of `method`, with [`check_code`]'s rules.
/// A key reported in time is decided by "was it `#`?"; a call that got no
/// callback by its expiry ([`CallEnd::NoAnswer`], claimed once by the caller)
/// is a failed try, counted as a wrong code is (the try, the validate
/// throttle, a failed-proof slot kept), past the expiry a code check stops at.
#[allow(clippy::too_many_arguments)]
pub fn check_call(
    ctx: &Ctx,
    policy: &Policy,
    flow: &Flow,
    method: MethodId,
    code_id: &str,
    user_id: &str,
    check_block: bool,
    end: CallEnd,
) -> Result<std::result::Result<String, u32>> {
    match end {
        CallEnd::Keys { hash } => check_proof(ctx, policy, flow, method, user_id, check_block, |pending| {
            pending.code_id == code_id && pending.call.is_some() && hash
        }),
        CallEnd::NoAnswer => {
            let call = flow.pending.as_ref().filter(|p| p.method == method && p.code_id == code_id && p.call.is_some());
            let Some(pending) = call else {
                return Err(ApiError::flow_state("This call was replaced by a newer one."));
            };
            judge(ctx, policy, flow, pending, method, user_id, check_block, |_| false)
        }
    }
}

/// The counting half of [`check_proof`]: the try, the block, the validate
/// throttle and the failed-proof slot, all before `proven` is evaluated.
#[allow(clippy::too_many_arguments)]
fn judge(
    ctx: &Ctx,
    policy: &Policy,
    flow: &Flow,
    pending: &PendingCode,
    method: MethodId,
    user_id: &str,
    check_block: bool,
    proven: impl FnOnce(&PendingCode) -> bool,
) -> Result<std::result::Result<String, u32>> {
    let limit = policy.throttles.code_attempts as i64;
    let n = Counter::new(ctx.store, attempts_key(&flow.handle(ctx), &pending.code_id)).add(1)?;
    if n > limit {
        return Err(ApiError::code_burned());
    }
    // The user's run, read once: the block check, the validate window, the proof slot.
    let run = if check_block { throttle::check_blocked(ctx, user_id)? } else { throttle::current_run(ctx, user_id)? };
    throttle::hit(
        ctx,
        "validate",
        &run.factor_subject(method),
        policy.throttles.validations_per_gate_per_hour,
        throttle::FACTOR_WINDOW,
    )?;
    let slot = if check_block { Some(throttle::reserve_proof(ctx, policy, &run)?) } else { None };
    if proven(pending) {
        if let Some(slot) = slot {
            slot.refund(ctx)?;
        }
        Ok(Ok(pending.code_id.clone()))
    } else {
        if let Some(slot) = slot {
            slot.failed(ctx, policy)?;
        }
        Ok(Err((limit - n) as u32))
    }
}

/// Marks the call of `method` failed (polling then answers 410), if the flow
/// still holds that call (`code_id`); retried on a CAS race.
pub fn fail_call(ctx: &Ctx, flow_id: &str, method: MethodId, code_id: &str) -> Result<()> {
    for _ in 0..8 {
        let (mut flow, raw) = flow::load(ctx, flow_id, &flow::Purpose::ALL)?;
        let Some(pending) = flow.pending.as_mut().filter(|p| p.method == method && p.code_id == code_id) else {
            return Ok(());
        };
        pending.call = Some(voice::CallStatus::Failed);
        match flow::save(ctx, &flow, &raw) {
            Ok(_) => return Ok(()),
            Err(e) if e.code == ErrorCode::FlowState => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::flow_state("This session is busy; please try again."))
}

/// Marks `method` passed, provided the flow still holds the same pending
/// code or question draw (`token`) the caller evaluated; retried on a CAS race.
pub fn pass_gate(ctx: &Ctx, flow_id: &str, method: MethodId, token: &str) -> Result<Flow> {
    for _ in 0..8 {
        let purposes = [flow::Purpose::Reset, flow::Purpose::Unlock, flow::Purpose::StepUp];
        let (mut flow, raw) = flow::load(ctx, flow_id, &purposes)?;
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
            Err(e) if e.code == ErrorCode::FlowState => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::flow_state("This session is busy; please try again."))
}
