//! Serves the static pages mounted from `static/` (spin.toml `files`) at `/`.
//! It takes only GET and HEAD and never reads a request body: the handler gets
//! the request's head, and whatever body was sent stays unread in the host.

mod headers;
mod path;

use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(incoming: IncomingRequest) -> Response {
    let req = Request::builder().method(incoming.method()).uri(incoming.uri()).headers(incoming.headers()).build();
    if !matches!(req.method(), Method::Get | Method::Head) {
        let mut response = page_response(405, "text/plain; charset=utf-8", b"Method not allowed".to_vec());
        response.set_header("allow", "GET, HEAD");
        return response;
    }
    let raw = req.header("spin-path-info").and_then(|v| v.as_str()).unwrap_or_else(|| req.path());
    let file = match path::resolve(raw) {
        Ok(file) => file,
        Err(path::Rejected) => return page_response(400, "text/plain; charset=utf-8", b"Bad request".to_vec()),
    };
    let response = match read_page(&file) {
        Some(body) => serve(&req, &file, body),
        None => not_found(),
    };
    if *req.method() == Method::Head { without_body(response) } else { response }
}

/// Reads a file from the mount; only regular files count (a directory is not a page).
fn read_page(file: &str) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        return None;
    }
    std::fs::read(file).ok()
}

fn serve(req: &Request, file: &str, body: Vec<u8>) -> Response {
    let etag = headers::etag(&body);
    let matches = req
        .header("if-none-match")
        .and_then(|v| v.as_str())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response = if matches {
        page_response(304, headers::content_type(file), Vec::new())
    } else {
        page_response(200, headers::content_type(file), body)
    };
    response.set_header("etag", etag);
    response
}

fn not_found() -> Response {
    let body = read_page("/404.html").unwrap_or_else(|| b"Not found".to_vec());
    page_response(404, "text/html; charset=utf-8", body)
}

fn page_response(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    let mut builder = Response::builder();
    builder.status(status).header("content-type", content_type);
    for (name, value) in headers::SECURITY {
        builder.header(name, value);
    }
    builder.body(body).build()
}

fn without_body(response: Response) -> Response {
    let mut builder = response.into_builder();
    builder.body(Vec::new()).build()
}
