//! `POST /api/send-code`: sends a 6-digit code to the destination the user
//! typed, if it is the registered one (or draws the security questions).
//! `GET /api/dev/outbox`: what the `dev` notifier sent, only in `dev_mode`.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::{notify, send_code};
use unlatch_web::{method_not_allowed, not_found, read_json, reply, with_host};

/// How many of the newest outbox messages the dev route shows.
const OUTBOX_SHOWN: usize = 50;

#[http_component]
fn handle(req: Request) -> Response {
    let route = req.header("spin-matched-route").and_then(|v| v.as_str()).unwrap_or_default();
    if route == "/api/dev/outbox" {
        return dev_outbox(&req);
    }
    if *req.method() != Method::Post {
        return method_not_allowed(&[Method::Post]);
    }
    let sent = read_json(&req)
        .and_then(|body| with_host(&req, |host| send_code::send(&host.ctx(), host.notifier()?.as_ref(), body)));
    match sent {
        Ok(response) => unlatch_web::json(response.status(), &response),
        Err(e) => unlatch_web::error(&e),
    }
}

/// The outbox exists only for development: with `dev_mode` off it is not there at all.
fn dev_outbox(req: &Request) -> Response {
    if !unlatch_web::dev_mode() {
        return not_found();
    }
    if *req.method() != Method::Get {
        return method_not_allowed(&[Method::Get]);
    }
    let messages = with_host(req, |host| notify::outbox(&host.store, OUTBOX_SHOWN));
    reply(messages.map(|messages| serde_json::json!({ "messages": messages })), 200)
}
