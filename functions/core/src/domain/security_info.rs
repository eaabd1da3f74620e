//! A user's security info (Entra's word for the methods registered for
//! password reset): which contacts count under the policy, whether the
//! registration is complete, and when it is due to be reconfirmed.

use crate::domain::methods::MethodId;
use crate::domain::policy::Policy;
use crate::domain::users::User;
use serde::{Deserialize, Serialize};

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

/// Whether the user has registered the number of methods the policy requires.
pub fn is_complete(policy: &Policy, user: &User) -> bool {
    registered(policy, user).len() >= user.gates_required(policy) as usize
}

/// Whether the registration is older than the policy's reconfirm period (0 = never).
pub fn reconfirm_due(policy: &Policy, user: &User, now: u64) -> bool {
    policy.reconfirm_days > 0
        && user.registered_at.is_some_and(|at| now.saturating_sub(at) >= policy.reconfirm_days as u64 * 86400)
}
