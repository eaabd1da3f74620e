//! Masked destinations for the method list: enough for the user to recognise
//! their own, too little to learn someone else's.

use crate::domain::phone::Phone;

/// `jane@contoso.com` → `j•••@contoso.com`.
pub fn email(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}

/// `+1 425 555 0112` → `+1 •••• ••12`.
pub fn phone(p: &Phone) -> String {
    let national = p.national();
    let tail: String = national.chars().skip(national.chars().count().saturating_sub(2)).collect();
    format!("+{} •••• ••{tail}", p.country_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_only_the_edges() {
        assert_eq!(email("jane.doe@contoso.com"), "j•••@contoso.com");
        assert_eq!(email("nonsense"), "•••");
        assert_eq!(phone(&Phone::new("1", "425 555 0112")), "+1 •••• ••12");
    }
}
