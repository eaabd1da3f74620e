//! KV has no expiry, so stale records are swept: ended throttle windows,
//! spent CAPTCHA nonces, old failed-proof days, ended blocks, and flows a day
//! past expiry with their attempt counters, expired sessions. The admin API's
//! `POST /api/admin/maintenance/sweep` runs it ([`admin_sweep`], re-exported
//! as `admin::sweep`); it is bounded per call.

use super::ACTOR;
use crate::domain::audit;
use crate::domain::throttle;
use crate::errors::Result;
use crate::flow;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use serde_json::{Value, json};

/// Stale keys one sweep may remove per family (bounded so a call stays short).
pub const SWEEP_BATCH: usize = 1000;

/// `POST /api/admin/maintenance/sweep` → `{removed}`: KV has no expiry, so an
/// operator's scheduler calls this now and then to drop ended windows, spent
/// nonces, old flows and expired sessions.
pub fn admin_sweep(ctx: &Ctx) -> Result<Value> {
    let removed = sweep(ctx, SWEEP_BATCH)?;
    audit::append(ctx, "admin_sweep", None, json!({ "actor": ACTOR, "removed": removed }))?;
    Ok(json!({ "removed": removed }))
}

/// A key prefix and the test for whether one of its keys is stale.
type Family<'a> = (&'static str, &'a dyn Fn(&str) -> Result<bool>);

/// Deletes up to about `max` stale keys per family; returns how many went.
pub fn sweep(ctx: &Ctx, max: usize) -> Result<usize> {
    let now = ctx.now();
    let day = now / 86400;
    let mut removed = flow::sweep(ctx, max)? + flow::voice::sweep(ctx, max)? + crate::domain::session::sweep(ctx, max)?;
    let num = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok());
    let families: [Family; 8] = [
        // throttle:<name>:<subject>:<window>:<index> — subject may hold ':'.
        ("throttle:", &|k: &str| {
            let mut parts = k.rsplitn(3, ':');
            let (index, window) = (num(parts.next()), num(parts.next()));
            Ok(matches!((index, window), (Some(i), Some(w)) if (i + 1) * w <= now))
        }),
        ("captcha-used:", &|k: &str| Ok(num(k.split(':').nth(1)).is_some_and(|exp| exp <= now))),
        ("proofs-failed:", &|k: &str| Ok(num(k.rsplit(':').next()).is_some_and(|d| d + 2 <= day))),
        // The record also names the run failed proofs count in: kept while the run may still count.
        ("reset-blocked:", &|k: &str| throttle::block_record_stale(ctx, k.trim_start_matches("reset-blocked:"))),
        // signin-failures:<user>:<epoch> — windows before the user's current one (or of a deleted user).
        ("signin-failures:", &|k: &str| {
            let rest = k.trim_start_matches("signin-failures:");
            let Some((user_id, epoch)) = rest.split_once(':') else { return Ok(true) }; // the old, unwindowed key
            Ok(crate::domain::users::get(ctx.store, user_id)?.is_none_or(|u| num(Some(epoch)) < Some(u.lock_epoch)))
        }),
        // Per-code and per-draw counters outlive nothing: gone with their flow.
        ("code-attempts:", &|k: &str| flow_gone(ctx, k)),
        ("questions-answered:", &|k: &str| flow_gone(ctx, k)),
        ("destination-mismatches:", &|k: &str| flow_gone(ctx, k)),
    ];
    for (prefix, stale) in families {
        for key in ctx.store.keys_with_prefix(prefix)?.into_iter().take(max) {
            if stale(&key)? {
                ctx.store.delete(&key)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Whether the flow of a per-flow counter (`<family>:<flow handle>:...`) is gone.
fn flow_gone(ctx: &Ctx, key: &str) -> Result<bool> {
    let handle = keys::FlowHandle(key.split(':').nth(1).unwrap_or_default().to_owned());
    Ok(ctx.store.get(&keys::flow(&handle))?.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::Store;
    use crate::testing::{VerifyRequest, easy_env, send_to, start, verify_code as verify};

    #[test]
    fn stale_records_go_and_live_ones_stay() {
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        crate::domain::session::create(&env.ctx(), &jane.id).unwrap();
        let flow = start(&env, "jane@contoso.com", "reset").unwrap().flow;
        send_to(&env, &flow, "mobile_text", "4255550112").unwrap();
        for _ in 0..5 {
            let _ = verify(
                &env.ctx(),
                VerifyRequest {
                    flow: flow.clone(),
                    method: "mobile_text".into(),
                    code: Some("x".into()),
                    answers: None,
                },
            );
        }
        let count = |p: &str| env.store.keys_with_prefix(p).unwrap().len();
        assert!(
            count("session:") == 1
                && count("throttle:") > 0
                && count("captcha-used:") == 1
                && count("code-attempts:") == 1
                && count("reset-blocked:") == 1
        );
        assert_eq!(sweep(&env.ctx(), 1000).unwrap(), 0, "nothing is stale yet");
        env.clock.advance(3 * 86400);
        assert!(sweep(&env.ctx(), 1000).unwrap() > 0);
        for p in
            ["flow:", "session:", "throttle:", "captcha-used:", "code-attempts:", "proofs-failed:", "reset-blocked:"]
        {
            assert_eq!(count(p), 0, "{p}");
        }
        assert!(count("user:") == 1 && count("audit:") > 0, "users and audit are kept");
    }

    #[test]
    fn past_lockout_windows_and_old_unwindowed_counters_go() {
        use crate::platform::counter::Counter;
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        let window = |e: u64| crate::domain::users::signin_failures_key(&jane.id, e);
        Counter::new(&*env.store, window(0)).add(3).unwrap();
        Counter::new(&*env.store, format!("signin-failures:{}", jane.id)).add(2).unwrap();
        assert_eq!(sweep(&env.ctx(), 1000).unwrap(), 1, "only the unwindowed key of before");
        crate::domain::users::clear_lockout(&*env.store, &jane.id).unwrap();
        Counter::new(&*env.store, window(1)).add(1).unwrap();
        assert_eq!(sweep(&env.ctx(), 1000).unwrap(), 1, "the window before the unlock");
        assert_eq!(env.store.keys_with_prefix("signin-failures:").unwrap(), vec![window(1)]);
    }
}
