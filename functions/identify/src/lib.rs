//! "Who are you?": `GET /api/identify/challenge` hands out a proof-of-work
//! CAPTCHA; `POST /api/identify` checks it and starts a reset or unlock flow.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::identify;
use unlatch_web::{method_not_allowed, not_found, read_json, reply, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    match (unlatch_web::path_info(&req), req.method()) {
        ("/challenge", Method::Get) => reply(with_host(&req, |host| identify::challenge(&host.ctx())), 200),
        ("/challenge", _) => method_not_allowed(&[Method::Get]),
        ("" | "/", Method::Post) => {
            let started = read_json(&req).and_then(|body| with_host(&req, |host| identify::identify(&host.ctx(), body)));
            reply(started, 200)
        }
        ("" | "/", _) => method_not_allowed(&[Method::Post]),
        _ => not_found(),
    }
}
