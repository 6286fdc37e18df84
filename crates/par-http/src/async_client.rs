//! The async API: [`AsyncClient`] and its parallel scope [`AsyncParallel`].
//!
//! The scope is the same state machine as the blocking one (`par_http_core::Scope`);
//! here it is awaited instead of blocked on. `parallel.get(url).await` returns an
//! [`AsyncPending`] at once (a request over the scope's limit waits in line); responses come
//! through the handle, through [`AsyncParallel::next_response`], or from the scope as a
//! [`Stream`] in completion order. Dropping the scope cancels every pending request and
//! closes its sockets before the drop returns; [`AsyncParallel::close`] also waits until
//! the executor has let go of their tasks. [`AsyncClientOn::scope`] is the block form.

use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{FutureExt, Stream};
use http::Method;
use par_http_core::{Body, Boxed, IntoUrl, Response, Result, Scope, StartOptions};

use crate::blocking::ParallelConfig;
use crate::builder::ClientBuilder;
use crate::local_tasks::LocalTasks;
use crate::runtimes::{AsyncRuntime, DefaultRuntime, Executor};

/// The async client on the default runtime (smol when its feature is on, else tokio).
pub type AsyncClient = AsyncClientOn<DefaultRuntime>;

/// An async HTTP client on runtime `R` ([`Smol`](crate::Smol) or [`Tokio`](crate::Tokio)).
///
/// Usually named through an alias: [`par_http::AsyncClient`](crate::AsyncClient) (the
/// default runtime), `par_http::smol::AsyncClient` or `par_http::tokio::AsyncClient`.
/// Cheap to clone: clones share one connection pool.
///
/// # Examples
///
/// ```
/// # use par_http::mock::{MockDispatch, MockResponse};
/// # let mock = MockDispatch::new().route_fn(|r| Some(MockResponse::text(r.url.path().to_owned())));
/// # futures_lite::future::block_on(async {
/// // Without the (hidden) mock dispatch, this goes to the network.
/// let client = par_http::AsyncClient::builder().dispatch(mock).build()?;
/// let parallel = client.parallel();
/// let one = parallel.get("http://127.0.0.1:8080/1").await;
/// let two = parallel.get("http://127.0.0.1:8080/2").await;
/// let (r1, r2) = (one.get_response().await?, two.get_response().await?);
/// assert_eq!(r1.text().await?, "/1");
/// assert_eq!(r2.text().await?, "/2");
/// # Ok::<(), par_http::Error>(())
/// # }).unwrap();
/// ```
pub struct AsyncClientOn<R: AsyncRuntime> {
    core: par_http_core::Client,
    /// Which of par-http's executors the client runs on, if one of them.
    executor: Option<Executor>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: AsyncRuntime> AsyncClientOn<R> {
    /// A client with the default settings, on runtime `R`.
    ///
    /// # Panics
    ///
    /// If the runtime cannot be started (a background thread that cannot be created);
    /// [`AsyncClient::builder`] returns that error instead.
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(client) => client,
            Err(err) => panic!("par-http: cannot start the client runtime: {err}"),
        }
    }

    /// A builder to configure a client.
    pub fn builder() -> ClientBuilder<Self> {
        ClientBuilder::new()
    }

    pub(crate) fn from_core(core: par_http_core::Client, executor: Option<Executor>) -> Self {
        Self {
            core,
            executor,
            _runtime: PhantomData,
        }
    }

    /// Starts a one-off request; send it with [`AsyncRequestBuilder::send`].
    pub fn request(&self, method: Method, url: impl IntoUrl) -> AsyncRequestBuilder {
        AsyncRequestBuilder {
            client: self.core.clone(),
            builder: self.core.request(method, url),
        }
    }

    /// Starts a one-off `GET`.
    pub fn get(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a one-off `POST`; set its body with [`AsyncRequestBuilder::body`].
    pub fn post(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a one-off `PUT`; set its body with [`AsyncRequestBuilder::body`].
    pub fn put(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::PUT, url)
    }

    /// Starts a one-off `PATCH`; set its body with [`AsyncRequestBuilder::body`].
    pub fn patch(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// Starts a one-off `DELETE`.
    pub fn delete(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// Starts a one-off `HEAD`.
    pub fn head(&self, url: impl IntoUrl) -> AsyncRequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Runs `f` with a parallel scope and returns what it returns: the block form of
    /// Python's `async with client.parallel() as parallel:`. However `f` ends (a return,
    /// `?`, a panic), the scope's pending requests are cancelled and this awaits their
    /// teardown (their sockets closed) before it completes; if the future is dropped
    /// instead, the drop cancels them and closes their sockets before it returns.
    ///
    /// # Examples
    ///
    /// ```
    /// # use par_http::mock::{MockDispatch, MockResponse};
    /// # let mock = MockDispatch::new().route_fn(|r| Some(MockResponse::text(r.url.path().to_owned())));
    /// # futures_lite::future::block_on(async {
    /// let client = par_http::AsyncClient::builder().dispatch(mock).build()?;
    /// let (one, two) = client
    ///     .scope(async |p| {
    ///         let one = p.get("http://127.0.0.1:8080/1").await;
    ///         let two = p.get("http://127.0.0.1:8080/2").await;
    ///         let (r1, r2) = (one.get_response().await?, two.get_response().await?);
    ///         Ok::<_, par_http::Error>((r1.text().await?, r2.text().await?))
    ///     })
    ///     .await?;
    /// assert_eq!((one.as_str(), two.as_str()), ("/1", "/2"));
    /// # Ok::<(), par_http::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn scope<T, F>(&self, f: F) -> T
    where
        F: for<'p> AsyncFnOnce(&'p AsyncParallel) -> T,
    {
        self.scope_with(ParallelConfig::new(), f).await
    }

    /// Like [`scope`](Self::scope), with scope settings such as a limit on requests in
    /// flight.
    pub async fn scope_with<T, F>(&self, config: ParallelConfig, f: F) -> T
    where
        F: for<'p> AsyncFnOnce(&'p AsyncParallel) -> T,
    {
        let parallel = self.parallel_with(config);
        let outcome = AssertUnwindSafe(f(&parallel)).catch_unwind().await;
        parallel.close().await;
        match outcome {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Opens a parallel scope on this client.
    pub fn parallel(&self) -> AsyncParallel {
        self.parallel_with(ParallelConfig::new())
    }

    /// Opens a parallel scope with settings such as a limit on requests in flight.
    pub fn parallel_with(&self, config: ParallelConfig) -> AsyncParallel {
        let (scope, local) = LocalTasks::open(&self.core, self.executor, config.into_options());
        AsyncParallel {
            scope: Arc::new(scope),
            client: self.core.clone(),
            local,
            next: Mutex::new(None),
        }
    }
}

impl<R: AsyncRuntime> Default for AsyncClientOn<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: AsyncRuntime> Clone for AsyncClientOn<R> {
    fn clone(&self) -> Self {
        Self::from_core(self.core.clone(), self.executor)
    }
}

impl<R: AsyncRuntime> fmt::Debug for AsyncClientOn<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClientOn")
            .field("core", &self.core)
            .finish()
    }
}

/// A one-off async request being built.
pub struct AsyncRequestBuilder {
    client: par_http_core::Client,
    builder: par_http_core::RequestBuilder,
}

impl AsyncRequestBuilder {
    crate::request_options::builder_options!();
    crate::request_options::policy_options!();

    /// Sends the request and waits for its response head.
    ///
    /// # Errors
    ///
    /// Any [`Error`](crate::Error) the request meets; it names this request.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the request and closes its connection.
    pub async fn send(self) -> Result<Response> {
        self.client.send(self.builder).await
    }
}

impl fmt::Debug for AsyncRequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRequestBuilder")
            .field("request", &self.builder)
            .finish_non_exhaustive()
    }
}

/// An async parallel scope. Dropping it cancels every request still pending.
///
/// It is also a [`Stream`] of outcomes in completion order, which ends when nothing is
/// pending.
pub struct AsyncParallel {
    scope: Arc<Scope>,
    client: par_http_core::Client,
    /// Runs the scope's tasks while the scope is awaited (smol), see [`LocalTasks`].
    local: LocalTasks,
    // In a Mutex only so that the scope is `Sync` (futures that hold `&AsyncParallel`
    // across an await must be `Send`); it is only ever reached through `&mut self`
    // (`get_mut`), so it is never locked.
    next: Mutex<Option<Boxed<Result<Response>>>>,
}

impl AsyncParallel {
    /// Starts a request built with an [`AsyncScopedRequest`].
    pub fn request(&self, method: Method, url: impl IntoUrl) -> AsyncScopedRequest<'_> {
        AsyncScopedRequest {
            parallel: self,
            builder: self.client.request(method, url),
            options: StartOptions::new(),
        }
    }

    /// Starts a `GET`.
    ///
    /// Starting never waits for a slot under the scope's limit: a request over it waits
    /// in line in the background. The `await` only lets the scope's executor run.
    pub async fn get(&self, url: impl IntoUrl) -> AsyncPending<'_> {
        self.request(Method::GET, url).send().await
    }

    /// Starts a `HEAD`.
    ///
    pub async fn head(&self, url: impl IntoUrl) -> AsyncPending<'_> {
        self.request(Method::HEAD, url).send().await
    }

    /// Starts a `DELETE`.
    ///
    pub async fn delete(&self, url: impl IntoUrl) -> AsyncPending<'_> {
        self.request(Method::DELETE, url).send().await
    }

    /// Starts a `POST` with `body`.
    ///
    pub async fn post(&self, url: impl IntoUrl, body: impl Into<Body>) -> AsyncPending<'_> {
        self.request(Method::POST, url).body(body).send().await
    }

    /// Starts a `PUT` with `body`.
    ///
    pub async fn put(&self, url: impl IntoUrl, body: impl Into<Body>) -> AsyncPending<'_> {
        self.request(Method::PUT, url).body(body).send().await
    }

    /// Starts a `PATCH` with `body`.
    ///
    pub async fn patch(&self, url: impl IntoUrl, body: impl Into<Body>) -> AsyncPending<'_> {
        self.request(Method::PATCH, url).body(body).send().await
    }

    /// Waits for whichever pending request finishes first.
    ///
    /// # Errors
    ///
    /// The request's own error, or at once
    /// [`is_no_pending`](crate::Error::is_no_pending) when nothing is left.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an outcome is only taken when the future completes.
    pub async fn next_response(&self) -> Result<Response> {
        self.local.run(self.scope.next_response()).await
    }

    /// The next response in completion order if one has finished, without waiting;
    /// `None` if none has yet (see [`has_pending_responses`](Self::has_pending_responses)).
    pub fn try_next_response(&self) -> Option<Result<Response>> {
        self.scope.try_next_response()
    }

    /// Waits at most `timeout` for the next response in completion order; `None` if none
    /// finished in that time (the requests go on). With nothing pending, it returns at
    /// once with [`is_no_pending`](crate::Error::is_no_pending).
    pub async fn next_response_timeout(&self, timeout: Duration) -> Option<Result<Response>> {
        self.local
            .run(self.scope.next_response_timeout(timeout))
            .await
    }

    /// True while a request is running or has an outcome not yet collected.
    pub fn has_pending_responses(&self) -> bool {
        self.scope.has_pending_responses()
    }

    /// A race between the pending requests of the scope: the first response wins, and
    /// every other request of the scope is cancelled before it returns. If all of them
    /// fail, the error has kind [`AllFailed`](crate::ErrorKind::AllFailed) and
    /// [`all_failed`](crate::Error::all_failed) gives each one's error. See
    /// [`Parallel::race`](crate::Parallel::race).
    ///
    /// # Errors
    ///
    /// As above, or [`is_no_pending`](crate::Error::is_no_pending) when nothing was
    /// started.
    #[doc(alias = "select_ok")]
    pub async fn race(&self) -> Result<Response> {
        self.local.run(self.scope.race()).await
    }

    /// The scope's counters now (see [`Parallel::stats`](crate::Parallel::stats)).
    pub fn stats(&self) -> crate::ScopeStats {
        self.scope.stats()
    }

    /// Ends the scope: cancels what is pending and waits until every task has stopped
    /// and its connection is closed.
    ///
    /// # Cancel safety
    ///
    /// Cancellation happens at the first poll; dropping the future later only skips
    /// the wait.
    pub async fn close(self) {
        self.local.run(self.scope.close()).await;
    }
}

impl Drop for AsyncParallel {
    /// Cancels every request still pending: their futures are dropped, and their sockets
    /// closed, before this returns, on every runtime (the executor only lets go of the
    /// emptied tasks later).
    fn drop(&mut self) {
        self.scope.cancel();
    }
}

impl Stream for AsyncParallel {
    type Item = Result<Response>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let slot = this.next.get_mut().unwrap_or_else(PoisonError::into_inner);
        let next = slot.get_or_insert_with(|| {
            let scope = this.scope.clone();
            let local = this.local.clone();
            Box::pin(async move { local.run(scope.next_response()).await })
        });
        let outcome = futures_lite::ready!(next.as_mut().poll(cx));
        *slot = None;
        match outcome {
            Err(err) if err.is_no_pending() => Poll::Ready(None),
            outcome => Poll::Ready(Some(outcome)),
        }
    }
}

impl fmt::Debug for AsyncParallel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncParallel")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A request being built inside an async scope.
pub struct AsyncScopedRequest<'scope> {
    parallel: &'scope AsyncParallel,
    builder: par_http_core::RequestBuilder,
    options: StartOptions,
}

impl<'scope> AsyncScopedRequest<'scope> {
    crate::request_options::builder_options!();
    crate::request_options::policy_options!();
    crate::request_options::scope_options!();

    /// Starts the request and returns its handle. It never waits for a slot under the
    /// scope's limit (the request waits in line in the background); the `await` only
    /// lets the scope's executor run.
    pub async fn send(self) -> AsyncPending<'scope> {
        let Self {
            parallel,
            builder,
            options,
        } = self;
        let scope = &parallel.scope;
        AsyncPending {
            inner: parallel
                .local
                .run(async move { scope.start_with(builder, options) })
                .await,
            local: &parallel.local,
        }
    }
}

impl fmt::Debug for AsyncScopedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncScopedRequest")
            .field("request", &self.builder)
            .finish_non_exhaustive()
    }
}

/// A request started in an async scope; it borrows the scope, so it cannot outlive it.
///
/// Dropping it does not cancel the request: the outcome stays for `next_response`.
pub struct AsyncPending<'scope> {
    inner: par_http_core::Pending,
    /// Borrowed from the scope: a handle cannot outlive it.
    local: &'scope LocalTasks,
}

impl AsyncPending<'_> {
    /// Waits for this request's response.
    ///
    /// # Errors
    ///
    /// The request's own error, or
    /// [`is_already_collected`](crate::Error::is_already_collected) if `next_response`
    /// delivered it already.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: if dropped early, the outcome stays for `next_response`.
    pub async fn get_response(self) -> Result<Response> {
        self.local.run(self.inner.get_response()).await
    }

    /// True once the outcome has arrived (or was delivered elsewhere).
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// The position of this request in its scope, from 0 in start order; its response
    /// or error says the same.
    pub fn index(&self) -> usize {
        self.inner.index()
    }

    /// Attaches `tag` to this request: its response or error gives it back
    /// (`Response::tag`, [`Error::tag`](crate::Error::tag)), wherever it is collected.
    pub fn tag<T: std::any::Any + Send + Sync>(self, tag: T) -> Self {
        self.inner.set_tag(Arc::new(tag));
        self
    }

    /// Cancels this request: its connection is closed before this returns and its
    /// outcome is never delivered. Returns false if it had finished already.
    pub fn cancel(self) -> bool {
        self.inner.cancel()
    }
}

impl fmt::Debug for AsyncPending<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
