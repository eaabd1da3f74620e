//! `DELETE /api/register/<method>`: removes a method, never below the number
//! the policy requires.

use super::*;

/// `DELETE /api/register/<method>`: never below the required number of methods.
pub fn remove(ctx: &Ctx, s: &Session, method: &str) -> Result<Status> {
    let contact = Contact::parse(method).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("No method `{}`.", method.chars().take(40).collect::<String>()))
    })?;
    let policy = Policy::load(ctx.store)?;
    let user = signed_in_user(ctx, s)?;
    let has = match contact {
        Contact::AuthenticationPhone => user.contacts.authentication_phone.is_some(),
        Contact::OfficePhone => user.contacts.office_phone.is_some(),
        Contact::AlternateEmail => user.contacts.alternate_email.is_some(),
        Contact::SecurityQuestions => !user.security_answers.is_empty(),
    };
    if !has {
        return Err(ApiError::new(ErrorCode::MethodNotRegistered, "This method is not registered."));
    }
    // Decided inside the compare-and-swap, so two removals at once cannot both pass.
    let refused = Cell::new(false);
    let after = users::update(ctx.store, &user.id, |u| {
        let mut next = u.clone();
        match contact {
            Contact::AuthenticationPhone => next.contacts.authentication_phone = None,
            Contact::OfficePhone => next.contacts.office_phone = None,
            Contact::AlternateEmail => next.contacts.alternate_email = None,
            Contact::SecurityQuestions => next.security_answers.clear(),
        }
        let ok = registered(&policy, &next).len() >= next.gates_required(&policy) as usize;
        refused.set(!ok);
        if ok {
            *u = next;
        }
    })?;
    if refused.get() {
        let need = after.gates_required(&policy);
        return Err(ApiError::new(
            ErrorCode::BelowRequired,
            format!("At least {need} methods must stay registered; add another method before removing this one."),
        )
        .with_details(json!({ "required": need })));
    }
    audit::append(
        ctx,
        "registration_changed",
        Some(&user.id),
        json!({ "method": contact.as_str(), "action": "removed" }),
    )?;
    Ok(status_of(ctx, &policy, &after))
}
