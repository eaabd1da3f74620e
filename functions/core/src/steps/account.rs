//! `POST /api/signin` and the one password check that sign-in and the
//! change-password step share ([`check_credentials`]): smart lockout counted
//! atomically per user, and the same answer (and work) for an unknown user as
//! for a wrong password.

use crate::domain::audit;
use crate::domain::credentials::check_credentials;
use crate::domain::policy::Policy;
use crate::domain::security_info::{self, reconfirm_due};
use crate::domain::session;
use crate::domain::users;
use crate::errors::Result;
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SigninRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedInUser {
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SigninResponse {
    /// Always `signed_in`.
    pub status: &'static str,
    pub user: SignedInUser,
    /// Send back in the `x-csrf-token` header on every write to `/api/register`.
    pub csrf_token: String,
    /// Seconds the session lasts.
    pub expires_in: u64,
    /// The policy requires registration and this user's methods fall short.
    pub registration_required: bool,
    /// The registration is older than the policy's reconfirm period.
    pub reconfirm_registration: bool,
}

/// A successful sign-in: the response body and the cookie's session id.
#[derive(Debug)]
pub struct SignedIn {
    pub response: SigninResponse,
    pub session_id: String,
}

/// `POST /api/signin`.
pub fn signin(ctx: &Ctx, req: SigninRequest) -> Result<SignedIn> {
    let policy = Policy::load(ctx.store)?;
    let user = check_credentials(ctx, &policy, &req.username, &req.password)?;
    let (issued, record) = session::create_record(ctx, &user.id)?;
    let reconfirm = reconfirm_due(&policy, &user, ctx.now());
    let complete = security_info::is_complete(&policy, &user);
    // The session is written with its audit event, in one `set-many`.
    let detail = json!({ "reconfirm_registration": reconfirm });
    audit::append_with(ctx, "signed_in", Some(&user.id), detail, vec![record])?;
    Ok(SignedIn {
        response: SigninResponse {
            status: "signed_in",
            user: SignedInUser { username: user.username.clone(), display_name: user.display_name.clone() },
            csrf_token: issued.csrf_token,
            expires_in: session::LIFETIME_SECONDS,
            registration_required: policy.require_registration_at_signin && !complete,
            reconfirm_registration: reconfirm,
        },
        session_id: issued.id,
    })
}

/// `POST /api/signout`: ends the session named by the cookie, if any.
pub fn signout(ctx: &Ctx, session_id: Option<&str>) -> Result<()> {
    if let Some(id) = session_id {
        if let Ok(s) = session::load(ctx, Some(id)) {
            audit::append(ctx, "signed_out", Some(&s.user_id), json!({}))?;
        }
        session::end(ctx, id)?;
    }
    Ok(())
}

/// `GET /api/session`: who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoAmI {
    pub user: SignedInUser,
    pub expires_in: u64,
    pub csrf_token: String,
}

pub fn whoami(ctx: &Ctx, session_id: Option<&str>) -> Result<WhoAmI> {
    let s = session::load(ctx, session_id)?;
    let user = users::get(ctx.store, &s.user_id)?.ok_or_else(session::not_signed_in)?;
    Ok(WhoAmI {
        user: SignedInUser { username: user.username, display_name: user.display_name },
        expires_in: s.expires_at.saturating_sub(ctx.now()),
        csrf_token: session::csrf_token(ctx, session_id.unwrap_or_default()),
    })
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    SignIn,
    SignOut,
    Session,
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    match route::trim(path) {
        "/api/signin" => route::pick(method, &[("POST", Endpoint::SignIn)]),
        "/api/signout" => route::pick(method, &[("POST", Endpoint::SignOut)]),
        "/api/session" => route::pick(method, &[("GET", Endpoint::Session)]),
        _ => Routed::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::credentials::failures;
    use crate::domain::hashing;
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::{PASSWORD, TestEnv};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn sign(env: &TestEnv, username: &str, password: &str) -> Result<SignedIn> {
        signin(&env.ctx(), SigninRequest { username: username.into(), password: password.into() })
    }

    #[test]
    fn the_right_password_gets_a_session() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        let s = sign(&env, " JANE@contoso.com", PASSWORD).unwrap();
        assert_eq!(s.session_id.len(), 32);
        assert_eq!(s.response.user.username, "jane@contoso.com");
        assert!(!s.response.registration_required && !s.response.reconfirm_registration);
        let me = whoami(&env.ctx(), Some(&s.session_id)).unwrap();
        assert_eq!(me.csrf_token, s.response.csrf_token);
        signout(&env.ctx(), Some(&s.session_id)).unwrap();
        assert_eq!(whoami(&env.ctx(), Some(&s.session_id)).unwrap_err().status(), 401);
        signout(&env.ctx(), Some(&s.session_id)).unwrap();
        signout(&env.ctx(), None).unwrap();
    }

    #[test]
    fn unknown_user_and_wrong_password_look_the_same() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        let a = sign(&env, "jane@contoso.com", "wrong-password").unwrap_err();
        let b = sign(&env, "nobody@contoso.com", "wrong-password").unwrap_err();
        assert_eq!((a.status(), a.body()), (b.status(), b.body()));
        assert_eq!((a.status(), a.error()), (401, "invalid_credentials"));
        // The unknown-user path verifies against a real production-cost hash.
        assert!(hashing::DUMMY_PHC.starts_with(&hashing::production_prefix()));
        assert!(!hashing::verify("", hashing::DUMMY_PHC));
        assert_eq!(sign(&env, "", "x").unwrap_err().error(), "missing_field");
        assert_eq!(sign(&env, "jane@contoso.com", "").unwrap_err().error(), "missing_field");
        let events =
            audit::list(&*env.store, &audit::Query { kind: Some("signin_failed".into()), ..Default::default() })
                .unwrap();
        assert_eq!(events.len(), 2);
        assert!(!events.iter().any(|e| e.detail.to_string().contains("wrong-password")));
    }

    #[test]
    fn ten_failures_lock_for_the_lockout_duration() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        for i in 1..=10 {
            let e = sign(&env, "jane@contoso.com", "wrong").unwrap_err();
            assert_eq!(e.error(), "invalid_credentials", "attempt {i}");
        }
        let e = sign(&env, "jane@contoso.com", PASSWORD).unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (423, "account_locked", Some(1800)));
        assert_eq!(e.body()["unlock"], "/unlock");
        let locked = users::get(&*env.store, &u.id).unwrap().unwrap();
        assert!(locked.is_locked(env.ctx().now()) && locked.failed_signins == 10);
        assert_eq!(
            audit::list(&*env.store, &audit::Query { kind: Some("locked_out".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
        // The lockout ends by itself; the count starts again.
        env.clock.advance(1800);
        sign(&env, "jane@contoso.com", "wrong").unwrap_err();
        assert_eq!(failures(&env.ctx(), &u.id).unwrap(), 1);
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
        assert_eq!(failures(&env.ctx(), &u.id).unwrap(), 0);
    }

    #[test]
    fn a_success_resets_the_count_and_unlock_clears_a_lock() {
        let env = TestEnv::new();
        env.save_policy(|p| p.lockout_threshold = 3);
        let u = env.user_with_everything("jane@contoso.com");
        for _ in 0..2 {
            sign(&env, "jane@contoso.com", "wrong").unwrap_err();
        }
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
        for _ in 0..2 {
            sign(&env, "jane@contoso.com", "wrong").unwrap_err();
        }
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
        for _ in 0..3 {
            sign(&env, "jane@contoso.com", "wrong").unwrap_err();
        }
        assert_eq!(sign(&env, "jane@contoso.com", PASSWORD).unwrap_err().status(), 423);
        users::clear_lockout(&env.ctx(), &u.id).unwrap();
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
    }

    #[test]
    fn twenty_concurrent_guesses_lock_and_at_most_ten_are_evaluated() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        let (invalid, locked) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..20 {
                s.spawn(|| match sign(&env, "jane@contoso.com", "wrong").unwrap_err().error() {
                    "invalid_credentials" => invalid.fetch_add(1, Ordering::SeqCst),
                    "account_locked" => locked.fetch_add(1, Ordering::SeqCst),
                    other => panic!("{other}"),
                });
            }
        });
        assert!(invalid.load(Ordering::SeqCst) <= 10, "{invalid:?}");
        assert_eq!(invalid.load(Ordering::SeqCst) + locked.load(Ordering::SeqCst), 20);
        assert_eq!(sign(&env, "jane@contoso.com", PASSWORD).unwrap_err().status(), 423);
        assert!(users::get(&*env.store, &u.id).unwrap().unwrap().locked);
        assert_eq!(
            audit::list(&*env.store, &audit::Query { kind: Some("locked_out".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
    }

    /// `n` wrong sign-ins at once, each on a store that interleaves like a
    /// real host; returns how many were evaluated (401) and refused (423).
    fn wrong_at_once(env: &TestEnv, username: &str, n: usize) -> (usize, usize) {
        let jitter = crate::testing::JitterStore(&env.store);
        let (invalid, locked) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let barrier = std::sync::Barrier::new(n);
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    barrier.wait();
                    let req = SigninRequest { username: username.into(), password: "wrong".into() };
                    match signin(&env.jittery_ctx(&jitter), req).unwrap_err().error() {
                        "invalid_credentials" => invalid.fetch_add(1, Ordering::SeqCst),
                        "account_locked" => locked.fetch_add(1, Ordering::SeqCst),
                        other => panic!("{other}"),
                    };
                });
            }
        });
        (invalid.into_inner(), locked.into_inner())
    }

    fn events(env: &TestEnv, kind: &str, user_id: Option<&str>) -> usize {
        let q = audit::Query {
            kind: Some(kind.into()),
            user_id: user_id.map(str::to_owned),
            limit: Some(500),
            ..Default::default()
        };
        audit::list(&*env.store, &q).unwrap().len()
    }

    #[test]
    fn sixty_four_guesses_at_once_after_a_lockout_ends_evaluate_exactly_ten() {
        let env = TestEnv::new();
        env.save_policy(|p| {
            p.lockout_seconds = 60;
            p.throttles.signins_per_address_per_minute = 1000;
        });
        let u = env.user_with_everything("jane@contoso.com");
        for round in 1..=3 {
            for _ in 0..10 {
                sign(&env, "jane@contoso.com", "wrong").unwrap_err();
            }
            let e = sign(&env, "jane@contoso.com", PASSWORD).unwrap_err();
            assert_eq!((e.status(), e.retry_after), (423, Some(60)));
            // The lock ends by itself; every guess now still sees the old lock record.
            env.clock.advance(60);
            assert_eq!(wrong_at_once(&env, "jane@contoso.com", 64), (10, 54), "round {round}");
            assert_eq!(events(&env, "signin_failed", Some(&u.id)), 20 * round, "exactly ten evaluated");
            assert_eq!(events(&env, "locked_out", Some(&u.id)), 2 * round, "one lock per window");
            assert_eq!(sign(&env, "jane@contoso.com", PASSWORD).unwrap_err().status(), 423);
            env.clock.advance(60);
        }
        // A success after the lock ran out tidies the lock away.
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
        let after = users::get(&*env.store, &u.id).unwrap().unwrap();
        assert!(!after.locked && after.locked_until.is_none() && after.failed_signins == 0);
    }

    #[test]
    fn an_unknown_name_is_counted_and_locked_like_a_real_account() {
        let env = TestEnv::new();
        env.save_policy(|p| p.throttles.signins_per_address_per_minute = 1000);
        env.user_with_everything("jane@contoso.com");
        let answers: Vec<Vec<(u16, serde_json::Value)>> = ["jane@contoso.com", "Ghost.Writer@contoso.com"]
            .into_iter()
            .map(|name| {
                (0..12)
                    .map(|_| {
                        let e = sign(&env, name, "wrong").unwrap_err();
                        (e.status(), e.body())
                    })
                    .collect()
            })
            .collect();
        assert_eq!(answers[0], answers[1], "a real account and an unknown name answer alike");
        assert!(answers[0][..10].iter().all(|(s, _)| *s == 401));
        assert!(answers[0][10..].iter().all(|(s, b)| *s == 423 && b["retry_after"] == 1800));
        // Any spelling the username rule folds together is the same name.
        assert_eq!(sign(&env, " GHOST.writer@contoso.com", "wrong").unwrap_err().status(), 423);
        for key in env.store.keys_with_prefix("").unwrap() {
            let value = String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).to_lowercase();
            assert!(!key.to_lowercase().contains("ghost") && !value.contains("ghost"), "{key} holds the name");
        }
        // The lock ends by itself and a new run of ten starts, as for a real account.
        env.clock.advance(1800);
        for _ in 0..10 {
            assert_eq!(sign(&env, "ghost.writer@contoso.com", "wrong").unwrap_err().status(), 401);
        }
        assert_eq!(sign(&env, "ghost.writer@contoso.com", "wrong").unwrap_err().status(), 423);
        // Under parallel guessing an unknown name also takes exactly ten.
        assert_eq!(wrong_at_once(&env, "nobody.here@contoso.com", 64), (10, 54));
    }

    #[test]
    fn password_checks_are_throttled_per_client_address() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        env.clock.set(1_800_000_015); // 15 s into a minute
        for i in 0..30 {
            assert_eq!(sign(&env, &format!("user{i}@contoso.com"), "wrong").unwrap_err().status(), 401);
        }
        let e = sign(&env, "jane@contoso.com", PASSWORD).unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (429, "throttled", Some(45)));
        // Another address has its own budget; the throttle locked nobody.
        let ctx = env.ctx();
        let elsewhere = Ctx::new(&*env.store, &*env.clock, ctx.random, ctx.secrets.clone(), "198.51.100.4");
        signin(&elsewhere, SigninRequest { username: "jane@contoso.com".into(), password: PASSWORD.into() }).unwrap();
        env.clock.advance(45);
        sign(&env, "jane@contoso.com", PASSWORD).unwrap();
    }

    #[test]
    fn old_registrations_are_flagged_for_reconfirmation() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        assert!(!sign(&env, "jane@contoso.com", PASSWORD).unwrap().response.reconfirm_registration);
        env.clock.advance(180 * 86400);
        assert!(sign(&env, "jane@contoso.com", PASSWORD).unwrap().response.reconfirm_registration);
        env.save_policy(|p| p.reconfirm_days = 0);
        assert!(!sign(&env, "jane@contoso.com", PASSWORD).unwrap().response.reconfirm_registration);
        // A user with nothing registered is asked to register.
        users::update(&*env.store, &u.id, |x| {
            x.contacts = Default::default();
            x.security_answers.clear();
        })
        .unwrap();
        assert!(sign(&env, "jane@contoso.com", PASSWORD).unwrap().response.registration_required);
        assert!(!env.store.keys_with_prefix("").unwrap().is_empty());
    }
}
