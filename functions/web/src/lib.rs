//! The HTTP edge every API component shares, so each rule about requests and
//! responses lives in one place: body limits, JSON errors, security headers.

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::{Method, Request, Response};

/// Largest JSON body an API route accepts.
pub const MAX_BODY: usize = 16 * 1024;

/// Headers on every API response (DESIGN.md §4): nothing cached, nothing sniffed,
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

/// The API's error body: `{"error": code, "message": text}`.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": code, "message": message }))
}

/// 405 with the `Allow` header listing what the route takes.
pub fn method_not_allowed(allowed: &[Method]) -> Response {
    let mut response = error(405, "method_not_allowed", "This route does not accept that method.");
    let allow: Vec<String> = allowed.iter().map(ToString::to_string).collect();
    response.set_header("allow", allow.join(", "));
    response
}

/// 404 for a path inside a component's routes that names nothing.
pub fn not_found() -> Response {
    error(404, "not_found", "There is nothing at this address.")
}

/// 501 for a route whose issue has not landed yet (the one placeholder the
/// foundation allows).
pub fn not_implemented() -> Response {
    error(501, "not_implemented", "This step is not available yet.")
}

/// Reads a JSON request body, answering the client's mistakes with a 4xx.
pub fn read_json<T: DeserializeOwned>(req: &Request) -> Result<T, Response> {
    let declared = req
        .header("content-length")
        .and_then(|v| v.as_str())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) || req.body().len() > MAX_BODY {
        return Err(error(413, "body_too_large", "The request body is larger than 16 KiB."));
    }
    let is_json = req
        .header("content-type")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(error(415, "unsupported_media_type", "Send the request body as application/json."));
    }
    serde_json::from_slice(req.body()).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => format!("The request body is missing or has a wrong field: {e}."),
            _ => "The request body is not valid JSON.".to_owned(),
        };
        error(400, "invalid_json", &message)
    })
}

/// The caller's address as Spin reports it (`spin-client-addr`, ip:port), without the port.
pub fn client_ip(req: &Request) -> String {
    let addr = req.header("spin-client-addr").and_then(|v| v.as_str()).unwrap_or("unknown");
    match addr.rsplit_once(':') {
        // `[::1]:443` and `1.2.3.4:443` both end in a port; a bare IPv6 address has no brackets.
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && (!host.contains(':') || host.starts_with('[')) => {
            host.trim_start_matches('[').trim_end_matches(']').to_owned()
        }
        _ => addr.to_owned(),
    }
}

/// The path below the component's route (`spin-path-info`), "" for an exact route.
pub fn path_info(req: &Request) -> &str {
    req.header("spin-path-info").and_then(|v| v.as_str()).unwrap_or("")
}
