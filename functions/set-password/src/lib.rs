//! `POST /api/set-password`: the reset branch (`{flow, new_password}`, after
//! every gate passed) and the change branch (`{username, old_password,
//! new_password}`, which lands with the accounts issue).

use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::{ApiError, set_password};
use unlatch_web::{method_not_allowed, read_json, reply, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    if *req.method() != Method::Post {
        return method_not_allowed(&[Method::Post]);
    }
    let body: Value = match read_json(&req) {
        Ok(body) => body,
        Err(e) => return unlatch_web::error(&e),
    };
    if body.get("flow").is_none() && body.get("username").is_some() {
        return unlatch_web::not_implemented();
    }
    let reset = serde_json::from_value(body)
        .map_err(|_| ApiError::invalid_json("The request body has a value of the wrong type."))
        .and_then(|body| with_host(&req, |host| set_password::reset(&host.ctx(), host.notifier()?.as_ref(), body)));
    reply(reset, 200)
}
