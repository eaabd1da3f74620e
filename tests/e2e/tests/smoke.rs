//! Smoke tests: every route of spin.toml answers, and the pages component
//! serves `static/` safely.

use serde_json::json;
use unlatch_e2e::App;
use unlatch_e2e::journey::set_policy;

/// One request per API route; each must answer with a JSON body and never a 5xx.
#[test]
fn every_api_route_answers_with_json() {
    let app = App::start();
    let routes = [
        ("GET", "/api/identify/challenge"),
        ("POST", "/api/identify"),
        ("POST", "/api/contact-admin"),
        ("GET", "/api/policy/public"),
        ("POST", "/api/send-code"),
        ("GET", "/api/dev/outbox"),
        ("POST", "/api/verify-code"),
        ("POST", "/api/set-password"),
        ("POST", "/api/unlock"),
        ("GET", "/api/register"),
        ("POST", "/api/signin"),
        ("POST", "/api/signout"),
        ("GET", "/api/session"),
        ("GET", "/api/admin/users"),
    ];
    for (method, route) in routes {
        let reply = app.request(method, route, &[("content-type", "application/json")], b"{}");
        assert!(reply.status < 500, "{method} {route} answered {}: {}", reply.status, reply.text());
        assert_eq!(reply.header("content-type"), Some("application/json"), "{method} {route}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{method} {route}");
        let body = reply.json();
        if reply.status >= 400 {
            assert!(body["error"].is_string() && body["message"].is_string(), "{method} {route}: {body}");
        }
    }
}

/// `GET /api/policy/public`: the policy values the pages show, without a session,
/// as the stored policy has them; every other method is a 405 naming GET.
#[test]
fn public_policy_is_served_to_anyone_and_follows_the_stored_policy() {
    let app = App::start();
    let reply = app.get("/api/policy/public");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(
        reply.json(),
        json!({
            "password_min_length": 8,
            "password_max_length": 256,
            "code_lifetime_seconds": 300,
            "flow_lifetime_seconds": 900,
        })
    );

    set_policy(&app, |p| {
        p.password.min_length = 14;
        p.flow_lifetime_seconds = 600;
    });
    let changed = app.get("/api/policy/public").json();
    assert_eq!(
        (changed["password_min_length"].as_u64(), changed["flow_lifetime_seconds"].as_u64()),
        (Some(14), Some(600))
    );

    for method in ["POST", "PUT", "DELETE"] {
        let refused = app.request(method, "/api/policy/public", &[("content-type", "application/json")], b"{}");
        assert_eq!(refused.status, 405, "{method}");
        assert_eq!(refused.header("allow"), Some("GET"), "{method}");
        assert_eq!(refused.header("cache-control"), Some("no-store"), "{method}");
        assert_eq!(refused.json()["error"], "method_not_allowed", "{method}");
    }
}

#[test]
fn index_page_is_served_with_security_headers_and_revalidation() {
    let app = App::start();
    let reply = app.get("/");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(reply.text().contains("Reset my password"));
    assert!(reply.header("content-security-policy").unwrap().starts_with("default-src 'self'"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    let etag = reply.header("etag").expect("an ETag").to_owned();

    let again = app.request("GET", "/", &[("if-none-match", &etag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let stale = app.request("GET", "/", &[("if-none-match", "\"other\"")], b"");
    assert_eq!(stale.status, 200);

    let head = app.request("HEAD", "/", &[], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    let css = app.get("/css/site.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
}

#[test]
fn unknown_page_gets_the_404_page() {
    let app = App::start();
    let reply = app.get("/no-such-page");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(reply.text().contains("couldn't find that page"));
}

#[test]
fn pages_refuse_other_methods() {
    let app = App::start();
    let reply = app.request("POST", "/", &[], b"x");
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
}

/// The files mount holds only `static/`; no spelling of a path may reach the
/// manifest or sources beside it.
#[test]
fn traversal_attempts_never_escape_the_mount() {
    let app = App::start();
    for target in [
        "/../spin.toml",
        "/css/../../spin.toml",
        "/%2e%2e/spin.toml",
        "/%2E%2E/%2E%2E/Cargo.toml",
        "/css%2f..%2f..%2fspin.toml",
        "/..%5cspin.toml",
        "/css\\..\\..\\spin.toml",
        "/index.html%00.txt",
        "/.%2e/spin.toml",
    ] {
        let reply = app.get(target);
        assert!(matches!(reply.status, 400 | 404), "{target} answered {}", reply.status);
        let text = reply.text();
        assert!(!text.contains("spin_manifest_version") && !text.contains("[workspace]"), "{target} leaked a file");
    }
}
