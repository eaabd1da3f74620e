//! The registration proof: a `register` flow proves one new phone or email
//! through the same send-code / verify-code gate as a reset, bound to the
//! user and the session that started it, and saves the contact once verified.

use crate::domain::audit;
use crate::domain::email;
use crate::domain::mask;
use crate::domain::methods::MethodId;
use crate::domain::notify::Notifier;
use crate::domain::phone::Phone;
use crate::domain::policy::Policy;
use crate::domain::security_info::Contact;
use crate::domain::session::{self, Session};
use crate::domain::throttle;
use crate::domain::users;
use crate::errors::{ApiError, Result};
use crate::flow::gate::{self, SendCodeResponse, VerifyResponse};
use crate::flow::{self, Flow, step_up};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What a `register` flow proves (kept in the flow record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub contact: Contact,
    #[serde(default)]
    pub phone: Option<Phone>,
    #[serde(default)]
    pub email: Option<String>,
    /// The storage key of the session that started it; the flow ends with it.
    pub session_key: String,
}

impl Registration {
    /// The normalised destination codes go to.
    pub fn destination(&self) -> String {
        match (&self.phone, &self.email) {
            (Some(p), _) => p.e164(),
            (None, Some(e)) => e.clone(),
            _ => String::new(),
        }
    }

    pub fn hint(&self) -> String {
        match (&self.phone, &self.email) {
            (Some(p), _) => mask::phone(p),
            (None, Some(e)) => mask::email(e),
            _ => String::new(),
        }
    }
}

/// The flow's registration, its method, and a live session of its user.
fn flow_checks(ctx: &Ctx, flow: &Flow, method: MethodId) -> Result<(Registration, Session)> {
    let reg = flow
        .registration
        .clone()
        .ok_or_else(|| ApiError::flow_state("This registration session is incomplete; start again."))?;
    let s = session::load_by_key(ctx, &reg.session_key)?;
    if s.user_id != flow.user_id {
        return Err(session::not_signed_in());
    }
    if !flow.methods.contains(&method) {
        return Err(ApiError::method_unavailable());
    }
    Ok((reg, s))
}

/// Send-code for a register flow: the typed destination must be the one being registered.
pub fn send(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    flow: Flow,
    raw: Vec<u8>,
    method: MethodId,
    typed: &str,
) -> Result<SendCodeResponse> {
    let (reg, _) = flow_checks(ctx, &flow, method)?;
    let policy = Policy::load(ctx.store)?;
    // A registration shares the user's send budgets (no block check: the user signed in).
    let run = throttle::current_run(ctx, &flow.user_id)?;
    gate::count_send(ctx, &policy, &run, method)?;
    if typed.trim().is_empty() {
        return Err(ApiError::missing_field("destination"));
    }
    let same = match (&reg.phone, &reg.email) {
        (Some(p), _) => p.matches(typed),
        (None, Some(e)) => email::normalise(typed).as_deref() == Some(e.as_str()),
        _ => false,
    };
    if !same {
        return Err(ApiError::destination_mismatch());
    }
    let user_id = flow.user_id.clone();
    gate::deliver(ctx, notifier, &policy, flow, &raw, &user_id, method, reg.destination())
}

/// Verify-code for a register flow: on the right code the contact is saved
/// (once), provided the session may still change security info (a step-up when
/// something is registered by now); every previous contact is told. A phone
/// registered by call is proven by pressing # ([`answer_call`]); typing a
/// code for it is out of order, and not counted.
pub fn verify(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    flow: Flow,
    method: MethodId,
    code: Option<&str>,
) -> Result<VerifyResponse> {
    let typed = gate::typed_code(code)?;
    let (reg, s) = flow_checks(ctx, &flow, method)?;
    if flow.pending.as_ref().is_some_and(|p| p.method == method && p.call.is_some()) {
        return Err(ApiError::flow_state("This call is verified by pressing # on the phone; no code was sent."));
    }
    let policy = Policy::load(ctx.store)?;
    let user = users::get(ctx.store, &flow.user_id)?.ok_or_else(session::not_signed_in)?;
    step_up::require(ctx, &policy, &s, &user)?;
    let code_id = match gate::check_code(ctx, &policy, &flow, method, typed, &flow.user_id, false)? {
        Ok(code_id) => code_id,
        Err(left) => {
            failed(ctx, &flow, method)?;
            return Err(ApiError::wrong_code(left));
        }
    };
    save(ctx, notifier, &policy, &s, &flow, reg, method, &code_id)
}

/// How the "press #" call `code_id` of a register flow ended (its callback, or
/// no callback by its expiry), with the rules of a code: the session and the
/// step-up first, then the try counted (code attempts and the validate
/// throttle; as a wrong code, a failed try is no failed proof). `#` saves the
/// phone exactly as the right code does; anything else marks the call failed
/// (polling answers 410 `call_failed`). `Ok(true)` when the phone was saved.
pub fn answer_call(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    flow: Flow,
    method: MethodId,
    code_id: &str,
    end: gate::CallEnd,
) -> Result<bool> {
    let (reg, s) = flow_checks(ctx, &flow, method)?;
    flow.require_state(&[flow::FlowState::CodeSent])?;
    let policy = Policy::load(ctx.store)?;
    let user = users::get(ctx.store, &flow.user_id)?.ok_or_else(session::not_signed_in)?;
    step_up::require(ctx, &policy, &s, &user)?;
    match gate::check_call(ctx, &policy, &flow, method, code_id, &flow.user_id, false, end)? {
        Ok(code_id) => {
            save(ctx, notifier, &policy, &s, &flow, reg, method, &code_id)?;
            Ok(true)
        }
        Err(_) => {
            failed(ctx, &flow, method)?;
            gate::fail_call(ctx, &flow.id, method, code_id)?;
            Ok(false)
        }
    }
}

fn failed(ctx: &Ctx, flow: &Flow, method: MethodId) -> Result<()> {
    audit::append(
        ctx,
        "verification_failed",
        Some(&flow.user_id),
        json!({ "flow_purpose": "register", "method": method.as_str() }),
    )?;
    Ok(())
}

/// The proven contact saved: the flow consumed (exactly once, even if the
/// right code arrives twice at the same moment), the contact written inside
/// the user record's compare-and-swap (the step-up decided again there), and
/// then the consumed record shows the passed gate, for polling.
#[allow(clippy::too_many_arguments)]
fn save(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    policy: &Policy,
    s: &Session,
    flow: &Flow,
    reg: Registration,
    method: MethodId,
    code_id: &str,
) -> Result<VerifyResponse> {
    flow::consume(ctx, flow)?;
    Counter::new(ctx.store, gate::attempts_key(&flow.handle(ctx), code_id)).delete()?;
    let now = ctx.now();
    step_up::change(ctx, notifier, policy, s, &flow.user_id, reg.contact, |u| {
        let c = &mut u.contacts;
        let phone = || reg.phone.clone().unwrap_or_else(|| Phone::new("", ""));
        match reg.contact {
            Contact::AuthenticationPhone => c.authentication_phone = Some(phone()),
            Contact::OfficePhone => c.office_phone = Some(phone()),
            Contact::AlternateEmail => c.alternate_email = Some(reg.email.clone().unwrap_or_default()),
            Contact::SecurityQuestions => {}
        }
        u.registered_at = Some(now);
        Ok(())
    })?;
    let done = Flow { gates_passed: vec![method], ..flow.clone() };
    flow::record_consumed(ctx, &done)?;
    Ok(VerifyResponse { gates_passed: 1, gates_required: 1, next: flow::next_step(&done) })
}
