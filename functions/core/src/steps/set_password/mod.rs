//! `POST /api/set-password`: the last step of a reset (`{flow, new_password}`,
//! after every gate) or a change (`{username, old_password, new_password,
//! confirm_password?}`). The body's shape picks the branch.

pub mod change;
pub mod reset;

use crate::domain::notify::Notifier;
use crate::errors::Result;
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
use serde::{Deserialize, Serialize};

/// The two bodies the route takes. Each branch refuses the other's fields, so
/// a body is one or the other: an empty object is a reset missing its flow.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SetPasswordRequest {
    Reset(reset::ResetRequest),
    Change(change::ChangeRequest),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum SetPasswordResponse {
    Reset(reset::ResetResponse),
    Change(change::ChangeResponse),
}

/// `POST /api/set-password`.
pub fn set_password(ctx: &Ctx, notifier: &dyn Notifier, req: SetPasswordRequest) -> Result<SetPasswordResponse> {
    match req {
        SetPasswordRequest::Reset(req) => reset::reset(ctx, notifier, req).map(SetPasswordResponse::Reset),
        SetPasswordRequest::Change(req) => change::change(ctx, notifier, req).map(SetPasswordResponse::Change),
    }
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    SetPassword,
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    route::single(method, path, "/api/set-password", "POST", Endpoint::SetPassword)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::request::parse;

    #[test]
    fn the_body_shape_picks_the_branch() {
        let reset: SetPasswordRequest = parse(br#"{"flow": "f", "new_password": "p"}"#).unwrap();
        assert!(matches!(reset, SetPasswordRequest::Reset(r) if r.flow == "f"));
        let change: SetPasswordRequest =
            parse(br#"{"username": "u", "old_password": "o", "new_password": "n", "confirm_password": "n"}"#).unwrap();
        assert!(matches!(change, SetPasswordRequest::Change(c) if c.username == "u"));
        // An empty body is a reset that names no flow (the step says `missing_field`).
        assert!(matches!(parse::<SetPasswordRequest>(b"{}").unwrap(), SetPasswordRequest::Reset(_)));
        // Both shapes at once, or a wrong type, is neither.
        assert_eq!(parse::<SetPasswordRequest>(br#"{"flow": "f", "username": "u"}"#).unwrap_err().status(), 400);
        assert_eq!(parse::<SetPasswordRequest>(br#"{"flow": 7}"#).unwrap_err().status(), 400);
    }
}
