//! The operator's API (`/api/admin/...`) without HTTP: the bearer-token check,
//! routing, request validation and the call behind each route. The `admin`
//! component only reads the request, calls one function here and writes the
//! answer. Every change appends an audit event with actor `admin`; no event,
//! error message or response ever holds a password, answer or hash.

use crate::domain::audit;
use crate::platform::ctx::Ctx;
use crate::errors::{ApiError, Result};
use crate::domain::password_policy::{self, Subject};
use crate::domain::phone::{Phone, PhoneMode, digits};
use crate::domain::policy::Policy;
use crate::domain::questions;
use crate::platform::request;
use crate::domain::users::{self, Contacts, NewAnswer, NewUser, Role, User};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who audit events of this API name as the actor.
pub const ACTOR: &str = "admin";
/// Users per bulk import request (each costs one or more Argon2id hashes).
pub const MAX_IMPORT_LINES: usize = 500;
/// Users per listed page: default and most.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

// ---------------------------------------------------------------------------
// Authentication

/// The outcome of checking `Authorization` against the `admin_token` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No token configured: the admin API does not exist (404).
    Off,
    /// No bearer credentials sent, or an empty token (401).
    Missing,
    /// Credentials sent but not the token (401, `invalid_token`).
    Wrong,
    Granted,
}

/// Checks an `Authorization: Bearer <token>` header value in constant time.
/// Both sides are hashed first, so neither the token's length nor its
/// content leaks through timing.
pub fn authorize(configured: &str, authorization: Option<&str>) -> Auth {
    let configured = configured.trim();
    if configured.is_empty() {
        return Auth::Off;
    }
    let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
        return Auth::Missing;
    };
    let (scheme, token) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Auth::Missing;
    }
    let token = token.trim();
    if token.is_empty() {
        return Auth::Missing;
    }
    let expected = Sha256::digest(configured.as_bytes());
    let given = Sha256::digest(token.as_bytes());
    if bool::from(expected.ct_eq(&given)) { Auth::Granted } else { Auth::Wrong }
}

/// The 401 answer for a refused request.
pub fn unauthorized() -> ApiError {
    ApiError::new(
        401,
        "unauthorized",
        "This route needs the administrator's bearer token: `Authorization: Bearer <token>`.",
    )
}

/// The `WWW-Authenticate` header for a refused request (RFC 6750 §3).
pub fn www_authenticate(auth: Auth) -> &'static str {
    match auth {
        Auth::Wrong => r#"Bearer realm="unlatch-admin", error="invalid_token""#,
        _ => r#"Bearer realm="unlatch-admin""#,
    }
}

// ---------------------------------------------------------------------------
// Routing

/// What an admin request asks for, from its method and the path below `/api/admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListUsers,
    CreateUser,
    ImportUsers,
    GetUser(String),
    UpdateUser(String),
    DeleteUser(String),
    LockUser(String),
    UnlockUser(String),
    GetPolicy,
    ReplacePolicy,
    ListAudit,
    Sweep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    To(Endpoint),
    NotFound,
    /// The path exists; these methods are what it takes (the `Allow` header).
    MethodNotAllowed(&'static [&'static str]),
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Routes `method` + `path` (the `spin-path-info`, e.g. `/users/<id>/lock`).
pub fn route(method: &str, path: &str) -> Routed {
    use Endpoint::*;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    let pick = |options: &[(&str, Endpoint)], allow: &'static [&'static str]| {
        options
            .iter()
            .find(|(m, _)| *m == method)
            .map_or(Routed::MethodNotAllowed(allow), |(_, e)| Routed::To(e.clone()))
    };
    match segments.as_slice() {
        ["users"] => pick(&[("GET", ListUsers), ("POST", CreateUser)], &["GET", "POST"]),
        ["users", "import"] => pick(&[("POST", ImportUsers)], &["POST"]),
        ["users", id] if valid_id(id) => {
            let id = (*id).to_owned();
            pick(
                &[("GET", GetUser(id.clone())), ("PATCH", UpdateUser(id.clone())), ("DELETE", DeleteUser(id))],
                &["GET", "PATCH", "DELETE"],
            )
        }
        ["users", id, "lock"] if valid_id(id) => pick(&[("POST", LockUser((*id).to_owned()))], &["POST"]),
        ["users", id, "unlock"] if valid_id(id) => pick(&[("POST", UnlockUser((*id).to_owned()))], &["POST"]),
        ["policy"] => pick(&[("GET", GetPolicy), ("PUT", ReplacePolicy)], &["GET", "PUT"]),
        ["audit"] => pick(&[("GET", ListAudit)], &["GET"]),
        ["maintenance", "sweep"] => pick(&[("POST", Sweep)], &["POST"]),
        _ => Routed::NotFound,
    }
}

// ---------------------------------------------------------------------------
// Query strings

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::bad_request("The query string has a malformed %-escape."))?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("The query string is not UTF-8."))
}

/// `a=1&b=x` → pairs, %-decoded; only the names in `allowed`, each at most once.
pub fn parse_query(query: &str, allowed: &[&str]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode(name)?;
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Unknown query parameter `{}`; this route takes {}.",
                name.chars().take(40).collect::<String>(),
                allowed.join(", ")
            )));
        }
        if out.insert(name.clone(), Value::String(percent_decode(value)?)).is_some() {
            return Err(ApiError::bad_request(format!("The query parameter `{name}` is given twice.")));
        }
    }
    Ok(out)
}

fn number_param(q: &Map<String, Value>, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<Option<u64>> {
    let Some(text) = q.get(name).and_then(Value::as_str) else { return Ok(None) };
    match text.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(format!(
            "`{name}` must be a whole number from {} to {}.",
            range.start(),
            range.end()
        ))),
    }
}

fn text_param(q: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match q.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(t) if t.trim().is_empty() || t.len() > 256 => {
            Err(ApiError::bad_request(format!("`{name}` must be 1 to 256 characters.")))
        }
        Some(t) => Ok(Some(t.trim().to_owned())),
    }
}

// ---------------------------------------------------------------------------
// Request bodies

/// A phone as an administrator gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneInput {
    pub country_code: String,
    pub number: String,
    #[serde(default)]
    pub mode: PhoneMode,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactsInput {
    pub authentication_phone: Option<PhoneInput>,
    pub mobile_phone: Option<PhoneInput>,
    pub office_phone: Option<PhoneInput>,
    pub alternate_email: Option<String>,
    pub authentication_email: Option<String>,
}

/// One security answer: a question of the pool (predefined or the policy's
/// custom ones) and the plain answer, hashed before it is stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    pub question_id: String,
    /// Ignored: the text comes from the pool, so it always matches the id.
    #[serde(default)]
    pub question: Option<String>,
    pub answer: String,
}

/// `POST /api/admin/users` and each line of an import.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub password: String,
    pub contacts: ContactsInput,
    pub security_answers: Vec<AnswerInput>,
    pub sspr_enabled: Option<bool>,
    pub password_managed_here: Option<bool>,
    pub locked: bool,
}

/// Absent → `None` (leave as is); `null` → `Some(None)` (remove); value → `Some(Some(v))`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Contacts in a `PATCH`: only the named ones change; `null` removes one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactsPatch {
    #[serde(deserialize_with = "present")]
    pub authentication_phone: Option<Option<PhoneInput>>,
    #[serde(deserialize_with = "present")]
    pub mobile_phone: Option<Option<PhoneInput>>,
    #[serde(deserialize_with = "present")]
    pub office_phone: Option<Option<PhoneInput>>,
    #[serde(deserialize_with = "present")]
    pub alternate_email: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub authentication_email: Option<Option<String>>,
}

/// `PATCH /api/admin/users/<id>`: every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub display_name: Option<String>,
    pub contacts: Option<ContactsPatch>,
    pub role: Option<Role>,
    pub sspr_enabled: Option<bool>,
    pub password_managed_here: Option<bool>,
    /// `true` locks until unlocked; `false` unlocks (as `/unlock`).
    pub locked: Option<bool>,
    /// An administrator's reset: checked against the password policy.
    pub password: Option<String>,
}

/// `POST /api/admin/users/<id>/lock`: optional body; without `seconds` the
/// lock lasts until unlocked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockRequest {
    pub seconds: Option<u64>,
}

/// One problem with a request, naming the field (never echoing a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { field: field.into(), message: message.into() });
    }

    fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = self.0.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join(" ");
        Err(ApiError::new(422, "invalid_user", text).with_details(json!({ "problems": self.0 })))
    }
}

fn check_text(problems: &mut Problems, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problems.add(field, "is required.");
    } else if value.chars().count() > max {
        problems.add(field, format!("may be at most {max} characters."));
    } else if value.chars().any(char::is_control) {
        problems.add(field, "may not contain control characters.");
    }
}

fn check_phone(problems: &mut Problems, field: &str, input: &PhoneInput) -> Option<Phone> {
    let cc = input.country_code.trim();
    let cc = cc.strip_prefix('+').unwrap_or(cc);
    let before = problems.0.len();
    if !(1..=3).contains(&cc.len()) || !cc.bytes().all(|b| b.is_ascii_digit()) || cc.starts_with('0') {
        problems.add(format!("{field}.country_code"), "must be 1 to 3 digits (e.g. \"1\" or \"+44\").");
    }
    let number = input.number.trim();
    let national = digits(number).trim_start_matches('0').to_owned();
    if number.len() > 32 || !number.chars().all(|c| c.is_ascii_digit() || " -.()/".contains(c)) {
        problems.add(format!("{field}.number"), "may hold only digits, spaces and - . ( ) /, at most 32 characters.");
    } else if !(4..=14).contains(&national.len()) || cc.len() + national.len() > 15 {
        problems.add(format!("{field}.number"), "must have 4 to 14 digits (at most 15 with the country code).");
    }
    (problems.0.len() == before).then(|| Phone { mode: input.mode, ..Phone::new(cc, number) })
}

/// A plain syntax check: one `@`, a local part and a dotted domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else { return false };
    email.len() <= 254
        && (1..=64).contains(&local.len())
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        && !local.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
}

fn check_email(problems: &mut Problems, field: &str, email: &str) -> Option<String> {
    let email = email.trim();
    if valid_email(email) {
        Some(email.to_owned())
    } else {
        problems.add(field, "must be an email address (name@example.com).");
        None
    }
}

fn check_contacts(problems: &mut Problems, c: &ContactsInput) -> Contacts {
    let phone = |p: &mut Problems, f: &str, v: &Option<PhoneInput>| v.as_ref().and_then(|v| check_phone(p, f, v));
    let email = |p: &mut Problems, f: &str, v: &Option<String>| v.as_ref().and_then(|v| check_email(p, f, v));
    Contacts {
        authentication_phone: phone(problems, "contacts.authentication_phone", &c.authentication_phone),
        mobile_phone: phone(problems, "contacts.mobile_phone", &c.mobile_phone),
        office_phone: phone(problems, "contacts.office_phone", &c.office_phone),
        alternate_email: email(problems, "contacts.alternate_email", &c.alternate_email),
        authentication_email: email(problems, "contacts.authentication_email", &c.authentication_email),
    }
}

/// The question text for an id of the predefined pool or the policy's custom questions.
fn question_text(policy: &Policy, id: &str) -> Option<String> {
    questions::PREDEFINED
        .iter()
        .find(|(q, _)| *q == id)
        .map(|(_, t)| (*t).to_owned())
        .or_else(|| policy.custom_questions.iter().find(|q| q.id == id).map(|q| q.text.clone()))
}

fn check_answers(problems: &mut Problems, policy: &Policy, role: Role, inputs: &[AnswerInput]) -> Vec<NewAnswer> {
    if inputs.is_empty() {
        return Vec::new();
    }
    if role == Role::Admin {
        problems.add("security_answers", "Administrators may not use security questions.");
    }
    let min = usize::from(policy.questions_to_register);
    if inputs.len() < min || inputs.len() > 5 {
        problems.add(
            "security_answers",
            format!("Register none, or {min} to 5 questions (the policy's questions_to_register is {min})."),
        );
    }
    let mut out = Vec::new();
    let mut seen_answers: Vec<String> = Vec::new();
    for (i, a) in inputs.iter().enumerate() {
        let field = format!("security_answers[{i}]");
        let Some(text) = question_text(policy, a.question_id.trim()) else {
            problems.add(format!("{field}.question_id"), "is not a predefined or custom question.");
            continue;
        };
        if inputs[..i].iter().any(|o| o.question_id.trim() == a.question_id.trim()) {
            problems.add(format!("{field}.question_id"), "is the same question as an earlier answer.");
        }
        let normal = questions::normalise(&a.answer);
        let question = questions::normalise(text.trim_end_matches('?'));
        if !(3..=40).contains(&normal.chars().count()) {
            problems.add(format!("{field}.answer"), "must be 3 to 40 characters.");
        } else if normal.contains(&question) {
            problems.add(format!("{field}.answer"), "may not contain the question.");
        } else if seen_answers.contains(&normal) {
            problems.add(format!("{field}.answer"), "is the same as another answer; each answer must differ.");
        }
        seen_answers.push(normal);
        out.push(NewAnswer { question_id: a.question_id.trim().to_owned(), question: text, answer: a.answer.clone() });
    }
    out
}

fn check_password(
    problems: &mut Problems,
    policy: &Policy,
    password: &str,
    who: &Subject,
) -> Vec<password_policy::Violation> {
    if password.is_empty() {
        problems.add("password", "is required.");
        return Vec::new();
    }
    let violations = password_policy::check(&policy.password, password, who);
    for v in &violations {
        problems.add("password", v.message.clone());
    }
    violations
}

fn with_violations(result: Result<()>, violations: &[password_policy::Violation]) -> Result<()> {
    result.map_err(|mut e| {
        if !violations.is_empty()
            && let Some(Value::Object(d)) = e.details.as_mut()
        {
            d.insert("violations".into(), serde_json::to_value(violations).unwrap_or_default());
        }
        e
    })
}

/// Validates a create request against the policy: 422 `invalid_user` listing
/// every problem (`problems: [{field, message}]`, plus the password rules
/// broken as `violations: [{rule, message}]`).
pub fn validate_new_user(policy: &Policy, req: CreateUserRequest) -> Result<NewUser> {
    let mut problems = Problems::default();
    check_text(&mut problems, "username", &req.username, 256);
    if req.username.trim().chars().any(char::is_whitespace) {
        problems.add("username", "may not contain spaces.");
    }
    if !req.display_name.is_empty() {
        check_text(&mut problems, "display_name", &req.display_name, 256);
    }
    let contacts = check_contacts(&mut problems, &req.contacts);
    let answers = check_answers(&mut problems, policy, req.role, &req.security_answers);
    let display = if req.display_name.trim().is_empty() { req.username.trim() } else { req.display_name.trim() };
    let who = Subject { username: req.username.trim(), display_name: display, current_hash: None };
    let violations = check_password(&mut problems, policy, &req.password, &who);
    with_violations(problems.into_result(), &violations)?;
    Ok(NewUser {
        username: req.username.trim().to_owned(),
        display_name: req.display_name.trim().to_owned(),
        role: req.role,
        password: req.password,
        contacts,
        security_answers: answers,
        sspr_enabled: req.sspr_enabled,
        password_managed_here: req.password_managed_here,
        locked: req.locked,
    })
}

// ---------------------------------------------------------------------------
// Users

/// A user as the admin API shows it: no hash, plus whether a lock is in force now.
pub fn view(user: &User, now: u64) -> Value {
    let mut v = user.redacted();
    v["lockout_active"] = json!(user.is_locked(now));
    v
}

fn user_not_found() -> ApiError {
    ApiError::new(404, "user_not_found", "No such user.")
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
    let cursor = text_param(&q, "cursor")?;
    let ids: Vec<String> =
        users::list_ids(ctx.store)?.into_iter().filter(|id| cursor.as_ref().is_none_or(|c| id > c)).collect();
    let now = ctx.now();
    let mut page = Vec::new();
    let mut last = None;
    for id in ids.iter().take(limit) {
        // A user deleted between listing and reading is skipped.
        if let Some(user) = users::get(ctx.store, id)? {
            page.push(view(&user, now));
        }
        last = Some(id.clone());
    }
    let next_cursor = if ids.len() > limit { last } else { None };
    Ok(UserPage { users: page, next_cursor })
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
                u.failed_signins = 0;
            }
        }
        if let Some(hash) = &new_hash {
            u.password_hash = hash.clone();
            u.password_changed_at = now;
        }
    })?;
    if req.locked == Some(false) {
        crate::platform::counter::Counter::new(ctx.store, users::signin_failures_key(id)).delete()?;
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
    let user = users::clear_lockout(ctx.store, id)?;
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
            413,
            "too_many_lines",
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

// ---------------------------------------------------------------------------
// Policy

/// `GET /api/admin/policy`: the stored policy with every default filled in.
pub fn get_policy(ctx: &Ctx) -> Result<Policy> {
    Policy::load(ctx.store)
}

fn invalid_policy(problems: Vec<String>) -> ApiError {
    ApiError::new(422, "invalid_policy", problems.join(" ")).with_details(json!({ "problems": problems }))
}

/// Parses a whole policy: every unknown field, wrong type and out-of-range
/// value is a problem, all reported together (422 `invalid_policy`). Fields
/// left out take their defaults (this is a replace, not a merge).
pub fn parse_policy(body: &[u8]) -> Result<Policy> {
    let given: Map<String, Value> = request::parse(body)?;
    let defaults = serde_json::to_value(Policy::default()).unwrap_or_default();
    let Value::Object(default_fields) = &defaults else { return Err(ApiError::internal("policy defaults")) };
    let mut problems = Vec::new();
    for (key, value) in &given {
        let Some(default) = default_fields.get(key) else {
            problems.push(format!("Unknown field `{key}`."));
            continue;
        };
        if let (Value::Object(inner_default), Value::Object(inner)) = (default, value) {
            for k in inner.keys().filter(|k| !inner_default.contains_key(*k)) {
                problems.push(format!("Unknown field `{key}.{k}`."));
            }
        }
        // Each field on its own over the defaults, so every wrong type is named.
        let mut probe = defaults.clone();
        probe[key.as_str()] = value.clone();
        if let Err(e) = serde_json::from_value::<Policy>(probe) {
            problems.push(format!("`{key}`: {e}."));
        }
    }
    if !problems.is_empty() {
        return Err(invalid_policy(problems));
    }
    let policy: Policy =
        serde_json::from_value(Value::Object(given)).map_err(|e| invalid_policy(vec![e.to_string()]))?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(invalid_policy(problems));
    }
    Ok(policy)
}

/// `PUT /api/admin/policy`: validates and stores the whole policy.
pub fn replace_policy(ctx: &Ctx, body: &[u8]) -> Result<Policy> {
    let policy = parse_policy(body)?;
    let old = serde_json::to_value(Policy::load(ctx.store)?).unwrap_or_default();
    let new = serde_json::to_value(&policy).unwrap_or_default();
    policy.save(ctx.store)?;
    let changed: Vec<&String> = new
        .as_object()
        .map(|o| o.iter().filter(|(k, v)| old.get(k.as_str()) != Some(*v)).map(|(k, _)| k).collect())
        .unwrap_or_default();
    audit::append(ctx, "admin_policy_replaced", None, json!({ "actor": ACTOR, "changed": changed }))?;
    Ok(policy)
}

// ---------------------------------------------------------------------------
// Audit

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub events: Vec<audit::Event>,
    /// Pass as `before` for the next (older) page; `null` when this page was not full.
    pub next_before: Option<u64>,
}

/// Stale keys one sweep may remove per family (bounded so a call stays short).
pub const SWEEP_BATCH: usize = 1000;

/// `POST /api/admin/maintenance/sweep` → `{removed}`: KV has no expiry, so an
/// operator's scheduler calls this now and then to drop ended windows, spent
/// nonces, old flows and expired sessions.
pub fn sweep(ctx: &Ctx) -> Result<Value> {
    let removed = crate::steps::maintenance::sweep(ctx, SWEEP_BATCH)?;
    audit::append(ctx, "admin_sweep", None, json!({ "actor": ACTOR, "removed": removed }))?;
    Ok(json!({ "removed": removed }))
}

/// `GET /api/admin/audit?user=&type=&since=&until=&limit=&before=`, newest
/// first. `user` is a user id or a username; times are Unix seconds.
pub fn list_audit(ctx: &Ctx, query: &str) -> Result<AuditPage> {
    let q = parse_query(query, &["user", "type", "since", "until", "limit", "before"])?;
    let user_id = match text_param(&q, "user")? {
        Some(u) => Some(users::find_by_username(ctx.store, &u)?.map_or(u, |found| found.id)),
        None => None,
    };
    let limit = number_param(&q, "limit", 1..=500)?.map_or(50, |n| n as usize);
    let query = audit::Query {
        user_id,
        kind: text_param(&q, "type")?,
        since: number_param(&q, "since", 0..=u64::MAX / 2)?,
        until: number_param(&q, "until", 0..=u64::MAX / 2)?,
        before: number_param(&q, "before", 1..=u64::MAX / 2)?,
        limit: Some(limit),
    };
    let events = audit::list(ctx.store, &query)?;
    let next_before = (events.len() == limit).then(|| events.last().map(|e| e.seq)).flatten();
    Ok(AuditPage { events, next_before })
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn tokens_compare_by_value_and_scheme() {
        assert_eq!(authorize("", Some("Bearer x")), Auth::Off);
        assert_eq!(authorize("  ", None), Auth::Off);
        assert_eq!(authorize("s3cret-token", None), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Basic czNjcmV0")), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Bearer")), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-tokeN")), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-token-longer")), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-token")), Auth::Granted);
        assert_eq!(authorize("s3cret-token", Some("bearer   s3cret-token ")), Auth::Granted);
        assert!(www_authenticate(Auth::Wrong).contains("invalid_token"));
        assert!(!www_authenticate(Auth::Missing).contains("error="));
    }

    #[test]
    fn routes_methods_and_misses() {
        use Endpoint::*;
        assert_eq!(route("GET", "/users"), Routed::To(ListUsers));
        assert_eq!(route("POST", "/users/"), Routed::To(CreateUser));
        assert_eq!(route("POST", "/users/import"), Routed::To(ImportUsers));
        assert_eq!(route("GET", "/users/import"), Routed::MethodNotAllowed(&["POST"]));
        assert_eq!(route("PATCH", "/users/ab12"), Routed::To(UpdateUser("ab12".into())));
        assert_eq!(route("PUT", "/users/ab12"), Routed::MethodNotAllowed(&["GET", "PATCH", "DELETE"]));
        assert_eq!(route("POST", "/users/ab12/unlock"), Routed::To(UnlockUser("ab12".into())));
        assert_eq!(route("GET", "/users/ab12/lock"), Routed::MethodNotAllowed(&["POST"]));
        assert_eq!(route("PUT", "/policy"), Routed::To(ReplacePolicy));
        assert_eq!(route("DELETE", "/audit"), Routed::MethodNotAllowed(&["GET"]));
        assert_eq!(route("POST", "/maintenance/sweep"), Routed::To(Sweep));
        assert_eq!(route("GET", "/maintenance/sweep"), Routed::MethodNotAllowed(&["POST"]));
        for miss in ["", "/", "/nope", "/users/a.b", "/users/%2e%2e", "/users/x/y", "/policy/x", "//users"] {
            assert_eq!(route("GET", miss), Routed::NotFound, "{miss}");
        }
    }

    #[test]
    fn queries_are_decoded_and_strict() {
        let q =
            parse_query("user=jane%40contoso.com&type=admin_user_created&limit=5", &["user", "type", "limit"]).unwrap();
        assert_eq!(q["user"], "jane@contoso.com");
        assert_eq!(parse_query("x=1", &["user"]).unwrap_err().status, 400);
        assert_eq!(parse_query("user=a&user=b", &["user"]).unwrap_err().status, 400);
        assert_eq!(parse_query("user=%zz", &["user"]).unwrap_err().status, 400);
        assert_eq!(parse_query("user=%ff", &["user"]).unwrap_err().status, 400);
        let env = TestEnv::new();
        assert_eq!(list_users(&env.ctx(), "limit=0").unwrap_err().status, 400);
        assert_eq!(list_users(&env.ctx(), "limit=abc").unwrap_err().status, 400);
        assert_eq!(list_audit(&env.ctx(), "since=-1").unwrap_err().status, 400);
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
        assert_eq!(create_user(&ctx, create_req("ADA@contoso.com")).unwrap_err().error, "username_taken");

        let bad: CreateUserRequest = serde_json::from_value(json!({
            "username": "bad user",
            "password": "Zq9!",
            "role": "admin",
            "contacts": { "alternate_email": "not-an-email", "office_phone": { "country_code": "0", "number": "12" } },
            "security_answers": [ { "question_id": "q01", "answer": "ab" }, { "question_id": "zz", "answer": "fine answer" } ]
        }))
        .unwrap();
        let e = create_user(&ctx, bad).unwrap_err();
        assert_eq!((e.status, e.error), (422, "invalid_user"));
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
    fn unknown_fields_and_wrong_types_are_400() {
        assert_eq!(request::parse::<CreateUserRequest>(br#"{"username":"a","pasword":"x"}"#).unwrap_err().status, 400);
        assert_eq!(request::parse::<CreateUserRequest>(br#"{"username":"a","locked":"yes"}"#).unwrap_err().status, 400);
        assert_eq!(request::parse::<UpdateUserRequest>(br#"{"username":"renamed"}"#).unwrap_err().status, 400);
        assert_eq!(request::parse::<LockRequest>(br#"{"seconds":-5}"#).unwrap_err().status, 400);
        let p: UpdateUserRequest = request::parse(br#"{"contacts":{"office_phone":null}}"#).unwrap();
        assert!(matches!(p.contacts.unwrap().office_phone, Some(None)));
    }

    #[test]
    fn list_pages_in_a_stable_order() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        for i in 0..5 {
            create_user(
                &ctx,
                CreateUserRequest { username: format!("u{i}"), password: GOOD.into(), ..Default::default() },
            )
            .unwrap();
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
        assert_eq!(seen, users::list_ids(ctx.store).unwrap());
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
        assert_eq!(e.error, "invalid_user");
        assert_eq!(e.body()["violations"][0]["rule"], "same_as_current");
        assert_eq!(update_user(&ctx, "nobody", UpdateUserRequest::default()).unwrap_err().status, 404);

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
        assert_eq!(lock_user(&ctx, &id, LockRequest { seconds: Some(5) }).unwrap_err().status, 422);
        crate::platform::counter::Counter::new(ctx.store, users::signin_failures_key(&id)).add(7).unwrap();
        let v = unlock_user(&ctx, &id).unwrap();
        assert_eq!((v["locked"].as_bool(), v["lockout_active"].as_bool()), (Some(false), Some(false)));
        assert_eq!(crate::platform::counter::Counter::new(ctx.store, users::signin_failures_key(&id)).read().unwrap(), 0);
        let timed = lock_user(&ctx, &id, LockRequest { seconds: Some(120) }).unwrap();
        assert_eq!(timed["locked_until"], ctx.now() + 120);

        assert_eq!(delete_user(&ctx, &id).unwrap()["deleted"], true);
        assert!(crate::domain::session::load(&ctx, Some(&signed_in.id)).is_err(), "a deleted user's sessions end");
        assert_eq!(delete_user(&ctx, &id).unwrap_err().status, 404);
        assert_eq!(get_user(&ctx, &id).unwrap_err().error, "user_not_found");

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
        assert_eq!(import_users(&ctx, b"\n \n").unwrap_err().status, 400);
        let many = "{}\n".repeat(MAX_IMPORT_LINES + 1);
        assert_eq!(import_users(&ctx, many.as_bytes()).unwrap_err().status, 413);
    }

    #[test]
    fn policy_replace_lists_every_problem() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let e = replace_policy(&ctx, br#"{"gates_required": 3, "questions_to_reset": 9, "lockout_threshold": "ten", "nonsense": 1, "throttles": {"code_attempts": 5, "bogus": 2}}"#).unwrap_err();
        assert_eq!((e.status, e.error), (422, "invalid_policy"));
        let problems =
            e.body()["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect::<Vec<_>>();
        for needle in ["`nonsense`", "`throttles.bogus`", "`lockout_threshold`"] {
            assert!(problems.iter().any(|p| p.contains(needle)), "{needle} in {problems:?}");
        }
        let e = replace_policy(&ctx, br#"{"gates_required": 3, "questions_to_reset": 9, "code_lifetime_seconds": 5}"#)
            .unwrap_err();
        assert_eq!(e.body()["problems"].as_array().unwrap().len(), 4);
        assert_eq!(replace_policy(&ctx, b"[1]").unwrap_err().status, 400);
        let p = replace_policy(&ctx, br#"{"gates_required": 2, "uniform_errors": true}"#).unwrap();
        assert_eq!(get_policy(&ctx).unwrap(), p);
        assert_eq!(p.lockout_threshold, 10, "left-out fields take their defaults");
        let events = list_audit(&ctx, "type=admin_policy_replaced").unwrap().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail["changed"], json!(["gates_required", "uniform_errors"]));
    }
}
