//! Identifiers that look alike are one account or refused: usernames through
//! the admin API (NFKC, case folding, UTS #39 checks), and emails through
//! registration (one strict rule, shared with the admin API).

use serde_json::{Value, json};
use unlatch_e2e::account::sign_in;
use unlatch_e2e::journey::*;
use unlatch_e2e::{App, Reply};

const TOKEN: &str = "e2e-admin-token-identifiers-0123456789";

fn app() -> App {
    App::start_with(&[("dev_mode", "true"), ("admin_token", TOKEN)])
}

fn create(app: &App, username: &str) -> Reply {
    let body = json!({ "username": username, "display_name": "Sam Roe", "password": PASSWORD });
    let bearer = format!("Bearer {TOKEN}");
    let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    app.request("POST", "/api/admin/users", &headers, &serde_json::to_vec(&body).unwrap())
}

#[test]
fn lookalike_usernames_are_one_account_or_refused() {
    let app = app();
    assert_eq!(create(&app, "rene@contoso.com").status, 201);
    let first = create(&app, "ren\u{e9}@contoso.com");
    assert_eq!(first.status, 201, "{}", first.text());
    for same in ["RENE@contoso.com", "ｒｅｎｅ@contoso.com", "rene\u{301}@contoso.com", "REN\u{c9}@CONTOSO.COM"] {
        let r = create(&app, same);
        assert_eq!((r.status, r.json()["error"].as_str()), (409, Some("username_taken")), "{same:?}: {}", r.text());
    }
    for hidden in
        ["r\u{435}ne@contoso.com", "rene\u{200b}@contoso.com", "\u{202e}moc.osotnoc@ener", "rene\t@contoso.com"]
    {
        let r = create(&app, hidden);
        assert!(matches!(r.status, 400 | 422), "{hidden:?}: {} {}", r.status, r.text());
        assert!(r.text().contains("username"), "{}", r.text());
    }
    // The fullwidth spelling signs in to the ASCII account; a hidden character finds nobody.
    assert_eq!(unlatch_e2e::account::signin(&app, "ｒｅｎｅ@contoso.com", PASSWORD).status, 200);
    assert_eq!(unlatch_e2e::account::signin(&app, "rene\u{200b}@contoso.com", PASSWORD).status, 401);
}

#[test]
fn registration_refuses_routed_malformed_and_hidden_emails() {
    let app = app();
    user_with(&app, "sam@contoso.com", |u| u.contacts = Default::default());
    let s = sign_in(&app, "sam@contoso.com", PASSWORD);
    for bad in [
        "sam@fabrikam..com",
        "sam%eve@fabrikam.com",
        "eve!sam@fabrikam.com",
        "sam\u{202e}@fabrikam.com",
        "s\u{430}m@fabrikam.com",
        "sam@fab_rikam.com",
        "sa:m@fabrikam.com",
    ] {
        let body: Value = json!({ "method": "alternate_email", "destination": bad });
        let r = s.send(&app, "POST", "/api/register/start", Some(&body));
        assert_eq!((r.status, r.json()["error"].as_str()), (422, Some("invalid_destination")), "{bad:?}");
    }
}
