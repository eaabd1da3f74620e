//! Masked destinations for the method list: enough for the user to recognise
//! their own, too little to learn someone else's.

use crate::domain::methods::MethodId;
use crate::domain::phone::Phone;
use crate::domain::users::User;

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

/// The hint for one of `user`'s methods: the first destination it uses,
/// masked (any registered destination of that kind matches); empty for questions.
pub fn method_hint(user: &User, method: MethodId) -> String {
    let c = &user.contacts;
    match method {
        MethodId::Email => c.emails().first().map(|e| email(e)).unwrap_or_default(),
        MethodId::MobileText | MethodId::MobileCall => c.mobiles().first().map(|p| phone(p)).unwrap_or_default(),
        MethodId::OfficeCall => c.office_phone.as_ref().map(phone).unwrap_or_default(),
        MethodId::Questions => String::new(),
    }
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
