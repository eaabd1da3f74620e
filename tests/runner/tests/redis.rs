//! The runner's Redis store (`type = "redis"`) against a real `redis-server`
//! (Debian's; `tests/run.sh` installs it) on a loopback port of this test's own.

mod common;

use common::{Fixture, get};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use unlatch_runner::kv::{KvStore, Swap};
use unlatch_runner::{Runner, RunnerConfig};

/// A `redis-server` with no persistence on a free loopback port; killed on drop.
struct RedisServer {
    child: Child,
    url: String,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install -y redis-server)");
        let url = format!("redis://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis::Client::open(url.as_str()).unwrap().get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, url }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn raw_get(url: &str, key: &str) -> Option<Vec<u8>> {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("GET").arg(key).query(&mut c).unwrap()
}

#[test]
fn the_probe_reads_writes_and_counts_in_redis() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let app = Runner::start(RunnerConfig { redis: Some(redis.url.clone()), ..fx.config() }).unwrap();
    assert_eq!(get(app.addr(), "/probe?op=kv-set&key=k&value=v1").body, "ok");
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").body, "v1");
    // The key is the app's key: Spin's Redis store does not prefix the store label.
    assert_eq!(raw_get(&redis.url, "k").as_deref(), Some(&b"v1"[..]));
    assert_eq!(get(app.addr(), "/probe?op=kv-delete&key=k").body, "ok");
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").status, 404);
    assert_eq!(get(app.addr(), "/probe?op=incr&key=n").body, "1");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=n&delta=41").body, "42");
    // `INCRBY`: counters are decimal text on Redis.
    assert_eq!(raw_get(&redis.url, "n").as_deref(), Some(&b"42"[..]));
    get(app.addr(), "/probe?op=kv-set&key=word&value=abc");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=word").status, 500, "not an integer");
    // No .spin directory: nothing went to SQLite.
    assert!(!fx.dir.path().join(".spin").exists());
}

#[test]
fn cas_swap_is_reported_failed_even_when_the_write_landed() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let app = Runner::start(RunnerConfig { redis: Some(redis.url.clone()), ..fx.config() }).unwrap();
    get(app.addr(), "/probe?op=kv-set&key=c&value=old");
    // No interference: the swap is reported as a conflict (Spin's `UNWATCH <key>`
    // is refused), yet the new value is stored.
    let reply = get(app.addr(), "/probe?op=cas&key=c&value=new");
    assert_eq!((reply.status, reply.body.as_str()), (409, "conflict:new"));
    assert_eq!(raw_get(&redis.url, "c").as_deref(), Some(&b"new"[..]));
    // Another write between `current` and `swap`: also a conflict, and this
    // time the swap did not land (`EXEC` aborted by `WATCH`).
    let reply = get(app.addr(), "/probe?op=cas&key=c&value=mine&interfere=theirs");
    assert_eq!((reply.status, reply.body.as_str()), (409, "conflict:theirs"));
    assert_eq!(raw_get(&redis.url, "c").as_deref(), Some(&b"theirs"[..]));
    // An absent key: not guarded, written, and still reported failed.
    let reply = get(app.addr(), "/probe?op=cas&key=fresh&value=x");
    assert_eq!(reply.status, 409);
    assert_eq!(raw_get(&redis.url, "fresh").as_deref(), Some(&b"x"[..]));
}

#[test]
fn the_store_acts_as_spins_redis_store() {
    let redis = RedisServer::start();
    let kv = KvStore::open_redis(&redis.url).unwrap();
    kv.set("default", "a", b"1").unwrap();
    kv.set_many("default", &[("b".into(), b"2".to_vec()), ("c".into(), b"3".to_vec())]).unwrap();
    assert!(kv.exists("default", "b").unwrap());
    let mut keys = kv.keys("default").unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);
    // Spin's `get-many` sends `KEYS a b`, which Redis refuses.
    assert!(kv.get_many("default", &["a".into(), "b".into()]).is_err());
    kv.delete_many("default", &["a".into(), "b".into()]).unwrap();
    assert_eq!(kv.keys("default").unwrap(), ["c"]);
    // CAS at the store level: `current` watches, `swap` writes and misreports.
    let mut cas = kv.cas_new().unwrap();
    assert_eq!(kv.cas_current("default", "c", &mut cas).unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(kv.cas_swap("default", "c", &cas, b"4").unwrap(), Swap::Conflict);
    assert_eq!(kv.get("default", "c").unwrap().as_deref(), Some(&b"4"[..]));
    assert!(KvStore::open_redis("redis://127.0.0.1:1").is_err(), "no Redis there: a clear startup error");
}

#[test]
fn up_takes_a_redis_store_from_the_runtime_config() {
    let redis = RedisServer::start();
    let fx = Fixture::new();
    let config = fx.dir.path().join("runtime-config.toml");
    std::fs::write(&config, format!("[key_value_store.default]\ntype = \"redis\"\nurl = {:?}\n", redis.url)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(fx.manifest())
        .arg("--runtime-config-file")
        .arg(&config)
        .arg("--state-dir")
        .arg(fx.dir.path().join("state"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let serving = lines.next().unwrap().unwrap();
    let addr = serving.strip_prefix("Serving http://").unwrap().parse().unwrap();
    assert_eq!(get(addr, "/probe?op=kv-set&key=cli&value=yes").body, "ok");
    assert_eq!(raw_get(&redis.url, "cli").as_deref(), Some(&b"yes"[..]));
    assert!(!fx.dir.path().join("state").exists(), "the state directory's SQLite file is not used");
    child.kill().unwrap();
    let _ = child.wait();

    // No Redis at the URL: the runner refuses to start, saying so.
    std::fs::write(&config, "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_unlatch-runner"))
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(fx.manifest())
        .arg("--runtime-config-file")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to Redis"), "{out:?}");
}
