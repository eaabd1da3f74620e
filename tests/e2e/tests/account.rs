//! Sign-in, sessions, sign-out, CSRF and input handling of the account and
//! register routes, over HTTP.

use serde_json::json;
use unlatch_e2e::App;
use unlatch_e2e::account::*;
use unlatch_e2e::journey::*;

#[test]
fn signin_sets_a_hardened_session_cookie_and_signout_ends_it() {
    let app = App::start();
    user_with_everything(&app, "jane@contoso.com");
    let reply = signin(&app, "Jane@Contoso.com", PASSWORD);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let cookie = reply.header("set-cookie").unwrap().to_owned();
    for flag in ["__Host-unlatch_session=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=1800"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["status"], "signed_in");
    assert_eq!(body["user"]["username"], "jane@contoso.com");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(
        (body["reconfirm_registration"].as_bool(), body["registration_required"].as_bool()),
        (Some(false), Some(false))
    );
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    assert_eq!(id.len(), 32, "128-bit id");
    assert!(kv_dump(&app).iter().all(|(k, v)| !k.contains(&id) && !v.contains(&id)), "only a hash of the id is stored");

    let s = sign_in(&app, "jane@contoso.com", PASSWORD);
    let me = s.get(&app, "/api/session");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["user"]["username"], "jane@contoso.com");
    assert_eq!(me.json()["csrf_token"], s.signin["csrf_token"]);
    let out = app.request("POST", "/api/signout", &[("cookie", &s.cookie)], b"");
    assert_eq!(out.status, 200, "{}", out.text());
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.get(&app, "/api/session").status, 401);
    assert_eq!(s.get(&app, "/api/register").status, 401);
    assert_eq!(app.get("/api/session").json()["error"], "not_signed_in");
    // Signing out without a session is harmless.
    assert_eq!(app.request("POST", "/api/signout", &[], b"").status, 200);
    assert_eq!(app.get("/api/signin").status, 405);
}

#[test]
fn unknown_user_and_wrong_password_get_the_same_status_and_body() {
    let app = App::start();
    user_with_everything(&app, "jane@contoso.com");
    let wrong = signin(&app, "jane@contoso.com", "Not-the-password-1");
    let unknown = signin(&app, "nobody@contoso.com", "Not-the-password-1");
    assert_eq!(wrong.status, 401);
    assert_eq!((wrong.status, wrong.body.clone()), (unknown.status, unknown.body.clone()));
    assert_eq!(wrong.json()["error"], "invalid_credentials");
    assert!(wrong.header("set-cookie").is_none() && unknown.header("set-cookie").is_none());
}

#[test]
fn register_writes_need_the_sessions_csrf_token() {
    let app = App::start();
    user_with_everything(&app, "jane@contoso.com");
    create_user(
        &app,
        unlatch_core::users::NewUser {
            username: "sam@contoso.com".into(),
            password: PASSWORD.into(),
            ..Default::default()
        },
    );
    let jane = sign_in(&app, "jane@contoso.com", PASSWORD);
    let sam = sign_in(&app, "sam@contoso.com", PASSWORD);
    let body = serde_json::to_vec(&json!({ "method": "alternate_email", "destination": "jane@fabrikam.com" })).unwrap();
    let ct = ("content-type", "application/json");
    let none = app.request("POST", "/api/register/start", &[("cookie", &jane.cookie), ct], &body);
    assert_eq!((none.status, none.json()["error"].as_str()), (403, Some("csrf_invalid")));
    let other =
        app.request("POST", "/api/register/start", &[("cookie", &jane.cookie), ("x-csrf-token", &sam.csrf), ct], &body);
    assert_eq!(other.status, 403, "another session's token");
    let garbage =
        app.request("POST", "/api/register/finish", &[("cookie", &jane.cookie), ("x-csrf-token", "zz"), ct], b"{}");
    assert_eq!(garbage.status, 403);
    let del = app.request("DELETE", "/api/register/alternate_email", &[("cookie", &jane.cookie)], b"");
    assert_eq!(del.status, 403);
    // The right token gets past the CSRF check, to the step-up jane's registered methods need.
    let ok = app.request(
        "POST",
        "/api/register/start",
        &[("cookie", &jane.cookie), ("x-csrf-token", &jane.csrf), ct],
        &body,
    );
    assert_eq!((ok.status, ok.json()["error"].as_str()), (403, Some("step_up_required")), "{}", ok.text());
    let sam_ok =
        app.request("POST", "/api/register/start", &[("cookie", &sam.cookie), ("x-csrf-token", &sam.csrf), ct], &body);
    assert_eq!(sam_ok.status, 201, "a first registration needs only the session: {}", sam_ok.text());
    // Reads need only the session.
    assert_eq!(jane.get(&app, "/api/register").status, 200);
    assert_eq!(jane.get(&app, "/api/register/questions").json()["questions"].as_array().unwrap().len(), 35);
    // No session at all: 401 before anything else.
    let anon = app.request("POST", "/api/register/start", &[ct, ("x-csrf-token", &jane.csrf)], &body);
    assert_eq!((anon.status, anon.json()["error"].as_str()), (401, Some("not_signed_in")));
    let forged = app.request(
        "GET",
        "/api/register",
        &[("cookie", "__Host-unlatch_session=00000000000000000000000000000000")],
        b"",
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn every_write_route_rejects_malformed_input_with_4xx_json() {
    let app = App::start();
    user_with_everything(&app, "jane@contoso.com");
    let s = sign_in(&app, "jane@contoso.com", PASSWORD);
    let auth = |ct: &'static str| {
        vec![("cookie", s.cookie.clone()), ("x-csrf-token", s.csrf.clone()), ("content-type", ct.to_owned())]
    };
    let routes = [
        ("POST", "/api/signin"),
        ("POST", "/api/set-password"),
        ("POST", "/api/register/start"),
        ("PUT", "/api/register/questions"),
        ("POST", "/api/register/questions"),
    ];
    let bodies: [&[u8]; 6] =
        [b"", b"{", b"[\"x\"]", b"null", b"{\"username\": 5, \"questions\": 5, \"method\": 5}", &[b' '; 20_000]];
    for (method, route) in routes {
        for body in bodies {
            let headers = auth("application/json");
            let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (*a, b.as_str())).collect();
            let r = app.request(method, route, &h, body);
            assert!(
                (400..500).contains(&r.status),
                "{method} {route} {:?}: {} {}",
                String::from_utf8_lossy(&body[..body.len().min(20)]),
                r.status,
                r.text()
            );
            assert!(r.json()["error"].is_string(), "{method} {route}: {}", r.text());
        }
        let headers = auth("text/plain");
        let h: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (*a, b.as_str())).collect();
        assert_eq!(app.request(method, route, &h, b"{}").status, 415, "{method} {route}");
    }
    // Well-formed JSON with missing or wrong fields.
    let missing = [
        ("POST", "/api/signin", json!({})),
        ("POST", "/api/signin", json!({ "username": "jane@contoso.com" })),
        ("POST", "/api/set-password", json!({ "username": "jane@contoso.com" })),
        ("POST", "/api/set-password", json!({ "username": "jane@contoso.com", "old_password": PASSWORD })),
        ("POST", "/api/register/start", json!({})),
        ("POST", "/api/register/start", json!({ "method": "fax", "destination": "1" })),
        (
            "POST",
            "/api/register/start",
            json!({ "method": "authentication_phone", "destination": "12" , "country_code": "1"}),
        ),
        ("PUT", "/api/register/questions", json!({})),
        ("PUT", "/api/register/questions", json!({ "questions": [{ "id": "q01", "answer": "x" }] })),
    ];
    for (method, route, body) in missing {
        let r = s.send(&app, method, route, Some(&body));
        assert!((400..500).contains(&r.status), "{route} {body}: {} {}", r.status, r.text());
        assert!(r.json()["error"].is_string());
    }
    for (method, route) in [
        ("DELETE", "/api/register/fax"),
        ("DELETE", "/api/register/..%2f..%2fetc"),
        ("PATCH", "/api/register"),
        ("GET", "/api/register/finish"),
    ] {
        let r = s.send(&app, method, route, None);
        assert!((400..500).contains(&r.status), "{method} {route}: {}", r.status);
        assert!(r.json()["error"].is_string());
    }
}
