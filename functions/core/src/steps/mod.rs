//! One module per component, named like it: each HTTP step is one call here.
//! A step never imports another step; what two steps share lives in `flow` or
//! `domain`.

pub mod account;
pub mod admin;
pub mod identify;
pub mod register;
pub mod send_code;
pub mod set_password;
pub mod unlock;
pub mod verify_code;
