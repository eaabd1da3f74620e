//! The one error type every step returns; components turn it into
//! `{"error": code, "message": text, ...}` with `status` and, for throttles,
//! a `Retry-After` header.

use crate::platform::store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A failure with its HTTP status, stable snake_case code and human text.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub error: &'static str,
    pub message: String,
    /// Seconds until a throttle window ends; sent as `Retry-After`.
    pub retry_after: Option<u64>,
    /// Extra machine-readable data merged into the body (violations, attempts left, questions).
    pub details: Option<Value>,
}

/// Entra's guide's texts for the three "Who are you?" failures, kept word for word
/// where Entra's guide's wording is not about Microsoft.
pub const CONTACT_ADMIN_TEXT: &str = "Please contact your admin. We've detected that your user account password is not managed by this service. As a result, we are unable to automatically reset your password. You will need to contact your admin or helpdesk for any further assistance.";
pub const NOT_ENABLED_TEXT: &str = "Your account is not enabled for password reset. Your administrator has not set up your account for use with this service. If you'd like, we can contact an administrator in your organization to reset your password for you.";
pub const NOT_REGISTERED_TEXT: &str = "We could not verify your account. If you'd like, we can contact an administrator in your organization to reset your password for you.";

impl ApiError {
    pub fn new(status: u16, error: &'static str, message: impl Into<String>) -> Self {
        Self { status, error, message: message.into(), retry_after: None, details: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    /// For components: the body was not JSON of the expected shape.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_json", message)
    }
    pub fn missing_field(field: &str) -> Self {
        Self::new(400, "missing_field", format!("The field `{field}` is required."))
    }
    /// For components: request bodies are capped (16 KiB) before parsing.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(413, "payload_too_large", format!("The request body is larger than {limit} bytes."))
    }
    pub fn not_found() -> Self {
        Self::new(404, "not_found", "Not found.")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(405, "method_not_allowed", "This route does not accept this HTTP method.")
    }
    pub fn captcha_invalid() -> Self {
        Self::new(
            400,
            "captcha_invalid",
            "The CAPTCHA answer is missing, wrong, expired or already used. Please try a new challenge.",
        )
    }
    pub fn contact_admin() -> Self {
        Self::new(403, "contact_admin", CONTACT_ADMIN_TEXT)
    }
    pub fn not_enabled() -> Self {
        Self::new(403, "not_enabled", NOT_ENABLED_TEXT)
    }
    pub fn not_registered() -> Self {
        Self::new(403, "not_registered", NOT_REGISTERED_TEXT)
    }
    pub fn not_locked() -> Self {
        Self::new(
            409,
            "not_locked",
            "Your account is not locked, so there is nothing to unlock. If you forgot your password, reset it instead.",
        )
    }
    pub fn reset_blocked(retry_after: u64) -> Self {
        let mut e = Self::new(
            403,
            "reset_blocked",
            "Too many failed verification attempts. Password reset is blocked for this account for 24 hours; contact your administrator if you need help sooner.",
        );
        e.retry_after = Some(retry_after);
        e
    }
    pub fn flow_not_found() -> Self {
        Self::new(404, "flow_not_found", "This session does not exist or has ended. Please start again.")
    }
    pub fn flow_expired() -> Self {
        Self::new(410, "flow_expired", "This session has expired. Please start again.")
    }
    pub fn flow_state(message: impl Into<String>) -> Self {
        Self::new(409, "flow_state", message)
    }
    pub fn method_unavailable() -> Self {
        Self::new(422, "method_unavailable", "This verification option is not available for your account.")
    }
    pub fn destination_mismatch() -> Self {
        Self::new(
            422,
            "destination_mismatch",
            "That does not match the phone number or email address we have for you. Please enter it in full.",
        )
    }
    pub fn code_expired() -> Self {
        Self::new(410, "code_expired", "This code has expired. Please request a new one.")
    }
    pub fn code_burned() -> Self {
        Self::new(410, "code_burned", "Too many wrong tries for this code. Please request a new one.")
    }
    pub fn wrong_code(attempts_left: u32) -> Self {
        Self::new(401, "wrong_code", format!("That code is not right. {attempts_left} tries left."))
            .with_details(json!({ "attempts_left": attempts_left }))
    }
    pub fn wrong_answers(questions: Value) -> Self {
        Self::new(401, "wrong_answers", "One or more answers are not right. Please answer these questions.")
            .with_details(json!({ "questions": questions }))
    }
    pub fn password_policy(violations: Value) -> Self {
        Self::new(422, "password_policy", "The new password does not meet the password policy.")
            .with_details(json!({ "violations": violations }))
    }
    pub fn throttled(retry_after: u64) -> Self {
        let mut e = Self::new(429, "throttled", "Too many requests. Please wait before trying again.");
        e.retry_after = Some(retry_after.max(1));
        e
    }
    pub fn delivery_failed(message: impl Into<String>) -> Self {
        Self::new(502, "delivery_failed", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }

    /// The JSON body: `error`, `message`, `retry_after` when set, and the
    /// fields of `details` (an object) merged at the top level.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.error, "message": self.message });
        if let Some(seconds) = self.retry_after {
            body["retry_after"] = json!(seconds);
        }
        if let Some(Value::Object(extra)) = &self.details {
            for (k, v) in extra {
                body[k.as_str()] = v.clone();
            }
        }
        body
    }
}

impl Serialize for ApiError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.body().serialize(serializer)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // The store's text can name keys; it is not a secret but not for users either.
        ApiError::internal(format!(
            "Storage is unavailable ({}).",
            match e {
                StoreError::AccessDenied => "access denied",
                StoreError::NoSuchStore => "no such store",
                StoreError::NotACounter => "corrupt counter",
                StoreError::Other(_) => "backend error",
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_merges_details_and_retry_after() {
        let b = ApiError::wrong_code(3).body();
        assert_eq!(b["error"], "wrong_code");
        assert_eq!(b["attempts_left"], 3);
        assert_eq!(ApiError::throttled(42).body()["retry_after"], 42);
        let p = ApiError::password_policy(json!([{"rule": "too_short"}])).body();
        assert_eq!(p["violations"][0]["rule"], "too_short");
    }

    #[test]
    fn seed_errors_carry_the_seed_text_and_403() {
        for (e, code, text) in [
            (ApiError::contact_admin(), "contact_admin", "Please contact your admin."),
            (ApiError::not_enabled(), "not_enabled", "Your account is not enabled for password reset."),
            (ApiError::not_registered(), "not_registered", "We could not verify your account."),
        ] {
            assert_eq!(e.status, 403);
            assert_eq!(e.error, code);
            assert!(e.message.starts_with(text));
        }
        assert!(
            NOT_REGISTERED_TEXT
                .ends_with("we can contact an administrator in your organization to reset your password for you.")
        );
    }
}
