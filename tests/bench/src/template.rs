//! The records the seeder clones, made by the app itself: a throwaway host
//! (the same binary the bench measures) on a fresh SQLite store, an admin and
//! a template user created through core, and journeys over HTTP (reset by
//! email code, sign-in, contact-admin) until the template user has
//! [`EVENTS`] audit events. Then the exact bytes are read back from the store.

use crate::routes::{VARS, admin_get, bench_policy, clear_contact_throttles, contact_admin};
use unlatch_core::Store;
use unlatch_core::audit::Event;
use unlatch_core::counter;
use unlatch_core::domain::username;
use unlatch_core::users::{Role, User};
use unlatch_e2e::App;
use unlatch_e2e::account::sign_in;
use unlatch_e2e::journey::*;

/// Audit events per seeded user.
pub const EVENTS: usize = 10;

const ADMIN: &str = "admin@scale.example";
const TEMPLATE: &str = "template@scale.example";

/// What the seeder copies: records as the app wrote them.
pub struct Template {
    /// The `policy` record (bench policy: low CAPTCHA work, throttles raised).
    pub policy: Vec<u8>,
    /// The admin's `user:<id>` record and id, and their username's lookup key.
    pub admin_record: Vec<u8>,
    pub admin_id: String,
    pub admin_key: String,
    /// The `admins` record (the admin's id).
    pub admins: Vec<u8>,
    /// The template user, to be cloned with new ids, usernames and index slots.
    pub user: User,
    /// The template user's first [`EVENTS`] audit events, oldest first.
    pub events: Vec<Event>,
}

pub fn capture() -> Template {
    let app = App::start_with(&VARS);
    set_policy(&app, bench_policy);
    let admin = user_with(&app, ADMIN, |u| {
        u.role = Role::Admin;
        u.contacts.alternate_email = Some("it-admin@scale.example".into());
    });
    let user = user_with_everything(&app, TEMPLATE);
    let store = app.store();
    while event_count(&store, &user.id) < EVENTS as i64 {
        journey(&app, &store);
        // A user's audit list builds the per-user index first (it is built behind the requests).
        assert_eq!(admin_get(&app, &format!("/api/admin/audit?user={}&limit=1", user.id)).status, 200);
    }
    let raw = |key: &str| store.get(key).expect("read the template store").unwrap_or_else(|| panic!("no {key}"));
    let user_bytes = raw(&format!("user:{}", user.id));
    let user: User = serde_json::from_slice(&user_bytes).expect("the template user");
    assert_eq!(serde_json::to_vec(&user).unwrap(), user_bytes, "the user record round-trips byte for byte");
    let events = (1..=EVENTS).map(|n| event(&store, &user.id, n)).collect();
    Template {
        policy: raw("policy"),
        admin_record: raw(&format!("user:{}", admin.id)),
        admin_id: admin.id,
        admin_key: username::key(ADMIN).expect("a valid username"),
        admins: raw("admins"),
        user,
        events,
    }
}

/// One reset by email code, a sign-in and a contact-admin of the template user.
fn journey(app: &App, store: &dyn Store) {
    let flow = start_flow(app, TEMPLATE, "reset");
    pass_code_gate(app, &flow, "email", EMAIL);
    sign_in(app, TEMPLATE, PASSWORD);
    clear_contact_throttles(store, TEMPLATE);
    let contacted = contact_admin(app, TEMPLATE);
    assert_eq!(contacted.status, 202, "contact-admin: {}", contacted.text());
}

fn event_count(store: &dyn Store, user_id: &str) -> i64 {
    let raw = store.get(&format!("audit-user-seq:{user_id}")).unwrap();
    raw.map_or(0, |v| counter::decode(&v).expect("a counter"))
}

/// The user's `n`-th event, checked to round-trip byte for byte.
fn event(store: &dyn Store, user_id: &str, n: usize) -> Event {
    let seq = store.get(&format!("audit-user:{user_id}:{n}")).unwrap().expect("an indexed event");
    let key = format!("audit:{}", String::from_utf8(seq).unwrap());
    let bytes = store.get(&key).unwrap().expect("the event");
    let event: Event = serde_json::from_slice(&bytes).expect("an audit event");
    assert_eq!(serde_json::to_vec(&event).unwrap(), bytes, "{key} round-trips byte for byte");
    event
}
