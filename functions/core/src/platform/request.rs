//! Request bodies for the thin components: size cap, JSON parsing, and the
//! mapping of every parse failure to a 4xx JSON error (never a 500).

use crate::errors::{ApiError, Result};
use serde::de::DeserializeOwned;

/// Bodies above 16 KiB are refused before parsing.
pub const MAX_BODY: usize = 16 * 1024;

/// Parses a JSON request body into `T`. Oversize → 413 `payload_too_large`;
/// empty, malformed or mistyped → 400 `invalid_json` (the message names the
/// position, never echoes the body: it may hold a password).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY {
        return Err(ApiError::payload_too_large(MAX_BODY));
    }
    // Only an object: serde would otherwise read `["a","b"]` into a struct by position.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid_json("The request body must be a JSON object."));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Data => "has a value of the wrong type",
            Category::Io | Category::Syntax | Category::Eof => "is not valid JSON",
        };
        ApiError::invalid_json(format!("The request body {what} (line {}, column {}).", e.line(), e.column()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Body {
        flow: String,
        new_password: String,
    }

    #[test]
    fn bad_bodies_are_4xx_and_do_not_echo_input() {
        assert_eq!(parse::<Body>(&vec![b' '; MAX_BODY + 1]).unwrap_err().status(), 413);
        assert_eq!(parse::<Body>(b"").unwrap_err().error(), "invalid_json");
        assert_eq!(parse::<Body>(b"{\"flow\": ").unwrap_err().error(), "invalid_json");
        let e = parse::<Body>(br#"{"flow": "f", "new_password": 12345678}"#).unwrap_err();
        assert_eq!((e.status(), e.error()), (400, "invalid_json"));
        let e = parse::<Body>(br#"["hunter2-secret"]"#).unwrap_err();
        assert!(!e.message.contains("hunter2"));
        let ok: Body = parse(br#"{"flow": "f"}"#).unwrap();
        assert_eq!(
            (ok.flow.as_str(), ok.new_password.as_str()),
            ("f", ""),
            "missing fields default; the step reports them"
        );
    }
}
