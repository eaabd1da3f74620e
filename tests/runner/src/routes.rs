//! HTTP route table with Spin's matching rules: exact routes beat wildcards,
//! a longer wildcard prefix beats a shorter one.

use crate::manifest::HttpTrigger;
use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// Prefix before the `/...` suffix; empty for `/...`.
    Wildcard(String),
}

#[derive(Debug, Clone)]
struct Route {
    pattern: Pattern,
    raw: String,
    component: String,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

/// The outcome of routing one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// The route as written in the manifest (`spin-matched-route`, `spin-raw-component-route`).
    pub raw_route: String,
    /// The route without its `/...` suffix (`spin-component-route`).
    pub component_route: String,
    /// The path after the matched prefix (`spin-path-info`); empty for exact routes.
    pub path_info: String,
}

impl Router {
    /// Builds the table; private routes are skipped, duplicate routes rejected (as Spin 3 does).
    pub fn new(triggers: &[HttpTrigger]) -> Result<Router> {
        let mut routes: Vec<Route> = Vec::new();
        for t in triggers {
            let Some(raw) = &t.route else { continue };
            if raw.split('/').any(|seg| seg.starts_with(':')) {
                bail!("route `{raw}`: single-segment wildcards (`:name`) are not supported by this runner");
            }
            let pattern = match raw.strip_suffix("/...") {
                Some(prefix) => Pattern::Wildcard(prefix.to_string()),
                None if raw.contains("...") => bail!("route `{raw}`: `...` is only allowed as a final `/...`"),
                None => Pattern::Exact(raw.clone()),
            };
            if let Some(other) = routes.iter().find(|r| r.pattern == pattern) {
                bail!("duplicate route `{raw}` (components `{}` and `{}`)", other.component, t.component);
            }
            routes.push(Route { pattern, raw: raw.clone(), component: t.component.clone() });
        }
        Ok(Router { routes })
    }

    /// Routes a request path (without query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let mut best: Option<(&Route, usize)> = None;
        for r in &self.routes {
            match &r.pattern {
                Pattern::Exact(p) if p == path => {
                    return Some(RouteMatch {
                        component: r.component.clone(),
                        raw_route: r.raw.clone(),
                        component_route: p.clone(),
                        path_info: String::new(),
                    });
                }
                Pattern::Wildcard(prefix)
                    if wildcard_matches(prefix, path) && best.is_none_or(|(_, len)| prefix.len() > len) =>
                {
                    best = Some((r, prefix.len()));
                }
                _ => {}
            }
        }
        best.map(|(r, len)| RouteMatch {
            component: r.component.clone(),
            raw_route: r.raw.clone(),
            component_route: path[..len].to_string(),
            path_info: path[len..].to_string(),
        })
    }

    /// `(route as written, component)` in manifest order, for the startup table.
    pub fn table(&self) -> Vec<(String, String)> {
        self.routes.iter().map(|r| (r.raw.clone(), r.component.clone())).collect()
    }
}

fn wildcard_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}
