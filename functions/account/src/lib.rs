//! The `account` step: `POST /api/signin` (session cookie + CSRF token; counts
//! toward smart lockout), `POST /api/signout`, `GET /api/session` (who am I).

use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::session;
use unlatch_core::signin::{self, Endpoint};
use unlatch_web::{Capped, error, json, read_json, reply, routed, session_cookie, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(signin::route(&req.method().to_string(), req.path()), |endpoint| match endpoint {
        Endpoint::SignIn => {
            let result = read_json(&req).and_then(|body| with_host(&req, |host| signin::signin(&host.ctx(), body)));
            match result {
                Ok(signed_in) => {
                    let mut response = json(200, &signed_in.response);
                    response.set_header(
                        "set-cookie",
                        session::set_cookie(&signed_in.session_id, session::LIFETIME_SECONDS),
                    );
                    response
                }
                Err(e) => error(&e),
            }
        }
        Endpoint::SignOut => {
            let id = session_cookie(&req);
            let result = with_host(&req, |host| signin::signout(&host.ctx(), id.as_deref()));
            let mut response = reply(result.map(|()| serde_json::json!({ "status": "signed_out" })), 200);
            if response.status() == &200 {
                response.set_header("set-cookie", session::set_cookie("", 0));
            }
            response
        }
        Endpoint::Session => {
            let id = session_cookie(&req);
            reply(with_host(&req, |host| signin::whoami(&host.ctx(), id.as_deref())), 200)
        }
    })
}
