//! Phone numbers as registered (country code + national number) and the
//! comparison of a typed number with them, forgiving format but not digits.

use serde::{Deserialize, Serialize};

/// Whether codes to this phone are texted or read out in a call (chosen at registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhoneMode {
    #[default]
    Text,
    Call,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phone {
    /// Digits only, e.g. "1" or "44".
    pub country_code: String,
    /// The number including area code, as the user typed it at registration.
    pub number: String,
    #[serde(default)]
    pub mode: PhoneMode,
}

impl Phone {
    pub fn new(country_code: &str, number: &str) -> Self {
        Self { country_code: digits(country_code), number: number.trim().to_owned(), mode: PhoneMode::Text }
    }

    /// The national significant number: digits, trunk prefix zeros dropped.
    pub fn national(&self) -> String {
        digits(&self.number).trim_start_matches('0').to_owned()
    }

    /// E.164: `+<country><national>`.
    pub fn e164(&self) -> String {
        format!("+{}{}", self.country_code, self.national())
    }

    /// Whether a typed number is this phone: ignores spaces, punctuation and a
    /// leading `+`/`00`; accepts it with or without the country code and with
    /// a national trunk `0`. `+1 (425) 555-0112` == `14255550112` == `425 555 0112`.
    pub fn matches(&self, typed: &str) -> bool {
        let national = self.national();
        if national.is_empty() {
            return false;
        }
        let trimmed = typed.trim();
        let mut d = digits(trimmed);
        if !trimmed.starts_with('+') && d.starts_with("00") {
            d.drain(..2);
        }
        let with_cc = d.strip_prefix(self.country_code.as_str()).map(|rest| rest.trim_start_matches('0') == national);
        with_cc == Some(true) || d.trim_start_matches('0') == national
    }
}

pub fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_country_code_do_not_matter() {
        let p = Phone::new("+1", "(425) 555-0112");
        for typed in ["+1 (425) 555-0112", "14255550112", "425.555.0112", "001 425 555 0112", " +14255550112 "] {
            assert!(p.matches(typed), "{typed}");
        }
        assert_eq!(p.e164(), "+14255550112");
    }

    #[test]
    fn other_digits_never_match() {
        let p = Phone::new("1", "4255550112");
        for typed in ["4255550113", "+44 4255550112x", "425555011", "", "+1", "24255550112"] {
            assert!(!p.matches(typed), "{typed}");
        }
    }

    #[test]
    fn trunk_zero_is_optional() {
        let uk = Phone::new("44", "07700 900123");
        assert!(uk.matches("+44 7700 900123"));
        assert!(uk.matches("07700900123"));
        assert!(uk.matches("+44 (0)7700 900123"));
        assert!(!uk.matches("+33 7700 900123"));
    }
}
