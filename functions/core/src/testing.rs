//! Shared fixtures for the unit tests: a memory store, a manual clock and a
//! fully registered user.

use crate::platform::ctx::Ctx;
use crate::platform::clock::{ManualClock, OsRandom};
use crate::domain::notify::DevOutbox;
use crate::domain::phone::Phone;
use crate::domain::policy::Policy;
use crate::domain::questions::PREDEFINED;
use crate::platform::secrets::Secrets;
use crate::platform::store::MemoryStore;
use crate::domain::users::{self, Contacts, NewAnswer, NewUser, User};
use std::sync::Arc;

pub const PASSWORD: &str = "Old-password-42!";

#[derive(Clone)]
pub struct TestEnv {
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
}

impl TestEnv {
    pub fn new() -> Self {
        Self { store: Arc::new(MemoryStore::new()), clock: Arc::new(ManualClock::new(1_800_000_000)) }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&*self.store, &*self.clock, &OsRandom, Secrets::fixed(b"captcha key", b"code key"), "203.0.113.7")
    }

    pub fn outbox(&self) -> DevOutbox<'_> {
        DevOutbox { store: &*self.store, clock: &*self.clock }
    }

    pub fn save_policy(&self, change: impl FnOnce(&mut Policy)) {
        let mut p = Policy::load(&*self.store).unwrap();
        change(&mut p);
        p.save(&*self.store).unwrap();
    }

    /// Email, mobile, office phone and five answered questions ("answer 1".."answer 5").
    pub fn user_with_everything(&self, username: &str) -> User {
        users::create(
            &self.ctx(),
            NewUser {
                username: username.into(),
                display_name: "Jane Doe".into(),
                password: PASSWORD.into(),
                contacts: Contacts {
                    alternate_email: Some("jane.doe@fabrikam.com".into()),
                    mobile_phone: Some(Phone::new("1", "(425) 555-0112")),
                    office_phone: Some(Phone::new("1", "425 555 0199")),
                    ..Default::default()
                },
                security_answers: (1..=5)
                    .map(|i| NewAnswer {
                        question_id: PREDEFINED[i - 1].0.into(),
                        question: PREDEFINED[i - 1].1.into(),
                        answer: format!("Answer {i}"),
                    })
                    .collect(),
                ..Default::default()
            },
        )
        .unwrap()
    }
}
