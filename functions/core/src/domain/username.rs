//! The one username rule: how an account id typed anywhere (admin API, import,
//! "Who are you?", sign-in, change password) becomes the key it is stored and
//! found under, so that lookalikes cannot be two accounts.
//!
//! NFKC (`unicode-normalization`) folds compatibility forms (fullwidth letters,
//! ligatures) and composes `e` + U+0301 into `é`; lower-casing after it is the
//! case folding. Then the UTS #39 checks of `unicode-security`: every non-ASCII
//! character must be allowed in identifiers (which refuses format characters
//! such as zero-width spaces and bidi overrides) and the whole name must be in
//! one script (Latin `a` and Cyrillic `а` together are refused). ASCII
//! punctuation such as `@ . - _ +` is allowed, as in user principal names.

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// The longest account id, in bytes after normalisation.
pub const MAX_LEN: usize = 256;

/// The name as it is stored (trimmed, NFKC, case kept), or `None` when it is
/// empty, too long, or holds a control, space, format or mixed-script character.
pub fn canonical(name: &str) -> Option<String> {
    let nfkc: String = name.trim().nfkc().collect();
    let ok = !nfkc.is_empty()
        && nfkc.len() <= MAX_LEN
        && nfkc.chars().all(|c| if c.is_ascii() { c.is_ascii_graphic() } else { c.identifier_allowed() })
        && nfkc.as_str().is_single_script();
    ok.then_some(nfkc)
}

/// The lookup form: [`canonical`], case-folded. Two names that look alike map
/// to the same key or are refused.
pub fn key(name: &str) -> Option<String> {
    canonical(name).map(|n| n.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_fold_to_one_key() {
        assert_eq!(key("Jane@Contoso.com").as_deref(), Some("jane@contoso.com"));
        // Fullwidth letters are the same account as ASCII ones.
        assert_eq!(key("ｊａｎｅ@contoso.com"), key("jane@contoso.com"));
        // Precomposed and decomposed é are one account.
        assert_eq!(key("ren\u{e9}@contoso.com"), key("rene\u{301}@contoso.com"));
        assert_eq!(canonical("  Jane@Contoso.com ").as_deref(), Some("Jane@Contoso.com"));
    }

    #[test]
    fn hidden_and_mixed_script_names_are_refused() {
        for bad in [
            "j\u{430}ne@contoso.com",   // Cyrillic а among Latin letters
            "jane\u{200b}@contoso.com", // zero-width space
            "\u{202e}jane@contoso.com", // right-to-left override
            "jane\u{0}@contoso.com",
            "jane doe@contoso.com",
            "",
            "   ",
        ] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
        assert_eq!(key(&"a".repeat(MAX_LEN + 1)), None);
        // One script, not Latin, is fine.
        assert!(key("иван@contoso").is_none(), "Cyrillic with a Latin domain is mixed");
        assert_eq!(key("иван").as_deref(), Some("иван"));
    }
}
