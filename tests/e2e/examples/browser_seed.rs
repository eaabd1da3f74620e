//! Seeds the users the browser tests (tests/browser) walk the journeys with,
//! straight into the runner's key-value file, and lowers the CAPTCHA work.
//! Temporary: once the admin API has landed the browser tests use it instead.
//!
//! Usage: `browser_seed <sqlite file> <captcha difficulty>` before `runner up`.

use std::path::PathBuf;
use unlatch_core::phone::Phone;
use unlatch_core::questions::PREDEFINED;
use unlatch_core::users::{self, Contacts, NewAnswer, NewUser, Role};
use unlatch_core::{Ctx, OsRandom, Policy, Secrets, SystemClock};
use unlatch_e2e::kv::SqliteStore;

fn everything() -> (Contacts, Vec<NewAnswer>) {
    let contacts = Contacts {
        alternate_email: Some("jane.doe@fabrikam.com".into()),
        mobile_phone: Some(Phone::new("1", "(425) 555-0112")),
        office_phone: Some(Phone::new("1", "425 555 0199")),
        ..Default::default()
    };
    let answers = (1..=5)
        .map(|i| NewAnswer { question_id: PREDEFINED[i - 1].0.into(), question: PREDEFINED[i - 1].1.into(), answer: format!("Answer {i}") })
        .collect();
    (contacts, answers)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("the sqlite file"));
    let difficulty: u8 = args.next().and_then(|d| d.parse().ok()).unwrap_or(8);
    let store = SqliteStore::open(&path);
    let ctx = Ctx::new(&store, &SystemClock, &OsRandom, Secrets::fixed(b"fixture", b"fixture"), "127.0.0.1");
    let mut policy = Policy::load(&store).unwrap();
    policy.captcha_difficulty = difficulty;
    // Every test comes from 127.0.0.1: room for all of them within a minute.
    policy.throttles.identify_per_minute = 1000;
    policy.save(&store).unwrap();
    let password = "Old-password-42!".to_string();
    let mk = |username: &str, f: &dyn Fn(&mut NewUser)| {
        let (contacts, security_answers) = everything();
        let mut new = NewUser {
            username: username.into(),
            display_name: "Jane Doe".into(),
            password: password.clone(),
            contacts,
            security_answers,
            ..Default::default()
        };
        f(&mut new);
        users::create(&ctx, new).expect("create the user");
    };
    for name in ["jane", "june", "chris", "rita", "kim"] {
        mk(name, &|_| {});
    }
    mk("lee", &|n| n.locked = true);
    mk("nora", &|n| {
        n.contacts = Contacts::default();
        n.security_answers.clear();
    });
    mk("adele", &|n| {
        n.role = Role::Admin;
        n.security_answers.clear();
    });
    mk("fed", &|n| n.password_managed_here = Some(false));
    mk("off", &|n| n.sspr_enabled = Some(false));
    mk("bare", &|n| {
        n.contacts = Contacts::default();
        n.security_answers.clear();
    });
    println!("seeded");
}
