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

/// Why a phone number given for registration (by the user or an admin) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneProblem {
    CountryCode,
    Characters,
    CountryCodeMismatch,
    Length,
}

impl PhoneProblem {
    /// Which part of the input is wrong: `country_code` or the number.
    pub fn in_country_code(self) -> bool {
        self == PhoneProblem::CountryCode
    }

    pub fn message(self) -> &'static str {
        match self {
            PhoneProblem::CountryCode => "Choose a country code: 1 to 3 digits, e.g. 1 or +44.",
            PhoneProblem::Characters => {
                "Enter the phone number with digits only (spaces, dashes, dots and brackets are fine; at most 40 characters)."
            }
            PhoneProblem::CountryCodeMismatch => "The number's country code differs from the chosen one.",
            PhoneProblem::Length => {
                "Enter the full phone number including area code (4 to 14 digits, 15 with the country code)."
            }
        }
    }
}

/// The one parser for a phone being registered, shared by registration and the
/// admin API: a country code of 1–3 digits (an optional `+`, no leading 0) and
/// a number of digits with spaces, `-`, `.` and brackets; a leading
/// `+<country code>` on the number is taken off; 4–14 national digits (trunk
/// zeros dropped), at most 15 with the country code.
pub fn parse(country_code: &str, number: &str, mode: PhoneMode) -> Result<Phone, PhoneProblem> {
    let cc = country_code.trim();
    let cc = cc.strip_prefix('+').unwrap_or(cc);
    if !(1..=3).contains(&cc.len()) || !cc.bytes().all(|b| b.is_ascii_digit()) || cc.starts_with('0') {
        return Err(PhoneProblem::CountryCode);
    }
    let typed = number.trim();
    let (plus, rest) = match typed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, typed),
    };
    if typed.len() > 40 || !rest.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
        return Err(PhoneProblem::Characters);
    }
    let mut phone = Phone::new(cc, typed);
    if plus {
        let national = digits(rest).strip_prefix(cc).ok_or(PhoneProblem::CountryCodeMismatch)?.to_owned();
        phone.number = national;
    }
    let n = phone.national().len();
    if !(4..=14).contains(&n) || cc.len() + n > 15 {
        return Err(PhoneProblem::Length);
    }
    phone.mode = mode;
    Ok(phone)
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

    #[test]
    fn one_parser_for_every_registration_path() {
        let p = parse("+1", "(425) 555-0112", PhoneMode::Call).unwrap();
        assert_eq!((p.e164().as_str(), p.mode), ("+14255550112", PhoneMode::Call));
        assert_eq!(parse("44", "+44 20 7946 0018", PhoneMode::Text).unwrap().e164(), "+442079460018");
        assert_eq!(parse("44", "020 7946 0018", PhoneMode::Text).unwrap().e164(), "+442079460018");
        assert_eq!(parse("1", "+44 20 7946 0018", PhoneMode::Text), Err(PhoneProblem::CountryCodeMismatch));
        for cc in ["", "0", "1234", "+", "1a", "01"] {
            assert_eq!(parse(cc, "425 555 0112", PhoneMode::Text), Err(PhoneProblem::CountryCode), "{cc:?}");
        }
        // `/` and `+` inside the number are refused the same way on every path.
        for bad in ["425/555/0112", "425+555+0112", "425 555 0112 x12", "4255550112\u{202e}"] {
            assert_eq!(parse("1", bad, PhoneMode::Text), Err(PhoneProblem::Characters), "{bad:?}");
        }
        assert_eq!(parse("1", "123", PhoneMode::Text), Err(PhoneProblem::Length));
        assert_eq!(parse("1", &"5".repeat(15), PhoneMode::Text), Err(PhoneProblem::Length));
    }
}
