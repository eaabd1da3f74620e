//! `POST /api/verify-code`: prove a gate with the code that was sent, or with
//! the answers to the drawn security questions, or poll a "press #" call (no
//! code: 202 `pending`, 200 once passed, 410 `call_failed`). A registration
//! that changes security info tells the user's previous contacts through the
//! notifier. `POST /api/voice/<token>`: a call's callback, the key pressed.

use spin_sdk::http::Request;
use spin_sdk::http::Response;
use spin_sdk::http_component;
use unlatch_core::domain::delivery::{self, Provider, voice};
use unlatch_core::verify_code::{self, Endpoint};
use unlatch_core::{Clock, SystemClock};
use unlatch_web::{Capped, MAX_BODY, read_body, read_json, reply, routed, with_host};

#[http_component]
fn handle(Capped(req): Capped) -> Response {
    routed(verify_code::route(&req.method().to_string(), req.path()), |endpoint| match endpoint {
        Endpoint::Verify => {
            let verified = read_json(&req).and_then(|body| {
                with_host(&req, |host| verify_code::verify_or_poll(&host.ctx(), host.notifier()?.as_ref(), body))
            });
            match verified {
                Ok(Some(response)) => unlatch_web::json(200, &response),
                Ok(None) => unlatch_web::json(202, &serde_json::json!({ "status": "pending" })),
                Err(e) => unlatch_web::error(&e),
            }
        }
        // Authenticated the voice provider's way (Twilio's X-Twilio-Signature,
        // the webhook's Standard Webhooks signature; the dev path, unsigned, only
        // in dev_mode): a forged or missing signature is 403.
        Endpoint::Voice(token) => voice_callback(&req, &token),
        // The outbox does not exist outside dev mode.
        Endpoint::DevPress(_) if !unlatch_web::dev_mode() => unlatch_web::not_found(),
        Endpoint::DevPress(seq) => {
            let digit = read_json::<serde_json::Value>(&req)
                .map(|body| body.get("digit").and_then(|d| d.as_str()).map(str::to_owned));
            let outcome = digit.and_then(|digit| {
                with_host(&req, |host| {
                    verify_code::dev_press(&host.ctx(), host.notifier()?.as_ref(), seq, digit.as_deref())
                })
            });
            reply(outcome, 200)
        }
    })
}

fn voice_callback(req: &Request, token: &str) -> Response {
    let config = delivery::Config::from_variables(&|name| unlatch_web::variable(name).unwrap_or_default());
    let twilio = matches!(config.as_ref().map(|c| &c.voice), Ok(Provider::Twilio(_)));
    let outcome = config.and_then(|config| {
        let body = read_body(req, &["application/x-www-form-urlencoded", "application/json"], MAX_BODY)?;
        with_host(req, |host| {
            let query = req.query();
            let url =
                format!("{}{}{}{query}", host.public_base_url, req.path(), if query.is_empty() { "" } else { "?" });
            let header = |name: &str| req.header(name).and_then(|v| v.as_str()).map(str::to_owned);
            let cb = voice::Callback { url: &url, header: &header, body, now: SystemClock.now() };
            let digits = voice::authenticate(&config.voice, unlatch_web::dev_mode(), &cb)?;
            verify_code::callback(&host.ctx(), host.notifier()?.as_ref(), token, digits.as_deref())
        })
    });
    match outcome {
        // Twilio reads TwiML back: a last word, then it hangs up.
        Ok(o) if twilio => Response::builder()
            .status(200)
            .header("content-type", "text/xml")
            .header("cache-control", "no-store")
            .body(voice::twiml_outcome(o.passed))
            .build(),
        other => reply(other, 200),
    }
}
