//! The admin route table (the idiom of `platform::route`): `(method, path)` → what the request asks for. Pure: no
//! store, no body; a known path with the wrong method is 405 with `Allow`.

use crate::platform::route;

/// What an admin request asks for, from its method and the path below `/api/admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListUsers,
    CreateUser,
    ImportUsers,
    GetUser(String),
    UpdateUser(String),
    DeleteUser(String),
    LockUser(String),
    UnlockUser(String),
    GetPolicy,
    ReplacePolicy,
    /// `GET /api/admin/policy/check`: why parts of the policy cannot take effect.
    CheckPolicy,
    ListAudit,
    Sweep,
    Reindex,
}

pub type Routed = route::Routed<Endpoint>;

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Routes `method` + `path` (the `spin-path-info`, e.g. `/users/<id>/lock`).
pub fn route(method: &str, path: &str) -> Routed {
    use Endpoint::*;
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<&str> = trimmed.split('/').collect();
    let pick = |options: &[(&'static str, Endpoint)]| route::pick(method, options);
    match segments.as_slice() {
        ["users"] => pick(&[("GET", ListUsers), ("POST", CreateUser)]),
        ["users", "import"] => pick(&[("POST", ImportUsers)]),
        ["users", id] if valid_id(id) => {
            let id = (*id).to_owned();
            pick(&[("GET", GetUser(id.clone())), ("PATCH", UpdateUser(id.clone())), ("DELETE", DeleteUser(id))])
        }
        ["users", id, "lock"] if valid_id(id) => pick(&[("POST", LockUser((*id).to_owned()))]),
        ["users", id, "unlock"] if valid_id(id) => pick(&[("POST", UnlockUser((*id).to_owned()))]),
        ["policy"] => pick(&[("GET", GetPolicy), ("PUT", ReplacePolicy)]),
        ["policy", "check"] => pick(&[("GET", CheckPolicy)]),
        ["audit"] => pick(&[("GET", ListAudit)]),
        ["maintenance", "sweep"] => pick(&[("POST", Sweep)]),
        ["maintenance", "reindex"] => pick(&[("POST", Reindex)]),
        _ => Routed::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_methods_and_misses() {
        use Endpoint::*;
        assert_eq!(route("GET", "/users"), Routed::To(ListUsers));
        assert_eq!(route("POST", "/users/"), Routed::To(CreateUser));
        assert_eq!(route("POST", "/users/import"), Routed::To(ImportUsers));
        assert_eq!(route("GET", "/users/import"), Routed::MethodNotAllowed(vec!["POST"]));
        assert_eq!(route("PATCH", "/users/ab12"), Routed::To(UpdateUser("ab12".into())));
        assert_eq!(route("PUT", "/users/ab12"), Routed::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"]));
        assert_eq!(route("POST", "/users/ab12/unlock"), Routed::To(UnlockUser("ab12".into())));
        assert_eq!(route("GET", "/users/ab12/lock"), Routed::MethodNotAllowed(vec!["POST"]));
        assert_eq!(route("PUT", "/policy"), Routed::To(ReplacePolicy));
        assert_eq!(route("GET", "/policy/check"), Routed::To(CheckPolicy));
        assert_eq!(route("DELETE", "/audit"), Routed::MethodNotAllowed(vec!["GET"]));
        assert_eq!(route("POST", "/maintenance/sweep"), Routed::To(Sweep));
        assert_eq!(route("POST", "/maintenance/reindex"), Routed::To(Reindex));
        assert_eq!(route("GET", "/maintenance/sweep"), Routed::MethodNotAllowed(vec!["POST"]));
        for miss in ["", "/", "/nope", "/users/a.b", "/users/%2e%2e", "/users/x/y", "/policy/x", "//users"] {
            assert_eq!(route("GET", miss), Routed::NotFound, "{miss}");
        }
    }
}
