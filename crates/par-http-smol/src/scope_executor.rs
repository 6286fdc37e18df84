//! An executor for the request tasks of one scope, run by the thread that waits on the
//! scope.
//!
//! With a background executor thread, every step of a request is a hand-off between two
//! threads: the caller starts a request (waking the executor thread), the executor
//! thread completes it (waking the caller). On a busy machine those wake-ups cost more
//! than the requests. A [`ScopeExecutor`] keeps the scope's tasks in a queue of its own,
//! and whoever waits on the scope runs them: [`ScopeExecutor::run`] polls the caller's
//! future and, in between, the tasks, on the caller's thread (with `async_io::block_on`,
//! that thread also drives the IO reactor while it waits). While no caller waits, the
//! [`background`](ScopeExecutor::background) future, spawned on an ordinary executor,
//! runs them instead, so a request never stalls because its caller is busy elsewhere.
//!
//! Only one side runs tasks at a time as a rule (a task woken while a caller waits is
//! handed to that caller, otherwise to the background driver); during a hand-over both
//! may, which is harmless: a task runs on one thread at a time whatever happens.
//!
//! # Examples
//!
//! ```
//! use par_http_core::Spawn;
//! use par_http_smol::ScopeExecutor;
//!
//! let executor = ScopeExecutor::new();
//! let (tx, rx) = async_channel::bounded(1);
//! let task = executor.spawn(Box::pin(async move {
//!     tx.send(7).await.unwrap();
//! }));
//! // The waiting caller runs the task itself.
//! let got = futures_lite::future::block_on(executor.run(rx.recv()));
//! assert_eq!(got, Ok(7));
//! drop(task);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Poll, Waker};

use async_task::Runnable;
use futures_lite::future::poll_fn;
use par_http_core::{Boxed, Spawn, Task};

/// Tasks run at most per poll before the runner yields (to its caller's future, or to
/// its executor).
const BATCH: usize = 128;

/// An executor for one scope's tasks: run by the waiting caller, or in the background.
/// Cheap to clone (clones share the queue).
#[derive(Clone, Default)]
pub struct ScopeExecutor {
    shared: Arc<Mutex<Shared>>,
    /// See [`ScopeExecutor::run_queued_on_leave`].
    run_queued_on_leave: bool,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Runnable>,
    /// How many callers are inside [`ScopeExecutor::run`]; while any is, woken tasks go
    /// to them and the background driver stands aside.
    callers: usize,
    /// The callers that found no task to run, by id, the most recent last.
    waiting: Vec<(u64, Waker)>,
    /// The id of the next caller.
    next_id: u64,
    /// The waker of the background driver, while it waits for work.
    background: Option<Waker>,
}

impl Shared {
    /// Who should run a task just queued (or left over): a waiting caller, else the
    /// background driver if no caller is inside `run`.
    fn runner_to_wake(&mut self) -> Option<Waker> {
        if self.callers > 0 {
            self.waiting.last().map(|(_, waker)| waker.clone())
        } else {
            self.background.take()
        }
    }
}

impl ScopeExecutor {
    /// An executor with no task.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes a caller leaving [`run`](Self::run) with tasks queued (a request it just
    /// started, say) run them first when the background driver is parked, instead of
    /// waking it: for a caller that drives the IO reactor itself and comes back soon (an
    /// async scope), that costs less than a wake-up of another thread. While the driver
    /// is awake anyway, queued tasks are left to it (they then run alongside the
    /// caller's own work). Measured on the async scope (S1 of the benchmark, 16 and 64
    /// in flight): 8-12% faster, 5-14% less CPU, context switches 2,600-3,200 -> 60-1,000
    /// per 20,000 requests. The blocking client uses it too, since it starts requests
    /// outside async-io's `block_on` (before, it handed every request over to its
    /// runtime thread).
    pub fn run_queued_on_leave(mut self) -> Self {
        self.run_queued_on_leave = true;
        self
    }

    /// True if tasks are queued and the background driver waits for work.
    fn background_is_parked_with_work(&self) -> bool {
        let shared = self.lock();
        !shared.queue.is_empty() && shared.background.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing runs under the lock but queue and waker bookkeeping, which a panic
        // cannot leave half done: a poisoned lock is used as is.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pop(&self) -> Option<Runnable> {
        self.lock().queue.pop_front()
    }

    /// Runs `future` to completion on the calling thread's executor (a `block_on`, or the
    /// task that awaits this), running this executor's tasks in between.
    pub async fn run<T>(&self, future: impl Future<Output = T>) -> T {
        let caller = CallerGuard::enter(self);
        let mut future = pin!(future);
        poll_fn(|cx| {
            loop {
                if let Poll::Ready(value) = future.as_mut().poll(cx) {
                    if self.run_queued_on_leave && self.background_is_parked_with_work() {
                        self.run_batch();
                    }
                    return Poll::Ready(value);
                }
                {
                    let mut shared = self.lock();
                    if shared.queue.is_empty() {
                        // Registered under the lock: a task scheduled after this check
                        // wakes this caller.
                        let waiting = &mut shared.waiting;
                        match waiting.iter().position(|(id, _)| *id == caller.id) {
                            Some(index) => {
                                let (_, waker) = waiting.remove(index);
                                let mut waker = waker;
                                waker.clone_from(cx.waker());
                                waiting.push((caller.id, waker));
                            }
                            None => waiting.push((caller.id, cx.waker().clone())),
                        }
                        return Poll::Pending;
                    }
                }
                let ran = self.run_batch();
                if ran >= BATCH {
                    // Plenty of work: give the caller's executor a turn, then go on.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        })
        .await
    }

    /// Runs up to [`BATCH`] queued tasks; returns how many ran.
    fn run_batch(&self) -> usize {
        let mut ran = 0;
        while ran < BATCH {
            let Some(runnable) = self.pop() else {
                break;
            };
            runnable.run();
            ran += 1;
        }
        ran
    }

    /// The background driver: runs the tasks while no caller is inside
    /// [`run`](Self::run). Spawn it on an executor that always runs (and drop its task
    /// when the scope ends); it never completes on its own.
    pub fn background(&self) -> impl Future<Output = ()> + Send + 'static + use<> {
        let this = self.clone();
        poll_fn(move |cx| {
            loop {
                {
                    let mut shared = this.lock();
                    if shared.callers > 0 || shared.queue.is_empty() {
                        match &mut shared.background {
                            Some(waker) => waker.clone_from(cx.waker()),
                            slot => *slot = Some(cx.waker().clone()),
                        }
                        return Poll::Pending;
                    }
                }
                if this.run_batch() >= BATCH {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        })
    }

    /// Queues `runnable` and wakes whoever runs tasks now.
    fn schedule(shared: &Mutex<Shared>, runnable: Runnable) {
        let waker = {
            let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
            shared.queue.push_back(runnable);
            shared.runner_to_wake()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Counts a caller inside [`ScopeExecutor::run`]; on the way out, hands what is left to
/// another waiting caller or to the background driver.
struct CallerGuard<'a> {
    executor: &'a ScopeExecutor,
    id: u64,
}

impl<'a> CallerGuard<'a> {
    fn enter(executor: &'a ScopeExecutor) -> Self {
        let mut shared = executor.lock();
        shared.callers += 1;
        let id = shared.next_id;
        shared.next_id += 1;
        Self { executor, id }
    }
}

impl Drop for CallerGuard<'_> {
    fn drop(&mut self) {
        let waker = {
            let mut shared = self.executor.lock();
            shared.callers = shared.callers.saturating_sub(1);
            shared.waiting.retain(|(id, _)| *id != self.id);
            if shared.queue.is_empty() {
                None
            } else {
                shared.runner_to_wake()
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Spawn for ScopeExecutor {
    fn spawn(&self, future: Boxed<()>) -> Task {
        // Weak: the queue holds runnables, and their schedule function must not keep the
        // queue alive (a cycle). Once the executor is gone, a woken task is dropped.
        let shared: Weak<Mutex<Shared>> = Arc::downgrade(&self.shared);
        let (runnable, task) = async_task::spawn(future, move |runnable| {
            if let Some(shared) = shared.upgrade() {
                Self::schedule(&shared, runnable);
            }
        });
        runnable.schedule();
        Task::new(task)
    }
}

impl fmt::Debug for ScopeExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("ScopeExecutor")
            .field("queued", &shared.queue.len())
            .field("callers", &shared.callers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use futures_lite::future;

    use super::*;

    /// Sets its flag when dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_waiting_caller_runs_the_tasks() {
        let executor = ScopeExecutor::new();
        let (tx, rx) = async_channel::bounded(1);
        let (go, gate) = async_channel::bounded::<()>(1);
        let task = executor.spawn(Box::pin(async move {
            // Waits for the caller first: the task is woken while the caller waits.
            let _ = gate.recv().await;
            let _ = tx.send(thread_id()).await;
        }));
        let got = future::block_on(executor.run(async {
            let _ = go.send(()).await;
            rx.recv().await
        }));
        assert_eq!(got, Ok(thread_id()), "ran on the caller's thread");
        drop(task);
    }

    #[test]
    fn the_background_driver_runs_tasks_while_nobody_waits() {
        let executor = ScopeExecutor::new();
        let background = async_executor::Executor::new();
        let driver = background.spawn(executor.background());
        let (tx, rx) = std::sync::mpsc::channel();
        let task = executor.spawn(Box::pin(async move {
            let _ = tx.send(());
        }));
        std::thread::scope(|s| {
            let (stop, stopped) = async_channel::bounded::<()>(1);
            let background = &background;
            s.spawn(move || future::block_on(background.run(stopped.recv())));
            assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(()));
            drop(stop);
        });
        drop((task, driver));
    }

    #[test]
    fn a_leaving_caller_runs_a_task_it_queued_while_the_background_is_parked() {
        for run_queued in [true, false] {
            let executor = if run_queued {
                ScopeExecutor::new().run_queued_on_leave()
            } else {
                ScopeExecutor::new()
            };
            let background = async_executor::Executor::new();
            let driver = background.spawn(executor.background());
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::scope(|s| {
                let (stop, stopped) = async_channel::bounded::<()>(1);
                let background = &background;
                s.spawn(move || future::block_on(background.run(stopped.recv())));
                // Bounded: the driver parks (waits for work) as soon as it first runs.
                let mut parked = false;
                for _ in 0..2000 {
                    if executor.lock().background.is_some() {
                        parked = true;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert!(parked, "the background driver never waited for work");
                // A request started by a caller: queued while the caller is inside.
                let task = future::block_on(executor.run(async {
                    executor.spawn(Box::pin(async move {
                        let _ = tx.send(thread_id());
                    }))
                }));
                let ran_on = rx.recv_timeout(Duration::from_secs(10));
                drop(task);
                drop(stop);
                if run_queued {
                    assert_eq!(ran_on, Ok(thread_id()), "ran by the leaving caller");
                } else {
                    assert!(
                        ran_on.is_ok_and(|id| id != thread_id()),
                        "ran in the background"
                    );
                }
            });
            drop(driver);
        }
    }

    #[test]
    fn a_caller_leaving_hands_the_tasks_to_another_waiting_caller() {
        let executor = ScopeExecutor::new();
        let (tx, rx) = async_channel::unbounded::<u32>();
        let (release, released) = async_channel::bounded::<()>(1);
        let (result_tx, result) = std::sync::mpsc::channel();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            // The caller that stays enters first, the one that leaves after it: the last
            // to wait is the one that goes away.
            let two = executor.clone();
            let two_entered = entered_tx.clone();
            s.spawn(move || {
                // Bounded, so that a failure is a failed test, not a hang (the result is
                // expected well before this).
                let give_up = async {
                    async_io::Timer::after(Duration::from_secs(20)).await;
                    Err(async_channel::RecvError)
                };
                let got = future::block_on(future::or(
                    two.run(async {
                        let _ = two_entered.send(());
                        rx.recv().await
                    }),
                    give_up,
                ));
                let _ = result_tx.send(got);
            });
            assert_eq!(entered.recv_timeout(Duration::from_secs(10)), Ok(()));
            std::thread::sleep(Duration::from_millis(50));
            let one = executor.clone();
            s.spawn(move || {
                future::block_on(one.run(async {
                    let _ = entered_tx.send(());
                    let _ = released.recv().await;
                }))
            });
            assert_eq!(entered.recv_timeout(Duration::from_secs(10)), Ok(()));
            std::thread::sleep(Duration::from_millis(50));
            let _ = release.send_blocking(());
            std::thread::sleep(Duration::from_millis(50));
            let task = executor.spawn(Box::pin(async move {
                let _ = tx.send(5).await;
            }));
            let got = result.recv_timeout(Duration::from_secs(10));
            drop(task);
            assert_eq!(got, Ok(Ok(5)), "the remaining caller ran the task");
        });
    }

    #[test]
    fn dropping_a_task_drops_its_future_and_the_queue_holds_no_cycle() {
        let executor = ScopeExecutor::new();
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let task = executor.spawn(Box::pin(async move {
            let _flag = flag;
            future::pending::<()>().await;
        }));
        // First poll: the future now waits forever.
        future::block_on(executor.run(future::yield_now()));
        assert!(!dropped.load(Ordering::SeqCst));
        drop(task);
        // The cancelled task is dropped by whoever runs the queue next, or with it.
        drop(executor);
        assert!(dropped.load(Ordering::SeqCst));
    }

    fn thread_id() -> std::thread::ThreadId {
        std::thread::current().id()
    }
}
