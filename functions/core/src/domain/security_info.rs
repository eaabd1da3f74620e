//! A user's security info (Entra's word for the methods registered for
//! password reset): which contacts count under the policy, whether the
//! registration is complete, when it is due to be reconfirmed, whether a
//! change needs a step-up, and the audit and notices every change gets.

use crate::domain::audit;
use crate::domain::mask;
use crate::domain::methods::MethodId;
use crate::domain::notify::{Channel, Message, Notifier};
use crate::domain::policy::Policy;
use crate::domain::users::User;
use crate::errors::Result;
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A contact a user registers, in Entra's guide's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contact {
    AuthenticationPhone,
    OfficePhone,
    AlternateEmail,
    SecurityQuestions,
}

impl Contact {
    pub const ALL: [Contact; 4] =
        [Contact::AuthenticationPhone, Contact::OfficePhone, Contact::AlternateEmail, Contact::SecurityQuestions];

    pub fn as_str(self) -> &'static str {
        match self {
            Contact::AuthenticationPhone => "authentication_phone",
            Contact::OfficePhone => "office_phone",
            Contact::AlternateEmail => "alternate_email",
            Contact::SecurityQuestions => "security_questions",
        }
    }

    pub fn parse(s: &str) -> Option<Contact> {
        Contact::ALL.into_iter().find(|c| c.as_str() == s.trim())
    }

    /// Whether the policy lets this contact be used at reset time at all.
    pub fn allowed(self, policy: &Policy, user: &User) -> bool {
        let a = |m| policy.methods_allowed.contains(&m);
        match self {
            Contact::AuthenticationPhone => a(MethodId::MobileText) || a(MethodId::MobileCall),
            Contact::OfficePhone => a(MethodId::OfficeCall),
            Contact::AlternateEmail => a(MethodId::Email),
            // Admins may not use questions (as in Entra).
            Contact::SecurityQuestions => a(MethodId::Questions) && !user.is_admin(),
        }
    }

    /// Whether `user` holds this contact's own field: what a registration adds,
    /// replaces or removes (an admin-set mobile phone or authentication email aside).
    pub fn held(self, user: &User) -> bool {
        let c = &user.contacts;
        match self {
            Contact::AuthenticationPhone => c.authentication_phone.is_some(),
            Contact::OfficePhone => c.office_phone.is_some(),
            Contact::AlternateEmail => c.alternate_email.is_some(),
            Contact::SecurityQuestions => !user.security_answers.is_empty(),
        }
    }

    /// This contact's field of `user` for the audit, never in plain: the masked
    /// phone or email, the question ids for questions, `null` when not held.
    pub fn masked(self, user: &User) -> Value {
        let c = &user.contacts;
        match self {
            Contact::AuthenticationPhone => json!(c.authentication_phone.as_ref().map(mask::phone)),
            Contact::OfficePhone => json!(c.office_phone.as_ref().map(mask::phone)),
            Contact::AlternateEmail => json!(c.alternate_email.as_deref().map(mask::email)),
            Contact::SecurityQuestions if user.security_answers.is_empty() => Value::Null,
            Contact::SecurityQuestions => {
                json!(user.security_answers.iter().map(|a| &a.question_id).collect::<Vec<_>>())
            }
        }
    }

    /// The contact in words, for notices.
    pub fn name(self) -> &'static str {
        match self {
            Contact::AuthenticationPhone => "authentication phone",
            Contact::OfficePhone => "office phone",
            Contact::AlternateEmail => "alternate email",
            Contact::SecurityQuestions => "security questions",
        }
    }

    /// Whether the user has this contact registered (counting what an admin set).
    pub fn registered(self, policy: &Policy, user: &User) -> bool {
        let c = &user.contacts;
        match self {
            Contact::AuthenticationPhone => !c.mobiles().is_empty(),
            Contact::OfficePhone => c.office_phone.is_some(),
            Contact::AlternateEmail => !c.emails().is_empty(),
            Contact::SecurityQuestions => user.security_answers.len() >= policy.questions_to_register as usize,
        }
    }
}

/// Registered contacts usable for reset under the policy.
pub fn registered(policy: &Policy, user: &User) -> Vec<Contact> {
    Contact::ALL.into_iter().filter(|c| c.allowed(policy, user) && c.registered(policy, user)).collect()
}

/// Whether changing `user`'s security info needs a step-up (a fresh proof with
/// an existing method): yes once anything counts as registered, admin-set
/// contacts included; the first registration needs only the signed-in session.
pub fn step_up_needed(policy: &Policy, user: &User) -> bool {
    !registered(policy, user).is_empty()
}

/// Every email and phone `user` can be reached at, once each: who hears of a
/// change of security info (office phones by a call, other phones by text).
pub fn notice_contacts(user: &User) -> Vec<(Channel, String)> {
    let c = &user.contacts;
    let mut to: Vec<(Channel, String)> = Vec::new();
    let emails = c.emails().into_iter().map(|e| (Channel::Email, e.trim().to_lowercase()));
    let mobiles = c.mobiles().into_iter().map(|p| (Channel::Sms, p.e164()));
    let office = c.office_phone.iter().map(|p| (Channel::Voice, p.e164()));
    for (channel, address) in emails.chain(mobiles).chain(office) {
        if !address.is_empty() && !to.iter().any(|(ch, a)| *ch == channel && *a == address) {
            to.push((channel, address));
        }
    }
    to
}

/// Records one change of `contact`: the `registration_changed` audit event
/// with the old and new values masked, and a notice to every contact `before`
/// had (the ones an intruder would want to keep unaware). A notice that cannot
/// be delivered does not undo the change; it is audited as `notify_failed`.
pub fn record_change(ctx: &Ctx, notifier: &dyn Notifier, before: &User, after: &User, contact: Contact) -> Result<()> {
    let action = match (contact.held(before), contact.held(after)) {
        (false, _) => "added",
        (true, true) => "replaced",
        (true, false) => "removed",
    };
    let recipients = notice_contacts(before);
    audit::append(
        ctx,
        "registration_changed",
        Some(&after.id),
        json!({
            "method": contact.as_str(),
            "action": action,
            "from": contact.masked(before),
            "to": contact.masked(after),
            "notified": recipients.len(),
        }),
    )?;
    let verb = match action {
        "added" => "added",
        "removed" => "removed",
        _ => "changed",
    };
    let what = match contact {
        Contact::SecurityQuestions => format!("the security questions of your account {} were {verb}", before.username),
        other => format!("the {} of your account {} was {verb}", other.name(), before.username),
    };
    let organisation = crate::domain::policy::Policy::load(ctx.store)?.organisation_name;
    let (email_subject, body) = crate::domain::templates::notice(
        crate::domain::templates::Notice::SecurityInfoChanged(&what),
        &organisation,
        &before.username,
    );
    for (channel, to) in recipients {
        let subject = if channel == Channel::Email { email_subject.clone() } else { String::new() };
        let msg = Message { channel, to, subject, body: body.clone() };
        if let Err(e) = notifier.send(&msg) {
            audit::append(ctx, "notify_failed", Some(&after.id), e.audit_detail(json!({ "channel": channel })))?;
        }
    }
    Ok(())
}

/// Whether the user has registered the number of methods the policy requires.
pub fn is_complete(policy: &Policy, user: &User) -> bool {
    registered(policy, user).len() >= user.gates_required(policy) as usize
}

/// Whether the registration is older than the policy's reconfirm period (0 = never).
pub fn reconfirm_due(policy: &Policy, user: &User, now: u64) -> bool {
    policy.reconfirm_days > 0
        && user.registered_at.is_some_and(|at| now.saturating_sub(at) >= policy.reconfirm_days as u64 * 86400)
}
