//! Shared fixtures for the unit tests: a memory store, a manual clock and a
//! fully registered user.

use crate::domain::notify::DevOutbox;
use crate::domain::phone::Phone;
use crate::domain::policy::Policy;
use crate::domain::questions::PREDEFINED;
use crate::domain::users::{self, Contacts, NewAnswer, NewUser, User};
use crate::platform::clock::{ManualClock, OsRandom};
use crate::platform::ctx::Ctx;
use crate::platform::secrets::Secrets;
use crate::platform::store::MemoryStore;
use std::sync::Arc;

mod kv_writes;

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
            .with_public_base_url("https://sspr.example")
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

// Step-driving helpers the steps' tests share, so that no step's tests import
// another step: this harness sits above every layer.

use crate::domain::captcha::{self, Solution};
use crate::domain::notify;
use crate::errors::Result;
use crate::flow::gate::SendCodeResponse;
pub use crate::steps::account::{SigninRequest, signin};
pub use crate::steps::identify::{IdentifyRequest, IdentifyResponse, challenge, identify};
pub use crate::steps::send_code::{SendCodeRequest, send as send_code};
pub use crate::steps::verify_code::VerifyRequest;

/// Verify-code with the dev outbox as the notifier (notices land beside the codes).
pub fn verify_code(ctx: &Ctx, req: VerifyRequest) -> Result<crate::flow::gate::VerifyResponse> {
    crate::steps::verify_code::verify(ctx, &DevOutbox { store: ctx.store, clock: ctx.clock }, req)
}

/// A solved CAPTCHA for `ctx` (difficulty from the stored policy).
pub fn solved(ctx: &Ctx) -> Solution {
    let c = challenge(ctx).unwrap();
    Solution { solution: captcha::solve(&c.challenge, c.difficulty), challenge: c.challenge }
}

pub fn easy_env() -> TestEnv {
    let env = TestEnv::new();
    env.save_policy(|p| p.captcha_difficulty = 4);
    env
}

pub fn start(env: &TestEnv, username: &str, purpose: &str) -> Result<IdentifyResponse> {
    let ctx = env.ctx();
    let captcha = Some(solved(&ctx));
    identify(&ctx, IdentifyRequest { username: username.into(), captcha, purpose: purpose.into() })
}

pub fn send_to(env: &TestEnv, flow: &str, method: &str, destination: &str) -> Result<SendCodeResponse> {
    let ctx = env.ctx();
    send_code(
        &ctx,
        &env.outbox(),
        SendCodeRequest { flow: flow.into(), method: method.into(), destination: destination.into() },
    )
}

/// The code in the newest outbox message.
/// Presses `key` on the last call in the outbox (its callback, as a provider would).
pub fn press(env: &TestEnv, key: Option<&str>) -> Result<crate::steps::verify_code::CallOutcome> {
    crate::steps::verify_code::callback(&env.ctx(), &env.outbox(), &last_call_token(env), key)
}

/// Polls verify-code for a call `method` of `flow` (no code): `None` while pending.
pub fn poll(env: &TestEnv, flow: &str, method: &str) -> Result<Option<crate::flow::gate::VerifyResponse>> {
    let req = VerifyRequest { flow: flow.into(), method: method.into(), code: None, answers: None };
    crate::steps::verify_code::verify_or_poll(&env.ctx(), &env.outbox(), req)
}

/// Proves `method` of `flow` with what the outbox last got: presses # on a
/// call (and polls), or types the code.
pub fn prove_last(env: &TestEnv, flow: &str, method: &str) -> Result<crate::flow::gate::VerifyResponse> {
    if notify::outbox(&*env.store, 1).unwrap()[0].callback_url.is_some() {
        assert!(press(env, Some("#"))?.passed, "# passes");
        return Ok(poll(env, flow, method)?.expect("passed"));
    }
    try_code(env, flow, method, &last_code(env))
}

/// The callback token of the last call in the outbox.
pub fn last_call_token(env: &TestEnv) -> String {
    let e = notify::outbox(&*env.store, 1).unwrap().remove(0);
    e.callback_url.expect("the last message is a call").rsplit('/').next().unwrap().to_owned()
}

pub fn last_code(env: &TestEnv) -> String {
    let m = notify::outbox(&*env.store, 1).unwrap().remove(0).message;
    m.body.chars().filter(char::is_ascii_digit).take(6).collect()
}

/// Verify-code with `code` for `method` of `flow`.
pub fn try_code(env: &TestEnv, flow: &str, method: &str, code: &str) -> Result<crate::flow::gate::VerifyResponse> {
    verify_code(
        &env.ctx(),
        VerifyRequest { flow: flow.into(), method: method.into(), code: Some(code.into()), answers: None },
    )
}

/// A reset flow with its one gate passed by email.
pub fn verified_flow(env: &TestEnv, purpose: &str) -> String {
    let flow = start(env, "jane@contoso.com", purpose).unwrap().flow;
    send_to(env, &flow, "email", "jane.doe@fabrikam.com").unwrap();
    try_code(env, &flow, "email", &last_code(env)).unwrap();
    flow
}

/// A reset flow for `user_id`, written on its own (no audit event).
pub fn written_flow(ctx: &Ctx, user_id: &str) -> crate::flow::Flow {
    let flow = crate::flow::new(ctx, crate::flow::Purpose::Reset, user_id, 1, vec![], 900);
    let (key, value) = crate::flow::record(ctx, &flow).unwrap();
    crate::platform::store::Store::set(ctx.store, &key, &value).unwrap();
    flow
}

/// A view of a test store that waits a random moment (up to half a
/// millisecond) before each operation, so concurrent tests meet the
/// interleavings a real host produces rather than threads in lockstep.
pub struct JitterStore<'a>(pub &'a MemoryStore);

impl JitterStore<'_> {
    fn wait(&self) {
        let micros = crate::platform::kv::random_below(&OsRandom, 500);
        std::thread::sleep(std::time::Duration::from_micros(u64::from(micros)));
    }
}

type StoreResult<T> = std::result::Result<T, crate::platform::store::StoreError>;

impl crate::platform::store::Store for JitterStore<'_> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.wait();
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.wait();
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.wait();
        self.0.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.wait();
        self.0.increment(key, delta)
    }
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        self.wait();
        self.0.compare_and_swap(key, expected, new)
    }
}

/// A view of a test store that acts as Spin's Redis store does with
/// compare-and-swap: every swap is reported failed, whether it was written or
/// not. `meanwhile` runs right after a swap that landed, as another writer
/// would before anyone reads the record back (`|_, _, _| {}`: nobody).
pub struct MisreportingStore<'a> {
    pub inner: &'a MemoryStore,
    pub meanwhile: fn(&MemoryStore, &str, &[u8]),
}

impl crate::platform::store::Store for MisreportingStore<'_> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        if self.inner.compare_and_swap(key, expected, new)? {
            (self.meanwhile)(self.inner, key, new);
        }
        Ok(false)
    }
}

/// A view of a store that records every operation, so a test can pin what a
/// step costs: its writes (set, set-many, delete, increment, compare-and-swap:
/// on Spin's SQLite store each is its own transaction and `fsync`) and its reads.
pub struct StoreLog<'a> {
    pub inner: &'a MemoryStore,
    writes: std::sync::Mutex<Vec<String>>,
    reads: std::sync::Mutex<Vec<String>>,
}

impl<'a> StoreLog<'a> {
    pub fn new(inner: &'a MemoryStore) -> Self {
        StoreLog { inner, writes: Default::default(), reads: Default::default() }
    }

    /// Every write so far, as `<operation> <key>` (a set-many names its keys).
    pub fn writes(&self) -> Vec<String> {
        self.writes.lock().unwrap().clone()
    }

    /// The writes since the last call (and forgets them).
    pub fn take_writes(&self) -> Vec<String> {
        std::mem::take(&mut *self.writes.lock().unwrap())
    }

    /// The keys read so far (`get`), in order.
    pub fn reads(&self) -> Vec<String> {
        self.reads.lock().unwrap().clone()
    }

    fn log(&self, op: &str, key: &str) {
        self.writes.lock().unwrap().push(format!("{op} {key}"));
    }
}

impl crate::platform::store::Store for StoreLog<'_> {
    fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.reads.lock().unwrap().push(key.to_owned());
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> StoreResult<()> {
        self.log("set", key);
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> StoreResult<()> {
        self.log("delete", key);
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> StoreResult<i64> {
        self.log("increment", key);
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> StoreResult<bool> {
        self.log("cas", key);
        self.inner.compare_and_swap(key, expected, new)
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> StoreResult<()> {
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
        self.log("set-many", &keys.join(","));
        self.inner.set_many(entries)
    }
}

impl TestEnv {
    /// A context like [`TestEnv::ctx`] (same keys, clock and address) on another view of the store.
    pub fn ctx_on<'a>(&'a self, store: &'a dyn crate::platform::store::Store) -> Ctx<'a> {
        let ctx = self.ctx();
        Ctx::new(store, &*self.clock, &OsRandom, ctx.secrets.clone(), ctx.client_addr.clone())
            .with_public_base_url(&ctx.public_base_url)
    }

    /// A context like [`TestEnv::ctx`] on the jittery view of the store.
    pub fn jittery_ctx<'a>(&'a self, store: &'a JitterStore<'a>) -> Ctx<'a> {
        self.ctx_on(store)
    }
}

#[cfg(test)]
mod transitions {
    //! Every step against a flow in every state: only the states the diagram in
    //! this crate's README allows get past the state check; the rest get 409.

    use super::*;
    use crate::flow::{self, FlowState};
    use crate::steps::set_password::reset::{ResetRequest, reset};
    use crate::steps::unlock::{UnlockRequest, unlock};

    const STATES: [FlowState; 5] = [
        FlowState::ChooseMethod,
        FlowState::CodeSent,
        FlowState::QuestionsAsked,
        FlowState::Verified,
        FlowState::Completed,
    ];

    /// A fresh flow of `purpose` for jane, brought into `state` the way the
    /// steps bring it there (forced only for the two end states).
    fn flow_in(env: &TestEnv, purpose: &str, state: FlowState) -> String {
        let id = start(env, "jane@contoso.com", purpose).unwrap().flow;
        match state {
            FlowState::ChooseMethod => {}
            FlowState::CodeSent => drop(send_to(env, &id, "email", "jane.doe@fabrikam.com").unwrap()),
            FlowState::QuestionsAsked => drop(send_to(env, &id, "questions", "").unwrap()),
            FlowState::Verified | FlowState::Completed => {
                let (mut f, raw) = flow::load_any(&env.ctx(), &id).unwrap();
                f.state = state;
                flow::save(&env.ctx(), &f, &raw).unwrap();
            }
        }
        id
    }

    fn is_state_error(r: std::result::Result<(), crate::errors::ApiError>) -> bool {
        r.is_err_and(|e| e.status() == 409 && e.error() == "flow_state")
    }

    #[test]
    fn each_step_runs_only_from_its_states() {
        let env = easy_env();
        env.save_policy(|p| {
            p.throttles.emails_per_10_minutes = 1000;
            p.throttles.sends_per_gate_per_hour = 1000;
            p.throttles.identify_per_minute = 1000;
        });
        let jane = env.user_with_everything("jane@contoso.com");
        let ctx = env.ctx();
        // (step, purpose, states it may run from)
        type Step<'a> = &'a dyn Fn(&str) -> std::result::Result<(), crate::errors::ApiError>;
        let send: Step = &|f| send_to(&env, f, "email", "jane.doe@fabrikam.com").map(drop);
        let verify: Step = &|f| {
            verify_code(
                &ctx,
                VerifyRequest { flow: f.into(), method: "email".into(), code: Some("000000".into()), answers: None },
            )
            .map(drop)
        };
        let set: Step = &|f| {
            reset(&ctx, &env.outbox(), ResetRequest { flow: f.into(), new_password: "violet kestrel harbour".into() })
                .map(drop)
        };
        let open: Step = &|f| unlock(&ctx, &env.outbox(), UnlockRequest { flow: f.into() }).map(drop);
        let table: [(&str, Step, &str, &[FlowState]); 4] = [
            ("send-code", send, "reset", &[FlowState::ChooseMethod, FlowState::CodeSent, FlowState::QuestionsAsked]),
            ("verify-code", verify, "reset", &[FlowState::CodeSent]),
            ("set-password", set, "reset", &[FlowState::Verified]),
            ("unlock", open, "unlock", &[FlowState::Verified]),
        ];
        for (name, step, purpose, allowed) in table {
            for state in STATES {
                crate::domain::users::lock(&*env.store, &jane.id, None).unwrap();
                let refused = is_state_error(step(&flow_in(&env, purpose, state)));
                assert_eq!(refused, !allowed.contains(&state), "{name} from {state:?}");
            }
        }
    }
}

#[cfg(test)]
mod layers {
    //! The layering rule, checked on the source: `platform` ← `domain` ← `flow`
    //! ← `steps`, imports only go down, and no step imports another step.

    use std::path::Path;

    fn sources(dir: &str) -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        out
    }

    /// The crate-root re-exports of step modules, which would hide a step import.
    const STEP_ALIASES: [&str; 11] = [
        "signin",
        "admin",
        "change_password",
        "contact_admin",
        "identify",
        "maintenance",
        "register",
        "send_code",
        "set_password",
        "unlock",
        "verify_code",
    ];

    fn imports_a_step(text: &str) -> bool {
        text.contains("crate::steps") || STEP_ALIASES.iter().any(|m| text.contains(&format!("crate::{m}::")))
    }

    #[test]
    fn lower_layers_never_import_higher_ones() {
        for (file, text) in sources("platform") {
            assert!(!text.contains("crate::domain") && !text.contains("crate::flow"), "{file}");
            assert!(!imports_a_step(&text), "{file}");
        }
        for (file, text) in sources("domain") {
            assert!(!text.contains("crate::flow") && !imports_a_step(&text), "{file}");
        }
        for (file, text) in sources("flow") {
            assert!(!imports_a_step(&text), "{file}");
        }
    }

    #[test]
    fn no_step_imports_another_step() {
        for (file, text) in sources("steps") {
            let own = Path::new(&file).strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/steps")).unwrap();
            let own = own.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
            for line in text.lines().filter(|l| l.contains("crate::steps::")) {
                let target =
                    line.split("crate::steps::").nth(1).unwrap().split([':', ';', ' ', ',', '}']).next().unwrap();
                assert_eq!(target, own, "{file}: {line}");
            }
            for alias in STEP_ALIASES {
                assert!(!text.contains(&format!("crate::{alias}::")), "{file} uses the root alias of step `{alias}`");
            }
        }
    }
}
