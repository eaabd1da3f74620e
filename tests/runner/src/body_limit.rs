//! The request body limit. A component reads its request body from a stream
//! the host fills from the connection; the runner, like any host, does not let
//! that stream run without end: past [`MAX_REQUEST_BODY`] bytes the stream
//! fails (`wasi:http` `HTTP-request-body-size`) and nothing more is read from
//! the connection. Nothing is buffered ahead of the component either way:
//! `wasmtime-wasi-http` hands over one frame at a time as the component asks.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// The most a component can read of one request body: 4 MiB, four times the
/// largest body the app takes (the admin JSON-lines import, 1 MiB).
pub const MAX_REQUEST_BODY: u64 = 4 * 1024 * 1024;

/// A request body that fails once more than `limit` bytes have come in, and
/// is never polled again after that.
pub struct LimitedBody<B> {
    inner: B,
    seen: u64,
    limit: u64,
    failed: bool,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64) -> Self {
        LimitedBody { inner, seen: 0, limit, failed: false }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                self.seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if self.seen > self.limit {
                    self.failed = true;
                    Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.seen))))
                } else {
                    Some(Ok(frame))
                }
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::convert::Infallible;

    /// `left` chunks of `size` bytes; `pulled` counts the chunks handed out.
    struct Chunks {
        left: usize,
        size: usize,
        pulled: usize,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            self.pulled += 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
        }
    }

    fn read_all<B: Body<Data = Bytes> + Unpin>(mut body: B) -> (usize, Result<(), B::Error>) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async move {
            let mut total = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => total += f.data_ref().map_or(0, Bytes::len),
                    Err(e) => return (total, Err(e)),
                }
            }
            (total, Ok(()))
        })
    }

    #[test]
    fn a_body_up_to_the_limit_passes_whole() {
        let (total, end) = read_all(LimitedBody::new(Chunks { left: 4, size: 1024, pulled: 0 }, 4096));
        assert_eq!(total, 4096);
        assert!(end.is_ok());
    }

    #[test]
    fn past_the_limit_the_stream_fails_and_nothing_more_is_read() {
        let mut body = LimitedBody::new(Chunks { left: 1000, size: 1024, pulled: 0 }, 4096);
        let (total, end) = read_all(&mut body);
        assert_eq!(total, 4096, "the frames within the limit came through");
        assert!(matches!(end, Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(5120)))), "{end:?}");
        assert_eq!(body.inner.pulled, 5, "reading stopped at the frame that crossed the limit");
        assert!(body.is_end_stream());
        let (more, end) = read_all(&mut body);
        assert_eq!((more, end.is_ok()), (0, true), "a failed body yields nothing more");
        assert_eq!(body.inner.pulled, 5);
    }
}
