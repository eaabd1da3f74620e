//! Flows, in the style of Ory Kratos: one record per journey with an id, an
//! expiry and an explicit state that each step checks and advances. Updates
//! are compare-and-swap on the existing record; finishing is a
//! first-claim-wins counter so a flow is consumed exactly once.
//!
//! The id is a bearer secret (whoever holds a verified reset flow sets the
//! password), so it is never stored: the record and its counters live under
//! its [`handle`], an HMAC of the id under the code key (`flow:<handle>`),
//! and the record itself does not hold the id.

use crate::domain::methods::MethodId;
use crate::errors::{ApiError, Result};
use crate::platform::counter::Counter;
use crate::platform::ctx::Ctx;
use crate::platform::expiry::Fate;
use crate::platform::keys::{self, FlowHandle};
use crate::platform::kv;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub mod gate;
pub mod registration;
pub mod step_up;
pub mod voice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Reset,
    Unlock,
    Register,
    /// A signed-in user proves an existing method before changing security info.
    StepUp,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [Purpose::Reset, Purpose::Unlock, Purpose::Register, Purpose::StepUp];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Unlock => "unlock",
            Purpose::Register => "register",
            Purpose::StepUp => "step_up",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Waiting for the user to pick a method (no code out).
    ChooseMethod,
    /// A code is out for `pending.method`.
    CodeSent,
    /// Security questions were drawn and await answers.
    QuestionsAsked,
    /// Every gate passed; the final step (set password / unlock) may run.
    Verified,
    /// Consumed; nothing more can happen.
    Completed,
}

/// The one code that is out, stored only as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCode {
    pub method: MethodId,
    /// Distinguishes successive codes, so each has its own attempts counter.
    pub code_id: String,
    /// HMAC-SHA256(code key, flow id, code id, code), hex.
    pub hash: String,
    pub expires_at: u64,
    /// The normalised destination the code went to (a registration saves it once proven).
    pub destination: String,
    /// For a "press #" call (no code; `hash` names its callback token): where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<voice::CallStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The id the client holds. Not stored (the record lives under [`Flow::handle`]);
    /// [`load`] sets it from the id it was given.
    #[serde(skip)]
    pub id: String,
    pub purpose: Purpose,
    pub user_id: String,
    pub state: FlowState,
    pub created_at: u64,
    pub expires_at: u64,
    pub gates_required: u8,
    /// Methods already proven, in order; never the same factor twice.
    pub gates_passed: Vec<MethodId>,
    pub pending: Option<PendingCode>,
    /// Question ids drawn for the questions gate, when asked.
    #[serde(default)]
    pub questions: Vec<String>,
    /// Names the current draw, so each draw is answered (evaluated) at most once.
    #[serde(default)]
    pub draw_id: String,
    /// Methods offered when the flow started.
    #[serde(default)]
    pub methods: Vec<MethodId>,
    /// For a `register` flow: the contact being proven, saved once verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<registration::Registration>,
    /// For a `step_up` flow: the storage key of the session it steps up; the flow ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
    /// Every code and draw id this flow handed out (kept by [`save`]), so the
    /// sweep can remove their counters with the flow: KV cannot list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issued: Vec<String>,
    /// Typed destinations that matched (send-code): the flow's mismatch budget
    /// counts every check, and these are not mismatches (see
    /// `gate::reserve_destination_check`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub destinations_matched: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// What the client should do next, as `next` in step responses.
pub fn next_step(flow: &Flow) -> &'static str {
    if flow.gates_passed.len() < flow.gates_required as usize {
        "choose_method"
    } else {
        match flow.purpose {
            Purpose::Reset => "set_password",
            Purpose::Unlock => "unlock",
            Purpose::Register => "finish",
            // Back to the change of security info that asked for the step-up.
            Purpose::StepUp => "register",
        }
    }
}

impl Flow {
    /// Whether a gate already passed proved the same factor as `method`.
    pub fn factor_used(&self, method: MethodId) -> bool {
        self.gates_passed.iter().any(|m| m.factor() == method.factor())
    }

    /// The flow's name in the store: the keyed hash of its id.
    pub fn handle(&self, ctx: &Ctx) -> FlowHandle {
        handle(ctx, &self.id)
    }

    pub fn all_gates_passed(&self) -> bool {
        self.gates_passed.len() >= self.gates_required as usize
    }

    /// 409 `flow_state` unless the flow is in one of `states`: each step runs
    /// only from the states the diagram in this crate's README allows.
    pub fn require_state(&self, states: &[FlowState]) -> Result<()> {
        if states.contains(&self.state) {
            return Ok(());
        }
        Err(ApiError::flow_state(match self.state {
            FlowState::Verified => "Every verification step is done; continue to the last step.",
            FlowState::Completed => "This session has already been used. Please start again.",
            _ => "This step is out of order: finish the verification steps first.",
        }))
    }
}

/// The store's name for flow `id`: HMAC-SHA256 under the code key (hex), so
/// neither the keys nor the records of a copied store yield a usable id.
pub fn handle(ctx: &Ctx, id: &str) -> FlowHandle {
    let mut m = Hmac::<Sha256>::new_from_slice(&ctx.secrets.code_key).expect("HMAC takes keys of any length");
    m.update(b"unlatch-flow-v1\n");
    m.update(id.as_bytes());
    FlowHandle(kv::to_hex(&m.finalize().into_bytes()))
}

fn flow_key(ctx: &Ctx, id: &str) -> String {
    keys::flow(&handle(ctx, id))
}

fn done_key(ctx: &Ctx, id: &str) -> String {
    keys::flow_done(&handle(ctx, id))
}

/// A new flow for `user_id`, valid for `lifetime` seconds, not written yet:
/// the caller sets what else it holds and writes [`record`] with its audit
/// event, in one `set-many`.
pub fn new(
    ctx: &Ctx,
    purpose: Purpose,
    user_id: &str,
    gates_required: u8,
    methods: Vec<MethodId>,
    lifetime: u64,
) -> Flow {
    let now = ctx.now();
    Flow {
        id: kv::random_hex(ctx.random, 16),
        purpose,
        user_id: user_id.to_owned(),
        state: FlowState::ChooseMethod,
        created_at: now,
        expires_at: now + lifetime,
        gates_required,
        gates_passed: Vec::new(),
        pending: None,
        questions: Vec::new(),
        draw_id: String::new(),
        methods,
        registration: None,
        session_key: None,
        issued: Vec::new(),
        destinations_matched: 0,
    }
}

/// The first record of a [`new`] flow (key, bytes), filed for the sweep.
pub fn record(ctx: &Ctx, flow: &Flow) -> Result<(String, Vec<u8>)> {
    let key = flow_key(ctx, &flow.id);
    ctx.expires(&key, flow.expires_at + KEPT_AFTER_EXPIRY);
    kv::json_record(&key, flow)
}

/// A live flow of one of `purposes`, with the bytes read (for [`save`]).
/// Unknown → 404 `flow_not_found`; past expiry → 410 `flow_expired`;
/// consumed or of another purpose → 409 `flow_state`.
pub fn load(ctx: &Ctx, id: &str, purposes: &[Purpose]) -> Result<(Flow, Vec<u8>)> {
    // Ids are 32 hex digits; anything else cannot name a flow (and never reaches a KV key).
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::flow_not_found());
    }
    let Some((mut flow, raw)) = kv::get_json_raw::<Flow>(ctx.store, &flow_key(ctx, id))? else {
        return Err(ApiError::flow_not_found());
    };
    flow.id = id.to_owned();
    if flow.state == FlowState::Completed || Counter::new(ctx.store, done_key(ctx, id)).read()? > 0 {
        return Err(ApiError::flow_state("This session has already been used. Please start again."));
    }
    if ctx.now() >= flow.expires_at {
        return Err(ApiError::flow_expired());
    }
    if !purposes.contains(&flow.purpose) {
        return Err(ApiError::flow_state("This session is for a different journey."));
    }
    Ok((flow, raw))
}

/// The flow record alone, in one KV read (polling): unknown → 404, past
/// expiry → 410 `flow_expired`. The caller checks state and purpose; the
/// `flow-done` claim is not read, so a consumed flow shows its last state.
pub fn peek(ctx: &Ctx, id: &str) -> Result<Flow> {
    let id = id.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::flow_not_found());
    }
    let Some(mut flow) = kv::get_json::<Flow>(ctx.store, &flow_key(ctx, id))? else {
        return Err(ApiError::flow_not_found());
    };
    if ctx.now() >= flow.expires_at {
        return Err(ApiError::flow_expired());
    }
    flow.id = id.to_owned();
    Ok(flow)
}

/// A live flow of any purpose: the steps that serve every journey load once
/// and then match on [`Flow::purpose`].
pub fn load_any(ctx: &Ctx, id: &str) -> Result<(Flow, Vec<u8>)> {
    if id.trim().is_empty() {
        return Err(ApiError::missing_field("flow"));
    }
    load(ctx, id.trim(), &Purpose::ALL)
}

/// Like [`load`], and the flow must belong to `user_id` (register flows bound to a session).
pub fn load_owned(ctx: &Ctx, id: &str, purposes: &[Purpose], user_id: &str) -> Result<(Flow, Vec<u8>)> {
    let (flow, raw) = load(ctx, id, purposes)?;
    if flow.user_id != user_id {
        return Err(ApiError::flow_state("This session belongs to another account."));
    }
    Ok((flow, raw))
}

/// Writes `flow` only if the record still holds `raw`; a concurrent step
/// that changed it first wins and this one gets 409 `flow_state`.
pub fn save(ctx: &Ctx, flow: &Flow, raw: &[u8]) -> Result<Vec<u8>> {
    let flow = &with_issued(flow);
    // CAS over the bytes this request read. Lost (another request saved first):
    // 409 and nothing of ours is stored; the client retries on the new state.
    // Misreported (Spin's Redis store says `cas-failed` after writing): the
    // re-read in `swap_json_checked` finds this write's unique id and it counts
    // as saved. Gates that must hold once never rest on this: they are claimed
    // with `increment` first.
    match kv::swap_json_checked(ctx.store, &flow_key(ctx, &flow.id), raw, flow, ctx.random)? {
        Some(bytes) => Ok(bytes),
        None => Err(ApiError::flow_state("This session was changed by another request. Please try again.")),
    }
}

/// Consumes the flow: exactly one caller ever gets `Ok`, all others 409.
/// The caller checked the state before; the claim makes it race-free.
pub fn consume(ctx: &Ctx, flow: &Flow) -> Result<()> {
    if !Counter::new(ctx.store, done_key(ctx, &flow.id)).claim()? {
        return Err(ApiError::flow_state("This session has already been used. Please start again."));
    }
    record_consumed(ctx, flow)
}

/// Rewrites the record of a flow this request consumed ([`consume`] made it
/// ours, so a plain write is safe): a registration records the gate it passed,
/// which polling ([`peek`]) then reads.
pub fn record_consumed(ctx: &Ctx, flow: &Flow) -> Result<()> {
    let (key, value) = completed_record(ctx, flow)?;
    ctx.store.set(&key, &value)?;
    Ok(())
}

/// The record (key, bytes) of `flow` finished: `Completed`, no code out. A
/// reset or unlock writes it with its audit event, once the account's
/// compare-and-swap finished the flow (`users::finish_flow`).
pub fn completed_record(ctx: &Ctx, flow: &Flow) -> Result<(String, Vec<u8>)> {
    let mut done = flow.clone();
    done.state = FlowState::Completed;
    done.pending = None;
    kv::json_record(&flow_key(ctx, &flow.id), &done)
}

/// A flow, finished or not, is kept this long past its expiry, so a late
/// replay still reads as used or expired rather than unknown.
const KEPT_AFTER_EXPIRY: u64 = 86400;

/// `flow` with its current code and draw among the ids it handed out. The
/// rest are already in it: it was loaded from the record `save` swaps out,
/// and a swap over a record that changed since does not land.
fn with_issued(flow: &Flow) -> Flow {
    let mut flow = flow.clone();
    let current = flow.pending.as_ref().map(|p| p.code_id.clone()).into_iter().chain([flow.draw_id.clone()]);
    for id in current {
        if !id.is_empty() && !flow.issued.contains(&id) {
            flow.issued.push(id);
        }
    }
    flow
}

/// What the sweep does with `flow:<handle>` (filed by [`start`]): a day past
/// its expiry it goes, with its claim and every per-flow counter. It works
/// from the key alone: a stored flow holds no id.
pub fn fate(ctx: &Ctx, key: &str) -> Result<Fate> {
    let Some(flow) = kv::get_json::<Flow>(ctx.store, key)? else { return Ok(Fate::Gone) };
    let until = flow.expires_at + KEPT_AFTER_EXPIRY;
    if ctx.now() < until {
        return Ok(Fate::Until(until));
    }
    let handle = FlowHandle(key.trim_start_matches("flow:").to_owned());
    let mut stale = vec![key.to_owned(), keys::flow_done(&handle), keys::destination_mismatches(&handle)];
    for id in &flow.issued {
        stale.extend([keys::code_attempts(&handle, id), keys::questions_answered(&handle, id)]);
    }
    Ok(Fate::Stale(stale))
}

#[cfg(test)]
mod tests {
    /// A new flow, written on its own.
    fn started(ctx: &Ctx, purpose: Purpose, methods: Vec<MethodId>) -> Flow {
        let f = new(ctx, purpose, "u1", 1, methods, 900);
        let (key, value) = record(ctx, &f).unwrap();
        ctx.store.set(&key, &value).unwrap();
        f
    }
    use super::*;
    use crate::platform::store::WholeStoreScan;
    use crate::testing::TestEnv;

    #[test]
    fn a_flow_expires_after_its_lifetime() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let f = started(&ctx, Purpose::Reset, vec![MethodId::Email]);
        assert_eq!(f.id.len(), 32);
        load(&ctx, &f.id, &[Purpose::Reset]).unwrap();
        env.clock.advance(899);
        load(&ctx, &f.id, &[Purpose::Reset]).unwrap();
        env.clock.advance(1);
        assert_eq!(load(&ctx, &f.id, &[Purpose::Reset]).unwrap_err().error(), "flow_expired");
        let key = flow_key(&ctx, &f.id);
        assert_eq!(fate(&ctx, &key).unwrap(), Fate::Until(f.expires_at + 86400), "kept a day, to answer 410");
        env.clock.advance(86400);
        let h = f.handle(&ctx);
        let stale = vec![key, keys::flow_done(&h), keys::destination_mismatches(&h)];
        assert_eq!(fate(&ctx, &stale[0]).unwrap(), Fate::Stale(stale));
    }

    #[test]
    fn the_store_holds_no_flow_id_only_a_keyed_hash_of_it() {
        use crate::platform::store::Store;
        let env = TestEnv::new();
        let ctx = env.ctx();
        let f = started(&ctx, Purpose::Reset, vec![MethodId::Email]);
        let (mut loaded, raw) = load(&ctx, &f.id, &[Purpose::Reset]).unwrap();
        assert_eq!(loaded.id, f.id, "load hands back the id it was given");
        loaded.gates_passed.push(MethodId::Email);
        save(&ctx, &loaded, &raw).unwrap();
        consume(&ctx, &loaded).unwrap();
        let keys = env.store.keys_with_prefix("").unwrap();
        assert!(keys.contains(&keys::flow(&f.handle(&ctx))) && keys.contains(&keys::flow_done(&f.handle(&ctx))));
        for key in &keys {
            assert!(!key.contains(&f.id), "{key}");
            let value = env.store.get(key).unwrap().unwrap_or_default();
            assert!(!String::from_utf8_lossy(&value).contains(&f.id), "{key}");
        }
        let mut other = env.ctx();
        other.secrets.code_key = b"another code key".to_vec();
        assert_ne!(handle(&other, &f.id), f.handle(&ctx), "the handle depends on the code key");
        assert_eq!(load(&other, &f.id, &[Purpose::Reset]).unwrap_err().error(), "flow_not_found");
    }

    #[test]
    fn unknown_malformed_other_purpose_and_other_user() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let f = started(&ctx, Purpose::Unlock, vec![]);
        assert_eq!(load(&ctx, "../../etc", &[Purpose::Unlock]).unwrap_err().status(), 404);
        assert_eq!(load(&ctx, &"0".repeat(32), &[Purpose::Unlock]).unwrap_err().error(), "flow_not_found");
        let e = load(&ctx, &f.id, &[Purpose::Reset]).unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "flow_state"));
        assert_eq!(load_owned(&ctx, &f.id, &[Purpose::Unlock], "u2").unwrap_err().error(), "flow_state");
        load_owned(&ctx, &f.id, &[Purpose::Unlock], "u1").unwrap();
    }

    #[test]
    fn stale_writes_lose_and_consume_happens_once() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let f = started(&ctx, Purpose::Reset, vec![]);
        let (mut a, raw_a) = load(&ctx, &f.id, &[Purpose::Reset]).unwrap();
        let (mut b, raw_b) = load(&ctx, &f.id, &[Purpose::Reset]).unwrap();
        a.gates_passed.push(MethodId::Email);
        save(&ctx, &a, &raw_a).unwrap();
        b.gates_passed.push(MethodId::Questions);
        assert_eq!(save(&ctx, &b, &raw_b).unwrap_err().error(), "flow_state");
        consume(&ctx, &a).unwrap();
        assert_eq!(consume(&ctx, &a).unwrap_err().status(), 409);
        assert_eq!(load(&ctx, &f.id, &[Purpose::Reset]).unwrap_err().error(), "flow_state");
    }
}
