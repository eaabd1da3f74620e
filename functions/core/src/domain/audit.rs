//! The append-only audit trail: `audit:<seq>` records numbered by an atomic
//! counter, never holding a secret (callers pass ids, methods, masked hints),
//! and a per-user index (`audit-user:<id>:<n>` → seq) so that one user's
//! events are listed without walking everyone's.
//!
//! A request writes only its event: the per-user index is built behind it by
//! [`index_pending`] (the sweep and the admin audit list call it), so
//! appending takes one atomic write, not two. A user's list reads the index
//! and the few newest events not indexed yet.
//!
//! The trail is also the request's journal: an event carries the keys its
//! request wrote that will go stale (`expiry::Filed`), so that request takes
//! no number in the expiry index, and the sweep walks the trail in order for
//! them ([`walk_expiring`]).

use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::{Fate, Filed};
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const SEQ_KEY: &str = keys::AUDIT_SEQ;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// Seconds since the epoch.
    pub at: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub user_id: Option<String>,
    pub client_addr: String,
    pub detail: Value,
    /// Whether the event was put in the per-user index as it was written (as
    /// one version did); else [`index_pending`] puts it there.
    #[serde(default)]
    pub indexed: bool,
    /// The request's keys that go stale, for the sweep; never listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring: Option<Filed>,
}

/// Appends an event and returns its sequence number.
pub fn append(ctx: &Ctx, kind: &str, user_id: Option<&str>, detail: Value) -> Result<u64> {
    append_with(ctx, kind, user_id, detail, Vec::new())
}

/// Appends an event written in one `set-many` with `records`, the step's own
/// writes (a new flow), and returns its sequence number.
pub fn append_with(
    ctx: &Ctx,
    kind: &str,
    user_id: Option<&str>,
    detail: Value,
    mut records: Vec<(String, Vec<u8>)>,
) -> Result<u64> {
    let seq = Counter::new(ctx.store, SEQ_KEY).add(1)? as u64;
    let event = Event {
        seq,
        at: ctx.now(),
        kind: kind.to_owned(),
        user_id: user_id.map(str::to_owned),
        client_addr: ctx.client_addr.clone(),
        detail,
        indexed: false,
        // The request's stale keys so far ride along.
        expiring: ctx.take_journal_part(),
    };
    let bytes = serde_json::to_vec(&event).map_err(|_| ApiError::internal("Encoding an audit event failed."))?;
    // The journal's first entry in a store (a new one, or one upgraded from a
    // version without it) gives the sweep its start, a little before it: the
    // events of writers racing this one are not passed over.
    if event.expiring.is_some() && ctx.store.get(keys::AUDIT_SWEEP_CURSOR)?.is_none() {
        let start = Cursor { done: seq.saturating_sub(JOURNAL_START_SLACK), waiting_since: 0 };
        records.push((keys::AUDIT_SWEEP_CURSOR.to_owned(), start.bytes()));
    }
    records.push((keys::audit(seq), bytes));
    // One write for all: if it fails, the sequence has a hole, which its
    // readers skip.
    ctx.store.set_many(&records)?;
    Ok(seq)
}

/// How far before the journal's first entry the sweep starts (see [`append_with`]).
const JOURNAL_START_SLACK: u64 = 1000;

/// How long a walk waits at a hole in the trail (a number taken by a request
/// whose write has not landed) before it takes it for one that never will:
/// longer than any request, and than the clock skew hosts may have (the wait
/// is stamped by one host and judged by another; the expiry index allows two minutes).
const HOLE_WAIT: u64 = 300;

/// Where a walk of the trail stands (the sweep's, the indexer's): the last
/// sequence number done, and since when it has been waiting at the hole after
/// it (0: not waiting). Stored as `<done>:<since>`.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    done: u64,
    waiting_since: u64,
}

impl Cursor {
    fn load(store: &dyn Store, key: &str) -> Result<Option<Cursor>> {
        let Some(bytes) = store.get(key)? else { return Ok(None) };
        let text = String::from_utf8_lossy(&bytes);
        let parsed = text
            .split_once(':')
            .and_then(|(done, since)| Some(Cursor { done: done.parse().ok()?, waiting_since: since.parse().ok()? }));
        parsed.map(Some).ok_or_else(|| ApiError::internal("An audit cursor is corrupt."))
    }

    fn bytes(self) -> Vec<u8> {
        format!("{}:{}", self.done, self.waiting_since).into_bytes()
    }

    /// The next event, or `None` where the walk must stop for now: at a hole
    /// younger than [`HOLE_WAIT`] (its write may still land), which it starts
    /// timing. An older hole is passed as `Some(None)`.
    fn next(&mut self, store: &dyn Store, now: u64) -> Result<Option<Option<Event>>> {
        let event = kv::get_json::<Event>(store, &keys::audit(self.done + 1))?;
        if event.is_none() {
            if self.waiting_since == 0 {
                self.waiting_since = now;
            }
            if now < self.waiting_since + HOLE_WAIT {
                return Ok(None);
            }
        }
        Ok(Some(event))
    }

    fn advance(&mut self) {
        self.done += 1;
        self.waiting_since = 0;
    }
}

/// Visits the journal's stale keys (`Event::expiring`) in sequence order from
/// the stored cursor, up to `budget` events and keys. It stops at the first
/// event whose keys are not all stale yet, and at a hole younger than
/// [`HOLE_WAIT`], so nothing is passed that could still be due; it returns
/// whether there is nothing more to do now. Two sweeps at once may visit a
/// key twice, which is safe (the fate is re-checked, deleting is idempotent).
pub fn walk_expiring(ctx: &Ctx, budget: usize, mut visit: impl FnMut(&str) -> Result<()>) -> Result<bool> {
    let (store, now) = (ctx.store, ctx.now());
    let mut cursor = Cursor::load(store, keys::AUDIT_SWEEP_CURSOR)?.unwrap_or_default();
    let head = Counter::new(store, SEQ_KEY).read()?.max(0) as u64;
    let mut spent = 0;
    let caught_up = loop {
        if cursor.done >= head {
            break true;
        }
        if spent >= budget.max(1) {
            break false;
        }
        spent += 1;
        let Some(event) = cursor.next(store, now)? else { break true };
        if let Some(filed) = event.and_then(|e| e.expiring) {
            if filed.at > now {
                break true;
            }
            for key in &filed.keys {
                visit(key)?;
                spent += 1;
            }
        }
        cursor.advance();
    };
    store.set(keys::AUDIT_SWEEP_CURSOR, &cursor.bytes())?;
    Ok(caught_up)
}

/// Events one call of [`index_pending`] looks at, from the sweep or a user's list.
pub const INDEX_BATCH: usize = 200;

/// Puts up to `budget` events in the per-user index, oldest first, from the
/// stored cursor; returns how many it looked at and whether it reached the
/// newest. An event's index entry and the cursor past it are one write, so a
/// walk that dies leaves the event to the next one. Walks at once are kept
/// from indexing an event twice by [`claim_for_index`].
pub fn index_pending(ctx: &Ctx, budget: usize) -> Result<(usize, bool)> {
    let (store, now) = (ctx.store, ctx.now());
    let mut cursor = load_index_cursor(store)?;
    let head = Counter::new(store, SEQ_KEY).read()?.max(0) as u64;
    let mut looked = 0;
    while cursor.done < head && looked < budget {
        looked += 1;
        let Some(event) = cursor.next(store, now)? else { break };
        let seq = cursor.done + 1;
        let Some(user_id) = event.filter(|e| !e.indexed).and_then(|e| e.user_id) else {
            cursor.advance();
            continue;
        };
        // Another walk may have done it since this one read the cursor.
        if !claim_for_index(ctx, seq)? || load_index_cursor(store)?.done >= seq {
            break;
        }
        cursor.advance();
        let mut records = vec![(keys::AUDIT_INDEX_CURSOR.to_owned(), cursor.bytes())];
        if !recently_indexed(store, &user_id, seq)? {
            let n = Counter::new(store, keys::audit_user_seq(&user_id)).add(1)? as u64;
            records.push((keys::audit_user(&user_id, n), seq.to_string().into_bytes()));
        }
        store.set_many(&records)?;
    }
    // Only forward (a walk that lost a claim stops behind the one that won),
    // or where it stands with the hole it started timing.
    let stored = Cursor::load(store, keys::AUDIT_INDEX_CURSOR)?;
    if stored.is_none_or(|s| s.done < cursor.done || (s.done == cursor.done && s.waiting_since != cursor.waiting_since))
    {
        store.set(keys::AUDIT_INDEX_CURSOR, &cursor.bytes())?;
    }
    Ok((looked, cursor.done >= head))
}

/// Where the per-user index stands; absent, where the admin reindex of an
/// older version stopped (it indexed the events up to its cursor), or the start.
fn load_index_cursor(store: &dyn Store) -> Result<Cursor> {
    if let Some(cursor) = Cursor::load(store, keys::AUDIT_INDEX_CURSOR)? {
        return Ok(cursor);
    }
    let reindexed = store.get(keys::REINDEX_AUDIT_CURSOR)?.and_then(|v| String::from_utf8_lossy(&v).parse().ok());
    Ok(Cursor { done: reindexed.unwrap_or(0), waiting_since: 0 })
}

/// Whether this walk may index event `seq` now: no walk claimed it in the
/// previous minute, and this one wins its claim for this minute
/// (`audit-indexing:<seq>:<minute>`). A walk that died holding a claim so
/// frees the event a minute or two later; a live one writes in milliseconds.
fn claim_for_index(ctx: &Ctx, seq: u64) -> Result<bool> {
    let minute = ctx.now() / 60;
    if Counter::new(ctx.store, keys::audit_indexing(seq, minute.saturating_sub(1))).read()? > 0 {
        return Ok(false);
    }
    let claim = keys::audit_indexing(seq, minute);
    let won = Counter::new(ctx.store, claim.as_str()).claim()?;
    ctx.expires(&claim, ctx.now() + 180);
    Ok(won)
}

/// What the sweep does with an index claim: it goes once its minute and the
/// next are over (no walk looks at it after that).
pub fn indexing_fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let stale_at = key.rsplit(':').next().and_then(|m| m.parse::<u64>().ok()).map(|minute| (minute + 2) * 60);
    Ok(match stale_at {
        Some(at) if at > ctx.now() => Fate::Until(at),
        _ => Fate::Stale(vec![key.to_owned()]),
    })
}

/// Whether one of the user's last few index entries is `seq` already (a walk
/// that moved the cursor back behind another's).
fn recently_indexed(store: &dyn Store, user_id: &str, seq: u64) -> Result<bool> {
    let last = Counter::new(store, keys::audit_user_seq(user_id)).read()?.max(0) as u64;
    for n in (1..=last).rev().take(4) {
        if store.get(&keys::audit_user(user_id, n))?.is_some_and(|v| v == seq.to_string().as_bytes()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Most events not indexed yet that a user's list looks through.
const TAIL_MAX: u64 = 1000;

/// A page of events, newest first, filtered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Query {
    pub user_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only events at or after this time.
    pub since: Option<u64>,
    /// Only events before this time.
    pub until: Option<u64>,
    /// Paging cursor: only events with a smaller seq (the last seq of the previous page).
    pub before: Option<u64>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<usize>,
}

pub fn list(store: &dyn Store, q: &Query) -> Result<Vec<Event>> {
    let newest = Counter::new(store, SEQ_KEY).read()?.max(0) as u64;
    let start = q.before.map_or(newest, |b| b.saturating_sub(1).min(newest));
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    // With a user filter, the newest events not indexed yet, then that user's
    // index; otherwise the global sequence.
    let seqs: Box<dyn Iterator<Item = Result<Option<u64>>>> = match &q.user_id {
        Some(user_id) => {
            let indexed = Cursor::load(store, keys::AUDIT_INDEX_CURSOR)?.unwrap_or_default().done;
            let tail = (indexed.max(newest.saturating_sub(TAIL_MAX)) + 1..=newest).rev().map(|seq| Ok(Some(seq)));
            let last = Counter::new(store, keys::audit_user_seq(user_id)).read()?.max(0) as u64;
            let index = (1..=last).rev().map(move |n| {
                let seq = store.get(&keys::audit_user(user_id, n))?;
                Ok(seq.and_then(|s| String::from_utf8_lossy(&s).parse().ok()))
            });
            Box::new(tail.chain(index))
        }
        None => Box::new((1..=start).rev().map(|seq| Ok(Some(seq)))),
    };
    let mut out: Vec<Event> = Vec::new();
    // An event both in the tail and in the index, or indexed twice (a walk
    // that outlived its claim), is listed once. A user's index is not strictly
    // in order (an older version numbered it apart from the trail), so this
    // is a set, not a comparison with the last one listed.
    let mut seen = std::collections::HashSet::new();
    for seq in seqs {
        let Some(seq) = seq? else { continue };
        if seq > start || !seen.insert(seq) {
            continue;
        }
        // Sequence numbers can have gaps (a writer that died between increment and write).
        let Some(event) = kv::get_json::<Event>(store, &keys::audit(seq))? else { continue };
        if q.since.is_some_and(|since| event.at < since) {
            break; // events are appended in time order
        }
        if q.until.is_some_and(|until| event.at >= until)
            || q.kind.as_ref().is_some_and(|k| *k != event.kind)
            || q.user_id.as_ref().is_some_and(|u| Some(u) != event.user_id.as_ref())
        {
            continue;
        }
        out.push(Event { expiring: None, ..event });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn one_users_events_are_listed_from_their_own_index() {
        use crate::testing::StoreLog;
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..200 {
            append(&ctx, "noise", Some(&format!("other{i}")), json!({})).unwrap();
            if i % 50 == 0 {
                append(&ctx, "signin_failed", Some("jane"), json!({ "i": i })).unwrap();
            }
        }
        let q = Query { user_id: Some("jane".into()), limit: Some(3), ..Default::default() };
        let jane = |store: &dyn Store, q: &Query| -> Vec<u64> {
            list(store, q).unwrap().iter().map(|e| e.detail["i"].as_u64().unwrap()).collect()
        };
        // Not indexed yet: the newest events are read from the trail itself.
        assert_eq!(jane(&*env.store, &q), [150, 100, 50], "newest first, before the index is built");
        while !index_pending(&ctx, INDEX_BATCH).unwrap().1 {}
        let counting = StoreLog::new(&env.store);
        let events = list(&counting, &q).unwrap();
        let order: Vec<u64> = events.iter().map(|e| e.detail["i"].as_u64().unwrap()).collect();
        assert_eq!(order, [150, 100, 50], "newest first, once each");
        assert!(counting.reads().len() <= 3 + 3 * 2, "bounded by the page: {}", counting.reads().len());
        let before = Query { before: Some(events[2].seq), ..q.clone() };
        assert_eq!(list(&*env.store, &before).unwrap().len(), 1);
        // A newer event, not indexed yet, comes first; then it is indexed once.
        append(&ctx, "signin_failed", Some("jane"), json!({ "i": 999 })).unwrap();
        assert_eq!(jane(&*env.store, &q), [999, 150, 100]);
        index_pending(&ctx, INDEX_BATCH).unwrap();
        assert_eq!(jane(&*env.store, &Query { limit: Some(10), ..q }), [999, 150, 100, 50, 0]);
        assert_eq!(Counter::new(&*env.store, keys::audit_user_seq("jane")).read().unwrap(), 5, "each indexed once");
    }

    #[test]
    fn indexing_at_once_from_many_walks_indexes_each_event_once() {
        use crate::testing::JitterStore;
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..60 {
            append(&ctx, "noise", Some(["a", "b", "c"][i % 3]), json!({ "i": i })).unwrap();
        }
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    let jitter = JitterStore(&env.store);
                    let ctx = env.jittery_ctx(&jitter);
                    while !index_pending(&ctx, 7).unwrap().1 {}
                });
            }
        });
        for user in ["a", "b", "c"] {
            assert_eq!(Counter::new(&*env.store, keys::audit_user_seq(user)).read().unwrap(), 20, "{user}");
            let q = Query { user_id: Some(user.into()), limit: Some(100), ..Default::default() };
            assert_eq!(list(&*env.store, &q).unwrap().len(), 20, "{user}");
        }
    }

    #[test]
    fn a_claim_left_by_a_dead_walk_frees_its_event_a_minute_or_two_later() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        append(&ctx, "noise", Some("a"), json!({})).unwrap();
        // A walk claimed event 1 and died before writing.
        assert!(claim_for_index(&ctx, 1).unwrap());
        assert_eq!(index_pending(&ctx, INDEX_BATCH).unwrap(), (1, false), "claimed this minute");
        env.clock.advance(60);
        assert_eq!(index_pending(&ctx, INDEX_BATCH).unwrap(), (1, false), "claimed the minute before");
        env.clock.advance(60);
        assert_eq!(index_pending(&ctx, INDEX_BATCH).unwrap(), (1, true));
        assert_eq!(Counter::new(&*env.store, keys::audit_user_seq("a")).read().unwrap(), 1);
    }

    #[test]
    fn the_index_waits_at_a_hole_then_passes_it() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        append(&ctx, "noise", Some("a"), json!({ "i": 1 })).unwrap();
        Counter::new(&*env.store, SEQ_KEY).add(1).unwrap(); // a number whose write never landed
        append(&ctx, "noise", Some("a"), json!({ "i": 3 })).unwrap();
        assert_eq!(index_pending(&ctx, INDEX_BATCH).unwrap(), (2, false), "waits at the hole");
        env.clock.advance(HOLE_WAIT - 1);
        assert!(!index_pending(&env.ctx(), INDEX_BATCH).unwrap().1, "still waiting: the timer was kept");
        env.clock.advance(1);
        assert!(index_pending(&env.ctx(), INDEX_BATCH).unwrap().1);
        assert_eq!(Counter::new(&*env.store, keys::audit_user_seq("a")).read().unwrap(), 2);
    }

    #[test]
    fn a_user_index_out_of_order_lists_every_event_once() {
        // As an older version could leave it: numbered apart from the trail,
        // and events added by its reindex after newer ones.
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 1..=4 {
            append(&ctx, "noise", Some("a"), json!({ "i": i })).unwrap();
        }
        for (n, seq) in [(1, 2), (2, 1), (3, 4), (4, 3), (5, 4)] {
            env.store.set(&keys::audit_user("a", n), seq.to_string().as_bytes()).unwrap();
        }
        Counter::new(&*env.store, keys::audit_user_seq("a")).add(5).unwrap();
        env.store.set(keys::AUDIT_INDEX_CURSOR, b"4:0").unwrap();
        let q = Query { user_id: Some("a".into()), ..Default::default() };
        let mut seqs: Vec<u64> = list(&*env.store, &q).unwrap().iter().map(|e| e.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3, 4]);
    }

    #[test]
    fn the_journal_starts_near_its_first_entry_in_an_older_store() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        // An older version's trail: 5,000 events, none carrying stale keys, no journal cursor.
        Counter::new(&*env.store, SEQ_KEY).add(5000).unwrap();
        ctx.expires("session:x", ctx.now() + 60);
        assert_eq!(append(&ctx, "x", None, json!({})).unwrap(), 5001);
        assert_eq!(Cursor::load(&*env.store, keys::AUDIT_SWEEP_CURSOR).unwrap().unwrap().done, 4001);
    }

    #[test]
    fn the_journal_walk_waits_at_keys_not_stale_yet_and_at_a_fresh_hole() {
        let env = TestEnv::new();
        let t0 = env.ctx().now();
        let walk = |env: &TestEnv| {
            let mut seen = Vec::new();
            let done = walk_expiring(&env.ctx(), 100, |k| {
                seen.push(k.to_owned());
                Ok(())
            })
            .unwrap();
            (seen, done)
        };
        let file = |key: &str, at: u64| {
            let ctx = env.ctx();
            ctx.expires(key, at);
            append(&ctx, "x", None, json!({})).unwrap();
        };
        file("session:a", t0 + 600);
        file("session:b", t0 + 300);
        assert_eq!(walk(&env), (vec![], true), "nothing is due");
        env.clock.set(t0 + 400);
        assert_eq!(walk(&env), (vec![], true), "b is due, but waits behind a");
        env.clock.set(t0 + 600);
        assert_eq!(walk(&env), (vec!["session:a".to_owned(), "session:b".to_owned()], true));
        // A number taken whose write has not landed: the walk waits a minute before passing it.
        Counter::new(&*env.store, SEQ_KEY).add(1).unwrap();
        file("session:c", t0 + 600);
        assert_eq!(walk(&env), (vec![], true));
        env.clock.advance(HOLE_WAIT);
        assert_eq!(walk(&env), (vec!["session:c".to_owned()], true));
        // Events' keys are never listed.
        assert!(list(&*env.store, &Query::default()).unwrap().iter().all(|e| e.expiring.is_none()));
    }
    use super::*;
    use crate::testing::TestEnv;
    use serde_json::json;

    #[test]
    fn newest_first_filtered_and_paged() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..10u64 {
            let user = if i % 2 == 0 { "a" } else { "b" };
            append(&ctx, if i < 5 { "code_sent" } else { "password_reset" }, Some(user), json!({ "i": i })).unwrap();
            env.clock.advance(10);
        }
        let all = list(ctx.store, &Query::default()).unwrap();
        assert_eq!(all.len(), 10);
        assert_eq!(all[0].seq, 10);
        assert_eq!(all[0].client_addr, "203.0.113.7");
        let a = list(ctx.store, &Query { user_id: Some("a".into()), ..Default::default() }).unwrap();
        assert!(a.iter().all(|e| e.user_id.as_deref() == Some("a")) && a.len() == 5);
        let resets = list(ctx.store, &Query { kind: Some("password_reset".into()), ..Default::default() }).unwrap();
        assert_eq!(resets.len(), 5);
        let page1 = list(ctx.store, &Query { limit: Some(3), ..Default::default() }).unwrap();
        let page2 =
            list(ctx.store, &Query { limit: Some(3), before: Some(page1[2].seq), ..Default::default() }).unwrap();
        assert_eq!(page2.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![7, 6, 5]);
        let t0 = all[9].at;
        let recent =
            list(ctx.store, &Query { since: Some(t0 + 50), until: Some(t0 + 80), ..Default::default() }).unwrap();
        assert_eq!(recent.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![8, 7, 6]);
        assert_eq!(serde_json::to_value(&all[0]).unwrap()["type"], "password_reset");
    }
}
