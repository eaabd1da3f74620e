//! `POST /api/admin/maintenance/reindex`: a one-off, resumable pass that gives
//! a store written before the indexes existed its user index, its admins
//! record, its per-user audit index and its expiry index. Each call does a
//! bounded amount of work and says whether more remains; call it until `done`
//! is true.
//!
//! It is the one request that lists keys ([`WholeStoreScan`]): finding what
//! predates an index has no other way in. It is an operator's one-off, never
//! on a user's path, and no other step is handed the listing.

use super::maintenance::EXPIRING_FAMILIES;
use crate::domain::audit;
use crate::domain::users::{self, User};
use crate::errors::Result;
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::WholeStoreScan;
use serde_json::{Value, json};

/// Users and audit events handled per call.
pub const REINDEX_BATCH: usize = 200;

pub fn reindex(ctx: &Ctx, scan: &dyn WholeStoreScan) -> Result<Value> {
    let users = reindex_users(ctx, scan, REINDEX_BATCH)?;
    // The per-user audit index is built behind the requests anyway; the
    // same walk takes in the events older than it.
    let (events, audit_done) = audit::index_pending(ctx, REINDEX_BATCH)?;
    let filed = reindex_expiry(ctx, scan, REINDEX_BATCH)?;
    let done = users < REINDEX_BATCH && audit_done && filed < REINDEX_BATCH;
    let detail = json!({ "actor": super::ACTOR, "users": users, "events": events, "keys_filed": filed });
    audit::append(ctx, "admin_reindex", None, detail)?;
    Ok(json!({ "users_indexed": users, "events_indexed": events, "keys_filed": filed, "done": done }))
}

/// Gives up to `max` users without an index slot their slot (and the admins their place in the record).
fn reindex_users(ctx: &Ctx, scan: &dyn WholeStoreScan, max: usize) -> Result<usize> {
    let mut done = 0;
    for key in scan.keys_with_prefix("user:")? {
        if done == max {
            break;
        }
        let Some(user) = kv::get_json::<User>(ctx.store, &key)? else { continue };
        if user.index > 0 {
            continue;
        }
        let n = Counter::new(ctx.store, keys::USER_INDEX_SEQ).add(1)? as u64;
        ctx.store.set(&keys::user_index(n), user.id.as_bytes())?;
        users::update(ctx.store, &user.id, |u| u.index = n)?;
        if user.is_admin() {
            users::set_admin(ctx.store, &user.id, true)?;
        }
        done += 1;
    }
    Ok(done)
}

/// Files up to `max` keys of the expiring families in the expiry index, in key
/// order from a stored cursor (the sweep re-checks each, so filing a key the
/// index already holds is harmless); returns how many.
fn reindex_expiry(ctx: &Ctx, scan: &dyn WholeStoreScan, max: usize) -> Result<usize> {
    let after = ctx.store.get(keys::REINDEX_EXPIRY_CURSOR)?.map(|v| String::from_utf8_lossy(&v).into_owned());
    let mut pending = Vec::new();
    for (family, _) in EXPIRING_FAMILIES {
        pending.extend(scan.keys_with_prefix(family)?.into_iter().filter(|k| after.as_ref().is_none_or(|a| k > a)));
    }
    pending.sort_unstable();
    pending.truncate(max);
    for key in &pending {
        ctx.expires(key, ctx.now());
    }
    if let Some(last) = pending.last() {
        ctx.store.set(keys::REINDEX_EXPIRY_CURSOR, last.as_bytes())?;
    }
    Ok(pending.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::users::{Contacts, NewUser, Role};
    use crate::platform::store::Store;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::TestEnv;

    /// Turns the store back into one written before the indexes: no index
    /// slots, no admins record, audit events not in the per-user index.
    fn age(env: &TestEnv) {
        for key in env.store.keys_with_prefix("").unwrap() {
            if key.starts_with("user-index")
                || key.starts_with("expiry")
                || key == keys::ADMINS
                || key == keys::ADMINS_CLAIM
                || key.starts_with("audit-user")
            {
                env.store.delete(&key).unwrap();
            } else if key.starts_with("user:") {
                let mut v: Value = kv::get_json(&*env.store, &key).unwrap().unwrap();
                v.as_object_mut().unwrap().remove("index");
                kv::put_json(&*env.store, &key, &v).unwrap();
            } else if key.starts_with("audit:") {
                let mut v: Value = kv::get_json(&*env.store, &key).unwrap().unwrap();
                v.as_object_mut().unwrap().remove("indexed");
                kv::put_json(&*env.store, &key, &v).unwrap();
            }
        }
    }

    #[test]
    fn an_old_store_gets_its_indexes_in_bounded_resumable_calls() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..(REINDEX_BATCH + 50) {
            let role = if i == 3 { Role::Admin } else { Role::User };
            let contacts = Contacts { alternate_email: Some(format!("p{i}@contoso.com")), ..Default::default() };
            let user = users::create(
                &ctx,
                NewUser { username: format!("u{i}"), password: "x".into(), role, contacts, ..Default::default() },
            )
            .unwrap();
            audit::append(&ctx, "signin_failed", Some(&user.id), json!({})).unwrap();
        }
        // A context per request, as the components have: its expiring keys are filed when it ends.
        let old_flow = crate::testing::written_flow(&env.ctx(), "u1");
        age(&env);
        assert!(users::admin_emails(&*env.store, None, 10).unwrap().is_empty(), "the old store has no admins record");

        let first = reindex(&env.ctx(), &*env.store).unwrap();
        assert_eq!(
            (first["users_indexed"].as_u64(), first["done"].as_bool()),
            (Some(REINDEX_BATCH as u64), Some(false))
        );
        let mut calls = 1;
        while !reindex(&env.ctx(), &*env.store).unwrap()["done"].as_bool().unwrap() {
            calls += 1;
            assert!(calls < 10, "each call makes progress");
        }
        assert_eq!(users::admin_emails(&*env.store, None, 10).unwrap(), ["p3@contoso.com"]);
        let (all, next) = users::page(&*env.store, 0, 500).unwrap();
        assert_eq!((all.len(), next), (REINDEX_BATCH + 50, None), "every user is in the pager once");
        let one = &all[7];
        let q =
            audit::Query { user_id: Some(one.id.clone()), kind: Some("signin_failed".into()), ..Default::default() };
        assert_eq!(audit::list(&*env.store, &q).unwrap().len(), 1, "old events are in the per-user index");
        // Running it again changes nothing.
        let again = reindex(&env.ctx(), &*env.store).unwrap();
        assert_eq!((again["users_indexed"].as_u64(), again["keys_filed"].as_u64()), (Some(0), Some(0)));
        assert_eq!(users::page(&*env.store, 0, 500).unwrap().0.len(), REINDEX_BATCH + 50);
        // The flow from before the expiry index is found by the sweep once stale.
        let flow_key = keys::flow(&old_flow.handle(&ctx));
        env.clock.advance(2 * 86400);
        while !super::super::maintenance::sweep(&env.ctx(), 1000).unwrap().caught_up {}
        assert!(env.store.get(&flow_key).unwrap().is_none());
    }
}
