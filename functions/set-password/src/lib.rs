//! `POST /api/set-password`: the reset branch (`{flow, new_password}`, after
//! every gate passed) and the change branch (`{username, old_password,
//! new_password, confirm_password?}`: the old password is checked as sign-in
//! checks it, then every session of the user ends).

use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::{ApiError, change_password, set_password};
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
        let change = serde_json::from_value(body)
            .map_err(|_| ApiError::invalid_json("The request body has a value of the wrong type."))
            .and_then(|body| {
                with_host(&req, |host| change_password::change(&host.ctx(), host.notifier()?.as_ref(), body))
            });
        return reply(change, 200);
    }
    let reset = serde_json::from_value(body)
        .map_err(|_| ApiError::invalid_json("The request body has a value of the wrong type."))
        .and_then(|body| with_host(&req, |host| set_password::reset(&host.ctx(), host.notifier()?.as_ref(), body)));
    reply(reset, 200)
}
