//! The writes each step's success path makes, by kind: on Spin's SQLite store
//! every write is a transaction of its own, so their number is the step's
//! cost, and issue 13 budgets the atomic ones (`increment`, CAS). These tests
//! pin the numbers, so a step that starts writing more fails here.

use crate::domain::users;
use crate::steps::set_password::reset::{ResetRequest, reset};
use crate::steps::unlock::{UnlockRequest, unlock};
use crate::testing::*;

/// What one step wrote: every write, and how many were atomic.
struct Writes {
    log: Vec<String>,
}

impl Writes {
    fn atomic(&self) -> usize {
        self.log.iter().filter(|w| w.starts_with("increment ") || w.starts_with("cas ")).count()
    }
}

/// Runs `step` on a counting view of `env`'s store.
fn writes_of<T>(env: &TestEnv, step: impl FnOnce(&crate::platform::ctx::Ctx) -> T) -> (T, Writes) {
    let counting = CountingStore::new(&env.store);
    let out = {
        let ctx = env.ctx_on(&counting);
        step(&ctx)
    };
    (out, Writes { log: counting.take_writes() })
}

fn check(name: &str, w: &Writes, atomic: usize, writes: usize) {
    assert_eq!((w.atomic(), w.log.len()), (atomic, writes), "{name}: atomic and all writes: {:#?}", w.log);
}

#[test]
fn the_journey_s_steps_write_this_much() {
    let env = easy_env();
    env.user_with_everything("jane@contoso.com");
    // Outside the measured calls: the first minute's expiry cursor.
    crate::platform::expiry::file(&*env.store, env.ctx().now(), &[("throttle:x".into(), 0)]).unwrap();

    let (challenge, w) = writes_of(&env, |ctx| challenge(ctx).unwrap());
    check("challenge", &w, 2, 3);
    let captcha = Some(crate::domain::captcha::Solution {
        solution: crate::domain::captcha::solve(&challenge.challenge, challenge.difficulty),
        challenge: challenge.challenge,
    });
    let (r, w) = writes_of(&env, |ctx| {
        identify(ctx, IdentifyRequest { username: "jane@contoso.com".into(), captcha, purpose: "reset".into() })
            .unwrap()
    });
    check("identify", &w, 2, 3);
    let flow = r.flow;
    let (_, w) = writes_of(&env, |ctx| {
        let req =
            SendCodeRequest { flow: flow.clone(), method: "email".into(), destination: "jane.doe@fabrikam.com".into() };
        send_code(ctx, &env.outbox(), req).unwrap()
    });
    // The dev outbox's own writes are not the step's.
    let w = Writes { log: w.log.into_iter().filter(|k| !k.contains("outbox")).collect() };
    check("send-code", &w, 6, 7);
    let code = last_code(&env);
    let (_, w) = writes_of(&env, |ctx| {
        let req = VerifyRequest { flow: flow.clone(), method: "email".into(), code: Some(code), answers: None };
        verify_code(ctx, req).unwrap()
    });
    check("verify-code", &w, 6, 7);
    let (_, w) = writes_of(&env, |ctx| {
        reset(ctx, &env.outbox(), ResetRequest { flow: flow.clone(), new_password: "violet kestrel harbour".into() })
            .unwrap()
    });
    let w = Writes { log: w.log.into_iter().filter(|k| !k.contains("outbox")).collect() };
    check("set-password", &w, 5, 19);
    let (_, w) = writes_of(&env, |ctx| {
        signin(ctx, SigninRequest { username: "jane@contoso.com".into(), password: "violet kestrel harbour".into() })
            .unwrap()
    });
    check("sign-in", &w, 4, 5);

    let user = users::find_by_username(&*env.store, "jane@contoso.com").unwrap().unwrap();
    users::lock(&*env.store, &user.id, None).unwrap();
    let flow = verified_flow(&env, "unlock");
    let (_, w) = writes_of(&env, |ctx| unlock(ctx, &env.outbox(), UnlockRequest { flow }).unwrap());
    let w = Writes { log: w.log.into_iter().filter(|k| !k.contains("outbox")).collect() };
    check("unlock", &w, 3, 6);
}
