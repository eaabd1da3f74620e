//! Rate limits as atomic counters in fixed time windows (KV has no expiry, so
//! the window index is part of the key), and the "5 failed proofs in 24 hours
//! block resets for 24 hours" rule.

use crate::domain::audit;
use crate::domain::policy::Policy;
use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use serde_json::json;

fn window_key(name: &str, subject: &str, window: u64, index: u64) -> String {
    keys::throttle(name, subject, window, index)
}

/// Counts one event for `subject` in the current window of `window` seconds;
/// past `limit` the event is refused with 429 and the seconds until the
/// window ends. The count happens before the check, so concurrent callers
/// can never slip through together.
pub fn hit(ctx: &Ctx, name: &str, subject: &str, limit: u32, window: u64) -> Result<()> {
    let now = ctx.now();
    let index = now / window;
    let n = Counter::new(ctx.store, window_key(name, subject, window, index)).add(1)?;
    if n > limit as i64 {
        return Err(ApiError::throttled((index + 1) * window - now));
    }
    Ok(())
}

/// Forgets the current window's count (after a successful reset).
pub fn clear(ctx: &Ctx, name: &str, subject: &str, window: u64) -> Result<()> {
    Counter::new(ctx.store, window_key(name, subject, window, ctx.now() / window)).delete()?;
    Ok(())
}

const DAY: u64 = 86400;

fn proofs_key(user_id: &str, day: u64) -> String {
    keys::proofs_failed(user_id, day)
}

fn block_key(user_id: &str) -> String {
    keys::reset_blocked(user_id)
}

/// Until when the user's resets are blocked (a Unix time; 0 when never blocked).
/// The block is a plain record written with `set`, never a counter.
pub fn blocked_until(ctx: &Ctx, user_id: &str) -> Result<i64> {
    let Some(bytes) = ctx.store.get(&block_key(user_id))? else { return Ok(0) };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::internal("A stored record is corrupt."))
}

/// 403 `reset_blocked` while the user's resets are blocked.
pub fn check_blocked(ctx: &Ctx, user_id: &str) -> Result<()> {
    let until = blocked_until(ctx, user_id)?;
    let now = ctx.now() as i64;
    if now < until {
        return Err(ApiError::reset_blocked((until - now) as u64));
    }
    Ok(())
}

/// Counts a failed proof (wrong code, wrong answers). Failures of today's and
/// yesterday's day-window together are compared with the limit, so five
/// failures within any 24 hours always block (fixed windows alone would let
/// 4 + 4 across midnight through). Returns whether this failure blocked.
pub fn record_failed_proof(ctx: &Ctx, policy: &Policy, user_id: &str) -> Result<bool> {
    let day = ctx.now() / DAY;
    let today = Counter::new(ctx.store, proofs_key(user_id, day)).add(1)?;
    let yesterday = if day > 0 { Counter::new(ctx.store, proofs_key(user_id, day - 1)).read()? } else { 0 };
    let limit = policy.throttles.failed_proofs_per_day as i64;
    if today + yesterday >= limit && blocked_until(ctx, user_id)? <= ctx.now() as i64 {
        let until = ctx.now() + policy.throttles.block_seconds;
        ctx.store.set(&block_key(user_id), until.to_string().as_bytes())?;
        audit::append(ctx, "blocked", Some(user_id), json!({ "until": until, "failed_proofs": today + yesterday }))?;
        return Ok(true);
    }
    Ok(false)
}

/// Clears failed proofs and any block (after a successful reset, or by an admin).
pub fn clear_failed_proofs(ctx: &Ctx, user_id: &str) -> Result<()> {
    let day = ctx.now() / DAY;
    Counter::new(ctx.store, proofs_key(user_id, day)).delete()?;
    if day > 0 {
        Counter::new(ctx.store, proofs_key(user_id, day - 1)).delete()?;
    }
    ctx.store.delete(&block_key(user_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn the_limit_holds_and_retry_after_is_the_rest_of_the_window() {
        let env = TestEnv::new();
        env.clock.set(3600 * 100 + 1000);
        let ctx = env.ctx();
        for _ in 0..5 {
            hit(&ctx, "t", "u", 5, 3600).unwrap();
        }
        let e = hit(&ctx, "t", "u", 5, 3600).unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (429, "throttled", Some(2600)));
        hit(&ctx, "t", "other", 5, 3600).unwrap();
        env.clock.advance(2600);
        hit(&ctx, "t", "u", 5, 3600).unwrap();
    }

    #[test]
    fn concurrent_hits_never_exceed_the_limit() {
        let env = TestEnv::new();
        let ok: usize = (0..20)
            .map(|_| {
                let env = env.clone();
                std::thread::spawn(move || hit(&env.ctx(), "t", "u", 5, 60).is_ok() as usize)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(ok, 5);
    }

    #[test]
    fn five_failures_block_for_a_day_then_clear() {
        let env = TestEnv::new();
        env.clock.set(DAY * 10 + DAY - 10);
        let ctx = env.ctx();
        let policy = Policy::default();
        for _ in 0..2 {
            assert!(!record_failed_proof(&ctx, &policy, "u").unwrap());
        }
        env.clock.advance(20); // across the day boundary: still counted together
        for _ in 0..2 {
            assert!(!record_failed_proof(&ctx, &policy, "u").unwrap());
        }
        check_blocked(&ctx, "u").unwrap();
        assert!(record_failed_proof(&ctx, &policy, "u").unwrap());
        let e = check_blocked(&ctx, "u").unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (403, "reset_blocked", Some(DAY)));
        assert_eq!(
            audit::list(ctx.store, &audit::Query { kind: Some("blocked".into()), ..Default::default() }).unwrap().len(),
            1
        );
        env.clock.advance(DAY);
        check_blocked(&ctx, "u").unwrap();
        record_failed_proof(&ctx, &policy, "u").unwrap();
        clear_failed_proofs(&ctx, "u").unwrap();
        check_blocked(&ctx, "u").unwrap();
    }
}
