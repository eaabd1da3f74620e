//! The one error type every step returns; components turn it into
//! `{"error": code, "message": text, ...}` with `status` and, for throttles,
//! a `Retry-After` header.

use crate::platform::store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Declares [`ErrorCode`] from one table, so a code's variant, HTTP status,
/// wire name and its place in [`ErrorCode::ALL`] cannot drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $status:literal $wire:literal,)+) => {
        /// Every error the API answers with. The wire name ([`ErrorCode::as_str`])
        /// is the body's `"error"`; clients match on it, so it never changes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The HTTP status the code is always answered with.
            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// The stable snake_case name sent as `"error"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }
        }
    };
}

error_codes! {
    /// Bad input that fits no more specific code.
    BadRequest = 400 "bad_request",
    /// The body is not JSON of the expected shape.
    InvalidJson = 400 "invalid_json",
    MissingField = 400 "missing_field",
    /// The CAPTCHA answer is missing, wrong, expired or replayed.
    CaptchaInvalid = 400 "captcha_invalid",
    /// A proof failed (`attempts_left`).
    WrongCode = 401 "wrong_code",
    /// Security answers failed (`questions`: the re-drawn set).
    WrongAnswers = 401 "wrong_answers",
    /// Sign-in: the username or password is wrong.
    InvalidCredentials = 401 "invalid_credentials",
    /// A signed-in route without a live session.
    NotSignedIn = 401 "not_signed_in",
    /// Admin API: no bearer token, or the wrong one.
    Unauthorized = 401 "unauthorized",
    ContactAdmin = 403 "contact_admin",
    NotEnabled = 403 "not_enabled",
    NotRegistered = 403 "not_registered",
    /// Too many failed proofs in 24 h (`retry_after`).
    ResetBlocked = 403 "reset_blocked",
    /// A signed-in write without the session's CSRF token.
    CsrfInvalid = 403 "csrf_invalid",
    /// A provider callback (`/api/voice/<token>`) without a valid provider signature.
    InvalidSignature = 403 "invalid_signature",
    /// Changing security info that exists needs a fresh proof with an existing method (`step_up`).
    StepUpRequired = 403 "step_up_required",
    NotFound = 404 "not_found",
    FlowNotFound = 404 "flow_not_found",
    UserNotFound = 404 "user_not_found",
    MethodNotRegistered = 404 "method_not_registered",
    MethodNotAllowed = 405 "method_not_allowed",
    NotLocked = 409 "not_locked",
    FlowState = 409 "flow_state",
    UsernameTaken = 409 "username_taken",
    /// Removing the method would leave fewer than the policy requires (`required`).
    BelowRequired = 409 "below_required",
    FlowExpired = 410 "flow_expired",
    CodeExpired = 410 "code_expired",
    CodeBurned = 410 "code_burned",
    /// A "press #" call was not confirmed with # (another key, hang-up, no answer).
    CallFailed = 410 "call_failed",
    PayloadTooLarge = 413 "payload_too_large",
    /// Admin import: more lines than one import takes.
    TooManyLines = 413 "too_many_lines",
    UnsupportedMediaType = 415 "unsupported_media_type",
    DestinationMismatch = 422 "destination_mismatch",
    MethodUnavailable = 422 "method_unavailable",
    /// `violations: [{rule, message}]`.
    PasswordPolicy = 422 "password_policy",
    /// `problems`.
    InvalidPolicy = 422 "invalid_policy",
    /// `problems`.
    InvalidUser = 422 "invalid_user",
    /// `field`.
    InvalidDestination = 422 "invalid_destination",
    /// `problems`.
    InvalidQuestions = 422 "invalid_questions",
    ConfirmMismatch = 422 "confirm_mismatch",
    /// Too many failed sign-ins (`unlock`, `retry_after` when timed).
    AccountLocked = 423 "account_locked",
    /// `retry_after`.
    Throttled = 429 "throttled",
    Internal = 500 "internal",
    DeliveryFailed = 502 "delivery_failed",
    Unavailable = 503 "unavailable",
    /// The server's secrets are not set (outside `dev_mode`); the message names them.
    NotConfigured = 503 "not_configured",
    /// Contact-an-administrator with no administrator to reach.
    NoAdministrator = 503 "no_administrator",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Lets tests read `assert_eq!(e.code, "flow_state")`.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

/// A failure: its code (which fixes the HTTP status and the wire name) and human text.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
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
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None, details: None }
    }

    /// The HTTP status, always the code's.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The wire name sent as `"error"`.
    pub fn error(&self) -> &'static str {
        self.code.as_str()
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    /// For components: the body was not JSON of the expected shape.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidJson, message)
    }
    pub fn missing_field(field: &str) -> Self {
        Self::new(ErrorCode::MissingField, format!("The field `{field}` is required."))
    }
    /// For components: request bodies are capped (16 KiB) before parsing.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, format!("The request body is larger than {limit} bytes."))
    }
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Not found.")
    }
    pub fn method_not_allowed() -> Self {
        Self::new(ErrorCode::MethodNotAllowed, "This route does not accept this HTTP method.")
    }
    pub fn captcha_invalid() -> Self {
        Self::new(
            ErrorCode::CaptchaInvalid,
            "The CAPTCHA answer is missing, wrong, expired or already used. Please try a new challenge.",
        )
    }
    pub fn contact_admin() -> Self {
        Self::new(ErrorCode::ContactAdmin, CONTACT_ADMIN_TEXT)
    }
    pub fn not_enabled() -> Self {
        Self::new(ErrorCode::NotEnabled, NOT_ENABLED_TEXT)
    }
    pub fn not_registered() -> Self {
        Self::new(ErrorCode::NotRegistered, NOT_REGISTERED_TEXT)
    }
    pub fn not_locked() -> Self {
        Self::new(
            ErrorCode::NotLocked,
            "Your account is not locked, so there is nothing to unlock. If you forgot your password, reset it instead.",
        )
    }
    pub fn reset_blocked(retry_after: u64) -> Self {
        let mut e = Self::new(
            ErrorCode::ResetBlocked,
            "Too many failed verification attempts. Password reset is blocked for this account for 24 hours; contact your administrator if you need help sooner.",
        );
        e.retry_after = Some(retry_after);
        e
    }
    /// Security info is registered and this session has not proven an existing
    /// method in the last 10 minutes; `step_up` names the route that starts the proof.
    pub fn step_up_required() -> Self {
        Self::new(
            ErrorCode::StepUpRequired,
            "To change your security info, first verify it's you with a method you already registered.",
        )
        .with_details(json!({ "step_up": "/api/register/verify" }))
    }
    pub fn flow_not_found() -> Self {
        Self::new(ErrorCode::FlowNotFound, "This session does not exist or has ended. Please start again.")
    }
    pub fn flow_expired() -> Self {
        Self::new(ErrorCode::FlowExpired, "This session has expired. Please start again.")
    }
    pub fn flow_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FlowState, message)
    }
    pub fn method_unavailable() -> Self {
        Self::new(ErrorCode::MethodUnavailable, "This verification option is not available for your account.")
    }
    pub fn destination_mismatch() -> Self {
        Self::new(
            ErrorCode::DestinationMismatch,
            "That does not match the phone number or email address we have for you. Please enter it in full.",
        )
    }
    pub fn code_expired() -> Self {
        Self::new(ErrorCode::CodeExpired, "This code has expired. Please request a new one.")
    }
    pub fn code_burned() -> Self {
        Self::new(ErrorCode::CodeBurned, "Too many wrong tries for this code. Please request a new one.")
    }
    pub fn invalid_signature() -> Self {
        Self::new(ErrorCode::InvalidSignature, "This callback is not signed by the configured provider.")
    }
    pub fn call_failed() -> Self {
        Self::new(
            ErrorCode::CallFailed,
            "The call was not answered or not confirmed with #. Call again, or choose another option.",
        )
    }
    pub fn wrong_code(attempts_left: u32) -> Self {
        Self::new(ErrorCode::WrongCode, format!("That code is not right. {attempts_left} tries left."))
            .with_details(json!({ "attempts_left": attempts_left }))
    }
    pub fn wrong_answers(questions: Value) -> Self {
        Self::new(ErrorCode::WrongAnswers, "One or more answers are not right. Please answer these questions.")
            .with_details(json!({ "questions": questions }))
    }
    pub fn password_policy(violations: Value) -> Self {
        Self::new(ErrorCode::PasswordPolicy, "The new password does not meet the password policy.")
            .with_details(json!({ "violations": violations }))
    }
    pub fn throttled(retry_after: u64) -> Self {
        let mut e = Self::new(ErrorCode::Throttled, "Too many requests. Please wait before trying again.");
        e.retry_after = Some(retry_after.max(1));
        e
    }
    pub fn delivery_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::DeliveryFailed, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }
    pub fn not_configured(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotConfigured, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The JSON body: `error`, `message`, `retry_after` when set, and the
    /// fields of `details` (an object) merged at the top level.
    pub fn body(&self) -> Value {
        let mut body = json!({ "error": self.code.as_str(), "message": self.message });
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
        write!(f, "{} {}: {}", self.status(), self.code, self.message)
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
            assert_eq!(e.status(), 403);
            assert_eq!(e.code, code);
            assert!(e.message.starts_with(text));
        }
        assert!(
            NOT_REGISTERED_TEXT
                .ends_with("we can contact an administrator in your organization to reset your password for you.")
        );
    }

    #[test]
    fn every_code_has_one_distinct_snake_case_wire_name_and_an_error_status() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "`{name}` is used by two codes");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "`{name}` is not snake_case"
            );
            assert!((400..600).contains(&code.status()), "{code:?}: {}", code.status());
            let e = ApiError::new(code, "text");
            assert_eq!((e.status(), e.error(), e.body()["error"].as_str()), (code.status(), name, Some(name)));
            assert_eq!(code.to_string(), name);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
        }
    }

    #[test]
    fn the_named_constructors_keep_their_statuses_and_wire_names() {
        for (e, status, name) in [
            (ApiError::bad_request("x"), 400, "bad_request"),
            (ApiError::invalid_json("x"), 400, "invalid_json"),
            (ApiError::missing_field("x"), 400, "missing_field"),
            (ApiError::captcha_invalid(), 400, "captcha_invalid"),
            (ApiError::wrong_code(1), 401, "wrong_code"),
            (ApiError::wrong_answers(json!([])), 401, "wrong_answers"),
            (ApiError::reset_blocked(1), 403, "reset_blocked"),
            (ApiError::step_up_required(), 403, "step_up_required"),
            (ApiError::not_found(), 404, "not_found"),
            (ApiError::flow_not_found(), 404, "flow_not_found"),
            (ApiError::method_not_allowed(), 405, "method_not_allowed"),
            (ApiError::not_locked(), 409, "not_locked"),
            (ApiError::flow_state("x"), 409, "flow_state"),
            (ApiError::flow_expired(), 410, "flow_expired"),
            (ApiError::code_expired(), 410, "code_expired"),
            (ApiError::code_burned(), 410, "code_burned"),
            (ApiError::payload_too_large(1), 413, "payload_too_large"),
            (ApiError::method_unavailable(), 422, "method_unavailable"),
            (ApiError::destination_mismatch(), 422, "destination_mismatch"),
            (ApiError::password_policy(json!([])), 422, "password_policy"),
            (ApiError::throttled(1), 429, "throttled"),
            (ApiError::internal("x"), 500, "internal"),
            (ApiError::delivery_failed("x"), 502, "delivery_failed"),
            (ApiError::unavailable("x"), 503, "unavailable"),
            (ApiError::not_configured("x"), 503, "not_configured"),
        ] {
            assert_eq!((e.status(), e.error()), (status, name));
        }
        assert_eq!(ApiError::flow_state("busy").to_string(), "409 flow_state: busy");
    }

    /// The README's error table is the clients' reference: every code is in it.
    #[test]
    fn the_readme_error_table_lists_every_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let section = readme.split("\n## Errors").nth(1).expect("README has an `## Errors` section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let missing: Vec<String> = ErrorCode::ALL
            .iter()
            .filter(|code| !section.contains(&format!("`{code}`")))
            .map(|code| format!("{} `{code}`", code.status()))
            .collect();
        assert!(missing.is_empty(), "add to the README's Errors table: {}", missing.join(", "));
    }
}
