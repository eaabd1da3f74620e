//! `POST /api/verify-code`: checks a code, or the answers to the drawn
//! security questions, and passes a gate of the flow.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::verify_code;
use unlatch_web::{method_not_allowed, read_json, reply, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    if *req.method() != Method::Post {
        return method_not_allowed(&[Method::Post]);
    }
    let verified = read_json(&req).and_then(|body| with_host(&req, |host| verify_code::verify(&host.ctx(), body)));
    reply(verified, 200)
}
