//! `POST /api/set-password`, change branch: `{username, old_password,
//! new_password}`. The old password is checked exactly as sign-in checks it
//! (a failure counts toward lockout), the new one against the same policy as
//! a reset; then every session of the user ends, so a new sign-in is needed.

use crate::domain::audit;
use crate::domain::credentials::check_credentials;
use crate::domain::notify::Notifier;
use crate::domain::password_policy;
use crate::domain::policy::Policy;
use crate::domain::session;
use crate::domain::templates::{self, Notice};
use crate::domain::users::{self, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangeRequest {
    pub username: String,
    pub old_password: String,
    pub new_password: String,
    /// The page's "confirm new password"; when given it must equal `new_password`.
    pub confirm_password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeResponse {
    /// Always `password_changed`.
    pub status: &'static str,
    /// Always true: every session ended, sign in again with the new password.
    pub signin_required: bool,
}

fn notify_change(ctx: &Ctx, notifier: &dyn Notifier, user: &User) -> Result<()> {
    let organisation = Policy::load(ctx.store)?.organisation_name;
    let Some(msg) = templates::notice_to(
        Notice::PasswordChanged,
        &organisation,
        &user.username,
        user.contacts.emails().first().map(|e| e.to_string()),
        user.contacts.mobiles().first().map(|p| p.e164()),
    ) else {
        return Ok(());
    };
    if let Err(e) = notifier.send(&msg) {
        audit::append(ctx, "delivery_failed", Some(&user.id), e.audit_detail(json!({ "notice": "password_changed" })))?;
    }
    Ok(())
}

/// The change branch.
pub fn change(ctx: &Ctx, notifier: &dyn Notifier, req: ChangeRequest) -> Result<ChangeResponse> {
    if req.username.trim().is_empty() {
        return Err(ApiError::missing_field("username"));
    }
    if req.old_password.is_empty() {
        return Err(ApiError::missing_field("old_password"));
    }
    if req.new_password.is_empty() {
        return Err(ApiError::missing_field("new_password"));
    }
    if req.confirm_password.as_ref().is_some_and(|c| *c != req.new_password) {
        return Err(ApiError::new(ErrorCode::ConfirmMismatch, "The new password and its confirmation differ."));
    }
    if req.new_password.len() > 1024 {
        return Err(ApiError::password_policy(json!([{ "rule": "too_long", "message": "The password is too long." }])));
    }
    let policy = Policy::load(ctx.store)?;
    let user = check_credentials(ctx, &policy, &req.username, &req.old_password)?;
    if !user.password_managed_here {
        return Err(ApiError::contact_admin());
    }
    password_policy::enforce(&policy, &user, &req.new_password)?;
    let updated = users::set_password(ctx, &user.id, &req.new_password)?;
    session::end_all(ctx, &user.id)?;
    audit::append(ctx, "password_changed", Some(&user.id), json!({ "sessions_ended": true }))?;
    notify_change(ctx, notifier, &updated)?;
    Ok(ChangeResponse { status: "password_changed", signin_required: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notify;
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::{PASSWORD, TestEnv};
    use crate::testing::{SigninRequest, signin};

    fn change_with(env: &TestEnv, old: &str, new: &str) -> Result<ChangeResponse> {
        change(
            &env.ctx(),
            &env.outbox(),
            ChangeRequest {
                username: "jane@contoso.com".into(),
                old_password: old.into(),
                new_password: new.into(),
                confirm_password: None,
            },
        )
    }

    #[test]
    fn change_ends_sessions_and_the_old_password_stops_working() {
        let env = TestEnv::new();
        let u = env.user_with_everything("jane@contoso.com");
        let s = signin(&env.ctx(), SigninRequest { username: "jane@contoso.com".into(), password: PASSWORD.into() })
            .unwrap();
        let r = change_with(&env, PASSWORD, "violet kestrel harbour").unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), json!({ "status": "password_changed", "signin_required": true }));
        assert!(session::load(&env.ctx(), Some(&s.session_id)).is_err(), "sessions ended");
        let after = users::get(&*env.store, &u.id).unwrap().unwrap();
        assert!(users::verify_password(&after, "violet kestrel harbour") && !users::verify_password(&after, PASSWORD));
        assert_eq!(notify::outbox(&*env.store, 1).unwrap()[0].message.subject, "Your password was changed");
        assert_eq!(
            audit::list(&*env.store, &audit::Query { kind: Some("password_changed".into()), ..Default::default() })
                .unwrap()
                .len(),
            1
        );
        assert_eq!(change_with(&env, PASSWORD, "another good password").unwrap_err().error(), "invalid_credentials");
        for key in env.store.keys_with_prefix("").unwrap() {
            assert!(!String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).contains("kestrel"), "{key}");
        }
    }

    #[test]
    fn policy_and_input_errors() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        let e = change_with(&env, PASSWORD, PASSWORD).unwrap_err();
        assert_eq!((e.status(), e.error()), (422, "password_policy"));
        assert_eq!(e.details.unwrap()["violations"][0]["rule"], "same_as_current");
        assert_eq!(change_with(&env, PASSWORD, "short").unwrap_err().error(), "password_policy");
        assert_eq!(change_with(&env, "", "x").unwrap_err().error(), "missing_field");
        assert_eq!(change_with(&env, PASSWORD, "").unwrap_err().error(), "missing_field");
        let e = change(
            &env.ctx(),
            &env.outbox(),
            ChangeRequest {
                username: "jane@contoso.com".into(),
                old_password: PASSWORD.into(),
                new_password: "violet kestrel harbour".into(),
                confirm_password: Some("other".into()),
            },
        )
        .unwrap_err();
        assert_eq!(e.error(), "confirm_mismatch");
        let unknown = change(
            &env.ctx(),
            &env.outbox(),
            ChangeRequest {
                username: "nobody".into(),
                old_password: "x".into(),
                new_password: "violet kestrel harbour".into(),
                confirm_password: None,
            },
        )
        .unwrap_err();
        assert_eq!(unknown.body(), change_with(&env, "wrong", "violet kestrel harbour").unwrap_err().body());
    }

    #[test]
    fn wrong_old_passwords_count_toward_lockout() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        for _ in 0..10 {
            assert_eq!(
                change_with(&env, "wrong", "violet kestrel harbour").unwrap_err().error(),
                "invalid_credentials"
            );
        }
        assert_eq!(change_with(&env, PASSWORD, "violet kestrel harbour").unwrap_err().status(), 423);
        let e = signin(&env.ctx(), SigninRequest { username: "jane@contoso.com".into(), password: PASSWORD.into() })
            .unwrap_err();
        assert_eq!(e.status(), 423);
    }
}
