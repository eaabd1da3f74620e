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
    Granted,
}

/// Checks an `Authorization: Bearer <token>` header value in constant time.
/// Both sides are hashed first, so neither the token's length nor its
/// content leaks through timing.
pub fn authorize(configured: &str, authorization: Option<&str>) -> Auth {
    let configured = configured.trim();
    if configured.is_empty() {
        return Auth::Off;
    }
    let Some(value) = authorization.map(str::trim).filter(|v| !v.is_empty()) else {
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
        assert_eq!(authorize("", Some("Bearer x")), Auth::Off);
        assert_eq!(authorize("  ", None), Auth::Off);
        assert_eq!(authorize("s3cret-token", None), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Basic czNjcmV0")), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Bearer")), Auth::Missing);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-tokeN")), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-token-longer")), Auth::Wrong);
        assert_eq!(authorize("s3cret-token", Some("Bearer s3cret-token")), Auth::Granted);
        assert_eq!(authorize("s3cret-token", Some("bearer   s3cret-token ")), Auth::Granted);
        assert!(www_authenticate(Auth::Wrong).contains("invalid_token"));
        assert!(!www_authenticate(Auth::Missing).contains("error="));
    }
}
