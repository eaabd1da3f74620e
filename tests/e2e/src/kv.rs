//! The app's key-value file read and written the way Spin's SQLite backend lays
//! it out (`spin_key_value(store, key, value)`, counters as 8-byte
//! little-endian), as a core [`Store`], so tests create users and read state
//! through core exactly as the components see it — on the runner or on a real
//! Spin, without either's internals.

use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use unlatch_core::{Store, StoreError, WholeStoreScan};

/// Spin's one store label.
const LABEL: &str = "default";

pub struct SqliteStore(Connection);

impl SqliteStore {
    pub fn open(path: &Path) -> SqliteStore {
        let conn = Connection::open(path).expect("open the app's key-value file");
        // The host may be writing; wait for its lock as Spin's own connection would.
        conn.busy_timeout(std::time::Duration::from_secs(30)).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))",
        )
        .expect("the spin_key_value table");
        SqliteStore(conn)
    }

    /// Every key and its raw value, for tests that scan the whole store.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut stmt = self.0.prepare("SELECT key, value FROM spin_key_value WHERE store = ?1 ORDER BY key").unwrap();
        stmt.query_map(params![LABEL], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
    }
}

fn other(e: rusqlite::Error) -> StoreError {
    StoreError::Other(e.to_string())
}

fn upsert(c: &Connection, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
        params![LABEL, key, value],
    )
    .map(drop)
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0
            .query_row("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2", params![LABEL, key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(other)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        upsert(&self.0, key, value).map_err(other)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0
            .execute("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2", params![LABEL, key])
            .map(drop)
            .map_err(other)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        // IMMEDIATE: take the write lock before reading, so the host's
        // increments and ours never interleave.
        self.0.execute_batch("BEGIN IMMEDIATE").map_err(other)?;
        let result = (|| {
            let current = match self.get(key)? {
                None => 0,
                Some(v) => i64::from_le_bytes(v.as_slice().try_into().map_err(|_| StoreError::NotACounter)?),
            };
            let next = current.checked_add(delta).ok_or(StoreError::NotACounter)?;
            upsert(&self.0, key, &next.to_le_bytes()).map_err(other)?;
            Ok(next)
        })();
        self.0.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" }).map_err(other)?;
        result
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let changed = self
            .0
            .execute(
                "UPDATE spin_key_value SET value = ?4 WHERE store = ?1 AND key = ?2 AND value = ?3",
                params![LABEL, key, expected, new],
            )
            .map_err(other)?;
        Ok(changed == 1)
    }
}

impl WholeStoreScan for SqliteStore {
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.0.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1").map_err(other)?;
        let keys = stmt.query_map(params![LABEL], |row| row.get::<_, String>(0)).map_err(other)?;
        keys.map(|k| k.map_err(other)).filter(|k| k.as_ref().map_or(true, |k| k.starts_with(prefix))).collect()
    }
}
