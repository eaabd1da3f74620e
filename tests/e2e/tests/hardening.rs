//! Hardening over HTTP: bodies are never read past their cap, the server's
//! secrets are not kept beside what they protect (and flow ids are not kept at
//! all), and the small refusals: two `Authorization` headers, a near-miss
//! `dev_mode`, a contact-admin note that is not plain text.

use serde_json::{Value, json};
use std::time::Duration;
use unlatch_core::notify;
use unlatch_core::users::Role;
use unlatch_e2e::App;
use unlatch_e2e::app::SECRETS;
use unlatch_e2e::client::{self, Framing};
use unlatch_e2e::journey::*;

// ---------------------------------------------------------------------------
// 1. Bodies are read under their cap, as a stream.

/// A memory figure (KiB) of `/proc/<pid>/status`, summed over every process
/// in process group `pgid`: the runner, or `spin up` and the `spin trigger
/// http` it serves from. `VmRSS` is resident memory now; `VmHWM` its peak, which
/// also catches a body held only while its request ran (a component's memory
/// is unmapped when its instance ends).
fn group_memory_kib(pgid: u32, field: &str) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
        let Some(after_comm) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        if after_comm.split_whitespace().nth(2).and_then(|g| g.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

const BIG: usize = 64 * 1024 * 1024;

#[test]
fn a_64_mb_sign_in_body_is_refused_413_without_being_read() {
    let app = App::start();
    let signin = |body: &[u8]| app.request("POST", "/api/signin", &[("content-type", "application/json")], body);
    // Warm up: the component compiled and instantiated, the host's pools in use.
    for _ in 0..5 {
        assert_error(&signin(br#"{"username":"nobody@contoso.com","password":"x"}"#), 401, "invalid_credentials");
        assert_error(&signin(&vec![b' '; 16 * 1024 + 1]), 413, "payload_too_large");
    }
    let (rss_before, peak_before) = (group_memory_kib(app.pid(), "VmRSS"), group_memory_kib(app.pid(), "VmHWM"));

    for framing in [Framing::Length, Framing::Chunked] {
        let sent = client::send_large(app.addr(), "/api/signin", &[("content-type", "application/json")], BIG, framing);
        eprintln!(
            "{framing:?}: {} after {:?}, {} of {BIG} body bytes got out",
            sent.reply.status, sent.elapsed, sent.body_bytes_sent
        );
        assert_error(&sent.reply, 413, "payload_too_large");
        assert!(
            sent.body_bytes_sent < BIG / 2,
            "{framing:?}: the answer came before the body was through ({} of {BIG} bytes sent)",
            sent.body_bytes_sent
        );
        assert!(sent.elapsed < Duration::from_secs(10), "{framing:?}: answered quickly ({:?})", sent.elapsed);
    }

    let (rss_after, peak_after) = (group_memory_kib(app.pid(), "VmRSS"), group_memory_kib(app.pid(), "VmHWM"));
    eprintln!(
        "host RSS: {} MiB before, {} MiB after; peak RSS: {} MiB before, {} MiB after",
        rss_before / 1024,
        rss_after / 1024,
        peak_before / 1024,
        peak_after / 1024
    );
    for (what, before, after) in [("resident", rss_before, rss_after), ("peak resident", peak_before, peak_after)] {
        assert!(
            after < before + 32 * 1024,
            "the host's {what} memory grew by {} MiB for two refused 64 MB bodies",
            after.saturating_sub(before) / 1024
        );
    }
    // And it still serves.
    assert_error(&signin(br#"{"username":"nobody@contoso.com","password":"x"}"#), 401, "invalid_credentials");
}

#[test]
fn every_component_refuses_a_64_mb_body_before_reading_it() {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", "hardening-admin-token")]);
    let targets = [
        ("/api/identify", None),
        ("/api/contact-admin", None),
        ("/api/send-code", None),
        ("/api/verify-code", None),
        ("/api/set-password", None),
        ("/api/unlock", None),
        ("/api/register/start", None),
        ("/api/signout", None),
        ("/api/admin/users", Some("Bearer hardening-admin-token")),
        ("/api/admin/users/import", Some("Bearer hardening-admin-token")),
        // Pages take no POST and read no body.
        ("/reset", None),
    ];
    for (target, authorization) in targets {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(authorization.map(|a| ("authorization", a)));
        let sent = client::send_large(app.addr(), target, &headers, BIG, Framing::Chunked);
        assert!(matches!(sent.reply.status, 405 | 413), "{target}: {}", sent.reply.status);
        assert!(sent.body_bytes_sent < BIG / 2, "{target}: {} of {BIG} bytes sent", sent.body_bytes_sent);
    }
    // The import keeps its own 1 MiB cap: a body over 16 KiB is taken, one over 1 MiB is not.
    let line = json!({ "username": "bulk@contoso.com", "password": "Bulk-password-42!" }).to_string();
    let medium = format!("{}\n{line}\n", " ".repeat(100 * 1024));
    let headers = [("content-type", "application/x-ndjson"), ("authorization", "Bearer hardening-admin-token")];
    let imported = app.request("POST", "/api/admin/users/import", &headers, medium.as_bytes());
    assert_eq!(imported.status, 200, "{}", imported.text());
    let sent = client::send_large(app.addr(), "/api/admin/users/import", &headers, 1024 * 1024 + 1, Framing::Chunked);
    assert_error(&sent.reply, 413, "payload_too_large");
}

// ---------------------------------------------------------------------------
// 2. Secrets apart from the store; flows stored under a keyed hash of their id.

/// Every step that needs the server's keys, with a body of the right shape.
fn keyed_steps() -> Vec<(&'static str, &'static str, Value)> {
    let flow = "0123456789abcdef0123456789abcdef";
    vec![
        ("GET", "/api/identify/challenge", Value::Null),
        (
            "POST",
            "/api/identify",
            json!({ "username": "jane@contoso.com", "purpose": "reset", "captcha": { "challenge": "x", "solution": "1" } }),
        ),
        ("POST", "/api/send-code", json!({ "flow": flow, "method": "email", "destination": EMAIL })),
        ("POST", "/api/verify-code", json!({ "flow": flow, "method": "email", "code": "123456" })),
        ("POST", "/api/set-password", json!({ "flow": flow, "new_password": "Correct-Horse-Battery-9" })),
        ("POST", "/api/unlock", json!({ "flow": flow })),
        ("POST", "/api/signin", json!({ "username": "jane@contoso.com", "password": PASSWORD })),
    ]
}

fn call(app: &App, method: &str, target: &str, body: &Value) -> client::Reply {
    if body.is_null() { app.request(method, target, &[], b"") } else { app.post_json(target, body) }
}

#[test]
fn without_dev_mode_empty_secrets_are_503_not_configured_and_no_key_is_made() {
    let app = App::start_with(&[]);
    user_with_everything(&app, "jane@contoso.com");
    for (method, target, body) in keyed_steps() {
        let reply = call(&app, method, target, &body);
        let error = assert_error(&reply, 503, "not_configured");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("`captcha_secret`") && message.contains("`code_secret`") && message.contains("openssl"),
            "{target}: {message}"
        );
    }
    let keys: Vec<String> = app.store().entries().into_iter().map(|(k, _)| k).collect();
    assert!(!keys.iter().any(|k| k.starts_with("secret")), "no key is generated outside dev_mode: {keys:?}");

    // One of the two set: the other is named.
    let half = App::start_with(&[SECRETS[0]]);
    let reply = half.post_json("/api/signin", &json!({ "username": "x", "password": "y" }));
    let message = assert_error(&reply, 503, "not_configured")["message"].as_str().unwrap().to_owned();
    assert!(message.contains("`code_secret`") && !message.contains("`captcha_secret`"), "{message}");
    // A short secret is not a secret.
    let weak = App::start_with(&[("captcha_secret", "changeme"), SECRETS[1]]);
    assert_error(&weak.get("/api/identify/challenge"), 503, "not_configured");
}

/// The newest code the notifier handed over, read from the store (the dev
/// outbox route is off without dev_mode).
fn newest_code(app: &App) -> String {
    let sent = notify::outbox(&app.store(), 1).unwrap();
    let body = &sent.first().expect("a message was sent").message.body;
    body.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6).expect("a 6-digit code").to_owned()
}

/// Every key and every value of the store, as text.
fn store_text(app: &App) -> Vec<(String, String)> {
    app.store().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect()
}

#[track_caller]
fn assert_no_flow_id_in_store(app: &App, flow_ids: &[String]) {
    let entries = store_text(app);
    assert!(entries.iter().any(|(k, _)| k.starts_with("flow:")), "flows are stored");
    for id in flow_ids {
        for (key, value) in &entries {
            assert!(!key.contains(id.as_str()), "the key {key} holds the flow id {id}");
            assert!(!value.contains(id.as_str()), "the value of {key} holds the flow id {id}");
        }
    }
}

#[test]
fn with_secrets_set_a_reset_works_and_the_store_holds_neither_keys_nor_flow_ids() {
    let app = App::start_with(&SECRETS);
    set_policy(&app, |p| p.gates_required = 2);
    set_policy(&app, |p| p.captcha_difficulty = 8);
    user_with_everything(&app, "jane@contoso.com");

    let flow = start_flow(&app, "jane@contoso.com", "reset");
    let mut flow_ids = vec![flow.clone()];
    assert_eq!(send_code(&app, &flow, "email", EMAIL).status, 202);
    assert_error(&verify_code(&app, &flow, "email", "000000"), 401, "wrong_code");
    assert!(store_text(&app).iter().any(|(k, _)| k.starts_with("code-attempts:")), "the wrong try was counted");
    assert_no_flow_id_in_store(&app, &flow_ids);
    let verified = verify_code(&app, &flow, "email", &newest_code(&app));
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(pass_questions_gate(&app, &flow)["next"], "set_password");
    assert_no_flow_id_in_store(&app, &flow_ids);
    let reset = set_password(&app, &flow, "Correct-Horse-Battery-9");
    assert_eq!(reset.status, 200, "{}", reset.text());
    assert_error(&set_password(&app, &flow, "Correct-Horse-Battery-10"), 409, "flow_state");

    let signed_in =
        app.post_json("/api/signin", &json!({ "username": "jane@contoso.com", "password": "Correct-Horse-Battery-9" }));
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());

    // A second flow, left mid-way, and the admins' contact form by flow id.
    let second = start_flow(&app, "jane@contoso.com", "reset");
    flow_ids.push(second);
    assert_no_flow_id_in_store(&app, &flow_ids);
    let entries = store_text(&app);
    assert!(!entries.iter().any(|(k, _)| k.starts_with("secret")), "the keys live only in the variables");
    for (_, secret) in SECRETS {
        assert!(!entries.iter().any(|(k, v)| k.contains(secret) || v.contains(secret)), "a secret is in the store");
    }
}

#[test]
fn in_dev_mode_no_key_holds_a_flow_id_either() {
    let app = quick_app();
    user_with_everything(&app, "jane@contoso.com");
    let reset = start_flow(&app, "jane@contoso.com", "reset");
    pass_code_gate(&app, &reset, "email", EMAIL);
    let other = start_flow(&app, "jane@contoso.com", "reset");
    let questions = ask_questions(&app, &other);
    assert_error(&answer_questions(&app, &other, &questions, |_| "wrong".into()), 401, "wrong_answers");
    let keys: Vec<String> = app.store().entries().into_iter().map(|(k, _)| k).collect();
    for family in ["flow:", "questions-answered:"] {
        assert!(keys.iter().any(|k| k.starts_with(family)), "{family} {keys:?}");
    }
    for id in [&reset, &other] {
        assert!(!keys.iter().any(|k| k.contains(id.as_str())), "a key holds the flow id {id}: {keys:?}");
    }
}

// ---------------------------------------------------------------------------
// 3. The small refusals.

const ADMIN_TOKEN: &str = "hardening-admin-token";

#[test]
fn two_authorization_headers_are_refused_by_the_admin_api() {
    let app = App::start_with(&[("dev_mode", "true"), ("admin_token", ADMIN_TOKEN)]);
    let right = format!("Bearer {ADMIN_TOKEN}");
    let users = |headers: &[(&str, &str)]| app.request("GET", "/api/admin/users", headers, b"");
    assert_eq!(users(&[("authorization", &right)]).status, 200);
    for pair in [[right.as_str(), right.as_str()], [right.as_str(), "Bearer wrong"], ["Bearer wrong", right.as_str()]] {
        let reply = users(&[("authorization", pair[0]), ("authorization", pair[1])]);
        assert_error(&reply, 400, "bad_request");
        assert!(reply.text().contains("Authorization"), "{}", reply.text());
    }
    // Before any body is read, and whatever the route.
    let created = app.request(
        "POST",
        "/api/admin/users",
        &[("authorization", &right), ("authorization", &right), ("content-type", "application/json")],
        br#"{"username":"sneaky@contoso.com","password":"Sneaky-password-42!"}"#,
    );
    assert_error(&created, 400, "bad_request");
    assert!(unlatch_core::users::find_by_username(&app.store(), "sneaky@contoso.com").unwrap().is_none());
}

#[test]
fn dev_mode_is_on_only_for_the_exact_text_true() {
    for near_miss in ["TRUE", "True", " true", "true ", "1", "yes"] {
        let app = App::start_with(&[("dev_mode", near_miss), SECRETS[0], SECRETS[1]]);
        assert_error(&app.get("/api/dev/outbox"), 404, "not_found");
        drop(app);
        // Nor does a near miss make keys: without secrets the service is not configured.
        let bare = App::start_with(&[("dev_mode", near_miss)]);
        assert_error(&bare.get("/api/identify/challenge"), 503, "not_configured");
    }
    let app = App::start_with(&[("dev_mode", "true")]);
    assert_eq!(app.get("/api/dev/outbox").status, 200);
    assert_eq!(app.get("/api/identify/challenge").status, 200, "dev_mode makes its own keys");
}

#[test]
fn the_contact_admin_note_is_plain_text_and_its_links_reach_the_admins_as_text() {
    let app = quick_app();
    user_with(&app, "stuck@contoso.com", |_| {});
    user_with(&app, "boss@contoso.com", |u| {
        u.role = Role::Admin;
        u.contacts.alternate_email = Some("boss@fabrikam.com".into());
    });
    let ask = |note: &str| {
        app.post_json(
            "/api/contact-admin",
            &json!({ "username": "stuck@contoso.com", "purpose": "reset", "note": note }),
        )
    };
    for bad in [
        "x".repeat(501),
        "é".repeat(501),
        "first line\nsecond line".into(),
        "carriage\rreturn".into(),
        "tab\there".into(),
        "escape \u{1b}[31m".into(),
        "nul \u{0}".into(),
        "next line \u{85}".into(),
        "right-to-left override \u{202E}lmth.exe".into(),
        "zero\u{200B}width".into(),
    ] {
        assert_error(&ask(&bad), 400, "bad_request");
    }
    assert!(outbox(&app).is_empty(), "a refused note sends nothing");

    let longest = "é".repeat(500);
    assert_eq!(ask(&longest).status, 202, "500 characters (not bytes) are fine");
    let phish = r#"Urgent: approve at https://evil.example/login or <a href="http://evil.example">here</a>"#;
    assert_eq!(ask(phish).status, 202);
    let messages = outbox(&app);
    let body = messages[0]["body"].as_str().unwrap();
    assert!(
        body.contains(r#"https[:]//evil[.]example/login or <a href="http[:]//evil[.]example">here</a>"#),
        "the note is shown as typed, its addresses defused: {body}"
    );
    assert!(!body.contains("://") && !body.contains("evil.example"), "nothing a mail client would link: {body}");
    assert!(messages[1]["body"].as_str().unwrap().contains(&longest));
}
