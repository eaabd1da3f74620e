//! The expiry index: KV has no expiry and no prefix listing, so whoever writes
//! a record or counter that will go stale files its key under the minute it
//! goes stale: `expiry:<minute>:<n>` → key, `n` from the counter
//! `expiry-seq:<minute>`. The sweep ([`walk`]) visits the minutes from a
//! stored cursor up to a little before now, so each call's work is bounded by
//! its budget, never by the store's size, and every call makes progress.
//!
//! A request that appends an audit event files its keys in the event instead
//! ([`journal_part`]): the audit trail is numbered already, so the sweep walks
//! it too (`audit::walk_expiring`) and the request takes no number of its own.
//!
//! Filing is a hint, not the truth: the sweep re-checks each key (its owner's
//! `fate`), deletes it only when it really is stale, and files it again when it
//! is not yet. So a record whose life was extended, or a key filed twice, is
//! safe. The layout is in `docs/design.md` ("Expiry index").

use crate::platform::counter::Counter;
use crate::platform::keys;
use crate::platform::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// Minutes the sweep stays behind now, so a host whose clock runs a little
/// behind cannot file into a minute the sweep has already closed.
const SKEW_MINUTES: u64 = 2;

/// What the sweep should do with a filed key, as its owner judges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Stale: delete these keys (the key itself and whatever lives and dies with it).
    Stale(Vec<String>),
    /// Not stale yet: look again at this time.
    Until(u64),
    /// Already gone, or not a key the sweep knows: nothing to do.
    Gone,
}

/// Most keys one entry holds: a request files what it wrote in one entry
/// (`Ctx::expires`), and the sweep visits an entry whole.
pub const ENTRY_MAX: usize = 16;

/// Files `keys` (key, time it goes stale) in one entry, under the latest of
/// their times: one `increment` and one `set`, however many keys. A key may
/// so be looked at later than it went stale, never earlier; a time in the
/// past is filed for the next minute.
pub fn file(store: &dyn Store, now: u64, keys: &[(String, u64)]) -> Result<(), StoreError> {
    let Some(at) = keys.iter().map(|(_, at)| *at).max() else { return Ok(()) };
    let minute = at.max(now + 60) / 60;
    let n = Counter::new(store, keys::expiry_seq(minute)).add(1)?;
    let names: Vec<&str> = keys.iter().map(|(key, _)| key.as_str()).collect();
    let value = serde_json::to_vec(&names).map_err(|e| StoreError::Other(e.to_string()))?;
    // The first entry of a minute makes sure the sweep has somewhere to start.
    // An hour back covers every writer racing this one: their minutes are all
    // later than their own now.
    if n == 1 && store.get(keys::EXPIRY_CURSOR)?.is_none() {
        save_cursor(store, Cursor { minute: (now / 60).saturating_sub(60), done: 0 })?;
    }
    store.set(&keys::expiry(minute, n as u64), &value)
}

/// Keys that ride in an audit event (the journal): the latest time they go
/// stale, and their names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filed {
    pub at: u64,
    pub keys: Vec<String>,
}

/// How far ahead a key may go stale and still ride in the journal. The sweep
/// walks the journal in order and waits at the first entry not due yet, so
/// this bounds how long a due key waits behind it: flows (a day past their
/// expiry) and failed-proof days (two days) fit; a longer block goes to the index.
pub const JOURNAL_HORIZON: u64 = 2 * 86400 + 3600;

/// Takes out of `keys` those that go stale within [`JOURNAL_HORIZON`], as one
/// journal part (never due before the next minute, like an index entry).
pub fn journal_part(now: u64, keys: &mut Vec<(String, u64)>) -> Option<Filed> {
    let (near, far): (Vec<_>, Vec<_>) = keys.drain(..).partition(|(_, at)| *at <= now + JOURNAL_HORIZON);
    *keys = far;
    let at = near.iter().map(|(_, at)| *at).max()?.max(now + 60);
    Some(Filed { at, keys: near.into_iter().map(|(key, _)| key).collect() })
}

/// Where the sweep stands: the first minute not finished, and how many of its entries are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    minute: u64,
    done: u64,
}

fn load_cursor(store: &dyn Store) -> Result<Option<Cursor>, StoreError> {
    let Some(bytes) = store.get(keys::EXPIRY_CURSOR)? else { return Ok(None) };
    let text = String::from_utf8_lossy(&bytes);
    let parsed =
        text.split_once(':').and_then(|(m, d)| Some(Cursor { minute: m.parse().ok()?, done: d.parse().ok()? }));
    parsed.map(Some).ok_or_else(|| StoreError::Other("the expiry cursor is corrupt".into()))
}

// Two sweeps at once may move the cursor back: entries they both visit are
// visited twice, which is safe (deleting is idempotent, a fate is re-checked).
fn save_cursor(store: &dyn Store, c: Cursor) -> Result<(), StoreError> {
    store.set(keys::EXPIRY_CURSOR, format!("{}:{}", c.minute, c.done).as_bytes())
}

/// What one [`walk`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Walked {
    /// Entries visited.
    pub visited: usize,
    /// Whether the walk reached now (else call again).
    pub caught_up: bool,
}

/// Visits filed keys whose minute has passed, oldest first, from the stored
/// cursor; each minute looked at and each key visited costs one unit of
/// `budget` (an entry is visited whole). Each entry is removed once `visit`
/// returned for its keys; a minute is closed (its counter removed) once all
/// its entries are.
pub fn walk<E: From<StoreError>>(
    store: &dyn Store,
    now: u64,
    budget: usize,
    mut visit: impl FnMut(&str) -> Result<(), E>,
) -> Result<Walked, E> {
    let Some(mut cursor) = load_cursor(store)? else { return Ok(Walked { visited: 0, caught_up: true }) };
    // A minute and one of its entries at least, so every call makes progress.
    let budget = budget.max(2);
    let last = (now / 60).saturating_sub(SKEW_MINUTES);
    let (mut spent, mut visited) = (0, 0);
    while cursor.minute <= last && spent < budget {
        spent += 1;
        let seq = Counter::new(store, keys::expiry_seq(cursor.minute));
        let filed = seq.read()?.max(0) as u64;
        while cursor.done < filed && spent < budget {
            cursor.done += 1;
            spent += 1;
            let entry = keys::expiry(cursor.minute, cursor.done);
            if let Some(bytes) = store.get(&entry)? {
                // An entry that does not parse names nothing this code filed.
                for key in serde_json::from_slice::<Vec<String>>(&bytes).unwrap_or_default() {
                    visit(&key)?;
                    visited += 1;
                    spent += 1;
                }
            }
            store.delete(&entry)?;
        }
        if cursor.done < filed {
            break;
        }
        seq.delete()?;
        cursor = Cursor { minute: cursor.minute + 1, done: 0 };
    }
    save_cursor(store, cursor)?;
    Ok(Walked { visited, caught_up: cursor.minute > last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::MemoryStore;
    use crate::platform::store::WholeStoreScan;

    fn walk_all(store: &dyn Store, now: u64, budget: usize) -> (Vec<String>, Walked) {
        let mut seen = Vec::new();
        let walked = walk(store, now, budget, |k| {
            seen.push(k.to_owned());
            Ok::<_, StoreError>(())
        })
        .unwrap();
        (seen, walked)
    }

    #[test]
    fn keys_come_back_once_their_minute_has_passed_and_the_index_is_emptied() {
        let s = MemoryStore::new();
        let t0 = 1_800_000_000;
        let one = |key: &str, at: u64| vec![(key.to_owned(), at)];
        file(&s, t0, &one("flow:a", t0 + 600)).unwrap();
        file(&s, t0, &one("session:b", t0 + 7200)).unwrap();
        file(&s, t0, &one("throttle:c", t0 - 5)).unwrap();
        assert_eq!(walk_all(&s, t0, 100).0, Vec::<String>::new(), "nothing is due yet");
        let (seen, walked) = walk_all(&s, t0 + 600 + 3 * 60, 100_000);
        assert_eq!(seen, ["throttle:c", "flow:a"], "a past time is filed for the next minute");
        assert!(walked.caught_up);
        assert_eq!(walk_all(&s, t0 + 7200 + 3 * 60, 100_000).0, ["session:b"]);
        let left = s.keys_with_prefix("expiry").unwrap();
        assert_eq!(left, [keys::EXPIRY_CURSOR], "entries and minute counters are removed as they are walked");
    }

    #[test]
    fn a_small_budget_resumes_where_it_stopped_and_never_skips() {
        let s = MemoryStore::new();
        let t0 = 1_800_000_000;
        for i in 0..50 {
            file(&s, t0, &[(format!("k{i}"), t0 + 60 * (i % 7))]).unwrap();
        }
        let mut seen = Vec::new();
        let mut calls = 0;
        loop {
            let (batch, walked) = walk_all(&s, t0 + 3600, 5);
            assert!(batch.len() <= 5);
            seen.extend(batch);
            calls += 1;
            if walked.caught_up {
                break;
            }
        }
        seen.sort();
        let mut want: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        want.sort();
        assert_eq!(seen, want, "every key once, over {calls} calls");
    }

    #[test]
    fn one_entry_holds_a_request_s_keys_under_the_latest_time() {
        let s = MemoryStore::new();
        let t0 = 1_800_000_000;
        let keys = vec![("captcha-used:1:n".to_owned(), t0 + 300), ("flow:f".to_owned(), t0 + 900)];
        file(&s, t0, &keys).unwrap();
        assert_eq!(walk_all(&s, t0 + 600, 100).0, Vec::<String>::new(), "not before the latest time");
        assert_eq!(walk_all(&s, t0 + 900 + 180, 100).0, ["captcha-used:1:n", "flow:f"]);
    }

    #[test]
    fn a_store_where_nothing_was_filed_has_nothing_to_walk() {
        let s = MemoryStore::new();
        assert_eq!(walk_all(&s, 1_800_000_000, 10).1, Walked { visited: 0, caught_up: true });
        assert!(s.keys_with_prefix("").unwrap().is_empty(), "and the walk writes nothing");
    }
}
