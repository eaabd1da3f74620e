//! The Redis key-value store, acting as Spin's own (`crates/key-value-redis`,
//! Spin 3.x) does wherever the app can tell: the store label is not part of the
//! key, `get`/`set`/`delete`/`exists` are one command each, `get-keys` is
//! `KEYS *`, `increment` is `INCRBY` (counters are decimal text), `set-many` is
//! `MSET`, `delete-many` one `DEL`, and compare-and-swap is `WATCH` + `GET` on
//! a connection of its own, then `MULTI`/`SET`/`EXEC`. Spin's two faults are
//! reproduced on purpose (marked `SPIN FAULT`), so the app is tested against
//! them. Facts tabled in this crate's README.

use crate::kv::Swap;
use anyhow::{Context, Result};
use redis::{Client, Commands, Connection};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct RedisKv {
    client: Client,
    url: String,
    /// Idle connections for one-command operations (CAS opens its own).
    idle: Arc<Mutex<Vec<Connection>>>,
}

/// A CAS's own connection: `WATCH` is scoped to a connection, as in Spin.
pub type CasConnection = Arc<Mutex<Connection>>;

impl RedisKv {
    pub fn open(url: &str) -> Result<RedisKv> {
        let client = Client::open(url).with_context(|| format!("invalid Redis URL {url}"))?;
        let kv = RedisKv { client, url: url.to_string(), idle: Arc::new(Mutex::new(Vec::new())) };
        // Fail at startup, not on the first request, when Redis is not there.
        let conn = kv.client.get_connection().with_context(|| format!("cannot connect to Redis at {url}"))?;
        kv.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        Ok(kv)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `op` on an idle connection (or a new one); a connection that saw
    /// an error is dropped rather than reused.
    fn with_conn<T>(&self, op: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Result<T> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => self.client.get_connection().context("cannot connect to Redis")?,
        };
        let result = op(&mut conn);
        if result.is_ok() {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
        Ok(result?)
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_conn(|c| c.get(key))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.with_conn(|c| c.set(key, value))
    }

    pub fn delete(&self, key: &str) -> Result<()> {
        self.with_conn(|c| c.del(key))
    }

    pub fn exists(&self, key: &str) -> Result<bool> {
        self.with_conn(|c| c.exists(key))
    }

    /// `KEYS *`: every key of the whole Redis database, in Redis's order. It
    /// blocks that Redis (shared by every host) for as long as it runs.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.with_conn(|c| c.keys("*"))
    }

    /// `INCRBY`: the counter is decimal text; a value that is not an integer is an error.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        self.with_conn(|c| c.incr(key, delta))
    }

    /// SPIN FAULT (`get-many`): Spin sends `KEYS <key> <key> …` where `MGET`
    /// was meant. Redis refuses `KEYS` with more than one argument, and with one
    /// it answers key names, not (key, value) pairs, so the call fails (or, when
    /// nothing matches, answers an empty list). The app must not use `get-many`.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        self.with_conn(|c| redis::cmd("KEYS").arg(keys).query(c))
    }

    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<()> {
        self.with_conn(|c| c.mset(pairs))
    }

    pub fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.with_conn(|c| c.del(keys))
    }

    /// A connection for one CAS, opened when the CAS is created, as Spin does.
    pub fn cas_connection(&self) -> Result<CasConnection> {
        Ok(Arc::new(Mutex::new(self.client.get_connection().context("cannot connect to Redis")?)))
    }

    /// `WATCH key`, then `GET key`, on the CAS's connection.
    pub fn cas_current(conn: &CasConnection, key: &str) -> Result<Option<Vec<u8>>> {
        let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
        redis::cmd("WATCH").arg(key).exec(&mut c)?;
        Ok(c.get(key)?)
    }

    /// `MULTI`, `SET key value`, `EXEC` on the CAS's connection: the write
    /// lands unless the key changed since `WATCH` (or always, with no `WATCH`).
    ///
    /// SPIN FAULT (`swap`): Spin then sends `UNWATCH key`. `UNWATCH` takes no
    /// argument, so Redis answers an error, which Spin reports as `cas-failed`
    /// before it looks at `EXEC`'s result. Every swap is therefore reported as
    /// failed, whether the value was written or not: the caller must re-read
    /// to know. Observed on Spin 3.2; still so in Spin's current source.
    pub fn cas_swap(conn: &CasConnection, key: &str, value: &[u8]) -> Result<Swap> {
        let mut c = conn.lock().unwrap_or_else(|e| e.into_inner());
        let written: redis::RedisResult<()> = redis::pipe().atomic().set(key, value).query(&mut c);
        if redis::cmd("UNWATCH").arg(key).exec(&mut c).is_err() {
            return Ok(Swap::Conflict);
        }
        Ok(match written {
            Ok(()) => Swap::Done,
            Err(_) => Swap::Conflict,
        })
    }
}
