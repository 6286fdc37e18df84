//! The parallel scope: start requests at once, collect each outcome exactly once, and
//! cancel whatever is left when the scope ends.
//!
//! A [`Scope`] is generic over nothing: it holds a [`Client`] (configuration and
//! [`Dispatch`](crate::Dispatch)) and a [`Spawn`](crate::Spawn), both as trait objects.
//! Each started request becomes one task on the spawner; its outcome goes to the
//! scope's [`Outcomes`] table, from which a [`Pending`] handle or `next_response` takes it.
//!
//! Ending a scope ([`Scope::close`]) cancels every running task and drops every outcome
//! nobody collected (closing their connections), then *waits* until every task's future
//! has actually been dropped. Each task holds a clone of a channel sender; the scope
//! waits for the channel to report that all senders are gone. Only then are all the
//! scope's sockets known to be closed or back in the pool.
//!
//! An optional limit on requests in flight applies backpressure: [`Scope::start`] waits
//! for a free slot before it spawns.
//!
//! An optional deadline bounds the whole scope: one timer task (on the client's runtime)
//! fires a [`ScopeDeadline`] signal, every running request's future races against it and
//! ends with a [`TimeoutPhase::ScopeDeadline`] error (its connection closed), delivered
//! like any other outcome. A response that arrived in time keeps the deadline on its body.
//! Requests started after the deadline fail the same way at once.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use async_lock::Semaphore;
use event_listener::Event;
use futures_lite::{FutureExt, future};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result, TimeoutPhase};
use crate::pending::{Outcomes, Pending, RequestName};
use crate::request::{Request, RequestBuilder};
use crate::response::Response;
use crate::runtime::{Boxed, Runtime, Spawn, Task};
use crate::timeout;

/// Settings of one scope.
///
/// # Examples
///
/// ```
/// use par_http_core::ScopeOptions;
///
/// let options = ScopeOptions::new().max_in_flight(8);
/// assert_eq!(options.in_flight_limit(), Some(8));
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScopeOptions {
    max_in_flight: Option<usize>,
    deadline: Option<Duration>,
    spawner: Option<Arc<dyn Spawn>>,
}

impl ScopeOptions {
    /// No limit on requests in flight (the client's per-host connection cap still applies).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` requests of the scope run at once; starting another waits.
    /// A limit of 0 is taken as 1.
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = Some(limit.max(1));
        self
    }

    /// The limit on requests in flight, if any.
    pub fn in_flight_limit(&self) -> Option<usize> {
        self.max_in_flight
    }

    /// Runs the scope's request tasks on `spawner` instead of the client's runtime (whose
    /// IO, timers and connections they still use). The blocking facade gives each scope
    /// an executor of its own, which the thread waiting on the scope runs itself.
    pub fn spawner(mut self, spawner: Arc<dyn Spawn>) -> Self {
        self.spawner = Some(spawner);
        self
    }

    /// A deadline for the whole scope, `after` its opening: when it passes, every request
    /// still running (or still streaming its body) fails with a timeout of phase
    /// [`TimeoutPhase::ScopeDeadline`] and its connection is closed; requests started
    /// later fail that way at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http_core::ScopeOptions;
    ///
    /// let options = ScopeOptions::new().deadline(Duration::from_secs(5));
    /// assert_eq!(options.deadline_after(), Some(Duration::from_secs(5)));
    /// ```
    pub fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some(after);
        self
    }

    /// The scope's deadline, counted from its opening, if any.
    pub fn deadline_after(&self) -> Option<Duration> {
        self.deadline
    }
}

/// A parallel scope, the engine behind both the blocking and the async API.
pub struct Scope {
    client: Client,
    /// Where request tasks run, when not on the client's runtime.
    spawner: Option<Arc<dyn Spawn>>,
    outcomes: Arc<Outcomes>,
    limit: Option<Arc<Semaphore>>,
    /// Cloned into every task; the scope's own copy goes at close.
    alive: Mutex<Option<async_channel::Sender<()>>>,
    all_gone: async_channel::Receiver<()>,
    /// The deadline signal and the task of its timer (cancelled with the scope).
    deadline: Option<(Arc<ScopeDeadline>, Task)>,
}

impl Scope {
    /// A scope whose requests are prepared and sent by `client`.
    pub fn new(client: Client, options: ScopeOptions) -> Self {
        let (alive, all_gone) = async_channel::bounded(1);
        let runtime = client.runtime();
        // A deadline too far away to represent is none.
        let at = options
            .deadline
            .and_then(|after| runtime.now().checked_add(after));
        let deadline = at.map(|at| {
            let signal = Arc::new(ScopeDeadline::new(at));
            let sleep = runtime.sleep_until(signal.at);
            let fire = signal.clone();
            let timer = runtime.spawn(Box::pin(async move {
                sleep.await;
                fire.fire();
            }));
            (signal, timer)
        });
        Self {
            client,
            spawner: options.spawner,
            outcomes: Arc::new(Outcomes::new()),
            limit: options.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
            alive: Mutex::new(Some(alive)),
            all_gone,
            deadline,
        }
    }

    /// The client this scope sends through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts a request and returns its handle. Starting never fails: any error (an
    /// invalid URL included) is the outcome, reported when it is collected.
    ///
    /// # Cancel safety
    ///
    /// This waits only for a free slot under the scope's limit. If the future is dropped
    /// while waiting, the request is never started.
    pub async fn start(&self, request: RequestBuilder) -> Pending {
        let request = match self.client.prepare(request) {
            Ok(request) => request,
            Err(err) => {
                let name = match (err.method(), err.url()) {
                    (Some(method), Some(url)) => Some(Arc::new(RequestName {
                        method: method.clone(),
                        url: url.to_owned(),
                    })),
                    _ => None,
                };
                return self.ready(Err(err), name);
            }
        };
        let deadline = self.deadline.as_ref().map(|(signal, _)| signal.clone());
        let permit = match (&self.limit, &deadline) {
            (Some(limit), None) => Some(limit.acquire_arc().await),
            (Some(limit), Some(deadline)) => {
                let permit = async { Some(limit.acquire_arc().await) };
                match future::or(permit, async {
                    deadline.wait().await;
                    None
                })
                .await
                {
                    Some(permit) => Some(permit),
                    None => return self.past_deadline(&request),
                }
            }
            (None, _) => None,
        };
        if deadline
            .as_ref()
            .is_some_and(|deadline| deadline.has_passed(self.client.runtime().now()))
        {
            return self.past_deadline(&request);
        }
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let name = Arc::new(RequestName {
            method: request.method.clone(),
            url: request.url.as_str().to_owned(),
        });
        let (Some(alive), Some(id)) = (alive, self.outcomes.add_running()) else {
            let err = request.error(ErrorKind::Cancelled);
            return self.ready(Err(err), Some(name));
        };
        let outcomes = self.outcomes.clone();
        let send = self.client.execute(request);
        let send = match deadline {
            None => send,
            Some(deadline) => deadline.bound(send, self.client.runtime().clone()),
        };
        let task_name = name.clone();
        // Made outside the future: if the future is dropped before it completes, even
        // unpolled (the runtime shut down under it, say), the handle gets a Cancelled
        // error instead of waiting forever.
        let mut report = ReportOnDrop {
            outcomes,
            id,
            name: task_name,
            reported: false,
        };
        // Moved into the future: counted until it ends or is dropped, whichever comes first.
        let live = LiveTask::new();
        let task = Box::pin(async move {
            // A panicking dispatch (a user's mock, say) must not take the executor down
            // or leave the handle waiting forever: the panic becomes this request's error.
            let outcome = match AssertUnwindSafe(send).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(_) => Err(Error::new(ErrorKind::DispatchPanicked)),
            };
            drop(permit);
            report.complete(outcome);
            drop(live);
            // Dropped last: the scope's close waits for this.
            drop(alive);
        });
        let task = match &self.spawner {
            Some(spawner) => spawner.spawn(task),
            None => self.client.runtime().spawn(task),
        };
        if let Some(task) = self.outcomes.attach_task(id, task) {
            drop(task);
        }
        Pending::new(id, self.outcomes.clone(), Some(name))
    }

    /// The handle of a request started after the scope's deadline.
    fn past_deadline(&self, request: &Request) -> Pending {
        let name = Arc::new(RequestName {
            method: request.method.clone(),
            url: request.url.as_str().to_owned(),
        });
        let err = request.error(ErrorKind::Timeout(TimeoutPhase::ScopeDeadline));
        self.ready(Err(err), Some(name))
    }

    fn ready(&self, outcome: Result<Response>, name: Option<Arc<RequestName>>) -> Pending {
        let id = self.outcomes.add_ready(outcome);
        Pending::new(id, self.outcomes.clone(), name)
    }

    /// Waits for the next outcome in completion order.
    ///
    /// # Errors
    ///
    /// The request's own error, or [`ErrorKind::NoPending`](crate::ErrorKind::NoPending)
    /// at once when no request is running or waiting to be collected.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an outcome is only taken when the future completes.
    pub async fn next_response(&self) -> Result<Response> {
        self.outcomes.next().await
    }

    /// True while any request is running or has an outcome not yet collected.
    pub fn has_pending_responses(&self) -> bool {
        self.outcomes.has_pending()
    }

    /// Ends the scope: cancels every running request, closes the connections of
    /// uncollected responses, and waits until every task has stopped.
    ///
    /// # Cancel safety
    ///
    /// The cancellation happens at the first poll; dropping the future afterwards only
    /// skips the wait for the tasks' teardown.
    pub async fn close(&self) {
        self.close_now();
        // Err once every task's copy of the sender is gone, i.e. every future dropped.
        let _ = self.all_gone.recv().await;
    }

    /// Cancels what is still pending, without waiting for the teardown (use
    /// [`close`](Self::close) to wait). Further starts are cancelled at once.
    pub fn cancel(&self) {
        self.close_now();
    }

    fn close_now(&self) {
        let closed = self.outcomes.close();
        drop(closed);
        let own = self.alive.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(own);
    }
}

/// Request tasks of every scope in this process whose future still exists.
static LIVE_REQUEST_TASKS: AtomicUsize = AtomicUsize::new(0);

/// How many request tasks started by scopes are alive in this process: spawned, and their
/// future not yet dropped (running, waiting, or cancelled but not yet torn down by the
/// executor).
///
/// A diagnostic for leak tests: once every scope has been closed, it is back to zero, so
/// no task outlives its scope. (A cancelled task's count goes with the rest of its future,
/// a moment after its scope's close returns.) It counts the whole process, all clients
/// and runtimes.
///
/// # Examples
///
/// ```
/// // No scope is open in this program.
/// assert_eq!(par_http_core::live_request_tasks(), 0);
/// ```
pub fn live_request_tasks() -> usize {
    LIVE_REQUEST_TASKS.load(Ordering::SeqCst)
}

/// One count in [`LIVE_REQUEST_TASKS`], held by a request task's future.
struct LiveTask;

impl LiveTask {
    fn new() -> Self {
        LIVE_REQUEST_TASKS.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for LiveTask {
    fn drop(&mut self) {
        LIVE_REQUEST_TASKS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The deadline of a scope: set once by the scope's timer task, awaited by its requests.
struct ScopeDeadline {
    at: Instant,
    passed: AtomicBool,
    event: Event,
}

impl ScopeDeadline {
    fn new(at: Instant) -> Self {
        Self {
            at,
            passed: AtomicBool::new(false),
            event: Event::new(),
        }
    }

    /// True once the timer fired, or `now` is past the deadline (the timer task may not
    /// have run yet).
    fn has_passed(&self, now: Instant) -> bool {
        self.passed.load(Ordering::Acquire) || now >= self.at
    }

    fn fire(&self) {
        self.passed.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
    }

    /// Completes when the timer has fired.
    async fn wait(&self) {
        loop {
            if self.passed.load(Ordering::Acquire) {
                return;
            }
            let listener = self.event.listen();
            if self.passed.load(Ordering::Acquire) {
                return;
            }
            listener.await;
        }
    }

    /// `send`, failing with a scope-deadline timeout if the deadline passes first; the
    /// response it gives keeps the deadline on its body.
    fn bound(
        self: Arc<Self>,
        send: Boxed<Result<Response>>,
        runtime: Arc<dyn Runtime>,
    ) -> Boxed<Result<Response>> {
        Box::pin(async move {
            let at = self.at;
            timeout::bounded(send, self.wait(), &runtime, at, TimeoutPhase::ScopeDeadline).await
        })
    }
}

impl fmt::Debug for ScopeDeadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeDeadline")
            .field("passed", &self.passed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Delivers a request's outcome, or `Cancelled` if the task is dropped before it has one.
struct ReportOnDrop {
    outcomes: Arc<Outcomes>,
    id: usize,
    name: Arc<RequestName>,
    reported: bool,
}

impl ReportOnDrop {
    fn complete(&mut self, outcome: Result<Response>) {
        self.reported = true;
        let outcome = outcome.map_err(|err| self.name.name(err));
        self.outcomes.complete(self.id, outcome);
    }
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if !self.reported {
            let err = self.name.name(Error::new(ErrorKind::Cancelled));
            self.outcomes.complete(self.id, Err(err));
        }
    }
}

impl Drop for Scope {
    /// Cancels what is still pending (without waiting for the teardown; use
    /// [`Scope::close`] to wait).
    fn drop(&mut self) {
        self.close_now();
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("outcomes", &self.outcomes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
