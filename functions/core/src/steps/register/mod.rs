//! "Register for password reset", for a signed-in user: what is registered and
//! what the policy needs; new phones and emails proven by a code through the
//! same send-code / verify-code steps as a reset (a `register` flow bound to
//! the user and the session, saved only once verified); security questions;
//! removal (never below the required number); and finish.
//!
//! Once anything is registered, every change (a new or replaced phone or email,
//! questions, a removal) first needs a step-up of this session: `POST
//! /api/register/verify` starts a `step_up` flow (`flow::step_up`) proven with
//! an existing method through send-code / verify-code; without one the change
//! answers 403 `step_up_required`. Every change is audited masked and told to
//! every contact the user had before it.
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
use crate::domain::notify::Notifier;
use crate::domain::phone::{self, Phone, PhoneMode};
use crate::domain::policy::Policy;
use crate::domain::questions::{self, Question};
use crate::domain::security_info::{Contact, reconfirm_due, registered};
use crate::domain::session::{self, Session};
use crate::domain::users::{self, SecurityAnswer, User};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::flow::registration::Registration;
use crate::flow::step_up::{self, StepUpStart};
use crate::flow::{self, Purpose};
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
use serde::{Deserialize, Serialize};
use serde_json::json;

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
    /// A change of security info needs a step-up of this session first
    /// (`POST /api/register/verify`): something is registered and the session
    /// has not proven an existing method in the last 10 minutes.
    pub step_up_required: bool,
}

fn phone_view(p: &Phone) -> PhoneView {
    PhoneView { hint: mask::phone(p), mode: p.mode }
}

pub fn status_of(ctx: &Ctx, policy: &Policy, user: &User, s: &Session) -> Status {
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
        step_up_required: step_up::required(ctx, policy, s, user),
    }
}

fn signed_in_user(ctx: &Ctx, s: &Session) -> Result<User> {
    users::get(ctx.store, &s.user_id)?.ok_or_else(session::not_signed_in)
}

/// `GET /api/register`.
pub fn status(ctx: &Ctx, s: &Session) -> Result<Status> {
    let policy = Policy::load(ctx.store)?;
    Ok(status_of(ctx, &policy, &signed_in_user(ctx, s)?, s))
}

/// `POST /api/register/verify`: starts the step-up of this session (stored
/// under `session_key`), a `step_up` flow offering the user's existing methods.
pub fn verify(ctx: &Ctx, s: &Session, session_key: &str) -> Result<StepUpStart> {
    step_up::start(ctx, s, session_key)
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
    let st = status_of(ctx, &policy, &user, s);
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
    /// `POST /api/register/verify`: start a step-up.
    StepUp,
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
        "/api/register/verify" => route::pick(method, &[("POST", StepUp)]),
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
    use crate::platform::store::WholeStoreScan;

    #[test]
    fn the_route_table() {
        use Endpoint::*;
        assert_eq!(route("GET", "/api/register/"), Routed::To(Status));
        assert_eq!(route("DELETE", "/api/register/questions"), Routed::To(Remove("security_questions".into())));
        assert_eq!(route("DELETE", "/api/register/office_phone"), Routed::To(Remove("office_phone".into())));
        assert_eq!(route("POST", "/api/register/verify"), Routed::To(StepUp));
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
        key: String,
        user_id: String,
    }

    impl Signed {
        /// The session as the component loads it for each request (a step-up changes it).
        fn session(&self) -> Session {
            session::load_by_key(&self.env.ctx(), &self.key).unwrap()
        }
    }

    /// `POST /api/register/start` for the signed-in test user.
    fn begin(s: &Signed, method: &str, cc: &str, dest: &str, mode: &str) -> Result<StartResponse> {
        let request = StartRequest {
            method: method.into(),
            country_code: cc.into(),
            destination: dest.into(),
            mode: mode.into(),
        };
        start(&s.env.ctx(), &s.session(), &s.key, request)
    }

    fn start_email(s: &Signed, destination: &str) -> StartResponse {
        begin(s, "alternate_email", "", destination, "").unwrap()
    }

    fn signed_in_blank() -> Signed {
        signed_in_blank_named("sam@contoso.com")
    }

    fn signed_in_blank_named(username: &str) -> Signed {
        let env = TestEnv::new();
        let u = users::create(
            &env.ctx(),
            NewUser {
                username: username.into(),
                display_name: "Sam".into(),
                password: "Pw-0123456789!".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let issued = session::create(&env.ctx(), &u.id).unwrap();
        Signed { key: session::storage_key(&issued.id), user_id: u.id, env }
    }

    fn last_code(env: &TestEnv) -> String {
        let m = notify::outbox(&*env.store, 1).unwrap().remove(0).message;
        m.body.chars().filter(char::is_ascii_digit).take(6).collect()
    }

    fn prove(s: &Signed, method: &str, cc: &str, dest: &str, mode: &str) -> Result<VerifyResponse> {
        let ctx = s.env.ctx();
        let r = begin(s, method, cc, dest, mode)?;
        let m = r.send_code.method.as_str().to_owned();
        send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest { flow: r.flow.clone(), method: m.clone(), destination: dest.into() },
        )?;
        // A code is typed; a call is answered with # (and polled).
        crate::testing::prove_last(&s.env, &r.flow, &m)
    }

    /// The step-up of `s`'s session: `POST /api/register/verify`, then a code
    /// sent to the existing `dest` and verified.
    fn step_up(s: &Signed, method: &str, dest: &str) -> Result<VerifyResponse> {
        let ctx = s.env.ctx();
        let r = verify(&ctx, &s.session(), &s.key)?;
        let send = SendCodeRequest { flow: r.flow.clone(), method: method.into(), destination: dest.into() };
        send_code(&ctx, &s.env.outbox(), send)?;
        crate::testing::prove_last(&s.env, &r.flow, method)
    }

    /// Signed in as a user an administrator gave an alternate email, a mobile and an office phone.
    fn signed_in_with_contacts() -> Signed {
        let s = signed_in_blank();
        users::update(&*s.env.store, &s.user_id, |u| {
            u.contacts.alternate_email = Some("sam.old@fabrikam.com".into());
            u.contacts.mobile_phone = Some(Phone::new("1", "4255550111"));
            u.contacts.office_phone = Some(Phone::new("1", "4255550199"));
        })
        .unwrap();
        s
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
        let st = status(&ctx, &s.session()).unwrap();
        assert!(!st.complete && st.missing == 1 && st.methods.is_empty());
        assert!(!finish(&ctx, &s.session()).unwrap().complete);

        let r = prove(&s, "authentication_phone", "+1", "(425) 555-0123", "text").unwrap();
        assert_eq!(r.next, "finish");
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert_eq!(u.contacts.authentication_phone.as_ref().unwrap().e164(), "+14255550123");
        assert!(u.registered_at.is_some());
        // A phone is registered now: the next change first proves it (a step-up).
        assert_eq!(
            prove(&s, "alternate_email", "", "Sam.Personal@Fabrikam.com", "").unwrap_err().error(),
            "step_up_required"
        );
        step_up(&s, "mobile_text", "+1 425 555 0123").unwrap();
        prove(&s, "alternate_email", "", "Sam.Personal@Fabrikam.com", "").unwrap();
        assert_eq!(
            users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.as_deref(),
            Some("sam.personal@fabrikam.com")
        );
        prove(&s, "office_phone", "44", "+44 20 7946 0000", "call").unwrap();

        let st = set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        assert_eq!(st.methods.len(), 4);
        assert_eq!(st.registered.alternate_email.as_deref(), Some("s•••@fabrikam.com"));
        let fin = finish(&ctx, &s.session()).unwrap();
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
        let go = |method: &str, cc: &str, dest: &str, mode: &str| begin(&s, method, cc, dest, mode).unwrap_err();
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
            let e = set_questions(&ctx, &s.env.outbox(), &s.session(), QuestionsRequest { questions: qs }).unwrap_err();
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
        assert_eq!(
            set_questions(&ctx, &s.env.outbox(), &s.session(), QuestionsRequest::default()).unwrap_err().error(),
            "missing_field"
        );
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
            &s.env.outbox(),
            &s.session(),
            QuestionsRequest { questions: vec![qa("c1", "biscuit"), qa("q02", "london"), qa("q03", "rome")] },
        )
        .unwrap();
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert!(u.security_answers.iter().all(|a| a.answer_hash.starts_with("$argon2id$")));
        // Admins may not register questions.
        users::update(&*s.env.store, &s.user_id, |u| u.role = users::Role::Admin).unwrap();
        assert_eq!(
            set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap_err().error(),
            "method_unavailable"
        );
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
        step_up(&s, "email", "sam@fabrikam.com").unwrap();
        let e = remove(&ctx, &s.env.outbox(), &s.session(), "alternate_email").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "below_required"));
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        let st = remove(&ctx, &s.env.outbox(), &s.session(), "alternate_email").unwrap();
        assert_eq!(st.methods, vec![Contact::AuthenticationPhone, Contact::SecurityQuestions]);
        assert_eq!(
            remove(&ctx, &s.env.outbox(), &s.session(), "alternate_email").unwrap_err().error(),
            "method_not_registered"
        );
        assert_eq!(remove(&ctx, &s.env.outbox(), &s.session(), "fax").unwrap_err().status(), 404);
        assert_eq!(
            remove(&ctx, &s.env.outbox(), &s.session(), "security_questions").unwrap_err().error(),
            "below_required"
        );
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
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        s.env.clock.advance(181 * 86400);
        let fresh = session::create(&ctx, &s.user_id).unwrap();
        assert!(status(&ctx, &fresh.session).unwrap().reconfirm_registration);
        assert!(finish(&ctx, &fresh.session).unwrap().complete);
        assert!(!status(&ctx, &fresh.session).unwrap().reconfirm_registration);
    }

    #[test]
    fn a_change_needs_a_step_up_once_anything_is_registered() {
        let s = signed_in_with_contacts();
        let ctx = s.env.ctx();
        assert!(status(&ctx, &s.session()).unwrap().step_up_required);
        // The attack: the password alone (a signed-in session) swaps the email.
        let e = start_email_err(&s, "attacker@evil.example");
        assert_eq!((e.status(), e.error()), (403, "step_up_required"));
        assert_eq!(e.body()["step_up"], "/api/register/verify");
        let e = set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap_err();
        assert_eq!((e.status(), e.error()), (403, "step_up_required"));
        let e = remove(&ctx, &s.env.outbox(), &s.session(), "alternate_email").unwrap_err();
        assert_eq!((e.status(), e.error()), (403, "step_up_required"));
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert_eq!(u.contacts.alternate_email.as_deref(), Some("sam.old@fabrikam.com"));
        assert!(u.security_answers.is_empty());
        assert!(notify::outbox(&*s.env.store, 10).unwrap().is_empty(), "no code went anywhere");

        // Only what the user already has can be proven: the attacker's address is not it.
        let r = verify(&ctx, &s.session(), &s.key).unwrap();
        let body = serde_json::to_value(&r).unwrap();
        assert_eq!(body["purpose"], "step_up");
        assert_eq!(
            body["methods"][0],
            json!({ "id": "email", "kind": "email", "hint": "s•••@fabrikam.com", "label": "Email my alternate email" })
        );
        assert!(!body.to_string().contains("555"), "hints are masked");
        let send = |dest: &str| {
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: r.flow.clone(), method: "email".into(), destination: dest.into() },
            )
        };
        assert_eq!(send("attacker@evil.example").unwrap_err().error(), "destination_mismatch");

        // With the old email's code the session is stepped up, and the change goes through.
        step_up(&s, "email", "sam.old@fabrikam.com").unwrap();
        assert!(!status(&ctx, &s.session()).unwrap().step_up_required);
        start_email(&s, "sam.new@fabrikam.com");
        prove(&s, "alternate_email", "", "sam.new@fabrikam.com", "").unwrap();
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        remove(&ctx, &s.env.outbox(), &s.session(), "office_phone").unwrap();
        let u = users::get(&*s.env.store, &s.user_id).unwrap().unwrap();
        assert_eq!(u.contacts.alternate_email.as_deref(), Some("sam.new@fabrikam.com"));
        assert!(u.contacts.office_phone.is_none());
    }

    fn start_email_err(s: &Signed, destination: &str) -> ApiError {
        begin(s, "alternate_email", "", destination, "").unwrap_err()
    }

    #[test]
    fn the_first_registration_needs_no_step_up_and_an_admin_set_contact_counts() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        assert!(!status(&ctx, &s.session()).unwrap().step_up_required);
        // Nothing to prove with yet: no step-up flow.
        assert_eq!(verify(&ctx, &s.session(), &s.key).unwrap_err().error(), "method_unavailable");
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        assert!(status(&ctx, &s.session()).unwrap().step_up_required, "questions count as registered");
        assert_eq!(start_email_err(&s, "sam@fabrikam.com").error(), "step_up_required");

        // What an administrator set counts too (a mobile phone, no registration of the user's own).
        let t = signed_in_blank_named("tom@contoso.com");
        users::update(&*t.env.store, &t.user_id, |u| u.contacts.mobile_phone = Some(Phone::new("1", "4255550100")))
            .unwrap();
        assert_eq!(start_email_err(&t, "tom@fabrikam.com").error(), "step_up_required");
        step_up(&t, "mobile_call", "4255550100").unwrap();
        prove(&t, "alternate_email", "", "tom@fabrikam.com", "").unwrap();
    }

    #[test]
    fn a_step_up_is_bound_to_its_session() {
        let s = signed_in_with_contacts();
        let ctx = s.env.ctx();
        let other = session::create(&ctx, &s.user_id).unwrap();
        let other_key = session::storage_key(&other.id);
        step_up(&s, "mobile_text", "4255550111").unwrap();
        start_email(&s, "sam.new@fabrikam.com");
        // Another session of the same user is not stepped up.
        let other_session = session::load_by_key(&ctx, &other_key).unwrap();
        assert!(status(&ctx, &other_session).unwrap().step_up_required);
        let request = StartRequest {
            method: "alternate_email".into(),
            destination: "x@evil.example".into(),
            ..Default::default()
        };
        assert_eq!(start(&ctx, &other_session, &other_key, request).unwrap_err().error(), "step_up_required");

        // A step-up flow dies with the session that started it.
        let r = verify(&ctx, &other_session, &other_key).unwrap();
        session::end(&ctx, &other.id).unwrap();
        let e = send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest {
                flow: r.flow.clone(),
                method: "email".into(),
                destination: "sam.old@fabrikam.com".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.error(), "not_signed_in");

        // A step-up flow is no reset flow: it cannot set a password.
        let stepped = verify(&ctx, &s.session(), &s.key).unwrap();
        let e = crate::flow::load(&ctx, &stepped.flow, &[Purpose::Reset]).unwrap_err();
        assert_eq!(e.error(), "flow_state");
    }

    #[test]
    fn a_step_up_lasts_ten_minutes() {
        let s = signed_in_with_contacts();
        let ctx = s.env.ctx();
        step_up(&s, "email", "sam.old@fabrikam.com").unwrap();
        s.env.clock.advance(step_up::WINDOW_SECONDS - 1);
        assert!(!status(&ctx, &s.session()).unwrap().step_up_required);
        start_email(&s, "sam.new@fabrikam.com");
        s.env.clock.advance(1);
        assert!(status(&ctx, &s.session()).unwrap().step_up_required);
        assert_eq!(start_email_err(&s, "sam.new@fabrikam.com").error(), "step_up_required");
        step_up(&s, "email", "sam.old@fabrikam.com").unwrap();
        start_email(&s, "sam.new@fabrikam.com");
    }

    #[test]
    fn a_register_flow_started_before_something_was_registered_still_needs_the_step_up() {
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        // Started while nothing was registered …
        let r = start_email(&s, "late@evil.example");
        // … then a method is registered, so saving the email now is a change.
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest { flow: r.flow.clone(), method: "email".into(), destination: "late@evil.example".into() },
        )
        .unwrap();
        let e = verify_code(
            &ctx,
            VerifyRequest { flow: r.flow, method: "email".into(), code: Some(last_code(&s.env)), answers: None },
        )
        .unwrap_err();
        assert_eq!(e.error(), "step_up_required");
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.alternate_email.is_none());
    }

    #[test]
    fn a_step_up_is_a_gate_like_a_reset_failed_proofs_count() {
        let s = signed_in_with_contacts();
        let ctx = s.env.ctx();
        let r = verify(&ctx, &s.session(), &s.key).unwrap();
        send_code(
            &ctx,
            &s.env.outbox(),
            SendCodeRequest { flow: r.flow.clone(), method: "mobile_text".into(), destination: "4255550111".into() },
        )
        .unwrap();
        let code = last_code(&s.env);
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        for left in (0..5).rev() {
            let e = verify_code(
                &ctx,
                VerifyRequest {
                    flow: r.flow.clone(),
                    method: "mobile_text".into(),
                    code: Some(wrong.clone()),
                    answers: None,
                },
            )
            .unwrap_err();
            assert_eq!((e.error(), e.details.unwrap()["attempts_left"].as_u64()), ("wrong_code", Some(left)));
        }
        // Five failed proofs block resets and step-ups alike, for a day.
        assert_eq!(verify(&ctx, &s.session(), &s.key).unwrap_err().error(), "reset_blocked");
        assert!(status(&ctx, &s.session()).unwrap().step_up_required);
    }

    #[test]
    fn every_change_tells_every_previous_contact_and_is_audited_masked() {
        let s = signed_in_with_contacts();
        let ctx = s.env.ctx();
        step_up(&s, "office_call", "+1 425 555 0199").unwrap();
        let before = notify::outbox(&*s.env.store, 100).unwrap().len();
        prove(&s, "alternate_email", "", "sam.new@fabrikam.com", "").unwrap();
        let out = notify::outbox(&*s.env.store, 100).unwrap();
        // The code to the new address, then one notice to each contact the user had before.
        let notices: Vec<_> = out[..out.len() - before - 1].iter().map(|e| e.message.clone()).collect();
        let mut to: Vec<(notify::Channel, &str)> = notices.iter().map(|m| (m.channel, m.to.as_str())).collect();
        to.sort_by_key(|(_, t)| t.to_string());
        assert_eq!(
            to,
            vec![
                (notify::Channel::Sms, "+14255550111"),
                (notify::Channel::Voice, "+14255550199"),
                (notify::Channel::Email, "sam.old@fabrikam.com"),
            ]
        );
        for m in &notices {
            assert!(m.body.contains("Your security info changed"), "{}", m.body);
            assert!(m.body.contains("If this wasn't you, contact your administrator"), "{}", m.body);
            assert!(!m.body.contains("sam.new"), "the new address is not spelled out: {}", m.body);
        }
        // Questions and a removal are changes too; the new email hears of them now.
        set_questions(&ctx, &s.env.outbox(), &s.session(), three_answers()).unwrap();
        assert!(notify::outbox(&*s.env.store, 3).unwrap().iter().any(|e| e.message.to == "sam.new@fabrikam.com"));
        remove(&ctx, &s.env.outbox(), &s.session(), "office_phone").unwrap();
        let last = notify::outbox(&*s.env.store, 1).unwrap().remove(0).message;
        assert!(last.body.contains("office phone of your account sam@contoso.com was removed"), "{}", last.body);

        let events = audit::list(
            &*s.env.store,
            &audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
        )
        .unwrap();
        let details: Vec<_> = events.iter().rev().map(|e| e.detail.clone()).collect();
        assert_eq!(
            details[0],
            json!({ "method": "alternate_email", "action": "replaced", "from": "s•••@fabrikam.com", "to": "s•••@fabrikam.com", "notified": 3 })
        );
        assert_eq!(details[1]["action"], "added");
        assert_eq!(
            (details[1]["from"].clone(), details[1]["to"].clone()),
            (serde_json::Value::Null, json!(["q29", "q12", "q30"]))
        );
        assert_eq!(
            details[2],
            json!({ "method": "office_phone", "action": "removed", "from": "+1 •••• ••99", "to": null, "notified": 3 })
        );
        let audit_text = serde_json::to_string(&events).unwrap();
        for plain in ["sam.old", "sam.new", "5550111", "5550199", "lasagne"] {
            assert!(!audit_text.to_lowercase().contains(plain), "{plain} in the audit");
        }
        let stepped =
            audit::list(&*s.env.store, &audit::Query { kind: Some("stepped_up".into()), ..Default::default() })
                .unwrap();
        assert_eq!(stepped[0].detail["method"], "office_call");
    }

    #[test]
    fn a_phone_registered_by_call_is_proven_by_pressing_hash() {
        use crate::testing::{last_call_token, poll, press};
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        // Without the callback address a phone cannot be registered by call.
        let mut no_url = s.env.ctx();
        no_url.public_base_url.clear();
        let office = StartRequest {
            method: "office_phone".into(),
            country_code: "1".into(),
            destination: "4255550100".into(),
            mode: "".into(),
        };
        let e = start(&no_url, &s.session(), &s.key, office).unwrap_err();
        assert!(e.error() == "method_unavailable" && e.message.contains("public_base_url"), "{e:?}");
        let r = begin(&s, "authentication_phone", "1", "425 555 0123", "call").unwrap();
        assert_eq!((r.send_code.method, r.send_code.hint.as_str()), (MethodId::MobileCall, "+1 •••• ••23"));
        let send = || {
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest {
                    flow: r.flow.clone(),
                    method: "mobile_call".into(),
                    destination: "4255550123".into(),
                },
            )
        };
        send().unwrap();
        // The call says who calls and asks for #; it reads out no code.
        let call = notify::outbox(&*s.env.store, 1).unwrap().remove(0);
        assert_eq!((call.message.channel, call.message.to.as_str()), (notify::Channel::Voice, "+14255550123"));
        assert!(call.message.body.contains("register this phone"), "{}", call.message.body);
        assert!(call.message.body.contains("press the pound key"), "{}", call.message.body);
        assert!(!call.message.body.chars().any(|c| c.is_ascii_digit()), "no code is read out");
        assert!(call.callback_url.is_some());
        assert_eq!(poll(&s.env, &r.flow, "mobile_call").unwrap(), None, "pending while the call is out");
        // A call has no code to type: out of order, and not counted.
        let typed = VerifyRequest {
            flow: r.flow.clone(),
            method: "mobile_call".into(),
            code: Some("123456".into()),
            answers: None,
        };
        assert_eq!(verify_code(&ctx, typed).unwrap_err().error(), "flow_state");

        // Another key: a failed try; nothing saved; "Call again".
        assert!(!press(&s.env, Some("1")).unwrap().passed);
        let e = poll(&s.env, &r.flow, "mobile_call").unwrap_err();
        assert_eq!((e.status(), e.error()), (410, "call_failed"));
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.authentication_phone.is_none());
        let failed = audit::list(
            &*s.env.store,
            &audit::Query { kind: Some("verification_failed".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].detail, json!({ "flow_purpose": "register", "method": "mobile_call" }));

        // Call again: # saves the phone, once; the poll then says the gate passed.
        send().unwrap();
        let token = last_call_token(&s.env);
        assert!(press(&s.env, Some("#")).unwrap().passed);
        let done = poll(&s.env, &r.flow, "mobile_call").unwrap().expect("passed");
        assert_eq!(done, VerifyResponse { gates_passed: 1, gates_required: 1, next: "finish" });
        let phone = users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.authentication_phone.unwrap();
        assert_eq!((phone.e164(), phone.mode), ("+14255550123".to_owned(), PhoneMode::Call));
        assert_eq!(last_call_token(&s.env), token, "no notice: nothing was registered before");
        let e = press(&s.env, Some("#")).unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"), "single use");
        assert_eq!(send().unwrap_err().error(), "flow_state", "the flow is used");
        let changes = audit::list(
            &*s.env.store,
            &audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].detail["to"], "+1 •••• ••23");
    }

    #[test]
    fn an_unanswered_registration_call_is_a_failed_try_counted_once() {
        use crate::testing::poll;
        let s = signed_in_blank();
        let ctx = s.env.ctx();
        s.env.clock.set(3600 * 500_000 + 60);
        let send = |flow: &str| {
            send_code(
                &ctx,
                &s.env.outbox(),
                SendCodeRequest { flow: flow.into(), method: "office_call".into(), destination: "4255550100".into() },
            )
        };
        let failed = || {
            audit::list(&*s.env.store, &audit::Query { kind: Some("verification_failed".into()), ..Default::default() })
                .unwrap()
                .len()
        };
        // Five calls no one answers: each poll past the expiry fails the call and
        // counts one validation of the phone (however often it is polled) ...
        for n in 1..=5 {
            let r = begin(&s, "office_phone", "1", "425 555 0100", "call").unwrap();
            send(&r.flow).unwrap();
            s.env.clock.advance(300);
            for _ in 0..3 {
                assert_eq!(poll(&s.env, &r.flow, "office_call").unwrap_err().error(), "call_failed");
            }
            assert_eq!(failed(), n);
            // A late callback changes nothing.
            assert_eq!(crate::testing::press(&s.env, Some("#")).unwrap_err().error(), "code_expired");
            assert_eq!(failed(), n);
        }
        // ... so the phone's five validations this hour are spent, as by five wrong codes.
        s.env.save_policy(|p| p.throttles.sends_per_gate_per_hour = 10);
        let r = begin(&s, "office_phone", "1", "425 555 0100", "call").unwrap();
        send(&r.flow).unwrap();
        let e = crate::testing::press(&s.env, Some("#")).unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"));
        assert!(users::get(&*s.env.store, &s.user_id).unwrap().unwrap().contacts.office_phone.is_none());
    }

    #[test]
    fn a_first_registration_tells_no_one() {
        let s = signed_in_blank();
        prove(&s, "alternate_email", "", "sam@fabrikam.com", "").unwrap();
        let out = notify::outbox(&*s.env.store, 10).unwrap();
        assert_eq!(out.len(), 1, "only the code");
        let e = &audit::list(
            &*s.env.store,
            &audit::Query { kind: Some("registration_changed".into()), ..Default::default() },
        )
        .unwrap()[0];
        assert_eq!(
            e.detail,
            json!({ "method": "alternate_email", "action": "added", "from": null, "to": "s•••@fabrikam.com", "notified": 0 })
        );
    }
}
