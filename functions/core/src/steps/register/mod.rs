//! "Register for password reset", for a signed-in user: what is registered and
//! what the policy needs; new phones and emails proven by a code through the
//! same send-code / verify-code steps as a reset (a `register` flow bound to
//! the user and the session, saved only once verified); security questions;
//! removal (never below the required number); and finish.
//!
//! Registrable methods (API names): `authentication_phone` (text or call),
//! `office_phone` (call), `alternate_email`, `security_questions`.

mod remove;
mod security_questions;
mod start;

pub use remove::remove;
pub use security_questions::{QuestionAnswer, QuestionPool, QuestionsRequest, question_pool, set_questions};
pub use start::{SendWith, StartRequest, StartResponse, start};

use crate::domain::audit;
use crate::domain::email;
use crate::domain::hashing;
use crate::domain::mask;
use crate::domain::methods::MethodId;
use crate::domain::phone::{self, Phone, PhoneMode};
use crate::domain::policy::Policy;
use crate::domain::questions::{self, Question};
use crate::domain::security_info::{Contact, reconfirm_due, registered};
use crate::domain::session::{self, Session};
use crate::domain::users::{self, SecurityAnswer, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::flow::registration::Registration;
use crate::flow::{self, Purpose};
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
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

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Status,
    Start,
    QuestionPool,
    SetQuestions,
    Finish,
    /// `DELETE /api/register/<method>` (`questions` removes the security questions).
    Remove(String),
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    use Endpoint::*;
    match route::trim(path) {
        "/api/register" => route::pick(method, &[("GET", Status)]),
        "/api/register/start" => route::pick(method, &[("POST", Start)]),
        "/api/register/finish" => route::pick(method, &[("POST", Finish)]),
        "/api/register/questions" => route::pick(
            method,
            &[
                ("GET", QuestionPool),
                ("PUT", SetQuestions),
                ("POST", SetQuestions),
                ("DELETE", Remove("security_questions".into())),
            ],
        ),
        other => match other.strip_prefix("/api/register/") {
            Some(m) if valid_method_segment(m) => route::pick(method, &[("DELETE", Remove(m.to_owned()))]),
            _ => Routed::NotFound,
        },
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_route_table() {
        use Endpoint::*;
        assert_eq!(route("GET", "/api/register/"), Routed::To(Status));
        assert_eq!(route("DELETE", "/api/register/questions"), Routed::To(Remove("security_questions".into())));
        assert_eq!(route("DELETE", "/api/register/office_phone"), Routed::To(Remove("office_phone".into())));
        assert_eq!(route("GET", "/api/register/office_phone"), Routed::MethodNotAllowed(vec!["DELETE"]));
        assert_eq!(route("GET", "/api/register/start"), Routed::MethodNotAllowed(vec!["POST"]));
        for miss in ["/api/register/Office", "/api/register/a/b", "/api/register/../x", "/api/registerx"] {
            assert_eq!(route("DELETE", miss), Routed::NotFound, "{miss}");
        }
    }
    use super::*;
    use crate::domain::notify;
    use crate::domain::phone::Phone;
    use crate::domain::questions::PREDEFINED;
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

    fn start_email(s: &Signed, destination: &str) -> StartResponse {
        let request =
            StartRequest { method: "alternate_email".into(), destination: destination.into(), ..Default::default() };
        start(&s.env.ctx(), &s.session, &s.key, request).unwrap()
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
        let r = start_email(&s, "sam@fabrikam.com");
        let send = |dest: &str| {
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: r.flow.clone(), method: "email".into(), destination: dest.into() },
            )
        };
        assert_eq!(send("other@fabrikam.com").unwrap_err().error(), "destination_mismatch");
        assert_eq!(
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: r.flow.clone(), method: "mobile_text".into(), destination: "x".into() }
            )
            .unwrap_err()
            .error(),
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
        assert_eq!((e.status(), e.error()), (401, "wrong_code"));
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
            .error(),
            "method_unavailable"
        );
        session::end_all(&ctx, &s.user_id).unwrap();
        assert_eq!(v(&code).unwrap_err().error(), "not_signed_in");
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.is_none());
    }

    #[test]
    fn a_verified_flow_is_used_once() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let r = start_email(&s, "sam@fabrikam.com");
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
        assert_eq!(v().unwrap_err().error(), "flow_state");
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
        assert_eq!(go("", "", "x", "").error(), "missing_field");
        assert_eq!(go("fax", "", "x", "").status(), 400);
        assert_eq!(go("alternate_email", "", "", "").error(), "missing_field");
        assert_eq!(go("alternate_email", "", "not-an-email", "").error(), "invalid_destination");
        assert_eq!(go("alternate_email", "", "a b@c.com", "").error(), "invalid_destination");
        assert_eq!(go("authentication_phone", "", "4255550123", "").error(), "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "12", "").error(), "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "425-555-abcd", "").error(), "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "+44 20 7946 0000", "").error(), "invalid_destination");
        assert_eq!(go("authentication_phone", "1", "4255550123", "fax").status(), 400);
        assert_eq!(go("office_phone", "1", "4255550123", "text").status(), 400);
        assert_eq!(go("security_questions", "", "x", "").status(), 400);
        s.env.save_policy(|p| p.methods_allowed = vec![MethodId::Email, MethodId::Questions]);
        assert_eq!(go("authentication_phone", "1", "4255550123", "").error(), "method_unavailable");
    }

    #[test]
    fn question_rules() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        let qa = |id: &str, a: &str| QuestionAnswer { id: Some(id.into()), question: None, answer: a.into() };
        let problems = |qs: Vec<QuestionAnswer>| {
            let e = set_questions(&ctx, &s.session, QuestionsRequest { questions: qs }).unwrap_err();
            assert_eq!((e.status(), e.error()), (422, "invalid_questions"));
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
        assert_eq!(set_questions(&ctx, &s.session, QuestionsRequest::default()).unwrap_err().error(), "missing_field");
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
        assert_eq!(set_questions(&ctx, &s.session, three_answers()).unwrap_err().error(), "method_unavailable");
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
        assert_eq!((e.status(), e.error()), (409, "below_required"));
        set_questions(&ctx, &s.session, three_answers()).unwrap();
        let st = remove(&ctx, &s.session, "alternate_email").unwrap();
        assert_eq!(st.methods, vec![Contact::AuthenticationPhone, Contact::SecurityQuestions]);
        assert_eq!(remove(&ctx, &s.session, "alternate_email").unwrap_err().error(), "method_not_registered");
        assert_eq!(remove(&ctx, &s.session, "fax").unwrap_err().status(), 404);
        assert_eq!(remove(&ctx, &s.session, "security_questions").unwrap_err().error(), "below_required");
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
