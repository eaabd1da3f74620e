//! The password rules of docs/design.md: length, common passwords, banned
//! organisation terms (after undoing substitutions, as substring or within
//! one edit), the user's own names, the current password, and optionally
//! Entra's 3-of-4 character classes. Every broken rule is reported.

use crate::domain::blocklist;
use crate::domain::hashing;
use crate::domain::policy::{PasswordRules, Policy};
use crate::domain::users::User;
use crate::errors::{ApiError, Result};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub message: String,
}

/// Who the password is for.
pub struct Subject<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    /// The current password's PHC hash, when "not the current password" applies.
    pub current_hash: Option<&'a str>,
}

/// Lowercase forms with common character substitutions undone; `1` may stand
/// for `l` or `i`, so both readings are returned.
pub fn normalised_forms(s: &str) -> Vec<String> {
    let undo = |one: char| -> String {
        s.to_lowercase()
            .chars()
            .map(|c| match c {
                '0' => 'o',
                '1' => one,
                '3' => 'e',
                '4' | '@' => 'a',
                '$' | '5' => 's',
                '7' => 't',
                other => other,
            })
            .collect()
    };
    let (l, i) = (undo('l'), undo('i'));
    if l == i { vec![l] } else { vec![l, i] }
}

/// Whether `a` becomes `b` with at most one insertion, deletion or substitution (linear time).
pub fn within_one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        short[prefix..].len() <= 1 || short[prefix + 1..] == long[prefix + 1..]
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// Whether the normalised password holds `term`: as a substring, as a whole
/// within one edit (Entra's fuzzy match), or, for terms of 5+ characters, as
/// a stretch within one edit ("kontoso-rocks"). Short terms get no fuzzy
/// stretches: every 4-letter window one edit from "blue" ("alue", "clue")
/// would be refused.
fn has_term(password: &[char], term: &[char]) -> bool {
    let n = term.len();
    if n == 0 || n > password.len() + 1 {
        return false;
    }
    if password.windows(n.min(password.len()).max(1)).any(|w| w == term) || within_one_edit(password, term) {
        return true;
    }
    n >= 5
        && [n - 1, n, n + 1]
            .into_iter()
            .any(|w| w <= password.len() && password.windows(w).any(|win| within_one_edit(win, term)))
}

/// The organisation's banned terms found in `password`.
pub fn banned_terms_in(password: &str, terms: &[String]) -> Vec<String> {
    let forms: Vec<Vec<char>> = normalised_forms(password).iter().map(|f| f.chars().collect()).collect();
    terms
        .iter()
        .filter(|t| {
            let term: Vec<char> = t.trim().to_lowercase().chars().collect();
            forms.iter().any(|f| has_term(f, &term))
        })
        .cloned()
        .collect()
}

fn contains_name(password: &str, name: &str) -> bool {
    let forms = normalised_forms(password);
    let lower = password.to_lowercase();
    let name = name.trim().to_lowercase();
    name.chars().count() >= 3 && (lower.contains(&name) || forms.iter().any(|f| f.contains(&name)))
}

/// Every rule `password` breaks, in a stable order.
pub fn check(rules: &PasswordRules, password: &str, who: &Subject) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut add = |rule: &'static str, message: String| v.push(Violation { rule, message });
    let length = password.chars().count();
    if length < rules.min_length as usize {
        add("too_short", format!("Use at least {} characters.", rules.min_length));
    }
    if length > rules.max_length as usize {
        add("too_long", format!("Use at most {} characters.", rules.max_length));
    }
    if rules.use_blocklist
        && (blocklist::contains(password) || normalised_forms(password).iter().any(|f| blocklist::contains(f)))
    {
        add("common_password", "This password is too common and easy to guess.".into());
    }
    let banned = banned_terms_in(password, &rules.banned_terms);
    if !banned.is_empty() {
        add("banned_term", "This password contains a word your organisation does not allow.".into());
    }
    // The account id, or its part before '@' for email-shaped ids.
    let user = who.username.trim();
    let user_part = user.split('@').next().unwrap_or(user);
    if contains_name(password, user) || contains_name(password, user_part) {
        add("contains_username", "The password may not contain your username.".into());
    }
    // As Active Directory does: each part of the display name of 3+ characters.
    let display_hit = who
        .display_name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| t.chars().count() >= 3)
        .any(|token| contains_name(password, token));
    if display_hit {
        add("contains_display_name", "The password may not contain your name.".into());
    }
    if rules.require_three_classes {
        let classes = [
            password.chars().any(char::is_lowercase),
            password.chars().any(char::is_uppercase),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ];
        if classes.iter().filter(|&&c| c).count() < 3 {
            add(
                "character_classes",
                "Use at least three of: lowercase letters, uppercase letters, digits, symbols.".into(),
            );
        }
    }
    if who.current_hash.is_some_and(|h| hashing::verify(password, h)) {
        add("same_as_current", "The new password must differ from your current password.".into());
    }
    v
}

/// Checks `new_password` against the policy for `user` (also used by the
/// change-password branch): 422 `password_policy` listing every violation.
pub fn enforce(policy: &Policy, user: &User, new_password: &str) -> Result<()> {
    let who =
        Subject { username: &user.username, display_name: &user.display_name, current_hash: Some(&user.password_hash) };
    let violations = check(&policy.password, new_password, &who);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::password_policy(serde_json::to_value(violations).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::OsRandom;

    fn subject() -> Subject<'static> {
        Subject { username: "jdoe@contoso.com", display_name: "Jane Smith", current_hash: None }
    }

    fn rules(check: &[&str]) -> Vec<&'static str> {
        let r = PasswordRules {
            banned_terms: vec!["contoso".into(), "fabrikam".into(), "blue".into()],
            ..PasswordRules::default()
        };
        check.iter().flat_map(|p| super::check(&r, p, &subject()).into_iter().map(|v| v.rule)).collect()
    }

    #[test]
    fn a_good_password_passes() {
        assert_eq!(rules(&["correct horse battery staple"]), Vec::<&str>::new());
    }

    #[test]
    fn length_limits() {
        assert_eq!(rules(&["zq9!xw2"]), vec!["too_short"]);
        assert_eq!(rules(&[&"zq9!xw2r".repeat(33)]), vec!["too_long"]);
        assert_eq!(rules(&["zq9!xw2ä"]), Vec::<&str>::new(), "counted in characters, not bytes");
    }

    #[test]
    fn common_passwords_are_refused_with_substitutions() {
        assert_eq!(rules(&["password1"]), vec!["common_password"]);
        assert_eq!(rules(&["P@$$w0rd"]), vec!["common_password"]);
        assert_eq!(rules(&["iloveyou"]), vec!["common_password"]);
    }

    #[test]
    fn banned_terms_substring_substitution_and_one_edit() {
        for p in [
            "ilovecontoso99",
            "C0nt0s0-rocks!",
            "kontoso-rocks!",
            "contosso-rocks!",
            "my-fabr1kam-job",
            "contso-rocks-xyz",
        ] {
            assert_eq!(rules(&[p]), vec!["banned_term"], "{p}");
        }
        // Short terms: substring or whole-password fuzzy only, so "value" and "clue" stay allowed.
        assert_eq!(rules(&["value-of-time!", "clue-of-time!!"]), Vec::<&str>::new());
        assert_eq!(rules(&["true-blu3-sky!"]), vec!["banned_term"]);
    }

    #[test]
    fn names_are_refused() {
        assert_eq!(rules(&["xx-jdoe-2024!"]), vec!["contains_username"]);
        assert_eq!(rules(&["janes-pass-2024!"]), vec!["contains_display_name"]);
    }

    #[test]
    fn every_violation_is_listed() {
        let r = PasswordRules {
            banned_terms: vec!["contoso".into()],
            require_three_classes: true,
            ..PasswordRules::default()
        };
        let current = hashing::hash(&OsRandom, "contoso").unwrap();
        let who = Subject { username: "contoso", display_name: "Contoso Admin", current_hash: Some(&current) };
        let got: Vec<&str> = check(&r, "contoso", &who).into_iter().map(|v| v.rule).collect();
        assert_eq!(
            got,
            vec![
                "too_short",
                "banned_term",
                "contains_username",
                "contains_display_name",
                "character_classes",
                "same_as_current"
            ]
        );
        assert!(check(&r, "contoso", &who).iter().all(|v| !v.message.is_empty()));
    }

    #[test]
    fn three_classes_only_when_switched_on() {
        let mut r = PasswordRules::default();
        assert!(check(&r, "quiet riverbank lanterns", &subject()).is_empty());
        r.require_three_classes = true;
        assert_eq!(check(&r, "quiet riverbank lanterns", &subject())[0].rule, "character_classes");
        assert!(check(&r, "Quiet riverbank lanterns 7", &subject()).is_empty());
    }

    #[test]
    fn one_edit_is_exact() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert!(within_one_edit(&c("abcd"), &c("abcd")));
        assert!(within_one_edit(&c("abxd"), &c("abcd")));
        assert!(within_one_edit(&c("abd"), &c("abcd")));
        assert!(within_one_edit(&c("abcde"), &c("abcd")));
        assert!(!within_one_edit(&c("axxd"), &c("abcd")));
        assert!(!within_one_edit(&c("ab"), &c("abcd")));
        assert!(!within_one_edit(&c("bacd"), &c("abcd")));
    }
}
