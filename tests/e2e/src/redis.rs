//! Redis for the tests that share one store between hosts: a `redis-server`
//! of the test's own (Debian's; `tests/run.sh` installs it) on a free loopback
//! port with no persistence, and a core [`Store`] on it that reads and writes
//! the keys the way Spin's Redis store lays them out (plain keys, counters as
//! decimal text from `INCRBY`), so fixtures go through core as on SQLite.

use redis::{Commands, Connection};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use unlatch_core::{Store, StoreError, WholeStoreScan};

/// `redis-server --port <free> --save '' --appendonly no` on 127.0.0.1; killed on drop.
pub struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = crate::app::free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server runs (`apt-get install -y redis-server`; tests/run.sh does it)");
            let url = format!("redis://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    break; // the port was taken meanwhile: try another
                }
                if redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).is_ok() {
                    return RedisServer { child, url };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    /// `redis://127.0.0.1:<port>`, as a runtime config's `url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A core [`Store`] on a Redis database, laid out as Spin's Redis store does.
pub struct RedisStore(Mutex<Connection>);

impl RedisStore {
    pub fn open(url: &str) -> RedisStore {
        let conn = redis::Client::open(url).and_then(|c| c.get_connection()).expect("connect to Redis");
        RedisStore(Mutex::new(conn))
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every key and its raw value.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        let mut keys = self.keys_with_prefix("").unwrap();
        keys.sort();
        keys.into_iter().filter_map(|k| self.get(&k).unwrap().map(|v| (k, v))).collect()
    }
}

fn other(e: redis::RedisError) -> StoreError {
    StoreError::Other(e.to_string())
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn().get(key).map_err(other)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.conn().set(key, value).map_err(other)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.conn().del(key).map_err(other)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.conn().incr(key, delta).map_err(|_| StoreError::NotACounter)
    }

    /// A correct CAS (the fixtures' own, not Spin's): `WATCH`, compare, `MULTI`/`SET`/`EXEC`.
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let mut c = self.conn();
        redis::cmd("WATCH").arg(key).exec(&mut *c).map_err(other)?;
        let now: Option<Vec<u8>> = c.get(key).map_err(other)?;
        if now.as_deref() != Some(expected) {
            redis::cmd("UNWATCH").exec(&mut *c).map_err(other)?;
            return Ok(false);
        }
        let done: Option<()> = redis::pipe().atomic().set(key, new).ignore().query(&mut *c).map_err(other)?;
        Ok(done.is_some())
    }
}

impl WholeStoreScan for RedisStore {
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn();
        let mut pattern = String::new();
        for ch in prefix.chars() {
            if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(ch);
        }
        pattern.push('*');
        let keys: Vec<String> = c.scan_match(pattern).map_err(other)?.collect();
        Ok(keys)
    }
}
