//! Maps a request path to a file under the mount, refusing anything that could
//! step outside it.

/// The path could name something outside the mount, or is malformed.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected;

/// Pages reachable without an extension: `/reset` serves `/reset.html`.
const PAGES: [&str; 4] = ["register", "reset", "unlock", "change-password"];

/// Returns the absolute file path to serve for a request path (query ignored).
///
/// Percent-encoded `.`, `/`, `\` and NUL are refused outright rather than decoded:
/// no legitimate page name needs them, and decoding them is how traversal
/// slips past checks. Any `.`/`..` segment, hidden segment, backslash or
/// control character is refused too.
pub fn resolve(raw: &str) -> Result<String, Rejected> {
    let path = raw.split(['?', '#']).next().unwrap_or("");
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return Err(Rejected);
    }
    let decoded = percent_decode(path)?;
    if decoded.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(Rejected);
    }
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| s.starts_with('.')) {
        return Err(Rejected);
    }
    let joined = segments.join("/");
    Ok(match joined.as_str() {
        "" => "/index.html".to_owned(),
        page if PAGES.contains(&page) => format!("/{page}.html"),
        _ if decoded.ends_with('/') => format!("/{joined}/index.html"),
        _ => format!("/{joined}"),
    })
}

/// Decodes `%`-escapes (`percent-encoding`), after refusing malformed ones and
/// those that name `.`, `/`, `\` or NUL.
fn percent_decode(path: &str) -> Result<String, Rejected> {
    for (i, _) in path.match_indices('%') {
        let hex = path.get(i + 1..i + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())).ok_or(Rejected)?;
        let byte = u8::from_str_radix(hex, 16).map_err(|_| Rejected)?;
        if matches!(byte, b'.' | b'/' | b'\\' | 0) {
            return Err(Rejected);
        }
    }
    percent_encoding::percent_decode_str(path).decode_utf8().map(|s| s.into_owned()).map_err(|_| Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_pages_and_files() {
        assert_eq!(resolve("/").unwrap(), "/index.html");
        assert_eq!(resolve("").unwrap(), "/index.html");
        assert_eq!(resolve("/reset").unwrap(), "/reset.html");
        assert_eq!(resolve("/reset?x=1").unwrap(), "/reset.html");
        assert_eq!(resolve("/css/site.css").unwrap(), "/css/site.css");
        assert_eq!(resolve("/docs/").unwrap(), "/docs/index.html");
        assert_eq!(resolve("/a%20b.txt").unwrap(), "/a b.txt");
    }

    #[test]
    fn refuses_traversal_in_every_spelling() {
        for bad in [
            "/../etc/passwd",
            "/css/../../secret",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc",
            "/css%2f..%2fx",
            "/..%5cwindows",
            "/a\\b",
            "/a%00.html",
            "/.git/config",
            "/./index.html",
            "/%zz",
            "/%c0%ae%c0%ae/x",
        ] {
            assert_eq!(resolve(bad), Err(Rejected), "{bad} must be refused");
        }
    }
}
