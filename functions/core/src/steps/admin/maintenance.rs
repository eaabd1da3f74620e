//! KV has no expiry, so stale records are swept: ended throttle windows,
//! spent CAPTCHA nonces, old failed-proof days, ended blocks and retired
//! lockout windows, flows and calls a day past expiry with their counters,
//! expired sessions. Every writer of such a key files it in the expiry index
//! (`platform::expiry`); the sweep walks the index from its cursor and asks
//! each key's owner for its [`Fate`], so a call's work is bounded by its
//! budget, never by the store's size. The admin API's
//! `POST /api/admin/maintenance/sweep` runs it ([`admin_sweep`], re-exported
//! as `admin::sweep`).

use super::ACTOR;
use crate::domain::{audit, captcha, credentials, session, throttle, users};
use crate::errors::Result;
use crate::flow::{self, voice};
use crate::platform::ctx::Ctx;
use crate::platform::expiry::{self, Fate};
use crate::platform::keys;
use serde_json::{Value, json};

/// Index minutes and entries one sweep call may look at (bounded so a call stays short).
pub const SWEEP_BATCH: usize = 1000;

/// `POST /api/admin/maintenance/sweep` → `{removed, caught_up}`: KV has no
/// expiry, so an operator's scheduler calls this now and then (again at once
/// while `caught_up` is false) to drop what went stale.
pub fn admin_sweep(ctx: &Ctx) -> Result<Value> {
    let swept = sweep(ctx, SWEEP_BATCH)?;
    audit::append(ctx, "admin_sweep", None, json!({ "actor": ACTOR, "removed": swept.removed }))?;
    Ok(json!({ "removed": swept.removed, "caught_up": swept.caught_up }))
}

/// What one sweep call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Stale keys removed (a flow counts once, with its counters).
    pub removed: usize,
    /// Whether the index was walked up to now (else call again).
    pub caught_up: bool,
}

/// Walks the expiry index, then the audit trail's journal, for up to `budget`
/// minutes, entries and keys in all: stale keys go, keys not stale yet are
/// filed again for when they will be. Then it builds the per-user audit index
/// a batch further.
pub fn sweep(ctx: &Ctx, budget: usize) -> Result<Swept> {
    let mut removed = 0;
    let mut settle = |key: &str| {
        match fate(ctx, key)? {
            Fate::Stale(stale) => {
                for key in stale {
                    ctx.store.delete(&key)?;
                }
                removed += 1;
            }
            Fate::Until(at) => ctx.expires(key, at),
            Fate::Gone => {}
        }
        Ok::<_, crate::errors::ApiError>(())
    };
    let walked = expiry::walk(ctx.store, ctx.now(), budget / 2, &mut settle)?;
    let journal_done = audit::walk_expiring(ctx, budget - budget / 2, &mut settle)?;
    // And the per-user audit index, which requests leave to be built behind them.
    let (_, indexed) = audit::index_pending(ctx, audit::INDEX_BATCH)?;
    Ok(Swept { removed, caught_up: walked.caught_up && journal_done && indexed })
}

/// Who decides what becomes of a filed key.
type Owner = fn(&Ctx, &str) -> Result<Fate>;

/// The key families the sweep knows, each with its owner's fate. The reindex
/// files every key of these families for a store written before the expiry
/// index existed.
pub const EXPIRING_FAMILIES: [(&str, Owner); 13] = [
    ("flow:", flow::fate),
    ("voice-call:", voice::fate),
    ("session:", session::fate),
    ("throttle:", throttle::fate),
    ("proofs-failed:", throttle::fate),
    ("reset-blocked:", throttle::fate),
    ("captcha-used:", captcha::fate),
    ("signin-failures:", users::window_fate),
    ("unknown-failures:", credentials::unknown_fate),
    ("code-attempts:", counter_of_flow_fate),
    ("questions-answered:", counter_of_flow_fate),
    ("destination-mismatches:", counter_of_flow_fate),
    ("audit-indexing:", audit::indexing_fate),
];

/// Asks the owner of `key`'s family what is to become of it.
fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    match EXPIRING_FAMILIES.iter().find(|(prefix, _)| key.starts_with(prefix)) {
        Some((_, owner)) => owner(ctx, key),
        None => Ok(Fate::Gone),
    }
}

/// A per-flow counter (`<family>:<flow handle>:...`), filed only by the
/// reindex for stores older than `Flow::issued`: it goes once its flow has.
fn counter_of_flow_fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let handle = keys::FlowHandle(key.split(':').nth(1).unwrap_or_default().to_owned());
    Ok(match ctx.store.get(&keys::flow(&handle))? {
        None => Fate::Stale(vec![key.to_owned()]),
        Some(_) => Fate::Until(ctx.now() + 86400),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::{TestEnv, VerifyRequest, easy_env, send_to, start, verify_code as verify};

    /// Sweeps until caught up; returns how many keys went.
    fn sweep_all(env: &TestEnv) -> usize {
        let mut removed = 0;
        for _ in 0..10_000 {
            let swept = sweep(&env.ctx(), SWEEP_BATCH).unwrap();
            removed += swept.removed;
            if swept.caught_up {
                return removed;
            }
        }
        panic!("the sweep never caught up");
    }

    #[test]
    fn stale_records_go_and_live_ones_stay() {
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        session::create(&env.ctx(), &jane.id).unwrap();
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
        assert_eq!(sweep_all(&env), 0, "nothing is stale yet");
        // The block record is the last to go: two days after its day-long block.
        env.clock.advance(3 * 86400 + 180);
        assert!(sweep_all(&env) > 0);
        for p in [
            "flow:",
            "flow-done:",
            "session:",
            "throttle:",
            "captcha-used:",
            "code-attempts:",
            "proofs-failed:",
            "reset-blocked:",
            "expiry:",
            "expiry-seq:",
        ] {
            assert_eq!(count(p), 0, "{p}");
        }
        assert!(count("user:") == 1 && count("audit:") > 0, "users and audit are kept");
    }

    #[test]
    fn a_retired_lockout_window_goes_and_the_current_one_stays() {
        use crate::platform::counter::Counter;
        let env = easy_env();
        let jane = env.user_with_everything("jane@contoso.com");
        let window = |e: u64| users::signin_failures_key(&jane.id, e);
        Counter::new(&*env.store, window(0)).add(3).unwrap();
        users::clear_lockout(&env.ctx(), &jane.id).unwrap();
        Counter::new(&*env.store, window(1)).add(1).unwrap();
        env.clock.advance(3600 + 180);
        assert_eq!(sweep_all(&env), 1, "the window before the unlock");
        assert_eq!(env.store.keys_with_prefix("signin-failures:").unwrap(), vec![window(1)]);
    }

    /// The scale rule: 100,000 expired records among 100,000 live ones all go,
    /// and no live one does, over repeated bounded calls.
    #[test]
    fn repeated_sweeps_remove_every_expired_record_and_no_live_one() {
        let env = TestEnv::new();
        env.clock.set(20_000 * 86400 + 3600);
        let make = |n: usize| -> Vec<String> {
            let ctx = env.ctx();
            (0..n)
                .flat_map(|i| {
                    let flow = crate::testing::written_flow(&ctx, &format!("u{i}"));
                    let session = session::create(&ctx, &format!("u{i}")).unwrap();
                    let subject = format!("s{i}");
                    throttle::hit(&ctx, "t", &subject, 5, 86400).unwrap();
                    let day = ctx.now() / 86400;
                    [
                        keys::flow(&flow.handle(&ctx)),
                        session::storage_key(&session.id),
                        keys::throttle("t", &subject, 86400, day),
                    ]
                })
                .collect()
        };
        let expired = make(33_334);
        env.clock.advance(2 * 86400);
        let live = make(33_334);
        env.clock.advance(20 * 60);
        let mut calls = 0;
        while !sweep(&env.ctx(), SWEEP_BATCH).unwrap().caught_up {
            calls += 1;
        }
        let left: std::collections::HashSet<String> = env.store.keys_with_prefix("").unwrap().into_iter().collect();
        assert!(expired.iter().all(|k| !left.contains(k)), "every expired record went ({calls} calls)");
        assert!(live.iter().all(|k| left.contains(k)), "no live record did");
    }
}
