//! `POST /api/send-code`: the user picked a method and typed its full
//! destination; if it matches the registered one, a fresh code goes out
//! (replacing any earlier one). For `questions` the questions are drawn instead.
//! A `register` flow proves its new contact through this same step; a
//! `step_up` flow goes through it exactly as a reset does, while its session lives.

use crate::domain::email;
use crate::domain::methods::MethodId;
use crate::domain::notify::Notifier;
use crate::domain::questions;
use crate::domain::throttle;
use crate::domain::users::User;
use crate::errors::{ApiError, Result};
use crate::flow::gate::{self, SendCodeResponse};
use crate::flow::{self, FlowState, Purpose, registration, step_up};
use crate::platform::ctx::Ctx;
use crate::platform::kv;
use crate::platform::route::{self, Routed};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SendCodeRequest {
    pub flow: String,
    pub method: String,
    /// The full email address or phone number; not used for `questions`.
    pub destination: String,
}

/// `POST /api/send-code`.
pub fn send(ctx: &Ctx, notifier: &dyn Notifier, req: SendCodeRequest) -> Result<SendCodeResponse> {
    let method = gate::parse_method(&req.method)?;
    let (mut flow, raw) = flow::load_any(ctx, &req.flow)?;
    match flow.purpose {
        Purpose::Register => return registration::send(ctx, notifier, flow, raw, method, &req.destination),
        // A step-up dies with its session.
        Purpose::StepUp => drop(step_up::session_of(ctx, &flow)?),
        Purpose::Reset | Purpose::Unlock => {}
    }
    flow.require_state(&[FlowState::ChooseMethod, FlowState::CodeSent, FlowState::QuestionsAsked])?;
    let (user, policy) = gate::gate_context(ctx, &flow, method)?;
    // Not blocked; the run the user's budgets count in (read once).
    let run = throttle::check_blocked(ctx, &user.id)?;
    gate::count_send(ctx, &policy, &run, method)?;

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
    // Mismatches are budgeted per flow and per user (in the user's run),
    // counted before comparing.
    let check = gate::reserve_destination_check(ctx, &flow, &run.subject())?;
    let Some(to) = matching_destination(&user, method, &req.destination) else {
        return Err(ApiError::destination_mismatch());
    };
    check.matched(ctx, &mut flow)?;
    gate::deliver(ctx, notifier, &policy, flow, &raw, &user.id, method, to)
}

/// The registered destination the typed one names, normalised for delivery
/// (lowercase email or E.164), or `None` when it matches none.
fn matching_destination(user: &User, method: MethodId, typed: &str) -> Option<String> {
    let c = &user.contacts;
    match method {
        MethodId::Email => {
            let typed = email::normalise(typed)?;
            c.emails().into_iter().filter_map(email::normalise).find(|e| *e == typed)
        }
        MethodId::MobileText | MethodId::MobileCall => {
            c.mobiles().into_iter().find(|p| p.matches(typed)).map(|p| p.e164())
        }
        MethodId::OfficeCall => c.office_phone.as_ref().filter(|p| p.matches(typed)).map(|p| p.e164()),
        MethodId::Questions => None,
    }
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Send,
    /// The dev notifier's outbox (only when `dev_mode` is on).
    DevOutbox,
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    match route::trim(path) {
        "/api/send-code" => route::pick(method, &[("POST", Endpoint::Send)]),
        "/api/dev/outbox" => route::pick(method, &[("GET", Endpoint::DevOutbox)]),
        _ => Routed::NotFound,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::audit;
    use crate::domain::notify::Channel;
    use crate::domain::notify::{self, FailingNotifier};
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::{JitterStore, TestEnv, easy_env, last_code, send_to, start};

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
            assert_eq!((e.status(), e.error()), (422, "destination_mismatch"), "{method}");
        }
        assert!(notify::outbox(&*env.store, 10).unwrap().is_empty());
        assert!(crate::flow::load(&env.ctx(), &flow, &[Purpose::Reset]).unwrap().0.pending.is_none());
    }

    #[test]
    fn bad_requests_and_unavailable_methods() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        assert_eq!(send_to(&env, &flow, "", "x").unwrap_err().error(), "missing_field");
        assert_eq!(send_to(&env, &flow, "fax", "x").unwrap_err().status(), 400);
        assert_eq!(send_to(&env, "", "email", "x").unwrap_err().error(), "missing_field");
        assert_eq!(send_to(&env, &flow, "email", "").unwrap_err().error(), "missing_field");
        assert_eq!(send_to(&env, &"a".repeat(32), "email", "x").unwrap_err().error(), "flow_not_found");
        env.save_policy(|p| p.methods_allowed = vec![MethodId::Email, MethodId::Questions]);
        assert_eq!(send_to(&env, &flow, "mobile_text", "+14255550112").unwrap_err().error(), "method_unavailable");
    }

    #[test]
    fn five_sends_per_phone_per_hour_texts_and_calls_together() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        env.clock.set(3600 * 500_000 + 600);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for method in ["mobile_text", "mobile_call", "mobile_text", "mobile_call"] {
            send_to(&env, &flow, method, "4255550112").unwrap();
        }
        // A mismatch uses up a send too (it is counted before the comparison).
        send_to(&env, &flow, "mobile_text", "4255550000").unwrap_err();
        for method in ["mobile_text", "mobile_call"] {
            let e = send_to(&env, &flow, method, "4255550112").unwrap_err();
            assert_eq!((e.status(), e.error(), e.retry_after), (429, "throttled", Some(3000)), "{method}");
        }
        // Another phone has its own budget.
        send_to(&env, &flow, "office_call", "4255550199").unwrap();
        assert_eq!(notify::outbox(&*env.store, 10).unwrap().len(), 5);
        let to_mobile =
            notify::outbox(&*env.store, 10).unwrap().iter().filter(|m| m.message.to == "+14255550112").count();
        assert_eq!(to_mobile, 4);
    }

    #[test]
    fn three_mismatches_per_flow_and_ten_per_user_an_hour() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        env.clock.set(3600 * 500_000 + 600);
        let wrong = [("mobile_text", "4255550113"), ("office_call", "4255550198"), ("email", "jane@fabrikam.com")];
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for (method, typed) in wrong {
            assert_eq!(send_to(&env, &flow, method, typed).unwrap_err().error(), "destination_mismatch");
        }
        // The flow's guesses are spent: even the right destination is refused, uncompared.
        let e = send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"));
        // A match gives its slot back: right destinations never use the budget up.
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for _ in 0..4 {
            send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        }
        for (method, typed) in wrong {
            assert_eq!(send_to(&env, &flow, method, typed).unwrap_err().error(), "destination_mismatch");
        }
        // Per user: ten an hour over every flow (six so far).
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        for (method, typed) in wrong {
            assert_eq!(send_to(&env, &flow, method, typed).unwrap_err().error(), "destination_mismatch");
        }
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        assert_eq!(send_to(&env, &flow, "email", "jane@fabrikam.co").unwrap_err().error(), "destination_mismatch");
        let e = send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (429, "throttled", Some(3000)));
        env.clock.advance(3000);
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
    }

    /// A flow of a user whose send throttles are out of the way, and 32
    /// sends on it at once (`typed(i)`: method and destination); their
    /// error codes (`ok` for a send).
    fn racing_sends(
        env: &TestEnv,
        flow: &str,
        typed: impl Fn(usize) -> (&'static str, String) + Sync,
    ) -> Vec<&'static str> {
        let jitter = JitterStore(&env.store);
        let barrier = std::sync::Barrier::new(32);
        std::thread::scope(|s| {
            let runs: Vec<_> = (0..32)
                .map(|i| {
                    let (jitter, barrier, typed) = (&jitter, &barrier, &typed);
                    s.spawn(move || {
                        barrier.wait();
                        let (method, destination) = typed(i);
                        let req = SendCodeRequest { flow: flow.into(), method: method.into(), destination };
                        send(&env.jittery_ctx(jitter), &env.outbox(), req).map_or_else(|e| e.error(), |_| "ok")
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        })
    }

    fn unthrottled_flow(env: &TestEnv) -> String {
        env.user_with_everything("jane@contoso.com");
        env.save_policy(|p| {
            p.throttles.sends_per_gate_per_hour = 1000;
            p.throttles.emails_per_10_minutes = 1000;
        });
        start(env, "jane@contoso.com", "reset").unwrap().flow
    }

    fn count(outcomes: &[&str], which: &str) -> usize {
        outcomes.iter().filter(|o| **o == which).count()
    }

    #[test]
    fn concurrent_mismatches_on_one_flow_evaluate_three() {
        let env = easy_env();
        let flow = unthrottled_flow(&env);
        let outcomes = racing_sends(&env, &flow, |i| ("mobile_text", format!("42555501{:02}", 20 + i)));
        assert_eq!((count(&outcomes, "destination_mismatch"), count(&outcomes, "throttled")), (3, 29), "{outcomes:?}");
    }

    #[test]
    fn right_destinations_among_concurrent_guesses_never_let_a_fourth_mismatch_through() {
        let env = easy_env();
        let flow = unthrottled_flow(&env);
        // Two matches first: they are not mismatches.
        for _ in 0..2 {
            send_to(&env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
        }
        let outcomes = racing_sends(&env, &flow, |i| {
            ("email", if i % 2 == 0 { "jane.doe@fabrikam.com".into() } else { format!("x{i}@fabrikam.com") })
        });
        assert!(
            outcomes.iter().all(|o| ["ok", "destination_mismatch", "throttled", "flow_state"].contains(o)),
            "{outcomes:?}"
        );
        assert!(
            count(&outcomes, "destination_mismatch") <= 3,
            "at most three guessed addresses confirmed or denied: {outcomes:?}"
        );
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
                assert_eq!((e.error(), e.retry_after), ("throttled", Some(500)));
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
        assert_eq!((e.status(), e.error()), (502, "delivery_failed"));
        assert_eq!(
            audit::list(ctx.store, &audit::Query { kind: Some("delivery_failed".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
    }

    /// A provider that answers 429, then works: our 429 with its Retry-After,
    /// the send counted, the audit naming provider, status and request id,
    /// and the same flow usable for the next send.
    #[test]
    fn a_provider_429_is_our_429_the_send_counts_and_the_flow_stays_usable() {
        use crate::domain::notify::{Message, Notifier, NotifyError};
        struct Busy;
        impl Notifier for Busy {
            fn send(&self, _: &Message) -> std::result::Result<(), NotifyError> {
                Err(NotifyError {
                    reason: "the provider answered 429".into(),
                    provider: Some("twilio"),
                    status: Some(429),
                    request_id: Some("RQ1".into()),
                    retry_after: Some(30),
                })
            }
        }
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        let ctx = env.ctx();
        let req =
            || SendCodeRequest { flow: flow.clone(), method: "mobile_text".into(), destination: "+14255550112".into() };
        let e = send(&ctx, &Busy, req()).unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (429, "throttled", Some(30)));
        let events =
            audit::list(ctx.store, &audit::Query { kind: Some("delivery_failed".into()), ..Default::default() })
                .unwrap();
        let d = &events[0].detail;
        assert_eq!(
            (d["provider"].as_str(), d["status"].as_u64(), d["request_id"].as_str()),
            (Some("twilio"), Some(429), Some("RQ1"))
        );
        // Four more sends fit the hour's five: the failed one counted.
        for _ in 0..4 {
            send(&ctx, &env.outbox(), req()).unwrap();
        }
        assert_eq!(send(&ctx, &env.outbox(), req()).unwrap_err().error(), "throttled");
    }
}
