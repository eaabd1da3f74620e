//! Request bodies for the thin components: size cap (enforced while the body
//! streams in, see [`BodyReader`]), JSON parsing, and the mapping of every
//! parse failure to a 4xx JSON error (never a 500).

use crate::errors::{ApiError, Result};
use serde::de::DeserializeOwned;

/// Bodies above 16 KiB are refused before parsing.
pub const MAX_BODY: usize = 16 * 1024;

/// The most one read of a body stream asks for.
pub const READ_CHUNK: usize = 64 * 1024;

/// A request body read from a stream under a cap: a declared `Content-Length`
/// over the cap is refused before a byte is read, and the reader never asks
/// for more than the cap plus one byte, so whatever the client sends, at most
/// `limit + 1` bytes are ever held before the 413.
#[derive(Debug)]
pub struct BodyReader {
    limit: usize,
    bytes: Vec<u8>,
}

impl BodyReader {
    /// A reader for a body of at most `limit` bytes; 413 `payload_too_large`
    /// at once when `content_length` (the header, if sent) says it is larger.
    pub fn new(limit: usize, content_length: Option<&str>) -> Result<BodyReader> {
        let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::payload_too_large(limit));
        }
        let expected = declared.map_or(0, |n| n as usize).min(READ_CHUNK);
        Ok(BodyReader { limit, bytes: Vec::with_capacity(expected) })
    }

    /// How many bytes to ask the stream for next: never past `limit + 1` in all.
    pub fn want(&self) -> usize {
        (self.limit + 1).saturating_sub(self.bytes.len()).clamp(1, READ_CHUNK)
    }

    /// Takes one chunk; 413 as soon as the body is past the limit (the caller
    /// then stops reading).
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.bytes.len() + chunk.len() > self.limit {
            return Err(ApiError::payload_too_large(self.limit));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The whole body, once the stream has ended.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

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

    /// Feeds `body` to a reader the way a component reads a stream: asks for
    /// `want()` bytes, gets at most that many, stops at the first error.
    fn read_stream(limit: usize, content_length: Option<&str>, body: &[u8]) -> (Result<Vec<u8>>, usize) {
        let mut reader = match BodyReader::new(limit, content_length) {
            Ok(r) => r,
            Err(e) => return (Err(e), 0),
        };
        let mut taken = 0;
        while taken < body.len() {
            let n = reader.want().min(body.len() - taken);
            let chunk = &body[taken..taken + n];
            taken += n;
            if let Err(e) = reader.push(chunk) {
                return (Err(e), taken);
            }
        }
        (Ok(reader.finish()), taken)
    }

    #[test]
    fn a_streamed_body_stops_one_byte_past_the_cap() {
        let big = vec![b'x'; 64 * 1024 * 1024];
        let (result, taken) = read_stream(MAX_BODY, None, &big);
        assert_eq!(result.unwrap_err().status(), 413);
        assert_eq!(taken, MAX_BODY + 1, "no more than the cap plus one byte is read");

        let (result, taken) = read_stream(MAX_BODY, Some(&big.len().to_string()), &big);
        assert_eq!(result.unwrap_err().error(), "payload_too_large");
        assert_eq!(taken, 0, "an oversized Content-Length is refused before any byte is read");

        let (result, _) = read_stream(MAX_BODY, Some(" 16384 "), &big[..MAX_BODY]);
        assert_eq!(result.unwrap().len(), MAX_BODY, "exactly the cap is fine");
        let (result, taken) = read_stream(MAX_BODY, Some("12"), &big[..MAX_BODY + 1]);
        assert_eq!(
            (result.unwrap_err().status(), taken),
            (413, MAX_BODY + 1),
            "a lying Content-Length changes nothing"
        );
        let one_mib = 1024 * 1024;
        let (result, taken) = read_stream(one_mib, Some("not a number"), &big[..3 * one_mib]);
        assert_eq!((result.unwrap_err().status(), taken), (413, one_mib + 1));
        assert_eq!(read_stream(MAX_BODY, Some("0"), b"").0.unwrap(), b"");
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
