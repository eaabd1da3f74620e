//! Route matching rules, without any wasm.

use unlatch_runner::manifest::HttpTrigger;
use unlatch_runner::routes::{RouteMatch, Router};

fn router(routes: &[(&str, &str)]) -> Router {
    let triggers: Vec<HttpTrigger> =
        routes.iter().map(|(r, c)| HttpTrigger { route: Some(r.to_string()), component: c.to_string() }).collect();
    Router::new(&triggers).unwrap()
}

fn hit(r: &Router, path: &str) -> Option<(String, String, String)> {
    r.route(path).map(|m| (m.component, m.component_route, m.path_info))
}

fn t(c: &str, route: &str, info: &str) -> Option<(String, String, String)> {
    Some((c.into(), route.into(), info.into()))
}

#[test]
fn exact_routes_match_only_themselves() {
    let r = router(&[("/api/unlock", "unlock")]);
    assert_eq!(hit(&r, "/api/unlock"), t("unlock", "/api/unlock", ""));
    assert_eq!(hit(&r, "/api/unlock/"), None);
    assert_eq!(hit(&r, "/api/unlock/x"), None);
    assert_eq!(hit(&r, "/api/unlocked"), None);
    assert_eq!(hit(&r, "/api"), None);
}

#[test]
fn wildcard_routes_match_the_prefix_and_below() {
    let r = router(&[("/api/admin/...", "admin")]);
    assert_eq!(hit(&r, "/api/admin"), t("admin", "/api/admin", ""));
    assert_eq!(hit(&r, "/api/admin/"), t("admin", "/api/admin", "/"));
    assert_eq!(hit(&r, "/api/admin/users/3"), t("admin", "/api/admin", "/users/3"));
    assert_eq!(hit(&r, "/api/administrator"), None);
    assert_eq!(hit(&r, "/api"), None);
}

#[test]
fn root_wildcard_matches_everything() {
    let r = router(&[("/...", "pages")]);
    assert_eq!(hit(&r, "/"), t("pages", "", "/"));
    assert_eq!(hit(&r, "/index.html"), t("pages", "", "/index.html"));
    assert_eq!(hit(&r, "/a/b/c"), t("pages", "", "/a/b/c"));
}

#[test]
fn most_specific_route_wins_regardless_of_order() {
    let routes = [("/...", "pages"), ("/api/...", "api"), ("/api/admin/...", "admin"), ("/api/admin/users", "users")];
    for order in [routes.to_vec(), routes.iter().rev().cloned().collect()] {
        let r = router(&order);
        assert_eq!(hit(&r, "/api/admin/users").unwrap().0, "users");
        assert_eq!(hit(&r, "/api/admin/users/1").unwrap().0, "admin");
        assert_eq!(hit(&r, "/api/admin").unwrap().0, "admin");
        assert_eq!(hit(&r, "/api/x").unwrap().0, "api");
        assert_eq!(hit(&r, "/api").unwrap().0, "api");
        assert_eq!(hit(&r, "/apix").unwrap().0, "pages");
        assert_eq!(hit(&r, "/").unwrap().0, "pages");
    }
}

#[test]
fn exact_beats_wildcard_with_the_same_prefix() {
    let r = router(&[("/api/...", "wild"), ("/api", "exact")]);
    assert_eq!(hit(&r, "/api").unwrap().0, "exact");
    assert_eq!(hit(&r, "/api/").unwrap().0, "wild");
}

#[test]
fn matched_route_is_reported_as_written() {
    let r = router(&[("/api/admin/...", "admin")]);
    let m: RouteMatch = r.route("/api/admin/x").unwrap();
    assert_eq!(m.raw_route, "/api/admin/...");
    assert_eq!(m.component_route, "/api/admin");
}

#[test]
fn no_routes_or_no_match_is_none() {
    assert_eq!(hit(&router(&[]), "/"), None);
    assert_eq!(hit(&router(&[("/a", "a")]), "/b"), None);
}

#[test]
fn private_routes_are_not_routable_and_duplicates_are_rejected() {
    let private = [HttpTrigger { route: None, component: "hidden".into() }];
    let r = Router::new(&private).unwrap();
    assert!(r.table().is_empty());
    assert_eq!(r.route("/"), None);

    let dup = [
        HttpTrigger { route: Some("/a/...".into()), component: "x".into() },
        HttpTrigger { route: Some("/a/...".into()), component: "y".into() },
    ];
    assert!(Router::new(&dup).is_err());
    for bad in ["/a/.../b", "/users/:id"] {
        let bad = [HttpTrigger { route: Some(bad.into()), component: "x".into() }];
        assert!(Router::new(&bad).is_err());
    }
}
