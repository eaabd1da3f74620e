//! What the admin API accepts: query strings and request bodies, and the
//! checks on them (usernames, emails, phones, security answers, passwords).
//! A bad request is 400; a well-formed one that breaks a rule is 422
//! `invalid_user` listing every problem, never echoing a secret.

use crate::domain::email;
use crate::domain::password_policy::{self, Subject};
use crate::domain::phone::{self, Phone, PhoneMode};
use crate::domain::policy::Policy;
use crate::domain::questions;
use crate::domain::username;
use crate::domain::users::{Contacts, NewAnswer, NewUser, Role};
use crate::errors::{ApiError, ErrorCode, Result};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use url::form_urlencoded;

// ---------------------------------------------------------------------------
// Query strings

/// `a=1&b=x` → pairs, decoded as HTML forms encode them (`url`'s
/// `form_urlencoded`); only the names in `allowed`, each at most once. A
/// malformed `%`-escape or a value that is not UTF-8 is refused, not guessed.
pub fn parse_query(query: &str, allowed: &[&str]) -> Result<Map<String, Value>> {
    let escapes_ok = query
        .match_indices('%')
        .all(|(i, _)| query.as_bytes().get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if !escapes_ok {
        return Err(ApiError::bad_request("The query string has a malformed %-escape."));
    }
    let mut out = Map::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if name.contains('\u{fffd}') || value.contains('\u{fffd}') {
            return Err(ApiError::bad_request("The query string is not UTF-8."));
        }
        if !allowed.contains(&name.as_ref()) {
            return Err(ApiError::bad_request(format!(
                "Unknown query parameter `{}`; this route takes {}.",
                name.chars().take(40).collect::<String>(),
                allowed.join(", ")
            )));
        }
        if out.insert(name.to_string(), Value::String(value.into_owned())).is_some() {
            return Err(ApiError::bad_request(format!("The query parameter `{name}` is given twice.")));
        }
    }
    Ok(out)
}

pub(super) fn number_param(
    q: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>> {
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

pub(super) fn text_param(q: &Map<String, Value>, name: &str) -> Result<Option<String>> {
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
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { field: field.into(), message: message.into() });
    }

    pub(super) fn into_result(self) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let text = self.0.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join(" ");
        Err(ApiError::new(ErrorCode::InvalidUser, text).with_details(json!({ "problems": self.0 })))
    }
}

pub(super) fn check_text(problems: &mut Problems, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        problems.add(field, "is required.");
    } else if value.chars().count() > max {
        problems.add(field, format!("may be at most {max} characters."));
    } else if value.chars().any(char::is_control) {
        problems.add(field, "may not contain control characters.");
    }
}

pub(super) fn check_phone(problems: &mut Problems, field: &str, input: &PhoneInput) -> Option<Phone> {
    // The one phone rule registration uses too (`domain::phone::parse`).
    let problem = match phone::parse(&input.country_code, &input.number, input.mode) {
        Ok(p) => return Some(p),
        Err(problem) => problem,
    };
    if problem.in_country_code() {
        problems.add(format!("{field}.country_code"), problem.message());
        // Every problem is listed: the number is checked on its own as well.
        if let Err(number) = phone::parse("1", &input.number, input.mode) {
            problems.add(format!("{field}.number"), number.message());
        }
    } else {
        problems.add(format!("{field}.number"), problem.message());
    }
    None
}

pub(super) fn check_email(problems: &mut Problems, field: &str, email: &str) -> Option<String> {
    // The one email rule registration uses too (`domain::email`).
    let normalised = email::normalise(email);
    if normalised.is_none() {
        problems.add(field, "must be an email address (name@example.com).");
    }
    normalised
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
        let Some(text) = policy.question_text(a.question_id.trim()) else {
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

pub(super) fn check_password(
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

pub(super) fn with_violations(result: Result<()>, violations: &[password_policy::Violation]) -> Result<()> {
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
    // The one username rule (`domain::username`): lookalikes are one account or refused.
    let username = username::canonical(&req.username);
    if username.is_none() && !req.username.trim().is_empty() {
        problems.add("username", "may not contain spaces, control or invisible characters, or mix scripts.");
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
        username: username.unwrap_or_default(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::request;
    use crate::steps::admin::{list_audit, list_users};
    use crate::testing::TestEnv;

    #[test]
    fn queries_are_decoded_and_strict() {
        let q =
            parse_query("user=jane%40contoso.com&type=admin_user_created&limit=5", &["user", "type", "limit"]).unwrap();
        assert_eq!(q["user"], "jane@contoso.com");
        assert_eq!(parse_query("x=1", &["user"]).unwrap_err().status(), 400);
        assert_eq!(parse_query("user=a&user=b", &["user"]).unwrap_err().status(), 400);
        assert_eq!(parse_query("user=%zz", &["user"]).unwrap_err().status(), 400);
        assert_eq!(parse_query("user=%ff", &["user"]).unwrap_err().status(), 400);
        let env = TestEnv::new();
        assert_eq!(list_users(&env.ctx(), "limit=0").unwrap_err().status(), 400);
        assert_eq!(list_users(&env.ctx(), "limit=abc").unwrap_err().status(), 400);
        assert_eq!(list_audit(&env.ctx(), "since=-1").unwrap_err().status(), 400);
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_400() {
        assert_eq!(
            request::parse::<CreateUserRequest>(br#"{"username":"a","pasword":"x"}"#).unwrap_err().status(),
            400
        );
        assert_eq!(
            request::parse::<CreateUserRequest>(br#"{"username":"a","locked":"yes"}"#).unwrap_err().status(),
            400
        );
        assert_eq!(request::parse::<UpdateUserRequest>(br#"{"username":"renamed"}"#).unwrap_err().status(), 400);
        assert_eq!(request::parse::<LockRequest>(br#"{"seconds":-5}"#).unwrap_err().status(), 400);
        let p: UpdateUserRequest = request::parse(br#"{"contacts":{"office_phone":null}}"#).unwrap();
        assert!(matches!(p.contacts.unwrap().office_phone, Some(None)));
    }
}

#[cfg(test)]
mod same_rule_as_registration {
    use super::*;

    /// Admin and registration answer the same for every address: both go
    /// through `domain::email::normalise`.
    #[test]
    fn admin_refuses_what_registration_refuses() {
        for input in
            ["sam@fabrikam..com", "sam@fab_rikam.com", "sa:m@fabrikam.com", "sam%x@fabrikam.com", "Jane@Fabrikam.com"]
        {
            let mut problems = Problems::default();
            let admin = check_email(&mut problems, "contacts.alternate_email", input);
            assert_eq!(admin, email::normalise(input), "{input}");
        }
    }

    /// The same for phones: `/` and `+` inside a number, lookalike digits and
    /// bad country codes get one answer, because both use `domain::phone::parse`.
    #[test]
    fn admin_phones_follow_the_registration_rule() {
        for (cc, number) in [
            ("1", "425/555/0112"),
            ("1", "425+555+0112"),
            ("1", "+1 425 555 0112"),
            ("01", "4255550112"),
            ("44", "020 7946 0018"),
            ("1", "４２５５５５０１１２"),
        ] {
            let mut problems = Problems::default();
            let input = PhoneInput { country_code: cc.into(), number: number.into(), mode: PhoneMode::Text };
            let admin = check_phone(&mut problems, "contacts.mobile_phone", &input);
            assert_eq!(admin, phone::parse(cc, number, PhoneMode::Text).ok(), "{cc} {number}");
        }
    }
}
