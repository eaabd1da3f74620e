//! `POST /api/set-password`, reset branch: once every gate is passed, the new
//! password is checked against the policy, the flow is consumed exactly once,
//! and the account gets the new Argon2id hash with its lockout cleared.

use crate::domain::audit;
use crate::domain::notify::{Channel, Message, Notifier};
use crate::domain::password_policy;
use crate::domain::policy::Policy;
use crate::domain::templates::{self, Notice};
use crate::domain::throttle;
use crate::domain::users::{self, User};
use crate::errors::{ApiError, Result};
use crate::flow::{self, FlowState, Purpose};
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResetRequest {
    pub flow: String,
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResetResponse {
    /// Always `password_reset`.
    pub status: &'static str,
}

/// Tells the user (and, by policy, the admins about an admin) that the password
/// was reset. A delivery failure does not undo the reset; it is audited.
fn notify_reset(ctx: &Ctx, notifier: &dyn Notifier, policy: &Policy, user: &User) -> Result<()> {
    let mut messages = Vec::new();
    let org = &policy.organisation_name;
    if policy.notify_user_on_reset {
        messages.extend(templates::notice_to(
            Notice::PasswordReset,
            org,
            &user.username,
            user.contacts.emails().first().map(|e| e.to_string()),
            user.contacts.mobiles().first().map(|p| p.e164()),
        ));
    }
    if user.is_admin() && policy.notify_admins_on_admin_reset {
        let (subject, body) = templates::notice(Notice::AdminReset, org, &user.username);
        for email in users::admin_emails(ctx.store, Some(&user.id), users::MAX_ADMIN_RECIPIENTS)? {
            messages.push(Message { channel: Channel::Email, to: email, subject: subject.clone(), body: body.clone() });
        }
    }
    for m in &messages {
        if let Err(e) = notifier.send(m) {
            audit::append(ctx, "notify_failed", Some(&user.id), e.audit_detail(json!({ "channel": m.channel })))?;
        }
    }
    Ok(())
}

/// `POST /api/set-password` with `{flow, new_password}`.
pub fn reset(ctx: &Ctx, notifier: &dyn Notifier, req: ResetRequest) -> Result<ResetResponse> {
    if req.flow.trim().is_empty() {
        return Err(ApiError::missing_field("flow"));
    }
    if req.new_password.is_empty() {
        return Err(ApiError::missing_field("new_password"));
    }
    let (flow, _raw) = flow::load(ctx, req.flow.trim(), &[Purpose::Reset])?;
    flow.require_state(&[FlowState::Verified])?;
    // The user may have changed since the gates: still there, still eligible, not blocked.
    let user = users::get(ctx.store, &flow.user_id)?.ok_or_else(ApiError::flow_not_found)?;
    let policy = Policy::load(ctx.store)?;
    user.self_service_allowed(&policy)?;
    throttle::check_blocked(ctx, &user.id)?;
    // A policy failure leaves the flow usable for another try.
    password_policy::enforce(&policy, &user, &req.new_password)?;

    // Whoever held a session with the old password is signed out, first: a
    // failure after the password changed cannot leave their sessions alive.
    crate::domain::session::end_all(ctx, &user.id)?;
    // The new password and the lockout ended, in one write to the account
    // that also finishes the flow: one winner, every other try 409.
    let updated = users::reset_password(ctx, &user.id, &flow.handle(ctx).0, &req.new_password)?;
    // With the audit event: the flow's finished record, and a new run (failed
    // proofs and any block end, the user's send, email, validation and
    // mismatch windows start afresh; nothing deleted).
    let records = vec![flow::completed_record(ctx, &flow)?, throttle::cleared_run_record(ctx, &user.id)];
    let detail = json!({ "gates": flow.gates_passed, "was_locked": user.is_locked(ctx.now()) });
    audit::append_with(ctx, "password_reset", Some(&user.id), detail, records)?;
    notify_reset(ctx, notifier, &policy, &updated)?;
    Ok(ResetResponse { status: "password_reset" })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::methods::MethodId;
    use crate::domain::notify;
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::{PASSWORD, TestEnv};
    use crate::testing::{VerifyRequest, verify_code as verify};
    use crate::testing::{easy_env, last_code, send_to, start, try_code, verified_flow};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn reset_with(env: &TestEnv, flow: &str, pw: &str) -> Result<ResetResponse> {
        reset(&env.ctx(), &env.outbox(), ResetRequest { flow: flow.into(), new_password: pw.into() })
    }

    #[test]
    fn the_whole_reset_journey() {
        let env = easy_env();
        let u = env.user_with_everything("jane@contoso.com");
        users::lock(&*env.store, &u.id, None).unwrap();
        let flow = verified_flow(&env, "reset");
        let r = reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        assert_eq!(serde_json::to_value(r).unwrap(), json!({ "status": "password_reset" }));
        let after = users::get(&*env.store, &u.id).unwrap().unwrap();
        assert!(users::verify_password(&after, "violet kestrel harbour"));
        assert!(!users::verify_password(&after, PASSWORD));
        assert!(!after.is_locked(crate::platform::clock::Clock::now(&*env.clock)), "a reset also clears a lockout");
        let notice = notify::outbox(&*env.store, 1).unwrap().remove(0).message;
        assert_eq!((notice.channel, notice.subject.as_str()), (Channel::Email, "Your password was reset"));
        let events =
            audit::list(&*env.store, &audit::Query { kind: Some("password_reset".into()), ..Default::default() })
                .unwrap();
        assert_eq!(events.len(), 1);
        assert!(!events[0].detail.to_string().contains("kestrel"));
        assert_eq!(reset_with(&env, &flow, "another fine password").unwrap_err().error(), "flow_state", "consumed");
        // The new password is nowhere in KV.
        for key in env.store.keys_with_prefix("").unwrap() {
            assert!(!String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).contains("kestrel"), "{key}");
        }
    }

    #[test]
    fn gates_must_be_passed_first() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        let e = reset_with(&env, &flow, "violet kestrel harbour").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"));
        assert_eq!(reset_with(&env, "", "x").unwrap_err().error(), "missing_field");
        assert_eq!(reset_with(&env, &flow, "").unwrap_err().error(), "missing_field");
    }

    #[test]
    fn an_unlock_flow_cannot_reset() {
        let env = easy_env();
        let u = env.user_with_everything("jane@contoso.com");
        users::lock(&*env.store, &u.id, None).unwrap();
        let flow = verified_flow(&env, "unlock");
        assert_eq!(reset_with(&env, &flow, "violet kestrel harbour").unwrap_err().error(), "flow_state");
    }

    #[test]
    fn policy_violations_are_all_listed_and_leave_the_flow_usable() {
        let env = easy_env();
        env.save_policy(|p| p.password.banned_terms = vec!["contoso".into()]);
        env.user_with_everything("jane@contoso.com");
        let flow = verified_flow(&env, "reset");
        let e = reset_with(&env, &flow, "Jane").unwrap_err();
        assert_eq!((e.status(), e.error()), (422, "password_policy"));
        let rules: Vec<String> = e.details.as_ref().unwrap()["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["rule"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(rules, vec!["too_short", "contains_username", "contains_display_name"]);
        let body = e.body();
        assert!(body["violations"][0]["message"].as_str().unwrap().contains("8"));
        assert_eq!(
            reset_with(&env, &flow, "password123").unwrap_err().details.unwrap()["violations"][0]["rule"],
            "common_password"
        );
        assert_eq!(
            reset_with(&env, &flow, "we-love-c0nt0s0").unwrap_err().details.unwrap()["violations"][0]["rule"],
            "banned_term"
        );
        assert_eq!(
            reset_with(&env, &flow, PASSWORD).unwrap_err().details.unwrap()["violations"][0]["rule"],
            "same_as_current"
        );
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
    }

    #[test]
    fn ten_concurrent_resets_one_success() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = verified_flow(&env, "reset");
        let (ok, conflict) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for i in 0..10 {
                let (env, flow, ok, conflict) = (&env, &flow, &ok, &conflict);
                s.spawn(move || match reset_with(env, flow, &format!("violet kestrel harbour {i}")) {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) if e.status() == 409 && e.error() == "flow_state" => conflict.fetch_add(1, Ordering::SeqCst),
                    Err(e) => panic!("{e}"),
                });
            }
        });
        assert_eq!((ok.load(Ordering::SeqCst), conflict.load(Ordering::SeqCst)), (1, 9));
        assert_eq!(
            audit::list(&*env.store, &audit::Query { kind: Some("password_reset".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn an_expired_flow_is_410() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = verified_flow(&env, "reset");
        env.clock.advance(15 * 60);
        let e = reset_with(&env, &flow, "violet kestrel harbour").unwrap_err();
        assert_eq!((e.status(), e.error()), (410, "flow_expired"));
    }

    #[test]
    fn a_reset_ends_every_session_of_the_user() {
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        let before = crate::domain::session::create(&env.ctx(), &jane.id).unwrap();
        let flow = verified_flow(&env, "reset");
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        let e = crate::domain::session::load(&env.ctx(), Some(&before.id)).unwrap_err();
        assert_eq!(e.error(), "not_signed_in");
    }

    #[test]
    fn a_successful_reset_clears_failed_proofs() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        for _ in 0..4 {
            let _ = try_code(&env, &flow, "mobile_text", "abcdef");
        }
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        try_code(&env, &flow, "email", &last_code(&env)).unwrap();
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        // Four failures before the reset no longer count: four more do not block.
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        for _ in 0..4 {
            let _ = try_code(&env, &flow, "mobile_text", "abcdef");
        }
        start(&env, "jane@contoso.com", "reset").unwrap();
    }

    fn throttled<T>(r: Result<T>) -> bool {
        r.is_err_and(|e| e.status() == 429 && e.error() == "throttled")
    }

    #[test]
    fn a_reset_gives_fresh_send_validation_and_email_budgets() {
        let env = easy_env();
        env.save_policy(|p| {
            p.throttles.emails_per_10_minutes = 2;
            p.throttles.sends_per_gate_per_hour = 1;
            p.throttles.validations_per_gate_per_hour = 1;
        });
        env.user_with_everything("jane@contoso.com");
        // Every budget used up: a text (send), a wrong code (validation), two emails.
        let used = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &used, "mobile_text", "4255550112").unwrap();
        assert_eq!(try_code(&env, &used, "mobile_text", "abcdef").unwrap_err().error(), "wrong_code");
        assert!(throttled(try_code(&env, &used, "mobile_text", "abcdef")), "validations");
        assert!(throttled(send_to(&env, &used, "mobile_call", "4255550112")), "sends (text and call: one factor)");
        send_to(&env, &used, "email", "jane.doe@fabrikam.com").unwrap();
        let flow = verified_flow(&env, "reset");
        assert!(throttled(send_to(&env, &used, "email", "jane.doe@fabrikam.com")), "emails");
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        // The same hour, a new run: every budget is whole again.
        let fresh = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &fresh, "mobile_text", "4255550112").unwrap();
        assert_eq!(try_code(&env, &fresh, "mobile_text", "abcdef").unwrap_err().error(), "wrong_code");
        send_to(&env, &fresh, "email", "jane.doe@fabrikam.com").unwrap();
        send_to(&env, &fresh, "email", "jane.doe@fabrikam.com").unwrap();
        assert!(throttled(send_to(&env, &fresh, "email", "jane.doe@fabrikam.com")), "and as small as before");
        try_code(&env, &fresh, "email", &last_code(&env)).unwrap();
    }

    #[test]
    fn a_reset_gives_a_fresh_budget_of_mismatched_destinations() {
        let env = easy_env();
        env.save_policy(|p| {
            p.throttles.sends_per_gate_per_hour = 1000;
            p.throttles.identify_per_minute = 1000;
        });
        env.user_with_everything("jane@contoso.com");
        let flow = verified_flow(&env, "reset");
        // Ten wrong numbers over four flows (three a flow) use the user's hour up.
        for _ in 0..4 {
            let guesses = start(&env, "jane@contoso.com", "reset").unwrap().flow;
            for _ in 0..3 {
                let _ = send_to(&env, &guesses, "mobile_text", "4255550000");
            }
        }
        let other = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        assert!(throttled(send_to(&env, &other, "mobile_text", "4255550112")), "even the right number");
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        let other = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &other, "mobile_text", "4255550112").unwrap();
    }

    /// The sweep forgets a user's run only once no window of it is live
    /// (`throttle::USER_THROTTLES`): every window the steps count for a user
    /// must be one it reads.
    #[test]
    fn every_window_the_steps_count_for_a_user_is_one_the_sweep_reads() {
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        assert_eq!(send_to(&env, &flow, "mobile_text", "4255550000").unwrap_err().error(), "destination_mismatch");
        send_to(&env, &flow, "questions", "").unwrap();
        let wrong = vec![crate::domain::questions::Answer { id: "x".into(), answer: "y".into() }];
        let req = VerifyRequest { flow: flow.clone(), method: "questions".into(), code: None, answers: Some(wrong) };
        assert!(verify(&env.ctx(), req).is_err());
        send_to(&env, &flow, "office_call", "4255550199").unwrap();
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        assert!(try_code(&env, &flow, "mobile_text", "abcdef").is_err());
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        try_code(&env, &flow, "email", &last_code(&env)).unwrap();
        let run = throttle::current_run(&env.ctx(), &jane.id).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for key in env.store.keys_with_prefix("throttle:").unwrap().into_iter().filter(|k| k.contains(&jane.id)) {
            let rest = key.strip_prefix("throttle:").unwrap();
            let (name, rest) = rest.split_once(':').unwrap();
            let mut right = rest.rsplitn(3, ':');
            let (_index, window, subject) = (right.next(), right.next().unwrap(), right.next().unwrap());
            let per_factor = subject != run.subject();
            if per_factor {
                assert!(MethodId::ALL.iter().any(|m| run.factor_subject(*m) == subject), "{key}");
            }
            let known = throttle::USER_THROTTLES
                .iter()
                .any(|t| (t.0, t.1.to_string().as_str(), t.2) == (name, window, per_factor));
            assert!(known, "{key} is not in USER_THROTTLES");
            seen.insert(name.to_owned());
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["email", "mismatch", "send", "validate"]);
    }

    #[test]
    fn admins_resets_can_notify_other_admins() {
        let env = easy_env();
        env.save_policy(|p| p.notify_admins_on_admin_reset = true);
        let ctx = env.ctx();
        let mk = |name: &str, email: &str| {
            let mut n = users::NewUser {
                username: name.into(),
                password: "Pw-0123456789".into(),
                role: users::Role::Admin,
                ..Default::default()
            };
            n.contacts.alternate_email = Some(email.into());
            n.contacts.mobile_phone = Some(crate::domain::phone::Phone::new("1", "4255550100"));
            users::create(&ctx, n).unwrap()
        };
        mk("root", "root@fabrikam.com");
        mk("other", "other@fabrikam.com");
        let flow = start(&env, "root", "reset").unwrap().flow;
        assert_eq!(start(&env, "root", "reset").unwrap().gates_required, 2);
        for (m, dest) in [("email", "root@fabrikam.com"), ("mobile_text", "4255550100")] {
            send_to(&env, &flow, m, dest).unwrap();
            let code = last_code(&env);
            verify(&ctx, VerifyRequest { flow: flow.clone(), method: m.into(), code: Some(code), answers: None })
                .unwrap();
        }
        reset_with(&env, &flow, "violet kestrel harbour").unwrap();
        let out = notify::outbox(&*env.store, 2).unwrap();
        let tos: Vec<&str> = out.iter().map(|e| e.message.to.as_str()).collect();
        assert!(tos.contains(&"other@fabrikam.com") && tos.contains(&"root@fabrikam.com"), "{tos:?}");
    }
}
