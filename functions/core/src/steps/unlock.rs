//! `POST /api/unlock`: once every gate of an `unlock` flow is passed, the
//! account's lockout ends (the password stays as it is).

use crate::domain::audit;
use crate::domain::notify::Notifier;
use crate::domain::policy::Policy;
use crate::domain::templates::{self, Notice};
use crate::domain::throttle;
use crate::domain::users;
use crate::errors::{ApiError, Result};
use crate::flow::{self, FlowState, Purpose};
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UnlockRequest {
    pub flow: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnlockResponse {
    /// Always `unlocked`.
    pub status: &'static str,
}

/// `POST /api/unlock` with `{flow}`.
/// `notifier` tells the user the account was unlocked (by email, else SMS);
/// a failed notice is audited and does not undo the unlock.
pub fn unlock(ctx: &Ctx, notifier: &dyn Notifier, req: UnlockRequest) -> Result<UnlockResponse> {
    if req.flow.trim().is_empty() {
        return Err(ApiError::missing_field("flow"));
    }
    let (flow, _raw) = flow::load(ctx, req.flow.trim(), &[Purpose::Unlock])?;
    flow.require_state(&[FlowState::Verified])?;
    // The user may have changed since the gates: still there, still eligible,
    // still locked (an admin may have unlocked them), not blocked.
    let user = users::get(ctx.store, &flow.user_id)?.ok_or_else(ApiError::flow_not_found)?;
    let policy = Policy::load(ctx.store)?;
    user.self_service_allowed(&policy)?;
    if !user.is_locked(ctx.now()) {
        return Err(ApiError::not_locked());
    }
    throttle::check_blocked(ctx, &user.id)?;
    // The lockout ends in one write to the account that also finishes the
    // flow: one winner, every other try 409.
    users::unlock_by_flow(ctx, &user.id, &flow.handle(ctx).0)?;
    // With the audit event: the flow's finished record, and a new run, as a
    // reset starts (failed proofs and any block end, the user's throttle
    // windows start afresh).
    let records = vec![flow::completed_record(ctx, &flow)?, throttle::cleared_run_record(ctx, &user.id)];
    let detail = json!({ "gates": flow.gates_passed, "via": "self_service" });
    audit::append_with(ctx, "unlocked", Some(&user.id), detail, records)?;
    let notice = templates::notice_to(
        Notice::Unlocked,
        &policy.organisation_name,
        &user.username,
        user.contacts.emails().first().map(|e| e.to_string()),
        user.contacts.mobiles().first().map(|p| p.e164()),
    );
    if let Some(msg) = notice
        && let Err(e) = notifier.send(&msg)
    {
        audit::append(ctx, "notify_failed", Some(&user.id), e.audit_detail(json!({ "notice": "unlocked" })))?;
    }
    Ok(UnlockResponse { status: "unlocked" })
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Unlock,
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    route::single(method, path, "/api/unlock", "POST", Endpoint::Unlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::verified_flow;
    use crate::testing::{PASSWORD, TestEnv};
    use crate::testing::{easy_env, start};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn locked_env() -> (TestEnv, String) {
        let env = easy_env();
        let u = env.user_with_everything("jane@contoso.com");
        users::lock(&*env.store, &u.id, None).unwrap();
        (env, u.id)
    }

    #[test]
    fn the_whole_unlock_journey() {
        let (env, id) = locked_env();
        let flow = verified_flow(&env, "unlock");
        let r = unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow: flow.clone() }).unwrap();
        assert_eq!(serde_json::to_value(r).unwrap(), json!({ "status": "unlocked" }));
        let u = users::get(&*env.store, &id).unwrap().unwrap();
        assert!(!u.is_locked(0) && users::verify_password(&u, PASSWORD), "unlocked, password unchanged");
        assert_eq!(
            audit::list(&*env.store, &audit::Query { kind: Some("unlocked".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow }).unwrap_err().error(),
            "flow_state",
            "consumed"
        );
        assert_eq!(start(&env, "jane@contoso.com", "unlock").unwrap_err().error(), "not_locked");
    }

    #[test]
    fn two_gate_unlock_by_call_and_questions_keeps_answers_secret() {
        use crate::domain::questions::PREDEFINED;
        use crate::platform::store::Store;
        use crate::testing::send_to;
        use crate::testing::{VerifyRequest, verify_code as verify};
        let (env, id) = locked_env();
        env.save_policy(|p| p.gates_required = 2);
        let started = start(&env, "jane@contoso.com", "unlock").unwrap();
        assert_eq!(started.gates_required, 2);
        let flow = started.flow;
        send_to(&env, &flow, "mobile_call", "+1 425-555-0112").unwrap();
        let r = crate::testing::prove_last(&env, &flow, "mobile_call").unwrap();
        assert_eq!(r.next, "choose_method");
        assert_eq!(
            unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow: flow.clone() }).unwrap_err().error(),
            "flow_state",
            "one gate is not enough"
        );
        let qs = send_to(&env, &flow, "questions", "").unwrap().questions.unwrap();
        let answers = qs
            .iter()
            .map(|q| crate::domain::questions::Answer {
                id: q.id.clone(),
                answer: format!("answer {}", PREDEFINED.iter().position(|p| p.0 == q.id).unwrap() + 1),
            })
            .collect();
        let r = verify(
            &env.ctx(),
            VerifyRequest { flow: flow.clone(), method: "questions".into(), code: None, answers: Some(answers) },
        )
        .unwrap();
        assert_eq!((r.gates_passed, r.next), (2, "unlock"));
        unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow }).unwrap();
        assert!(!users::get(&*env.store, &id).unwrap().unwrap().is_locked(0));
        for key in env.store.keys_with_prefix("").unwrap() {
            let v = String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).to_lowercase();
            assert!(!v.contains("answer 1") && !v.contains(&PASSWORD.to_lowercase()), "{key} holds a secret");
        }
    }

    #[test]
    fn gates_first_and_only_unlock_flows() {
        let (env, _) = locked_env();
        let flow = start(&env, "jane@contoso.com", "unlock").unwrap().flow;
        assert_eq!(unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow }).unwrap_err().error(), "flow_state");
        let reset_flow = verified_flow(&env, "reset");
        let e = unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow: reset_flow }).unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"));
        assert_eq!(unlock(&env.ctx(), &env.outbox(), UnlockRequest::default()).unwrap_err().error(), "missing_field");
    }

    #[test]
    fn an_unlock_ends_the_lockout_and_starts_a_new_run() {
        use crate::testing::{last_code, send_to, try_code};
        let (env, id) = locked_env();
        let before = users::get(&*env.store, &id).unwrap().unwrap();
        let run = throttle::current_run(&env.ctx(), &id).unwrap();
        let flow = start(&env, "jane@contoso.com", "unlock").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        for _ in 0..4 {
            assert_eq!(try_code(&env, &flow, "mobile_text", "abcdef").unwrap_err().error(), "wrong_code");
        }
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        try_code(&env, &flow, "email", &last_code(&env)).unwrap();
        unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow }).unwrap();
        let after = users::get(&*env.store, &id).unwrap().unwrap();
        assert!(!after.is_locked(0) && after.locked_until.is_none());
        assert_eq!(after.lock_epoch, before.lock_epoch + 1, "a new lockout window");
        assert_ne!(throttle::current_run(&env.ctx(), &id).unwrap().subject(), run.subject(), "fresh windows");
        // Four failures before the unlock no longer count: four more do not block.
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        for _ in 0..4 {
            assert_eq!(try_code(&env, &flow, "mobile_text", "abcdef").unwrap_err().error(), "wrong_code");
        }
        start(&env, "jane@contoso.com", "reset").unwrap();
    }

    #[test]
    fn concurrent_unlocks_succeed_once() {
        let (env, _) = locked_env();
        let flow = verified_flow(&env, "unlock");
        let ok = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    if unlock(&env.ctx(), &env.outbox(), UnlockRequest { flow: flow.clone() }).is_ok() {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(ok.load(Ordering::SeqCst), 1);
    }
}
