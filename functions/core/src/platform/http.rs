//! Outbound HTTP as a seam: providers build an [`OutboundRequest`] and read an
//! [`OutboundResponse`] purely, so they are unit-tested natively; the Spin
//! implementation (`unlatch-web`) sends it with a timeout ([`TIMEOUT_SECONDS`]).

/// How long a provider may take, from connecting to the last byte of its answer.
pub const TIMEOUT_SECONDS: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    /// Absolute URL (`https://host[:port]/path?query`).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundRequest {
    pub fn post(url: impl Into<String>, content_type: &str, body: Vec<u8>) -> Self {
        Self { method: "POST", url: url.into(), headers: vec![("content-type".into(), content_type.into())], body }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// No answer within [`TIMEOUT_SECONDS`].
    Timeout,
    /// Refused by the host (`allowed_outbound_hosts`), a DNS or connection
    /// failure, or a broken answer; the text says which (never a credential).
    Connection(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Timeout => write!(f, "no answer within {TIMEOUT_SECONDS} s"),
            HttpError::Connection(e) => write!(f, "connection failed: {e}"),
        }
    }
}

pub trait HttpClient {
    fn send(&self, req: &OutboundRequest) -> Result<OutboundResponse, HttpError>;
}

/// The origin (`scheme://host[:port]`) of a URL as configured, without a
/// trailing slash: what `allowed_outbound_hosts` names.
pub fn origin(base: &str) -> String {
    base.trim().trim_end_matches('/').to_owned()
}

/// A client that records requests and answers from a script: provider tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct FakeHttp {
        pub sent: RefCell<Vec<OutboundRequest>>,
        pub answers: RefCell<Vec<Result<OutboundResponse, HttpError>>>,
    }

    impl FakeHttp {
        /// Answers every request with `status` and `headers` (an empty body).
        pub fn answering(status: u16, headers: &[(&str, &str)]) -> Self {
            let fake = FakeHttp::default();
            fake.answers.borrow_mut().push(Ok(OutboundResponse {
                status,
                headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
                body: Vec::new(),
            }));
            fake
        }

        pub fn failing(e: HttpError) -> Self {
            let fake = FakeHttp::default();
            fake.answers.borrow_mut().push(Err(e));
            fake
        }

        pub fn last(&self) -> OutboundRequest {
            self.sent.borrow().last().cloned().expect("a request was sent")
        }
    }

    impl HttpClient for FakeHttp {
        fn send(&self, req: &OutboundRequest) -> Result<OutboundResponse, HttpError> {
            self.sent.borrow_mut().push(req.clone());
            let answers = self.answers.borrow();
            answers.last().cloned().unwrap_or(Ok(OutboundResponse { status: 200, headers: vec![], body: vec![] }))
        }
    }
}
