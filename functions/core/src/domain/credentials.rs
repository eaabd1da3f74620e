//! Checking a password the way sign-in does, shared by sign-in and change
//! password: a per-address throttle, smart lockout (each try counted before the
//! check, in the account's lockout window; the account locked at the threshold)
//! and the same work, counting and answers for unknown usernames.

use crate::domain::audit;
use crate::domain::hashing;
use crate::domain::policy::Policy;
use crate::domain::throttle;
use crate::domain::username;
use crate::domain::users::{self, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

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

/// The password check shared by sign-in and change-password.
///
/// First the per-address throttle (`throttles.signins_per_address_per_minute`,
/// 429): one address cannot lock out a whole directory. Locked → 423 without
/// looking at the password. Otherwise the attempt is counted first, in the
/// account's current lockout window (atomically, so however many guesses arrive
/// at once, at most `lockout_threshold` are evaluated per window), then the
/// password is verified (re-hashed on success when the Argon2 parameters
/// changed). A failure is audited and, at the threshold, locks the account for
/// `lockout_seconds`: the lock moves the account to a new window, so a lock
/// that ends needs no clearing. A success after failures starts a new window.
/// Unknown usernames are counted and locked the same way, under a keyed hash
/// of the name ([`unknown_name`]), after the same work.
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
    let addr = if ctx.client_addr.is_empty() { "unknown" } else { ctx.client_addr.as_str() };
    throttle::hit(ctx, "signin", addr, policy.throttles.signins_per_address_per_minute, 60)?;
    let now = ctx.now();
    let Some(user) = users::find_by_username(ctx.store, username)? else {
        return Err(unknown_name(ctx, policy, username, password)?);
    };
    if user.is_locked(now) {
        return Err(account_locked(user.locked_until.map(|until| until - now)));
    }
    let threshold = policy.lockout_threshold.max(1) as i64;
    let epoch = user.lock_epoch;
    let failures = Counter::new(ctx.store, users::signin_failures_key(&user.id, epoch));
    let n = failures.add(1)?;
    if n > threshold {
        // Guesses beyond the threshold (concurrent ones) are never evaluated.
        lock(ctx, policy, &user, epoch, n)?;
        return Err(account_locked(Some(policy.lockout_seconds)));
    }
    if users::verify_and_upgrade(ctx, &user, password)? {
        return signed_in(ctx, user, epoch, n, &failures);
    }
    audit::append(
        ctx,
        "signin_failed",
        Some(&user.id),
        json!({ "reason": ErrorCode::InvalidCredentials.as_str(), "failures": n }),
    )?;
    if n >= threshold {
        lock(ctx, policy, &user, epoch, n)?;
    }
    Err(invalid_credentials())
}

/// The right password: the failures of this window are forgotten. The first
/// try of a window gives its count back; after failures the account moves on
/// to a new window (once, whoever of the concurrent successes gets there first),
/// and a lock that ran out by itself is tidied away.
fn signed_in(ctx: &Ctx, user: User, epoch: u64, n: i64, failures: &Counter) -> Result<User> {
    if n == 1 {
        failures.add(-1)?;
    }
    let now = ctx.now();
    let lapsed = |u: &User| !u.is_locked(now) && (u.locked || u.failed_signins != 0);
    if n == 1 && !lapsed(&user) {
        return Ok(user);
    }
    let changed = users::update_when(ctx.store, &user.id, |u| {
        if u.lock_epoch != epoch {
            return false; // a lock or an unlock moved on since: nothing of this window to forget
        }
        let tidy = lapsed(u);
        if tidy {
            u.locked = false;
            u.locked_until = None;
            u.failed_signins = 0;
        }
        if n > 1 {
            u.lock_epoch += 1;
        }
        tidy || n > 1
    })?;
    if changed.is_some() && n > 1 {
        users::retire_window(ctx, &user.id, epoch)?;
    }
    Ok(changed.unwrap_or(user))
}

/// Locks the account for the lockout duration and moves it to the next
/// lockout window, provided it is still in window `epoch` (so this happens once
/// per window, and a late guess of an earlier window cannot lock again); the
/// request that makes the move audits it. An admin's lock in place is kept.
pub fn lock(ctx: &Ctx, policy: &Policy, user: &User, epoch: u64, failures: i64) -> Result<()> {
    let now = ctx.now();
    let until = now + policy.lockout_seconds;
    let n = failures.min(u32::MAX as i64) as u32;
    // A read first: the many refused guesses of a burst find the move made and write nothing.
    if users::get(ctx.store, &user.id)?.is_none_or(|u| u.lock_epoch != epoch) {
        return Ok(());
    }
    let moved = users::update_when(ctx.store, &user.id, |u| {
        if u.lock_epoch != epoch {
            return false;
        }
        u.lock_epoch += 1;
        if !u.is_locked(now) {
            u.locked = true;
            u.locked_until = Some(until);
        }
        u.failed_signins = u.failed_signins.max(n);
        true
    })?;
    if moved.is_some() {
        users::retire_window(ctx, &user.id, epoch)?;
        audit::append(ctx, "locked_out", Some(&user.id), json!({ "failures": failures, "until": until }))?;
    }
    Ok(())
}

/// The keyed hash an unknown username is counted under: HMAC-SHA256 with the
/// code key over the name as the username rule normalises it (a name the rule
/// refuses, trimmed and lowercased, in its own domain). The name itself is
/// never stored.
fn name_hash(ctx: &Ctx, username: &str) -> String {
    let mut m = HmacSha256::new_from_slice(&ctx.secrets.code_key).expect("HMAC takes keys of any length");
    m.update(b"unlatch-unknown-name-v1\n");
    match username::key(username) {
        Some(key) => {
            m.update(b"key\n");
            m.update(key.as_bytes());
        }
        None => {
            m.update(b"raw\n");
            m.update(username.trim().to_lowercase().as_bytes());
        }
    }
    kv::to_hex(&m.finalize().into_bytes()[..16])
}

/// Until when an unknown name answers "locked"; that time also names the run
/// its failures count in (0 before its first lock).
fn unknown_locked_until(ctx: &Ctx, hash: &str) -> Result<u64> {
    let Some(bytes) = ctx.store.get(&keys::unknown_locked(hash))? else { return Ok(0) };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::internal("A stored record is corrupt."))
}

/// An unknown username, answered as a real account would be: counted per name
/// (keyed hash) before the same Argon2id work, 401 up to the lockout threshold,
/// then 423 for `lockout_seconds`, after which a new run of guesses starts. So
/// the answers do not tell which accounts exist.
fn unknown_name(ctx: &Ctx, policy: &Policy, username: &str, password: &str) -> Result<ApiError> {
    let hash = name_hash(ctx, username);
    let now = ctx.now();
    let run = unknown_locked_until(ctx, &hash)?;
    if now < run {
        return Ok(account_locked(Some(run - now)));
    }
    let threshold = policy.lockout_threshold.max(1) as i64;
    let n = Counter::new(ctx.store, keys::unknown_failures(&hash, run)).add(1)?;
    let lock = |ctx: &Ctx| -> Result<()> {
        // Once per run: only while the run the guess was counted in is current.
        if unknown_locked_until(ctx, &hash)? == run {
            let until = ctx.now() + policy.lockout_seconds;
            ctx.store.set(&keys::unknown_locked(&hash), until.to_string().as_bytes())?;
            // The run that filled up is over; an hour on, no guess is still counting there.
            ctx.expires(&keys::unknown_failures(&hash, run), ctx.now() + 3600);
        }
        Ok(())
    };
    if n > threshold {
        lock(ctx)?;
        return Ok(account_locked(Some(policy.lockout_seconds)));
    }
    hashing::dummy_verify(password);
    audit::append(
        ctx,
        "signin_failed",
        None,
        json!({ "reason": ErrorCode::InvalidCredentials.as_str(), "failures": n }),
    )?;
    if n >= threshold {
        lock(ctx)?;
    }
    Ok(invalid_credentials())
}

/// What the sweep does with `unknown-failures:<name hash>:<run>` (filed when
/// its run locked): gone once a later run is current. The current run is live.
pub fn unknown_fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let mut parts = key.split(':').skip(1);
    let (Some(hash), Some(run)) = (parts.next(), parts.next().and_then(|r| r.parse::<u64>().ok())) else {
        return Ok(Fate::Stale(vec![key.to_owned()]));
    };
    Ok(if run < unknown_locked_until(ctx, hash)? { Fate::Stale(vec![key.to_owned()]) } else { Fate::Gone })
}

/// The count of failed sign-ins in the user's current lockout window (for tests and admin views).
pub fn failures(ctx: &Ctx, user_id: &str) -> Result<i64> {
    let epoch = users::get(ctx.store, user_id)?.map_or(0, |u| u.lock_epoch);
    Ok(Counter::new(ctx.store, users::signin_failures_key(user_id, epoch)).read()?)
}
