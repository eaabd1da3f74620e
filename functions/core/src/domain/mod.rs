//! The records and rules of the domain: users and their methods, policy,
//! phones, questions, password rules, sessions, audit, throttles, CAPTCHA,
//! hashing and delivery. Imports only `platform` and `errors`.

pub mod audit;
pub mod blocklist;
pub mod captcha;
pub mod code;
pub mod credentials;
pub mod delivery;
pub mod email;
pub mod hashing;
pub mod mask;
pub mod methods;
pub mod notify;
pub mod password_policy;
pub mod phone;
pub mod policy;
pub mod questions;
pub mod security_info;
pub mod session;
pub mod templates;
pub mod throttle;
pub mod username;
pub mod users;
