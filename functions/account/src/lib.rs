//! The `account` step: `POST /api/signin` (session cookie + CSRF token; counts
//! toward smart lockout), `POST /api/signout`, `GET /api/session` (who am I).

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::{session, signin};
use unlatch_web::{error, json, method_not_allowed, not_found, read_json, reply, with_host};

/// The session id in the request's cookie, if any.
fn cookie(req: &Request) -> Option<String> {
    req.header("cookie").and_then(|v| v.as_str()).and_then(session::from_cookie_header).map(str::to_owned)
}

#[http_component]
fn handle(req: Request) -> Response {
    let route = req.header("spin-matched-route").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    match route.as_str() {
        "/api/signin" => {
            if *req.method() != Method::Post {
                return method_not_allowed(&[Method::Post]);
            }
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
        "/api/signout" => {
            if *req.method() != Method::Post {
                return method_not_allowed(&[Method::Post]);
            }
            let id = cookie(&req);
            let result = with_host(&req, |host| signin::signout(&host.ctx(), id.as_deref()));
            let mut response = reply(result.map(|()| serde_json::json!({ "status": "signed_out" })), 200);
            if response.status() == &200 {
                response.set_header("set-cookie", session::set_cookie("", 0));
            }
            response
        }
        "/api/session" => {
            if *req.method() != Method::Get {
                return method_not_allowed(&[Method::Get]);
            }
            let id = cookie(&req);
            reply(with_host(&req, |host| signin::whoami(&host.ctx(), id.as_deref())), 200)
        }
        _ => not_found(),
    }
}
