//! End-to-end behaviour of the runner against the probe component.

mod common;

use common::{Fixture, flat_json, get, pong_server};
use unlatch_runner::{Runner, RunnerConfig};

#[test]
fn routes_pick_the_most_specific_match_and_unknown_paths_are_404() {
    let fx = Fixture::new();
    let app = fx.start();
    let id = |path: &str| {
        let r = get(app.addr(), &format!("{path}?op=env&name=PROBE_ID"));
        (r.status, r.body)
    };
    assert_eq!(id("/exact"), (200, "probe".into()));
    assert_eq!(id("/probe"), (200, "probe".into()));
    assert_eq!(id("/probe/a/b"), (200, "probe".into()));
    // `/api/admin/...` is longer than `/api/...`; the exact route beats both.
    assert_eq!(id("/api/other"), (200, "probe".into()));
    assert_eq!(id("/api/admin"), (200, "restricted".into()));
    assert_eq!(id("/api/admin/"), (200, "restricted".into()));
    assert_eq!(id("/api/admin/x/y"), (200, "restricted".into()));
    assert_eq!(id("/api/admin/users"), (200, "probe".into()));
    assert_eq!(id("/api/adminx"), (200, "probe".into()));
    for path in ["/", "/exact/", "/exactly", "/nothing/here", "/prob"] {
        let r = get(app.addr(), path);
        assert_eq!((r.status, r.body.as_str()), (404, ""), "{path}");
    }
}

#[test]
fn spin_headers_describe_the_match() {
    let fx = Fixture::new();
    let app = fx.start();
    let addr = app.addr();

    let h = flat_json(&get(addr, "/api/admin/users/3?x=1").body);
    assert_eq!(h["spin-full-url"], format!("http://{addr}/api/admin/users/3?x=1"));
    assert_eq!(h["spin-path-info"], "/users/3");
    assert_eq!(h["spin-matched-route"], "/api/admin/...");
    assert_eq!(h["spin-component-route"], "/api/admin");
    assert_eq!(h["spin-raw-component-route"], "/api/admin/...");
    assert_eq!(h["spin-base-path"], "/");
    let client = h["spin-client-addr"].parse::<std::net::SocketAddr>().unwrap();
    assert_eq!(client.ip().to_string(), "127.0.0.1");
    assert_ne!(client.port(), addr.port());
    assert_eq!(h["path"], "/api/admin/users/3");

    let h = flat_json(&get(addr, "/api/admin/users").body);
    assert_eq!(h["spin-path-info"], "");
    assert_eq!(h["spin-matched-route"], "/api/admin/users");
    assert_eq!(h["spin-component-route"], "/api/admin/users");
    assert_eq!(h["spin-full-url"], format!("http://{addr}/api/admin/users"));

    let h = flat_json(&get(addr, "/api/admin").body);
    assert_eq!(h["spin-path-info"], "");
    let h = flat_json(&get(addr, "/api/admin/").body);
    assert_eq!(h["spin-path-info"], "/");

    // Client-supplied spin-* headers are overwritten, not trusted.
    let r = common::request(addr, "GET", "/probe/x", &[("spin-path-info", "/forged")]);
    assert_eq!(flat_json(&r.body)["spin-path-info"], "/x");
}

#[test]
fn catch_all_route_matches_everything() {
    let text = common::fixture_manifest_text().replace("route = \"/exact\"", "route = \"/...\"");
    let fx = Fixture::with_manifest(&text);
    let app = fx.start();
    let h = flat_json(&get(app.addr(), "/some/where").body);
    assert_eq!(h["spin-path-info"], "/some/where");
    assert_eq!(h["spin-component-route"], "");
    assert_eq!(h["spin-matched-route"], "/...");
    assert_eq!(get(app.addr(), "/").status, 200);
    // More specific routes still win over `/...`.
    assert_eq!(get(app.addr(), "/api/admin/x?op=env").body, "restricted");
}

#[test]
fn each_request_gets_a_fresh_instance() {
    let fx = Fixture::new();
    let app = fx.start();
    for _ in 0..5 {
        assert_eq!(get(app.addr(), "/probe?op=instance").body, "1");
    }
}

#[test]
fn a_trap_is_a_500_and_the_app_keeps_serving() {
    let fx = Fixture::new();
    let app = fx.start();
    let r = get(app.addr(), "/probe?op=trap");
    assert_eq!(r.status, 500);
    assert!(!r.body.is_empty() && r.body.len() < 100, "{:?}", r.body);
    assert_eq!(get(app.addr(), "/probe?op=instance").status, 200);
}

#[test]
fn environment_is_set_per_component() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=env&name=PROBE_ID").body, "probe");
    assert_eq!(get(app.addr(), "/api/admin?op=env&name=PROBE_ID").body, "restricted");
    assert_eq!(get(app.addr(), "/probe?op=env&name=HOME").body, "<unset>");
}

#[test]
fn key_value_persists_across_requests_and_restarts() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").status, 404);
    assert_eq!(get(app.addr(), "/probe?op=kv-set&key=k&value=v1").body, "ok");
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").body, "v1");
    app.stop();
    // Default database: .spin/sqlite_key_value.db next to the manifest.
    assert!(fx.dir.path().join(".spin/sqlite_key_value.db").is_file());

    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").body, "v1");
    assert_eq!(get(app.addr(), "/probe?op=kv-delete&key=k").body, "ok");
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=k").status, 404);
}

#[test]
fn sqlite_flag_chooses_the_database_file() {
    let fx = Fixture::new();
    let db = fx.dir.path().join("elsewhere/kv.db");
    let config = RunnerConfig { sqlite: Some(db.clone()), ..fx.config() };
    let app = Runner::start(config).unwrap();
    get(app.addr(), "/probe?op=kv-set&key=a&value=b");
    app.stop();
    assert!(db.is_file());
    assert!(!fx.dir.path().join(".spin").exists());
}

#[test]
fn stores_outside_key_value_stores_are_access_denied() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=kv-open&label=default").body, "opened");
    let denied = |target: &str| get(app.addr(), target).body.ends_with("AccessDenied");
    assert!(denied("/probe?op=kv-open&label=other"));
    assert!(denied("/probe?op=wasi-open&label=other"));
    // `restricted` has no key_value_stores at all.
    assert!(denied("/api/admin?op=kv-open&label=default"));
    assert!(denied("/api/admin?op=wasi-open&label=default"));
}

#[test]
fn increments_and_cas_through_wasi_keyvalue() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=incr&key=n").body, "1");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=n&delta=41").body, "42");
    // Counters are 8 bytes little-endian, as Spin's SQLite store keeps them.
    assert_eq!(get(app.addr(), "/probe?op=kv-hex&key=n").body, "2a00000000000000");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=n&delta=-2").body, "40");
    get(app.addr(), "/probe?op=kv-set&key=word&value=abc");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=word").status, 500, "a value that is not 8 bytes is no counter");
    assert_eq!(get(app.addr(), "/probe?op=incr&key=other").body, "1", "and the store still works after it");

    get(app.addr(), "/probe?op=kv-set&key=c&value=old");
    let r = get(app.addr(), "/probe?op=cas&key=c&value=new");
    assert_eq!((r.status, r.body.as_str()), (200, "swapped (saw old)"));
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=c").body, "new");
    let r = get(app.addr(), "/probe?op=cas&key=c&value=mine&interfere=theirs");
    assert_eq!((r.status, r.body.as_str()), (409, "conflict:theirs"));
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=c").body, "theirs");
    // Like Spin's SQLite store, a CAS begun on an absent key is not guarded.
    let r = get(app.addr(), "/probe?op=cas&key=fresh&value=mine&interfere=theirs");
    assert_eq!((r.status, r.body.as_str()), (200, "swapped (saw <absent>)"));
    assert_eq!(get(app.addr(), "/probe?op=kv-get&key=fresh").body, "mine");
}

#[test]
fn variables_resolve_defaults_templates_and_overrides() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=var&name=greeting").body, "hello, world");
    assert_eq!(get(app.addr(), "/probe?op=var&name=mood").body, "calm");
    assert_eq!(get(app.addr(), "/probe?op=var&name=literal").body, "plain");
    let undefined = get(app.addr(), "/probe?op=var&name=nope").body;
    assert!(undefined.contains("Undefined("), "{undefined}");
    let invalid = get(app.addr(), "/probe?op=var&name=Bad-Name").body;
    assert!(invalid.contains("InvalidName("), "{invalid}");
    // App variables are not visible unless the component declares them.
    let r = get(app.addr(), "/api/admin?op=var&name=greeting").body;
    assert!(r.contains("Undefined("), "{r}");
    app.stop();

    let mut config = fx.config();
    config.env_vars.insert("SPIN_VARIABLE_MOOD".into(), "sunny".into());
    let app = Runner::start(config).unwrap();
    assert_eq!(get(app.addr(), "/probe?op=var&name=mood").body, "sunny");
    assert_eq!(get(app.addr(), "/probe?op=var&name=greeting").body, "hello, world");
}

#[test]
fn startup_fails_on_missing_required_variable_or_unknown_template() {
    let required = common::fixture_manifest_text()
        .replace("mood = { default = \"calm\" }", "mood = { required = true, secret = true }");
    let fx = Fixture::with_manifest(&required);
    let err = format!("{:#}", Runner::start(fx.config()).err().expect("startup fails"));
    assert!(err.contains("mood") && err.contains("SPIN_VARIABLE_MOOD"), "{err}");
    let mut config = fx.config();
    config.env_vars.insert("SPIN_VARIABLE_MOOD".into(), "set".into());
    let app = Runner::start(config).unwrap();
    assert_eq!(get(app.addr(), "/probe?op=var&name=mood").body, "set");

    let unknown = common::fixture_manifest_text().replace("\"{{mood}}\"", "\"{{ weather }}\"");
    let err = format!("{:#}", Runner::start(Fixture::with_manifest(&unknown).config()).err().unwrap());
    assert!(err.contains("weather"), "{err}");
}

#[test]
fn startup_fails_on_missing_source_or_unknown_store() {
    let missing = common::fixture_manifest_text().replacen(".wasm\"", "-missing.wasm\"", 1);
    let err = format!("{:#}", Runner::start(Fixture::with_manifest(&missing).config()).err().unwrap());
    assert!(err.contains("does not exist"), "{err}");

    let store = common::fixture_manifest_text().replace("[\"default\"]", "[\"default\", \"sessions\"]");
    let err = format!("{:#}", Runner::start(Fixture::with_manifest(&store).config()).err().unwrap());
    assert!(err.contains("sessions"), "{err}");
}

#[test]
fn files_are_mounted_read_only() {
    let fx = Fixture::new();
    let app = fx.start();
    // Mapping `{ source = "assets", destination = "/data" }`.
    let r = get(app.addr(), "/probe?op=read&path=/data/hello.txt");
    assert_eq!((r.status, r.body.as_str()), (200, "hello from assets\n"));
    // Glob `"static/**/*"` keeps manifest-relative paths.
    assert_eq!(get(app.addr(), "/probe?op=read&path=/static/css/site.css").body, "body { color: teal; }\n");
    assert_eq!(get(app.addr(), "/probe?op=read&path=/static/index.html").body, "<h1>probe</h1>\n");
    assert_eq!(get(app.addr(), "/probe?op=read&path=/spin.toml").status, 404);
    // Plain directory mount at `/`.
    assert_eq!(get(app.addr(), "/api/admin?op=read&path=/hello.txt").body, "hello from assets\n");
    // Writes fail, and nothing reaches the host.
    assert_eq!(get(app.addr(), "/probe?op=write&path=/data/new.txt").status, 403);
    assert_eq!(get(app.addr(), "/api/admin?op=write&path=/hello.txt").status, 403);
    assert_eq!(get(app.addr(), "/api/admin?op=read&path=/hello.txt").body, "hello from assets\n");
    assert!(!fx.dir.path().join("assets/new.txt").exists());
    // No mounts: nothing readable.
    let hidden = common::fixture_manifest_text()
        .replace("route = \"/exact\"\ncomponent = \"probe\"", "route = \"/exact\"\ncomponent = \"hidden\"");
    drop(app);
    let fx2 = Fixture::with_manifest(&hidden);
    let app = fx2.start();
    assert_eq!(get(app.addr(), "/exact?op=read&path=/hello.txt").status, 404);
}

#[test]
fn outbound_requests_follow_allowed_outbound_hosts() {
    let pong = pong_server();
    let fx = Fixture::new();
    let app = fx.start();
    let allowed = get(app.addr(), &format!("/probe?op=outbound&url=http://127.0.0.1:{}/ping", pong.port()));
    assert_eq!((allowed.status, allowed.body.as_str()), (200, "200 pong"));
    // Same server, but by a host name not in the list.
    let denied = get(app.addr(), &format!("/probe?op=outbound&url=http://localhost:{}/ping", pong.port()));
    assert_eq!(denied.status, 502);
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
    // `restricted` allows nothing.
    let denied = get(app.addr(), &format!("/api/admin?op=outbound&url=http://127.0.0.1:{}/ping", pong.port()));
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
    // Wrong scheme for the allowed host.
    let denied = get(app.addr(), &format!("/probe?op=outbound&url=https://127.0.0.1:{}/ping", pong.port()));
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
}

#[test]
fn single_file_mappings_are_mounted_at_their_destination() {
    let text = common::fixture_manifest_text()
        .replace("route = \"/exact\"\ncomponent = \"probe\"", "route = \"/exact\"\ncomponent = \"hidden\"")
        .replace(
            "[component.hidden]\n",
            "[component.hidden]\nfiles = [{ source = \"assets/hello.txt\", destination = \"/etc/greeting.txt\" }]\n",
        );
    let fx = Fixture::with_manifest(&text);
    let app = fx.start();
    assert_eq!(get(app.addr(), "/exact?op=read&path=/etc/greeting.txt").body, "hello from assets\n");
    assert_eq!(get(app.addr(), "/exact?op=write&path=/etc/greeting.txt").status, 403);
    assert_eq!(get(app.addr(), "/exact?op=read&path=/hello.txt").status, 404);
}

/// `allowed_outbound_hosts = ["{{ api_base }}"]` resolved from the application
/// variable, as Spin does: the configured origin is reachable, another host is
/// not, and a value that is no host denies everything (as Spin logs and denies).
#[test]
fn templated_outbound_hosts_resolve_from_application_variables() {
    let pong = pong_server();
    let text = common::fixture_manifest_text()
        .replace("[variables]\n", "[variables]\napi_base = { default = \"https://api.example.com\" }\n")
        .replace(
            "[component.restricted]\n",
            "[component.restricted]\nallowed_outbound_hosts = [\"{{ api_base }}\", \"https://{{ greeting }}.example.com\"]\n",
        );
    let fx = Fixture::with_manifest(&text);
    let mut config = fx.config();
    config.env_vars.insert("SPIN_VARIABLE_API_BASE".into(), format!("http://127.0.0.1:{}/", pong.port()));
    let app = Runner::start(config).expect("runner starts");
    let allowed = get(app.addr(), &format!("/api/admin?op=outbound&url=http://127.0.0.1:{}/ping", pong.port()));
    assert_eq!((allowed.status, allowed.body.as_str()), (200, "200 pong"));
    let denied = get(app.addr(), &format!("/api/admin?op=outbound&url=http://localhost:{}/ping", pong.port()));
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
    drop(app);

    // The default (the real origin) does not reach the loopback server.
    let app = fx.start();
    let denied = get(app.addr(), &format!("/api/admin?op=outbound&url=http://127.0.0.1:{}/ping", pong.port()));
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
    drop(app);

    // A value that is not a host: nothing is reachable, not even the other entry.
    let mut config = fx.config();
    config.env_vars.insert("SPIN_VARIABLE_API_BASE".into(), String::new());
    let app = Runner::start(config).expect("runner starts: Spin resolves these per request");
    let denied = get(app.addr(), &format!("/api/admin?op=outbound&url=http://127.0.0.1:{}/ping", pong.port()));
    assert!(denied.body.contains("HttpRequestDenied"), "{}", denied.body);
}

#[test]
fn kv_stats_count_each_request_s_operations_by_kind_only_when_asked() {
    let fx = Fixture::new();
    let app = fx.start();
    assert_eq!(get(app.addr(), "/probe?op=kv-set&key=k&value=v").headers.get("unlatch-kv-ops"), None, "off by default");
    app.stop();
    let options = unlatch_runner::RunOptions { kv_stats: true, ..Default::default() };
    let app = Runner::start_with_options(fx.config(), options).unwrap();
    let ops = |target: &str| get(app.addr(), target).headers.get("unlatch-kv-ops").cloned();
    assert_eq!(ops("/probe?op=kv-get&key=k").as_deref(), Some("get=1 atomic=0"));
    assert_eq!(ops("/probe?op=incr&key=n&delta=2").as_deref(), Some("increment=1 atomic=1"));
    assert_eq!(ops("/probe?op=headers").as_deref(), Some("atomic=0"), "a request that touches no store");
}
