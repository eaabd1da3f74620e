//! Every text Unlatch sends, in one place: the code by SMS (one GSM-7
//! segment, with the origin-bound `@host #code` line browsers autofill from,
//! <https://wicg.github.io/sms-one-time-codes/>), the code by email (text,
//! and the same as HTML with no tracking), and the notices.

use crate::domain::notify::{Channel, Message};

/// One SMS segment of GSM-7 text.
pub const SMS_MAX: usize = 160;

/// The host of `public_base_url` (`https://reset.example.com` → `reset.example.com`), if any.
pub fn origin_host(public_base_url: &str) -> Option<String> {
    let url = url::Url::parse(public_base_url.trim()).ok()?;
    let host = url.host_str()?.to_owned();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// The organisation as messages name it: the policy's name, or "Unlatch".
fn org(organisation: &str) -> &str {
    let organisation = organisation.trim();
    if organisation.is_empty() { "Unlatch" } else { organisation }
}

/// Whether every character is in the GSM 03.38 basic character set (one septet).
pub fn is_gsm7(text: &str) -> bool {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    text.chars().all(|c| BASIC.contains(c))
}

/// The code by SMS: at most [`SMS_MAX`] GSM-7 characters, ending with the
/// origin-bound line when the public host is known.
pub fn code_sms(organisation: &str, code: &str, minutes: u64, host: Option<&str>) -> String {
    let tail = host.map(|h| format!("\n\n@{h} #{code}")).unwrap_or_default();
    let mut name: String = org(organisation).chars().map(|c| if is_gsm7(&c.to_string()) { c } else { '?' }).collect();
    loop {
        let text = format!("{code} is your {name} verification code. It expires in {minutes} min.{tail}");
        if text.chars().count() <= SMS_MAX || name.is_empty() {
            return text;
        }
        name.pop();
    }
}

/// The code by email: subject and text (the HTML is made from the text).
pub fn code_email(organisation: &str, code: &str, minutes: u64) -> (String, String) {
    let org = org(organisation);
    (
        format!("{org} verification code"),
        format!(
            "Your {org} verification code is {code}.\n\nIt expires in {minutes} minutes. Enter it on the page that asked for it.\n\nIf you did not ask for it, do not share it with anyone and tell your administrator."
        ),
    )
}

/// A code message for the channel of the method.
pub fn code_message(
    channel: Channel,
    to: String,
    organisation: &str,
    code: &str,
    minutes: u64,
    host: Option<&str>,
) -> Message {
    match channel {
        Channel::Email => {
            let (subject, body) = code_email(organisation, code, minutes);
            Message { channel, to, subject, body }
        }
        Channel::Voice => {
            let spoken = code.chars().map(String::from).collect::<Vec<_>>().join(" ");
            let body = format!("Your {} verification code is {spoken}. Again: {spoken}.", org(organisation));
            Message { channel, to, subject: "Your verification code".into(), body }
        }
        Channel::Sms => {
            Message { channel, to, subject: String::new(), body: code_sms(organisation, code, minutes, host) }
        }
    }
}

/// A notice about an account: what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    PasswordReset,
    PasswordChanged,
    /// What changed, e.g. "the mobile phone of your account sam@contoso.com was added".
    SecurityInfoChanged(&'a str),
    Unlocked,
    /// To the administrators: another administrator's password was reset.
    AdminReset,
}

/// The subject and text of a notice about `username`'s account; the same text
/// goes by email (with its HTML part) or, where there is no email, by SMS.
pub fn notice(kind: Notice, organisation: &str, username: &str) -> (String, String) {
    let org = org(organisation);
    let not_you = "If this wasn't you, contact your administrator now.";
    match kind {
        Notice::PasswordReset => (
            "Your password was reset".into(),
            format!("{org}: The password of your account {username} was reset. {not_you}"),
        ),
        Notice::PasswordChanged => (
            "Your password was changed".into(),
            format!("{org}: The password of your account {username} was changed. {not_you}"),
        ),
        Notice::SecurityInfoChanged(what) => {
            ("Your security info changed".into(), format!("{org}: Your security info changed: {what}. {not_you}"))
        }
        Notice::Unlocked => (
            "Your account was unlocked".into(),
            format!("{org}: Your account {username} was unlocked through self-service. {not_you}"),
        ),
        Notice::AdminReset => (
            "An administrator's password was reset".into(),
            format!("{org}: The password of administrator {username} was reset through self-service."),
        ),
    }
}

/// A notice to the user: by email where there is one, else by SMS, else none.
pub fn notice_to(
    kind: Notice,
    organisation: &str,
    username: &str,
    email: Option<String>,
    mobile: Option<String>,
) -> Option<Message> {
    let (subject, body) = notice(kind, organisation, username);
    match (email, mobile) {
        (Some(to), _) => Some(Message { channel: Channel::Email, to, subject, body }),
        (None, Some(to)) => Some(Message { channel: Channel::Sms, to, subject: String::new(), body }),
        (None, None) => None,
    }
}

/// The HTML part of an email: the text, escaped, one paragraph per block;
/// no images, links or anything that reports opening.
pub fn email_html(subject: &str, text: &str) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
    };
    let paragraphs: String = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect();
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body style=\"font-family:sans-serif\">{paragraphs}</body></html>",
        escape(subject)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sms_is_one_gsm7_segment_with_the_origin_bound_line() {
        let host = origin_host("https://reset.example.com/").unwrap();
        let sms = code_sms("Contoso", "123456", 5, Some(&host));
        assert!(sms.chars().count() <= SMS_MAX && is_gsm7(&sms), "{sms}");
        assert!(sms.contains("Contoso") && sms.contains("5 min"));
        assert!(sms.ends_with("\n\n@reset.example.com #123456"), "{sms}");
        let long = code_sms(&"Very Long Organisation Name ".repeat(10), "123456", 5, Some(&host));
        assert!(long.chars().count() <= SMS_MAX && long.ends_with("#123456"), "{long}");
        assert!(is_gsm7(&code_sms("Zürich AG ✓", "1", 5, None)));
    }

    #[test]
    fn email_html_is_escaped_text_with_no_tracking() {
        let (subject, body) = code_email("A&B", "123456", 5);
        let html = email_html(&subject, &body);
        assert!(html.contains("A&amp;B") && html.contains("123456"));
        assert!(!html.contains("<img") && !html.contains("<a "));
    }
}
