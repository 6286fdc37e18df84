//! The read (idle) timer of a connection: the longest wait for the next received byte.
//!
//! [`IdleTimer`] lives in a [`Connection`](crate::transport::conn::Connection). Each read
//! that makes progress only clears its deadline; the first read that finds nothing to
//! read sets it to `now + limit`. One boxed sleep is reused for as long as it is not later
//! than the deadline; when it fires early (the deadline moved on) it is replaced. So a
//! streaming body allocates at most one timer per `limit` of time, not one per read.
//! Timers come from [`Runtime::sleep_until`], so it runs on any runtime and any thread.

use std::error::Error as StdError;
use std::fmt;

use std::io;

use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Poll;

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
