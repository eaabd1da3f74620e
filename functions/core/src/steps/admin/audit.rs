//! The audit log as the operator reads it: filtered, newest first, in pages.

use super::validate::{number_param, parse_query, text_param};
use crate::domain::audit;
use crate::domain::users;
use crate::errors::Result;
use crate::platform::ctx::Ctx;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub events: Vec<audit::Event>,
    /// Pass as `before` for the next (older) page; `null` when this page was not full.
    pub next_before: Option<u64>,
}

/// `GET /api/admin/audit?user=&type=&since=&until=&limit=&before=`, newest
/// first. `user` is a user id or a username; times are Unix seconds.
pub fn list_audit(ctx: &Ctx, query: &str) -> Result<AuditPage> {
    let q = parse_query(query, &["user", "type", "since", "until", "limit", "before"])?;
    let user_id = match text_param(&q, "user")? {
        Some(u) => Some(users::find_by_username(ctx.store, &u)?.map_or(u, |found| found.id)),
        None => None,
    };
    let limit = number_param(&q, "limit", 1..=500)?.map_or(50, |n| n as usize);
    let query = audit::Query {
        user_id,
        kind: text_param(&q, "type")?,
        since: number_param(&q, "since", 0..=u64::MAX / 2)?,
        until: number_param(&q, "until", 0..=u64::MAX / 2)?,
        before: number_param(&q, "before", 1..=u64::MAX / 2)?,
        limit: Some(limit),
    };
    if query.user_id.is_some() {
        // A user's list reads their index: bring it up to date first (bounded).
        audit::index_pending(ctx, audit::INDEX_BATCH)?;
    }
    let events = audit::list(ctx.store, &query)?;
    let next_before = (events.len() == limit).then(|| events.last().map(|e| e.seq)).flatten();
    Ok(AuditPage { events, next_before })
}
