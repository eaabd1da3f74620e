//! SQLite-backed key-value storage shared by `fermyon:spin/key-value` and
//! `wasi:keyvalue`. One connection per runner; atomic operations use
//! `BEGIN IMMEDIATE` so they also serialise against other processes on the file.

use anyhow::{Context, Result, anyhow, bail};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The only store label this runner provides (Spin's built-in store).
pub const DEFAULT_STORE: &str = "default";

#[derive(Clone)]
pub struct KvStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

/// Outcome of a compare-and-swap.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    Done,
    /// The value changed since the CAS handle was created; carries the current value.
    Conflict(Option<Vec<u8>>),
}

impl KvStore {
    pub fn open(path: &Path) -> Result<KvStore> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open key-value database {}", path.display()))?;
        // Generous timeout: concurrent runners on one file wait rather than fail.
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
        )?;
        Ok(KvStore { conn: Arc::new(Mutex::new(conn)), path: path.to_path_buf() })
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
            c.execute("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2", params![store, key])
                .map(drop)
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

    /// Adds `delta` to the decimal-text counter at `key` (absent = 0) and returns the new value.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = match read(&tx, store, key)? {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| anyhow!("value of `{key}` is not a decimal integer"))?,
        };
        let Some(next) = current.checked_add(delta) else {
            bail!("increment of `{key}` overflows");
        };
        write(&tx, store, key, next.to_string().as_bytes())?;
        tx.commit()?;
        Ok(next)
    }

    /// Writes `value` if `key` still holds `expected`, atomically.
    ///
    /// `expected == None` (key absent when the CAS began) is NOT guarded: the
    /// value is written unconditionally. This mirrors Spin's SQLite backend,
    /// so the app must not rely on CAS to create a key exactly once.
    pub fn swap(&self, store: &str, key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<Swap> {
        let mut conn = self.conn.lock().map_err(|_| anyhow!("key-value connection poisoned"))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(expected) = expected {
            let current = read(&tx, store, key)?;
            if current.as_deref() != Some(expected) {
                return Ok(Swap::Conflict(current));
            }
        }
        write(&tx, store, key, value)?;
        tx.commit()?;
        Ok(Swap::Done)
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
