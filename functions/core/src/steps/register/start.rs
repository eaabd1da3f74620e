//! `POST /api/register/start`: begins proving a phone or email with a
//! `register` flow, which send-code and verify-code then drive. With anything
//! registered already, the session must be stepped up (403 `step_up_required`).

use super::*;
use crate::domain::methods::Kind;
use crate::flow::voice::calls_unavailable;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StartRequest {
    /// `authentication_phone`, `office_phone` or `alternate_email`.
    pub method: String,
    /// Phone: digits of the country code (`1`, `+44`).
    pub country_code: String,
    /// The full phone number including area code, or the email address.
    pub destination: String,
    /// Authentication phone: `text` (default) or `call`.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendWith {
    /// The `method` to give `POST /api/send-code` and `/api/verify-code`.
    pub method: MethodId,
    /// The normalised destination to give `POST /api/send-code`.
    pub destination: String,
    /// The destination masked (`+1 •••• ••12`, `j•••@contoso.com`), for the
    /// page to say where the code or the call went.
    pub hint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartResponse {
    pub flow: String,
    pub registering: Contact,
    pub send_code: SendWith,
    pub expires_in: u64,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidDestination, message.to_owned()).with_details(json!({ "field": field }))
}

/// `POST /api/register/start`: begins proving a phone or email.
pub fn start(ctx: &Ctx, s: &Session, session_key: &str, req: StartRequest) -> Result<StartResponse> {
    let contact = match req.method.trim() {
        "" => return Err(ApiError::missing_field("method")),
        m => Contact::parse(m).ok_or_else(|| {
            ApiError::bad_request(format!("Unknown method `{}`.", m.chars().take(40).collect::<String>()))
        })?,
    };
    if req.destination.trim().is_empty() {
        return Err(ApiError::missing_field("destination"));
    }
    let (phone, email, send_method) = match contact {
        Contact::AuthenticationPhone => {
            let mode = match req.mode.trim() {
                "" | "text" => PhoneMode::Text,
                "call" => PhoneMode::Call,
                _ => return Err(ApiError::bad_request("mode is `text` or `call`.")),
            };
            let m = if mode == PhoneMode::Call { MethodId::MobileCall } else { MethodId::MobileText };
            (Some(parse_phone(&req, mode)?), None, m)
        }
        Contact::OfficePhone => {
            if !matches!(req.mode.trim(), "" | "call") {
                return Err(ApiError::bad_request("An office phone is called, not texted: mode is `call`."));
            }
            (Some(parse_phone(&req, PhoneMode::Call)?), None, MethodId::OfficeCall)
        }
        Contact::AlternateEmail => {
            let e = email::normalise(&req.destination)
                .ok_or_else(|| invalid("destination", "Enter a valid email address."))?;
            (None, Some(e), MethodId::Email)
        }
        Contact::SecurityQuestions => {
            return Err(ApiError::bad_request("Security questions are registered with PUT /api/register/questions."));
        }
    };
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    if !contact.allowed(&policy, &user) || !policy.methods_allowed.contains(&send_method) {
        return Err(ApiError::method_unavailable());
    }
    // A phone registered by call is proven by a "press #" call, which needs the callback address.
    if send_method.kind() == Kind::Voice && !ctx.calls_possible() {
        return Err(calls_unavailable());
    }
    // Told now, before a code goes out; verify-code decides again when it saves.
    step_up::require(ctx, &policy, s, &user)?;
    let registration = Registration { contact, phone, email, session_key: session_key.to_owned() };
    let (destination, hint) = (registration.destination(), registration.hint());
    let mut f = flow::new(ctx, Purpose::Register, &user.id, 1, vec![send_method], policy.flow_lifetime_seconds);
    f.registration = Some(registration);
    let detail = json!({ "purpose": "register", "method": contact.as_str() });
    audit::append_with(ctx, "flow_started", Some(&user.id), detail, vec![flow::record(ctx, &f)?])?;
    Ok(StartResponse {
        flow: f.id,
        registering: contact,
        send_code: SendWith { method: send_method, destination, hint },
        expires_in: policy.flow_lifetime_seconds,
    })
}

/// The one phone rule (`domain::phone::parse`), as a 422 naming the field.
fn parse_phone(req: &StartRequest, mode: PhoneMode) -> Result<Phone> {
    phone::parse(&req.country_code, &req.destination, mode).map_err(|problem| {
        let field = if problem.in_country_code() { "country_code" } else { "destination" };
        invalid(field, problem.message())
    })
}
