//! The operator's API (`/api/admin/...`) without HTTP: the bearer-token check,
//! routing, request validation and the call behind each route. The `admin`
//! component only reads the request, calls one function here and writes the
//! answer. Every change appends an audit event with actor `admin`; no event,
//! error message or response ever holds a password, answer or hash.
//!
//! - `auth`: the bearer-token check against the `admin_token` variable.
//! - `route`: `(method, path)` → [`Endpoint`], or 404, or 405 with `Allow`.
//! - `validate`: query strings and request bodies, and their checks.
//! - `users`: create, read, list, update, delete, lock, unlock, import.
//! - `policy`: read and replace the policy.
//! - `audit`: the audit log, newest first.
//! - [`maintenance`]: the sweep of stale records.
//!
//! Everything the component calls is re-exported here, so callers name it
//! `admin::...` whatever file it lives in.

mod audit;
mod auth;
pub mod maintenance;
mod policy;
mod reindex;
mod route;
mod users;
mod validate;

pub use audit::{AuditPage, list_audit};
pub use auth::{Auth, ambiguous, authorize, unauthorized, www_authenticate};
pub use maintenance::{SWEEP_BATCH, admin_sweep as sweep};
pub use policy::{check_policy, get_policy, parse_policy, replace_policy};
pub use reindex::{REINDEX_BATCH, reindex};
pub use route::{Endpoint, Routed, route};
pub use users::{
    DEFAULT_PAGE, ImportReport, MAX_IMPORT_LINES, MAX_PAGE, UserPage, create_user, delete_user, get_user, import_users,
    list_users, lock_user, unlock_user, update_user, view,
};
pub use validate::{
    AnswerInput, ContactsInput, ContactsPatch, CreateUserRequest, LockRequest, PhoneInput, Problem, UpdateUserRequest,
    parse_query, validate_new_user,
};

/// Who audit events of this API name as the actor.
pub const ACTOR: &str = "admin";
