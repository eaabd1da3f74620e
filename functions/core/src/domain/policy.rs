//! The organisation's SSPR policy (docs/design.md), one JSON record in KV at
//! `policy`; every field has Entra's default, used when the record or a field
//! is absent.

use crate::domain::methods::MethodId;
use crate::domain::questions::{PREDEFINED, Question};
use crate::errors::{ApiError, ErrorCode, Result};
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::Store;
use serde::{Deserialize, Serialize};

pub const POLICY_KEY: &str = keys::POLICY;

/// Who may use self-service reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SsprScope {
    /// Everyone.
    All,
    /// Only users whose `sspr_enabled` flag is set (Entra's "selected group").
    Selected,
    /// Nobody.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Throttles {
    /// Codes sent per method per user per hour (Entra: 5).
    pub sends_per_gate_per_hour: u32,
    /// Emails per user per 10 minutes (Entra: 10).
    pub emails_per_10_minutes: u32,
    /// Code or answer validations per method per user per hour (Entra: 5).
    pub validations_per_gate_per_hour: u32,
    /// Wrong tries before a code is burned.
    pub code_attempts: u32,
    /// Failed proofs (wrong code, wrong answers) in 24 hours before resets are blocked.
    pub failed_proofs_per_day: u32,
    /// How long resets stay blocked, seconds (Entra: 24 hours).
    pub block_seconds: u64,
    /// "Who are you?" attempts per client address per minute.
    pub identify_per_minute: u32,
    /// Password checks (sign-in, change-password) per client address per
    /// minute, so one address cannot lock out a whole directory.
    pub signins_per_address_per_minute: u32,
}

impl Default for Throttles {
    fn default() -> Self {
        Self {
            sends_per_gate_per_hour: 5,
            emails_per_10_minutes: 10,
            validations_per_gate_per_hour: 5,
            code_attempts: 5,
            failed_proofs_per_day: 5,
            block_seconds: 24 * 3600,
            identify_per_minute: 20,
            signins_per_address_per_minute: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordRules {
    pub min_length: u32,
    pub max_length: u32,
    /// Entra's "3 of 4 character classes"; off by default as NIST advises.
    pub require_three_classes: bool,
    /// Check the bundled list of common passwords.
    pub use_blocklist: bool,
    /// The organisation's banned terms (4–16 characters, at most 1000).
    pub banned_terms: Vec<String>,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            require_three_classes: false,
            use_blocklist: true,
            banned_terms: Vec::new(),
        }
    }
}

/// A custom security question an organisation adds to the predefined pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomQuestion {
    pub id: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub sspr_enabled: SsprScope,
    pub methods_allowed: Vec<MethodId>,
    /// Gates (distinct methods) a user must pass: 1 or 2. Admins always need 2.
    pub gates_required: u8,
    pub questions_to_register: u8,
    pub questions_to_reset: u8,
    pub custom_questions: Vec<CustomQuestion>,
    pub reconfirm_days: u32,
    pub require_registration_at_signin: bool,
    pub code_lifetime_seconds: u64,
    pub flow_lifetime_seconds: u64,
    pub throttles: Throttles,
    pub lockout_threshold: u32,
    pub lockout_seconds: u64,
    pub password: PasswordRules,
    pub notify_user_on_reset: bool,
    pub notify_admins_on_admin_reset: bool,
    /// Where "Contact your administrator" goes; empty = all admins.
    pub helpdesk_contact: String,
    /// Answer every "Who are you?" failure with `not_registered`.
    pub uniform_errors: bool,
    /// Leading zero bits the proof-of-work CAPTCHA demands.
    pub captcha_difficulty: u8,
    pub captcha_lifetime_seconds: u64,
    /// How codes and notices name the sender ("123456 is your Contoso
    /// verification code"); empty: "Unlatch".
    pub organisation_name: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            // Per-user flag by default, so an admin can switch one user off.
            sspr_enabled: SsprScope::Selected,
            methods_allowed: MethodId::ALL.to_vec(),
            gates_required: 1,
            questions_to_register: 3,
            questions_to_reset: 3,
            custom_questions: Vec::new(),
            reconfirm_days: 180,
            require_registration_at_signin: true,
            code_lifetime_seconds: 300,
            flow_lifetime_seconds: 15 * 60,
            throttles: Throttles::default(),
            lockout_threshold: 10,
            lockout_seconds: 30 * 60,
            password: PasswordRules::default(),
            notify_user_on_reset: true,
            notify_admins_on_admin_reset: false,
            helpdesk_contact: String::new(),
            uniform_errors: false,
            captcha_difficulty: 16,
            captcha_lifetime_seconds: 300,
            organisation_name: String::new(),
        }
    }
}

impl Policy {
    /// The questions a user may register: the predefined ones, then the
    /// organisation's own. Registration and the admin API both use this pool.
    pub fn question_pool(&self) -> Vec<Question> {
        PREDEFINED
            .iter()
            .map(|(id, text)| Question { id: (*id).into(), text: (*text).into() })
            .chain(self.custom_questions.iter().map(|q| Question { id: q.id.clone(), text: q.text.clone() }))
            .collect()
    }

    /// The text of question `id` in the pool.
    pub fn question_text(&self, id: &str) -> Option<String> {
        self.question_pool().into_iter().find(|q| q.id == id).map(|q| q.text)
    }

    /// The stored policy, or the defaults when none was saved.
    pub fn load(store: &dyn Store) -> Result<Policy> {
        Ok(kv::get_json(store, POLICY_KEY)?.unwrap_or_default())
    }

    /// Validates, then stores. Returns every problem found as a 422.
    pub fn save(&self, store: &dyn Store) -> Result<()> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidPolicy, problems.join(" "))
                .with_details(serde_json::json!({ "problems": problems })));
        }
        kv::put_json(store, POLICY_KEY, self)
    }

    /// Every out-of-range field, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut check = |ok: bool, text: &str| {
            if !ok {
                p.push(text.to_owned())
            }
        };
        check(matches!(self.gates_required, 1 | 2), "gates_required must be 1 or 2.");
        check((3..=5).contains(&self.questions_to_register), "questions_to_register must be 3 to 5.");
        check((3..=5).contains(&self.questions_to_reset), "questions_to_reset must be 3 to 5.");
        check(
            self.questions_to_reset <= self.questions_to_register,
            "questions_to_reset may not exceed questions_to_register.",
        );
        check(self.custom_questions.len() <= 20, "At most 20 custom questions.");
        check(
            self.custom_questions.iter().all(|q| (3..=200).contains(&q.text.chars().count()) && !q.id.is_empty()),
            "Custom questions need an id and 3 to 200 characters of text.",
        );
        check(self.reconfirm_days <= 730, "reconfirm_days must be 0 to 730.");
        check(
            (60..=600).contains(&self.code_lifetime_seconds),
            "code_lifetime_seconds must be 60 to 600 (NIST allows at most 10 minutes).",
        );
        check((60..=3600).contains(&self.flow_lifetime_seconds), "flow_lifetime_seconds must be 60 to 3600.");
        check(!self.methods_allowed.is_empty(), "At least one method must be allowed.");
        check(
            self.methods_allowed.iter().enumerate().all(|(i, m)| !self.methods_allowed[..i].contains(m)),
            "methods_allowed may not list a method twice.",
        );
        check(
            self.methods_allowed.len() >= usize::from(self.gates_required),
            "methods_allowed must offer at least as many methods as gates_required.",
        );
        check(
            self.custom_questions.iter().enumerate().all(|(i, q)| {
                !self.custom_questions[..i].iter().any(|o| o.id == q.id)
                    && !PREDEFINED.iter().any(|(id, _)| *id == q.id)
            }),
            "Custom question ids must be distinct and differ from the predefined ids (q01..q35).",
        );
        check(
            self.custom_questions.iter().all(|q| q.id.chars().count() <= 64),
            "Custom question ids may be at most 64 characters.",
        );
        check(
            self.helpdesk_contact.chars().count() <= 2048 && !self.helpdesk_contact.chars().any(char::is_control),
            "helpdesk_contact must be at most 2048 characters with no control characters.",
        );
        check(
            self.organisation_name.chars().count() <= 64 && !self.organisation_name.chars().any(char::is_control),
            "organisation_name must be at most 64 characters with no control characters.",
        );
        check(
            self.password.banned_terms.iter().all(|t| !t.chars().any(char::is_control)),
            "Banned terms may not contain control characters.",
        );
        check((1..=100).contains(&self.lockout_threshold), "lockout_threshold must be 1 to 100.");
        check((60..=86400).contains(&self.lockout_seconds), "lockout_seconds must be 60 to 86400.");
        check((8..=64).contains(&self.password.min_length), "password.min_length must be 8 to 64.");
        check(
            self.password.max_length >= self.password.min_length && self.password.max_length <= 256,
            "password.max_length must be at least min_length and at most 256.",
        );
        check(self.password.banned_terms.len() <= 1000, "At most 1000 banned terms.");
        check(
            self.password.banned_terms.iter().all(|t| (4..=16).contains(&t.chars().count())),
            "Banned terms must be 4 to 16 characters.",
        );
        check(self.captcha_difficulty <= 28, "captcha_difficulty must be 0 to 28 bits.");
        check((30..=3600).contains(&self.captcha_lifetime_seconds), "captcha_lifetime_seconds must be 30 to 3600.");
        let t = &self.throttles;
        for (name, n) in [
            ("sends_per_gate_per_hour", t.sends_per_gate_per_hour),
            ("emails_per_10_minutes", t.emails_per_10_minutes),
            ("validations_per_gate_per_hour", t.validations_per_gate_per_hour),
            ("code_attempts", t.code_attempts),
            ("failed_proofs_per_day", t.failed_proofs_per_day),
            ("identify_per_minute", t.identify_per_minute),
            ("signins_per_address_per_minute", t.signins_per_address_per_minute),
        ] {
            check((1..=10_000).contains(&n), &format!("throttles.{name} must be 1 to 10000."));
        }
        check((60..=7 * 86400).contains(&t.block_seconds), "throttles.block_seconds must be 60 to 604800.");
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::store::MemoryStore;

    #[test]
    fn defaults_are_entras_numbers() {
        let p = Policy::load(&MemoryStore::new()).unwrap();
        assert_eq!(p.code_lifetime_seconds, 300);
        assert_eq!(p.flow_lifetime_seconds, 900);
        assert_eq!(p.throttles.sends_per_gate_per_hour, 5);
        assert_eq!(p.throttles.emails_per_10_minutes, 10);
        assert_eq!(p.throttles.failed_proofs_per_day, 5);
        assert_eq!(p.throttles.signins_per_address_per_minute, 30);
        assert_eq!(p.lockout_threshold, 10);
        assert_eq!(p.lockout_seconds, 1800);
        assert_eq!((p.password.min_length, p.password.max_length), (8, 256));
        assert!(!p.uniform_errors && p.notify_user_on_reset);
        assert!(p.problems().is_empty());
    }

    #[test]
    fn partial_records_fill_in_defaults_and_bad_values_are_refused() {
        let s = MemoryStore::new();
        s.set(POLICY_KEY, br#"{"gates_required": 2, "password": {"banned_terms": ["contoso"]}}"#).unwrap();
        let p = Policy::load(&s).unwrap();
        assert_eq!(p.gates_required, 2);
        assert_eq!(p.password.min_length, 8);
        assert_eq!(p.password.banned_terms, vec!["contoso"]);
        let bad = Policy { gates_required: 3, questions_to_reset: 9, ..Policy::default() };
        let e = bad.save(&s).unwrap_err();
        assert_eq!((e.status(), e.error()), (422, "invalid_policy"));
        assert_eq!(e.details.unwrap()["problems"].as_array().unwrap().len(), 3);
        assert_eq!(Policy::load(&s).unwrap().gates_required, 2, "nothing stored");
    }

    #[test]
    fn duplicates_too_few_methods_and_each_throttle_are_named() {
        let mut bad =
            Policy { gates_required: 2, methods_allowed: vec![MethodId::Email, MethodId::Email], ..Policy::default() };
        bad.throttles.code_attempts = 0;
        bad.throttles.identify_per_minute = 0;
        bad.custom_questions = vec![
            CustomQuestion { id: "q01".into(), text: "Clashes with a predefined id?".into() },
            CustomQuestion { id: "c1".into(), text: "First pet's vet?".into() },
            CustomQuestion { id: "c1".into(), text: "Same id again?".into() },
        ];
        let p = bad.problems();
        for needle in ["twice", "throttles.code_attempts", "throttles.identify_per_minute", "Custom question ids"] {
            assert!(p.iter().any(|x| x.contains(needle)), "{needle} in {p:?}");
        }
        bad.methods_allowed = vec![MethodId::Email];
        assert!(bad.problems().iter().any(|x| x.contains("at least as many methods as gates_required")));
    }
}
