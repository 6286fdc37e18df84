//! The two small traits that connect the core to an executor: [`Spawn`] and [`Runtime`].
//!
//! The core never names an executor. The parallel scope needs only [`Spawn`]: run a
//! future in the background and get a [`Task`] guard whose drop cancels it. The HTTP/1.1
//! connector additionally needs name resolution, TCP connections and timers, which
//! [`Runtime`] supplies. Adapter crates (`par-http-smol`, `par-http-tokio`) implement both
//! in about a hundred lines; policy (address fallback, timeouts) stays in the core.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite};

/// A boxed, `Send` future: the currency of the runtime traits.
pub type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A byte stream the HTTP/1.1 driver can read from and write to (TCP, TLS, or a test pipe).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`] stream.
pub type BoxIo = Box<dyn Io>;

thread_local! {
    /// Set while the connector checks an idle connection for a request that cannot be
    /// retried (see [`is_checking_staleness`]).
    static CHECKING_STALENESS: Cell<bool> = const { Cell::new(false) };
    /// Set while the connector checks an idle connection at all (see [`is_probing_idle`]).
    static PROBING_IDLE: Cell<bool> = const { Cell::new(false) };
}

/// True while the HTTP/1.1 connector, on this thread, polls a read of an idle connection
/// with a waker that does nothing, to see whether it is still usable (strictly or not:
/// see [`is_checking_staleness`]).
///
/// A stream that keeps per-task state about waiting for readiness can tell such a check
/// from a task's read by this, and keep that state for the task.
///
/// # Examples
///
/// ```
/// use par_http_core::{is_probing_idle, probing_idle};
///
/// assert!(probing_idle(is_probing_idle));
/// assert!(!is_probing_idle());
/// ```
pub fn is_probing_idle() -> bool {
    PROBING_IDLE.with(Cell::get)
}

/// Runs `check` with [`is_probing_idle`] true on this thread (and false again after it,
/// however it ends): how the connector checks an idle connection.
///
/// # Examples
///
/// ```
/// assert!(par_http_core::probing_idle(|| true));
/// ```
pub fn probing_idle<T>(check: impl FnOnce() -> T) -> T {
    /// Clears the flag however `check` ends.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PROBING_IDLE.with(|flag| flag.set(false));
        }
    }
    PROBING_IDLE.with(|flag| flag.set(true));
    let _reset = Reset;
    check()
}

/// True while the HTTP/1.1 connector, on this thread, checks whether an idle connection
/// is still usable before it sends a request that cannot be retried on another one (a
/// `POST`, say), by polling a read with a waker that does nothing.
///
/// A stream that answers reads from a readiness cache (as tokio's do, and
/// `par-http-smol`'s) should answer this check from the socket itself, with a
/// non-blocking read: the reactor may not have seen yet a close that already happened,
/// and the request would then be lost on a dead connection. For other checks (a request
/// that is retried on a fresh connection if the reused one turns out closed) the cache's
/// answer is good enough, and costs no system call.
///
/// # Examples
///
/// ```
/// assert!(!par_http_core::is_checking_staleness());
/// ```
pub fn is_checking_staleness() -> bool {
    CHECKING_STALENESS.with(Cell::get)
}

/// Runs `check` with [`is_checking_staleness`] true on this thread (and false again
/// after it, however it ends): how the connector makes its strict checks, and how a test
/// of a stream can make one.
///
/// # Examples
///
/// ```
/// use par_http_core::{checking_staleness, is_checking_staleness};
///
/// assert!(checking_staleness(is_checking_staleness));
/// assert!(!is_checking_staleness());
/// ```
pub fn checking_staleness<T>(check: impl FnOnce() -> T) -> T {
    /// Clears the flag however `check` ends.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            CHECKING_STALENESS.with(|flag| flag.set(false));
        }
    }
    CHECKING_STALENESS.with(|flag| flag.set(true));
    let _reset = Reset;
    check()
}

/// Runs futures in the background.
pub trait Spawn: Send + Sync + fmt::Debug + 'static {
    /// Runs `future` in the background. Dropping the returned [`Task`] cancels it: the
    /// future is dropped without being polled again.
    fn spawn(&self, future: Boxed<()>) -> Task;
}

/// Everything the HTTP/1.1 connector needs from an executor.
pub trait Runtime: Spawn {
    /// Resolves `host` (a DNS name; IP literals never reach this) to socket addresses.
    fn resolve(&self, host: &str, port: u16) -> Boxed<io::Result<Vec<SocketAddr>>>;

    /// Opens a TCP connection to `addr` (with `TCP_NODELAY` set).
    fn connect_tcp(&self, addr: SocketAddr) -> Boxed<io::Result<BoxIo>>;

    /// A future that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Boxed<()>;

    /// A future that completes after `duration`.
    /// A duration too large to represent as a deadline sleeps forever.
    fn sleep(&self, duration: Duration) -> Boxed<()> {
        match self.now().checked_add(duration) {
            Some(deadline) => self.sleep_until(deadline),
            None => Box::pin(std::future::pending()),
        }
    }

    /// The current time. Overridable so that tests can simulate the passing of time.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A handle to a background future; dropping it cancels the future.
///
/// Made by [`Spawn::spawn`] from whatever guard the executor provides (an
/// `async_task::Task`, a tokio `JoinHandle` wrapped to abort on drop, ...).
#[must_use = "a Task cancels its future when dropped"]
pub struct Task {
    _guard: Box<dyn Send + Sync + 'static>,
}

impl Task {
    /// Wraps an executor's cancel-on-drop guard.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").finish_non_exhaustive()
    }
}
