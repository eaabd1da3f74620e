//! Delivery of codes and notices through a [`Notifier`] seam. Components pick
//! a provider from Spin variables; [`DevOutbox`] (the default) keeps messages
//! in KV (`outbox:<seq>`) for a dev-only route, so `spin up` works with no accounts.

use crate::domain::methods::Kind;
use crate::errors::Result;
use crate::platform::clock::Clock;
use crate::platform::counter::Counter;
use crate::platform::keys;
use crate::platform::kv;
use crate::platform::store::Store;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Voice,
}

impl Channel {
    pub fn for_kind(kind: Kind) -> Option<Channel> {
        match kind {
            Kind::Email => Some(Channel::Email),
            Kind::Sms => Some(Channel::Sms),
            Kind::Voice => Some(Channel::Voice),
            Kind::Questions => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub channel: Channel,
    /// Email address or E.164 phone number.
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Why a message could not be handed over: what the audit records (never
/// the message, a code or a credential).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyError {
    pub reason: String,
    /// The provider that failed (`twilio`, `acs`, ...); `None` for the outbox.
    pub provider: Option<&'static str>,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    /// The provider's id of the request, when it gave one.
    pub request_id: Option<String>,
    /// The provider throttled us (429): seconds to wait.
    pub retry_after: Option<u64>,
}

impl NotifyError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), ..Self::default() }
    }

    /// `detail` (a JSON object) with what the audit keeps of the failure:
    /// provider, HTTP status, the provider's request id and the reason.
    pub fn audit_detail(&self, mut detail: serde_json::Value) -> serde_json::Value {
        detail["provider"] = self.provider.unwrap_or("dev").into();
        detail["status"] = self.status.into();
        detail["request_id"] = self.request_id.clone().into();
        detail["reason"] = self.reason.clone().into();
        detail
    }
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "delivery failed: {}", self.reason)
    }
}

/// A "press #" verification call: the provider rings `to`, says `says`, and
/// reports the key pressed (or that none was) to `callback_url`
/// (`POST /api/voice/<token>`). No code is ever read out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceCall {
    /// E.164 phone number.
    pub to: String,
    /// What the call says: who calls, and "press # to verify".
    pub says: String,
    pub callback_url: String,
}

pub trait Notifier {
    fn send(&self, msg: &Message) -> Result<(), NotifyError>;

    /// Places a "press #" call. A provider without voice refuses it.
    fn call(&self, call: &VoiceCall) -> Result<(), NotifyError> {
        let _ = call;
        Err(NotifyError::new("this provider cannot place calls"))
    }
}

/// A message as kept in the dev outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: u64,
    pub at: u64,
    #[serde(flatten)]
    pub message: Message,
    /// For a call: where the "press" action reports the key (dev only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
}

const OUTBOX_SEQ: &str = keys::OUTBOX_SEQ;

/// The `dev` provider: appends to the KV outbox.
pub struct DevOutbox<'a> {
    pub store: &'a dyn Store,
    pub clock: &'a dyn Clock,
}

impl DevOutbox<'_> {
    fn append(&self, message: Message, callback_url: Option<String>) -> Result<(), NotifyError> {
        let fail = |e: crate::errors::ApiError| NotifyError::new(e.message);
        let seq = Counter::new(self.store, OUTBOX_SEQ).add(1).map_err(|e| NotifyError::new(e.to_string()))? as u64;
        let entry = OutboxEntry { seq, at: self.clock.now(), message, callback_url };
        kv::put_json(self.store, &keys::outbox(seq), &entry).map_err(fail)
    }
}

impl Notifier for DevOutbox<'_> {
    fn send(&self, msg: &Message) -> Result<(), NotifyError> {
        self.append(msg.clone(), None)
    }

    /// Keeps the call in the outbox; `POST /api/dev/outbox/<seq>/press` answers it.
    fn call(&self, call: &VoiceCall) -> Result<(), NotifyError> {
        let message = Message {
            channel: Channel::Voice,
            to: call.to.clone(),
            subject: "Verification call".into(),
            body: call.says.clone(),
        };
        self.append(message, Some(call.callback_url.clone()))
    }
}

/// One outbox entry (for the dev "press" action).
pub fn outbox_entry(store: &dyn Store, seq: u64) -> Result<Option<OutboxEntry>> {
    kv::get_json(store, &keys::outbox(seq))
}

/// The newest `n` outbox messages, newest first (for `GET /api/dev/outbox`).
pub fn outbox(store: &dyn Store, n: usize) -> Result<Vec<OutboxEntry>> {
    let newest = Counter::new(store, OUTBOX_SEQ).read()?.max(0) as u64;
    let mut out = Vec::new();
    for seq in (1..=newest).rev() {
        if out.len() >= n {
            break;
        }
        if let Some(entry) = kv::get_json(store, &keys::outbox(seq))? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// A notifier that refuses everything: delivery-failure paths in tests.
pub struct FailingNotifier;

impl Notifier for FailingNotifier {
    fn send(&self, _msg: &Message) -> Result<(), NotifyError> {
        Err(NotifyError::new("provider unavailable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::clock::ManualClock;
    use crate::platform::store::MemoryStore;

    #[test]
    fn outbox_keeps_messages_newest_first() {
        let store = MemoryStore::new();
        let clock = ManualClock::new(5);
        let dev = DevOutbox { store: &store, clock: &clock };
        for i in 0..3 {
            dev.send(&Message {
                channel: Channel::Sms,
                to: "+14255550112".into(),
                subject: String::new(),
                body: format!("m{i}"),
            })
            .unwrap();
        }
        let last2 = outbox(&store, 2).unwrap();
        assert_eq!(last2.iter().map(|e| e.message.body.as_str()).collect::<Vec<_>>(), vec!["m2", "m1"]);
        assert_eq!(serde_json::to_value(&last2[0]).unwrap()["channel"], "sms");
        assert_eq!(outbox(&store, 10).unwrap().len(), 3);
    }
}
