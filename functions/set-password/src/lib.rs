//! `POST /api/set-password`: the reset branch (`{flow, new_password}`, after
//! every gate passed) or the change branch (`{username, old_password,
//! new_password, confirm_password?}`); the body's shape picks it (core's
//! `set_password::SetPasswordRequest`).

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::set_password::{self, Endpoint};
use unlatch_web::{Capped, read_json, reply, routed, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(set_password::route(&req.method().to_string(), req.path()), |Endpoint::SetPassword| {
        let done = read_json(&req).and_then(|body| {
            with_host(&req, |host| set_password::set_password(&host.ctx(), host.notifier()?.as_ref(), body))
        });
        reply(done, 200)
    })
}
