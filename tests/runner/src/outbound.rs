//! `allowed_outbound_hosts` checks for `wasi:http/outgoing-handler`.

use anyhow::{Context, Result, bail};
use http_body_util::BodyExt;
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`: stored as `.example.com`, matches any subdomain.
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    /// No port written: the scheme's default (80 / 443).
    Default,
    Range(u16, u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    /// `None` for `*://`.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

/// A component's parsed `allowed_outbound_hosts`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
    /// A templated entry resolved to something that is not a host: as in
    /// Spin, every request is then denied, and this says why.
    invalid: Option<String>,
}

impl AllowedHosts {
    /// Entries with no templates; an invalid one is a load error.
    pub fn parse(entries: &[String]) -> Result<AllowedHosts> {
        Self::resolve(entries, &std::collections::BTreeMap::new())
    }

    /// Entries with `{{ app_var }}` templates resolved from the application
    /// variables, as Spin does (`"{{ api_base }}"`, `"https://{{ host }}"`).
    /// A template naming an unknown variable, or an invalid literal entry, is a
    /// load error; a template whose *value* is not a valid host leaves the
    /// component able to reach nothing (Spin logs "Error resolving variables
    /// when checking request against allowed outbound hosts" and denies).
    pub fn resolve(entries: &[String], app: &std::collections::BTreeMap<String, String>) -> Result<AllowedHosts> {
        let mut parsed = Vec::new();
        let mut invalid = None;
        for e in entries {
            if e.contains("{{") {
                let value = crate::variables::expand(e, app)
                    .with_context(|| format!("invalid allowed_outbound_hosts entry `{e}`"))?;
                match parse_entry(&value) {
                    Ok(entry) => parsed.push(entry),
                    Err(err) => invalid = Some(format!("`{e}` resolved to `{value}`: {err}")),
                }
            } else {
                parsed.push(parse_entry(e).with_context(|| format!("invalid allowed_outbound_hosts entry `{e}`"))?);
            }
        }
        if invalid.is_some() {
            parsed.clear();
        }
        Ok(AllowedHosts { entries: parsed, invalid })
    }

    /// Why every request is denied, when a template resolved to an invalid host.
    pub fn invalid(&self) -> Option<&str> {
        self.invalid.as_deref()
    }

    /// Whether a request to `scheme://host[:port]` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = port.or(match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        });
        self.entries.iter().any(|e| {
            let scheme_ok = e.scheme.as_deref().is_none_or(|s| s == scheme);
            let host_ok = match &e.host {
                HostPattern::Any => true,
                HostPattern::Suffix(s) => host.ends_with(s.as_str()),
                HostPattern::Exact(h) => *h == host,
            };
            let port_ok = match (&e.port, port) {
                (PortPattern::Any, _) => true,
                (PortPattern::Default, Some(p)) => Some(p) == default_port(e.scheme.as_deref().unwrap_or(&scheme)),
                (PortPattern::Range(lo, hi), Some(p)) => (*lo..=*hi).contains(&p),
                (_, None) => false,
            };
            scheme_ok && host_ok && port_ok
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost> {
    if entry.contains("{{") {
        bail!("unresolved template");
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        bail!("missing scheme (write e.g. `https://{entry}`)");
    };
    let scheme = match scheme {
        "*" => None,
        s if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => {
            Some(s.to_ascii_lowercase())
        }
        s => bail!("invalid scheme `{s}`"),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        bail!("paths are not allowed");
    }
    // Split the port off the last `:` that is not inside an IPv6 literal.
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host == "self" || host == "self.alt" {
        bail!("`{host}` (requests to the app itself) is not supported by this runner");
    }
    let host = if host == "*" {
        HostPattern::Any
    } else if let Some(domain) = host.strip_prefix("*.") {
        HostPattern::Suffix(format!(".{domain}"))
    } else if host.is_empty() || host.contains('*') {
        bail!("invalid host `{host}`");
    } else {
        HostPattern::Exact(host)
    };
    let port = match port {
        None => {
            if scheme.as_deref().and_then(default_port).is_none() {
                bail!("a port is required for this scheme");
            }
            PortPattern::Default
        }
        Some("*") => PortPattern::Any,
        Some(p) => match p.split_once("..") {
            Some((lo, hi)) => PortPattern::Range(lo.parse()?, hi.parse::<u16>()?.saturating_sub(1)),
            None => {
                let p: u16 = p.parse().with_context(|| format!("invalid port `{p}`"))?;
                PortPattern::Range(p, p)
            }
        },
    };
    Ok(AllowedHost { scheme, host, port })
}

/// wasi-http hooks that deny requests outside `allowed_outbound_hosts`
/// with `ErrorCode::HttpRequestDenied`, as Spin does.
pub struct OutboundHooks {
    pub component: String,
    pub allowed: Arc<AllowedHosts>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), HttpError>> + Send>),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or_default().to_string();
        let allowed = self.allowed.allows(&scheme, &host, uri.port_u16());
        if let Some(why) = self.allowed.invalid() {
            eprintln!(
                "[{}] outbound request to {uri} denied: error resolving allowed_outbound_hosts: {why}",
                self.component
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        if !allowed {
            eprintln!("[{}] outbound request to {uri} denied: not in allowed_outbound_hosts", self.component);
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let res = res.map(|b| b.boxed_unsync());
            Ok((res, Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>))
        })
    }
}
