//! Server-side sessions after sign-in: a random 128-bit id travels only in an
//! `HttpOnly; Secure; SameSite=Strict` cookie; KV keeps `session:<sha256(id)>`
//! (never the id itself), valid 30 minutes. The CSRF token is an HMAC of the
//! session id under the server key, so it is bound to the session without
//! being stored. Ending every session of a user (after a password change) bumps
//! the user's session epoch: older sessions stop loading at once.

use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Session lifetime: 30 minutes from sign-in (absolute, not sliding).
pub const LIFETIME_SECONDS: u64 = 30 * 60;
/// The cookie name; `__Host-` makes browsers insist on Secure, Path=/ and no Domain.
pub const COOKIE: &str = "__Host-unlatch_session";
/// The header pages send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub created_at: u64,
    pub expires_at: u64,
    /// The user's session epoch when it was made; a later epoch ends it.
    pub epoch: i64,
    /// Until when this session may change the user's security info: set by a
    /// step-up (a fresh proof with an existing method), never by sign-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stepped_up_until: Option<u64>,
}

impl Session {
    /// Whether a step-up of this session still holds at `now`.
    pub fn stepped_up(&self, now: u64) -> bool {
        self.stepped_up_until.is_some_and(|until| now < until)
    }
}

/// A new session as handed to the client: the cookie value and the CSRF token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: String,
    pub csrf_token: String,
    pub session: Session,
}

/// The KV key of a session: a hash of its id, so a KV dump holds no usable id.
pub fn storage_key(id: &str) -> String {
    keys::session(&kv::to_hex(&Sha256::digest(id.as_bytes())))
}

fn epoch_key(user_id: &str) -> String {
    keys::session_epoch(user_id)
}

fn csrf_mac(ctx: &Ctx, id: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(&ctx.secrets.code_key).expect("HMAC takes keys of any length");
    m.update(b"unlatch-csrf-v1\n");
    m.update(id.as_bytes());
    m
}

/// The CSRF token bound to session `id`.
pub fn csrf_token(ctx: &Ctx, id: &str) -> String {
    kv::to_hex(&csrf_mac(ctx, id).finalize().into_bytes())
}

/// Starts a session for `user_id`.
pub fn create(ctx: &Ctx, user_id: &str) -> Result<Issued> {
    let (issued, (key, value)) = create_record(ctx, user_id)?;
    ctx.store.set(&key, &value)?;
    Ok(issued)
}

/// Like [`create`], but the session's record (key, bytes) is returned for
/// the caller to write with its own (sign-in: the audit event's `set-many`).
pub fn create_record(ctx: &Ctx, user_id: &str) -> Result<(Issued, (String, Vec<u8>))> {
    let id = kv::random_hex(ctx.random, 16);
    let now = ctx.now();
    let session = Session {
        user_id: user_id.to_owned(),
        created_at: now,
        expires_at: now + LIFETIME_SECONDS,
        epoch: Counter::new(ctx.store, epoch_key(user_id)).read()?,
        stepped_up_until: None,
    };
    let key = storage_key(&id);
    ctx.expires(&key, session.expires_at);
    let record = kv::json_record(&key, &session)?;
    Ok((Issued { csrf_token: csrf_token(ctx, &id), id, session }, record))
}

pub fn not_signed_in() -> ApiError {
    ApiError::new(ErrorCode::NotSignedIn, "Please sign in first (your session is missing or has ended).")
}

/// The live session stored under `key` (see [`storage_key`]), or 401 `not_signed_in`.
pub fn load_by_key(ctx: &Ctx, key: &str) -> Result<Session> {
    let Some(s) = kv::get_json::<Session>(ctx.store, key)? else { return Err(not_signed_in()) };
    check_live(ctx, &s)?;
    Ok(s)
}

/// 401 `not_signed_in` once `s` expired or a later epoch ended it.
fn check_live(ctx: &Ctx, s: &Session) -> Result<()> {
    if ctx.now() >= s.expires_at || s.epoch != Counter::new(ctx.store, epoch_key(&s.user_id)).read()? {
        return Err(not_signed_in());
    }
    Ok(())
}

/// Marks the live session stored under `key` as stepped up until `until`
/// (compare-and-swap on the record, which exists); 401 when it has ended.
pub fn mark_stepped_up(ctx: &Ctx, key: &str, until: u64) -> Result<Session> {
    for _ in 0..8 {
        let Some((mut s, raw)) = kv::get_json_raw::<Session>(ctx.store, key)? else { return Err(not_signed_in()) };
        check_live(ctx, &s)?;
        s.stepped_up_until = Some(until);
        // Lost: re-read and retry (the session may have ended). Misreported
        // (Spin's Redis store): the write id in the record tells it landed.
        if kv::swap_json_checked(ctx.store, key, &raw, &s, ctx.random)?.is_some() {
            return Ok(s);
        }
    }
    Err(ApiError::unavailable("The session is being changed by another request; please try again."))
}

/// The live session with cookie value `id`, or 401 `not_signed_in`.
pub fn load(ctx: &Ctx, id: Option<&str>) -> Result<Session> {
    match id {
        // Ids are 32 hex digits; anything else names no session.
        Some(id) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => load_by_key(ctx, &storage_key(id)),
        _ => Err(not_signed_in()),
    }
}

/// 403 `csrf_invalid` unless `token` is the one bound to session `id` (constant time).
pub fn check_csrf(ctx: &Ctx, id: &str, token: Option<&str>) -> Result<()> {
    let ok =
        token.and_then(|t| kv::from_hex(t.trim())).is_some_and(|given| csrf_mac(ctx, id).verify_slice(&given).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfInvalid,
            "The request lacks the session's CSRF token (x-csrf-token header); reload the page and try again.",
        ))
    }
}

/// Ends one session (sign-out). Unknown ids are fine: signing out twice is not an error.
pub fn end(ctx: &Ctx, id: &str) -> Result<()> {
    ctx.store.delete(&storage_key(id))?;
    Ok(())
}

/// Ends every session of a user (after a password change or reset).
pub fn end_all(ctx: &Ctx, user_id: &str) -> Result<()> {
    Counter::new(ctx.store, epoch_key(user_id)).add(1)?;
    Ok(())
}

/// What the sweep does with `session:<hash>` (filed by [`create`]): gone once expired.
pub fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let Some(session) = kv::get_json::<Session>(ctx.store, key)? else { return Ok(Fate::Gone) };
    if ctx.now() < session.expires_at {
        return Ok(Fate::Until(session.expires_at));
    }
    Ok(Fate::Stale(vec![key.to_owned()]))
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, v)| v.trim())
}

/// The `Set-Cookie` value that stores `id` (or clears it with `max_age` 0).
pub fn set_cookie(id: &str, max_age: u64) -> String {
    format!("{COOKIE}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::TestEnv;

    #[test]
    fn a_session_lives_thirty_minutes_and_is_stored_only_hashed() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let issued = create(&ctx, "u1").unwrap();
        assert_eq!(issued.id.len(), 32);
        assert_eq!(load(&ctx, Some(&issued.id)).unwrap().user_id, "u1");
        for key in env.store.keys_with_prefix("").unwrap() {
            assert!(!key.contains(&issued.id));
            assert!(!String::from_utf8_lossy(&env.store.get(&key).unwrap().unwrap()).contains(&issued.id));
        }
        env.clock.advance(LIFETIME_SECONDS - 1);
        load(&ctx, Some(&issued.id)).unwrap();
        env.clock.advance(1);
        assert_eq!(load(&ctx, Some(&issued.id)).unwrap_err().status(), 401);
        let key = storage_key(&issued.id);
        assert_eq!(fate(&ctx, &key).unwrap(), Fate::Stale(vec![key]));
        assert_eq!(load(&ctx, None).unwrap_err().error(), "not_signed_in");
        assert_eq!(load(&ctx, Some("../x")).unwrap_err().error(), "not_signed_in");
    }

    #[test]
    fn sign_out_and_end_all() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let (a, b, other) = (create(&ctx, "u1").unwrap(), create(&ctx, "u1").unwrap(), create(&ctx, "u2").unwrap());
        end(&ctx, &a.id).unwrap();
        assert!(load(&ctx, Some(&a.id)).is_err());
        load(&ctx, Some(&b.id)).unwrap();
        end_all(&ctx, "u1").unwrap();
        assert!(load(&ctx, Some(&b.id)).is_err());
        load(&ctx, Some(&other.id)).unwrap();
        let fresh = create(&ctx, "u1").unwrap();
        load(&ctx, Some(&fresh.id)).unwrap();
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let (a, b) = (create(&ctx, "u1").unwrap(), create(&ctx, "u1").unwrap());
        check_csrf(&ctx, &a.id, Some(&a.csrf_token)).unwrap();
        assert_eq!(check_csrf(&ctx, &a.id, Some(&b.csrf_token)).unwrap_err().status(), 403);
        assert_eq!(check_csrf(&ctx, &a.id, None).unwrap_err().error(), "csrf_invalid");
        assert!(check_csrf(&ctx, &a.id, Some("zz")).is_err());
    }

    #[test]
    fn cookies_parse_and_carry_the_flags() {
        assert_eq!(from_cookie_header("a=1; __Host-unlatch_session=abc ; b=2"), Some("abc"));
        assert_eq!(from_cookie_header("unlatch_session=abc"), None);
        let c = set_cookie("abc", 1800);
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=1800"] {
            assert!(c.contains(flag), "{c}");
        }
    }
}
