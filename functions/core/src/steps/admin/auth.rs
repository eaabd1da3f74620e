//! The bearer-token check: `Authorization: Bearer <token>` against the
//! `admin_token` variable, and the 401 answer when it fails.

use crate::errors::{ApiError, ErrorCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The outcome of checking `Authorization` against the `admin_token` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No token configured: the admin API does not exist (404).
    Off,
    /// No bearer credentials sent, or an empty token (401).
    Missing,
    /// Credentials sent but not the token (401, `invalid_token`).
    Wrong,
    /// More than one `Authorization` header: which one counts would depend on
    /// the proxy in front, so none does (400).
    Ambiguous,
    Granted,
}

/// Checks the request's `Authorization` headers (every value sent, in order):
/// exactly one `Bearer <token>`, compared in constant time. Both sides are
/// hashed first, so neither the token's length nor its content leaks through
/// timing.
pub fn authorize(configured: &str, authorization: &[&str]) -> Auth {
    let configured = configured.trim();
    if configured.is_empty() {
        return Auth::Off;
    }
    if authorization.len() > 1 {
        return Auth::Ambiguous;
    }
    let Some(value) = authorization.first().map(|v| v.trim()).filter(|v| !v.is_empty()) else {
        return Auth::Missing;
    };
    let (scheme, token) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Auth::Missing;
    }
    let token = token.trim();
    if token.is_empty() {
        return Auth::Missing;
    }
    let expected = Sha256::digest(configured.as_bytes());
    let given = Sha256::digest(token.as_bytes());
    if bool::from(expected.ct_eq(&given)) { Auth::Granted } else { Auth::Wrong }
}

/// The 400 answer for a request with more than one `Authorization` header.
pub fn ambiguous() -> ApiError {
    ApiError::bad_request("Send exactly one `Authorization` header.")
}

/// The 401 answer for a refused request.
pub fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "This route needs the administrator's bearer token: `Authorization: Bearer <token>`.",
    )
}

/// The `WWW-Authenticate` header for a refused request (RFC 6750 §3).
pub fn www_authenticate(auth: Auth) -> &'static str {
    match auth {
        Auth::Wrong => r#"Bearer realm="unlatch-admin", error="invalid_token""#,
        _ => r#"Bearer realm="unlatch-admin""#,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_value_and_scheme() {
        assert_eq!(authorize("", &["Bearer x"]), Auth::Off);
        assert_eq!(authorize("  ", &[]), Auth::Off);
        assert_eq!(authorize("s3cret-token", &[]), Auth::Missing);
        assert_eq!(authorize("s3cret-token", &["Basic czNjcmV0"]), Auth::Missing);
        assert_eq!(authorize("s3cret-token", &["Bearer"]), Auth::Missing);
        assert_eq!(authorize("s3cret-token", &["Bearer s3cret-tokeN"]), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", &["Bearer s3cret-token-longer"]), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", &["Bearer s3cret-token"]), Auth::Granted);
        assert_eq!(authorize("s3cret-token", &["bearer   s3cret-token "]), Auth::Granted);
        assert_eq!(authorize("s3cret-token", &["Bearer s3cret-token", "Bearer s3cret-token"]), Auth::Ambiguous);
        assert_eq!(authorize("s3cret-token", &["Bearer s3cret-token", "Bearer other"]), Auth::Ambiguous);
        assert_eq!(authorize("s3cret-token", &["Bearer other", "Bearer s3cret-token"]), Auth::Ambiguous);
        assert_eq!(authorize("", &["Bearer a", "Bearer b"]), Auth::Off, "no token: the API does not exist");
        assert_eq!(ambiguous().status(), 400);
        assert!(www_authenticate(Auth::Wrong).contains("invalid_token"));
        assert!(!www_authenticate(Auth::Missing).contains("error="));
    }
}
