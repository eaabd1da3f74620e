//! SQLite-backed key-value storage shared by `fermyon:spin/key-value` and
//! `wasi:keyvalue`, shaped like Spin's own SQLite store (`crates/key-value-spin`)
//! so that what the app can tell or measure is the same: one connection per
//! process behind a lock, SQLite's default rollback journal and `synchronous`,
//! counters as 8-byte little-endian, `increment` as a read-then-write
//! transaction, and compare-and-swap as one guarded `UPDATE` (unguarded on an
//! absent key). The facts are tabled in this crate's README.

use crate::redis_kv::{CasConnection, RedisKv};
use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The only store label this runner provides (Spin's built-in store).
pub const DEFAULT_STORE: &str = "default";

#[derive(Clone)]
pub struct SqliteKv {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

/// Outcome of a compare-and-swap.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    Done,
    /// The value changed since the CAS read it.
    Conflict,
}

impl SqliteKv {
    pub fn open(path: &Path) -> Result<SqliteKv> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        // Spin sets no pragmas: rollback journal, `synchronous = FULL`, and
        // rusqlite's default 5 s busy timeout.
        let conn =
            Connection::open(path).with_context(|| format!("cannot open key-value database {}", path.display()))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
        )?;
        Ok(SqliteKv { conn: Arc::new(Mutex::new(conn)), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        Ok(f(&mut conn)?)
    }

    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| read(c, store, key))
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<()> {
        self.with_conn(|c| write(c, store, key, value))
    }

    pub fn delete(&self, store: &str, key: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2", params![store, key]).map(drop)
        })
    }

    pub fn exists(&self, store: &str, key: &str) -> Result<bool> {
        Ok(self.get(store, key)?.is_some())
    }

    pub fn keys(&self, store: &str) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            stmt.query_map(params![store], |row| row.get(0))?.collect()
        })
    }

    /// Adds `delta` to the counter at `key` (absent = 0) and returns the new
    /// value, stored as 8 bytes little-endian, in one deferred transaction as
    /// Spin does. A value that is not 8 bytes is an error (Spin's host panics
    /// there and breaks every later increment; the app must never get here).
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        let tx = conn.transaction()?;
        let current = match read(&tx, store, key)? {
            None => 0,
            Some(bytes) => i64::from_le_bytes(
                bytes.as_slice().try_into().map_err(|_| anyhow!("value of `{key}` is not an 8-byte counter"))?,
            ),
        };
        let Some(next) = current.checked_add(delta) else {
            bail!("increment of `{key}` overflows");
        };
        write(&tx, store, key, &next.to_le_bytes())?;
        tx.commit()?;
        Ok(next)
    }

    /// Writes `value` if `key` still holds `expected`: one `UPDATE … WHERE
    /// value = expected`, as Spin's SQLite CAS does.
    ///
    /// `expected == None` (key absent when the CAS read it) is NOT guarded: the
    /// value is written unconditionally. This mirrors Spin's SQLite backend,
    /// so the app must not rely on CAS to create a key exactly once.
    pub fn swap(&self, store: &str, key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<Swap> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        let Some(expected) = expected else {
            let tx = conn.transaction()?;
            write(&tx, store, key, value)?;
            tx.commit()?;
            return Ok(Swap::Done);
        };
        let changed = conn
            .prepare_cached("UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3")?
            .execute(params![store, key, expected, value])?;
        Ok(if changed == 1 { Swap::Done } else { Swap::Conflict })
    }

    /// Sets every pair in one transaction (`wasi:keyvalue/batch.set-many`).
    pub fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        let tx = conn.transaction()?;
        for (key, value) in pairs {
            write(&tx, store, key, value)?;
        }
        tx.commit()?;
        Ok(())
    }
}

fn read(c: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
        .query_row(params![store, key], |row| row.get(0))
        .optional()
}

fn write(c: &Connection, store: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![store, key, value])
    .map(drop)
}

/// The runner's `default` store: SQLite (Spin's `type = "spin"`) or Redis
/// (`type = "redis"`, `crate::redis_kv`). Store labels are checked by the host.
#[derive(Clone)]
pub enum KvStore {
    Sqlite(SqliteKv),
    Redis(RedisKv),
}

/// A compare-and-swap's state: SQLite remembers the value `current` read;
/// Redis has a connection of its own, on which `current` sent `WATCH`.
pub enum CasState {
    Sqlite { expected: Option<Vec<u8>> },
    Redis(CasConnection),
}

impl KvStore {
    pub fn open(path: &Path) -> Result<KvStore> {
        Ok(KvStore::Sqlite(SqliteKv::open(path)?))
    }

    pub fn open_redis(url: &str) -> Result<KvStore> {
        Ok(KvStore::Redis(RedisKv::open(url)?))
    }

    pub fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>> {
        match self {
            KvStore::Sqlite(s) => s.get(store, key),
            KvStore::Redis(r) => r.get(key),
        }
    }

    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<()> {
        match self {
            KvStore::Sqlite(s) => s.set(store, key, value),
            KvStore::Redis(r) => r.set(key, value),
        }
    }

    pub fn delete(&self, store: &str, key: &str) -> Result<()> {
        match self {
            KvStore::Sqlite(s) => s.delete(store, key),
            KvStore::Redis(r) => r.delete(key),
        }
    }

    pub fn exists(&self, store: &str, key: &str) -> Result<bool> {
        match self {
            KvStore::Sqlite(s) => s.exists(store, key),
            KvStore::Redis(r) => r.exists(key),
        }
    }

    pub fn keys(&self, store: &str) -> Result<Vec<String>> {
        match self {
            KvStore::Sqlite(s) => s.keys(store),
            KvStore::Redis(r) => r.keys(),
        }
    }

    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64> {
        match self {
            KvStore::Sqlite(s) => s.increment(store, key, delta),
            KvStore::Redis(r) => r.increment(key, delta),
        }
    }

    pub fn get_many(&self, store: &str, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        match self {
            KvStore::Sqlite(s) => keys.iter().map(|k| Ok((k.clone(), s.get(store, k)?))).collect(),
            KvStore::Redis(r) => r.get_many(keys),
        }
    }

    pub fn set_many(&self, store: &str, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        match self {
            KvStore::Sqlite(s) => s.set_many(store, pairs),
            KvStore::Redis(r) => r.set_many(pairs),
        }
    }

    pub fn delete_many(&self, store: &str, keys: &[String]) -> Result<()> {
        match self {
            KvStore::Sqlite(s) => keys.iter().try_for_each(|k| s.delete(store, k)),
            KvStore::Redis(r) => r.delete_many(keys),
        }
    }

    /// A new CAS (`atomics.cas.new`): reads nothing on either backend.
    pub fn cas_new(&self) -> Result<CasState> {
        match self {
            KvStore::Sqlite(_) => Ok(CasState::Sqlite { expected: None }),
            KvStore::Redis(r) => Ok(CasState::Redis(r.cas_connection()?)),
        }
    }

    /// `atomics.cas.current`: the value now, remembered (SQLite) or watched (Redis).
    pub fn cas_current(&self, store: &str, key: &str, cas: &mut CasState) -> Result<Option<Vec<u8>>> {
        match (self, cas) {
            (KvStore::Sqlite(s), CasState::Sqlite { expected }) => {
                let value = s.get(store, key)?;
                expected.clone_from(&value);
                Ok(value)
            }
            (_, CasState::Redis(conn)) => RedisKv::cas_current(conn, key),
            (KvStore::Redis(_), CasState::Sqlite { .. }) => bail!("CAS state from another store"),
        }
    }

    /// `atomics.swap`.
    pub fn cas_swap(&self, store: &str, key: &str, cas: &CasState, value: &[u8]) -> Result<Swap> {
        match (self, cas) {
            (KvStore::Sqlite(s), CasState::Sqlite { expected }) => s.swap(store, key, expected.as_deref(), value),
            (_, CasState::Redis(conn)) => RedisKv::cas_swap(conn, key, value),
            (KvStore::Redis(_), CasState::Sqlite { .. }) => bail!("CAS state from another store"),
        }
    }
}
