//! The policy: read it, and replace it whole after checking every field.

use super::ACTOR;
use crate::domain::audit;
use crate::domain::policy::Policy;
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::ctx::Ctx;
use crate::platform::request;
use serde_json::{Map, Value, json};

/// `GET /api/admin/policy`: the stored policy with every default filled in.
pub fn get_policy(ctx: &Ctx) -> Result<Policy> {
    Policy::load(ctx.store)
}

/// `GET /api/admin/policy/check`: `{notes}`, one sentence per part of the
/// stored policy that cannot take effect with this deployment's settings
/// (e.g. call methods allowed, but no `public_base_url` to call back).
pub fn check_policy(ctx: &Ctx) -> Result<Value> {
    let policy = Policy::load(ctx.store)?;
    let mut notes = Vec::new();
    let calls: Vec<&str> = policy
        .methods_allowed
        .iter()
        .filter(|m| m.kind() == crate::domain::methods::Kind::Voice)
        .map(|m| m.as_str())
        .collect();
    if !calls.is_empty() && !ctx.calls_possible() {
        notes.push(format!(
            "Call methods ({}) are allowed but not offered: \"press #\" calls need `public_base_url` (where the voice provider reaches POST /api/voice/<token>), and it is empty.",
            calls.join(", ")
        ));
    }
    Ok(json!({ "notes": notes }))
}

fn invalid_policy(problems: Vec<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidPolicy, problems.join(" ")).with_details(json!({ "problems": problems }))
}

/// Parses a whole policy: every unknown field, wrong type and out-of-range
/// value is a problem, all reported together (422 `invalid_policy`). Fields
/// left out take their defaults (this is a replace, not a merge).
pub fn parse_policy(body: &[u8]) -> Result<Policy> {
    let given: Map<String, Value> = request::parse(body)?;
    let defaults = serde_json::to_value(Policy::default()).unwrap_or_default();
    let Value::Object(default_fields) = &defaults else { return Err(ApiError::internal("policy defaults")) };
    let mut problems = Vec::new();
    for (key, value) in &given {
        let Some(default) = default_fields.get(key) else {
            problems.push(format!("Unknown field `{key}`."));
            continue;
        };
        if let (Value::Object(inner_default), Value::Object(inner)) = (default, value) {
            for k in inner.keys().filter(|k| !inner_default.contains_key(*k)) {
                problems.push(format!("Unknown field `{key}.{k}`."));
            }
        }
        // Each field on its own over the defaults, so every wrong type is named.
        let mut probe = defaults.clone();
        probe[key.as_str()] = value.clone();
        if let Err(e) = serde_json::from_value::<Policy>(probe) {
            problems.push(format!("`{key}`: {e}."));
        }
    }
    if !problems.is_empty() {
        return Err(invalid_policy(problems));
    }
    let policy: Policy =
        serde_json::from_value(Value::Object(given)).map_err(|e| invalid_policy(vec![e.to_string()]))?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(invalid_policy(problems));
    }
    Ok(policy)
}

/// `PUT /api/admin/policy`: validates and stores the whole policy.
pub fn replace_policy(ctx: &Ctx, body: &[u8]) -> Result<Policy> {
    let policy = parse_policy(body)?;
    let old = serde_json::to_value(Policy::load(ctx.store)?).unwrap_or_default();
    let new = serde_json::to_value(&policy).unwrap_or_default();
    policy.save(ctx.store)?;
    let changed: Vec<&String> = new
        .as_object()
        .map(|o| o.iter().filter(|(k, v)| old.get(k.as_str()) != Some(*v)).map(|(k, _)| k).collect())
        .unwrap_or_default();
    audit::append(ctx, "admin_policy_replaced", None, json!({ "actor": ACTOR, "changed": changed }))?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::admin::list_audit;
    use crate::testing::TestEnv;

    #[test]
    fn the_check_says_why_calls_are_not_offered() {
        let env = TestEnv::new();
        let notes = check_policy(&env.ctx()).unwrap();
        assert_eq!(notes["notes"], json!([]), "{notes}");
        let mut ctx = env.ctx();
        ctx.public_base_url.clear();
        let notes = check_policy(&ctx).unwrap()["notes"].to_string();
        assert!(notes.contains("mobile_call, office_call") && notes.contains("public_base_url"), "{notes}");
    }

    #[test]
    fn policy_replace_lists_every_problem() {
        let env = TestEnv::new();
        let ctx = env.ctx();
        let e = replace_policy(&ctx, br#"{"gates_required": 3, "questions_to_reset": 9, "lockout_threshold": "ten", "nonsense": 1, "throttles": {"code_attempts": 5, "bogus": 2}}"#).unwrap_err();
        assert_eq!((e.status(), e.error()), (422, "invalid_policy"));
        let problems =
            e.body()["problems"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect::<Vec<_>>();
        for needle in ["`nonsense`", "`throttles.bogus`", "`lockout_threshold`"] {
            assert!(problems.iter().any(|p| p.contains(needle)), "{needle} in {problems:?}");
        }
        let e = replace_policy(&ctx, br#"{"gates_required": 3, "questions_to_reset": 9, "code_lifetime_seconds": 5}"#)
            .unwrap_err();
        assert_eq!(e.body()["problems"].as_array().unwrap().len(), 4);
        assert_eq!(replace_policy(&ctx, b"[1]").unwrap_err().status(), 400);
        let p = replace_policy(&ctx, br#"{"gates_required": 2, "uniform_errors": true}"#).unwrap();
        assert_eq!(get_policy(&ctx).unwrap(), p);
        assert_eq!(p.lockout_threshold, 10, "left-out fields take their defaults");
        let events = list_audit(&ctx, "type=admin_policy_replaced").unwrap().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail["changed"], json!(["gates_required", "uniform_errors"]));
    }
}
