//! The `register` step, for a signed-in user (session cookie; every write also
//! needs the session's CSRF token in `x-csrf-token`):
//!
//! - `GET /api/register` — what is registered (masked) and what the policy needs
//! - `POST /api/register/start` — `{method, country_code?, destination, mode?}` → a register
//!   flow; then `POST /api/send-code` and `POST /api/verify-code` save the contact
//! - `POST /api/register/verify` — a step-up: a `step_up` flow offering the user's existing
//!   methods; send-code and verify-code with it mark this session stepped up for 10 minutes.
//!   Once anything is registered, every change below needs it (403 `step_up_required`)
//! - `GET /api/register/questions` — the question pool
//! - `PUT|POST /api/register/questions` — `{questions:[{id|question, answer}]}`
//! - `DELETE /api/register/<method>` — remove a method (never below the required number)
//! - `POST /api/register/finish` — `{complete, missing, ...}`

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use unlatch_core::register::{self, Endpoint};
use unlatch_core::session::{self, Session};
use unlatch_core::{ApiError, Ctx};
use unlatch_web::{Capped, read_json, reply, routed, session_cookie, with_host};

/// The live session behind the request's cookie, with its id; for writes also
/// the CSRF token bound to it.
fn signed_in(req: &Request, ctx: &Ctx, write: bool) -> Result<(String, Session), ApiError> {
    let id = session_cookie(req);
    let s = session::load(ctx, id.as_deref())?;
    let id = id.unwrap_or_default();
    if write {
        let token = req.header(session::CSRF_HEADER).and_then(|v| v.as_str());
        session::check_csrf(ctx, &id, token)?;
    }
    Ok((id, s))
}

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(register::route(&req.method().to_string(), req.path()), |endpoint| {
        let status = if matches!(endpoint, Endpoint::Start | Endpoint::StepUp) { 201 } else { 200 };
        let result = with_host(&req, |h| {
            let ctx = h.ctx();
            let write = !matches!(endpoint, Endpoint::Status | Endpoint::QuestionPool);
            let (id, s) = signed_in(&req, &ctx, write)?;
            let value = match endpoint {
                Endpoint::Status => serde_json::to_value(register::status(&ctx, &s)?),
                Endpoint::Start => {
                    let body = read_json(&req)?;
                    serde_json::to_value(register::start(&ctx, &s, &session::storage_key(&id), body)?)
                }
                Endpoint::StepUp => serde_json::to_value(register::verify(&ctx, &s, &session::storage_key(&id))?),
                Endpoint::QuestionPool => serde_json::to_value(register::question_pool(&ctx)?),
                Endpoint::SetQuestions => {
                    let body = read_json(&req)?;
                    serde_json::to_value(register::set_questions(&ctx, h.notifier()?.as_ref(), &s, body)?)
                }
                Endpoint::Finish => serde_json::to_value(register::finish(&ctx, &s)?),
                Endpoint::Remove(method) => {
                    serde_json::to_value(register::remove(&ctx, h.notifier()?.as_ref(), &s, &method)?)
                }
            };
            value.map_err(|_| ApiError::internal("Could not encode the response."))
        });
        reply(result, status)
    })
}
