//! The step-up, as Entra asks for before security info changes: once a user has
//! anything registered, adding, changing or removing a method first needs a
//! fresh proof with a method they already have. A `step_up` flow offers those
//! methods (masked) to the signed-in user; they prove one through the same
//! send-code / verify-code gate as a reset (the same throttles, failed-proof
//! counting and block, every try counted before the compare). The flow is bound
//! to the session that started it, and its passed gate marks that session, and
//! no other, stepped up for [`WINDOW_SECONDS`].

use crate::domain::audit;
use crate::domain::mask;
use crate::domain::methods::MethodOption;
use crate::domain::notify::Notifier;
use crate::domain::policy::Policy;
use crate::domain::security_info::{self, Contact};
use crate::domain::session::{self, Session};
use crate::domain::throttle;
use crate::domain::users::{self, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::flow::{self, Flow, Purpose};
use crate::platform::ctx::Ctx;
use serde::Serialize;
use serde_json::json;
use std::cell::RefCell;

/// How long a step-up lets its session change security info: 10 minutes.
pub const WINDOW_SECONDS: u64 = 10 * 60;

/// `POST /api/register/verify`: the flow and the methods to prove with, as identify answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepUpStart {
    pub flow: String,
    pub purpose: Purpose,
    pub gates_required: u8,
    pub methods: Vec<MethodOption>,
    /// Seconds the flow stays valid.
    pub expires_in: u64,
    /// Seconds a passed step-up lets this session change security info.
    pub window_seconds: u64,
}

/// Starts a `step_up` flow for the user of session `s` (stored under
/// `session_key`), offering the methods they can prove with.
pub fn start(ctx: &Ctx, s: &Session, session_key: &str) -> Result<StepUpStart> {
    let policy = Policy::load(ctx.store)?;
    let user = users::get(ctx.store, &s.user_id)?.ok_or_else(session::not_signed_in)?;
    if !security_info::step_up_needed(&policy, &user) {
        return Err(ApiError::new(
            ErrorCode::MethodUnavailable,
            "Nothing is registered yet, so there is nothing to verify: set up a method directly.",
        ));
    }
    let mut methods = user.available_methods(&policy);
    // "Press #" calls need a callback address (`public_base_url`).
    if !ctx.calls_possible() {
        methods.retain(|m| m.kind() != crate::domain::methods::Kind::Voice);
    }
    if methods.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MethodUnavailable,
            "None of your registered methods can be used to verify it's you; contact your administrator.",
        ));
    }
    throttle::check_blocked(ctx, &user.id)?;
    let mut f = flow::new(ctx, Purpose::StepUp, &user.id, 1, methods.clone(), policy.flow_lifetime_seconds);
    f.session_key = Some(session_key.to_owned());
    let detail = json!({ "purpose": Purpose::StepUp.as_str() });
    audit::append_with(ctx, "flow_started", Some(&user.id), detail, vec![flow::record(ctx, &f)?])?;
    Ok(StepUpStart {
        flow: f.id,
        purpose: Purpose::StepUp,
        gates_required: 1,
        methods: methods.into_iter().map(|m| MethodOption::new(m, mask::method_hint(&user, m))).collect(),
        expires_in: policy.flow_lifetime_seconds,
        window_seconds: WINDOW_SECONDS,
    })
}

/// The live session a `step_up` flow is bound to: 401 `not_signed_in` once it
/// has ended, so the flow dies with its session (send-code and verify-code ask).
pub fn session_of(ctx: &Ctx, flow: &Flow) -> Result<Session> {
    let key = flow
        .session_key
        .as_deref()
        .ok_or_else(|| ApiError::flow_state("This verification is incomplete; start again."))?;
    let s = session::load_by_key(ctx, key)?;
    if s.user_id != flow.user_id {
        return Err(session::not_signed_in());
    }
    Ok(s)
}

/// After the gate of a `step_up` flow passed: consumes the flow (exactly once)
/// and marks its session stepped up until now + [`WINDOW_SECONDS`].
pub fn complete(ctx: &Ctx, flow: &Flow) -> Result<u64> {
    session_of(ctx, flow)?;
    flow::consume(ctx, flow)?;
    let until = ctx.now() + WINDOW_SECONDS;
    session::mark_stepped_up(ctx, flow.session_key.as_deref().unwrap_or_default(), until)?;
    let method = flow.gates_passed.last().map(|m| m.as_str()).unwrap_or_default();
    audit::append(ctx, "stepped_up", Some(&flow.user_id), json!({ "method": method, "until": until }))?;
    Ok(until)
}

/// 403 `step_up_required` when `user` has security info registered and
/// session `s` has no step-up that holds at `now`.
fn check(policy: &Policy, s: &Session, user: &User, now: u64) -> Result<()> {
    if security_info::step_up_needed(policy, user) && !s.stepped_up(now) {
        return Err(ApiError::step_up_required());
    }
    Ok(())
}

/// Whether session `s` may change `user`'s security info now (403 `step_up_required` if not).
pub fn require(ctx: &Ctx, policy: &Policy, s: &Session, user: &User) -> Result<()> {
    check(policy, s, user, ctx.now())
}

/// Whether changing security info needs a step-up this session lacks (for the status).
pub fn required(ctx: &Ctx, policy: &Policy, s: &Session, user: &User) -> bool {
    require(ctx, policy, s, user).is_err()
}

/// Changes `contact` of user `user_id` as session `s`. Decided inside the user
/// record's compare-and-swap, so a concurrent first registration cannot slip a
/// second one past the step-up: refused with 403 `step_up_required` when the
/// record as it stands needs a step-up the session lacks, or with the error
/// `change` returns. Then the change is audited (old and new masked) and every
/// contact the user had before hears of it ([`security_info::record_change`]).
pub fn change(
    ctx: &Ctx,
    notifier: &dyn Notifier,
    policy: &Policy,
    s: &Session,
    user_id: &str,
    contact: Contact,
    change: impl Fn(&mut User) -> Result<()>,
) -> Result<User> {
    let now = ctx.now();
    let outcome: RefCell<Result<User>> = RefCell::new(Err(ApiError::internal("The change was not applied.")));
    let after = users::update(ctx.store, user_id, |u| {
        let before = u.clone();
        let mut next = u.clone();
        let result = check(policy, s, &before, now).and_then(|()| change(&mut next));
        *outcome.borrow_mut() = result.map(|()| before);
        if outcome.borrow().is_ok() {
            *u = next;
        }
    })?;
    let before = outcome.into_inner()?;
    security_info::record_change(ctx, notifier, &before, &after, contact)?;
    Ok(after)
}
