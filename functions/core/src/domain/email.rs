//! The one email rule, shared by registration, the admin API and delivery:
//! trimmed and lower-cased, then a strict syntax check. Strict on purpose:
//! what passes is plainly an address, so nothing lookalike, routed (`%`, `!`)
//! or hidden (bidi and other control characters) reaches a contact list.

/// The address, normalised, or `None` when it is not a plain address:
/// `local@domain`, at most 254 characters; the local part (1–64) of ASCII
/// letters, digits and `. _ + - '`, with no leading, trailing or double dot;
/// the domain of two or more dot-separated labels (1–63 ASCII letters, digits
/// or `-`, not starting or ending with `-`).
pub fn normalise(s: &str) -> Option<String> {
    let e = s.trim().to_ascii_lowercase();
    if e.len() > 254 || !e.is_ascii() {
        return None;
    }
    let (local, domain) = e.split_once('@')?;
    let local_ok = (1..=64).contains(&local.len())
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-'".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    (local_ok && domain_ok).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn plain_addresses_pass_lower_cased() {
        assert_eq!(normalise("  Jane.Doe@Fabrikam.com ").as_deref(), Some("jane.doe@fabrikam.com"));
        for ok in ["sam+sspr@contoso.co.uk", "o'brien@contoso.com", "a_b-c@xn--bcher-kva.example", "x@a.io"] {
            assert!(normalise(ok).is_some(), "{ok}");
        }
    }

    #[test]
    fn lookalike_routed_and_malformed_addresses_fail() {
        for bad in [
            "sam@fabrikam..com",
            "sam@fab_rikam.com",
            "sa:m@fabrikam.com",
            "sam%fabrikam.com@contoso.com",
            "sam!contoso.com@fabrikam.com",
            "s\u{202e}am@fabrikam.com",
            "sam@fabrikam.com\u{200b}",
            "sаm@fabrikam.com", // Cyrillic а
            "sam@fabrikam",
            "@fabrikam.com",
            "sam@",
            "sam@@fabrikam.com",
            "sam@fabrikam.com.",
            "sam@-fabrikam.com",
            ".sam@fabrikam.com",
            "sa..m@fabrikam.com",
            "sam @fabrikam.com",
            "<sam@fabrikam.com>",
            "sam@fabrikam.com,eve@contoso.com",
            "",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(normalise(&format!("{}@fabrikam.com", "a".repeat(65))), None);
        assert_eq!(normalise(&format!("a@{}.com", "b".repeat(64))), None);
    }
}
