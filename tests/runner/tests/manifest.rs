//! Manifest parsing, variable templates, outbound allow-lists and the SQLite
//! store, without any wasm.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use unlatch_runner::kv::{KvStore, Swap};
use unlatch_runner::manifest::{FileMount, Manifest};
use unlatch_runner::outbound::AllowedHosts;
use unlatch_runner::variables::{VariableError, expand, resolve_app_variables, resolve_component_variables};

const APP: &str = r#"
spin_manifest_version = 2

[application]
name = "demo"
version = "0.1.0"
description = "d"

[variables]
token = { required = true, secret = true }
region = { default = "eu" }

[[trigger.http]]
route = "/api/x"
component = "api"

[[trigger.http]]
route = "/api/y/..."
component = "api"

[[trigger.http]]
route = { private = true }
component = "worker"

[component.api]
description = "the api"
source = "target/api.wasm"
files = [{ source = "static", destination = "/" }, "assets/**/*"]
key_value_stores = ["default"]
allowed_outbound_hosts = ["https://api.example.com", "http://127.0.0.1:8080"]
environment = { RUST_LOG = "info" }
[component.api.variables]
token = "{{ token }}"
url = "https://{{region}}.example.com/{{ region }}"
[component.api.build]
command = "cargo build"
watch = ["src/**/*.rs"]

[component.worker]
source = "worker.wasm"
"#;

fn parse(text: &str) -> anyhow::Result<Manifest> {
    Manifest::parse(text, Path::new("/app"))
}

#[test]
fn parses_application_triggers_and_components() {
    let m = parse(APP).unwrap();
    assert_eq!(m.name, "demo");
    assert_eq!(m.triggers.len(), 3);
    assert_eq!(m.triggers[0].route.as_deref(), Some("/api/x"));
    assert_eq!(m.triggers[1].component, "api");
    assert_eq!(m.triggers[2].route, None);
    let api = &m.components["api"];
    assert_eq!(api.source, Path::new("/app/target/api.wasm"));
    assert_eq!(
        api.files,
        vec![
            FileMount::Mapping { source: "/app/static".into(), destination: "/".into() },
            FileMount::Glob("assets/**/*".into()),
        ]
    );
    assert_eq!(api.key_value_stores, ["default"]);
    assert_eq!(api.allowed_outbound_hosts.len(), 2);
    assert_eq!(api.environment["RUST_LOG"], "info");
    assert_eq!(api.variables["url"], "https://{{region}}.example.com/{{ region }}");
    let worker = &m.components["worker"];
    assert!(worker.key_value_stores.is_empty() && worker.files.is_empty());
    assert!(m.variables["token"].required && m.variables["token"].secret);
    assert_eq!(m.variables["region"].default.as_deref(), Some("eu"));
}

#[test]
fn rejects_invalid_manifests() {
    let cases = [
        (APP.replace("spin_manifest_version = 2", "spin_manifest_version = 1"), "version"),
        (APP.replace("component = \"worker\"", "component = \"nobody\""), "nobody"),
        (APP.replace("route = \"/api/x\"", "route = \"api/x\""), "must start"),
        (APP.replace("region = { default", "Region = { default"), "Region"),
        (APP.replace("region = { default = \"eu\" }", "region = {}"), "region"),
        (
            APP.replace("source = \"worker.wasm\"", "source = \"worker.wasm\"\nsqlite_databases = [\"default\"]"),
            "sqlite_databases",
        ),
    ];
    for (text, needle) in cases {
        let err = format!("{:#}", parse(&text).err().unwrap_or_else(|| panic!("accepted: {needle}")));
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn load_requires_existing_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spin.toml"), APP).unwrap();
    let err = format!("{:#}", Manifest::load(&dir.path().join("spin.toml")).unwrap_err());
    assert!(err.contains("api.wasm") || err.contains("worker.wasm"), "{err}");
    assert!(Manifest::load(&dir.path().join("missing.toml")).is_err());
}

#[test]
fn variables_come_from_overrides_then_defaults() {
    let m = parse(APP).unwrap();
    let err = format!("{:#}", resolve_app_variables(&m, &HashMap::new()).unwrap_err());
    assert!(err.contains("token") && err.contains("SPIN_VARIABLE_TOKEN"), "{err}");

    let overrides = HashMap::from([("SPIN_VARIABLE_TOKEN".to_string(), "t0k".to_string())]);
    let app = resolve_app_variables(&m, &overrides).unwrap();
    assert_eq!(app["token"], "t0k");
    assert_eq!(app["region"], "eu");
    let comps = resolve_component_variables(&m, &app).unwrap();
    assert_eq!(comps["api"].get("url").unwrap(), "https://eu.example.com/eu");
    assert_eq!(comps["api"].get("token").unwrap(), "t0k");
    assert!(matches!(comps["api"].get("region"), Err(VariableError::Undefined(_))));
    assert!(matches!(comps["api"].get("Bad"), Err(VariableError::InvalidName(_))));
    assert!(matches!(comps["worker"].get("token"), Err(VariableError::Undefined(_))));
}

#[test]
fn templates_expand_and_reject_unknown_names() {
    let vars = BTreeMap::from([("a".to_string(), "1".to_string())]);
    assert_eq!(expand("x{{a}}y{{ a }}", &vars).unwrap(), "x1y1");
    assert_eq!(expand("plain", &vars).unwrap(), "plain");
    assert!(expand("{{ b }}", &vars).is_err());
    assert!(expand("{{ a", &vars).is_err());
}

fn hosts(entries: &[&str]) -> AllowedHosts {
    AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn allowed_hosts_match_scheme_host_and_port() {
    let h = hosts(&["https://api.example.com", "http://127.0.0.1:8080"]);
    assert!(h.allows("https", "api.example.com", None));
    assert!(h.allows("https", "API.example.com", Some(443)));
    assert!(!h.allows("https", "api.example.com", Some(8443)));
    assert!(!h.allows("http", "api.example.com", None));
    assert!(!h.allows("https", "x.api.example.com", None));
    assert!(h.allows("http", "127.0.0.1", Some(8080)));
    assert!(!h.allows("http", "127.0.0.1", None));
    assert!(!h.allows("http", "localhost", Some(8080)));

    let wild = hosts(&["https://*.example.com", "http://localhost:*"]);
    assert!(wild.allows("https", "a.example.com", None));
    assert!(wild.allows("https", "a.b.example.com", None));
    assert!(!wild.allows("https", "example.com", None));
    assert!(!wild.allows("https", "badexample.com", None));
    assert!(wild.allows("http", "localhost", Some(1234)));
    assert!(wild.allows("http", "localhost", None));
    assert!(!wild.allows("https", "localhost", Some(1234)));

    let any = hosts(&["*://*:*"]);
    assert!(any.allows("http", "anything", Some(1)));
    assert!(any.allows("https", "1.2.3.4", None));

    assert!(!hosts(&[]).allows("https", "example.com", None));
}

#[test]
fn allowed_hosts_reject_malformed_entries() {
    for bad in [
        "example.com",
        "https://example.com/path",
        "https://exa*mple.com",
        "*://example.com",
        "https://x:notaport",
        "http://self",
        "{{ host }}",
    ] {
        assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
    }
}

#[test]
fn sqlite_store_basics_increment_and_cas() {
    let dir = tempfile::tempdir().unwrap();
    let kv = KvStore::open(&dir.path().join("sub/kv.db")).unwrap();
    assert_eq!(kv.get("default", "k").unwrap(), None);
    kv.set("default", "k", b"v").unwrap();
    kv.set("other", "k", b"w").unwrap();
    assert_eq!(kv.get("default", "k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(kv.exists("default", "k").unwrap());
    assert_eq!(kv.keys("default").unwrap(), ["k"]);
    kv.delete("default", "k").unwrap();
    assert!(!kv.exists("default", "k").unwrap());
    assert_eq!(kv.get("other", "k").unwrap().as_deref(), Some(&b"w"[..]));

    assert_eq!(kv.increment("default", "n", 5).unwrap(), 5);
    assert_eq!(kv.increment("default", "n", -7).unwrap(), -2);
    assert_eq!(kv.get("default", "n").unwrap().as_deref(), Some(&(-2i64).to_le_bytes()[..]));
    kv.set("default", "n", b"x").unwrap();
    assert!(kv.increment("default", "n", 1).is_err());
    kv.set("default", "n", b"12").unwrap();
    assert!(kv.increment("default", "n", 1).is_err(), "decimal text is Redis' encoding, not SQLite's");
    kv.set("default", "n", &i64::MAX.to_le_bytes()).unwrap();
    assert!(kv.increment("default", "n", 1).is_err());

    kv.set("default", "c", b"a").unwrap();
    let KvStore::Sqlite(sqlite) = &kv else { unreachable!("opened on a file") };
    assert_eq!(sqlite.swap("default", "c", Some(b"a"), b"b").unwrap(), Swap::Done);
    assert_eq!(sqlite.swap("default", "c", Some(b"a"), b"z").unwrap(), Swap::Conflict);
    assert_eq!(kv.get("default", "c").unwrap().as_deref(), Some(&b"b"[..]));
    // Absent-at-start is unguarded, as in Spin's SQLite backend.
    assert_eq!(sqlite.swap("default", "c", None, b"y").unwrap(), Swap::Done);
    assert_eq!(kv.get("default", "c").unwrap().as_deref(), Some(&b"y"[..]));

    // A second connection (as another runner would open) sees the same data.
    let again = KvStore::open(&dir.path().join("sub/kv.db")).unwrap();
    assert_eq!(again.get("default", "c").unwrap().as_deref(), Some(&b"y"[..]));
}

#[test]
fn templated_allowed_hosts_resolve_from_app_variables() {
    let vars: std::collections::BTreeMap<String, String> = [
        ("api".to_string(), "http://127.0.0.1:8080/".to_string()),
        ("host".to_string(), "mail.example.com".to_string()),
        ("empty".to_string(), String::new()),
    ]
    .into();
    let entries = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let h = AllowedHosts::resolve(&entries(&["{{ api }}", "https://{{host}}"]), &vars).unwrap();
    assert!(h.invalid().is_none());
    assert!(h.allows("http", "127.0.0.1", Some(8080)));
    assert!(h.allows("https", "mail.example.com", None));
    assert!(!h.allows("http", "127.0.0.1", Some(8081)));
    assert!(!h.allows("https", "other.example.com", None));
    // An unknown variable fails the load; a value that is no host denies everything.
    assert!(AllowedHosts::resolve(&entries(&["{{ nope }}"]), &vars).is_err());
    let h = AllowedHosts::resolve(&entries(&["{{ empty }}", "{{ api }}"]), &vars).unwrap();
    assert!(h.invalid().is_some_and(|why| why.contains("{{ empty }}")));
    assert!(!h.allows("http", "127.0.0.1", Some(8080)));
}
