//! "Contact an administrator": a user stuck at one of Entra's guide's error pages
//! (or anywhere in a journey) asks the organisation's admins for help.
//!
//! The answer never tells whether the account exists: a known user's request
//! reaches the helpdesk address or the admins; an unknown one is counted and
//! answered alike but sends nothing (that would make the form a spam relay).
//!
//! The user's note reaches the admins through a trusted channel, so it is
//! held to plain text (at most 500 characters, no control or invisible
//! formatting characters: 400 otherwise) and its links are defused
//! (`https[:]//evil[.]example`), so no mail client makes them clickable.

use crate::domain::audit;
use crate::domain::notify::{Channel, Message, Notifier};
use crate::domain::policy::Policy;
use crate::domain::throttle;
use crate::domain::users;
use crate::errors::{ApiError, ErrorCode, Result};
use crate::flow;
use crate::platform::ctx::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Requests per client address per hour, and per account id per hour.
const PER_ADDRESS_PER_HOUR: u32 = 5;
const PER_ACCOUNT_PER_HOUR: u32 = 3;
/// The user's own words are kept short and printable.
const MAX_NOTE: usize = 500;

/// Characters that are not control characters but change how text displays
/// while showing nothing: zero-width and joiner characters, bidirectional
/// marks, embeddings, overrides and isolates, the byte-order mark, the soft hyphen.
fn invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// 400 unless the note is plain text: at most [`MAX_NOTE`] characters, no
/// control characters (line breaks included) and nothing [`invisible`].
fn check_note(note: &str) -> Result<()> {
    if note.chars().count() > MAX_NOTE {
        return Err(ApiError::bad_request(format!("The note may be at most {MAX_NOTE} characters.")));
    }
    if note.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(ApiError::bad_request(
            "The note must be plain text on one line, without control or invisible formatting characters.",
        ));
    }
    Ok(())
}

/// The note as the admins read it: text whose addresses no mail client turns
/// into links. `://` becomes `[:]//` and a dot between letters or digits `[.]`,
/// the usual way of showing an untrusted address without making it clickable.
fn defused(note: &str) -> String {
    let chars: Vec<char> = note.chars().collect();
    let mut out = String::with_capacity(note.len() + 16);
    for (i, &c) in chars.iter().enumerate() {
        let between =
            |i: usize| i > 0 && chars[i - 1].is_alphanumeric() && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric());
        if c == ':' && chars.get(i + 1) == Some(&'/') && chars.get(i + 2) == Some(&'/') {
            out.push_str("[:]");
        } else if c == '.' && between(i) {
            out.push_str("[.]");
        } else {
            out.push(c);
        }
    }
    out
}

/// `POST /api/contact-admin`: `{flow}` from inside a journey, or `{username}`
/// from an error page (which has no flow), with an optional `note`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContactAdminRequest {
    pub flow: String,
    pub username: String,
    /// What the user was trying to do: `reset`, `unlock`, `register`, `change`.
    pub purpose: String,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactAdminResponse {
    pub status: &'static str,
    pub message: &'static str,
}

const SENT: ContactAdminResponse = ContactAdminResponse {
    status: "sent",
    message: "We've asked an administrator in your organization to help you. They will contact you.",
};

pub fn contact_admin(ctx: &Ctx, notifier: &dyn Notifier, req: ContactAdminRequest) -> Result<ContactAdminResponse> {
    let username = if !req.flow.trim().is_empty() {
        let (flow, _) =
            flow::load(ctx, req.flow.trim(), &[flow::Purpose::Reset, flow::Purpose::Unlock, flow::Purpose::Register])?;
        users::get(ctx.store, &flow.user_id)?.map(|u| u.username).unwrap_or_default()
    } else {
        req.username.trim().to_owned()
    };
    if username.is_empty() || username.len() > 256 {
        return Err(ApiError::missing_field("username"));
    }
    let purpose = match req.purpose.trim() {
        "" | "reset" => "reset their password",
        "unlock" => "unlock their account",
        "register" => "register for password reset",
        "change" => "change their password",
        _ => return Err(ApiError::bad_request("`purpose` must be reset, unlock, register or change.")),
    };
    check_note(&req.note)?;
    throttle::hit(ctx, "contact-admin-addr", &ctx.client_addr, PER_ADDRESS_PER_HOUR, 3600)?;
    throttle::hit(ctx, "contact-admin-user", &username.to_lowercase(), PER_ACCOUNT_PER_HOUR, 3600)?;

    let recipients = recipients(ctx, &Policy::load(ctx.store)?)?;
    if recipients.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoAdministrator,
            "No administrator can be reached through this service. Please contact your helpdesk directly.",
        ));
    }
    let Some(user) = users::find_by_username(ctx.store, &username)? else {
        // Same answer, nothing sent: strangers learn nothing and relay nothing.
        return Ok(SENT);
    };
    // Plain text throughout: the message has no HTML part, and the note is quoted, defused.
    let note = defused(req.note.trim());
    let body = format!(
        "{} ({}) asked for help to {purpose} and could not do it themselves. Request from {}.{}",
        user.display_name,
        user.username,
        ctx.client_addr,
        if note.is_empty() { String::new() } else { format!("\n\nTheir note (as typed; links disabled):\n{note}") }
    );
    let mut delivered = 0;
    for to in &recipients {
        let message = Message {
            channel: Channel::Email,
            to: to.clone(),
            subject: "A user asks for help with their password".into(),
            body: body.clone(),
        };
        if notifier.send(&message).is_ok() {
            delivered += 1;
        }
    }
    audit::append(
        ctx,
        "admin_contacted",
        Some(&user.id),
        json!({ "purpose": req.purpose.trim(), "recipients": recipients.len(), "delivered": delivered }),
    )?;
    if delivered == 0 {
        return Err(ApiError::delivery_failed(
            "Your request could not be delivered. Please contact your helpdesk directly.",
        ));
    }
    Ok(SENT)
}

/// The policy's helpdesk address when it is an email address, else every admin.
fn recipients(ctx: &Ctx, policy: &Policy) -> Result<Vec<String>> {
    let helpdesk = policy.helpdesk_contact.trim();
    if helpdesk.contains('@') && !helpdesk.contains("://") && !helpdesk.contains(char::is_whitespace) {
        return Ok(vec![helpdesk.trim_start_matches("mailto:").to_owned()]);
    }
    users::admin_emails(ctx.store, None, users::MAX_ADMIN_RECIPIENTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::notify::outbox;
    use crate::domain::users::{NewUser, Role};
    use crate::testing::TestEnv;

    fn ask(env: &TestEnv, username: &str) -> Result<ContactAdminResponse> {
        let req = ContactAdminRequest {
            username: username.into(),
            purpose: "reset".into(),
            note: "I lost my phone".into(),
            ..Default::default()
        };
        contact_admin(&env.ctx(), &env.outbox(), req)
    }

    fn admin(env: &TestEnv, name: &str, email: &str) {
        let mut new =
            NewUser { username: name.into(), password: "Pw-123456789".into(), role: Role::Admin, ..Default::default() };
        new.contacts.alternate_email = Some(email.into());
        users::create(&env.ctx(), new).unwrap();
    }

    #[test]
    fn a_known_user_reaches_every_admin_and_an_unknown_one_nobody_alike() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        admin(&env, "boss1", "boss1@contoso.com");
        admin(&env, "boss2", "boss2@contoso.com");
        let known = ask(&env, "JANE@contoso.com").unwrap();
        let sent = outbox(&*env.store, 10).unwrap();
        let mut to: Vec<&str> = sent.iter().map(|e| e.message.to.as_str()).collect();
        to.sort();
        assert_eq!(to, ["boss1@contoso.com", "boss2@contoso.com"]);
        assert!(sent[0].message.body.contains("jane@contoso.com") && sent[0].message.body.contains("I lost my phone"));

        let unknown = ask(&env, "nobody@contoso.com").unwrap();
        assert_eq!(known, unknown, "the answer does not tell whether the account exists");
        assert_eq!(outbox(&*env.store, 10).unwrap().len(), 2, "nothing is sent for an unknown account");
    }

    #[test]
    fn the_helpdesk_address_replaces_the_admins_and_no_recipient_is_a_clear_503() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        assert_eq!(ask(&env, "jane@contoso.com").unwrap_err().error(), "no_administrator");
        env.save_policy(|p| p.helpdesk_contact = "helpdesk@contoso.com".into());
        admin(&env, "boss1", "boss1@contoso.com");
        ask(&env, "jane@contoso.com").unwrap();
        let sent = outbox(&*env.store, 10).unwrap();
        assert_eq!(sent.iter().map(|e| e.message.to.as_str()).collect::<Vec<_>>(), ["helpdesk@contoso.com"]);
    }

    #[test]
    fn requests_are_throttled_per_account_and_input_is_checked() {
        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        admin(&env, "boss1", "boss1@contoso.com");
        for _ in 0..PER_ACCOUNT_PER_HOUR {
            ask(&env, "jane@contoso.com").unwrap();
        }
        let e = ask(&env, "jane@contoso.com").unwrap_err();
        assert_eq!((e.status(), e.error()), (429, "throttled"));
        assert!(e.retry_after.is_some());
        assert_eq!(ask(&env, " ").unwrap_err().error(), "missing_field");
        let long = ContactAdminRequest { username: "x".into(), note: "n".repeat(MAX_NOTE + 1), ..Default::default() };
        assert_eq!(contact_admin(&env.ctx(), &env.outbox(), long).unwrap_err().status(), 400);
        let odd = ContactAdminRequest { username: "x".into(), purpose: "hack".into(), ..Default::default() };
        assert_eq!(contact_admin(&env.ctx(), &env.outbox(), odd).unwrap_err().status(), 400);
    }

    #[test]
    fn the_note_is_plain_text_of_at_most_500_characters() {
        assert!(check_note(&"é".repeat(MAX_NOTE)).is_ok(), "characters, not bytes");
        assert!(check_note("I lost my phone; call me at +1 425 555 0100 (desk 4.12)").is_ok());
        for bad in [
            "é".repeat(MAX_NOTE + 1),
            "line one\nline two".into(),
            "tab\there".into(),
            "bell\u{7}".into(),
            "escape \u{1b}[31mred".into(),
            "nul\0".into(),
            "C1 \u{85} next line".into(),
            "moc.live//:sptth \u{202E}".into(),
            "zero\u{200B}width".into(),
        ] {
            let e = check_note(&bad).unwrap_err();
            assert_eq!((e.status(), e.error()), (400, "bad_request"), "{bad:?}");
        }
    }

    #[test]
    fn addresses_in_the_note_reach_the_admins_as_text_not_links() {
        assert_eq!(
            defused("Reset it at https://evil.example/login?x=1 or www.evil.example. Thanks."),
            "Reset it at https[:]//evil[.]example/login?x=1 or www[.]evil[.]example. Thanks."
        );
        assert_eq!(defused("<a href=\"http://a.b\">x</a>"), "<a href=\"http[:]//a[.]b\">x</a>");
        assert_eq!(defused("Call me... soon."), "Call me... soon.");

        let env = TestEnv::new();
        env.user_with_everything("jane@contoso.com");
        admin(&env, "boss1", "boss1@contoso.com");
        let req = ContactAdminRequest {
            username: "jane@contoso.com".into(),
            note: "Please click https://evil.example/reset <b>now</b>".into(),
            ..Default::default()
        };
        contact_admin(&env.ctx(), &env.outbox(), req).unwrap();
        let body = &outbox(&*env.store, 1).unwrap()[0].message.body;
        assert!(body.contains("https[:]//evil[.]example/reset <b>now</b>"), "{body}");
        assert!(!body.contains("://") && !body.contains("evil.example"), "{body}");
    }
}
