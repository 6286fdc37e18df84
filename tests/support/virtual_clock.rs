//! A virtual clock: a [`Runtime`] that delegates tasks and IO to a real one and replaces
//! its clock and timers with virtual time that moves only when the test says so.
//!
//! Tests of retries, backoff, deadlines and idle timeouts then wait for the client to be
//! asleep on a timer ([`VirtualClock::wait_for_sleep`]), move time past it
//! ([`VirtualClock::advance`]), and see what it did: no real waiting, nothing that depends
//! on how loaded the machine is. Sleeps only end when the test advances the clock, so a
//! test cannot be flaky because of a timer firing early or late.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use par_http::{BoxIo, Boxed, Runtime, Spawn, Task};

/// Virtual time and the sleeps waiting on it.
#[derive(Default)]
struct State {
    /// Time advanced so far.
    offset: Duration,
    /// Pending sleeps by (deadline, id), with the waker of their last poll.
    sleeps: BTreeMap<(Instant, u64), Option<Waker>>,
    next_id: u64,
}

struct Shared {
    start: Instant,
    state: Mutex<State>,
    /// Notified when a sleep starts waiting.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> Instant {
        self.start + self.lock().offset
    }
}

/// A runtime whose time is virtual (see the module's documentation).
#[derive(Clone)]
pub struct VirtualClock {
    inner: Arc<dyn Runtime>,
    shared: Arc<Shared>,
}

impl VirtualClock {
    /// Virtual time over `inner`'s tasks and IO, starting at the real time now.
    pub fn new(inner: Arc<dyn Runtime>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                start: Instant::now(),
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
            }),
        }
    }

    /// The clock as a runtime for `ClientBuilder::runtime`.
    pub fn runtime(&self) -> Arc<dyn Runtime> {
        Arc::new(self.clone())
    }

    /// Virtual time elapsed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.shared.lock().offset
    }

    /// Moves virtual time forward by `by` and wakes every sleep whose deadline it reached.
    pub fn advance(&self, by: Duration) {
        let wakers: Vec<Waker> = {
            let mut state = self.shared.lock();
            state.offset += by;
            let now = self.shared.start + state.offset;
            let due: Vec<_> = state
                .sleeps
                .range(..=(now, u64::MAX))
                .map(|(key, _)| *key)
                .collect();
            due.into_iter()
                .filter_map(|key| state.sleeps.remove(&key).flatten())
                .collect()
        };
        for waker in wakers {
            waker.wake();
        }
    }

    /// Waits (in real time, at most `timeout`) until a sleep is pending whose time left
    /// (from the virtual now to its deadline) satisfies `matching`, and returns that time
    /// left (the earliest such sleep's). `None` if none came.
    pub fn wait_for_sleep(
        &self,
        matching: impl Fn(Duration) -> bool,
        timeout: Duration,
    ) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let now = self.shared.start + state.offset;
            let found = state
                .sleeps
                .keys()
                .map(|(at, _)| at.saturating_duration_since(now))
                .find(|left| matching(*left));
            if found.is_some() {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(50)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .finish_non_exhaustive()
    }
}

impl Spawn for VirtualClock {
    fn spawn(&self, future: Boxed<()>) -> Task {
        self.inner.spawn(future)
    }
}

impl Runtime for VirtualClock {
    fn resolve(&self, host: &str, port: u16) -> Boxed<io::Result<Vec<SocketAddr>>> {
        self.inner.resolve(host, port)
    }

    fn connect_tcp(&self, addr: SocketAddr) -> Boxed<io::Result<BoxIo>> {
        self.inner.connect_tcp(addr)
    }

    fn sleep_until(&self, deadline: Instant) -> Boxed<()> {
        Box::pin(Sleep {
            shared: self.shared.clone(),
            deadline,
            id: None,
        })
    }

    fn now(&self) -> Instant {
        self.shared.now()
    }
}

/// A sleep until a virtual deadline.
struct Sleep {
    shared: Arc<Shared>,
    deadline: Instant,
    /// Its key among the pending sleeps, once registered.
    id: Option<u64>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.clone();
        let mut state = shared.lock();
        if shared.start + state.offset >= self.deadline {
            if let Some(id) = self.id.take() {
                state.sleeps.remove(&(self.deadline, id));
            }
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                state.next_id += 1;
                let id = state.next_id;
                self.id = Some(id);
                id
            }
        };
        state
            .sleeps
            .insert((self.deadline, id), Some(cx.waker().clone()));
        drop(state);
        shared.changed.notify_all();
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.shared.lock().sleeps.remove(&(self.deadline, id));
            self.shared.changed.notify_all();
        }
    }
}
