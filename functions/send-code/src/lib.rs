//! `POST /api/send-code`: sends a 6-digit code to the destination the user
//! typed, if it is the registered one (or draws the security questions).
//! `GET /api/dev/outbox`: what the `dev` notifier sent, only in `dev_mode`.

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::notify;
use unlatch_core::send_code::{self, Endpoint};
use unlatch_web::{Capped, not_found, read_json, reply, routed, with_host};

const OUTBOX_SHOWN: usize = 50;

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(send_code::route(&req.method().to_string(), req.path()), |endpoint| match endpoint {
        Endpoint::Send => {
            let sent = read_json(&req)
                .and_then(|body| with_host(&req, |host| send_code::send(&host.ctx(), host.notifier()?.as_ref(), body)));
            match sent {
                Ok(response) => unlatch_web::json(response.status(), &response),
                Err(e) => unlatch_web::error(&e),
            }
        }
        // The outbox does not exist outside dev mode.
        Endpoint::DevOutbox if !unlatch_web::dev_mode() => not_found(),
        Endpoint::DevOutbox => {
            let messages = with_host(&req, |host| notify::outbox(&host.store, OUTBOX_SHOWN));
            reply(messages.map(|messages| serde_json::json!({ "messages": messages })), 200)
        }
    })
}
