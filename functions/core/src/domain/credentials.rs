//! Checking a password the way sign-in does, shared by sign-in and change
//! password: smart lockout (each try counted before the check, the account
//! locked at the threshold) and the same work and answer for unknown users.

use crate::domain::audit;
use crate::domain::hashing;
use crate::domain::policy::Policy;
use crate::domain::users::{self, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use serde_json::json;

/// The one answer for an unknown user and a wrong password.
pub fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "The username or password is incorrect.")
}

/// 423: too many failed sign-ins. Points to the unlock journey.
pub fn account_locked(retry_after: Option<u64>) -> ApiError {
    let mut e = ApiError::new(ErrorCode::AccountLocked,
        "Your account is locked after too many failed sign-in attempts. Unlock it at /unlock (or reset your password at /reset), or wait and try again later.",
    )
    .with_details(json!({ "unlock": "/unlock" }));
    e.retry_after = retry_after;
    e
}

/// A never-used user id: the unknown-user path reads and counts like a real one.
const NOBODY: &str = "00000000000000000000000000000000";

/// The password check shared by sign-in and change-password.
///
/// Locked → 423 without looking at the password. Otherwise the attempt is
/// counted first (atomically, so 20 concurrent guesses cannot all be
/// evaluated), then the password is verified (re-hashed on success when the
/// Argon2 parameters changed). A failure is audited and, at the policy's
/// threshold, locks the account for the policy's lockout duration. A success
/// clears the count. Unknown users get the same 401 after the same work.
pub fn check_credentials(ctx: &Ctx, policy: &Policy, username: &str, password: &str) -> Result<User> {
    let username = username.trim();
    if username.is_empty() {
        return Err(ApiError::missing_field("username"));
    }
    if password.is_empty() {
        return Err(ApiError::missing_field("password"));
    }
    if username.len() > 256 || password.len() > 1024 {
        return Err(ApiError::bad_request("The username or password is too long."));
    }
    let now = ctx.now();
    let found = users::find_by_username(ctx.store, username)?;
    let Some(mut user) = found else {
        // Same reads, count, hash and audit write as a wrong password.
        ctx.store.get(&keys::user(NOBODY))?;
        Counter::new(ctx.store, users::signin_failures_key(NOBODY)).add(0)?;
        hashing::dummy_verify(password);
        audit::append(ctx, "signin_failed", None, json!({ "reason": ErrorCode::InvalidCredentials.as_str() }))?;
        return Err(invalid_credentials());
    };
    if user.is_locked(now) {
        return Err(account_locked(user.locked_until.map(|until| until - now)));
    }
    if user.locked {
        // The lockout ran out by itself: the count starts again.
        user = users::clear_lockout(ctx.store, &user.id)?;
    }
    let threshold = policy.lockout_threshold.max(1) as i64;
    let failures = Counter::new(ctx.store, users::signin_failures_key(&user.id));
    let n = failures.add(1)?;
    if n > threshold {
        // Guesses beyond the threshold (concurrent ones) are never evaluated.
        lock(ctx, policy, &user, n)?;
        return Err(account_locked(Some(policy.lockout_seconds)));
    }
    if users::verify_and_upgrade(ctx, &user, password)? {
        failures.delete()?;
        if user.failed_signins != 0 {
            user = users::update(ctx.store, &user.id, |u| u.failed_signins = 0)?;
        }
        return Ok(user);
    }
    audit::append(
        ctx,
        "signin_failed",
        Some(&user.id),
        json!({ "reason": ErrorCode::InvalidCredentials.as_str(), "failures": n }),
    )?;
    if n >= threshold {
        lock(ctx, policy, &user, n)?;
    }
    Err(invalid_credentials())
}

/// Locks the account until the lockout duration ends; the lock that moves
/// the count onto the threshold is the one audited.
pub fn lock(ctx: &Ctx, policy: &Policy, user: &User, failures: i64) -> Result<()> {
    let until = ctx.now() + policy.lockout_seconds;
    let n = failures.min(u32::MAX as i64) as u32;
    users::update(ctx.store, &user.id, |u| {
        if !u.locked {
            u.locked = true;
            u.locked_until = Some(until);
        }
        u.failed_signins = u.failed_signins.max(n);
    })?;
    if failures == policy.lockout_threshold.max(1) as i64 {
        audit::append(ctx, "locked_out", Some(&user.id), json!({ "failures": failures, "until": until }))?;
    }
    Ok(())
}

/// The count of failed sign-ins so far (for tests and admin views).
pub fn failures(ctx: &Ctx, user_id: &str) -> Result<i64> {
    Ok(Counter::new(ctx.store, users::signin_failures_key(user_id)).read()?)
}
