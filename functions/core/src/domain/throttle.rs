//! Rate limits as atomic counters in fixed time windows (KV has no expiry, so
//! the window index is part of the key), and the "5 failed proofs in 24 hours
//! block resets for 24 hours" rule.

use crate::domain::audit;
use crate::domain::policy::Policy;
use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys;
use crate::platform::kv;
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
    let n = count(ctx, &window_key(name, subject, window, index), (index + 1) * window)?;
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

/// A slot of a window's budget, counted before a secret is compared and
/// given back when the secret matched (see [`reserve`]).
#[must_use = "refund the slot when the compared secret matched"]
pub struct Reserved {
    key: String,
}

impl Reserved {
    /// The comparison matched: the slot is given back to the budget.
    pub fn refund(self, ctx: &Ctx) -> Result<()> {
        Counter::new(ctx.store, self.key).add(-1)?;
        Ok(())
    }
}

/// Like [`hit`], for a budget of *failed* comparisons: the slot is counted
/// before the comparison (so concurrent callers cannot all be compared) and
/// refunded on a match, so only mismatches use the budget up. Refused calls
/// keep their count until the window ends.
pub fn reserve(ctx: &Ctx, name: &str, subject: &str, limit: u32, window: u64) -> Result<Reserved> {
    let now = ctx.now();
    let index = now / window;
    let key = window_key(name, subject, window, index);
    let n = count(ctx, &key, (index + 1) * window)?;
    if n > limit as i64 {
        return Err(ApiError::throttled((index + 1) * window - now));
    }
    Ok(Reserved { key })
}

/// Adds one to the counter at `key`; the first count files it for the sweep
/// at `stale_at`, when it no longer counts.
fn count(ctx: &Ctx, key: &str, stale_at: u64) -> Result<i64> {
    let n = Counter::new(ctx.store, key).add(1)?;
    if n == 1 {
        ctx.expires(key, stale_at);
    }
    Ok(n)
}

const DAY: u64 = 86400;

fn proofs_key(user_id: &str, run: &str, day: u64) -> String {
    keys::proofs_failed(user_id, run, day)
}

fn block_key(user_id: &str) -> String {
    keys::reset_blocked(user_id)
}

/// The user's `reset-blocked:` record: until when resets are blocked (a Unix
/// time; 0 when never blocked) and the *run* failed proofs are counted in.
/// Written with `set` as `<until>:<run>` (a plain `<until>` is its own run),
/// never a counter. A block or a clear starts a new run, so the failures from
/// before it no longer count.
fn block_record(ctx: &Ctx, user_id: &str) -> Result<(i64, String)> {
    let Some(bytes) = ctx.store.get(&block_key(user_id))? else { return Ok((0, "0".into())) };
    let text = std::str::from_utf8(&bytes).ok();
    let (until, run) = match text.and_then(|t| t.split_once(':')) {
        Some((until, run)) => (until, run),
        None => (text.unwrap_or_default(), text.unwrap_or_default()),
    };
    match until.parse() {
        Ok(until) if !run.is_empty() && run.bytes().all(|b| b.is_ascii_alphanumeric()) => Ok((until, run.to_owned())),
        _ => Err(ApiError::internal("A stored record is corrupt.")),
    }
}

/// Starts a new run of failed proofs, blocked until `until`.
fn new_run(ctx: &Ctx, user_id: &str, until: u64) -> Result<()> {
    let record = format!("{until}:{}", kv::random_hex(ctx.random, 8));
    let key = block_key(user_id);
    ctx.store.set(&key, record.as_bytes())?;
    ctx.expires(&key, until + BLOCK_RECORD_KEPT);
    Ok(())
}

/// Until when the user's resets are blocked (a Unix time; 0 when never blocked).
pub fn blocked_until(ctx: &Ctx, user_id: &str) -> Result<i64> {
    Ok(block_record(ctx, user_id)?.0)
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

/// One failed-proof slot, taken before a code or answers are compared.
#[must_use = "a proof slot is either refunded (right) or kept as a failure (wrong)"]
pub struct ProofSlot {
    key: String,
    run: String,
    /// The run's failures (yesterday, today, tomorrow) counting this slot.
    n: i64,
}

impl ProofSlot {
    /// The proof was right: the slot is given back.
    pub fn refund(self, ctx: &Ctx) -> Result<()> {
        Counter::new(ctx.store, self.key).add(-1)?;
        Ok(())
    }

    /// The proof was wrong: the slot stays taken, and the failure that fills
    /// the budget blocks resets for `block_seconds`. Returns whether it blocked.
    pub fn failed(self, ctx: &Ctx, policy: &Policy, user_id: &str) -> Result<bool> {
        if self.n < policy.throttles.failed_proofs_per_day as i64 {
            return Ok(false);
        }
        // Only while the run that filled up is current (no block or clear since).
        if block_record(ctx, user_id)?.1 != self.run {
            return Ok(false);
        }
        let until = ctx.now() + policy.throttles.block_seconds;
        new_run(ctx, user_id, until)?;
        audit::append(ctx, "blocked", Some(user_id), json!({ "until": until, "failed_proofs": self.n }))?;
        Ok(true)
    }
}

/// Takes a failed-proof slot for the user *before* a secret is compared, so
/// "5 failed proofs in 24 hours" holds however many proofs arrive at once, over
/// every flow and method of the user.
///
/// Blocked → 403 without counting. Otherwise the run's counter for today is
/// incremented and yesterday's and tomorrow's are added (tomorrow's catches a
/// concurrent proof across midnight). Past the limit the slot is given back and
/// the proof refused, uncompared, with 403 `reset_blocked`. A right proof
/// refunds its slot ([`ProofSlot::refund`]); a wrong one keeps it
/// ([`ProofSlot::failed`]). Only wrong proofs keep slots, so the last wrong
/// proof to be counted saw every other one: at most `failed_proofs_per_day`
/// wrong proofs are evaluated in two days of a run, hence in any 24 hours.
pub fn reserve_proof(ctx: &Ctx, policy: &Policy, user_id: &str) -> Result<ProofSlot> {
    let now = ctx.now();
    let (until, run) = block_record(ctx, user_id)?;
    if (now as i64) < until {
        return Err(ApiError::reset_blocked((until - now as i64) as u64));
    }
    let day = now / DAY;
    let key = proofs_key(user_id, &run, day);
    let mut n = count(ctx, &key, (day + 2) * DAY)?;
    for other in [day.checked_sub(1), Some(day + 1)].into_iter().flatten() {
        n += Counter::new(ctx.store, proofs_key(user_id, &run, other)).read()?;
    }
    if n > policy.throttles.failed_proofs_per_day as i64 {
        Counter::new(ctx.store, key).add(-1)?;
        // The budget is full of failures (a block is set or coming) or of proofs in flight.
        let until = blocked_until(ctx, user_id)?;
        let left = if until > now as i64 { (until - now as i64) as u64 } else { policy.throttles.block_seconds };
        return Err(ApiError::reset_blocked(left));
    }
    Ok(ProofSlot { key, run, n })
}

/// Ends the run of failed proofs and any block (after a successful reset or
/// unlock): a new run starts, in which nothing has failed yet. No counter is
/// deleted, so a slot refunded late cannot take a count below what was kept.
pub fn clear_failed_proofs(ctx: &Ctx, user_id: &str) -> Result<()> {
    new_run(ctx, user_id, ctx.now())
}

/// How long a block record outlives its block (see [`block_record_stale`]).
const BLOCK_RECORD_KEPT: u64 = 2 * DAY;

/// Whether the sweep may remove the user's `reset-blocked:` record: its block
/// ended two days ago and its run holds no failure from yesterday on. Without
/// the record the first run ("0") is current again, and its counts are older
/// than the record, so nothing that still counts is forgotten.
fn block_record_stale(ctx: &Ctx, user_id: &str) -> Result<bool> {
    let (until, run) = block_record(ctx, user_id)?;
    let now = ctx.now();
    if until.max(0) as u64 + BLOCK_RECORD_KEPT > now {
        return Ok(false);
    }
    let day = now / DAY;
    for d in [day.saturating_sub(1), day, day + 1] {
        if Counter::new(ctx.store, proofs_key(user_id, &run, d)).read()? != 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What the sweep does with this module's keys: a window's counter once the
/// window ended, a day's failed proofs two days on, a block record as
/// [`block_record_stale`] says. Their times are in the keys.
pub fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let now = ctx.now();
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    let stale_at = if key.starts_with("throttle:") {
        // throttle:<name>:<subject>:<window>:<index>; the subject may hold ':'.
        let mut parts = key.rsplitn(3, ':');
        let (index, window) = (num(parts.next()), num(parts.next()));
        index.zip(window).map(|(i, w)| (i + 1) * w)
    } else if key.starts_with("proofs-failed:") {
        num(key.rsplit(':').next()).map(|day| (day + 2) * DAY)
    } else if let Some(user_id) = key.strip_prefix("reset-blocked:") {
        if ctx.store.get(key)?.is_none() {
            return Ok(Fate::Gone);
        }
        let stale = block_record_stale(ctx, user_id)?;
        return Ok(if stale { Fate::Stale(vec![key.to_owned()]) } else { Fate::Until(now + DAY) });
    } else {
        return Ok(Fate::Gone);
    };
    // A key that does not parse is not one this code writes: it goes.
    Ok(match stale_at {
        Some(at) if at > now => Fate::Until(at),
        _ => Fate::Stale(vec![key.to_owned()]),
    })
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

    fn fail(ctx: &Ctx, policy: &Policy) -> Result<bool> {
        reserve_proof(ctx, policy, "u")?.failed(ctx, policy, "u")
    }

    fn blocks(ctx: &Ctx) -> usize {
        audit::list(ctx.store, &audit::Query { kind: Some("blocked".into()), ..Default::default() }).unwrap().len()
    }

    #[test]
    fn five_failures_block_for_a_day_then_clear() {
        let env = TestEnv::new();
        env.clock.set(DAY * 10 + DAY - 10);
        let ctx = env.ctx();
        let policy = Policy::default();
        for _ in 0..2 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        env.clock.advance(20); // across the day boundary: still counted together
        for _ in 0..2 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        // A right proof gives its slot back.
        reserve_proof(&ctx, &policy, "u").unwrap().refund(&ctx).unwrap();
        check_blocked(&ctx, "u").unwrap();
        assert!(fail(&ctx, &policy).unwrap());
        let e = check_blocked(&ctx, "u").unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (403, "reset_blocked", Some(DAY)));
        let e = reserve_proof(&ctx, &policy, "u").err().unwrap();
        assert_eq!((e.error(), e.retry_after), ("reset_blocked", Some(DAY)), "refused while blocked");
        assert_eq!(blocks(&ctx), 1);
        // The block ends: a new run, with a fresh budget of five.
        env.clock.advance(DAY);
        check_blocked(&ctx, "u").unwrap();
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        // A clear (successful reset or unlock) starts another run.
        clear_failed_proofs(&ctx, "u").unwrap();
        check_blocked(&ctx, "u").unwrap();
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        assert!(fail(&ctx, &policy).unwrap());
        assert_eq!(blocks(&ctx), 2);
    }

    #[test]
    fn sixty_four_concurrent_proofs_keep_at_most_five_failures() {
        let env = TestEnv::new();
        let policy = Policy::default();
        let evaluated: usize = (0..64)
            .map(|_| {
                let (env, policy) = (env.clone(), policy.clone());
                std::thread::spawn(move || {
                    let ctx = env.ctx();
                    match reserve_proof(&ctx, &policy, "u") {
                        Ok(slot) => {
                            slot.failed(&ctx, &policy, "u").unwrap();
                            1
                        }
                        Err(e) => {
                            assert_eq!(e.error(), "reset_blocked");
                            0
                        }
                    }
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(evaluated, 5);
        assert_eq!(blocks(&env.ctx()), 1);
        assert!(check_blocked(&env.ctx(), "u").is_err());
    }

    #[test]
    fn a_full_budget_of_proofs_in_flight_refuses_and_a_refund_frees_it() {
        let env = TestEnv::new();
        let (ctx, policy) = (env.ctx(), Policy::default());
        let slots: Vec<ProofSlot> = (0..5).map(|_| reserve_proof(&ctx, &policy, "u").unwrap()).collect();
        let e = reserve_proof(&ctx, &policy, "u").err().unwrap();
        assert_eq!((e.error(), e.retry_after), ("reset_blocked", Some(DAY)), "not compared while five are in flight");
        check_blocked(&ctx, "u").unwrap();
        for slot in slots {
            slot.refund(&ctx).unwrap();
        }
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        // A slot refunded after a clear goes to the old run: the new run's count stays right.
        let late = reserve_proof(&ctx, &policy, "u").unwrap();
        clear_failed_proofs(&ctx, "u").unwrap();
        late.refund(&ctx).unwrap();
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        assert!(fail(&ctx, &policy).unwrap());
    }

    #[test]
    fn the_block_record_goes_only_once_its_run_is_stale() {
        let env = TestEnv::new();
        let (ctx, policy) = (env.ctx(), Policy::default());
        assert!(block_record_stale(&ctx, "u").unwrap(), "no record");
        clear_failed_proofs(&ctx, "u").unwrap();
        assert!(!block_record_stale(&ctx, "u").unwrap());
        env.clock.advance(2 * DAY);
        assert!(!fail(&ctx, &policy).unwrap());
        assert!(!block_record_stale(&ctx, "u").unwrap(), "a failure of the run from today");
        env.clock.advance(2 * DAY);
        assert!(block_record_stale(&ctx, "u").unwrap());
    }
}
