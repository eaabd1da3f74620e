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
    "username-claim:",
    "secret-claim:",
    "audit-seq",
    "outbox-seq",
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

/// The username → id index (usernames compare case-insensitively).
pub fn username(name: &str) -> String {
    format!("username:{}", name.trim().to_lowercase())
}

pub fn flow(id: &str) -> String {
    format!("flow:{id}")
}

/// A session, under the SHA-256 of its id (never the id itself).
pub fn session(id_hash_hex: &str) -> String {
    format!("session:{id_hash_hex}")
}

/// Until when a user's resets are blocked (Unix seconds, decimal text).
pub fn reset_blocked(user_id: &str) -> String {
    format!("reset-blocked:{user_id}")
}

pub fn audit(seq: u64) -> String {
    format!("audit:{seq}")
}

pub fn outbox(seq: u64) -> String {
    format!("outbox:{seq}")
}

/// A server key made once when its variable is empty.
pub fn secret(name: &str) -> String {
    format!("secret:{name}")
}

// Counters.

pub const AUDIT_SEQ: &str = "audit-seq";
pub const OUTBOX_SEQ: &str = "outbox-seq";

pub fn username_claim(name: &str) -> String {
    format!("username-claim:{}", name.trim().to_lowercase())
}

pub fn flow_done(id: &str) -> String {
    format!("flow-done:{id}")
}

pub fn code_attempts(flow_id: &str, code_id: &str) -> String {
    format!("code-attempts:{flow_id}:{code_id}")
}

pub fn questions_answered(flow_id: &str, draw_id: &str) -> String {
    format!("questions-answered:{flow_id}:{draw_id}")
}

pub fn session_epoch(user_id: &str) -> String {
    format!("session-epoch:{user_id}")
}

pub fn signin_failures(user_id: &str) -> String {
    format!("signin-failures:{user_id}")
}

/// One fixed window of a rate limit: `window` seconds long, the `index`-th since 1970.
pub fn throttle(name: &str, subject: &str, window: u64, index: u64) -> String {
    format!("throttle:{name}:{subject}:{window}:{index}")
}

pub fn captcha_used(expires_at: u64, nonce: &str) -> String {
    format!("captcha-used:{expires_at}:{nonce}")
}

pub fn proofs_failed(user_id: &str, day: u64) -> String {
    format!("proofs-failed:{user_id}:{day}")
}

pub fn secret_claim(name: &str) -> String {
    format!("secret-claim:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_keys_are_in_their_families_and_records_are_not() {
        let counters = [
            username_claim("Jane"),
            flow_done("f"),
            code_attempts("f", "c"),
            questions_answered("f", "d"),
            session_epoch("u"),
            signin_failures("u"),
            throttle("send", "u:email", 3600, 7),
            captcha_used(1, "n"),
            proofs_failed("u", 3),
            secret_claim("code"),
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
            flow("f"),
            session("ab"),
            reset_blocked("u"),
            audit(1),
            outbox(1),
            secret("code"),
        ];
        for key in &records {
            assert!(!is_counter(key), "{key}");
        }
    }
}
