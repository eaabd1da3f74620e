//! The operator's API over HTTP: bearer token, users, policy, audit, import.

use serde_json::{Value, json};
use unlatch_core::WholeStoreScan;
use unlatch_core::users;
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const TOKEN: &str = "e2e-admin-token-0123456789abcdef";
const GOOD: &str = "Correct-Horse-Battery-9";

/// Every admin route (method, path) with a body that would be valid.
const ROUTES: [(&str, &str); 12] = [
    ("GET", "/api/admin/users"),
    ("POST", "/api/admin/users"),
    ("POST", "/api/admin/users/import"),
    ("GET", "/api/admin/users/0123abcd"),
    ("PATCH", "/api/admin/users/0123abcd"),
    ("DELETE", "/api/admin/users/0123abcd"),
    ("POST", "/api/admin/users/0123abcd/lock"),
    ("POST", "/api/admin/users/0123abcd/unlock"),
    ("GET", "/api/admin/policy"),
    ("PUT", "/api/admin/policy"),
    ("GET", "/api/admin/audit"),
    ("POST", "/api/admin/maintenance/sweep"),
];

fn admin_app() -> App {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", TOKEN)]);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    app
}

fn body_for(method: &str, path: &str) -> (Vec<u8>, &'static str) {
    if path.ends_with("/import") {
        (format!("{{\"username\":\"x@contoso.com\",\"password\":\"{GOOD}\"}}\n").into_bytes(), "application/x-ndjson")
    } else if method == "POST" && path.ends_with("/users") {
        (serde_json::to_vec(&json!({ "username": "x@contoso.com", "password": GOOD })).unwrap(), "application/json")
    } else if method == "PUT" {
        (b"{}".to_vec(), "application/json")
    } else if method == "PATCH" {
        (br#"{"display_name":"X"}"#.to_vec(), "application/json")
    } else {
        (Vec::new(), "application/json")
    }
}

fn send(app: &App, method: &str, path: &str, auth: Option<&str>, content_type: &str, body: &[u8]) -> Reply {
    let mut headers = vec![("content-type", content_type)];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    app.request(method, path, &headers, body)
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn admin(app: &App, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    send(app, method, path, Some(&bearer()), "application/json", &bytes)
}

fn ok(reply: Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    reply.json()
}

#[test]
fn every_route_rejects_a_missing_or_wrong_token() {
    let app = admin_app();
    let wrong = format!("Bearer {TOKEN}x");
    let short = &TOKEN[..TOKEN.len() - 1];
    let shorter = format!("Bearer {short}");
    let basic = format!("Basic {TOKEN}");
    let unknown = [("GET", "/api/admin/nope"), ("GET", "/api/admin/"), ("PUT", "/api/admin/users")];
    for (method, path) in ROUTES.iter().chain(unknown.iter()) {
        let (body, content_type) = body_for(method, path);
        for auth in
            [None, Some(wrong.as_str()), Some(shorter.as_str()), Some(basic.as_str()), Some("Bearer"), Some(TOKEN)]
        {
            let reply = send(&app, method, path, auth, content_type, &body);
            let what = format!("{method} {path} with {auth:?}");
            let err = assert_error(&reply, 401, "unauthorized");
            assert!(!err.to_string().contains(TOKEN), "{what}");
            let challenge = reply.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
            assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
            let wrong_token = auth.is_some_and(|a| a.starts_with("Bearer "));
            assert_eq!(challenge.contains("invalid_token"), wrong_token, "{what}: {challenge}");
        }
    }
    // Nothing happened: no user, no audit event.
    assert!(users::page(&app.store(), 0, 10).unwrap().0.is_empty());
    assert!(unlatch_core::audit::list(&app.store(), &Default::default()).unwrap().is_empty());

    // With the token: unknown paths 404, wrong methods 405 with Allow.
    assert_error(&admin(&app, "GET", "/api/admin/nope", None), 404, "not_found");
    assert_error(&admin(&app, "GET", "/api/admin/users/0123abcd/x", None), 404, "not_found");
    let r = admin(&app, "PUT", "/api/admin/users", None);
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = admin(&app, "GET", "/api/admin/users/0123abcd/unlock", None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    let r = admin(&app, "DELETE", "/api/admin/policy", None);
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, PUT")));
    assert_error(&admin(&app, "GET", "/api/admin/users/0123abcd", None), 404, "user_not_found");
}

#[test]
fn the_admin_api_is_absent_without_a_configured_token() {
    let app = App::start();
    for (method, path) in ROUTES {
        let (body, content_type) = body_for(method, path);
        for auth in [None, Some("Bearer ".to_owned()), Some(bearer())] {
            let reply = send(&app, method, path, auth.as_deref(), content_type, &body);
            assert_error(&reply, 404, "not_found");
            assert!(reply.header("www-authenticate").is_none());
        }
    }
    assert!(users::page(&app.store(), 0, 10).unwrap().0.is_empty());
}

fn new_user(username: &str) -> Value {
    json!({
        "username": username,
        "display_name": "Ada Lovelace",
        "password": GOOD,
        "contacts": {
            "alternate_email": EMAIL,
            "mobile_phone": { "country_code": "1", "number": "(425) 555-0112" },
            "office_phone": { "country_code": "+1", "number": "425 555 0199", "mode": "call" }
        },
        "security_answers": [
            { "question_id": "q01", "answer": "Answer 1" },
            { "question_id": "q02", "answer": "Answer 2" },
            { "question_id": "q03", "answer": "Answer 3" }
        ]
    })
}

#[test]
fn user_lifecycle_and_its_audit_trail() {
    let app = admin_app();

    // Create → read: never a hash, password or answer.
    let created = ok(admin(&app, "POST", "/api/admin/users", Some(&new_user("ada@contoso.com"))), 201);
    let id = created["id"].as_str().unwrap().to_owned();
    let read = admin(&app, "GET", &format!("/api/admin/users/{id}"), None);
    let shown = ok(read.clone(), 200);
    for secret in ["argon2", "password_hash", "answer_hash", GOOD, "Answer 1"] {
        assert!(!read.text().contains(secret), "{secret} in {}", read.text());
    }
    assert_eq!(shown["username"], "ada@contoso.com");
    assert_eq!(shown["contacts"]["office_phone"]["mode"], "call");
    assert_eq!(shown["security_answers"].as_array().unwrap().len(), 3);
    assert_eq!((shown["sspr_enabled"].as_bool(), shown["locked"].as_bool()), (Some(true), Some(false)));
    assert!(users::verify_password(&user(&app, &id), GOOD));
    assert_error(&admin(&app, "POST", "/api/admin/users", Some(&new_user("ADA@contoso.com"))), 409, "username_taken");

    // List with paging: every user once, stable order, no hashes.
    for i in 0..4 {
        ok(
            admin(
                &app,
                "POST",
                "/api/admin/users",
                Some(&json!({ "username": format!("u{i}@contoso.com"), "password": GOOD })),
            ),
            201,
        );
    }
    let mut seen = Vec::new();
    let mut target = "/api/admin/users?limit=2".to_owned();
    loop {
        let reply = admin(&app, "GET", &target, None);
        assert!(!reply.text().contains("argon2"));
        let page = ok(reply, 200);
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        seen.extend(users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => target = format!("/api/admin/users?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], id, "in creation order (the user index)");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "every user once");
    assert_error(&admin(&app, "GET", "/api/admin/users?limit=0", None), 400, "bad_request");
    assert_error(&admin(&app, "GET", "/api/admin/users?page=2", None), 400, "bad_request");

    // Update: display name, one contact removed, a flag; validated.
    let patched = ok(
        admin(
            &app,
            "PATCH",
            &format!("/api/admin/users/{id}"),
            Some(&json!({
                "display_name": "Ada King", "contacts": { "office_phone": null }, "sspr_enabled": true
            })),
        ),
        200,
    );
    assert_eq!(patched["display_name"], "Ada King");
    assert!(patched["contacts"]["office_phone"].is_null());
    assert_eq!(patched["contacts"]["alternate_email"], EMAIL);
    let bad = admin(
        &app,
        "PATCH",
        &format!("/api/admin/users/{id}"),
        Some(&json!({
            "display_name": " ", "contacts": { "alternate_email": "nope" }
        })),
    );
    let body = assert_error(&bad, 422, "invalid_user");
    assert_eq!(body["problems"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(user(&app, &id).display_name, "Ada King", "a refused update changes nothing");

    // Lock: core shows it, and the unlock journey may start.
    let locked = ok(admin(&app, "POST", &format!("/api/admin/users/{id}/lock"), None), 200);
    assert_eq!(locked["lockout_active"], true);
    assert!(user(&app, &id).is_locked(u64::MAX / 4));
    let started = identify(&app, "ada@contoso.com", "unlock");
    assert_eq!(started.status, 200, "{}", started.text());

    // Unlock: lock and failed sign-in counter cleared; the unlock journey has nothing to do.
    let window = user(&app, &id).lock_epoch;
    unlatch_core::Store::increment(&app.store(), &users::signin_failures_key(&id, window), 4).unwrap();
    let unlocked = ok(admin(&app, "POST", &format!("/api/admin/users/{id}/unlock"), None), 200);
    assert_eq!((unlocked["locked"].as_bool(), unlocked["lockout_active"].as_bool()), (Some(false), Some(false)));
    assert!(!user(&app, &id).locked);
    let window = user(&app, &id).lock_epoch;
    assert_eq!(
        unlatch_core::counter::Counter::new(&app.store(), users::signin_failures_key(&id, window)).read().unwrap(),
        0
    );
    assert_error(&identify(&app, "ada@contoso.com", "unlock"), 409, "not_locked");

    // Delete: gone, and the name is free again.
    let deleted = ok(admin(&app, "DELETE", &format!("/api/admin/users/{id}"), None), 200);
    assert_eq!(deleted["deleted"], true);
    assert_error(&admin(&app, "GET", &format!("/api/admin/users/{id}"), None), 404, "user_not_found");
    assert_error(&admin(&app, "DELETE", &format!("/api/admin/users/{id}"), None), 404, "user_not_found");
    assert!(users::find_by_username(&app.store(), "ada@contoso.com").unwrap().is_none());

    // Audit: the admin actions, newest first, filtered by user and type, paged.
    let events = ok(admin(&app, "GET", &format!("/api/admin/audit?user={id}"), None), 200);
    // (identify's own `flow_started` event for this user sits among them.)
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| k.starts_with("admin_"))
        .collect();
    assert_eq!(
        kinds,
        ["admin_user_deleted", "admin_user_unlocked", "admin_user_locked", "admin_user_updated", "admin_user_created"]
    );
    let seqs: Vec<u64> = events["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let admin_events =
        events["events"].as_array().unwrap().iter().filter(|e| e["type"].as_str().unwrap().starts_with("admin_"));
    assert!(admin_events.clone().all(|e| e["detail"]["actor"] == "admin" && e["user_id"] == id.as_str()));
    let created_events = ok(admin(&app, "GET", "/api/admin/audit?type=admin_user_created", None), 200);
    assert_eq!(created_events["events"].as_array().unwrap().len(), 5);
    let page1 = ok(admin(&app, "GET", "/api/admin/audit?type=admin_user_created&limit=3", None), 200);
    assert_eq!(page1["events"].as_array().unwrap().len(), 3);
    let before = page1["next_before"].as_u64().expect("a next page");
    let page2 =
        ok(admin(&app, "GET", &format!("/api/admin/audit?type=admin_user_created&limit=3&before={before}"), None), 200);
    assert_eq!(page2["events"].as_array().unwrap().len(), 2);
    assert!(page2["next_before"].is_null());
    let first_at = created_events["events"][4]["at"].as_u64().unwrap();
    let none_yet = ok(admin(&app, "GET", &format!("/api/admin/audit?until={first_at}"), None), 200);
    assert!(none_yet["events"].as_array().unwrap().iter().all(|e| e["at"].as_u64().unwrap() < first_at));
    let since =
        ok(admin(&app, "GET", &format!("/api/admin/audit?since={first_at}&type=admin_user_deleted"), None), 200);
    assert_eq!(since["events"].as_array().unwrap().len(), 1);
    assert_error(&admin(&app, "GET", "/api/admin/audit?since=yesterday", None), 400, "bad_request");

    // The sweep reports what it removed (which stale keys exist depends on timing) and is audited.
    assert!(ok(admin(&app, "POST", "/api/admin/maintenance/sweep", None), 200)["removed"].is_u64());
    assert_eq!(
        ok(admin(&app, "GET", "/api/admin/audit?type=admin_sweep", None), 200)["events"].as_array().unwrap().len(),
        1
    );

    // No secret anywhere in the audit trail, nor in the key-value store outside hashes.
    let all = admin(&app, "GET", "/api/admin/audit?limit=500", None).text();
    for secret in [GOOD, "Answer 1", "argon2", TOKEN] {
        assert!(!all.contains(secret), "{secret} in the audit trail");
    }
    assert_no_secret_in_kv(&app, &[GOOD, "answer 1", "answer 2", "answer 3", TOKEN]);
}

/// Every value in the app's store, lower-cased, holds none of `secrets`.
fn assert_no_secret_in_kv(app: &App, secrets: &[&str]) {
    use unlatch_core::Store;
    let store = app.store();
    for key in store.keys_with_prefix("").unwrap() {
        let value = String::from_utf8_lossy(&store.get(&key).unwrap().unwrap_or_default()).to_lowercase();
        for secret in secrets {
            assert!(!value.contains(&secret.to_lowercase()), "{secret} stored under {key}");
        }
    }
}

#[test]
fn policy_read_replace_and_every_problem_listed() {
    let app = admin_app();
    let policy = ok(admin(&app, "GET", "/api/admin/policy", None), 200);
    assert_eq!(policy["lockout_threshold"], 10);
    assert_eq!(policy["captcha_difficulty"], 8);

    let mut changed = policy.clone();
    changed["gates_required"] = json!(2);
    changed["password"]["banned_terms"] = json!(["contoso"]);
    let stored = ok(admin(&app, "PUT", "/api/admin/policy", Some(&changed)), 200);
    assert_eq!(stored, changed);
    assert_eq!(ok(admin(&app, "GET", "/api/admin/policy", None), 200), changed);
    assert_eq!(unlatch_core::Policy::load(&app.store()).unwrap().gates_required, 2);

    let mut bad = changed.clone();
    bad["gates_required"] = json!(3);
    bad["questions_to_reset"] = json!(9);
    bad["code_lifetime_seconds"] = json!(5);
    bad["lockout_seconds"] = json!(1);
    bad["password"]["min_length"] = json!(4);
    bad["throttles"]["code_attempts"] = json!(0);
    let body = assert_error(&admin(&app, "PUT", "/api/admin/policy", Some(&bad)), 422, "invalid_policy");
    let problems: Vec<String> =
        body["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    for needle in [
        "gates_required",
        "questions_to_reset must be 3 to 5",
        "questions_to_reset may not exceed",
        "code_lifetime_seconds",
        "lockout_seconds",
        "password.min_length",
        "throttles.code_attempts",
    ] {
        assert!(problems.iter().any(|p| p.contains(needle)), "{needle} in {problems:?}");
    }
    assert_eq!(problems.len(), 7, "{problems:?}");

    let typed = assert_error(
        &admin(
            &app,
            "PUT",
            "/api/admin/policy",
            Some(&json!({ "lockout_threshold": "ten", "sspr_enabled": "some", "colour": "blue" })),
        ),
        422,
        "invalid_policy",
    );
    assert_eq!(typed["problems"].as_array().unwrap().len(), 3, "{typed}");
    assert_eq!(ok(admin(&app, "GET", "/api/admin/policy", None), 200), changed, "refused policies change nothing");

    let events = ok(admin(&app, "GET", "/api/admin/audit?type=admin_policy_replaced", None), 200);
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["changed"], json!(["gates_required", "password"]));
}

#[test]
fn bulk_import_reports_each_line() {
    let app = admin_app();
    let lines = [
        serde_json::to_string(&new_user("one@contoso.com")).unwrap(),
        String::new(),
        "{ this is not json".to_owned(),
        serde_json::to_string(&json!({ "username": "two@contoso.com", "password": "password" })).unwrap(),
        serde_json::to_string(&json!({ "username": "one@contoso.com", "password": GOOD })).unwrap(),
        serde_json::to_string(
            &json!({ "username": "three@contoso.com", "password": GOOD, "locked": true, "role": "admin" }),
        )
        .unwrap(),
    ];
    let body = lines.join("\n");
    let reply = send(&app, "POST", "/api/admin/users/import", Some(&bearer()), "application/x-ndjson", body.as_bytes());
    let report = ok(reply, 200);
    assert_eq!((report["created"].as_u64(), report["failed"].as_u64()), (Some(2), Some(3)));
    let results = report["results"].as_array().unwrap();
    let summary: Vec<(u64, bool)> =
        results.iter().map(|r| (r["line"].as_u64().unwrap(), r["ok"].as_bool().unwrap())).collect();
    assert_eq!(summary, [(1, true), (3, false), (4, false), (5, false), (6, true)]);
    assert!(results[0]["id"].as_str().is_some_and(|id| id.len() == 32));
    assert_eq!(results[1]["error"]["error"], "invalid_json");
    assert_eq!(results[2]["error"]["error"], "invalid_user");
    assert_eq!(results[2]["error"]["violations"][0]["rule"], "common_password");
    assert_eq!(results[3]["error"]["error"], "username_taken");
    let three = users::find_by_username(&app.store(), "three@contoso.com").unwrap().unwrap();
    assert!(three.locked && three.is_admin());
    assert!(!report.to_string().contains(GOOD));
    assert_no_secret_in_kv(&app, &[GOOD, "answer 1", "\"password\":\"password\""]);

    // The import route takes JSON lines only; the 1 MiB cap is its own.
    let as_json = send(&app, "POST", "/api/admin/users/import", Some(&bearer()), "application/json", body.as_bytes());
    assert_error(&as_json, 415, "unsupported_media_type");
    let big = format!("{}\n", " ".repeat(20 * 1024)) + &lines[0].replace("one@", "four@");
    let medium = send(&app, "POST", "/api/admin/users/import", Some(&bearer()), "application/x-ndjson", big.as_bytes());
    assert_eq!(ok(medium, 200)["created"], 1, "bodies over 16 KiB are fine here");
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_error(
        &send(&app, "POST", "/api/admin/users/import", Some(&bearer()), "application/x-ndjson", &huge),
        413,
        "payload_too_large",
    );
    let big_json = serde_json::to_vec(&json!({ "username": "x", "password": " ".repeat(17 * 1024) })).unwrap();
    assert_error(
        &send(&app, "POST", "/api/admin/users", Some(&bearer()), "application/json", &big_json),
        413,
        "payload_too_large",
    );

    let events = ok(admin(&app, "GET", "/api/admin/audit?type=admin_users_imported", None), 200);
    assert_eq!(events["events"][0]["detail"]["created"], 1);
    assert_eq!(events["events"][1]["detail"]["failed"], 3);
}

#[test]
fn malformed_input_is_4xx_json() {
    let app = admin_app();
    let id = ok(
        admin(&app, "POST", "/api/admin/users", Some(&json!({ "username": "m@contoso.com", "password": GOOD }))),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_path = format!("/api/admin/users/{id}");
    let lock_path = format!("/api/admin/users/{id}/lock");
    let cases: Vec<(&str, &str, &str, &[u8])> = vec![
        ("POST", "/api/admin/users", "application/json", b"{\"username\": "),
        ("POST", "/api/admin/users", "application/json", b"[\"a\"]"),
        ("POST", "/api/admin/users", "application/json", b""),
        ("POST", "/api/admin/users", "application/json", br#"{"username": 5, "password": "x"}"#),
        ("POST", "/api/admin/users", "application/json", br#"{"username": "a", "pasword": "x"}"#),
        (
            "POST",
            "/api/admin/users",
            "application/json",
            br#"{"username": "a", "password": "Correct-Horse-Battery-9", "locked": "yes"}"#,
        ),
        (
            "POST",
            "/api/admin/users",
            "application/json",
            br#"{"username": "a", "password": "Correct-Horse-Battery-9", "role": "root"}"#,
        ),
        (
            "POST",
            "/api/admin/users",
            "application/json",
            br#"{"username": "a", "password": "Correct-Horse-Battery-9", "contacts": {"mobile_phone": "555"}}"#,
        ),
        ("POST", "/api/admin/users", "text/plain", br#"{"username": "a", "password": "Correct-Horse-Battery-9"}"#),
        ("PATCH", &user_path, "application/json", b"{"),
        ("PATCH", &user_path, "application/json", br#"{"username": "renamed"}"#),
        ("PATCH", &user_path, "application/json", br#"{"sspr_enabled": "no"}"#),
        ("PATCH", &user_path, "application/x-www-form-urlencoded", b"display_name=x"),
        ("POST", &lock_path, "application/json", br#"{"seconds": "soon"}"#),
        ("POST", &lock_path, "application/json", br#"{"seconds": 1}"#),
        ("PUT", "/api/admin/policy", "application/json", b"not json"),
        ("PUT", "/api/admin/policy", "application/json", b"[]"),
        ("PUT", "/api/admin/policy", "application/json", br#"{"gates_required": "two"}"#),
        ("POST", "/api/admin/users/import", "application/x-ndjson", b"\n\n"),
        ("POST", "/api/admin/users/import", "application/x-ndjson", b"\xff\xfe\n"),
        ("GET", "/api/admin/audit?limit=-1", "application/json", b""),
        ("GET", "/api/admin/audit?user=%zz", "application/json", b""),
    ];
    for (method, path, content_type, body) in cases {
        let reply = send(&app, method, path, Some(&bearer()), content_type, body);
        assert!(
            (400..500).contains(&reply.status),
            "{method} {path} {:?}: {} {}",
            String::from_utf8_lossy(body),
            reply.status,
            reply.text()
        );
        let json = reply.json();
        assert!(json["error"].as_str().is_some() && json["message"].as_str().is_some(), "{json}");
    }
    let after = user(&app, &id);
    assert!(!after.locked && after.display_name == "m@contoso.com", "nothing changed");
}

#[test]
fn an_admin_created_user_can_reset_their_password() {
    let app = admin_app();
    let created = ok(admin(&app, "POST", "/api/admin/users", Some(&new_user("grace@contoso.com"))), 201);
    let id = created["id"].as_str().unwrap();

    let flow = start_flow(&app, "grace@contoso.com", "reset");
    let passed = pass_code_gate(&app, &flow, "email", EMAIL);
    assert_eq!(passed["next"], "set_password");
    let done = set_password(&app, &flow, "Another-Good-One-77");
    assert_eq!(done.status, 200, "{}", done.text());
    let after = user(&app, id);
    assert!(users::verify_password(&after, "Another-Good-One-77"));
    assert!(!users::verify_password(&after, GOOD));

    // The admin's questions work as a gate too.
    let flow = start_flow(&app, "grace@contoso.com", "reset");
    assert_eq!(pass_questions_gate(&app, &flow)["gates_passed"], 1);

    // And an admin switching SSPR off for the user (policy scope "selected") stops the journey.
    ok(admin(&app, "PATCH", &format!("/api/admin/users/{id}"), Some(&json!({ "sspr_enabled": false }))), 200);
    assert_error(&identify(&app, "grace@contoso.com", "reset"), 403, "not_enabled");
}

#[test]
fn admin_unlock_clears_a_sign_in_lockout() {
    let app = admin_app();
    let id = ok(
        admin(&app, "POST", "/api/admin/users", Some(&json!({ "username": "lee@contoso.com", "password": GOOD }))),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 1..=10 {
        let r = unlatch_e2e::account::signin(&app, "lee@contoso.com", "Not-the-password-1");
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text());
    }
    assert_error(&unlatch_e2e::account::signin(&app, "lee@contoso.com", GOOD), 423, "account_locked");
    let shown = ok(admin(&app, "GET", &format!("/api/admin/users/{id}"), None), 200);
    assert_eq!(shown["lockout_active"], true);

    let unlocked = ok(admin(&app, "POST", &format!("/api/admin/users/{id}/unlock"), None), 200);
    assert_eq!(unlocked["lockout_active"], false);
    let signed_in = unlatch_e2e::account::signin(&app, "lee@contoso.com", GOOD);
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    // The counter restarted: one wrong password does not lock again.
    assert_eq!(unlatch_e2e::account::signin(&app, "lee@contoso.com", "Not-the-password-1").status, 401);
    assert_eq!(unlatch_e2e::account::signin(&app, "lee@contoso.com", GOOD).status, 200);
}
