//! A fake of every delivery provider, on loopback: it checks each request
//! against the provider's documented shape (path, auth header or signature,
//! content type, required fields), with its own implementation of each
//! scheme, records the messages, and can be told to fail (500, 429, 401) or
//! to hang past the app's 10 s timeout.
//!
//! - Twilio Messages API: `POST /2010-04-01/Accounts/{sid}/Messages.json`,
//!   Basic auth, form `To`, `Body`, `From` or `MessagingServiceSid`.
//! - SendGrid v3: `POST /v3/mail/send`, Bearer key, JSON `personalizations`,
//!   `from`, `subject`, `content` (text/plain first).
//! - ACS: `POST /sms?api-version=2021-03-07` and
//!   `/emails:send?api-version=2023-03-31`, HMAC-SHA256 signed.
//! - Standard Webhooks: `POST /hooks/unlatch`, `webhook-signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TWILIO_SID: &str = "AC00000000000000000000000000000001";
pub const TWILIO_TOKEN: &str = "twilio-auth-token-s3cret";
pub const TWILIO_FROM: &str = "+14255550100";
pub const SENDGRID_KEY: &str = "SG.sendgrid-api-key-s3cret";
/// base64 of `acs-access-key-s3cret-0123456789ab`.
pub const ACS_KEY: &str = "YWNzLWFjY2Vzcy1rZXktczNjcmV0LTAxMjM0NTY3ODlhYg==";
pub const ACS_SMS_FROM: &str = "+18005550100";
pub const EMAIL_FROM: &str = "no-reply@contoso.com";
/// `whsec_` + base64 of `webhook-key-s3cret-0123456789abc`.
pub const WEBHOOK_SECRET: &str = "whsec_d2ViaG9vay1rZXktczNjcmV0LTAxMjM0NTY3ODlhYmM=";
pub const WEBHOOK_PATH: &str = "/hooks/unlatch";

/// Every credential the fake knows: none may appear in an audit or a log.
pub const SECRETS: [&str; 4] = [TWILIO_TOKEN, SENDGRID_KEY, ACS_KEY, "d2ViaG9vay1rZXktczNjcmV0"];

/// What the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// Answer this status (429 with `Retry-After: 7`).
    Status(u16),
    /// Read the request, then say nothing for 15 s.
    Hang,
}

/// A message the fake accepted.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub provider: &'static str,
    /// `sms`, `email` or `voice` (a call: `text` is its TwiML).
    pub channel: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Default)]
struct State {
    mode: Option<Mode>,
    delivered: Vec<Delivered>,
    rejected: Vec<String>,
}

pub struct FakeProviders {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// A parsed HTTP/1.1 request.
pub struct Incoming {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl FakeProviders {
    pub fn start() -> FakeProviders {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake providers");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeProviders { addr, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.lock().unwrap().delivered.clone()
    }

    pub fn last(&self) -> Delivered {
        self.delivered().pop().expect("a message reached the fake provider")
    }

    /// Why requests were refused (a wrong signature, a missing field).
    pub fn rejected(&self) -> Vec<String> {
        self.state.lock().unwrap().rejected.clone()
    }

    /// The app's variables for `sms` and `email` providers, every provider
    /// pointed at this fake (`dev_mode` on, so the outbox stays readable too).
    pub fn vars(&self, sms: &str, email: &str) -> Vec<(String, String)> {
        let o = self.origin();
        [
            ("dev_mode", "true"),
            ("sms_provider", sms),
            ("email_provider", email),
            ("webhook_origin", &o),
            ("webhook_path", WEBHOOK_PATH),
            ("webhook_secret", WEBHOOK_SECRET),
            ("twilio_api_base", &o),
            ("twilio_account_sid", TWILIO_SID),
            ("twilio_auth_token", TWILIO_TOKEN),
            ("twilio_from", TWILIO_FROM),
            ("acs_endpoint", &o),
            ("acs_access_key", ACS_KEY),
            ("acs_sms_from", ACS_SMS_FROM),
            ("acs_email_from", EMAIL_FROM),
            ("sendgrid_api_base", &o),
            ("sendgrid_api_key", SENDGRID_KEY),
            ("email_from", EMAIL_FROM),
            ("public_base_url", "https://sspr.contoso.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Incoming> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':')?;
        headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let len = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Incoming { method, target, headers, body })
}

fn answer(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = stream.write_all(out.as_bytes());
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let Some(req) = read_request(&mut stream) else { return };
    let mode = state.lock().unwrap().mode.unwrap_or(Mode::Accept);
    match check(&req) {
        Err((status, why)) => {
            state.lock().unwrap().rejected.push(why.clone());
            answer(&mut stream, status, &[], &format!("{{\"message\":{why:?}}}"));
        }
        Ok((delivered, id_header)) => match mode {
            Mode::Hang => std::thread::sleep(Duration::from_secs(15)),
            Mode::Status(429) => answer(&mut stream, 429, &[("retry-after", "7"), (id_header, "req-429")], "{}"),
            Mode::Status(s) => answer(&mut stream, s, &[(id_header, "req-failed")], "{\"message\":\"nope\"}"),
            Mode::Accept => {
                let status = if delivered.provider == "twilio" { 201 } else { 202 };
                state.lock().unwrap().delivered.push(delivered);
                answer(&mut stream, status, &[(id_header, "req-ok")], "{}");
            }
        },
    }
}

type Checked = Result<(Delivered, &'static str), (u16, String)>;

/// Checks a request against its provider's documented shape.
pub fn check(req: &Incoming) -> Checked {
    if req.method != "POST" {
        return Err((405, "only POST".into()));
    }
    let twilio_prefix = format!("/2010-04-01/Accounts/{TWILIO_SID}/");
    match req.target.as_str() {
        t if t == format!("{twilio_prefix}Messages.json") => twilio(req),
        t if t == format!("{twilio_prefix}Calls.json") => twilio_call(req),
        "/v3/mail/send" => sendgrid(req),
        "/sms?api-version=2021-03-07" | "/emails:send?api-version=2023-03-31" => acs(req),
        WEBHOOK_PATH => webhook(req),
        other => Err((404, format!("no such resource {other}"))),
    }
}

fn content_type(req: &Incoming, want: &str) -> Result<(), (u16, String)> {
    match req.header("content-type") {
        Some(ct) if ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(want) => Ok(()),
        other => Err((415, format!("content-type {other:?}, want {want}"))),
    }
}

fn json_body(req: &Incoming) -> Result<Value, (u16, String)> {
    content_type(req, "application/json")?;
    serde_json::from_slice(&req.body).map_err(|e| (400, format!("bad JSON: {e}")))
}

fn field(v: &Value, pointer: &str) -> Result<String, (u16, String)> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| (400, format!("missing field {pointer}")))
}

fn hmac256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// What every Twilio request shares: HTTP Basic auth with the account SID and
/// auth token, and a form-encoded body (its fields).
fn twilio_form(req: &Incoming) -> Result<Vec<(String, String)>, (u16, String)> {
    let basic = format!("Basic {}", B64.encode(format!("{TWILIO_SID}:{TWILIO_TOKEN}")));
    if req.header("authorization") != Some(basic.as_str()) {
        return Err((401, "twilio: wrong Basic credentials".into()));
    }
    content_type(req, "application/x-www-form-urlencoded")?;
    Ok(url::form_urlencoded::parse(&req.body).into_owned().collect())
}

fn twilio(req: &Incoming) -> Checked {
    let form = twilio_form(req)?;
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let to = get("To").ok_or((400, "twilio: missing To".to_string()))?;
    let text = get("Body").ok_or((400, "twilio: missing Body".to_string()))?;
    if get("From").is_none() && get("MessagingServiceSid").is_none() {
        return Err((400, "twilio: missing From or MessagingServiceSid".into()));
    }
    let d = Delivered { provider: "twilio", channel: "sms", to, subject: String::new(), text, html: None };
    Ok((d, "twilio-request-id"))
}

/// Twilio Calls API (<https://www.twilio.com/docs/voice/api/call-resource>):
/// Basic auth, form `To`, `From` and inline `Twiml` that gathers one key and
/// posts it to our callback. Recorded with the TwiML as its text.
fn twilio_call(req: &Incoming) -> Checked {
    let form = twilio_form(req)?;
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let to = get("To").ok_or((400, "twilio: missing To".to_string()))?;
    get("From").ok_or((400, "twilio: a call needs From".to_string()))?;
    let twiml = get("Twiml").or_else(|| get("Url")).ok_or((400, "twilio: missing Twiml or Url".to_string()))?;
    if !(twiml.starts_with("<Response>") && twiml.contains("<Gather") && twiml.contains("action=\"")) {
        return Err((400, format!("twilio: TwiML without a Gather action: {twiml}")));
    }
    let d = Delivered { provider: "twilio", channel: "voice", to, subject: String::new(), text: twiml, html: None };
    Ok((d, "twilio-request-id"))
}

fn sendgrid(req: &Incoming) -> Checked {
    if req.header("authorization") != Some(format!("Bearer {SENDGRID_KEY}").as_str()) {
        return Err((401, "sendgrid: wrong bearer key".into()));
    }
    let v = json_body(req)?;
    let to = field(&v, "/personalizations/0/to/0/email")?;
    field(&v, "/from/email")?;
    let subject = field(&v, "/subject")?;
    if field(&v, "/content/0/type")? != "text/plain" {
        return Err((400, "sendgrid: text/plain must come first".into()));
    }
    let text = field(&v, "/content/0/value")?;
    let html = v.pointer("/content/1/value").and_then(Value::as_str).map(str::to_owned);
    Ok((Delivered { provider: "sendgrid", channel: "email", to, subject, text, html }, "x-message-id"))
}

fn acs(req: &Incoming) -> Checked {
    let date = req.header("x-ms-date").ok_or((401, "acs: missing x-ms-date".to_string()))?;
    let hash = B64.encode(Sha256::digest(&req.body));
    if req.header("x-ms-content-sha256") != Some(hash.as_str()) {
        return Err((401, "acs: x-ms-content-sha256 does not match the body".into()));
    }
    let host = req.header("host").unwrap_or_default();
    let to_sign = format!("POST\n{}\n{date};{host};{hash}", req.target);
    let sig = B64.encode(hmac256(&B64.decode(ACS_KEY).unwrap(), to_sign.as_bytes()));
    let want = format!("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={sig}");
    if req.header("authorization") != Some(want.as_str()) {
        return Err((401, "acs: wrong signature".into()));
    }
    let v = json_body(req)?;
    let d = if req.target.starts_with("/sms") {
        field(&v, "/from")?;
        let to = field(&v, "/smsRecipients/0/to")?;
        Delivered {
            provider: "acs",
            channel: "sms",
            to,
            subject: String::new(),
            text: field(&v, "/message")?,
            html: None,
        }
    } else {
        field(&v, "/senderAddress")?;
        let html = v.pointer("/content/html").and_then(Value::as_str).map(str::to_owned);
        Delivered {
            provider: "acs",
            channel: "email",
            to: field(&v, "/recipients/to/0/address")?,
            subject: field(&v, "/content/subject")?,
            text: field(&v, "/content/plainText")?,
            html,
        }
    };
    Ok((d, "x-ms-request-id"))
}

fn webhook(req: &Incoming) -> Checked {
    let id = req.header("webhook-id").ok_or((401, "webhook: missing webhook-id".to_string()))?;
    let ts = req.header("webhook-timestamp").ok_or((401, "webhook: missing webhook-timestamp".to_string()))?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if ts.parse::<u64>().map_or(true, |t| t.abs_diff(now) > 300) {
        return Err((401, "webhook: timestamp too far from now".into()));
    }
    let key = B64.decode(WEBHOOK_SECRET.trim_start_matches("whsec_")).unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&req.body);
    let want = format!("v1,{}", B64.encode(hmac256(&key, &signed)));
    let sent = req.header("webhook-signature").unwrap_or_default();
    if !sent.split(' ').any(|s| s == want) {
        return Err((401, "webhook: wrong signature".into()));
    }
    let v = json_body(req)?;
    let channel = match field(&v, "/channel")?.as_str() {
        "sms" => "sms",
        "email" => "email",
        "voice" => "voice",
        other => return Err((400, format!("webhook: unknown channel {other}"))),
    };
    // A "press #" call: what it says, and the callback it reports the key to (recorded as its text).
    if channel == "voice" {
        field(&v, "/says")?;
        let (to, url) = (field(&v, "/to")?, field(&v, "/callback_url")?);
        return Ok((
            Delivered { provider: "webhook", channel, to, subject: String::new(), text: url, html: None },
            "webhook-id",
        ));
    }
    let html = v.pointer("/html").and_then(Value::as_str).map(str::to_owned);
    let subject = v.pointer("/subject").and_then(Value::as_str).unwrap_or_default().to_owned();
    let d = Delivered { provider: "webhook", channel, to: field(&v, "/to")?, subject, text: field(&v, "/text")?, html };
    Ok((d, "webhook-id"))
}
