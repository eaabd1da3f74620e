//! `POST /api/verify-code`: prove a gate with the code that was sent, or with
//! the answers to the drawn security questions.

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use unlatch_core::verify_code::{self, Endpoint};
use unlatch_web::{read_json, reply, routed, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    routed(verify_code::route(&req.method().to_string(), req.path()), |Endpoint::Verify| {
        reply(read_json(&req).and_then(|body| with_host(&req, |host| verify_code::verify(&host.ctx(), body))), 200)
    })
}
