//! The HTTP edge every API component shares, so each rule about requests and
//! responses lives in one place: body limits, JSON errors, security headers.
//!
//! Bodies are read from the host's stream and never past their cap: a
//! component's handler takes [`Capped`] (`fn handle(Capped(req): Capped)`),
//! or, to pick the cap per route, an `IncomingRequest` it turns into a
//! [`Request`] with [`head`] and [`receive_body`].

use serde::Serialize;
use serde::de::DeserializeOwned;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, Request, Response};
use std::future::Future;
use std::pin::Pin;
use unlatch_core::errors::{ApiError, ErrorCode};
use unlatch_core::platform::route::Routed;
use unlatch_core::request::BodyReader;

mod host;
pub mod outbound;

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

/// The method, URI and headers of `incoming`, with no body yet ([`receive_body`]
/// reads it). A header sent more than once keeps one value here; see [`header_values`].
pub fn head(incoming: &IncomingRequest) -> Request {
    Request::builder().method(incoming.method()).uri(incoming.uri()).headers(incoming.headers()).build()
}

/// Every value of header `name` as it was sent, in order.
pub fn header_values(incoming: &IncomingRequest, name: &str) -> Vec<String> {
    incoming.headers().get(name).iter().map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// Reads the body of `incoming` from the host's stream, chunk by chunk, and
/// never past `limit`: a declared `Content-Length` over it is 413 before a
/// byte is read, and the read stops (413) one byte past it, however much the
/// client sends ([`BodyReader`]).
pub fn receive_body(incoming: IncomingRequest, limit: usize) -> Result<Vec<u8>, ApiError> {
    use wasi::io::streams::StreamError;
    let declared = header_values(&incoming, "content-length");
    let mut reader = BodyReader::new(limit, declared.first().map(String::as_str))?;
    let unreadable = || ApiError::bad_request("The request body could not be read.");
    let body = incoming.consume().map_err(|()| unreadable())?;
    let stream = body.stream().map_err(|()| unreadable())?;
    loop {
        match stream.blocking_read(reader.want() as u64) {
            Ok(chunk) => reader.push(&chunk)?,
            Err(StreamError::Closed) => break,
            // The client went away, or the host's own limit cut the stream: never a partial body.
            Err(StreamError::LastOperationFailed(_)) => return Err(unreadable()),
        }
    }
    Ok(reader.finish())
}

/// The request with its body read under `limit` ([`receive_body`]).
pub fn receive(incoming: IncomingRequest, limit: usize) -> Result<Request, ApiError> {
    let mut req = head(&incoming);
    *req.body_mut() = receive_body(incoming, limit)?;
    Ok(req)
}

/// A request whose body was read under [`MAX_BODY`]: what the API components'
/// handlers take (`#[http_component] fn handle(Capped(req): Capped) -> Response`).
/// A body over the cap is answered 413 before the handler runs, having read at
/// most the cap plus one byte.
pub struct Capped(pub Request);

impl TryFromIncomingRequest for Capped {
    type Error = Response;

    // The trait is `#[async_trait]`; this is its expansion. The read itself is
    // blocking (`blocking_read`), so it happens before the future is made.
    fn try_from_incoming_request<'async_trait>(
        incoming: IncomingRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Self, Self::Error>> + Send + 'async_trait>>
    where
        Self: Sized + 'async_trait,
    {
        let received = receive(incoming, MAX_BODY).map(Capped).map_err(|e| error(&e));
        Box::pin(std::future::ready(received))
    }
}

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
