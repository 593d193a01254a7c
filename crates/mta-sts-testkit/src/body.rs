use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use tokio::time::Sleep;

/// A response body sent `step` bytes at a time with a pause between pieces.
///
/// It never announces its length, so hyper uses the `Content-Length` header when one is set and
/// otherwise chunked encoding (HTTP/1.1) or plain DATA frames (HTTP/2).
#[derive(Debug)]
pub(crate) struct TrickleBody {
    rest: Bytes,
    step: usize,
    pause: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Return `Pending` once before the end, so hyper flushes what it holds. A body shorter than
    /// its `Content-Length` makes hyper close the connection at the end, dropping unflushed bytes.
    flush_before_end: bool,
}

impl TrickleBody {
    /// The whole of `data` as one piece.
    pub(crate) fn whole(data: Bytes) -> Self {
        Self::new(data, usize::MAX, Duration::ZERO)
    }

    /// `data` in pieces of `step` bytes (at least 1), `pause` apart.
    pub(crate) fn new(data: Bytes, step: usize, pause: Duration) -> Self {
        Self {
            rest: data,
            step: step.max(1),
            pause,
            sleep: None,
            flush_before_end: false,
        }
    }

    /// Makes the body flush everything before ending; see `flush_before_end`.
    pub(crate) fn flush_before_end(mut self) -> Self {
        self.flush_before_end = true;
        self
    }
}

impl Body for TrickleBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(sleep) = &mut this.sleep {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        if this.rest.is_empty() {
            if this.flush_before_end {
                this.flush_before_end = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(None);
        }
        let piece = this.rest.split_to(this.step.min(this.rest.len()));
        if !this.rest.is_empty() && !this.pause.is_zero() {
            this.sleep = Some(Box::pin(tokio::time::sleep(this.pause)));
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }
}
