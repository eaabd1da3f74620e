//! The writes each step's success path makes: on Spin's SQLite store every
//! write is a transaction of its own, waiting for its `fsync`, so their number
//! is the step's cost, and issue 13 budgets the atomic ones (`increment`,
//! CAS). These tests pin every write of every step, by kind and key family,
//! so a step that starts writing more, or differently, fails here. A
//! notifier's writes (the dev outbox; a provider in production) are not the
//! step's and are left out.

use crate::domain::users;
use crate::platform::ctx::Ctx;
use crate::steps::set_password::reset::{ResetRequest, reset};
use crate::steps::unlock::{UnlockRequest, unlock};
use crate::testing::*;

/// What one step did to the store: its writes as `<op> <key family>` (a
/// `set-many` lists its families), and the keys it read.
struct Done {
    writes: Vec<String>,
    reads: Vec<String>,
}

/// Runs `step` on a logging view of `env`'s store.
fn run<T>(env: &TestEnv, step: impl FnOnce(&Ctx) -> T) -> (T, Done) {
    let log = StoreLog::new(&env.store);
    let out = {
        let ctx = env.ctx_on(&log);
        step(&ctx)
    };
    let writes = log.writes().iter().filter(|w| !w.contains("outbox")).map(|w| families(w)).collect();
    (out, Done { writes, reads: log.reads() })
}

/// `set-many audit:3,flow:ab12` → `set-many audit,flow`: the key families, not the keys.
fn families(write: &str) -> String {
    let (op, keys) = write.split_once(' ').unwrap();
    let names: Vec<&str> = keys.split(',').map(|k| k.split(':').next().unwrap()).collect();
    format!("{op} {}", names.join(","))
}

#[test]
fn the_journey_s_steps_write_this_much() {
    let env = easy_env();
    env.user_with_everything("jane@contoso.com");
    // Outside the measured calls: the expiry index's and the journal's cursors,
    // made by a store's first filing and first journal entry.
    crate::platform::expiry::file(&*env.store, env.ctx().now(), &[("throttle:x".into(), 0)]).unwrap();
    crate::platform::store::Store::set(&*env.store, crate::platform::keys::AUDIT_SWEEP_CURSOR, b"0:0").unwrap();

    // The identify throttle is counted here; its window, new, is filed in the expiry index.
    let (challenge, done) = run(&env, |ctx| challenge(ctx).unwrap());
    assert_eq!(done.writes, ["increment throttle", "increment expiry-seq", "set expiry"]);
    let captcha = Some(crate::domain::captcha::Solution {
        solution: crate::domain::captcha::solve(&challenge.challenge, challenge.difficulty),
        challenge: challenge.challenge,
    });
    // The CAPTCHA claim; the flow written with its audit event (and the keys that go stale in it).
    let (r, done) = run(&env, |ctx| {
        let req = IdentifyRequest { username: "jane@contoso.com".into(), captcha, purpose: "reset".into() };
        identify(ctx, req).unwrap()
    });
    assert_eq!(done.writes, ["increment captcha-used", "increment audit-seq", "set-many flow,audit"]);
    let flow = r.flow;

    // The email throttle, the flow's and the user's mismatch budgets (the
    // user's slot given back on the match), the flow's CAS.
    let (_, done) = run(&env, |ctx| {
        let destination = "jane.doe@fabrikam.com".into();
        send_code(ctx, &env.outbox(), SendCodeRequest { flow: flow.clone(), method: "email".into(), destination })
            .unwrap()
    });
    assert_eq!(
        done.writes,
        [
            "increment throttle",
            "increment destination-mismatches",
            "increment throttle",
            "increment throttle",
            "cas flow",
            "increment audit-seq",
            "set-many audit"
        ]
    );
    // The code's attempts, the validate throttle, a failed-proof slot taken
    // and given back, the flow's CAS.
    let code = last_code(&env);
    let (_, done) = run(&env, |ctx| {
        verify_code(ctx, VerifyRequest { flow: flow.clone(), method: "email".into(), code: Some(code), answers: None })
            .unwrap()
    });
    assert_eq!(
        done.writes,
        [
            "increment code-attempts",
            "increment throttle",
            "increment proofs-failed",
            "increment proofs-failed",
            "cas flow",
            "increment audit-seq",
            "set-many audit"
        ]
    );
    assert_eq!(done.reads.iter().filter(|k| k.starts_with("reset-blocked:")).count(), 1, "the run is read once");
    // Every session ends first; then one CAS of the account finishes the flow
    // with the new password and the lockout ended; the finished flow and the
    // new run (fresh budgets, nothing deleted) go with the audit event.
    let (_, done) = run(&env, |ctx| {
        reset(ctx, &env.outbox(), ResetRequest { flow: flow.clone(), new_password: "violet kestrel harbour".into() })
            .unwrap()
    });
    assert_eq!(
        done.writes,
        ["increment session-epoch", "cas user", "increment audit-seq", "set-many flow,reset-blocked,audit"]
    );
    assert_eq!(done.reads.iter().filter(|k| k.starts_with("reset-blocked:")).count(), 1, "the run is read once");
    // The per-address throttle, a sign-in failure slot taken and given back;
    // the session written with its audit event.
    let (_, done) = run(&env, |ctx| {
        signin(ctx, SigninRequest { username: "jane@contoso.com".into(), password: "violet kestrel harbour".into() })
            .unwrap()
    });
    assert_eq!(
        done.writes,
        [
            "increment throttle",
            "increment signin-failures",
            "increment signin-failures",
            "increment audit-seq",
            "set-many session,audit"
        ]
    );

    // One CAS of the account finishes the flow and ends the lockout.
    let user = users::find_by_username(&*env.store, "jane@contoso.com").unwrap().unwrap();
    users::lock(&*env.store, &user.id, None).unwrap();
    let flow = verified_flow(&env, "unlock");
    let (_, done) = run(&env, |ctx| unlock(ctx, &env.outbox(), UnlockRequest { flow }).unwrap());
    assert_eq!(done.writes, ["cas user", "increment audit-seq", "set-many flow,reset-blocked,audit"]);
}
