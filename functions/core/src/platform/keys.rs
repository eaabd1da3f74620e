//! Every key the app writes in the key-value store, named in one place (the
//! layout table is in `docs/design.md`). Keys that hold counters belong to
//! [`COUNTER_FAMILIES`] and are only ever touched through
//! `platform::counter::Counter`; no other key is ever incremented.

/// Key prefixes (or whole keys) that hold counters, and only counters.
pub const COUNTER_FAMILIES: &[&str] = &[
    "throttle:",
    "captcha-used:",
    "proofs-failed:",
    "code-attempts:",
    "questions-answered:",
    "flow-done:",
    "session-epoch:",
    "signin-failures:",
    "unknown-failures:",
    "destination-mismatches:",
    "username-claim:",
    "secret-claim:",
    "voice-used:",
    "audit-seq",
    "outbox-seq",
    "user-index-seq",
    "audit-user-seq:",
    "audit-indexing:",
    "admins-claim",
    "expiry-seq:",
];

/// Whether `key` belongs to a counter family.
pub fn is_counter(key: &str) -> bool {
    COUNTER_FAMILIES.iter().any(|family| key.starts_with(family))
}

// Records.

pub const POLICY: &str = "policy";

pub fn user(id: &str) -> String {
    format!("user:{id}")
}

/// The username → id index, under the name's lookup form (`domain::username::key`).
pub fn username(key: &str) -> String {
    format!("username:{key}")
}

/// A flow's name in the store: a keyed hash of its id (`flow::handle`), so a
/// copy of the store holds no flow id a client could present. Only the flow
/// module makes one from an id; the sweep reads them back from keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowHandle(pub(crate) String);

impl FlowHandle {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A flow record, under its handle (never the id the client holds).
pub fn flow(handle: &FlowHandle) -> String {
    format!("flow:{}", handle.0)
}

/// A session, under the SHA-256 of its id (never the id itself).
pub fn session(id_hash_hex: &str) -> String {
    format!("session:{id_hash_hex}")
}

/// Until when a user's resets are blocked (Unix seconds, decimal text).
/// Also names the run failed proofs count in: `<until>:<run>` (decimal text, `set`).
pub fn reset_blocked(user_id: &str) -> String {
    format!("reset-blocked:{user_id}")
}

pub fn audit(seq: u64) -> String {
    format!("audit:{seq}")
}

/// The `n`-th user ever created → their id (append-only; a deleted user leaves a hole).
pub fn user_index(n: u64) -> String {
    format!("user-index:{n}")
}

/// Where the sweep stands in the audit trail's stale keys: `<seq done>:<waiting since>`.
pub const AUDIT_SWEEP_CURSOR: &str = "audit-sweep-cursor";

/// How far the per-user audit index has been built: `<seq done>:<waiting since>`.
pub const AUDIT_INDEX_CURSOR: &str = "audit-index-cursor";

/// Claimed by the one walk that puts event `seq` in the per-user index, in `minute`.
pub fn audit_indexing(seq: u64, minute: u64) -> String {
    format!("audit-indexing:{seq}:{minute}")
}

/// How far the admin reindex of an older version got through the audit trail.
pub const REINDEX_AUDIT_CURSOR: &str = "reindex-audit-cursor";

/// The last key the admin reindex filed in the expiry index (keys go in key order).
pub const REINDEX_EXPIRY_CURSOR: &str = "reindex-expiry-cursor";

/// The ids of the administrators, one small record.
pub const ADMINS: &str = "admins";

/// The `n`-th audit event of one user → the global audit sequence number.
pub fn audit_user(user_id: &str, n: u64) -> String {
    format!("audit-user:{user_id}:{n}")
}

pub fn outbox(seq: u64) -> String {
    format!("outbox:{seq}")
}

/// A server key made once when its variable is empty.
pub fn secret(name: &str) -> String {
    format!("secret:{name}")
}

/// A "press #" call out, under a keyed hash of its callback token (never the token).
pub fn voice_call(token_hash: &str) -> String {
    format!("voice-call:{token_hash}")
}

/// The `n`-th key filed to go stale in `minute` (Unix minutes), for the sweep
/// (`platform::expiry`).
pub fn expiry(minute: u64, n: u64) -> String {
    format!("expiry:{minute}:{n}")
}

/// Where the sweep stands in the expiry index: `<minute>:<entries done>`.
pub const EXPIRY_CURSOR: &str = "expiry-cursor";

// Counters.

/// How many keys were filed to go stale in `minute` (the last `expiry:<minute>:<n>`).
pub fn expiry_seq(minute: u64) -> String {
    format!("expiry-seq:{minute}")
}

/// Claimed by the one callback that answers a call's token (single use).
pub fn voice_used(token_hash: &str) -> String {
    format!("voice-used:{token_hash}")
}

pub const AUDIT_SEQ: &str = "audit-seq";
pub const OUTBOX_SEQ: &str = "outbox-seq";
/// How many users were ever created (the last `user-index:<n>`).
pub const USER_INDEX_SEQ: &str = "user-index-seq";
/// Claimed once, by whoever writes the first `admins` record.
pub const ADMINS_CLAIM: &str = "admins-claim";

/// How many audit events one user has (the last `audit-user:<id>:<n>`).
pub fn audit_user_seq(user_id: &str) -> String {
    format!("audit-user-seq:{user_id}")
}

/// Claimed by the one create that takes the name (its lookup form, as above).
pub fn username_claim(key: &str) -> String {
    format!("username-claim:{key}")
}

pub fn flow_done(flow: &FlowHandle) -> String {
    format!("flow-done:{}", flow.0)
}

pub fn code_attempts(flow: &FlowHandle, code_id: &str) -> String {
    format!("code-attempts:{}:{code_id}", flow.0)
}

pub fn questions_answered(flow: &FlowHandle, draw_id: &str) -> String {
    format!("questions-answered:{}:{draw_id}", flow.0)
}

pub fn session_epoch(user_id: &str) -> String {
    format!("session-epoch:{user_id}")
}

/// Failed sign-ins of one lockout window (`User::lock_epoch`): a lock moves the
/// account to the next window, so a lock that ends needs no clearing.
pub fn signin_failures(user_id: &str, epoch: u64) -> String {
    format!("signin-failures:{user_id}:{epoch}")
}

/// Failed sign-ins of an unknown username, under a keyed hash of its
/// normalised form (never the name), in the run its last lock started.
pub fn unknown_failures(name_hash: &str, run: u64) -> String {
    format!("unknown-failures:{name_hash}:{run}")
}

/// Until when an unknown username answers "locked" (Unix seconds, decimal text, `set`).
pub fn unknown_locked(name_hash: &str) -> String {
    format!("unknown-locked:{name_hash}")
}

/// Mismatched destinations typed at send-code in one flow.
pub fn destination_mismatches(flow: &FlowHandle) -> String {
    format!("destination-mismatches:{}", flow.0)
}

/// One fixed window of a rate limit: `window` seconds long, the `index`-th since 1970.
pub fn throttle(name: &str, subject: &str, window: u64, index: u64) -> String {
    format!("throttle:{name}:{subject}:{window}:{index}")
}

pub fn captcha_used(expires_at: u64, nonce: &str) -> String {
    format!("captcha-used:{expires_at}:{nonce}")
}

/// Failed proofs of one run (see `reset_blocked`) on one UTC day.
pub fn proofs_failed(user_id: &str, run: &str, day: u64) -> String {
    format!("proofs-failed:{user_id}:{run}:{day}")
}

pub fn secret_claim(name: &str) -> String {
    format!("secret-claim:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_keys_are_in_their_families_and_records_are_not() {
        let f = FlowHandle("f".into());
        let counters = [
            username_claim("Jane"),
            flow_done(&f),
            code_attempts(&f, "c"),
            questions_answered(&f, "d"),
            session_epoch("u"),
            signin_failures("u", 0),
            unknown_failures("ab", 0),
            destination_mismatches(&f),
            throttle("send", "u:email", 3600, 7),
            captcha_used(1, "n"),
            proofs_failed("u", "0", 3),
            secret_claim("code"),
            voice_used("ab"),
            AUDIT_SEQ.to_owned(),
            OUTBOX_SEQ.to_owned(),
        ];
        for key in &counters {
            assert!(is_counter(key), "{key}");
        }
        let records = [
            POLICY.to_owned(),
            user("u"),
            username("Jane"),
            flow(&f),
            session("ab"),
            reset_blocked("u"),
            unknown_locked("ab"),
            audit(1),
            outbox(1),
            secret("code"),
            voice_call("ab"),
        ];
        for key in &records {
            assert!(!is_counter(key), "{key}");
        }
    }
}
