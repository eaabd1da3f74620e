//! Seeds N users with [`EVENTS`] audit events each straight into a store, laid
//! out exactly as the app writes them (`docs/design.md`, §6 "KV key layout"),
//! by cloning the [`Template`] records with new ids, usernames and sequence
//! numbers:
//!
//! - the admin: `user:<id>`, `username:<key>`, `username-claim:<key>`,
//!   `user-index:1`, and `admins`, `admins-claim`, `policy`;
//! - user k (1..=N): `user:<id>`, `username:<key>`, `username-claim:<key>`,
//!   `user-index:<k+1>` → id; events `audit:<seq>`, `audit-user:<id>:<n>` → seq
//!   (decimal text), `audit-user-seq:<id>`;
//! - `user-index-seq` = N + 1, `audit-seq` = N × EVENTS, and the per-user
//!   index and the sweep caught up with them (`audit-index-cursor`,
//!   `audit-sweep-cursor`), as in a store whose sweep runs: the seeded events
//!   carry no stale keys and count as indexed.
//!
//! Counters are what each backend's `increment` stores: 8-byte little-endian
//! i64 in Spin's SQLite table, decimal text on Redis. SQLite gets one
//! transaction of prepared inserts into `spin_key_value(store, key, value)`;
//! Redis gets pipelined `MSET`s.

use crate::template::{EVENTS, Template};
use rusqlite::{Connection, params};
use std::path::Path;
use unlatch_core::audit::Event;

/// The store's encoding of counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Redis,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Redis => "Redis",
        }
    }

    fn counter(self, n: u64) -> Vec<u8> {
        match self {
            Backend::Sqlite => (n as i64).to_le_bytes().to_vec(),
            Backend::Redis => n.to_string().into_bytes(),
        }
    }
}

type Row = (String, Vec<u8>);

/// Users seeded per batch (one `MSET` pipeline, or that many users' inserts).
const BATCH: u64 = 2000;

/// The username of seeded user `k`; it is its own lookup key (lower-case ASCII).
pub fn username(k: u64) -> String {
    format!("user{k:07}@scale.example")
}

/// The id of seeded user `k`: 32 hex digits like the app's, in `k` order.
pub fn user_id(k: u64) -> String {
    format!("5ca1e{k:027x}")
}

/// The keys not tied to a seeded user.
fn global_rows(t: &Template, b: Backend, n: u64) -> Vec<Row> {
    let admin_id = t.admin_id.as_bytes().to_vec();
    vec![
        ("policy".into(), t.policy.clone()),
        (format!("user:{}", t.admin_id), t.admin_record.clone()),
        (format!("username:{}", t.admin_key), admin_id.clone()),
        (format!("username-claim:{}", t.admin_key), b.counter(1)),
        ("user-index:1".into(), admin_id),
        ("admins".into(), t.admins.clone()),
        ("admins-claim".into(), b.counter(1)),
        ("user-index-seq".into(), b.counter(n + 1)),
        ("audit-seq".into(), b.counter(n * EVENTS as u64)),
        ("audit-index-cursor".into(), format!("{}:0", n * EVENTS as u64).into_bytes()),
        ("audit-sweep-cursor".into(), format!("{}:0", n * EVENTS as u64).into_bytes()),
    ]
}

/// Every key of seeded user `k`.
fn user_rows(t: &Template, b: Backend, k: u64, out: &mut Vec<Row>) {
    let (id, name) = (user_id(k), username(k));
    let mut user = t.user.clone();
    user.id.clone_from(&id);
    user.username.clone_from(&name);
    user.display_name = format!("Scale User {k}");
    user.index = k + 1;
    out.push((format!("user:{id}"), serde_json::to_vec(&user).unwrap()));
    out.push((format!("username:{name}"), id.clone().into_bytes()));
    out.push((format!("username-claim:{name}"), b.counter(1)));
    out.push((format!("user-index:{}", k + 1), id.clone().into_bytes()));
    for (n, template) in t.events.iter().enumerate() {
        let seq = (k - 1) * EVENTS as u64 + n as u64 + 1;
        let event = Event { seq, user_id: Some(id.clone()), indexed: true, expiring: None, ..template.clone() };
        out.push((format!("audit:{seq}"), serde_json::to_vec(&event).unwrap()));
        out.push((format!("audit-user:{id}:{}", n + 1), seq.to_string().into_bytes()));
    }
    out.push((format!("audit-user-seq:{id}"), b.counter(EVENTS as u64)));
}

/// Hands every row to `write`, a batch of users at a time.
fn for_each_batch(t: &Template, b: Backend, n: u64, mut write: impl FnMut(&[Row])) {
    write(&global_rows(t, b, n));
    let mut rows = Vec::new();
    for first in (1..=n).step_by(BATCH as usize) {
        rows.clear();
        for k in first..=(first + BATCH - 1).min(n) {
            user_rows(t, b, k, &mut rows);
        }
        write(&rows);
    }
}

/// Seeds a new SQLite key-value file at `path` (Spin's table layout).
pub fn sqlite(t: &Template, path: &Path, n: u64) {
    let _ = std::fs::remove_file(path);
    let mut conn = Connection::open(path).expect("create the key-value file");
    // Seeding only: no journal, no fsync, a large page cache. None of these
    // persist in the file; the host opens it with Spin's defaults.
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -2000000;
         CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))",
    )
    .expect("the spin_key_value table");
    let tx = conn.transaction().expect("a transaction");
    {
        let mut insert =
            tx.prepare("INSERT INTO spin_key_value (store, key, value) VALUES ('default', ?1, ?2)").unwrap();
        for_each_batch(t, Backend::Sqlite, n, |rows| {
            for (key, value) in rows {
                insert.execute(params![key, value]).expect("insert a row");
            }
        });
    }
    tx.commit().expect("commit the seeded users");
}

/// Seeds the (empty) Redis at `url`.
pub fn redis(t: &Template, url: &str, n: u64) {
    let mut conn = redis::Client::open(url).and_then(|c| c.get_connection()).expect("connect to Redis");
    for_each_batch(t, Backend::Redis, n, |rows| {
        let mut pipe = redis::pipe();
        for chunk in rows.chunks(500) {
            let mset = pipe.cmd("MSET");
            for (key, value) in chunk {
                mset.arg(key).arg(value);
            }
            mset.ignore();
        }
        pipe.exec(&mut conn).expect("MSET a batch");
    });
}
