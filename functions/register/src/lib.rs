//! The `register` step, for a signed-in user (session cookie; every write also
//! needs the session's CSRF token in `x-csrf-token`):
//!
//! - `GET /api/register` — what is registered (masked) and what the policy needs
//! - `POST /api/register/start` — `{method, country_code?, destination, mode?}` → a register
//!   flow; then `POST /api/send-code` and `POST /api/verify-code` save the contact
//! - `GET /api/register/questions` — the question pool
//! - `PUT|POST /api/register/questions` — `{questions:[{id|question, answer}]}`
//! - `DELETE /api/register/<method>` — remove a method (never below the required number)
//! - `POST /api/register/finish` — `{complete, missing, ...}`

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::register;
use unlatch_core::session::{self, Session};
use unlatch_core::{ApiError, Ctx};
use unlatch_web::{error, method_not_allowed, not_found, path_info, read_json, reply, with_host};

/// The live session behind the request's cookie, with its id.
fn session_of(req: &Request, ctx: &Ctx) -> Result<(String, Session), ApiError> {
    let id = req.header("cookie").and_then(|v| v.as_str()).and_then(session::from_cookie_header).map(str::to_owned);
    let s = session::load(ctx, id.as_deref())?;
    Ok((id.unwrap_or_default(), s))
}

/// The session, and for writes the CSRF token bound to it.
fn signed_in(req: &Request, ctx: &Ctx, write: bool) -> Result<(String, Session), ApiError> {
    let (id, s) = session_of(req, ctx)?;
    if write {
        let token = req.header(session::CSRF_HEADER).and_then(|v| v.as_str());
        session::check_csrf(ctx, &id, token)?;
    }
    Ok((id, s))
}

#[http_component]
fn handle(req: Request) -> Response {
    let path = path_info(&req).trim_end_matches('/').to_owned();
    let method = req.method().clone();
    match (path.as_str(), method) {
        ("", Method::Get) => reply(
            with_host(&req, |h| {
                let ctx = h.ctx();
                let (_, s) = signed_in(&req, &ctx, false)?;
                register::status(&ctx, &s)
            }),
            200,
        ),
        ("", _) => method_not_allowed(&[Method::Get]),
        ("/start", Method::Post) => {
            let result = with_host(&req, |h| {
                let ctx = h.ctx();
                let (id, s) = signed_in(&req, &ctx, true)?;
                let body = read_json(&req)?;
                register::start(&ctx, &s, &session::storage_key(&id), body)
            });
            reply(result, 201)
        }
        ("/start", _) => method_not_allowed(&[Method::Post]),
        ("/questions", Method::Get) => reply(
            with_host(&req, |h| {
                let ctx = h.ctx();
                signed_in(&req, &ctx, false)?;
                register::question_pool(&ctx)
            }),
            200,
        ),
        ("/questions", Method::Put | Method::Post) => reply(
            with_host(&req, |h| {
                let ctx = h.ctx();
                let (_, s) = signed_in(&req, &ctx, true)?;
                register::set_questions(&ctx, &s, read_json(&req)?)
            }),
            200,
        ),
        ("/questions", Method::Delete) => reply(
            with_host(&req, |h| {
                let ctx = h.ctx();
                let (_, s) = signed_in(&req, &ctx, true)?;
                register::remove(&ctx, &s, "security_questions")
            }),
            200,
        ),
        ("/questions", _) => method_not_allowed(&[Method::Get, Method::Put, Method::Post, Method::Delete]),
        ("/finish", Method::Post) => reply(
            with_host(&req, |h| {
                let ctx = h.ctx();
                let (_, s) = signed_in(&req, &ctx, true)?;
                register::finish(&ctx, &s)
            }),
            200,
        ),
        ("/finish", _) => method_not_allowed(&[Method::Post]),
        (other, Method::Delete) => {
            let name = other.trim_start_matches('/');
            if !register::valid_method_segment(name) {
                return not_found();
            }
            reply(
                with_host(&req, |h| {
                    let ctx = h.ctx();
                    let (_, s) = signed_in(&req, &ctx, true)?;
                    register::remove(&ctx, &s, name)
                }),
                200,
            )
        }
        (other, _) if register::valid_method_segment(other.trim_start_matches('/')) => {
            method_not_allowed(&[Method::Delete])
        }
        _ => error(&ApiError::not_found()),
    }
}
