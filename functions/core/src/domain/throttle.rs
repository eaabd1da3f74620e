//! Rate limits as atomic counters in fixed time windows (KV has no expiry, so
//! the window index is part of the key), and the "5 failed proofs in 24 hours
//! block resets for 24 hours" rule. A user's own windows count in the user's
//! current *run* ([`Run`]), so a successful reset or unlock, which starts a new
//! run, gives them fresh windows without deleting anything.

use crate::domain::audit;
use crate::domain::methods::MethodId;
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

/// Forgets the current window's count of `subject` (a tool's reset between
/// runs: the bench; a user's own windows start afresh with a new run instead).
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

/// The user's `reset-blocked:` record as one request read it: until when
/// resets are blocked, the run failed proofs count in, and the run the user's
/// own throttle windows count in. Read once per request ([`check_blocked`],
/// [`current_run`]) and handed on to whatever counts for the user then.
///
/// Stored with `set`, never as a counter: `<until>:<run>` after a clear (a
/// successful reset or unlock: one new run for both), `<until>:<run>:<windows>`
/// after a block (a new run of failed proofs; the windows' run is kept, so a
/// block never frees a send or validation budget). A plain `<until>` is its own
/// run; no record at all is run `0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    user_id: String,
    /// Until when resets are blocked (a Unix time; 0 when never blocked).
    until: i64,
    /// The run failed proofs count in (`proofs-failed:<user>:<run>:<day>`).
    proofs: String,
    /// The run the user's throttle windows count in ([`Run::subject`]).
    windows: String,
}

impl Run {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The subject of the user's own throttles in this run, `<user>:<run>`
    /// (the per-factor ones append `:<factor>`): a new run is a fresh window.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.user_id, self.windows)
    }

    /// The subject of the user's per-method budgets (sends, validations) in
    /// this run: `<user>:<run>:<factor>`, so texting and calling one phone
    /// share one budget.
    pub fn factor_subject(&self, method: MethodId) -> String {
        format!("{}:{}", self.subject(), method.factor().as_str())
    }

    /// The seconds left of a block that holds at `now`.
    fn blocked_for(&self, now: u64) -> Option<u64> {
        ((now as i64) < self.until).then(|| (self.until - now as i64) as u64)
    }
}

fn block_record(ctx: &Ctx, user_id: &str) -> Result<Run> {
    let run = |until: i64, proofs: &str, windows: &str| Run {
        user_id: user_id.to_owned(),
        until,
        proofs: proofs.to_owned(),
        windows: windows.to_owned(),
    };
    let Some(bytes) = ctx.store.get(&block_key(user_id))? else { return Ok(run(0, "0", "0")) };
    let corrupt = || ApiError::internal("A stored record is corrupt.");
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt())?;
    let mut parts = text.split(':');
    let until = parts.next().unwrap_or_default();
    let proofs = parts.next().unwrap_or(until);
    let windows = parts.next().unwrap_or(proofs);
    let id = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match until.parse() {
        Ok(until) if parts.next().is_none() && id(proofs) && id(windows) => Ok(run(until, proofs, windows)),
        _ => Err(corrupt()),
    }
}

/// Writes the user's record: blocked until `until`, a new run of failed
/// proofs, and the windows' run `windows` (`None`: the new run too).
fn new_run(ctx: &Ctx, user_id: &str, until: u64, windows: Option<&str>) -> Result<()> {
    let (key, record) = new_run_record(ctx, user_id, until, windows);
    ctx.store.set(&key, &record)?;
    Ok(())
}

/// [`new_run`]'s record (key, bytes), filed for the sweep, for a caller that
/// writes it with its own.
fn new_run_record(ctx: &Ctx, user_id: &str, until: u64, windows: Option<&str>) -> (String, Vec<u8>) {
    let run = kv::random_hex(ctx.random, 8);
    let record = match windows {
        Some(windows) => format!("{until}:{run}:{windows}"),
        None => format!("{until}:{run}"),
    };
    let key = block_key(user_id);
    ctx.expires(&key, until + BLOCK_RECORD_KEPT);
    (key, record.into_bytes())
}

/// The user's current run, blocked or not (one read).
pub fn current_run(ctx: &Ctx, user_id: &str) -> Result<Run> {
    block_record(ctx, user_id)
}

/// 403 `reset_blocked` while the user's resets are blocked; otherwise the
/// user's current run, for the counting that follows (one read).
pub fn check_blocked(ctx: &Ctx, user_id: &str) -> Result<Run> {
    let run = block_record(ctx, user_id)?;
    if let Some(left) = run.blocked_for(ctx.now()) {
        return Err(ApiError::reset_blocked(left));
    }
    Ok(run)
}

/// One failed-proof slot, taken before a code or answers are compared.
#[must_use = "a proof slot is either refunded (right) or kept as a failure (wrong)"]
pub struct ProofSlot {
    key: String,
    user_id: String,
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
    pub fn failed(self, ctx: &Ctx, policy: &Policy) -> Result<bool> {
        if self.n < policy.throttles.failed_proofs_per_day as i64 {
            return Ok(false);
        }
        // Only while the run that filled up is current (no block or clear since).
        let current = block_record(ctx, &self.user_id)?;
        if current.proofs != self.run {
            return Ok(false);
        }
        let until = ctx.now() + policy.throttles.block_seconds;
        // A new run of failed proofs; the throttle windows stay where they are.
        new_run(ctx, &self.user_id, until, Some(&current.windows))?;
        audit::append(ctx, "blocked", Some(&self.user_id), json!({ "until": until, "failed_proofs": self.n }))?;
        Ok(true)
    }
}

/// Takes a failed-proof slot for the user of `run` (as this request read it,
/// see [`check_blocked`]) *before* a secret is compared, so "5 failed proofs in
/// 24 hours" holds however many proofs arrive at once, over every flow and
/// method of the user.
///
/// Blocked → 403 without counting. Otherwise the run's counter for today is
/// incremented and yesterday's and tomorrow's are added (tomorrow's catches a
/// concurrent proof across midnight). Past the limit the slot is given back and
/// the proof refused, uncompared, with 403 `reset_blocked`. A right proof
/// refunds its slot ([`ProofSlot::refund`]); a wrong one keeps it
/// ([`ProofSlot::failed`]). Only wrong proofs keep slots, so the last wrong
/// proof to be counted saw every other one: at most `failed_proofs_per_day`
/// wrong proofs are evaluated in two days of a run, hence in any 24 hours. A
/// block or clear since `run` was read leaves this proof in the run it read:
/// one a block ended is full, and one a clear ended no longer counts.
pub fn reserve_proof(ctx: &Ctx, policy: &Policy, run: &Run) -> Result<ProofSlot> {
    let now = ctx.now();
    if let Some(left) = run.blocked_for(now) {
        return Err(ApiError::reset_blocked(left));
    }
    let user_id = run.user_id();
    let day = now / DAY;
    let key = proofs_key(user_id, &run.proofs, day);
    let mut n = count(ctx, &key, (day + 2) * DAY)?;
    for other in [day.checked_sub(1), Some(day + 1)].into_iter().flatten() {
        n += Counter::new(ctx.store, proofs_key(user_id, &run.proofs, other)).read()?;
    }
    if n > policy.throttles.failed_proofs_per_day as i64 {
        Counter::new(ctx.store, key).add(-1)?;
        // The budget is full of failures (a block is set or coming) or of proofs in flight.
        let left = block_record(ctx, user_id)?.blocked_for(now).unwrap_or(policy.throttles.block_seconds);
        return Err(ApiError::reset_blocked(left));
    }
    Ok(ProofSlot { key, user_id: user_id.to_owned(), run: run.proofs.clone(), n })
}

/// The record (key, bytes) that ends the run of failed proofs and any block,
/// for a successful reset or unlock to write with its audit event: a new run
/// starts, in which nothing has failed yet, and with it fresh windows for the
/// user's own throttles ([`Run::subject`]). No counter is deleted, so a slot
/// refunded late cannot take a count below what was kept, and one write clears
/// every budget.
pub fn cleared_run_record(ctx: &Ctx, user_id: &str) -> (String, Vec<u8>) {
    new_run_record(ctx, user_id, ctx.now(), None)
}

/// How long a block record outlives its block (see [`block_record_stale`]).
const BLOCK_RECORD_KEPT: u64 = 2 * DAY;

/// The user's own throttles, counted under [`Run::subject`] (`true`: per
/// factor, under [`Run::factor_subject`]), and their windows in seconds. The
/// sweep reads them before it forgets a run ([`block_record_stale`]).
pub const USER_THROTTLES: [(&str, u64, bool); 4] = [
    ("email", EMAIL_WINDOW, false),
    ("send", FACTOR_WINDOW, true),
    ("validate", FACTOR_WINDOW, true),
    // `gate::reserve_destination_check`: `MISMATCHES_PER_USER_PER_HOUR`.
    ("mismatch", 3600, false),
];

/// The window of the user's email budget (`email`), in seconds.
pub const EMAIL_WINDOW: u64 = 600;
/// The window of the user's per-factor budgets (`send`, `validate`), in seconds.
pub const FACTOR_WINDOW: u64 = 3600;

/// Whether the sweep may remove the user's `reset-blocked:` record: its block
/// ended two days ago, its run holds no failure from yesterday on, and none of
/// the user's throttle windows of its run is live. Without the record the
/// first run ("0") is current again, and its counts and windows are older than
/// the record, so nothing that still counts is forgotten.
fn block_record_stale(ctx: &Ctx, user_id: &str) -> Result<bool> {
    let run = block_record(ctx, user_id)?;
    let now = ctx.now();
    if run.until.max(0) as u64 + BLOCK_RECORD_KEPT > now {
        return Ok(false);
    }
    let day = now / DAY;
    for d in [day.saturating_sub(1), day, day + 1] {
        if Counter::new(ctx.store, proofs_key(user_id, &run.proofs, d)).read()? != 0 {
            return Ok(false);
        }
    }
    for (name, window, per_factor) in USER_THROTTLES {
        let mut subjects: Vec<String> = if per_factor {
            MethodId::ALL.into_iter().map(|m| run.factor_subject(m)).collect()
        } else {
            vec![run.subject()]
        };
        subjects.dedup();
        for s in subjects {
            if Counter::new(ctx.store, window_key(name, &s, window, now / window)).read()? != 0 {
                return Ok(false);
            }
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

    /// What a successful reset or unlock writes of this module: a new run.
    fn clear_failed_proofs(ctx: &Ctx, user_id: &str) -> Result<()> {
        let (key, record) = cleared_run_record(ctx, user_id);
        ctx.store.set(&key, &record)?;
        Ok(())
    }

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
        reserve("u", ctx, policy)?.failed(ctx, policy)
    }

    /// A proof slot of `user`, in the run read just before (as a step does).
    fn reserve(user: &str, ctx: &Ctx, policy: &Policy) -> Result<ProofSlot> {
        reserve_proof(ctx, policy, &current_run(ctx, user)?)
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
        reserve("u", &ctx, &policy).unwrap().refund(&ctx).unwrap();
        check_blocked(&ctx, "u").unwrap();
        assert!(fail(&ctx, &policy).unwrap());
        let e = check_blocked(&ctx, "u").unwrap_err();
        assert_eq!((e.status(), e.error(), e.retry_after), (403, "reset_blocked", Some(DAY)));
        let e = reserve("u", &ctx, &policy).err().unwrap();
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
                    match reserve("u", &ctx, &policy) {
                        Ok(slot) => {
                            slot.failed(&ctx, &policy).unwrap();
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
        let slots: Vec<ProofSlot> = (0..5).map(|_| reserve("u", &ctx, &policy).unwrap()).collect();
        let e = reserve("u", &ctx, &policy).err().unwrap();
        assert_eq!((e.error(), e.retry_after), ("reset_blocked", Some(DAY)), "not compared while five are in flight");
        check_blocked(&ctx, "u").unwrap();
        for slot in slots {
            slot.refund(&ctx).unwrap();
        }
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        // A slot refunded after a clear goes to the old run: the new run's count stays right.
        let late = reserve("u", &ctx, &policy).unwrap();
        clear_failed_proofs(&ctx, "u").unwrap();
        late.refund(&ctx).unwrap();
        for _ in 0..4 {
            assert!(!fail(&ctx, &policy).unwrap());
        }
        assert!(fail(&ctx, &policy).unwrap());
    }

    #[test]
    fn a_clear_starts_fresh_windows_and_a_block_keeps_them() {
        let env = TestEnv::new();
        let mut policy = Policy::default();
        policy.throttles.block_seconds = 60;
        let ctx = env.ctx();
        let subject = || current_run(&ctx, "u").unwrap().subject();
        let first = subject();
        assert_eq!(first, "u:0", "no record: run 0");
        hit(&ctx, "send", &first, 1, 3600).unwrap();
        assert!(hit(&ctx, "send", &subject(), 1, 3600).is_err(), "the window is full");
        // A block starts a new run of failed proofs, not of windows: a block
        // (however short) never gives a send or validation budget back.
        for _ in 0..5 {
            fail(&ctx, &policy).unwrap();
        }
        assert!(check_blocked(&ctx, "u").is_err());
        assert_eq!(subject(), first);
        env.clock.advance(60);
        assert_eq!(check_blocked(&ctx, "u").unwrap().subject(), first, "the block is over");
        assert!(hit(&ctx, "send", &subject(), 1, 3600).is_err(), "the hour's window is still full");
        // A clear (a successful reset or unlock) is a new run: the old run's window no longer counts.
        clear_failed_proofs(&ctx, "u").unwrap();
        let second = subject();
        assert!(second != first && second.starts_with("u:"), "{second}");
        hit(&ctx, "send", &second, 1, 3600).unwrap();
        assert!(hit(&ctx, "send", &subject(), 1, 3600).is_err());
        // Per factor: `<user>:<run>:<factor>`, a text and a call one budget.
        let run = current_run(&ctx, "u").unwrap();
        assert_eq!(run.factor_subject(MethodId::MobileCall), format!("{second}:mobile_text"));
        assert_eq!(run.factor_subject(MethodId::MobileText), run.factor_subject(MethodId::MobileCall));
        // Another user's windows are their own.
        assert_ne!(current_run(&ctx, "v").unwrap().subject(), first);
    }

    #[test]
    fn the_record_reads_in_each_of_its_forms() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let read = |text: &str| {
            ctx.store.set("reset-blocked:u", text.as_bytes()).unwrap();
            current_run(&ctx, "u").map(|r| (r.until, r.proofs, r.windows))
        };
        let run = |until: i64, proofs: &str, windows: &str| Ok((until, proofs.to_owned(), windows.to_owned()));
        assert_eq!(read("1800000100"), run(1_800_000_100, "1800000100", "1800000100"), "a plain <until>");
        assert_eq!(read("7:ab12"), run(7, "ab12", "ab12"), "after a clear");
        assert_eq!(read("7:ab12:cd34"), run(7, "ab12", "cd34"), "after a block");
        for corrupt in ["", "x", "7:", "7::cd", "7:ab:", "7:a-b", "7:ab:cd:ef", "-:ab"] {
            let e = read(corrupt).unwrap_err();
            assert_eq!(e.status(), 500, "{corrupt:?}");
        }
    }

    #[test]
    fn the_sweep_keeps_a_run_while_a_window_of_it_is_live() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        clear_failed_proofs(&ctx, "u").unwrap();
        env.clock.advance(2 * DAY);
        assert!(block_record_stale(&ctx, "u").unwrap(), "nothing live");
        let run = current_run(&ctx, "u").unwrap();
        for (name, window, per_factor) in USER_THROTTLES {
            let subject = if per_factor { run.factor_subject(MethodId::OfficeCall) } else { run.subject() };
            hit(&ctx, name, &subject, 100, window).unwrap();
            assert!(!block_record_stale(&ctx, "u").unwrap(), "{name}: its window is live");
            let key = keys::throttle(name, &subject, window, ctx.now() / window);
            let end = (ctx.now() / window + 1) * window;
            assert_eq!(fate(&ctx, &key).unwrap(), Fate::Until(end), "{key}: parsed from the right");
            env.clock.set(end);
            assert_eq!(fate(&ctx, &key).unwrap(), Fate::Stale(vec![key.clone()]));
            assert!(block_record_stale(&ctx, "u").unwrap(), "{name}: its window ended");
        }
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
