//! The five ways to prove who you are (Entra's guide's "Choose an option").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodId {
    /// "Email my alternate email" (alternate or authentication email).
    Email,
    /// "Text my mobile phone" (mobile or authentication phone).
    MobileText,
    /// "Call my mobile phone" (mobile or authentication phone).
    MobileCall,
    /// "Call my office phone".
    OfficeCall,
    /// "Answer my security questions".
    Questions,
}

/// How a method reaches the user: the channel a code travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Sms,
    Voice,
    Questions,
}

impl MethodId {
    pub const ALL: [MethodId; 5] =
        [MethodId::Email, MethodId::MobileText, MethodId::MobileCall, MethodId::OfficeCall, MethodId::Questions];

    pub fn as_str(self) -> &'static str {
        match self {
            MethodId::Email => "email",
            MethodId::MobileText => "mobile_text",
            MethodId::MobileCall => "mobile_call",
            MethodId::OfficeCall => "office_call",
            MethodId::Questions => "questions",
        }
    }

    pub fn parse(s: &str) -> Option<MethodId> {
        MethodId::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn kind(self) -> Kind {
        match self {
            MethodId::Email => Kind::Email,
            MethodId::MobileText => Kind::Sms,
            MethodId::MobileCall | MethodId::OfficeCall => Kind::Voice,
            MethodId::Questions => Kind::Questions,
        }
    }

    /// What the method proves possession of. Texting and calling the mobile
    /// phone prove the same thing, so they count as one method (as Entra's
    /// "Mobile phone" does): two gates must be two different factors.
    pub fn factor(self) -> MethodId {
        match self {
            MethodId::MobileCall => MethodId::MobileText,
            other => other,
        }
    }

    /// How many different factors `methods` holds.
    pub fn distinct_factors(methods: &[MethodId]) -> usize {
        let mut factors: Vec<MethodId> = methods.iter().map(|m| m.factor()).collect();
        factors.sort_by_key(|m| m.as_str());
        factors.dedup();
        factors.len()
    }

    /// Entra's guide's label for the option.
    pub fn label(self) -> &'static str {
        match self {
            MethodId::Email => "Email my alternate email",
            MethodId::MobileText => "Text my mobile phone",
            MethodId::MobileCall => "Call my mobile phone",
            MethodId::OfficeCall => "Call my office phone",
            MethodId::Questions => "Answer my security questions",
        }
    }
}

/// One method offered to prove with, as identify and the step-up list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodOption {
    pub id: MethodId,
    pub kind: Kind,
    /// Masked destination (`j•••@contoso.com`, `+1 •••• ••12`); empty for questions.
    pub hint: String,
    /// Entra's guide's wording for the option.
    pub label: &'static str,
}

impl MethodOption {
    pub fn new(id: MethodId, hint: String) -> Self {
        MethodOption { id, kind: id.kind(), hint, label: id.label() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_json_and_text() {
        for m in MethodId::ALL {
            assert_eq!(MethodId::parse(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
        }
        assert_eq!(MethodId::parse("fax"), None);
        assert_eq!(MethodId::distinct_factors(&[MethodId::MobileText, MethodId::MobileCall]), 1);
        assert_eq!(MethodId::distinct_factors(&[MethodId::MobileCall, MethodId::OfficeCall, MethodId::Email]), 3);
        assert_eq!(MethodId::MobileText.kind(), Kind::Sms);
        assert_eq!(MethodId::OfficeCall.kind(), Kind::Voice);
    }
}
