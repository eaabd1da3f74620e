//! The users: create, read, list, update, delete, lock, unlock and bulk
//! import. Each change is one audited store update.

use super::ACTOR;
use super::validate::{
    CreateUserRequest, LockRequest, PhoneInput, Problems, UpdateUserRequest, check_email, check_password, check_phone,
    check_text, number_param, parse_query, text_param, validate_new_user, with_violations,
};
use crate::domain::audit;
use crate::domain::password_policy::Subject;
use crate::domain::phone::Phone;
use crate::domain::policy::Policy;
use crate::domain::users::{self, Contacts, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::ctx::Ctx;
use crate::platform::request;
use serde::Serialize;
use serde_json::{Value, json};

/// Users per bulk import request (each costs one or more Argon2id hashes).
pub const MAX_IMPORT_LINES: usize = 500;
/// Users per listed page: default and most.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// A user as the admin API shows it: no hash, plus whether a lock is in force now.
pub fn view(user: &User, now: u64) -> Value {
    let mut v = user.redacted();
    v["lockout_active"] = json!(user.is_locked(now));
    v
}

fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound, "No such user.")
}

fn load(ctx: &Ctx, id: &str) -> Result<User> {
    users::get(ctx.store, id)?.ok_or_else(user_not_found)
}

fn create_one(ctx: &Ctx, policy: &Policy, req: CreateUserRequest, via: &str) -> Result<User> {
    let new = validate_new_user(policy, req)?;
    let user = users::create(ctx, new)?;
    audit::append(
        ctx,
        "admin_user_created",
        Some(&user.id),
        json!({ "actor": ACTOR, "via": via, "username": user.username, "role": user.role,
                "locked": user.locked, "questions": user.security_answers.len() }),
    )?;
    Ok(user)
}

/// `POST /api/admin/users` → 201 with the user.
pub fn create_user(ctx: &Ctx, req: CreateUserRequest) -> Result<Value> {
    let policy = Policy::load(ctx.store)?;
    Ok(view(&create_one(ctx, &policy, req, "api")?, ctx.now()))
}

/// `GET /api/admin/users/<id>`.
pub fn get_user(ctx: &Ctx, id: &str) -> Result<Value> {
    Ok(view(&load(ctx, id)?, ctx.now()))
}

#[derive(Debug, Clone, Serialize)]
pub struct UserPage {
    pub users: Vec<Value>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/admin/users?limit=&cursor=`: ordered by id (stable across pages
/// whatever is created or deleted meanwhile); `cursor` is the last id seen.
pub fn list_users(ctx: &Ctx, query: &str) -> Result<UserPage> {
    let q = parse_query(query, &["limit", "cursor"])?;
    let limit = number_param(&q, "limit", 1..=MAX_PAGE as u64)?.map_or(DEFAULT_PAGE, |n| n as usize);
    // The cursor is a position in the append-only user index (creation order).
    let after = match text_param(&q, "cursor")? {
        None => 0,
        Some(c) => c.parse::<u64>().map_err(|_| ApiError::bad_request("`cursor` is the `next_cursor` of a page."))?,
    };
    let (users, next) = users::page(ctx.store, after, limit)?;
    let now = ctx.now();
    Ok(UserPage { users: users.iter().map(|u| view(u, now)).collect(), next_cursor: next.map(|n| n.to_string()) })
}

fn patch_phone(problems: &mut Problems, field: &str, p: &Option<Option<PhoneInput>>) -> Option<Option<Phone>> {
    match p {
        None => None,
        Some(None) => Some(None),
        Some(Some(input)) => check_phone(problems, field, input).map(Some),
    }
}

fn patch_email(problems: &mut Problems, field: &str, e: &Option<Option<String>>) -> Option<Option<String>> {
    match e {
        None => None,
        Some(None) => Some(None),
        Some(Some(input)) => check_email(problems, field, input).map(Some),
    }
}

/// `PATCH /api/admin/users/<id>`: validates every given field (422
/// `invalid_user` listing all problems), then applies them in one atomic update.
pub fn update_user(ctx: &Ctx, id: &str, req: UpdateUserRequest) -> Result<Value> {
    let current = load(ctx, id)?;
    let policy = Policy::load(ctx.store)?;
    let mut problems = Problems::default();
    let mut changed: Vec<&str> = Vec::new();
    if let Some(name) = &req.display_name {
        check_text(&mut problems, "display_name", name, 256);
        changed.push("display_name");
    }
    let c = req.contacts.clone().unwrap_or_default();
    let contacts = [
        (
            "contacts.authentication_phone",
            patch_phone(&mut problems, "contacts.authentication_phone", &c.authentication_phone).map(Contact::Phone),
        ),
        (
            "contacts.mobile_phone",
            patch_phone(&mut problems, "contacts.mobile_phone", &c.mobile_phone).map(Contact::Phone),
        ),
        (
            "contacts.office_phone",
            patch_phone(&mut problems, "contacts.office_phone", &c.office_phone).map(Contact::Phone),
        ),
        (
            "contacts.alternate_email",
            patch_email(&mut problems, "contacts.alternate_email", &c.alternate_email).map(Contact::Email),
        ),
        (
            "contacts.authentication_email",
            patch_email(&mut problems, "contacts.authentication_email", &c.authentication_email).map(Contact::Email),
        ),
    ];
    for (name, given) in [
        ("contacts.authentication_phone", c.authentication_phone.is_some()),
        ("contacts.mobile_phone", c.mobile_phone.is_some()),
        ("contacts.office_phone", c.office_phone.is_some()),
        ("contacts.alternate_email", c.alternate_email.is_some()),
        ("contacts.authentication_email", c.authentication_email.is_some()),
    ] {
        if given {
            changed.push(name);
        }
    }
    for (flag, given) in [
        ("role", req.role.is_some()),
        ("sspr_enabled", req.sspr_enabled.is_some()),
        ("password_managed_here", req.password_managed_here.is_some()),
        ("locked", req.locked.is_some()),
    ] {
        if given {
            changed.push(flag);
        }
    }
    let mut violations = Vec::new();
    if let Some(password) = &req.password {
        let display = req.display_name.as_deref().map_or(current.display_name.as_str(), str::trim);
        let who =
            Subject { username: &current.username, display_name: display, current_hash: Some(&current.password_hash) };
        violations = check_password(&mut problems, &policy, password, &who);
        changed.push("password");
    }
    with_violations(problems.into_result(), &violations)?;
    if changed.is_empty() {
        return Ok(view(&current, ctx.now()));
    }
    let new_hash = match &req.password {
        Some(p) => Some(crate::domain::hashing::hash(ctx.random, p)?),
        None => None,
    };
    let now = ctx.now();
    let updated = users::update(ctx.store, id, |u| {
        if let Some(name) = &req.display_name {
            u.display_name = name.trim().to_owned();
        }
        for (name, value) in &contacts {
            if let Some(value) = value {
                value.apply(&mut u.contacts, name);
            }
        }
        if let Some(role) = req.role {
            u.role = role;
        }
        if let Some(on) = req.sspr_enabled {
            u.sspr_enabled = on;
        }
        if let Some(on) = req.password_managed_here {
            u.password_managed_here = on;
        }
        if let Some(locked) = req.locked {
            u.locked = locked;
            u.locked_until = None;
            if !locked {
                // A new lockout window: the failures counted so far no longer count.
                u.failed_signins = 0;
                u.lock_epoch += 1;
            }
        }
        if let Some(hash) = &new_hash {
            u.password_hash = hash.clone();
            u.password_changed_at = now;
        }
    })?;
    if req.locked == Some(false) {
        users::retire_window(ctx, id, updated.lock_epoch - 1)?;
    }
    if req.password.is_some() {
        // A new password signs out every session opened with the old one.
        crate::domain::session::end_all(ctx, id)?;
    }
    audit::append(ctx, "admin_user_updated", Some(id), json!({ "actor": ACTOR, "fields": changed }))?;
    Ok(view(&updated, ctx.now()))
}

enum Contact {
    Phone(Option<Phone>),
    Email(Option<String>),
}

impl Contact {
    fn apply(&self, c: &mut Contacts, name: &str) {
        match (self, name) {
            (Contact::Phone(p), "contacts.authentication_phone") => c.authentication_phone = p.clone(),
            (Contact::Phone(p), "contacts.mobile_phone") => c.mobile_phone = p.clone(),
            (Contact::Phone(p), "contacts.office_phone") => c.office_phone = p.clone(),
            (Contact::Email(e), "contacts.alternate_email") => c.alternate_email = e.clone(),
            (Contact::Email(e), "contacts.authentication_email") => c.authentication_email = e.clone(),
            _ => {}
        }
    }
}

/// `DELETE /api/admin/users/<id>` → `{deleted: true, id}`.
pub fn delete_user(ctx: &Ctx, id: &str) -> Result<Value> {
    let user = load(ctx, id)?;
    if !users::delete(ctx.store, id)? {
        return Err(user_not_found());
    }
    crate::domain::session::end_all(ctx, id)?;
    audit::append(ctx, "admin_user_deleted", Some(id), json!({ "actor": ACTOR, "username": user.username }))?;
    Ok(json!({ "deleted": true, "id": id }))
}

/// `POST /api/admin/users/<id>/lock`: until unlocked, or for `seconds` (60 s to 1 year).
pub fn lock_user(ctx: &Ctx, id: &str, req: LockRequest) -> Result<Value> {
    load(ctx, id)?;
    if req.seconds.is_some_and(|s| !(60..=365 * 86400).contains(&s)) {
        let mut problems = Problems::default();
        problems.add("seconds", "must be 60 to 31536000 (one year); leave it out to lock until unlocked.");
        problems.into_result()?;
    }
    let until = req.seconds.map(|s| ctx.now() + s);
    let user = users::lock(ctx.store, id, until)?;
    audit::append(ctx, "admin_user_locked", Some(id), json!({ "actor": ACTOR, "until": until }))?;
    Ok(view(&user, ctx.now()))
}

/// `POST /api/admin/users/<id>/unlock`: clears the lock and the failed sign-in counter.
pub fn unlock_user(ctx: &Ctx, id: &str) -> Result<Value> {
    let before = load(ctx, id)?;
    let user = users::clear_lockout(ctx, id)?;
    audit::append(
        ctx,
        "admin_user_unlocked",
        Some(id),
        json!({ "actor": ACTOR, "was_locked": before.is_locked(ctx.now()) }),
    )?;
    Ok(view(&user, ctx.now()))
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub failed: usize,
    /// One per non-blank line: `{line, ok: true, id, username}` or `{line, ok: false, error: {error, message, ...}}`.
    pub results: Vec<Value>,
}

/// `POST /api/admin/users/import` with JSON lines, each a create request.
/// Lines are independent: a bad line is reported and the others go on.
pub fn import_users(ctx: &Ctx, body: &[u8]) -> Result<ImportReport> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("The import body must be UTF-8 JSON lines."))?;
    let lines: Vec<(usize, &str)> =
        text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty()).collect();
    if lines.is_empty() {
        return Err(ApiError::bad_request("The import body has no lines; send one JSON object per line."));
    }
    if lines.len() > MAX_IMPORT_LINES {
        return Err(ApiError::new(
            ErrorCode::TooManyLines,
            format!("At most {MAX_IMPORT_LINES} users per import; split the file."),
        ));
    }
    let policy = Policy::load(ctx.store)?;
    let mut report = ImportReport { created: 0, failed: 0, results: Vec::with_capacity(lines.len()) };
    for (line, raw) in lines {
        let outcome =
            request::parse::<CreateUserRequest>(raw.as_bytes()).and_then(|req| create_one(ctx, &policy, req, "import"));
        match outcome {
            Ok(user) => {
                report.created += 1;
                report.results.push(json!({ "line": line, "ok": true, "id": user.id, "username": user.username }));
            }
            Err(e) => {
                report.failed += 1;
                report.results.push(json!({ "line": line, "ok": false, "error": e.body() }));
            }
        }
    }
    audit::append(
        ctx,
        "admin_users_imported",
        None,
        json!({ "actor": ACTOR, "created": report.created, "failed": report.failed }),
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::admin::list_audit;
    use crate::testing::TestEnv;

    const GOOD: &str = "Correct-Horse-Battery-9";

    fn create_req(username: &str) -> CreateUserRequest {
        serde_json::from_value(json!({
            "username": username,
            "display_name": "Ada Lovelace",
            "password": GOOD,
            "contacts": {
                "alternate_email": "ada@fabrikam.com",
                "mobile_phone": { "country_code": "+1", "number": "(425) 555-0112" }
            },
            "security_answers": [
                { "question_id": "q01", "answer": "Paris" },
                { "question_id": "q12", "answer": "Lasagne" },
                { "question_id": "q29", "answer": "Rex the dog" }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn create_validates_everything_and_never_shows_hashes() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let shown = create_user(&ctx, create_req("ada@contoso.com")).unwrap();
        let text = shown.to_string();
        assert!(!text.contains("argon2") && !text.contains("Paris") && !text.contains(GOOD), "{text}");
        assert_eq!(shown["contacts"]["mobile_phone"]["country_code"], "1");
        assert_eq!(shown["security_answers"].as_array().unwrap().len(), 3);
        assert_eq!(shown["lockout_active"], false);
        let stored = users::get(ctx.store, shown["id"].as_str().unwrap()).unwrap().unwrap();
        assert!(users::verify_password(&stored, GOOD));
        assert_eq!(create_user(&ctx, create_req("ADA@contoso.com")).unwrap_err().error(), "username_taken");

        let bad: CreateUserRequest = serde_json::from_value(json!({
            "username": "bad user",
            "password": "Zq9!",
            "role": "admin",
            "contacts": { "alternate_email": "not-an-email", "office_phone": { "country_code": "0", "number": "12" } },
            "security_answers": [ { "question_id": "q01", "answer": "ab" }, { "question_id": "zz", "answer": "fine answer" } ]
        }))
        .unwrap();
        let e = create_user(&ctx, bad).unwrap_err();
        assert_eq!((e.status(), e.error()), (422, "invalid_user"));
        let body = e.body();
        let fields: Vec<&str> =
            body["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
        for f in [
            "username",
            "contacts.office_phone.country_code",
            "contacts.office_phone.number",
            "contacts.alternate_email",
            "security_answers",
            "security_answers[0].answer",
            "security_answers[1].question_id",
            "password",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert_eq!(body["violations"][0]["rule"], "too_short");
        assert!(!body.to_string().contains("Zq9!"), "the password is never echoed");
        assert_eq!(
            audit::list(ctx.store, &audit::Query::default()).unwrap().len(),
            1,
            "only the good create is audited"
        );
    }

    #[test]
    fn list_pages_in_a_stable_order() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let mut created = Vec::new();
        for i in 0..7 {
            let user = create_user(
                &ctx,
                CreateUserRequest { username: format!("u{i}"), password: GOOD.into(), ..Default::default() },
            )
            .unwrap();
            created.push(user["id"].as_str().unwrap().to_owned());
        }
        // Deleted users leave holes the pager skips.
        for gone in [created.remove(1), created.remove(3)] {
            delete_user(&ctx, &gone).unwrap();
        }
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let q = if cursor.is_empty() { "limit=2".to_owned() } else { format!("limit=2&cursor={cursor}") };
            let page = list_users(&ctx, &q).unwrap();
            seen.extend(page.users.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
            assert!(page.users.iter().all(|u| u.get("password_hash").is_none()));
            match page.next_cursor {
                Some(c) => cursor = c,
                None => break,
            }
        }
        assert_eq!(seen, created, "every user once, in creation order");
    }

    #[test]
    fn update_lock_unlock_delete_and_their_audit() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let id = create_user(&ctx, create_req("grace@contoso.com")).unwrap()["id"].as_str().unwrap().to_owned();
        let patch: UpdateUserRequest = serde_json::from_value(json!({
            "display_name": "Grace Hopper",
            "contacts": { "mobile_phone": null, "office_phone": { "country_code": "44", "number": "020 7946 0018", "mode": "call" } },
            "role": "admin",
            "sspr_enabled": false
        }))
        .unwrap();
        let v = update_user(&ctx, &id, patch).unwrap();
        assert_eq!(v["display_name"], "Grace Hopper");
        assert!(v["contacts"]["mobile_phone"].is_null());
        assert_eq!(v["contacts"]["office_phone"]["number"], "020 7946 0018");
        assert_eq!(v["contacts"]["alternate_email"], "ada@fabrikam.com", "untouched contacts stay");
        assert_eq!((v["role"].as_str(), v["sspr_enabled"].as_bool()), (Some("admin"), Some(false)));

        let bad: UpdateUserRequest = serde_json::from_value(json!({ "display_name": "", "password": GOOD })).unwrap();
        let e = update_user(&ctx, &id, bad).unwrap_err();
        assert_eq!(e.error(), "invalid_user");
        assert_eq!(e.body()["violations"][0]["rule"], "same_as_current");
        assert_eq!(update_user(&ctx, "nobody", UpdateUserRequest::default()).unwrap_err().status(), 404);

        let signed_in = crate::domain::session::create(&ctx, &id).unwrap();
        let reset: UpdateUserRequest = serde_json::from_value(json!({ "password": "Another-Good-One-77" })).unwrap();
        update_user(&ctx, &id, reset).unwrap();
        assert!(users::verify_password(&users::get(ctx.store, &id).unwrap().unwrap(), "Another-Good-One-77"));
        assert!(
            crate::domain::session::load(&ctx, Some(&signed_in.id)).is_err(),
            "an admin's password reset ends the user's sessions"
        );
        let signed_in = crate::domain::session::create(&ctx, &id).unwrap();

        assert_eq!(lock_user(&ctx, &id, LockRequest::default()).unwrap()["lockout_active"], true);
        assert_eq!(lock_user(&ctx, &id, LockRequest { seconds: Some(5) }).unwrap_err().status(), 422);
        let epoch = users::get(ctx.store, &id).unwrap().unwrap().lock_epoch;
        crate::platform::counter::Counter::new(ctx.store, users::signin_failures_key(&id, epoch)).add(7).unwrap();
        assert_eq!(crate::domain::credentials::failures(&ctx, &id).unwrap(), 7);
        let v = unlock_user(&ctx, &id).unwrap();
        assert_eq!((v["locked"].as_bool(), v["lockout_active"].as_bool()), (Some(false), Some(false)));
        assert_eq!(crate::domain::credentials::failures(&ctx, &id).unwrap(), 0, "a new lockout window");
        let timed = lock_user(&ctx, &id, LockRequest { seconds: Some(120) }).unwrap();
        assert_eq!(timed["locked_until"], ctx.now() + 120);

        assert_eq!(delete_user(&ctx, &id).unwrap()["deleted"], true);
        assert!(crate::domain::session::load(&ctx, Some(&signed_in.id)).is_err(), "a deleted user's sessions end");
        assert_eq!(delete_user(&ctx, &id).unwrap_err().status(), 404);
        assert_eq!(get_user(&ctx, &id).unwrap_err().error(), "user_not_found");

        let kinds: Vec<String> =
            list_audit(&ctx, &format!("user={id}")).unwrap().events.into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "admin_user_deleted",
                "admin_user_locked",
                "admin_user_unlocked",
                "admin_user_locked",
                "admin_user_updated",
                "admin_user_updated",
                "admin_user_created"
            ]
        );
        let all = serde_json::to_string(&audit::list(ctx.store, &audit::Query::default()).unwrap()).unwrap();
        for secret in [GOOD, "Another-Good-One-77", "Paris", "argon2"] {
            assert!(!all.contains(secret), "{secret} in the audit log");
        }
        assert!(all.contains(r#""actor":"admin""#));
    }

    #[test]
    fn import_reports_each_line() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let body = format!(
            "{}\n\nnot json\n{{\"username\":\"b@contoso.com\",\"password\":\"password\"}}\r\n{{\"username\":\"c@contoso.com\",\"password\":\"{GOOD}\",\"extra\":1}}\n{{\"username\":\"d@contoso.com\",\"password\":\"{GOOD}\"}}\n",
            serde_json::to_string(&json!({ "username": "a@contoso.com", "password": GOOD })).unwrap()
        );
        let r = import_users(&ctx, body.as_bytes()).unwrap();
        assert_eq!((r.created, r.failed), (2, 3));
        let lines: Vec<(u64, bool)> =
            r.results.iter().map(|x| (x["line"].as_u64().unwrap(), x["ok"].as_bool().unwrap())).collect();
        assert_eq!(lines, [(1, true), (3, false), (4, false), (5, false), (6, true)]);
        assert_eq!(r.results[1]["error"]["error"], "invalid_json");
        assert_eq!(r.results[2]["error"]["error"], "invalid_user");
        assert!(users::find_by_username(ctx.store, "d@contoso.com").unwrap().is_some());
        assert_eq!(import_users(&ctx, b"\n \n").unwrap_err().status(), 400);
        let many = "{}\n".repeat(MAX_IMPORT_LINES + 1);
        assert_eq!(import_users(&ctx, many.as_bytes()).unwrap_err().status(), 413);
    }
}
