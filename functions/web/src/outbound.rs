//! The core's [`HttpClient`] seam over Spin's outbound HTTP: spin-sdk's
//! `send`, run to completion by spin-sdk's executor, raced against a
//! [`TIMEOUT_SECONDS`] deadline (a `wasi:clocks` pollable), so a provider that
//! hangs costs at most that. Hosts outside `allowed_outbound_hosts` are
//! refused by Spin (`HttpRequestDenied`), which reads here as a connection error.

use spin_sdk::http::{Method, Request, Response, SendError};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use unlatch_core::platform::http::{HttpClient, HttpError, OutboundRequest, OutboundResponse, TIMEOUT_SECONDS};
use wasi::clocks::monotonic_clock;

pub struct SpinHttp;

impl HttpClient for SpinHttp {
    fn send(&self, req: &OutboundRequest) -> Result<OutboundResponse, HttpError> {
        let method = match req.method {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            _ => Method::Post,
        };
        let mut builder = Request::builder();
        builder.method(method).uri(req.url.as_str());
        for (name, value) in &req.headers {
            builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(req.body.clone()).build();
        let deadline = monotonic_clock::now() + TIMEOUT_SECONDS * 1_000_000_000;
        let sent = spin_sdk::http::run(first(spin_sdk::http::send::<Request, Response>(request), Deadline(deadline)));
        match sent {
            None => Err(HttpError::Timeout),
            Some(Err(SendError::Http(code))) => {
                use spin_sdk::http::ErrorCode as E;
                match code {
                    E::ConnectionTimeout | E::ConnectionReadTimeout | E::ConnectionWriteTimeout => {
                        Err(HttpError::Timeout)
                    }
                    other => Err(HttpError::Connection(format!("{other:?}"))),
                }
            }
            Some(Err(e)) => Err(HttpError::Connection(e.to_string())),
            Some(Ok(response)) => Ok(OutboundResponse {
                status: *response.status(),
                headers: response
                    .headers()
                    .map(|(name, value)| (name.to_owned(), value.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                body: response.into_body(),
            }),
        }
    }
}

/// `Some` output of `work`, or `None` when `deadline` ends first.
async fn first<T>(work: impl Future<Output = T>, deadline: Deadline) -> Option<T> {
    let mut work = pin!(work);
    let mut deadline = pin!(deadline);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Ready once the monotonic clock passes the instant (nanoseconds).
struct Deadline(u64);

impl Future for Deadline {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.0 {
            return Poll::Ready(());
        }
        spin_executor::push_waker(monotonic_clock::subscribe_instant(self.0), cx.waker().clone());
        Poll::Pending
    }
}
