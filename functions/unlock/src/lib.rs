//! `POST /api/unlock`: ends an unlock flow whose gates have all passed by
//! clearing the account's lock.

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::unlock::{self, Endpoint};
use unlatch_web::{Capped, read_json, reply, routed, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(unlock::route(&req.method().to_string(), req.path()), |Endpoint::Unlock| {
        reply(
            read_json(&req)
                .and_then(|body| with_host(&req, |host| unlock::unlock(&host.ctx(), host.notifier()?.as_ref(), body))),
            200,
        )
    })
}
