//! "Who are you?": `GET /api/identify/challenge` hands out a proof-of-work
//! CAPTCHA; `POST /api/identify` checks it and starts a reset or unlock flow.
//! `POST /api/contact-admin` is the way out of its error pages: "Contact an
//! administrator". `GET /api/policy/public` hands the pages the few policy
//! values they show (password lengths, code and flow lifetimes).

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::{contact_admin, identify};
use unlatch_web::{method_not_allowed, not_found, read_json, reply, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    match req.header("spin-matched-route").and_then(|v| v.as_str()) {
        Some("/api/contact-admin") => return contact(&req),
        Some("/api/policy/public") => return public_policy(&req),
        _ => {}
    }
    match (unlatch_web::path_info(&req), req.method()) {
        ("/challenge", Method::Get) => reply(with_host(&req, |host| identify::challenge(&host.ctx())), 200),
        ("/challenge", _) => method_not_allowed(&[Method::Get]),
        ("" | "/", Method::Post) => {
            let started =
                read_json(&req).and_then(|body| with_host(&req, |host| identify::identify(&host.ctx(), body)));
            reply(started, 200)
        }
        ("" | "/", _) => method_not_allowed(&[Method::Post]),
        _ => not_found(),
    }
}

fn contact(req: &Request) -> Response {
    if *req.method() != Method::Post {
        return method_not_allowed(&[Method::Post]);
    }
    let asked = read_json(req).and_then(|body| {
        with_host(req, |host| contact_admin::contact_admin(&host.ctx(), host.notifier()?.as_ref(), body))
    });
    reply(asked, 202)
}

fn public_policy(req: &Request) -> Response {
    if *req.method() != Method::Get {
        return method_not_allowed(&[Method::Get]);
    }
    reply(with_host(req, |host| identify::public_policy(&host.ctx())), 200)
}
