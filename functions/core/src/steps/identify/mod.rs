//! "Who are you?": the CAPTCHA challenge, then account id + solution + purpose
//! → a new flow and the methods the user may prove with. Also the public part
//! of the policy the pages read before the journey starts.

pub mod contact_admin;

use crate::domain::audit;
use crate::domain::captcha::{self, Challenge, Solution};
use crate::domain::mask;
use crate::domain::methods::MethodId;
use crate::domain::policy::Policy;
use crate::domain::throttle;
use crate::domain::users;
use crate::errors::{ApiError, Result};
use crate::flow::{self, Purpose};
use crate::platform::ctx::Ctx;
use crate::platform::route::{self, Routed};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `POST /api/identify` body. Fields default so that a missing one gets a
/// clear `missing_field` rather than a parse error.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentifyRequest {
    pub username: String,
    pub captcha: Option<Solution>,
    /// `reset` (default) or `unlock`.
    pub purpose: String,
}

pub use crate::domain::methods::MethodOption;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdentifyResponse {
    pub flow: String,
    pub purpose: Purpose,
    pub gates_required: u8,
    pub methods: Vec<MethodOption>,
    /// Seconds the flow stays valid.
    pub expires_in: u64,
}

/// `GET /api/identify/challenge`. The per-address identify throttle is
/// counted here: each challenge is good for one identify (single use), so
/// this bounds identify too, and identify itself takes one atomic write fewer.
pub fn challenge(ctx: &Ctx) -> Result<Challenge> {
    let policy = Policy::load(ctx.store)?;
    let addr = if ctx.client_addr.is_empty() { "unknown" } else { ctx.client_addr.as_str() };
    throttle::hit(ctx, "identify", addr, policy.throttles.identify_per_minute, 60)?;
    Ok(captcha::issue(ctx, &policy))
}

/// `GET /api/policy/public`: the few policy values the pages show before the
/// server checks them (live password feedback, how long a code and an attempt
/// last). Unauthenticated, so nothing else of the policy: no throttles, banned
/// terms, helpdesk contact or CAPTCHA settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicPolicy {
    pub password_min_length: u32,
    pub password_max_length: u32,
    pub code_lifetime_seconds: u64,
    pub flow_lifetime_seconds: u64,
}

/// `GET /api/policy/public`.
pub fn public_policy(ctx: &Ctx) -> Result<PublicPolicy> {
    let policy = Policy::load(ctx.store)?;
    Ok(PublicPolicy {
        password_min_length: policy.password.min_length,
        password_max_length: policy.password.max_length,
        code_lifetime_seconds: policy.code_lifetime_seconds,
        flow_lifetime_seconds: policy.flow_lifetime_seconds,
    })
}

/// `POST /api/identify`.
pub fn identify(ctx: &Ctx, req: IdentifyRequest) -> Result<IdentifyResponse> {
    let purpose = match req.purpose.trim() {
        "" | "reset" => Purpose::Reset,
        "unlock" => Purpose::Unlock,
        other => return Err(ApiError::bad_request(format!("Unknown purpose `{other}`; use `reset` or `unlock`."))),
    };
    let username = req.username.trim();
    if username.is_empty() {
        return Err(ApiError::missing_field("username"));
    }
    if username.len() > 256 {
        return Err(ApiError::bad_request("The account id is too long."));
    }
    let Some(solution) = req.captcha.as_ref() else { return Err(ApiError::missing_field("captcha")) };
    let policy = Policy::load(ctx.store)?;
    // The per-address throttle was counted when the challenge was issued.
    captcha::verify(ctx, solution)?;

    let uniform = |e: ApiError| if policy.uniform_errors { ApiError::not_registered() } else { e };
    let Some(user) = users::find_by_username(ctx.store, username)? else {
        // Same reads as a known account (index + record), so "Who are you?" answers alike.
        ctx.store.get("user:00000000000000000000000000000000")?;
        return Err(ApiError::not_registered());
    };
    user.self_service_allowed(&policy).map_err(uniform)?;
    let mut methods = user.available_methods(&policy);
    // "Press #" calls need a callback address (`public_base_url`).
    if !ctx.calls_possible() {
        methods.retain(|m| m.kind() != crate::domain::methods::Kind::Voice);
    }
    let gates_required = user.gates_required(&policy);
    if MethodId::distinct_factors(&methods) < gates_required as usize {
        return Err(ApiError::not_registered());
    }
    if purpose == Purpose::Unlock && !user.is_locked(ctx.now()) {
        return Err(ApiError::not_locked());
    }
    throttle::check_blocked(ctx, &user.id)?;

    let flow = flow::new(ctx, purpose, &user.id, gates_required, methods.clone(), policy.flow_lifetime_seconds);
    // The flow is written with its audit event, in one `set-many`.
    let detail = json!({ "purpose": purpose.as_str() });
    audit::append_with(ctx, "flow_started", Some(&user.id), detail, vec![flow::record(ctx, &flow)?])?;
    Ok(IdentifyResponse {
        flow: flow.id,
        purpose,
        gates_required,
        methods: methods.into_iter().map(|m| MethodOption::new(m, mask::method_hint(&user, m))).collect(),
        expires_in: policy.flow_lifetime_seconds,
    })
}

/// The component's routes (`platform::route`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Challenge,
    Identify,
    ContactAdmin,
    PublicPolicy,
}

pub fn route(method: &str, path: &str) -> Routed<Endpoint> {
    match route::trim(path) {
        "/api/identify/challenge" => route::pick(method, &[("GET", Endpoint::Challenge)]),
        "/api/identify" => route::pick(method, &[("POST", Endpoint::Identify)]),
        "/api/contact-admin" => route::pick(method, &[("POST", Endpoint::ContactAdmin)]),
        "/api/policy/public" => route::pick(method, &[("GET", Endpoint::PublicPolicy)]),
        _ => Routed::NotFound,
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn captcha_solutions_may_be_numbers_or_digit_strings() {
        use crate::platform::request::parse;
        let a: IdentifyRequest = parse(br#"{"username":"u","captcha":{"challenge":"c","solution":42}}"#).unwrap();
        let b: IdentifyRequest = parse(br#"{"username":"u","captcha":{"challenge":"c","solution":"42"}}"#).unwrap();
        assert_eq!(a.captcha.unwrap().solution, 42);
        assert_eq!(b.captcha.unwrap().solution, 42);
        assert!(parse::<IdentifyRequest>(br#"{"captcha":{"challenge":"c","solution":"x"}}"#).is_err());
    }
    use super::*;
    use crate::domain::users::{NewUser, Role};
    use crate::testing::{easy_env, solved, start};
    use captcha::Solution;

    #[test]
    fn a_registered_user_gets_a_flow_and_masked_methods() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let r = start(&env, "JANE@contoso.com", "").unwrap();
        assert_eq!(r.purpose, Purpose::Reset);
        assert_eq!(r.gates_required, 1);
        assert_eq!(r.flow.len(), 32);
        let body = serde_json::to_value(&r).unwrap();
        assert_eq!(
            body["methods"][0],
            json!({ "id": "email", "kind": "email", "hint": "j•••@fabrikam.com", "label": "Email my alternate email" })
        );
        assert_eq!(body["methods"][1]["hint"], "+1 •••• ••12");
        assert_eq!(body["methods"][2]["kind"], "voice");
        assert_eq!(body["methods"][3]["hint"], "+1 •••• ••99");
        assert_eq!(body["methods"][4]["id"], "questions");
        assert!(!body.to_string().contains("555"), "no full number leaks");
    }

    #[test]
    fn captcha_is_required_checked_and_single_use() {
        let env = easy_env();
        env.user_with_everything("jane@contoso.com");
        let ctx = env.ctx();
        let r = identify(
            &ctx,
            IdentifyRequest { username: "jane@contoso.com".into(), captcha: None, purpose: "reset".into() },
        );
        assert_eq!(r.unwrap_err().error(), "missing_field");
        let s = solved(&ctx);
        identify(
            &ctx,
            IdentifyRequest { username: "jane@contoso.com".into(), captcha: Some(s.clone()), purpose: "reset".into() },
        )
        .unwrap();
        let replay = identify(
            &ctx,
            IdentifyRequest { username: "jane@contoso.com".into(), captcha: Some(s), purpose: "reset".into() },
        );
        assert_eq!(replay.unwrap_err().error(), "captcha_invalid");
    }

    #[test]
    fn the_seeds_error_cases() {
        let env = easy_env();
        let ctx = env.ctx();
        let mk = |name: &str, change: &dyn Fn(&mut NewUser)| {
            let mut n = NewUser { username: name.into(), password: "Pw-123456789".into(), ..Default::default() };
            n.contacts.alternate_email = Some("x@fabrikam.com".into());
            change(&mut n);
            users::create(&ctx, n).unwrap()
        };
        mk("federated", &|n| n.password_managed_here = Some(false));
        mk("off", &|n| n.sspr_enabled = Some(false));
        mk("bare", &|n| n.contacts.alternate_email = None);
        mk("boss", &|n| n.role = Role::Admin);
        mk("phone-boss", &|n| {
            n.role = Role::Admin;
            n.contacts.alternate_email = None;
            n.contacts.mobile_phone = Some(crate::domain::phone::Phone::new("1", "425 555 0112"));
        });
        let unknown = start(&env, "nobody@contoso.com", "reset").unwrap_err();
        assert_eq!((unknown.status(), unknown.error()), (403, "not_registered"));
        assert_eq!(unknown.message, crate::errors::NOT_REGISTERED_TEXT);
        let bare = start(&env, "bare", "reset").unwrap_err();
        assert_eq!(unknown.body(), bare.body(), "unknown and unregistered are indistinguishable");
        assert_eq!(start(&env, "federated", "reset").unwrap_err().error(), "contact_admin");
        assert_eq!(start(&env, "off", "reset").unwrap_err().error(), "not_enabled");
        assert_eq!(start(&env, "boss", "reset").unwrap_err().error(), "not_registered", "an admin needs two methods");
        assert_eq!(
            start(&env, "phone-boss", "reset").unwrap_err().error(),
            "not_registered",
            "text + call of one phone is one method"
        );
        env.save_policy(|p| p.sspr_enabled = crate::domain::policy::SsprScope::None);
        assert_eq!(start(&env, "boss", "reset").unwrap_err().error(), "not_enabled");
        env.save_policy(|p| p.sspr_enabled = crate::domain::policy::SsprScope::All);
        assert!(start(&env, "off", "reset").is_ok(), "scope all ignores the per-user flag");
        env.save_policy(|p| p.uniform_errors = true);
        for name in ["federated", "bare", "nobody"] {
            assert_eq!(start(&env, name, "reset").unwrap_err().body(), unknown.body(), "{name}");
        }
        env.save_policy(|p| p.sspr_enabled = crate::domain::policy::SsprScope::None);
        assert_eq!(start(&env, "off", "reset").unwrap_err().body(), unknown.body());
    }

    #[test]
    fn unlock_needs_a_locked_account_and_bad_input_is_a_400() {
        let env = easy_env();
        let u = env.user_with_everything("jane@contoso.com");
        let e = start(&env, "jane@contoso.com", "unlock").unwrap_err();
        assert_eq!((e.status(), e.error()), (409, "not_locked"));
        users::lock(&*env.store, &u.id, None).unwrap();
        assert_eq!(start(&env, "jane@contoso.com", "unlock").unwrap().purpose, Purpose::Unlock);
        assert_eq!(start(&env, "jane@contoso.com", "register").unwrap_err().status(), 400);
        assert_eq!(start(&env, " ", "reset").unwrap_err().error(), "missing_field");
        assert_eq!(start(&env, &"x".repeat(300), "reset").unwrap_err().status(), 400);
    }

    #[test]
    fn the_public_policy_is_the_stored_policy_and_nothing_more() {
        let env = easy_env();
        let defaults = public_policy(&env.ctx()).unwrap();
        assert_eq!(
            serde_json::to_value(&defaults).unwrap(),
            json!({
                "password_min_length": 8,
                "password_max_length": 256,
                "code_lifetime_seconds": 300,
                "flow_lifetime_seconds": 900,
            }),
            "Entra's defaults, and only these four fields"
        );
        env.save_policy(|p| {
            p.password.min_length = 12;
            p.password.max_length = 64;
            p.code_lifetime_seconds = 120;
            p.flow_lifetime_seconds = 600;
            p.password.banned_terms = vec!["contoso".into()];
            p.helpdesk_contact = "helpdesk@contoso.com".into();
        });
        let saved = public_policy(&env.ctx()).unwrap();
        assert_eq!(
            saved,
            PublicPolicy {
                password_min_length: 12,
                password_max_length: 64,
                code_lifetime_seconds: 120,
                flow_lifetime_seconds: 600,
            }
        );
        let text = serde_json::to_string(&saved).unwrap();
        assert!(!text.contains("contoso"), "no banned term or helpdesk contact leaks: {text}");
    }

    #[test]
    fn identify_is_rate_limited_per_client_address_through_its_challenges() {
        let env = easy_env();
        env.save_policy(|p| p.throttles.identify_per_minute = 3);
        let ctx = env.ctx();
        let solutions: Vec<Solution> = (0..3).map(|_| solved(&ctx)).collect();
        let e = challenge(&ctx).unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"), "a fourth challenge in the minute");
        assert!(e.retry_after.unwrap() <= 60);
        // Each challenge is good for one identify: three, however they are spent.
        let ask = |captcha: &Solution| {
            let req =
                IdentifyRequest { username: "nobody".into(), captcha: Some(captcha.clone()), purpose: String::new() };
            identify(&ctx, req).unwrap_err().error()
        };
        for s in &solutions {
            assert_eq!(ask(s), "not_registered");
            assert_eq!(ask(s), "captcha_invalid", "no second identify on one challenge");
        }
        let mut other = env.ctx();
        other.client_addr = "198.51.100.1".into();
        let captcha = Some(solved(&other));
        let r = identify(&other, IdentifyRequest { username: "nobody".into(), captcha, purpose: String::new() });
        assert_eq!(r.unwrap_err().error(), "not_registered", "another address has its own budget");
        env.clock.advance(60);
        challenge(&ctx).unwrap();
    }
}
