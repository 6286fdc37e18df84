//! Time limits that outlive a single future: the read (idle) timer of a connection and
//! the deadlines that travel with a response body.
//!
//! A timeout that covers only the wait for a response head is a race between two
//! futures. The limits here cover reads that happen later, on whatever task or thread
//! reads the body, so they are kept as state polled along with the reads:
//!
//! * [`IdleTimer`] lives in a [`Connection`](crate::conn::Connection). Each read that
//!   makes progress only clears its deadline; the first read that finds nothing to read
//!   sets it to `now + limit`. One boxed sleep is reused for as long as it is not later
//!   than the deadline; when it fires early (the deadline moved on) it is replaced. So a
//!   streaming body allocates at most one timer per `limit` of time, not one per read.
//! * [`DeadlineBody`] wraps a response body with a fixed deadline (a request's total
//!   timeout, or its scope's deadline). Its sleep is made on the first read. [`bounded`]
//!   races a response against such a deadline and then wraps its body.
//!
//! Timers come from [`Runtime::sleep_until`], so both run on any runtime, and on any
//! thread (the tokio adapter binds its timers to its runtime's handle).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_lite::io::AsyncRead;

use crate::error::{Error, ErrorKind, TimeoutPhase};
use crate::response::{Response, ResponseBody};
use crate::runtime::{Boxed, Runtime};

/// The limit on idle time between two received bytes, for one connection.
pub(crate) struct IdleTimer {
    runtime: Arc<dyn Runtime>,
    limit: Duration,
    /// When the current wait for bytes times out; `None` while no read is waiting
    /// (bytes arrived since the last wait).
    deadline: Option<Instant>,
    /// The armed sleep and the instant it fires at (never later than `deadline`).
    sleep: Option<(Instant, Boxed<()>)>,
}

impl IdleTimer {
    pub(crate) fn new(runtime: Arc<dyn Runtime>, limit: Duration) -> Self {
        Self {
            runtime,
            limit,
            deadline: None,
            sleep: None,
        }
    }

    /// Bytes arrived (or a new wait begins): the idle time starts again at the next wait.
    pub(crate) fn progress(&mut self) {
        self.deadline = None;
    }

    /// Called when a read found nothing to read: true once the connection has been idle
    /// for the whole limit. Otherwise the task is woken when it might be.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = match self.deadline {
            Some(deadline) => deadline,
            None => {
                let Some(deadline) = self.runtime.now().checked_add(self.limit) else {
                    // Too far away to represent: it never comes.
                    return false;
                };
                self.deadline = Some(deadline);
                deadline
            }
        };
        // At most two rounds: an early sleep fires and is replaced by one for `deadline`.
        for _ in 0..2 {
            match &mut self.sleep {
                Some((at, sleep)) if *at <= deadline => {
                    let at = *at;
                    if sleep.as_mut().poll(cx).is_pending() {
                        return false;
                    }
                    self.sleep = None;
                    if at == deadline || self.runtime.now() >= deadline {
                        return true;
                    }
                }
                _ => {
                    // None armed, or one armed for later than needed.
                    self.sleep = Some((deadline, self.runtime.sleep_until(deadline)));
                }
            }
        }
        match &mut self.sleep {
            Some((_, sleep)) => sleep.as_mut().poll(cx).is_ready(),
            None => true,
        }
    }
}

impl fmt::Debug for IdleTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleTimer")
            .field("limit", &self.limit)
            .field("waiting", &self.deadline.is_some())
            .finish_non_exhaustive()
    }
}

/// The cause inside the `io::Error` a read returns when its [`IdleTimer`] expired; the
/// head and body readers turn it into a timeout of their own phase.
#[derive(Debug)]
pub(crate) struct IdleTimeout;

impl fmt::Display for IdleTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no byte received within the read timeout")
    }
}

impl StdError for IdleTimeout {}

impl IdleTimeout {
    pub(crate) fn io_error() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, Self)
    }

    /// True if `err` was made by [`Self::io_error`].
    pub(crate) fn is(err: &io::Error) -> bool {
        err.get_ref().is_some_and(|inner| inner.is::<Self>())
    }
}

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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::runtime::{BoxIo, Spawn, Task};

    /// A runtime with a hand-moved clock: its sleeps are ready once the clock reaches
    /// their deadline (polled by hand, they never wake anyone). Counts the sleeps made.
    #[derive(Debug)]
    struct Clock {
        start: Instant,
        now: Mutex<Duration>,
        sleeps: AtomicUsize,
    }

    impl Clock {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                start: Instant::now(),
                now: Mutex::new(Duration::ZERO),
                sleeps: AtomicUsize::new(0),
            })
        }
        fn advance(&self, by: Duration) {
            *self.now.lock().unwrap() += by;
        }
    }

    impl Spawn for Clock {
        fn spawn(&self, _: Boxed<()>) -> Task {
            Task::new(())
        }
    }

    impl Runtime for Clock {
        fn resolve(&self, _: &str, _: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
            Box::pin(async { Err(io::Error::other("no network")) })
        }
        fn connect_tcp(&self, _: SocketAddr) -> Boxed<io::Result<BoxIo>> {
            Box::pin(async { Err(io::Error::other("no network")) })
        }
        fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
            self.sleeps.fetch_add(1, Ordering::SeqCst);
            Box::pin(ClockSleep { deadline })
        }
        fn now(&self) -> Instant {
            self.start + *self.now.lock().unwrap()
        }
    }

    thread_local! {
        /// The clock's time as the sleeps see it, set before each poll.
        static NOW: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    }

    /// Ready once [`NOW`] reaches its deadline.
    struct ClockSleep {
        deadline: Instant,
    }

    impl Future for ClockSleep {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            match NOW.with(std::cell::Cell::get) {
                Some(now) if now >= self.deadline => Poll::Ready(()),
                _ => Poll::Pending,
            }
        }
    }

    fn poll_expired(timer: &mut IdleTimer, clock: &Clock) -> bool {
        NOW.with(|now| now.set(Some(clock.now())));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        timer.poll_expired(&mut cx)
    }

    #[test]
    fn a_steady_stream_reuses_its_timer_and_a_stall_expires() {
        let clock = Clock::new();
        let runtime: Arc<dyn Runtime> = clock.clone();
        let mut timer = IdleTimer::new(runtime, Duration::from_secs(1));
        // 10 s of reads 10 ms apart, each waiting once: 1,000 waits.
        for _ in 0..1000 {
            assert!(!poll_expired(&mut timer, &clock));
            clock.advance(Duration::from_millis(10));
            timer.progress();
        }
        let sleeps = clock.sleeps.load(Ordering::SeqCst);
        assert!(
            sleeps <= 11,
            "one timer per second of streaming, not per read: {sleeps}"
        );
        // Then the peer stalls: not yet expired just before the limit, expired at it.
        assert!(!poll_expired(&mut timer, &clock));
        clock.advance(Duration::from_millis(999));
        assert!(!poll_expired(&mut timer, &clock));
        clock.advance(Duration::from_millis(1));
        assert!(poll_expired(&mut timer, &clock));
    }
}
