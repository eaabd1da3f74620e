//! Sign-in sessions and registration steps as a client takes them.

use crate::{App, Reply};
use serde_json::{Value, json};
use unlatch_core::WholeStoreScan;

/// A signed-in browser: the session cookie and the CSRF token from the sign-in reply.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub signin: Value,
}

pub fn signin(app: &App, username: &str, password: &str) -> Reply {
    app.post_json("/api/signin", &json!({ "username": username, "password": password }))
}

/// Signs in and keeps the cookie, failing the test otherwise.
pub fn sign_in(app: &App, username: &str, password: &str) -> Session {
    let reply = signin(app, username, password);
    assert_eq!(reply.status, 200, "sign-in: {}", reply.text());
    let set_cookie = reply.header("set-cookie").expect("a session cookie").to_owned();
    let cookie = set_cookie.split(';').next().unwrap().trim().to_owned();
    let body = reply.json();
    Session { cookie, csrf: body["csrf_token"].as_str().expect("a CSRF token").to_owned(), signin: body }
}

impl Session {
    pub fn get(&self, app: &App, target: &str) -> Reply {
        app.request("GET", target, &[("cookie", &self.cookie)], b"")
    }

    /// A write with the cookie and the CSRF token, as the pages send it.
    pub fn send(&self, app: &App, method: &str, target: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        app.request(
            method,
            target,
            &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf), ("content-type", "application/json")],
            &bytes,
        )
    }

    /// Starts proving a phone or email, sends the code, reads it from the dev
    /// outbox and verifies it; returns the verify-code reply.
    pub fn register_contact(
        &self,
        app: &App,
        method: &str,
        country_code: &str,
        destination: &str,
        mode: &str,
    ) -> Reply {
        let started = self.send(
            app,
            "POST",
            "/api/register/start",
            Some(&json!({ "method": method, "country_code": country_code, "destination": destination, "mode": mode })),
        );
        assert_eq!(started.status, 201, "register/start: {}", started.text());
        let started = started.json();
        let flow = started["flow"].as_str().unwrap();
        let send_method = started["send_code"]["method"].as_str().unwrap();
        let sent = crate::journey::send_code(app, flow, send_method, destination);
        assert_eq!(sent.status, 202, "send-code: {}", sent.text());
        crate::journey::verify_code(app, flow, send_method, &crate::journey::last_code(app))
    }

    /// The step-up of this session: `POST /api/register/verify`, then a code
    /// sent to the existing `destination` of `method`, read from the dev outbox
    /// and verified; returns the verify-code reply.
    pub fn step_up(&self, app: &App, method: &str, destination: &str) -> Reply {
        let started = self.send(app, "POST", "/api/register/verify", None);
        assert_eq!(started.status, 201, "register/verify: {}", started.text());
        let flow = started.json()["flow"].as_str().expect("a step-up flow").to_owned();
        let sent = crate::journey::send_code(app, &flow, method, destination);
        assert_eq!(sent.status, 202, "send-code: {}", sent.text());
        crate::journey::verify_code(app, &flow, method, &crate::journey::last_code(app))
    }
}

/// Every key and value in the app's store, values as lossy text.
pub fn kv_dump(app: &App) -> Vec<(String, String)> {
    use unlatch_core::Store;
    let store = app.store();
    store
        .keys_with_prefix("")
        .unwrap()
        .into_iter()
        .map(|k| {
            let v = store.get(&k).unwrap().map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default();
            (k, v)
        })
        .collect()
}
