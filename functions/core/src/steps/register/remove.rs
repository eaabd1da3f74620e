//! `DELETE /api/register/<method>`: removes a method, never below the number
//! the policy requires, and only after a step-up of the session (there is
//! always something registered to remove).

use super::*;

/// `DELETE /api/register/<method>`: never below the required number of methods.
pub fn remove(ctx: &Ctx, notifier: &dyn Notifier, s: &Session, method: &str) -> Result<Status> {
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
    step_up::require(ctx, &policy, s, &user)?;
    // Decided inside the compare-and-swap, so two removals at once cannot both pass.
    let after = step_up::change(ctx, notifier, &policy, s, &user.id, contact, |next| {
        match contact {
            Contact::AuthenticationPhone => next.contacts.authentication_phone = None,
            Contact::OfficePhone => next.contacts.office_phone = None,
            Contact::AlternateEmail => next.contacts.alternate_email = None,
            Contact::SecurityQuestions => next.security_answers.clear(),
        }
        let need = next.gates_required(&policy);
        if registered(&policy, next).len() >= need as usize {
            return Ok(());
        }
        Err(ApiError::new(
            ErrorCode::BelowRequired,
            format!("At least {need} methods must stay registered; add another method before removing this one."),
        )
        .with_details(json!({ "required": need })))
    })?;
    Ok(status_of(ctx, &policy, &after, s))
}
