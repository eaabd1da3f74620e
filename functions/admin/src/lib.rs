//! `/api/admin/...`: the operator's API (users, policy, audit) behind the
//! `admin_token` bearer token. With no token configured the API does not
//! exist (404). Routing, validation and the work are in `unlatch_core::admin`.
//! The token is checked (exactly one `Authorization` header) before any of
//! the body is read, and the body's cap depends on the route: 1 MiB for the
//! JSON-lines import, 16 KiB for everything else.

use serde::Serialize;
use serde_json::Value;
use spin_sdk::http::{IncomingRequest, Request, Response};
use spin_sdk::http_component;
use unlatch_core::ApiError;
use unlatch_core::admin::{self, Auth, Endpoint, LockRequest};
use unlatch_web::{
    MAX_BODY, MAX_IMPORT_BODY, error, head, header_values, json, not_found, path_info, read_json, read_json_lines,
    receive_body, routed, variable, with_host,
};

#[http_component]
fn handle(incoming: IncomingRequest) -> Response {
    let token = match variable("admin_token") {
        Ok(token) => token,
        Err(e) => return error(&e),
    };
    let authorization = header_values(&incoming, "authorization");
    match admin::authorize(&token, &authorization.iter().map(String::as_str).collect::<Vec<_>>()) {
        Auth::Off => return not_found(),
        Auth::Granted => {}
        Auth::Ambiguous => return error(&admin::ambiguous()),
        refused => {
            let mut response = error(&admin::unauthorized());
            response.set_header("www-authenticate", admin::www_authenticate(refused));
            return response;
        }
    }
    let mut req = head(&incoming);
    let route = admin::route(&req.method().to_string(), path_info(&req));
    routed(route, |endpoint| {
        let limit = if endpoint == Endpoint::ImportUsers { MAX_IMPORT_BODY } else { MAX_BODY };
        match receive_body(incoming, limit) {
            Ok(body) => *req.body_mut() = body,
            Err(e) => return error(&e),
        }
        match serve(&req, endpoint) {
            Ok((status, body)) => json(status, &body),
            Err(e) => error(&e),
        }
    })
}

fn ok<T: Serialize>(status: u16, value: Result<T, ApiError>) -> Result<(u16, Value), ApiError> {
    value.and_then(|v| {
        serde_json::to_value(v).map_err(|_| ApiError::internal("Could not encode the response.")).map(|v| (status, v))
    })
}

fn serve(req: &Request, endpoint: Endpoint) -> Result<(u16, Value), ApiError> {
    use Endpoint::*;
    match endpoint {
        ListUsers => with_host(req, |h| ok(200, admin::list_users(&h.ctx(), req.query()))),
        CreateUser => {
            let body = read_json(req)?;
            with_host(req, |h| ok(201, admin::create_user(&h.ctx(), body)))
        }
        ImportUsers => {
            let body = read_json_lines(req)?;
            with_host(req, |h| ok(200, admin::import_users(&h.ctx(), body)))
        }
        GetUser(id) => with_host(req, |h| ok(200, admin::get_user(&h.ctx(), &id))),
        UpdateUser(id) => {
            let body = read_json(req)?;
            with_host(req, |h| ok(200, admin::update_user(&h.ctx(), &id, body)))
        }
        DeleteUser(id) => with_host(req, |h| ok(200, admin::delete_user(&h.ctx(), &id))),
        LockUser(id) => {
            // The body is optional: none locks until unlocked.
            let body =
                if req.body().iter().all(u8::is_ascii_whitespace) { LockRequest::default() } else { read_json(req)? };
            with_host(req, |h| ok(200, admin::lock_user(&h.ctx(), &id, body)))
        }
        UnlockUser(id) => with_host(req, |h| ok(200, admin::unlock_user(&h.ctx(), &id))),
        GetPolicy => with_host(req, |h| ok(200, admin::get_policy(&h.ctx()))),
        CheckPolicy => with_host(req, |h| ok(200, admin::check_policy(&h.ctx()))),
        ReplacePolicy => {
            let body = unlatch_web::read_body(req, &["application/json"], unlatch_web::MAX_BODY)?;
            with_host(req, |h| ok(200, admin::replace_policy(&h.ctx(), body)))
        }
        ListAudit => with_host(req, |h| ok(200, admin::list_audit(&h.ctx(), req.query()))),
        Sweep => with_host(req, |h| ok(200, admin::sweep(&h.ctx()))),
        Reindex => with_host(req, |h| ok(200, admin::reindex(&h.ctx(), &h.store))),
    }
}
