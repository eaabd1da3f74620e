//! "Press #" calls (as in Entra: "Answer the call and press # to verify").
//! Send-code places a call that says who is calling; no code is read out.
//! The provider reports the key pressed to `POST /api/voice/<token>`.
//!
//! The token is random, single use (a `voice-used:` claim), expires with the
//! call, and is stored only as a keyed hash: the record under
//! `voice-call:<HMAC(code key, token)>` names the method and call, and holds
//! the flow id sealed with a second HMAC of the token (a one-time pad), so a
//! copy of the store yields neither a usable token nor a flow id.

use crate::domain::methods::MethodId;
use crate::domain::notify::{Notifier, NotifyError, VoiceCall};
use crate::errors::{ApiError, Result};
use crate::flow::{Flow, PendingCode};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Where a call stands, kept on the flow's pending entry (polling reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Out, not yet answered with a key.
    Ringing,
    /// Answered with another key, hung up or not answered: a failed attempt.
    Failed,
}

/// A call out, under the keyed hash of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    /// The flow id XOR HMAC(code key, "seal", token), hex.
    pub sealed_flow: String,
    pub method: MethodId,
    /// The pending entry's id: the token answers only this call.
    pub code_id: String,
    pub expires_at: u64,
}

fn mac(ctx: &Ctx, label: &[u8], token: &str) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(&ctx.secrets.code_key).expect("HMAC takes keys of any length");
    m.update(label);
    m.update(token.as_bytes());
    m.finalize().into_bytes().into()
}

/// The token's name in the store.
pub fn token_hash(ctx: &Ctx, token: &str) -> String {
    kv::to_hex(&mac(ctx, b"unlatch-voice-v1\n", token))
}

fn seal(ctx: &Ctx, token: &str, flow_id: &str) -> String {
    let pad = mac(ctx, b"unlatch-voice-seal-v1\n", token);
    kv::to_hex(&flow_id.bytes().zip(pad).map(|(a, b)| a ^ b).collect::<Vec<_>>())
}

fn unseal(ctx: &Ctx, token: &str, sealed: &str) -> Option<String> {
    let pad = mac(ctx, b"unlatch-voice-seal-v1\n", token);
    let bytes = hex::decode(sealed).ok()?;
    String::from_utf8(bytes.into_iter().zip(pad).map(|(a, b)| a ^ b).collect()).ok()
}

/// What the call says: who calls, and that # verifies. Never a code.
pub fn script(purpose: &str) -> String {
    format!(
        "Hello. This is the self-service password service of your organisation, calling because someone asked to {purpose}. If it was you, press the pound key to verify. If not, hang up."
    )
}

/// Sets up the call on `flow` (its pending entry, returned for the caller to
/// save) and the token record, and returns the call to place.
pub fn prepare(ctx: &Ctx, flow: &Flow, method: MethodId, to: &str, lifetime: u64) -> Result<(PendingCode, VoiceCall)> {
    if !ctx.calls_possible() {
        return Err(calls_unavailable());
    }
    let token = kv::random_hex(ctx.random, 16);
    let code_id = kv::random_hex(ctx.random, 8);
    let hash = token_hash(ctx, &token);
    let expires_at = ctx.now() + lifetime;
    let record = CallRecord { sealed_flow: seal(ctx, &token, &flow.id), method, code_id: code_id.clone(), expires_at };
    let key = keys::voice_call(&hash);
    kv::put_json(ctx.store, &key, &record)?;
    ctx.expires(&key, expires_at + KEPT_AFTER_EXPIRY);
    let pending =
        PendingCode { method, code_id, hash, expires_at, destination: to.to_owned(), call: Some(CallStatus::Ringing) };
    let purpose = match flow.purpose {
        crate::flow::Purpose::Unlock => "unlock an account",
        crate::flow::Purpose::StepUp => "change security info",
        crate::flow::Purpose::Register => "register this phone for password reset",
        _ => "reset a password",
    };
    let call = VoiceCall {
        to: to.to_owned(),
        says: script(purpose),
        callback_url: format!("{}/api/voice/{token}", ctx.public_base_url),
    };
    Ok((pending, call))
}

/// Places `call` through `notifier`.
pub fn place(notifier: &dyn Notifier, call: &VoiceCall) -> std::result::Result<(), NotifyError> {
    notifier.call(call)
}

/// 422 `method_unavailable` with the reason: no callback base URL.
pub fn calls_unavailable() -> ApiError {
    ApiError::new(
        crate::errors::ErrorCode::MethodUnavailable,
        "Calls are not available: the service has no public callback address (`public_base_url`). Choose another option.",
    )
}

/// The flow id and record a callback's token names, claiming the token (single
/// use): unknown or malformed → 404; the call expired → 410 `code_expired`
/// (not claimed: past its expiry the token is the poll's, which counts the
/// unanswered call once); used before → 409 `flow_state`.
pub fn redeem(ctx: &Ctx, token: &str) -> Result<(String, CallRecord)> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::not_found());
    }
    let hash = token_hash(ctx, token);
    let Some(record) = kv::get_json::<CallRecord>(ctx.store, &keys::voice_call(&hash))? else {
        return Err(ApiError::not_found());
    };
    if ctx.now() >= record.expires_at {
        return Err(ApiError::code_expired());
    }
    if !claim(ctx, &hash)? {
        return Err(ApiError::flow_state("This call was already answered."));
    }
    let flow_id = unseal(ctx, token, &record.sealed_flow).ok_or_else(ApiError::not_found)?;
    Ok((flow_id, record))
}

/// Claims the call whose token hashes to `hash` (the flow's `pending.hash`):
/// `true` for the one caller, ever, that decides how it ended (its callback
/// in time, or the poll that finds it expired).
pub fn claim(ctx: &Ctx, hash: &str) -> Result<bool> {
    Ok(Counter::new(ctx.store, keys::voice_used(hash)).claim()?)
}

/// A call record is kept this long past its expiry, so a late replay still
/// finds it (and is refused as expired or used) rather than an unknown token.
const KEPT_AFTER_EXPIRY: u64 = 86400;

/// What the sweep does with `voice-call:<token hash>` (filed by [`prepare`]):
/// a day past its expiry it goes, with its `voice-used` claim.
pub fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let Some(record) = kv::get_json::<CallRecord>(ctx.store, key)? else { return Ok(Fate::Gone) };
    let until = record.expires_at + KEPT_AFTER_EXPIRY;
    if ctx.now() < until {
        return Ok(Fate::Until(until));
    }
    Ok(Fate::Stale(vec![key.to_owned(), keys::voice_used(key.trim_start_matches("voice-call:"))]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{last_call_token, send_to, start};

    #[test]
    fn the_seal_opens_only_with_the_token_and_old_calls_are_swept() {
        let env = crate::testing::easy_env();
        env.user_with_everything("jane@contoso.com");
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_call", "4255550112").unwrap();
        let ctx = env.ctx();
        let token = last_call_token(&env);
        let hash = token_hash(&ctx, &token);
        let record: CallRecord = kv::get_json(ctx.store, &keys::voice_call(&hash)).unwrap().unwrap();
        assert_eq!(unseal(&ctx, &token, &record.sealed_flow).as_deref(), Some(flow.as_str()));
        assert_ne!(unseal(&ctx, &"b".repeat(32), &record.sealed_flow).as_deref(), Some(flow.as_str()));
        let key = keys::voice_call(&hash);
        assert_eq!(fate(&ctx, &key).unwrap(), Fate::Until(record.expires_at + 86400), "a live call stays");
        env.clock.advance(300 + 86400);
        assert_eq!(fate(&env.ctx(), &key).unwrap(), Fate::Stale(vec![key.clone(), keys::voice_used(&hash)]));
    }
}
