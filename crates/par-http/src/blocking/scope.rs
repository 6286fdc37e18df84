//! The blocking parallel scope: [`Client::parallel`](crate::Client::parallel) and
//! [`crate::parallel`].
//!
//! Like [`std::thread::scope`], the closure receives a `&'scope Parallel<'scope>` whose
//! lifetime it cannot name outside, so no [`Pending`] can escape it (the borrow checker
//! enforces rule 4 of the design). The scope itself is the core
//! [`par_http_core::Scope`]; this module only blocks on it. A guard closes the scope on
//! every exit (return, `?`, panic), and closing waits until every task has stopped.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use http::Method;
use par_http_core::{Body, IntoUrl, Result, ScopeOptions, StartOptions};

use crate::blocking::{Client, Response};
use crate::local_tasks::LocalTasks;

/// Settings for one parallel scope.
///
/// # Examples
///
/// ```
/// let config = par_http::ParallelConfig::new().max_in_flight(8);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ParallelConfig {
    options: ScopeOptions,
}

impl ParallelConfig {
    /// No limit besides the client's per-host connection cap.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` requests of the scope run at once (backpressure, not an error).
    /// Starting another never blocks: it waits in line, holding no connection, until one
    /// is done. A request counts until its body has been read into memory or its
    /// response has been collected.
    pub fn max_in_flight(mut self, limit: usize) -> Self {
        self.options = self.options.max_in_flight(limit);
        self
    }

    /// A deadline for the whole scope, `after` it opens. When it passes, every request
    /// of the scope still running is cancelled (its connection closed) and its outcome is
    /// an error with [`is_timeout`](crate::Error::is_timeout) and phase
    /// [`TimeoutPhase::ScopeDeadline`](crate::TimeoutPhase::ScopeDeadline), delivered
    /// through its handle or `next_response` as usual; so is a body still being read.
    /// Requests started after the deadline fail that way at once.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use par_http::ParallelConfig;
    ///
    /// let client = par_http::Client::new();
    /// let config = ParallelConfig::new().deadline(Duration::from_secs(2));
    /// client.parallel_with(config, |p| {
    ///     for n in 0..10 {
    ///         p.get(format!("http://127.0.0.1:8080/{n}"));
    ///     }
    ///     while p.has_pending_responses() {
    ///         match p.next_response() {
    ///             Ok(response) => println!("{}", response.status()),
    ///             Err(err) if err.is_timeout() => println!("too late: {err}"),
    ///             Err(err) => return Err(err),
    ///         }
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn deadline(mut self, after: Duration) -> Self {
        self.options = self.options.deadline(after);
        self
    }

    /// Reads each response body into memory in the background, up to `bytes` (1 MiB by
    /// default), before the response is delivered: downloads run in parallel even when
    /// the caller takes the responses one at a time. A longer body is delivered with that
    /// much read and the rest streaming from its connection.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = par_http::ParallelConfig::new().max_body_in_memory(8 * 1024 * 1024);
    /// ```
    pub fn max_body_in_memory(mut self, bytes: usize) -> Self {
        self.options = self.options.max_body_in_memory(bytes);
        self
    }

    /// The memory that bodies read in the background and not yet collected may take in
    /// all (64 MiB by default). Past it, responses are delivered with their bodies
    /// streaming.
    pub fn body_budget(mut self, bytes: usize) -> Self {
        self.options = self.options.body_budget(bytes);
        self
    }

    /// No background body reading: each response is delivered as soon as its head
    /// arrives and its body streams as you read it (per request:
    /// [`ScopedRequest::stream`]).
    pub fn stream_bodies(mut self) -> Self {
        self.options = self.options.stream_bodies();
        self
    }

    /// Retries the scope's requests under `policy` instead of the client's (a request's
    /// own [`retry`](ScopedRequest::retry) still wins), within the scope's deadline and
    /// its `max_in_flight`.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::{ParallelConfig, RetryPolicy};
    ///
    /// let config = ParallelConfig::new().retry(RetryPolicy::new().max_attempts(4));
    /// # drop(config);
    /// ```
    pub fn retry(mut self, policy: crate::RetryPolicy) -> Self {
        self.options = self.options.retry(policy);
        self
    }

    /// Hedges the scope's idempotent requests under `policy` instead of the client's (a
    /// request's own [`hedge`](ScopedRequest::hedge) still wins). A
    /// [`HedgePolicy::p95`](crate::HedgePolicy::p95) set here observes this scope's
    /// latencies. A hedge runs in its request's task: within the scope's deadline, in its
    /// request's `max_in_flight` slot.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http::{HedgePolicy, ParallelConfig};
    ///
    /// let config = ParallelConfig::new()
    ///     .max_in_flight(16)
    ///     .hedge(HedgePolicy::p95().min_delay(Duration::from_millis(20)));
    /// # drop(config);
    /// ```
    pub fn hedge(mut self, policy: crate::HedgePolicy) -> Self {
        self.options = self.options.hedge(policy);
        self
    }

    /// Fail-fast: the first request that fails cancels every other request of the scope
    /// still running (their outcomes become errors with
    /// [`is_cancelled`](crate::Error::is_cancelled)), and the next collection, whichever
    /// request it asks for, returns that first error; a `?` then ends the scope. Responses
    /// that arrived before it stay collectable. With
    /// [`error_for_status`](Self::error_for_status), a 4xx or 5xx response is a failure
    /// too.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use par_http::ParallelConfig;
    ///
    /// let client = par_http::Client::new();
    /// let config = ParallelConfig::new().fail_fast().error_for_status();
    /// let pages = client.parallel_with(config, |p| {
    ///     let pending: Vec<_> = (1..=3)
    ///         .map(|n| p.get(format!("http://127.0.0.1:8080/page/{n}")))
    ///         .collect();
    ///     // The first failure, whichever page it was, ends the loop and the scope.
    ///     pending.into_iter().map(|page| page.get_response()?.text()).collect::<Result<Vec<_>, _>>()
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn fail_fast(mut self) -> Self {
        self.options = self.options.fail_fast();
        self
    }

    /// Delivers each response with a status of 400 or more as an error with
    /// [`status`](crate::Error::status), as `Response::error_for_status` would.
    pub fn error_for_status(mut self) -> Self {
        self.options = self.options.error_for_status();
        self
    }

    /// Calls `progress` with every step of every request of the scope: sent, response
    /// head, body bytes, done, failed. Called on the thread that made the progress, so it
    /// should be quick (count, or send to a channel). [`Parallel::stats`] reads the
    /// totals at any time.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::{ParallelConfig, ProgressEvent};
    ///
    /// let config = ParallelConfig::new().on_progress(|progress| {
    ///     if let ProgressEvent::Body { received, total: Some(total), .. } = progress.event {
    ///         eprintln!("#{}: {received}/{total} bytes", progress.index);
    ///     }
    /// });
    /// # drop(config);
    /// ```
    pub fn on_progress(
        mut self,
        progress: impl Fn(&crate::Progress<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.options = self.options.on_progress(progress);
        self
    }

    /// Calls `report` with each error that nobody collected before the scope ended
    /// (cancellations aside); [`ScopeStats::uncollected_errors`](crate::ScopeStats)
    /// counts them either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = par_http::ParallelConfig::new()
    ///     .on_uncollected_error(|err| eprintln!("nobody looked at: {err}"));
    /// # drop(config);
    /// ```
    pub fn on_uncollected_error(
        mut self,
        report: impl Fn(&crate::Error) + Send + Sync + 'static,
    ) -> Self {
        self.options = self.options.on_uncollected_error(report);
        self
    }

    pub(crate) fn into_options(self) -> ScopeOptions {
        self.options
    }
}

impl Client {
    /// Runs `f` with a parallel scope on this client: every request started in it uses
    /// this client's configuration and dispatch. When `f` returns (or fails, or panics),
    /// requests still pending are cancelled and their connections closed before this
    /// returns.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = par_http::Client::new();
    /// let statuses = client.parallel(|p| {
    ///     let one = p.get("http://127.0.0.1:8080/1");
    ///     let two = p.get("http://127.0.0.1:8080/2");
    ///     Ok((one.get_response()?.status(), two.get_response()?.status()))
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    ///
    /// A handle cannot leave its scope:
    ///
    /// ```compile_fail
    /// let client = par_http::Client::new();
    /// let mut escaped = None;
    /// client.parallel(|p| {
    ///     escaped = Some(p.get("http://127.0.0.1:8080/"));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    pub fn parallel<T, F>(&self, f: F) -> Result<T>
    where
        F: for<'scope> FnOnce(&'scope Parallel<'scope>) -> Result<T>,
    {
        self.parallel_with(ParallelConfig::new(), f)
    }

    /// Like [`parallel`](Self::parallel), with scope settings such as a limit on
    /// requests in flight.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns.
    pub fn parallel_with<T, F>(&self, config: ParallelConfig, f: F) -> Result<T>
    where
        F: for<'scope> FnOnce(&'scope Parallel<'scope>) -> Result<T>,
    {
        self.scope_with(config, f)
    }

    /// Runs `f` with a parallel scope, as [`parallel`](Self::parallel) does, and returns
    /// whatever `f` returns, as [`std::thread::scope`] does: the closure may use its own
    /// error type (`anyhow`, `Box<dyn Error>`, ...) with `?`. Name the closure's type
    /// (`Ok::<_, MyError>(..)`) where the compiler cannot infer it.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::mock::{MockDispatch, MockResponse};
    ///
    /// let mock = MockDispatch::new().route_fn(|_| Some(MockResponse::text("42")));
    /// let client = par_http::Client::builder().dispatch(mock).build()?;
    /// let sum = client.scope(|p| {
    ///     let a = p.get("http://api.test/a");
    ///     let b = p.get("http://api.test/b");
    ///     let a: u32 = a.get_response()?.text()?.parse()?;
    ///     let b: u32 = b.get_response()?.text()?.parse()?;
    ///     Ok::<_, Box<dyn std::error::Error>>(a + b)
    /// });
    /// assert_eq!(sum.unwrap(), 84);
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn scope<R, F>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Parallel<'scope>) -> R,
    {
        self.scope_with(ParallelConfig::new(), f)
    }

    /// Like [`scope`](Self::scope), with scope settings.
    pub fn scope_with<R, F>(&self, config: ParallelConfig, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Parallel<'scope>) -> R,
    {
        let (scope, local) = LocalTasks::open(
            &self.inner.core,
            self.inner.agent.executor(),
            config.into_options(),
        );
        let parallel = Parallel {
            scope,
            client: self.clone(),
            local,
            _scope: PhantomData,
        };
        let _close = CloseOnExit(&parallel);
        f(&parallel)
    }
}

/// Closes the scope however the closure exits, and waits for the teardown.
struct CloseOnExit<'a, 'scope>(&'a Parallel<'scope>);

impl Drop for CloseOnExit<'_, '_> {
    fn drop(&mut self) {
        self.0
            .local
            .wait(&self.0.client.inner.agent, self.0.scope.close());
    }
}

/// A parallel scope: start requests, then collect their responses.
///
/// Starting a request never fails and returns a [`Pending`] at once; errors arrive when
/// the outcome is collected, through [`Pending::get_response`] or
/// [`next_response`](Self::next_response), whichever comes first. Each outcome is
/// delivered exactly once.
pub struct Parallel<'scope> {
    scope: par_http_core::Scope,
    client: Client,
    /// Runs the scope's tasks while the scope is waited on (smol), see [`LocalTasks`].
    local: LocalTasks,
    // Invariant in 'scope, like std::thread::Scope.
    _scope: PhantomData<&'scope mut &'scope ()>,
}

impl<'scope> Parallel<'scope> {
    fn start(
        &self,
        builder: par_http_core::RequestBuilder,
        options: StartOptions,
    ) -> Pending<'scope> {
        let scope = &self.scope;
        Pending {
            inner: self
                .local
                .wait_spawning(&self.client.inner.agent, async move {
                    scope.start_with(builder, options)
                }),
            client: self.client.clone(),
            local: self.local.clone(),
            _scope: PhantomData,
        }
    }

    /// Starts a request built with a [`ScopedRequest`] (headers, body, timeout).
    pub fn request(&self, method: Method, url: impl IntoUrl) -> ScopedRequest<'_, 'scope> {
        ScopedRequest {
            parallel: self,
            builder: self.client.inner.core.request(method, url),
            options: StartOptions::new(),
        }
    }

    /// Starts a `GET`.
    pub fn get(&self, url: impl IntoUrl) -> Pending<'scope> {
        self.request(Method::GET, url).send()
    }

    /// Starts a `HEAD`.
    pub fn head(&self, url: impl IntoUrl) -> Pending<'scope> {
        self.request(Method::HEAD, url).send()
    }

    /// Starts a `DELETE`.
    pub fn delete(&self, url: impl IntoUrl) -> Pending<'scope> {
        self.request(Method::DELETE, url).send()
    }

    /// Starts a `POST` with `body`.
    pub fn post(&self, url: impl IntoUrl, body: impl Into<Body>) -> Pending<'scope> {
        self.request(Method::POST, url).body(body).send()
    }

    /// Starts a `PUT` with `body`.
    pub fn put(&self, url: impl IntoUrl, body: impl Into<Body>) -> Pending<'scope> {
        self.request(Method::PUT, url).body(body).send()
    }

    /// Starts a `PATCH` with `body`.
    pub fn patch(&self, url: impl IntoUrl, body: impl Into<Body>) -> Pending<'scope> {
        self.request(Method::PATCH, url).body(body).send()
    }

    /// Waits for whichever pending request finishes first and delivers its outcome.
    ///
    /// # Errors
    ///
    /// The request's own error, or at once an error with
    /// [`is_no_pending`](crate::Error::is_no_pending) when nothing is left to collect.
    pub fn next_response(&self) -> Result<Response> {
        self.local
            .wait(&self.client.inner.agent, self.scope.next_response())
            .map(|r| Response::new(r, self.client.inner.clone()))
    }

    /// The next response in completion order if one has finished, without waiting;
    /// `None` if none has yet (see [`has_pending_responses`](Self::has_pending_responses)).
    pub fn try_next_response(&self) -> Option<Result<Response>> {
        self.scope
            .try_next_response()
            .map(|outcome| outcome.map(|r| Response::new(r, self.client.inner.clone())))
    }

    /// Waits at most `timeout` for the next response in completion order; `None` if
    /// none finished in that time (the requests go on). With nothing pending at all, it
    /// returns at once with [`is_no_pending`](crate::Error::is_no_pending).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// par_http::parallel(|p| {
    ///     p.get("http://127.0.0.1:8080/slow");
    ///     while p.has_pending_responses() {
    ///         match p.next_response_timeout(Duration::from_millis(100)) {
    ///             Some(response) => println!("{}", response?.status()),
    ///             None => println!("still waiting"),
    ///         }
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn next_response_timeout(&self, timeout: Duration) -> Option<Result<Response>> {
        self.local
            .wait(
                &self.client.inner.agent,
                self.scope.next_response_timeout(timeout),
            )
            .map(|outcome| outcome.map(|r| Response::new(r, self.client.inner.clone())))
    }

    /// True while a request is running or has an outcome not yet collected.
    pub fn has_pending_responses(&self) -> bool {
        self.scope.has_pending_responses()
    }

    /// A race between the pending requests of the scope: the first response wins, and
    /// every other request of the scope is cancelled (connections closed, HTTP/2 streams
    /// reset) before it returns. If all of them fail, the error has kind
    /// [`AllFailed`](crate::ErrorKind::AllFailed) and
    /// [`all_failed`](crate::Error::all_failed) gives each one's error.
    ///
    /// # Errors
    ///
    /// As above, or [`is_no_pending`](crate::Error::is_no_pending) when nothing was
    /// started.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let mirrors = ["http://127.0.0.1:8081/file", "http://127.0.0.1:8082/file"];
    /// let fastest = par_http::parallel(|p| {
    ///     for mirror in mirrors {
    ///         p.get(mirror);
    ///     }
    ///     p.race()?.bytes()
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    #[doc(alias = "select_ok")]
    pub fn race(&self) -> Result<Response> {
        self.local
            .wait(&self.client.inner.agent, self.scope.race())
            .map(|r| Response::new(r, self.client.inner.clone()))
    }

    /// The scope's counters now: queued, in flight, done, failed, cancelled, bytes
    /// received, retries and uncollected errors.
    ///
    /// # Examples
    ///
    /// ```
    /// par_http::parallel(|p| {
    ///     assert_eq!(p.stats().started, 0);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn stats(&self) -> crate::ScopeStats {
        self.scope.stats()
    }
}

impl fmt::Debug for Parallel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A request being built inside a scope; [`send`](Self::send) starts it.
pub struct ScopedRequest<'a, 'scope> {
    parallel: &'a Parallel<'scope>,
    builder: par_http_core::RequestBuilder,
    options: StartOptions,
}

impl<'scope> ScopedRequest<'_, 'scope> {
    crate::request_options::builder_options!();
    crate::request_options::policy_options!();
    crate::request_options::scope_options!();

    /// Starts the request in the scope and returns its handle.
    pub fn send(self) -> Pending<'scope> {
        self.parallel.start(self.builder, self.options)
    }
}

impl fmt::Debug for ScopedRequest<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedRequest")
            .field("request", &self.builder)
            .finish_non_exhaustive()
    }
}

/// A request started in a scope. It cannot outlive the scope.
///
/// Dropping it does not cancel the request: the outcome stays for
/// [`Parallel::next_response`]. Only the end of the scope cancels.
pub struct Pending<'scope> {
    inner: par_http_core::Pending,
    client: Client,
    local: LocalTasks,
    _scope: PhantomData<&'scope ()>,
}

impl Pending<'_> {
    /// Waits for this request's response.
    ///
    /// # Errors
    ///
    /// The request's own error (it names the request), or
    /// [`is_already_collected`](crate::Error::is_already_collected) if
    /// [`Parallel::next_response`] already delivered this outcome.
    pub fn get_response(self) -> Result<Response> {
        let Self {
            inner,
            client,
            local,
            ..
        } = self;
        local
            .wait(&client.inner.agent, inner.get_response())
            .map(|r| Response::new(r, client.inner.clone()))
    }

    /// True once the outcome has arrived (or was already delivered elsewhere).
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The position of this request in its scope, from 0 in start order; its response
    /// or error says the same ([`Response::index`]).
    pub fn index(&self) -> usize {
        self.inner.index()
    }

    /// Attaches `tag` to this request: its response or error gives it back
    /// ([`Response::tag`], [`Error::tag`](crate::Error::tag)), whether it is collected
    /// here or through [`Parallel::next_response`].
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::mock::{MockDispatch, MockResponse};
    ///
    /// let mock = MockDispatch::new().route_fn(|_| Some(MockResponse::text("ok")));
    /// let client = par_http::Client::builder().dispatch(mock).build()?;
    /// client.parallel(|p| {
    ///     for row in [7u64, 8, 9] {
    ///         p.get(format!("http://api.test/rows/{row}")).tag(row);
    ///     }
    ///     while p.has_pending_responses() {
    ///         let response = p.next_response()?;
    ///         let row: u64 = *response.tag().expect("every request has a row");
    ///         assert!(response.url().path().ends_with(&row.to_string()));
    ///     }
    ///     Ok(())
    /// })?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn tag<T: std::any::Any + Send + Sync>(self, tag: T) -> Self {
        self.inner.set_tag(std::sync::Arc::new(tag));
        self
    }

    /// Cancels this request: its connection is closed before this returns and its
    /// outcome is never delivered (nothing comes for it from `next_response`). Returns
    /// false if it had finished already (its response, if not collected, is dropped).
    pub fn cancel(self) -> bool {
        self.inner.cancel()
    }
}

impl fmt::Debug for Pending<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
