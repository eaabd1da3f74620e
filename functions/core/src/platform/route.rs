//! The one routing idiom of every component: a pure `(method, path)` table
//! that names the endpoint, or says 404, or 405 with the methods the path
//! takes (the `Allow` header). No store and no body, so it is tested natively.

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed<E> {
    To(E),
    NotFound,
    /// The path exists; these methods are what it takes.
    MethodNotAllowed(Vec<&'static str>),
}

/// The endpoint for `method` among those a known path takes, else 405.
pub fn pick<E: Clone>(method: &str, options: &[(&'static str, E)]) -> Routed<E> {
    match options.iter().find(|(m, _)| *m == method) {
        Some((_, endpoint)) => Routed::To(endpoint.clone()),
        None => Routed::MethodNotAllowed(options.iter().map(|(m, _)| *m).collect()),
    }
}

/// The table of a component with one route that takes one method.
pub fn single<E: Clone>(method: &str, path: &str, route: &str, verb: &'static str, endpoint: E) -> Routed<E> {
    if trim(path) == route { pick(method, &[(verb, endpoint)]) } else { Routed::NotFound }
}

/// A path without its trailing slash (`/api/register/` is `/api/register`).
pub fn trim(path: &str) -> &str {
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_names_the_endpoint_or_lists_the_methods() {
        let options = [("GET", 1), ("PUT", 2)];
        assert_eq!(pick("PUT", &options), Routed::To(2));
        assert_eq!(pick("DELETE", &options), Routed::MethodNotAllowed(vec!["GET", "PUT"]));
        assert_eq!(single("POST", "/api/unlock/", "/api/unlock", "POST", 7), Routed::To(7));
        assert_eq!(single("GET", "/api/unlock", "/api/unlock", "POST", 7), Routed::MethodNotAllowed(vec!["POST"]));
        assert_eq!(single("POST", "/api/unlock/x", "/api/unlock", "POST", 7), Routed::NotFound);
        assert_eq!(trim("/api/register/"), "/api/register");
        assert_eq!(trim("/"), "/");
    }
}
