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
//! Each request's future lives in the scope's table (a `FutureCell`); its task only
//! polls it. Ending the scope takes every future out and drops it on the ending thread,
//! so the sockets are closed before the end returns, on any executor (a tokio task's
//! abort, say, only schedules its teardown).
//!
//! Starting never waits. An optional limit on requests in flight applies backpressure
//! inside the tasks: a request over the limit waits in line, holding no connection.
//!
//! Bodies are read in the background: a request's task reads its body into memory, up
//! to a per-response limit and within the scope's budget (`body_buffer.rs`), before the
//! response is delivered, so downloads run in parallel even when the caller collects
//! them one by one. A body too long for that is delivered *parked*: part in memory, the
//! rest on its connection, which it holds (with its slot under the limit) until it is
//! collected. If a caller then waits on the scope while another request needs that
//! connection or slot, the parked body is read to its end into memory and gives them
//! back; that is why no order of starting and collecting can hang.
//!
//! An optional deadline bounds the whole scope: one timer task (on the client's runtime)
//! fires a [`ScopeDeadline`] signal, every running request's future races against it and
//! ends with a [`TimeoutPhase::ScopeDeadline`] error (its connection closed), delivered
//! like any other outcome. A response that arrived in time keeps the deadline on its body.
//! Requests started after the deadline fail the same way at once.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use async_lock::Semaphore;
use event_listener::Event;
use futures_lite::{FutureExt, future};

use async_lock::SemaphoreGuardArc;

use crate::client::Client;
use crate::client::deadline;
use crate::error::{Error, ErrorKind, Result, Tag, TimeoutPhase};
use crate::message::body_buffer::{Budget, Claim, DEFAULT_BODY_BUDGET, DEFAULT_MAX_BODY_IN_MEMORY};
use crate::message::hedge_policy::HedgePolicy;
use crate::message::request::{Request, RequestBuilder};
use crate::message::response::Response;
use crate::message::retry_policy::RetryPolicy;
use crate::runtime::{Boxed, Runtime, Spawn, Task};
use pending::{Delivery, FutureCell, Hold, Meta, Outcomes, Pending};
use stall::StallWatch;
use watch::{Flight, Watch};
pub use watch::{Progress, ProgressEvent, ProgressFn, ScopeStats, UncollectedFn};

pub(crate) mod pending;
mod stall;
mod watch;

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
#[derive(Clone)]
#[non_exhaustive]
pub struct ScopeOptions {
    max_in_flight: Option<usize>,
    deadline: Option<Duration>,
    spawner: Option<Arc<dyn Spawn>>,
    max_body_in_memory: usize,
    body_budget: usize,
    stream_bodies: bool,
    retry: Option<Arc<RetryPolicy>>,
    hedge: Option<Arc<HedgePolicy>>,
    fail_fast: bool,
    error_for_status: bool,
    progress: Option<ProgressFn>,
    on_uncollected_error: Option<UncollectedFn>,
}

impl fmt::Debug for ScopeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeOptions")
            .field("max_in_flight", &self.max_in_flight)
            .field("deadline", &self.deadline)
            .field("max_body_in_memory", &self.max_body_in_memory)
            .field("body_budget", &self.body_budget)
            .field("stream_bodies", &self.stream_bodies)
            .field("retry", &self.retry)
            .field("hedge", &self.hedge)
            .field("fail_fast", &self.fail_fast)
            .field("error_for_status", &self.error_for_status)
            .field("progress", &self.progress.is_some())
            .field("on_uncollected_error", &self.on_uncollected_error.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for ScopeOptions {
    fn default() -> Self {
        Self {
            max_in_flight: None,
            deadline: None,
            spawner: None,
            max_body_in_memory: DEFAULT_MAX_BODY_IN_MEMORY,
            body_budget: DEFAULT_BODY_BUDGET,
            stream_bodies: false,
            retry: None,
            hedge: None,
            fail_fast: false,
            error_for_status: false,
            progress: None,
            on_uncollected_error: None,
        }
    }
}

impl ScopeOptions {
    /// No limit on requests in flight (the client's per-host connection cap still
    /// applies); bodies up to 1 MiB read in the background within a 64 MiB budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` requests of the scope are in flight at once; the others wait in
    /// line, in start order, without holding a connection. A request is in flight from
    /// the moment it leaves the line until its body has been read into memory, or its
    /// response has been collected. Starting a request never waits for a slot.
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

    /// Each response body is read into memory in the background up to `bytes` (1 MiB by
    /// default) before its response is delivered; a longer body is delivered with that
    /// much in memory and the rest streaming from its connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::ScopeOptions;
    ///
    /// let options = ScopeOptions::new().max_body_in_memory(256 * 1024);
    /// assert_eq!(options.body_in_memory_limit(), 256 * 1024);
    /// ```
    pub fn max_body_in_memory(mut self, bytes: usize) -> Self {
        self.max_body_in_memory = bytes;
        self
    }

    /// The per-response limit of background body reading.
    pub fn body_in_memory_limit(&self) -> usize {
        self.max_body_in_memory
    }

    /// All bodies read in the background and not yet collected share `bytes` (64 MiB by
    /// default); once it is used up, further responses are delivered with their bodies
    /// streaming.
    pub fn body_budget(mut self, bytes: usize) -> Self {
        self.body_budget = bytes;
        self
    }

    /// No background body reading: each response is delivered as soon as its head
    /// arrives, and its body streams from the connection as the caller reads it.
    pub fn stream_bodies(mut self) -> Self {
        self.stream_bodies = true;
        self
    }

    /// Retries the scope's requests under `policy` instead of the client's (a request's
    /// own policy still wins). Retries stay within the scope's deadline and its
    /// `max_in_flight`: a request keeps its slot while it waits to try again.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(Arc::new(policy));
        self
    }

    /// Hedges the scope's requests under `policy` instead of the client's (a request's
    /// own policy still wins). A [`HedgePolicy::p95`] set here observes the latencies of
    /// this scope's requests. Hedges run in their request's task: they stay within the
    /// scope's deadline and take no `max_in_flight` slot of their own.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::{HedgePolicy, ScopeOptions};
    ///
    /// let options = ScopeOptions::new().max_in_flight(8).hedge(HedgePolicy::p95());
    /// # drop(options);
    /// ```
    pub fn hedge(mut self, policy: HedgePolicy) -> Self {
        self.hedge = Some(Arc::new(policy));
        self
    }

    /// Fail-fast: the first request that fails cancels every other request still running
    /// (their outcomes become [`Cancelled`](ErrorKind::Cancelled) errors), and its error
    /// is what the next collection returns, whichever request it asks for. Responses that
    /// arrived before it stay in the scope. An error status is a failure only with
    /// [`error_for_status`](Self::error_for_status).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http_core::ScopeOptions;
    ///
    /// let options = ScopeOptions::new().fail_fast().error_for_status();
    /// assert!(options.is_fail_fast());
    /// ```
    pub fn fail_fast(mut self) -> Self {
        self.fail_fast = true;
        self
    }

    /// True when the scope is [`fail_fast`](Self::fail_fast).
    pub fn is_fail_fast(&self) -> bool {
        self.fail_fast
    }

    /// Responses with a status of 400 or more are delivered as
    /// [`Status`](ErrorKind::Status) errors (as [`Response::error_for_status`] makes them),
    /// their connections closed unless their bodies were read.
    pub fn error_for_status(mut self) -> Self {
        self.error_for_status = true;
        self
    }

    /// Calls `progress` with each step of each request of the scope: sent, head, body
    /// bytes, done, failed (see [`ProgressEvent`]). It is called on the thread that made
    /// the progress (a background task, or the caller reading a body), so it should be
    /// quick: count, or send to a channel.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use par_http_core::{ProgressEvent, ScopeOptions};
    ///
    /// let bytes = Arc::new(AtomicU64::new(0));
    /// let seen = bytes.clone();
    /// let options = ScopeOptions::new().on_progress(move |progress| {
    ///     if let ProgressEvent::Done { received, .. } = progress.event {
    ///         seen.fetch_add(received, Ordering::Relaxed);
    ///     }
    /// });
    /// # let _ = options;
    /// ```
    pub fn on_progress(mut self, progress: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Calls `report` with each error nobody collected when the scope ends (cancellations
    /// aside), named after its request. Without it such errors are only counted
    /// ([`ScopeStats::uncollected_errors`]) and, with the `tracing` feature, logged.
    pub fn on_uncollected_error(mut self, report: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.on_uncollected_error = Some(Arc::new(report));
        self
    }
}

/// Settings of one request of a scope, beside the request itself.
///
/// # Examples
///
/// ```
/// use par_http_core::StartOptions;
///
/// let options = StartOptions::new().stream().tag(std::sync::Arc::new("row 7"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct StartOptions {
    stream: Option<bool>,
    max_body_in_memory: Option<usize>,
    tag: Option<Tag>,
}

impl StartOptions {
    /// The scope's settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers the response as soon as its head arrives, its body streaming (overrides
    /// the scope's background body reading).
    pub fn stream(mut self) -> Self {
        self.stream = Some(true);
        self
    }

    /// Reads up to `bytes` of this response's body in the background (overrides the
    /// scope's [`ScopeOptions::max_body_in_memory`]).
    pub fn max_body_in_memory(mut self, bytes: usize) -> Self {
        self.max_body_in_memory = Some(bytes);
        self.stream = Some(false);
        self
    }

    /// Attaches `tag` to the request: its response or error gives it back.
    pub fn tag(mut self, tag: Tag) -> Self {
        self.tag = Some(tag);
        self
    }
}

impl fmt::Debug for StartOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartOptions")
            .field("stream", &self.stream)
            .field("max_body_in_memory", &self.max_body_in_memory)
            .field("tagged", &self.tag.is_some())
            .finish()
    }
}

/// A parallel scope, the engine behind both the blocking and the async API.
pub struct Scope {
    client: Client,
    /// Where request tasks run, when not on the client's runtime.
    spawner: Option<Arc<dyn Spawn>>,
    outcomes: Arc<Outcomes>,
    limit: Option<Arc<Semaphore>>,
    /// Background body reading: per response (`None`: off) and for the whole scope.
    max_body_in_memory: Option<usize>,
    budget: Budget,
    /// The retry policy of the scope's requests that have none of their own.
    retry: Option<Arc<RetryPolicy>>,
    /// The hedge policy of the scope's requests that have none of their own.
    hedge: Option<Arc<HedgePolicy>>,
    /// Cloned into every task; the scope's own copy goes at close.
    alive: Mutex<Option<async_channel::Sender<()>>>,
    all_gone: async_channel::Receiver<()>,
    /// The deadline signal and the task of its timer (cancelled with the scope).
    deadline: Option<(Arc<ScopeDeadline>, Task)>,
    /// Shared by the handles: how a waiting `get_response` tells a stalled request.
    watch: Arc<StallWatch>,
    /// Counters and callbacks.
    observed: Arc<Watch>,
    /// This scope among the process's, for tracing.
    #[cfg(feature = "tracing")]
    id: u64,
    error_for_status: bool,
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
            client: client.clone(),
            spawner: options.spawner,
            outcomes: Arc::new(Outcomes::new().fail_fast(options.fail_fast)),
            limit: options.max_in_flight.map(|n| Arc::new(Semaphore::new(n))),
            max_body_in_memory: (!options.stream_bodies).then_some(options.max_body_in_memory),
            retry: options.retry,
            hedge: options.hedge,
            budget: Budget::new(options.body_budget),
            alive: Mutex::new(Some(alive)),
            all_gone,
            deadline,
            watch: Arc::new(StallWatch {
                client: client.clone(),
                max_in_flight: options.max_in_flight,
            }),
            observed: Arc::new(Watch::new(options.progress, options.on_uncollected_error)),
            #[cfg(feature = "tracing")]
            id: NEXT_SCOPE_ID.fetch_add(1, Ordering::Relaxed),
            error_for_status: options.error_for_status,
        }
    }

    /// The scope's counters now: queued, in flight, done, failed, cancelled, bytes
    /// received, retries, uncollected errors.
    pub fn stats(&self) -> ScopeStats {
        self.observed.stats(self.outcomes.queued())
    }

    /// The client this scope sends through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Starts a request and returns its handle; see [`start_with`](Self::start_with).
    /// The future never waits: it is `async` for the callers that run a scope's
    /// executor around the start.
    pub async fn start(&self, request: RequestBuilder) -> Pending {
        self.start_with(request, StartOptions::new())
    }

    /// Starts a request and returns its handle at once. Starting never fails and never
    /// waits: any error (an invalid URL included) is the outcome, reported when it is
    /// collected, and a request over the scope's limit waits in line in its task.
    pub fn start_with(&self, request: RequestBuilder, options: StartOptions) -> Pending {
        self.observed.started();
        let mut request = match self.client.prepare(request) {
            Ok(request) => request,
            Err(err) => {
                let name = match (err.method(), err.url()) {
                    (Some(method), Some(url)) => Some((method.clone(), url.to_owned())),
                    _ => None,
                };
                return self.ready(Err(err), Meta::new(name, options.tag));
            }
        };
        if request.retry.is_none() {
            request.retry.clone_from(&self.retry);
        }
        if request.hedge.is_none() {
            request.hedge.clone_from(&self.hedge);
        }
        let name = Some((request.method.clone(), request.url.as_str().to_owned()));
        #[cfg(not(feature = "tracing"))]
        let meta = Meta::new(name, options.tag);
        #[cfg(feature = "tracing")]
        let meta = Meta::with_span(
            name,
            options.tag,
            tracing::info_span!(
                "par_http.request",
                method = %request.method,
                url = %request.url,
                scope = self.id,
                index = tracing::field::Empty,
                status = tracing::field::Empty,
                attempts = tracing::field::Empty,
                error = tracing::field::Empty,
            ),
        );
        let deadline = self.deadline.as_ref().map(|(signal, _)| signal.clone());
        if deadline
            .as_ref()
            .is_some_and(|deadline| deadline.has_passed(self.client.runtime().now()))
        {
            let err = request.error(ErrorKind::Timeout(TimeoutPhase::ScopeDeadline));
            return self.ready(Err(err), meta);
        }
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (Some(alive), Some(id)) = (alive, self.outcomes.add_running(meta.clone())) else {
            let err = request.error(ErrorKind::Cancelled);
            return self.ready(Err(err), meta);
        };
        let body_limit = match options.stream {
            Some(true) => None,
            Some(false) => options.max_body_in_memory.or(self.max_body_in_memory),
            None => self.max_body_in_memory,
        };
        // A request that need not wait in line is handed to the client now (its future
        // then holds the exchange, not the request too); one that waits keeps its request
        // boxed until it leaves the line, when the client's work (and its time limit)
        // starts.
        let (permit, sending) = match &self.limit {
            Some(limit) => match limit.try_acquire_arc() {
                None => (None, Sending::Queued(Box::new(request), limit.clone())),
                permit => (permit, Sending::Now(self.execute_now(request))),
            },
            None => (None, Sending::Now(self.execute_now(request))),
        };
        let work = RequestWork {
            outcomes: self.outcomes.clone(),
            id,
            deadline,
            client: self.client.clone(),
            body_limit,
            budget: self.budget.clone(),
            error_for_status: self.error_for_status,
            // Moved into the future: counted until it ends or is dropped, whichever comes
            // first.
            _live: LiveTask::new(),
            _alive: alive,
        };
        // Made outside the future: if the future is dropped before it completes, even
        // unpolled (the runtime shut down under it, say), the handle gets a Cancelled
        // error instead of waiting forever.
        let report = ReportOnDrop {
            outcomes: self.outcomes.clone(),
            id,
            meta: meta.clone(),
            reported: false,
            observed: self.observed.clone(),
            flight: FlightState::Unsent,
        };
        #[cfg(feature = "tracing")]
        meta.span.record("index", id);
        let future = work.run(sending, permit, report);
        #[cfg(feature = "tracing")]
        let future = tracing::Instrument::instrument(future, meta.span.clone());
        let future = FutureCell::new(Box::pin(future));
        let task = match &self.spawner {
            Some(spawner) => spawner.spawn(future.task()),
            None => self.client.runtime().spawn(future.task()),
        };
        if let Some((task, future)) = self.outcomes.attach(id, task, future) {
            // The scope ended (or the request was cancelled) meanwhile: drop the future
            // here, as the end did for the others, then let go of its task.
            future.drop_future();
            drop(task);
        }
        Pending::new(id, self.outcomes.clone(), meta, Some(self.watch.clone()))
    }

    /// `client.execute(request)`; a panic in it (a user's dispatch or cookie store, say)
    /// becomes the request's error instead of the caller's panic.
    fn execute_now(&self, request: Request) -> Boxed<Result<Response>> {
        let client = &self.client;
        std::panic::catch_unwind(AssertUnwindSafe(|| client.execute(request))).unwrap_or_else(
            |_| Box::pin(future::ready(Err(Error::new(ErrorKind::DispatchPanicked)))),
        )
    }

    /// A request whose outcome is known at its start (an error).
    fn ready(&self, outcome: Result<Response>, meta: Arc<Meta>) -> Pending {
        let outcome = outcome.map_err(|err| meta.name(err));
        let id = match self.outcomes.add_running(meta.clone()) {
            Some(id) => {
                if let Err(err) = &outcome {
                    self.observed.ended_unsent(id, meta.name.as_ref(), err);
                }
                let hold = Hold::default();
                self.outcomes.complete(id, Delivery { outcome, hold });
                id
            }
            None => {
                if let Err(err) = &outcome {
                    self.observed.ended_unsent(usize::MAX, None, err);
                }
                self.outcomes.add_ready(outcome, meta.clone())
            }
        };
        Pending::new(id, self.outcomes.clone(), meta, None)
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

    /// Waits at most `timeout` for the next outcome in completion order; `None` if none
    /// came in that time (the requests go on).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`next_response`](Self::next_response).
    pub async fn next_response_timeout(&self, timeout: Duration) -> Option<Result<Response>> {
        let next = async { Some(self.outcomes.next().await) };
        let waited = async {
            self.client.runtime().sleep(timeout).await;
            None
        };
        future::or(next, waited).await
    }

    /// The next outcome in completion order if one is ready now, without waiting; `None`
    /// when none is (see [`has_pending_responses`](Self::has_pending_responses)).
    pub fn try_next_response(&self) -> Option<Result<Response>> {
        self.outcomes.try_next_now()
    }

    /// A race between the scope's pending requests: waits for the first response among
    /// them (in completion order; an error status is a response unless the scope has
    /// [`error_for_status`](ScopeOptions::error_for_status)), then cancels every other
    /// request of the scope, running or uncollected, before it returns. If every one of
    /// them fails, the error is of kind [`AllFailed`](ErrorKind::AllFailed) and holds all
    /// their errors ([`Error::all_failed`]), in the order they failed.
    ///
    /// The scope stays open: requests started afterwards run as usual.
    ///
    /// # Errors
    ///
    /// [`AllFailed`](ErrorKind::AllFailed) as above, or
    /// [`NoPending`](ErrorKind::NoPending) when no request was pending.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes loses the errors collected so far (their
    /// requests are ended) and cancels nothing else.
    #[doc(alias = "select_ok")]
    #[doc(alias = "first_success")]
    pub async fn race(&self) -> Result<Response> {
        let mut errors = Vec::new();
        loop {
            match self.outcomes.next().await {
                Ok(response) => {
                    self.outcomes.cancel_all();
                    if let Some(flushed) = self.client.dispatch().flush() {
                        flushed.await;
                    }
                    return Ok(response);
                }
                Err(err) if err.is_no_pending() && errors.is_empty() => return Err(err),
                Err(err) if err.is_no_pending() => {
                    let all = crate::error::AllFailed::new(errors);
                    return Err(Error::new(ErrorKind::AllFailed).with_source(all));
                }
                Err(err) => errors.push(err),
            }
        }
    }

    /// True while any request is running or has an outcome not yet collected.
    pub fn has_pending_responses(&self) -> bool {
        self.outcomes.has_pending()
    }

    /// Ends the scope: cancels every running request, closes the connections of
    /// uncollected responses, and waits until every task has stopped.
    ///
    /// Every request's future is dropped on the calling thread at the first poll, so its
    /// socket is closed by then, whatever the executor does with the tasks; the wait
    /// that follows is for the executor to let go of the (empty) tasks.
    ///
    /// # Cancel safety
    ///
    /// The cancellation happens at the first poll; dropping the future afterwards only
    /// skips the wait for the tasks' teardown.
    pub async fn close(&self) {
        self.close_now();
        // Err once every task's copy of the sender is gone, i.e. every future dropped.
        let _ = self.all_gone.recv().await;
        // Cancellations that travel on a shared connection (HTTP/2 resets) are written.
        if let Some(flushed) = self.client.dispatch().flush() {
            flushed.await;
        }
    }

    /// Cancels what is still pending and drops its futures (closing their sockets)
    /// before it returns, without waiting for the executor's teardown of the tasks (use
    /// [`close`](Self::close) for that). Further starts are cancelled at once.
    pub fn cancel(&self) {
        self.close_now();
    }

    fn close_now(&self) {
        let leftovers = self.outcomes.close();
        for err in leftovers.uncollected_errors() {
            self.observed.uncollected(err);
        }
        drop(leftovers);
        let own = self.alive.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(own);
    }
}

/// What a request's task needs besides its request: where its outcome goes, the scope's
/// limit and deadline, and the rules of background body reading.
struct RequestWork {
    outcomes: Arc<Outcomes>,
    id: usize,
    deadline: Option<Arc<ScopeDeadline>>,
    client: Client,
    body_limit: Option<usize>,
    budget: Budget,
    /// Responses of status 400 or more become errors.
    error_for_status: bool,
    /// Counts the task in [`live_request_tasks`] while its future exists.
    _live: LiveTask,
    /// The scope's close waits until every task's copy is gone.
    _alive: async_channel::Sender<()>,
}

impl RequestWork {
    /// The life of one request of a scope: a slot under the limit, the exchange, the body
    /// in the background, then (for a body left partly on the wire) a watch for the
    /// moment its connection is needed.
    //
    // A plain function around an `async move` block: an `async fn` would store its
    // arguments twice in its future (rust-lang/rust#62958).
    #[allow(clippy::manual_async_fn)]
    fn run(
        self,
        sending: Sending,
        permit: Option<SemaphoreGuardArc>,
        mut report: ReportOnDrop,
    ) -> impl Future<Output = ()> + Send {
        async move {
            // The usual paths (no wait for a slot, a body complete with its head) keep this
            // future small; the others are boxed, so that their state is not moved along
            // with every request.
            let (send, permit) = match sending {
                Sending::Queued(request, limit) => {
                    match Self::boxed(self.slot(&limit)).await {
                        // Made only now: a dispatch's work starts when the request
                        // leaves the line.
                        Ok(permit) => (self.client.execute(*request), Some(permit)),
                        Err(err) => return report.complete(Err(err), Hold::default()),
                    }
                }
                Sending::Now(send) => (send, permit),
            };
            report.sent();
            let send = match &self.deadline {
                None => send,
                Some(deadline) => deadline.clone().bound(send, self.client.runtime().clone()),
            };
            // A panicking dispatch (a user's mock, say) must not take the executor down or
            // leave the handle waiting forever: the panic becomes this request's error.
            let outcome = AssertUnwindSafe(send)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::new(ErrorKind::DispatchPanicked)));
            // Settled in a plain function: the response's locals then take no room in
            // this future (a local moved from before an await still would).
            if let Some(read) = self.settle(outcome, permit, report) {
                read.await;
            }
        }
    }

    /// Delivers `outcome`, or gives back the boxed reading of its body when there is
    /// more of it to read in the background.
    fn settle(
        &self,
        outcome: Result<Response>,
        permit: Option<SemaphoreGuardArc>,
        mut report: ReportOnDrop,
    ) -> Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
        let outcome = match outcome {
            Ok(response) if self.error_for_status && response.status().as_u16() >= 400 => {
                let attempts = response.attempts();
                response
                    .error_for_status()
                    .map_err(|err| err.with_attempts(attempts))
            }
            outcome => outcome,
        };
        let mut response = match outcome {
            Ok(response) => response,
            Err(err) => {
                drop(permit);
                report.complete(Err(err), Hold::default());
                return None;
            }
        };
        report.head(&mut response);
        let hold = Hold {
            permit,
            ..Hold::default()
        };
        match self.body_limit {
            // Streamed: in flight until handed over.
            None => report.complete(Ok(response), hold),
            Some(_) if response.body_mut().is_complete() => {
                report.complete(Ok(response), Hold::default());
            }
            Some(limit) => return Some(Self::boxed(self.read_body(response, limit, hold, report))),
        }
        None
    }

    /// Boxes a rarely taken part of a request's life, made in a function of its own so
    /// that its state is built in the box and never in the request's future.
    fn boxed<'a, T>(
        future: impl Future<Output = T> + Send + 'a,
    ) -> std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>> {
        Box::pin(future)
    }

    /// Reads the body of `response` into memory, up to `limit` and within the scope's
    /// budget, then delivers it; a body left partly on the wire is parked.
    async fn read_body(
        &self,
        mut response: Response,
        limit: usize,
        mut hold: Hold,
        mut report: ReportOnDrop,
    ) {
        // A body announced longer than the limit is not worth a partial read.
        let fits = response
            .content_length()
            .is_none_or(|len| len <= limit as u64);
        let mut claim = self.budget.claim();
        let complete = if fits {
            match response.body_mut().fill(limit, &mut claim).await {
                Ok(complete) => complete,
                Err(err) => return report.complete(Err(err), Hold::default()),
            }
        } else {
            false
        };
        hold.claim = Some(claim);
        if complete {
            hold.permit = None;
            return report.complete(Ok(response), hold);
        }
        // Parked: delivered with the rest of its body on the wire, holding its
        // connection and its slot until it is collected.
        let url = response.url().clone();
        let (parked, collected) = async_channel::bounded::<()>(1);
        hold.parked = Some(parked);
        report.complete(Ok(response), hold);
        self.watch_parked(&url, collected, &mut report).await;
    }

    /// Waits for a slot under the scope's limit, or the scope's deadline.
    async fn slot(&self, limit: &Arc<Semaphore>) -> Result<SemaphoreGuardArc> {
        let _waiting = self.outcomes.waiting_for_slot();
        let permit = async { Some(limit.acquire_arc().await) };
        let passed = async {
            match &self.deadline {
                Some(deadline) => deadline.wait().await,
                None => future::pending().await,
            }
            None
        };
        future::or(permit, passed)
            .await
            .ok_or_else(|| Error::new(ErrorKind::Timeout(TimeoutPhase::ScopeDeadline)))
    }

    /// Waits while the parked response of this request is not collected; if a caller
    /// waits on the scope meanwhile, and another request needs this response's
    /// connection (or its slot under the limit), reads the rest of the body into memory
    /// and gives them back. Without this, a caller that collects in an order of its own
    /// could wait forever for a request that waits for a connection held by a response
    /// it has not collected yet.
    async fn watch_parked(
        &self,
        url: &url::Url,
        collected: async_channel::Receiver<()>,
        report: &mut ReportOnDrop,
    ) {
        loop {
            let pressure = self.outcomes.pressure();
            if collected.is_closed() {
                return;
            }
            let waits = self.outcomes.collector_waits();
            if waits && self.outcomes.slot_wanted() {
                break;
            }
            let gone = async {
                let _ = collected.recv().await;
                false
            };
            let changed = async {
                pressure.await;
                false
            };
            let wanted = async {
                match self.client.dispatch().connection_wanted(url) {
                    Some(wanted) if waits => {
                        wanted.await;
                        true
                    }
                    _ => future::pending().await,
                }
            };
            if future::or(gone, future::or(changed, wanted)).await {
                break;
            }
        }
        let Some(Delivery { outcome, mut hold }) = self.outcomes.reclaim(self.id) else {
            return;
        };
        // From here until it is delivered again, a drop reports Cancelled.
        report.reported = false;
        let mut response = match outcome {
            Ok(response) => response,
            Err(err) => return report.complete(Err(err), hold),
        };
        let mut unbounded = Claim::unbounded();
        match response.body_mut().fill(usize::MAX, &mut unbounded).await {
            Ok(_) => {
                hold.permit = None;
                hold.parked = None;
                report.complete(Ok(response), hold);
            }
            Err(err) => report.complete(Err(err), Hold::default()),
        }
    }
}

/// The id of the next scope opened in this process (for tracing).
#[cfg(feature = "tracing")]
static NEXT_SCOPE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A request of a scope on its way to the client.
enum Sending {
    /// Handed to the client at its start (no wait for a slot under the limit).
    Now(Boxed<Result<Response>>),
    /// Waiting in line for a slot: handed to the client when it leaves the line.
    Queued(Box<Request>, Arc<Semaphore>),
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
            deadline::bounded(send, self.wait(), &runtime, at, TimeoutPhase::ScopeDeadline).await
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
    meta: Arc<Meta>,
    reported: bool,
    observed: Arc<Watch>,
    flight: FlightState,
}

/// Where a request's count in the scope's [`Watch`] is.
enum FlightState {
    /// Not sent yet: waiting in line.
    Unsent,
    /// Sent, its response not in yet.
    Flying(Flight),
    /// Its response is in; the flight ended with it, or went into its body's stream.
    Landed,
}

impl ReportOnDrop {
    /// The request leaves the line.
    fn sent(&mut self) {
        if let FlightState::Unsent = self.flight {
            let flight = Flight::sent(self.observed.clone(), self.id, self.meta.clone());
            self.flight = FlightState::Flying(flight);
        }
    }

    /// The response's head arrived.
    fn head(&mut self, response: &mut Response) {
        if let FlightState::Flying(flight) =
            std::mem::replace(&mut self.flight, FlightState::Landed)
        {
            flight.head(response);
        }
    }

    fn complete(&mut self, outcome: Result<Response>, hold: Hold) {
        self.reported = true;
        let outcome = outcome.map_err(|err| self.meta.name(err));
        if let Err(err) = &outcome {
            match std::mem::replace(&mut self.flight, FlightState::Landed) {
                FlightState::Flying(flight) => flight.failed(err),
                FlightState::Unsent => {
                    self.observed
                        .ended_unsent(self.id, self.meta.name.as_ref(), err);
                }
                // The body's stream counted its own error.
                FlightState::Landed => {}
            }
        }
        self.outcomes.complete(self.id, Delivery { outcome, hold });
    }
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        if let FlightState::Unsent = self.flight {
            if !self.reported {
                let err = Error::new(ErrorKind::Cancelled);
                self.observed.ended_unsent(self.id, None, &err);
            }
        }
        if !self.reported {
            let err = self.meta.name(Error::new(ErrorKind::Cancelled));
            self.outcomes.complete(
                self.id,
                Delivery {
                    outcome: Err(err),
                    hold: Hold::default(),
                },
            );
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

impl Client {
    /// Opens a parallel scope on this client.
    pub fn scope(&self, options: ScopeOptions) -> Scope {
        Scope::new(self.clone(), options)
    }
}

#[cfg(test)]
mod tests;
