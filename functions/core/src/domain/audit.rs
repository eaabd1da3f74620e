//! The append-only audit trail: `audit:<seq>` records numbered by an atomic
//! counter, never holding a secret (callers pass ids, methods, masked hints),
//! and a per-user index (`audit-user:<id>:<n>` → seq) so that one user's
//! events are listed without walking everyone's.

use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
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
    /// Whether the per-user index holds this event (false for events written
    /// before it existed; the admin reindex adds those).
    #[serde(default)]
    pub indexed: bool,
}

/// Appends an event and returns its sequence number.
pub fn append(ctx: &Ctx, kind: &str, user_id: Option<&str>, detail: Value) -> Result<u64> {
    let seq = Counter::new(ctx.store, SEQ_KEY).add(1)? as u64;
    let event = Event {
        seq,
        at: ctx.now(),
        kind: kind.to_owned(),
        user_id: user_id.map(str::to_owned),
        client_addr: ctx.client_addr.clone(),
        detail,
        indexed: true,
    };
    let bytes = serde_json::to_vec(&event).map_err(|_| ApiError::internal("Encoding an audit event failed."))?;
    let mut records = vec![(keys::audit(seq), bytes)];
    if let Some(user_id) = user_id {
        let n = Counter::new(ctx.store, keys::audit_user_seq(user_id)).add(1)? as u64;
        records.push((keys::audit_user(user_id, n), seq.to_string().into_bytes()));
    }
    // The request's expiry entry so far rides along. One write for all: if it
    // fails, each sequence has a hole, which its readers skip.
    records.extend(ctx.take_expiry_entry()?);
    ctx.store.set_many(&records)?;
    Ok(seq)
}

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
    // With a user filter, walk that user's index; otherwise the global sequence.
    let seqs: Box<dyn Iterator<Item = Result<Option<u64>>>> = match &q.user_id {
        Some(user_id) => {
            let last = Counter::new(store, keys::audit_user_seq(user_id)).read()?.max(0) as u64;
            Box::new((1..=last).rev().map(move |n| {
                let seq = store.get(&keys::audit_user(user_id, n))?;
                Ok(seq.and_then(|s| String::from_utf8_lossy(&s).parse().ok()))
            }))
        }
        None => Box::new((1..=start).rev().map(|seq| Ok(Some(seq)))),
    };
    let mut out = Vec::new();
    for seq in seqs {
        let Some(seq) = seq? else { continue };
        if seq > start {
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
        out.push(event);
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
        use crate::testing::CountingStore;
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..200 {
            append(&ctx, "noise", Some(&format!("other{i}")), json!({})).unwrap();
            if i % 50 == 0 {
                append(&ctx, "signin_failed", Some("jane"), json!({ "i": i })).unwrap();
            }
        }
        let counting = CountingStore::new(&env.store);
        let q = Query { user_id: Some("jane".into()), limit: Some(3), ..Default::default() };
        let events = list(&counting, &q).unwrap();
        let order: Vec<u64> = events.iter().map(|e| e.detail["i"].as_u64().unwrap()).collect();
        assert_eq!(order, [150, 100, 50], "newest first");
        assert!(counting.reads() <= 2 + 3 * 2, "bounded by the page: {}", counting.reads());
        let before = Query { before: Some(events[2].seq), ..q };
        assert_eq!(list(&*env.store, &before).unwrap().len(), 1);
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
