//! The requests the scale bench makes beyond tests/e2e's journey helpers: the
//! admin API with its bearer token, contact-admin, and the untimed resets of
//! contact-admin's fixed hourly throttles (5 per address, 3 per account) so
//! that every timed request takes the path that finds the user and the admins.

use serde_json::json;
use unlatch_core::{Ctx, OsRandom, Policy, Secrets, Store, SystemClock, throttle};
use unlatch_e2e::{App, Reply};

/// The admin API's token in the bench's hosts.
pub const ADMIN_TOKEN: &str = "scale-bench-admin-token-0123456789abcdef";

/// The variables every host of the scale bench gets: the dev outbox (codes)
/// and the admin API.
pub const VARS: [(&str, &str); 2] = [("dev_mode", "true"), ("admin_token", ADMIN_TOKEN)];

/// Low CAPTCHA work (the bench measures the server, not proof-of-work) and
/// every policy throttle at its maximum, so repeated requests succeed.
pub fn bench_policy(p: &mut Policy) {
    p.captcha_difficulty = 4;
    let t = &mut p.throttles;
    t.identify_per_minute = 10_000;
    t.sends_per_gate_per_hour = 10_000;
    t.emails_per_10_minutes = 10_000;
    t.validations_per_gate_per_hour = 10_000;
    t.failed_proofs_per_day = 10_000;
    t.signins_per_address_per_minute = 10_000;
}

pub fn admin_get(app: &App, target: &str) -> Reply {
    app.request("GET", target, &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))], b"")
}

pub fn admin_post(app: &App, target: &str) -> Reply {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    app.request("POST", target, &[("authorization", &auth), ("content-type", "application/json")], b"{}")
}

/// `POST /api/contact-admin` from an error page (a username, no flow).
pub fn contact_admin(app: &App, username: &str) -> Reply {
    app.post_json("/api/contact-admin", &json!({ "username": username, "purpose": "reset", "note": "lost my phone" }))
}

/// Forgets this hour's contact-admin counts for loopback and `username`.
pub fn clear_contact_throttles(store: &dyn Store, username: &str) {
    let ctx = Ctx::new(store, &SystemClock, &OsRandom, Secrets::fixed(b"bench", b"bench"), "127.0.0.1");
    throttle::clear(&ctx, "contact-admin-addr", "127.0.0.1", 3600).expect("clear the address throttle");
    throttle::clear(&ctx, "contact-admin-user", &username.to_lowercase(), 3600).expect("clear the account throttle");
}
