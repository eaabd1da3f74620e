//! "Register for password reset", for a signed-in user: what is registered and
//! what the policy needs; new phones and emails proven by a code through the
//! same send-code / verify-code steps as a reset (a `register` flow bound to
//! the user and the session, saved only once verified); security questions;
//! removal (never below the required number); and finish.
//!
//! Registrable methods (API names): `authentication_phone` (text or call),
//! `office_phone` (call), `alternate_email`, `security_questions`.

use crate::domain::audit;
use crate::domain::email;
use crate::domain::hashing;
use crate::domain::mask;
use crate::domain::methods::MethodId;
use crate::domain::phone::{self, Phone, PhoneMode};
use crate::domain::policy::Policy;
use crate::domain::questions::{self, PREDEFINED, Question};
use crate::domain::security_info::{Contact, reconfirm_due, registered};
use crate::domain::session::{self, Session};
use crate::domain::users::{self, SecurityAnswer, User};
use crate::errors::{ApiError, Result};
use crate::flow::registration::Registration;
use crate::flow::{self, Purpose};
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::cell::Cell;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneView {
    pub hint: String,
    pub mode: PhoneMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct RegisteredView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_phone: Option<PhoneView>,
    /// Set by an administrator; counts as the authentication phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<PhoneView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_phone: Option<PhoneView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alternate_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_email: Option<String>,
    /// The registered questions' texts (never the answers).
    pub security_questions: Vec<Question>,
}

/// `GET /api/register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub registered: RegisteredView,
    /// Registered methods that count toward the policy.
    pub methods: Vec<Contact>,
    /// Methods the policy needs (admins: 2).
    pub required: u8,
    pub complete: bool,
    /// How many more methods are needed.
    pub missing: u8,
    /// Methods the user may register under the policy.
    pub allowed: Vec<Contact>,
    pub questions_to_register: u8,
    /// Another method beyond the required ones is recommended as a backup.
    pub backup_recommended: bool,
    pub reconfirm_registration: bool,
}

fn phone_view(p: &Phone) -> PhoneView {
    PhoneView { hint: mask::phone(p), mode: p.mode }
}

pub fn status_of(ctx: &Ctx, policy: &Policy, user: &User) -> Status {
    let c = &user.contacts;
    let methods = registered(policy, user);
    let required = user.gates_required(policy);
    let allowed: Vec<Contact> = Contact::ALL.into_iter().filter(|m| m.allowed(policy, user)).collect();
    Status {
        registered: RegisteredView {
            authentication_phone: c.authentication_phone.as_ref().map(phone_view),
            mobile_phone: c.mobile_phone.as_ref().map(phone_view),
            office_phone: c.office_phone.as_ref().map(phone_view),
            alternate_email: c.alternate_email.as_deref().map(mask::email),
            authentication_email: c.authentication_email.as_deref().map(mask::email),
            security_questions: user
                .security_answers
                .iter()
                .map(|a| Question { id: a.question_id.clone(), text: a.question.clone() })
                .collect(),
        },
        complete: methods.len() >= required as usize,
        missing: (required as usize).saturating_sub(methods.len()) as u8,
        backup_recommended: methods.len() <= required as usize && allowed.len() > methods.len(),
        methods,
        required,
        allowed,
        questions_to_register: policy.questions_to_register,
        reconfirm_registration: reconfirm_due(policy, user, ctx.now()),
    }
}

fn signed_in_user(ctx: &Ctx, s: &Session) -> Result<User> {
    users::get(ctx.store, &s.user_id)?.ok_or_else(session::not_signed_in)
}

/// `GET /api/register`.
pub fn status(ctx: &Ctx, s: &Session) -> Result<Status> {
    let policy = Policy::load(ctx.store)?;
    Ok(status_of(ctx, &policy, &signed_in_user(ctx, s)?))
}

// ---- phones and emails: a register flow proven through send-code / verify-code

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StartRequest {
    /// `authentication_phone`, `office_phone` or `alternate_email`.
    pub method: String,
    /// Phone: digits of the country code (`1`, `+44`).
    pub country_code: String,
    /// The full phone number including area code, or the email address.
    pub destination: String,
    /// Authentication phone: `text` (default) or `call`.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendWith {
    /// The `method` to give `POST /api/send-code` and `/api/verify-code`.
    pub method: MethodId,
    /// The normalised destination to give `POST /api/send-code`.
    pub destination: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartResponse {
    pub flow: String,
    pub registering: Contact,
    pub send_code: SendWith,
    pub expires_in: u64,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::new(422, "invalid_destination", message.to_owned()).with_details(json!({ "field": field }))
}

fn parse_phone(req: &StartRequest, mode: PhoneMode) -> Result<Phone> {
    let cc = phone::digits(&req.country_code);
    if cc.is_empty() || cc.len() > 3 || cc.starts_with('0') {
        return Err(invalid("country_code", "Choose a country code (1 to 3 digits)."));
    }
    if req.destination.len() > 40 || req.destination.chars().any(|c| !(c.is_ascii_digit() || " +-().".contains(c))) {
        return Err(invalid(
            "destination",
            "Enter the phone number with digits only (spaces, dashes and brackets are fine).",
        ));
    }
    let mut p = Phone::new(&cc, &req.destination);
    // A number typed with its own "+<country code>" prefix keeps only the national part.
    if req.destination.trim().starts_with('+') {
        let d = phone::digits(&req.destination);
        let Some(national) = d.strip_prefix(cc.as_str()) else {
            return Err(invalid("destination", "The number's country code differs from the chosen one."));
        };
        p.number = national.to_owned();
    }
    let n = p.national().len();
    if !(4..=14).contains(&n) || cc.len() + n > 15 {
        return Err(invalid("destination", "Enter the full phone number including area code."));
    }
    p.mode = mode;
    Ok(p)
}

/// `POST /api/register/start`: begins proving a phone or email.
pub fn start(ctx: &Ctx, s: &Session, session_key: &str, req: StartRequest) -> Result<StartResponse> {
    let contact = match req.method.trim() {
        "" => return Err(ApiError::missing_field("method")),
        m => Contact::parse(m).ok_or_else(|| {
            ApiError::bad_request(format!("Unknown method `{}`.", m.chars().take(40).collect::<String>()))
        })?,
    };
    if req.destination.trim().is_empty() {
        return Err(ApiError::missing_field("destination"));
    }
    let (phone, email, send_method) = match contact {
        Contact::AuthenticationPhone => {
            let mode = match req.mode.trim() {
                "" | "text" => PhoneMode::Text,
                "call" => PhoneMode::Call,
                _ => return Err(ApiError::bad_request("mode is `text` or `call`.")),
            };
            let m = if mode == PhoneMode::Call { MethodId::MobileCall } else { MethodId::MobileText };
            (Some(parse_phone(&req, mode)?), None, m)
        }
        Contact::OfficePhone => {
            if !matches!(req.mode.trim(), "" | "call") {
                return Err(ApiError::bad_request("An office phone is called, not texted: mode is `call`."));
            }
            (Some(parse_phone(&req, PhoneMode::Call)?), None, MethodId::OfficeCall)
        }
        Contact::AlternateEmail => {
            let e = email::normalise(&req.destination)
                .ok_or_else(|| invalid("destination", "Enter a valid email address."))?;
            (None, Some(e), MethodId::Email)
        }
        Contact::SecurityQuestions => {
            return Err(ApiError::bad_request("Security questions are registered with PUT /api/register/questions."));
        }
    };
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    if !contact.allowed(&policy, &user) || !policy.methods_allowed.contains(&send_method) {
        return Err(ApiError::method_unavailable());
    }
    let registration = Registration { contact, phone, email, session_key: session_key.to_owned() };
    let destination = registration.destination();
    let started = flow::start(ctx, Purpose::Register, &user.id, 1, vec![send_method], policy.flow_lifetime_seconds)?;
    let (mut f, raw) = flow::load(ctx, &started.id, &[Purpose::Register])?;
    f.registration = Some(registration);
    flow::save(ctx, &f, &raw)?;
    audit::append(ctx, "flow_started", Some(&user.id), json!({ "purpose": "register", "method": contact.as_str() }))?;
    Ok(StartResponse {
        flow: f.id,
        registering: contact,
        send_code: SendWith { method: send_method, destination },
        expires_in: policy.flow_lifetime_seconds,
    })
}

// ---- security questions

/// One question to register: a predefined or custom question by `id` (or by
/// its exact `question` text), and the answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuestionAnswer {
    pub id: Option<String>,
    pub question: Option<String>,
    pub answer: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct QuestionsRequest {
    pub questions: Vec<QuestionAnswer>,
}

/// `GET /api/register/questions`: the pool to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuestionPool {
    pub questions_to_register: u8,
    pub questions: Vec<Question>,
}

fn pool(policy: &Policy) -> Vec<Question> {
    PREDEFINED
        .iter()
        .map(|(id, text)| Question { id: (*id).into(), text: (*text).into() })
        .chain(policy.custom_questions.iter().map(|q| Question { id: q.id.clone(), text: q.text.clone() }))
        .collect()
}

pub fn question_pool(ctx: &Ctx) -> Result<QuestionPool> {
    let policy = Policy::load(ctx.store)?;
    Ok(QuestionPool { questions_to_register: policy.questions_to_register, questions: pool(&policy) })
}

/// Checks a whole set of questions; every problem is listed (without echoing answers).
fn check_questions(
    policy: &Policy,
    req: &QuestionsRequest,
) -> std::result::Result<Vec<(Question, String)>, Vec<String>> {
    let pool = pool(policy);
    let want = policy.questions_to_register as usize;
    let mut problems = Vec::new();
    if req.questions.len() != want {
        problems.push(format!("Register exactly {want} security questions."));
    }
    let mut chosen: Vec<(Question, String)> = Vec::new();
    for (i, qa) in req.questions.iter().enumerate().take(20) {
        let n = i + 1;
        let by_id =
            qa.id.as_deref().map(str::trim).filter(|s| !s.is_empty()).and_then(|id| pool.iter().find(|q| q.id == id));
        let by_text = qa
            .question
            .as_deref()
            .map(questions::normalise)
            .filter(|s| !s.is_empty())
            .and_then(|t| pool.iter().find(|q| questions::normalise(&q.text) == t));
        let Some(q) = by_id.or(by_text) else {
            problems.push(format!("Question {n} is not one of the offered questions."));
            continue;
        };
        if chosen.iter().any(|(c, _)| c.id == q.id) {
            problems.push(format!("Question {n} was chosen twice; choose different questions."));
            continue;
        }
        let answer = questions::normalise(&qa.answer);
        let len = answer.chars().count();
        if qa.answer.len() > 200 || !(3..=40).contains(&len) {
            problems.push(format!("The answer to question {n} must be 3 to 40 characters."));
        } else if answer.contains(&questions::normalise(&q.text)) {
            problems.push(format!("The answer to question {n} may not contain the question."));
        } else if chosen.iter().any(|(_, a)| *a == answer) {
            problems.push(format!(
                "The answer to question {n} is the same as another answer; use a different answer for each question."
            ));
        }
        chosen.push((q.clone(), answer));
    }
    if problems.is_empty() { Ok(chosen) } else { Err(problems) }
}

/// `PUT /api/register/questions`: replaces the user's questions and answers.
pub fn set_questions(ctx: &Ctx, s: &Session, req: QuestionsRequest) -> Result<Status> {
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    if !Contact::SecurityQuestions.allowed(&policy, &user) {
        return Err(ApiError::method_unavailable());
    }
    if req.questions.is_empty() {
        return Err(ApiError::missing_field("questions"));
    }
    let chosen = check_questions(&policy, &req).map_err(|problems| {
        ApiError::new(422, "invalid_questions", problems.join(" ")).with_details(json!({ "problems": problems }))
    })?;
    let mut answers = Vec::with_capacity(chosen.len());
    for (q, normalised) in &chosen {
        answers.push(SecurityAnswer {
            question_id: q.id.clone(),
            question: q.text.clone(),
            answer_hash: hashing::hash(ctx.random, normalised)?,
        });
    }
    let now = ctx.now();
    let had = !user.security_answers.is_empty();
    let user = users::update(ctx.store, &user.id, |u| {
        u.security_answers = answers.clone();
        u.registered_at = Some(now);
    })?;
    audit::append(
        ctx,
        "registration_changed",
        Some(&user.id),
        json!({ "method": "security_questions", "action": if had { "replaced" } else { "added" }, "questions": chosen.iter().map(|(q, _)| q.id.clone()).collect::<Vec<_>>() }),
    )?;
    Ok(status_of(ctx, &policy, &user))
}

// ---- removal and finish

/// `DELETE /api/register/<method>`: never below the required number of methods.
pub fn remove(ctx: &Ctx, s: &Session, method: &str) -> Result<Status> {
    let contact = Contact::parse(method).ok_or_else(|| {
        ApiError::new(404, "not_found", format!("No method `{}`.", method.chars().take(40).collect::<String>()))
    })?;
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    let has = match contact {
        Contact::AuthenticationPhone => user.contacts.authentication_phone.is_some(),
        Contact::OfficePhone => user.contacts.office_phone.is_some(),
        Contact::AlternateEmail => user.contacts.alternate_email.is_some(),
        Contact::SecurityQuestions => !user.security_answers.is_empty(),
    };
    if !has {
        return Err(ApiError::new(404, "method_not_registered", "This method is not registered."));
    }
    // Decided inside the compare-and-swap, so two removals at once cannot both pass.
    let refused = Cell::new(false);
    let after = users::update(ctx.store, &user.id, |u| {
        let mut next = u.clone();
        match contact {
            Contact::AuthenticationPhone => next.contacts.authentication_phone = None,
            Contact::OfficePhone => next.contacts.office_phone = None,
            Contact::AlternateEmail => next.contacts.alternate_email = None,
            Contact::SecurityQuestions => next.security_answers.clear(),
        }
        let ok = registered(&policy, &next).len() >= next.gates_required(&policy) as usize;
        refused.set(!ok);
        if ok {
            *u = next;
        }
    })?;
    if refused.get() {
        let need = after.gates_required(&policy);
        return Err(ApiError::new(
            409,
            "below_required",
            format!("At least {need} methods must stay registered; add another method before removing this one."),
        )
        .with_details(json!({ "required": need })));
    }
    audit::append(
        ctx,
        "registration_changed",
        Some(&user.id),
        json!({ "method": contact.as_str(), "action": "removed" }),
    )?;
    Ok(status_of(ctx, &policy, &after))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FinishResponse {
    pub complete: bool,
    pub methods: Vec<Contact>,
    pub required: u8,
    /// How many more methods are needed.
    pub missing: u8,
    /// Methods that could still be added.
    pub can_add: Vec<Contact>,
    pub backup_recommended: bool,
}

/// `POST /api/register/finish`: whether the policy is met; when it is, the
/// registration counts as (re)confirmed now.
pub fn finish(ctx: &Ctx, s: &Session) -> Result<FinishResponse> {
    let policy = Policy::load(ctx.store)?;
    let mut user = signed_in_user(ctx, s)?;
    let st = status_of(ctx, &policy, &user);
    if st.complete {
        let now = ctx.now();
        user = users::update(ctx.store, &user.id, |u| u.registered_at = Some(now))?;
        audit::append(ctx, "registration_confirmed", Some(&user.id), json!({ "methods": st.methods }))?;
    }
    Ok(FinishResponse {
        complete: st.complete,
        can_add: st.allowed.iter().copied().filter(|c| !st.methods.contains(c)).collect(),
        methods: st.methods,
        required: st.required,
        missing: st.missing,
        backup_recommended: st.backup_recommended,
    })
}

/// Registration ids are short; keep stray path segments out of KV keys and messages.
pub fn valid_method_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notify;
    use crate::domain::phone::Phone;
    use crate::domain::users::NewUser;
    use crate::flow::gate::VerifyResponse;
    use crate::platform::store::Store;
    use crate::testing::TestEnv;
    use crate::testing::{SendCodeRequest, send_code};
    use crate::testing::{VerifyRequest, verify_code};

    struct Signed {
        env: TestEnv,
        session: Session,
        key: String,
        user_id: String,
    }

    fn signed_in_blank() -> Signed {
        let env = TestEnv::new();
        let u = users::create(
            &env.ctx(),
            NewUser {
                username: "sam@contoso.com".into(),
                display_name: "Sam".into(),
                password: "Pw-0123456789!".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let issued = session::create(&env.ctx(), &u.id).unwrap();
        Signed { key: session::storage_key(&issued.id), session: issued.session, user_id: u.id, env }
    }

    fn last_code(env: &TestEnv) -> String {
        let m = notify::outbox(&*env.store, 1).unwrap().remove(0).message;
        m.body.chars().filter(char::is_ascii_digit).take(6).collect()
    }

    fn prove(s: &Signed, method: &str, cc: &str, dest: &str, mode: &str) -> Result<VerifyResponse> {
        let ctx = s.env.ctx();
        let r = start(
            &ctx,
            &s.session,
            &s.key,
            StartRequest {
                method: method.into(),
                country_code: cc.into(),
                destination: dest.into(),
                mode: mode.into(),
            },
        )?;
        let m = r.send_code.method.as_str().to_owned();
        send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest { flow: r.flow.clone(), method: m.clone(), destination: dest.into() },
        )?;
        verify_code(&ctx, VerifyRequest { flow: r.flow, method: m, code: Some(last_code(&s.env)), answers: None })
    }

    fn three_answers() -> QuestionsRequest {
        QuestionsRequest {
            questions: vec![
                QuestionAnswer { id: Some("q29".into()), question: None, answer: "Rex the dog".into() },
                QuestionAnswer {
                    id: None,
                    question: Some("What is your favorite food?".into()),
                    answer: "Lasagne".into(),
                },
                QuestionAnswer { id: Some("q30".into()), question: None, answer: "Sammy".into() },
            ],
        }
    }

    #[test]
    fn register_phone_email_and_questions_then_finish() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let st = status(&ctx, &s.session).unwrap();
        assert!(!st.complete && st.missing == 1 && st.methods.is_empty());
        assert!(!finish(&ctx, &s.session).unwrap().complete);

        let r = prove(&s, "authentication_phone", "+1", "(425) 555-0123", "text").unwrap();
        assert_eq!(r.next, "finish");
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert_eq!(u.contacts.authentication_phone.as_ref().unwrap().e164(), "+14255550123");
        assert!(u.registered_at.is_some());
        prove(&s, "alternate_email", "", "Sam.Personal@Fabrikam.com", "").unwrap();
        assert_eq!(
            users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.as_deref(),
            Some("sam.personal@fabrikam.com")
        );
        prove(&s, "office_phone", "44", "+44 20 7946 0000", "call").unwrap();

        let st = set_questions(&ctx, &s.session, three_answers()).unwrap();
        assert_eq!(st.methods.len(), 4);
        assert_eq!(st.registered.alternate_email.as_deref(), Some("s•••@fabrikam.com"));
        let fin = finish(&ctx, &s.session).unwrap();
        assert!(fin.complete && fin.missing == 0 && fin.can_add.is_empty());

        // The user can now be identified for a reset with these methods.
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        let methods = u.available_methods(&Policy::load(&*s.env.store).unwrap());
        assert_eq!(methods.len(), 5, "{methods:?}");
        assert!(questions::all_match(
            &u.security_answers,
            &["q29".to_owned()],
            &[questions::Answer { id: "q29".into(), answer: " REX the  dog".into() }]
        ));

        let changes = audit::list(
            &*s.env.store,
            &audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(changes.len(), 4);
        for key in s.env.store.keys_with_prefix("").unwrap().into_iter().filter(|k| !k.starts_with("outbox")) {
            let v = String::from_utf8_lossy(&s.env.store.get(&key).unwrap().unwrap()).to_lowercase();
            assert!(!v.contains("rex the dog") && !v.contains("lasagne") && !v.contains("pw-0123456789"), "{key}");
        }
    }

    #[test]
    fn nothing_is_saved_without_the_right_code_and_flows_die_with_the_session() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let r = start(
            &ctx,
            &s.session,
            &s.key,
            StartRequest {
                method: "alternate_email".into(),
                destination: "sam@fabrikam.com".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let send = |dest: &str| {
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: r.flow.clone(), method: "email".into(), destination: dest.into() },
            )
        };
        assert_eq!(send("other@fabrikam.com").unwrap_err().error, "destination_mismatch");
        assert_eq!(
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: r.flow.clone(), method: "mobile_text".into(), destination: "x".into() }
            )
            .unwrap_err()
            .error,
            "method_unavailable"
        );
        send("SAM@fabrikam.com").unwrap();
        let code = last_code(&s.env);
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        let v = |c: &str| {
            verify_code(
                &ctx,
                VerifyRequest { flow: r.flow.clone(), method: "email".into(), code: Some(c.into()), answers: None },
            )
        };
        let e = v(&wrong).unwrap_err();
        assert_eq!((e.status, e.error), (401, "wrong_code"));
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.is_none());
        // Questions are not a register-flow method.
        assert_eq!(
            verify_code(
                &ctx,
                VerifyRequest {
                    flow: r.flow.clone(),
                    method: "questions".into(),
                    code: Some("1".into()),
                    answers: None
                }
            )
            .unwrap_err()
            .error,
            "method_unavailable"
        );
        session::end_all(&ctx, &s.user_id).unwrap();
        assert_eq!(v(&code).unwrap_err().error, "not_signed_in");
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.is_none());
    }

    #[test]
    fn a_verified_flow_is_used_once() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let r = start(
            &ctx,
            &s.session,
            &s.key,
            StartRequest {
                method: "alternate_email".into(),
                destination: "sam@fabrikam.com".into(),
                ..Default::default()
            },
        )
        .unwrap();
        send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest { flow: r.flow.clone(), method: "email".into(), destination: "sam@fabrikam.com".into() },
        )
        .unwrap();
        let code = last_code(&s.env);
        let v = || {
            verify_code(
                &ctx,
                VerifyRequest { flow: r.flow.clone(), method: "email".into(), code: Some(code.clone()), answers: None },
            )
        };
        v().unwrap();
        assert_eq!(v().unwrap_err().error, "flow_state");
    }

    #[test]
    fn bad_destinations_are_refused() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let go = |method: &str, cc: &str, dest: &str, mode: &str| {
            start(
                &ctx,
                &s.session,
                &s.key,
                StartRequest {
                    method: method.into(),
                    country_code: cc.into(),
                    destination: dest.into(),
                    mode: mode.into(),
                },
            )
            .unwrap_err()
        };
        assert_eq!(go("", "", "x", "").error, "missing_field");
        assert_eq!(go("fax", "", "x", "").status, 400);
        assert_eq!(go("alternate_email", "", "", "").error, "missing_field");
        assert_eq!(go("alternate_email", "", "not-an-email", "").error, "invalid_destination");
        assert_eq!(go("alternate_email", "", "a b@c.com", "").error, "invalid_destination");
        assert_eq!(go("authentication_phone", "", "4255550123", "").error, "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "12", "").error, "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "425-555-abcd", "").error, "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "+44 20 7946 0000", "").error, "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "4255550123", "fax").status, 400);
        assert_eq!(go("office_phone", "1", "4255550123", "text").status, 400);
        assert_eq!(go("security_questions", "", "x", "").status, 400);
        s.env.save_policy(|p| p.methods_allowed = vec![MethodId::Email, MethodId::Questions]);
        assert_eq!(go("authentication_phone", "1", "4255550123", "").error, "method_unavailable");
    }

    #[test]
    fn question_rules() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let qa = |id: &str, a: &str| QuestionAnswer { id: Some(id.into()), question: None, answer: a.into() };
        let problems = |qs: Vec<QuestionAnswer>| {
            let e = set_questions(&ctx, &s.session, QuestionsRequest { questions: qs }).unwrap_err();
            assert_eq!((e.status, e.error), (422, "invalid_questions"));
            e.details.unwrap()["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert!(problems(vec![qa("q01", "paris"), qa("q02", "london")])[0].contains("exactly 3"));
        assert!(problems(vec![qa("q01", "paris"), qa("q01", "london"), qa("q03", "rome")])[0].contains("twice"));
        assert!(problems(vec![qa("q01", "paris"), qa("zz", "london"), qa("q03", "rome")])[0].contains("not one of"));
        assert!(problems(vec![qa("q01", "pa"), qa("q02", "london"), qa("q03", "rome")])[0].contains("3 to 40"));
        assert!(
            problems(vec![qa("q01", &"x".repeat(41)), qa("q02", "london"), qa("q03", "rome")])[0].contains("3 to 40")
        );
        assert!(
            problems(vec![qa("q01", "paris"), qa("q02", " PARIS "), qa("q03", "rome")])[0].contains("same as another")
        );
        let q12 = PREDEFINED[11].1;
        assert!(
            problems(vec![qa("q12", &format!("{q12} pizza")), qa("q02", "london"), qa("q03", "rome")])[0]
                .contains("may not contain")
        );
        let all = problems(vec![qa("q01", "pa"), qa("q02", "pa")]);
        assert_eq!(all.len(), 3, "every problem is listed: {all:?}");
        assert!(!all.join(" ").contains("pa\""));
        assert_eq!(set_questions(&ctx, &s.session, QuestionsRequest::default()).unwrap_err().error, "missing_field");
        // Custom questions of the organisation are offered too.
        s.env.save_policy(|p| {
            p.custom_questions = vec![crate::domain::policy::CustomQuestion {
                id: "c1".into(),
                text: "What is our office dog's name?".into(),
            }]
        });
        assert_eq!(question_pool(&ctx).unwrap().questions.len(), 36);
        set_questions(
            &ctx,
            &s.session,
            QuestionsRequest { questions: vec![qa("c1", "biscuit"), qa("q02", "london"), qa("q03", "rome")] },
        )
        .unwrap();
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert!(u.security_answers.iter().all(|a| a.answer_hash.starts_with("$argon2id$")));
        // Admins may not register questions.
        users::update(&*s.env.store, &s.user_id, |u| u.role = users::Role::Admin).unwrap();
        assert_eq!(set_questions(&ctx, &s.session, three_answers()).unwrap_err().error, "method_unavailable");
    }

    #[test]
    fn removal_never_goes_below_the_required_number() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        users::update(&*s.env.store, &s.user_id, |u| {
            u.contacts.authentication_phone = Some(Phone::new("1", "4255550123"));
            u.contacts.alternate_email = Some("sam@fabrikam.com".into());
        })
        .unwrap();
        s.env.save_policy(|p| p.gates_required = 2);
        let e = remove(&ctx, &s.session, "alternate_email").unwrap_err();
        assert_eq!((e.status, e.error), (409, "below_required"));
        set_questions(&ctx, &s.session, three_answers()).unwrap();
        let st = remove(&ctx, &s.session, "alternate_email").unwrap();
        assert_eq!(st.methods, vec![Contact::AuthenticationPhone, Contact::SecurityQuestions]);
        assert_eq!(remove(&ctx, &s.session, "alternate_email").unwrap_err().error, "method_not_registered");
        assert_eq!(remove(&ctx, &s.session, "fax").unwrap_err().status, 404);
        assert_eq!(remove(&ctx, &s.session, "security_questions").unwrap_err().error, "below_required");
        assert_eq!(
            audit::list(
                &*s.env.store,
                &audit::Query { kind: Some("registration_changed".into()), ..Default::default() }
            )
            .unwrap()
            .len(),
            2
        );
    }

    #[test]
    fn finish_reconfirms_an_old_registration() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        set_questions(&ctx, &s.session, three_answers()).unwrap();
        s.env.clock.advance(181 * 86400);
        let fresh = session::create(&ctx, &s.user_id).unwrap();
        assert!(status(&ctx, &fresh.session).unwrap().reconfirm_registration);
        assert!(finish(&ctx, &fresh.session).unwrap().complete);
        assert!(!status(&ctx, &fresh.session).unwrap().reconfirm_registration);
    }
}
