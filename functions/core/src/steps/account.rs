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
    let issued = session::create(ctx, &user.id)?;
    let reconfirm = reconfirm_due(&policy, &user, ctx.now());
    let complete = security_info::is_complete(&policy, &user);
    audit::append(ctx, "signed_in", Some(&user.id), json!({ "reconfirm_registration": reconfirm }))?;
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
        assert!(hashing::DUMMY_PHC.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
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
        users::clear_lockout(&*env.store, &u.id).unwrap();
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
