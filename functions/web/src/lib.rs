//! The HTTP edge every API component shares, so each rule about requests and
//! responses lives in one place: body limits, JSON errors, security headers.

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{Request, Response};
use unlatch_core::errors::{ApiError, ErrorCode};
use unlatch_core::platform::route::Routed;

mod host;

pub use host::{Host, dev_mode, variable};
pub use unlatch_core::request::MAX_BODY;

/// Headers on every API response (docs/design.md): nothing cached, nothing sniffed,
/// no referrer leaked, no active content even if a browser renders the JSON.
const API_HEADERS: [(&str, &str); 5] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ("x-frame-options", "DENY"),
];

/// A JSON response with the API's security headers.
pub fn json<T: Serialize>(status: u16, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut builder = Response::builder();
    builder.status(status).header("content-type", "application/json");
    for (name, value) in API_HEADERS {
        builder.header(name, value);
    }
    builder.body(bytes).build()
}

/// A failure as the API answers it: its status, the `{error, message, ...}`
/// body, and `Retry-After` for throttles.
pub fn error(e: &ApiError) -> Response {
    let mut response = json(e.status(), &e.body());
    if let Some(seconds) = e.retry_after {
        response.set_header("retry-after", seconds.to_string());
    }
    response
}

/// A step's outcome: `ok_status` with the value as JSON, or the error.
pub fn reply<T: Serialize>(result: Result<T, ApiError>, ok_status: u16) -> Response {
    match result {
        Ok(value) => json(ok_status, &value),
        Err(e) => error(&e),
    }
}

/// Serves what a component's pure route table (`unlatch_core::platform::route`)
/// named: 404 for a path it does not know, 405 with `Allow` for a method the
/// path does not take.
pub fn routed<E>(routed: Routed<E>, serve: impl FnOnce(E) -> Response) -> Response {
    match routed {
        Routed::To(endpoint) => serve(endpoint),
        Routed::NotFound => not_found(),
        Routed::MethodNotAllowed(allow) => {
            let mut response = error(&ApiError::method_not_allowed());
            response.set_header("allow", allow.join(", "));
            response
        }
    }
}

/// The session id in the request's `__Host-` session cookie, if any: the one
/// place a component reads it.
pub fn session_cookie(req: &Request) -> Option<String> {
    req.header("cookie").and_then(|v| v.as_str()).and_then(unlatch_core::session::from_cookie_header).map(str::to_owned)
}

/// 404 for a path inside a component's routes that names nothing.
pub fn not_found() -> Response {
    error(&ApiError::not_found())
}

/// The body cap of the one bulk route (`POST /api/admin/users/import`); every
/// other route takes at most [`MAX_BODY`].
pub const MAX_IMPORT_BODY: usize = 1024 * 1024;

/// The request body, refused before use when it is larger than `limit`
/// (declared or actual: 413) or not of one of the `media_types` (415).
pub fn read_body<'a>(req: &'a Request, media_types: &[&str], limit: usize) -> Result<&'a [u8], ApiError> {
    let declared = req.header("content-length").and_then(|v| v.as_str()).and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) || req.body().len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    let media_type = req
        .header("content-type")
        .and_then(|v| v.as_str())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !media_types.contains(&media_type.as_str()) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("Send the request body as {}.", media_types[0]),
        ));
    }
    Ok(req.body())
}

/// Reads a JSON object body (at most 16 KiB); the client's mistakes become 4xx errors.
pub fn read_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    unlatch_core::request::parse(read_body(req, &["application/json"], MAX_BODY)?)
}

/// Reads a JSON-lines body (`application/x-ndjson`, at most [`MAX_IMPORT_BODY`]);
/// the lines are parsed one by one by the caller.
pub fn read_json_lines(req: &Request) -> Result<&[u8], ApiError> {
    read_body(req, &["application/x-ndjson", "application/jsonl", "application/x-jsonlines"], MAX_IMPORT_BODY)
}

/// Runs a step with the request's host context; a host failure (store, keys)
/// becomes the step's error.
pub fn with_host<T>(req: &Request, step: impl FnOnce(&Host) -> Result<T, ApiError>) -> Result<T, ApiError> {
    step(&Host::open(req)?)
}

/// The caller's address as Spin reports it (`spin-client-addr`, ip:port), without the port.
pub fn client_ip(req: &Request) -> String {
    let addr = req.header("spin-client-addr").and_then(|v| v.as_str()).unwrap_or("unknown");
    match addr.rsplit_once(':') {
        // `[::1]:443` and `1.2.3.4:443` both end in a port; a bare IPv6 address has no brackets.
        Some((host, port))
            if port.chars().all(|c| c.is_ascii_digit()) && (!host.contains(':') || host.starts_with('[')) =>
        {
            host.trim_start_matches('[').trim_end_matches(']').to_owned()
        }
        _ => addr.to_owned(),
    }
}

/// The path below the component's route (`spin-path-info`), "" for an exact route.
pub fn path_info(req: &Request) -> &str {
    req.header("spin-path-info").and_then(|v| v.as_str()).unwrap_or("")
}
