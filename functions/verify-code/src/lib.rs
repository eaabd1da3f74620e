//! `POST /api/verify-code`: prove a gate with the code that was sent, or with
//! the answers to the drawn security questions. A registration that changes
//! security info tells the user's previous contacts through the notifier.

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::verify_code::{self, Endpoint};
use unlatch_web::{Capped, read_json, reply, routed, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(verify_code::route(&req.method().to_string(), req.path()), |Endpoint::Verify| {
        let verified = read_json(&req)
            .and_then(|body| with_host(&req, |host| verify_code::verify(&host.ctx(), host.notifier()?.as_ref(), body)));
        reply(verified, 200)
    })
}
