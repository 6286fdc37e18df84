//! Deadlines that travel with a response body: a request's total timeout and its
//! scope's deadline.
//!
//! A timeout that covers only the wait for a response head is a race between two
//! futures. These limits also cover reads that happen later, on whatever task or thread
//! reads the body, so they are kept as state polled along with the reads.
//! [`DeadlineBody`] wraps a response body with a fixed deadline; its sleep is made on the
//! first read. [`bounded`] races a response against such a deadline and then wraps its
//! body. Timers come from [`Runtime::sleep_until`], so both run on any runtime, and on
//! any thread (the tokio adapter binds its timers to its runtime's handle).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::future;
use futures_lite::io::AsyncRead;

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::message::response::{Response, ResponseBody};
use crate::runtime::{Boxed, Runtime};

/// A response body that fails with a timeout of `phase` once `deadline` passes.
///
/// The deadline is looked at whenever a read has to wait (which arms the timer) and
/// every [`CHECK_EVERY`] reads that bring bytes, so a body that keeps streaming times out
/// as surely as one that stalls, without a clock read per read. When it fires, the inner body is dropped, which
/// closes its connection; every later read repeats the error.
pub(crate) struct DeadlineBody {
    inner: Option<ResponseBody>,
    runtime: Arc<dyn Runtime>,
    deadline: Instant,
    phase: TimeoutPhase,
    sleep: Option<Boxed<()>>,
    /// Reads that brought bytes since the deadline was last looked at.
    unchecked_reads: u8,
}

/// A [`DeadlineBody`] that keeps receiving bytes looks at its deadline once per this many
/// reads (and at every read that has to wait).
const CHECK_EVERY: u8 = 16;

impl DeadlineBody {
    /// Wraps `body` unless it is complete already (then there is nothing left to time).
    pub(crate) fn wrap(
        body: ResponseBody,
        runtime: &Arc<dyn Runtime>,
        deadline: Instant,
        phase: TimeoutPhase,
    ) -> ResponseBody {
        if body.is_complete() {
            return body;
        }
        ResponseBody::from_reader(Self {
            inner: Some(body),
            runtime: runtime.clone(),
            deadline,
            phase,
            sleep: None,
            unchecked_reads: 0,
        })
    }
}

/// Waits for `response` unless `expired` completes first (then fails with a timeout of
/// `phase`), and gives the response's body the same `deadline`: the one race of a total
/// timeout and of a scope deadline.
pub(crate) async fn bounded(
    response: impl Future<Output = Result<Response, Error>>,
    expired: impl Future<Output = ()>,
    runtime: &Arc<dyn Runtime>,
    deadline: Instant,
    phase: TimeoutPhase,
) -> Result<Response, Error> {
    let expired = async {
        expired.await;
        Err(Error::new(ErrorKind::Timeout(phase)))
    };
    let mut response = future::or(response, expired).await?;
    let body = std::mem::take(response.body_mut());
    *response.body_mut() = DeadlineBody::wrap(body, runtime, deadline, phase);
    Ok(response)
}

impl AsyncRead for DeadlineBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return match this.sleep {
                // Finished before the deadline.
                None => Poll::Ready(Ok(0)),
                Some(_) => Poll::Ready(Err(Error::new(ErrorKind::Timeout(this.phase)).into())),
            };
        };
        let result = Pin::new(inner).poll_read(cx, buf);
        match result {
            Poll::Ready(Ok(0)) => {
                this.inner = None;
                this.sleep = None;
                return result;
            }
            // Bytes keep coming: look at the clock only now and then.
            Poll::Ready(Ok(_)) if this.unchecked_reads < CHECK_EVERY => {
                this.unchecked_reads += 1;
                return result;
            }
            _ => this.unchecked_reads = 0,
        }
        let sleep = this
            .sleep
            .get_or_insert_with(|| this.runtime.sleep_until(this.deadline));
        if sleep.as_mut().poll(cx).is_ready() {
            // Dropping the body closes its connection; the sleep stays as the mark of
            // expiry (it is never polled again).
            this.inner = None;
            return Poll::Ready(Err(Error::new(ErrorKind::Timeout(this.phase)).into()));
        }
        result
    }
}

impl fmt::Debug for DeadlineBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineBody")
            .field("phase", &self.phase)
            .field("done", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}
