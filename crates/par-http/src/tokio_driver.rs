//! Who drives a blocking client's tokio runtime: the thread that waits on it, or the
//! runtime thread while nobody waits.
//!
//! A current-thread tokio runtime runs its tasks, its IO driver and its timers on the
//! one thread inside [`Runtime::block_on`], and any thread may be that thread (tokio
//! hands the runtime's core to the next caller of `block_on` when the last one leaves).
//! With the runtime thread always inside `block_on`, every step of a blocking request is
//! a hand-off between two threads: the caller starts a request and wakes the runtime
//! thread, which writes it, reads the answer and wakes the caller. [`TokioDriver`] lets
//! the waiting caller drive the runtime itself, so that a request is written, read and
//! delivered on the caller's thread, as on a current-thread `#[tokio::main]`.
//!
//! The runtime thread ([`TokioDriver::run_background`]) takes the runtime over only
//! when no caller has made a blocking call for [`GRACE`] (it looks every [`WATCH`]
//! while callers drive), so that requests in flight (and timers) go on while the
//! caller's own code runs, without a hand-off on every call of a caller that comes back
//! at once. A caller that arrives while the runtime thread drives asks it to leave
//! ([`Notify`]) and takes the runtime over.
//!
//! A blocking call made from inside another tokio runtime cannot drive this one (tokio
//! forbids a `block_on` there): it waits on its future and leaves the driving to the
//! runtime thread.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::Notify;

/// How long the runtime thread waits, after the last blocking call, before it drives
/// the runtime itself. Short enough that a request in flight is barely delayed while its
/// caller is busy; long enough that a caller that calls again right away (the loop of a
/// scope) keeps the runtime on its thread.
const GRACE: Duration = Duration::from_millis(1);

/// How often the runtime thread looks whether the callers have left, while some drive
/// the runtime (async-io's own helper thread looks as often while a `block_on` runs).
const WATCH: Duration = Duration::from_millis(10);

/// A current-thread tokio runtime and who drives it.
#[derive(Debug)]
pub(crate) struct TokioDriver {
    runtime: Runtime,
    state: Mutex<State>,
    /// Signalled when the runtime thread must look at `state` again (stop).
    changed: Condvar,
    /// Asks the runtime thread to leave `block_on` (a caller arrived, or stop).
    wanted: Notify,
    /// Counts the blocking calls (begun and ended): unchanged over a grace period, no
    /// caller is about. A call answered at once (see `block_on`) counts too: a caller
    /// taking outcomes that are in already is busy with the scope, not gone.
    activity: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Callers inside [`TokioDriver::block_on`] that drive the runtime themselves.
    callers: usize,
    stop: bool,
}

impl TokioDriver {
    /// Builds the runtime (current-thread, IO and timers enabled).
    pub(crate) fn new() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Self {
            runtime,
            state: Mutex::new(State {
                callers: 0,
                stop: false,
            }),
            changed: Condvar::new(),
            wanted: Notify::new(),
            activity: AtomicU64::new(0),
        })
    }

    /// The runtime's handle (for spawning).
    pub(crate) fn handle(&self) -> &Handle {
        self.runtime.handle()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only counters and flags are changed under the lock: a poisoned one is fine.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks the calling thread on `future`, driving the runtime meanwhile.
    ///
    /// Unless `spawns`, the future is first polled once outside the runtime: most calls
    /// are answered at once (a body already buffered, an outcome already in), and need
    /// not take the runtime over. (No runtime context is needed for that poll: the tokio
    /// adapter enters its runtime's handle wherever tokio asks for one.) A future that
    /// spawns tasks (starting a request) goes into the runtime at once: spawned from its
    /// own `block_on` a task is a queue push, from outside it also wakes the IO driver
    /// with a system call.
    pub(crate) fn block_on<T>(&self, future: impl Future<Output = T>, spawns: bool) -> T {
        if Handle::try_current().is_ok() {
            // Inside a tokio runtime: this one cannot be driven here. The runtime
            // thread drives it (nobody counts as a caller).
            return futures_lite::future::block_on(future);
        }
        self.activity.fetch_add(1, Ordering::Relaxed);
        let mut future = pin!(future);
        if !spawns {
            if let Poll::Ready(value) = future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
            {
                return value;
            }
        }
        self.lock().callers += 1;
        // If the runtime thread drives, it leaves; `block_on` below waits for that.
        self.wanted.notify_one();
        let _leave = Leave(self);
        self.runtime.block_on(future)
    }

    /// The runtime thread's loop: drives the runtime whenever no caller has made a
    /// blocking call for [`GRACE`]; returns once [`stop`](Self::stop) is called.
    pub(crate) fn run_background(&self) {
        loop {
            {
                let mut state = self.lock();
                loop {
                    if state.stop {
                        return;
                    }
                    let seen = self.activity.load(Ordering::Relaxed);
                    // While callers drive, looked at again a little later: they may have
                    // left by then (they do not wake this thread when they leave, which
                    // would cost a wake-up on every call).
                    let wait = if state.callers > 0 { WATCH } else { GRACE };
                    state = match self.changed.wait_timeout(state, wait) {
                        Ok((state, _)) => state,
                        Err(poisoned) => poisoned.into_inner().0,
                    };
                    if !state.stop
                        && state.callers == 0
                        && self.activity.load(Ordering::Relaxed) == seen
                    {
                        break;
                    }
                }
            }
            // Until a caller (or stop) asks for the runtime.
            self.runtime.block_on(self.wanted.notified());
        }
    }

    /// Makes [`run_background`](Self::run_background) return.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
        self.wanted.notify_one();
    }
}

/// Counts a caller out of [`TokioDriver::block_on`], however it leaves.
struct Leave<'a>(&'a TokioDriver);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.activity.fetch_add(1, Ordering::Relaxed);
        let mut state = self.0.lock();
        state.callers = state.callers.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    /// The driver with its runtime thread running; stopped and joined on drop.
    struct Running {
        driver: Arc<TokioDriver>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl Running {
        fn start() -> Self {
            let driver = Arc::new(TokioDriver::new().unwrap());
            let background = driver.clone();
            let thread = thread::spawn(move || background.run_background());
            Self {
                driver,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.driver.stop();
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    #[test]
    fn a_waiting_caller_runs_the_tasks_on_its_own_thread() {
        let running = Running::start();
        let driver = &running.driver;
        let task = driver.handle().spawn(async { thread::current().id() });
        let ran_on = driver.block_on(task, false).unwrap();
        assert_eq!(ran_on, thread::current().id());
    }

    #[test]
    fn the_runtime_thread_runs_tasks_while_nobody_waits() {
        let running = Running::start();
        let (tx, rx) = mpsc::channel();
        let _task = running.driver.handle().spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = tx.send(thread::current().id());
        });
        let ran_on = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_ne!(ran_on, thread::current().id());
    }

    #[test]
    fn a_caller_takes_the_runtime_over_from_the_runtime_thread_and_gives_it_back() {
        let running = Running::start();
        let driver = &running.driver;
        // Long enough for the runtime thread to have taken over.
        thread::sleep(Duration::from_millis(20));
        for _ in 0..50 {
            let task = driver.handle().spawn(async {
                tokio::task::yield_now().await;
                7
            });
            assert_eq!(driver.block_on(task, false).unwrap(), 7);
        }
        // Once the caller has gone, a timer still fires (the runtime thread drives).
        let (tx, rx) = mpsc::channel();
        let _task = driver.handle().spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = tx.send(());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn a_call_from_inside_another_runtime_waits_without_panicking() {
        let running = Running::start();
        let driver = running.driver.clone();
        let outer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let got = outer.block_on(async move {
            let task = driver.handle().spawn(async { 5 });
            driver.block_on(task, false).unwrap()
        });
        assert_eq!(got, 5);
    }

    #[test]
    fn stop_ends_the_runtime_thread() {
        let mut running = Running::start();
        running.driver.stop();
        let thread = running.thread.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = thread.join();
            let _ = tx.send(());
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(()));
    }
}
