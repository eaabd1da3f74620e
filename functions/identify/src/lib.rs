//! "Who are you?": `GET /api/identify/challenge` hands out a proof-of-work
//! CAPTCHA; `POST /api/identify` checks it and starts a reset or unlock flow.
//! `POST /api/contact-admin` is the way out of its error pages: "Contact an
//! administrator". `GET /api/policy/public` hands the pages the few policy
//! values they show (password lengths, code and flow lifetimes).

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::contact_admin;
use unlatch_core::identify::{self, Endpoint};
use unlatch_web::{Capped, read_json, reply, routed, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(identify::route(&req.method().to_string(), req.path()), |endpoint| match endpoint {
        Endpoint::Challenge => reply(with_host(&req, |host| identify::challenge(&host.ctx())), 200),
        Endpoint::Identify => {
            let started =
                read_json(&req).and_then(|body| with_host(&req, |host| identify::identify(&host.ctx(), body)));
            reply(started, 200)
        }
        Endpoint::ContactAdmin => {
            let asked = read_json(&req).and_then(|body| {
                with_host(&req, |host| contact_admin::contact_admin(&host.ctx(), host.notifier()?.as_ref(), body))
            });
            reply(asked, 202)
        }
        Endpoint::PublicPolicy => reply(with_host(&req, |host| identify::public_policy(&host.ctx())), 200),
    })
}
