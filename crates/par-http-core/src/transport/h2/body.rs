//! A response body read from an HTTP/2 stream, as the `AsyncRead` a
//! [`ResponseBody`](crate::ResponseBody) takes.
//!
//! Flow control follows the reader: the window of a `DATA` frame is given back to the
//! server (`release_capacity`) only when the frame is taken for a read, whether by the
//! user or by a scope's background reading. A reader that stops stalls only its own
//! stream, once the server has filled that stream's window. The read timeout is an
//! [`IdleTimer`] per stream. Dropping the body before its end drops the stream, and `h2`
//! resets it with `CANCEL`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_lite::io::AsyncRead;

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::transport::h2::conn::Lease;
use crate::transport::h2::error::from_h2;
use crate::transport::idle::IdleTimer;

/// The rest of a response body, on its stream.
pub(crate) struct H2Body {
    // Field order: the stream drops before its lease, so that the lease sees its reset
    // already scheduled.
    recv: h2::RecvStream,
    /// The part of the last frame not read yet.
    pending: Bytes,
    idle: Option<IdleTimer>,
    lease: Lease,
}

impl H2Body {
    pub(crate) fn new(recv: h2::RecvStream, lease: Lease, idle: Option<IdleTimer>) -> Self {
        Self {
            recv,
            pending: Bytes::new(),
            idle,
            lease,
        }
    }

    /// True once the server ended the stream and every byte was read.
    pub(crate) fn is_done(&self) -> bool {
        self.pending.is_empty() && self.recv.is_end_stream()
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        match self.recv.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                // The frame is the reader's now: its window goes back to the server.
                let _ = self.recv.flow_control().release_capacity(data.len());
                if let Some(idle) = self.idle.as_mut() {
                    idle.progress();
                }
                self.pending = data;
                Poll::Ready(Ok(true))
            }
            Poll::Ready(None) => {
                self.lease.finish();
                Poll::Ready(Ok(false))
            }
            Poll::Ready(Some(Err(err))) => {
                // The stream is over: whatever reset it needed is sent already.
                self.lease.finish();
                let error = from_h2(err, ErrorKind::Body);
                Poll::Ready(Err(io::Error::other(error)))
            }
            Poll::Pending => {
                if self.idle.as_mut().is_some_and(|idle| idle.poll_expired(cx)) {
                    let error = Error::new(ErrorKind::Timeout(TimeoutPhase::Body));
                    return Poll::Ready(Err(io::Error::other(error)));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for H2Body {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            match this.poll_frame(cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => return Poll::Ready(Ok(0)),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = this.pending.len().min(buf.len());
        if let (Some(out), Some(data)) = (buf.get_mut(..n), this.pending.get(..n)) {
            out.copy_from_slice(data);
        }
        this.pending.advance(n);
        Poll::Ready(Ok(n))
    }
}
