//! The blocking API: [`Client`], one-off requests, and blocking [`Response`]s.
//!
//! Every call here blocks the calling thread on a future through the client's agent
//! ([`crate::agent`]), which does the work on the calling thread where it can (driving
//! the runtime meanwhile) and leaves the rest to the background runtime thread, so it
//! needs no runtime in the caller and is safe to call from inside one. The parallel
//! scope lives in [`scope`].

pub(crate) mod scope;

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::io::AsyncReadExt;
use http::header::HeaderMap;
use http::{Method, StatusCode, Version};
use par_http_core::{Error, ErrorKind, IntoUrl, Result, Url};

use crate::agent::Agent;
use crate::builder::ClientBuilder;
pub use scope::{Parallel, ParallelConfig, Pending, ScopedRequest};

/// A blocking HTTP client with a connection pool and a background runtime.
///
/// Cheap to clone: clones share the pool and the runtime. The runtime stops when the
/// last clone (and the last response still streaming from it) is dropped.
///
/// # Examples
///
/// ```no_run
/// let client = par_http::Client::new();
/// let body = client.get("http://127.0.0.1:8080/").send()?.text()?;
/// # Ok::<(), par_http::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    // Dropped first: the pool and dispatch go before the runtime that serves them.
    pub(crate) core: par_http_core::Client,
    // Stops and joins the runtime thread when dropped.
    pub(crate) agent: Agent,
}

impl Client {
    /// A client with the default settings.
    ///
    /// # Panics
    ///
    /// If the background thread cannot be started; [`Client::builder`] returns that
    /// error instead.
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

    pub(crate) fn from_parts(core: par_http_core::Client, agent: Agent) -> Self {
        Self {
            inner: Arc::new(ClientInner { core, agent }),
        }
    }

    /// Starts a one-off request; send it with [`RequestBuilder::send`].
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            builder: self.inner.core.request(method, url),
        }
    }

    /// Starts a one-off `GET`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a one-off `HEAD`.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Starts a one-off `POST`.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// Starts a one-off `PUT`.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// Starts a one-off `PATCH`.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// Starts a one-off `DELETE`.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("core", &self.inner.core)
            .finish_non_exhaustive()
    }
}

/// A one-off request being built; [`send`](Self::send) sends it and waits.
pub struct RequestBuilder {
    client: Client,
    builder: par_http_core::RequestBuilder,
}

impl RequestBuilder {
    crate::request_options::builder_options!();
    crate::request_options::policy_options!();

    /// Sends the request and waits for the response head.
    ///
    /// # Errors
    ///
    /// Any [`Error`] the request meets; it names this request.
    pub fn send(self) -> Result<Response> {
        let Self { client, builder } = self;
        // The request runs right here, on the calling thread (which drives the runtime
        // meanwhile, or waits while the runtime thread does): no hand-off to the runtime
        // thread and back.
        let response = client.inner.agent.wait(client.inner.core.send(builder))?;
        Ok(Response::new(response, client.inner))
    }
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("request", &self.builder)
            .finish_non_exhaustive()
    }
}

/// A response whose head has arrived; the body is read on demand.
///
/// It implements [`Read`]. Reading the body to its end returns the connection to the
/// pool; dropping a response with an unread body closes its connection.
pub struct Response {
    inner: par_http_core::Response,
    // Keeps the runtime (and pool) alive while the body may still stream.
    client: Arc<ClientInner>,
}

impl Response {
    pub(crate) fn new(inner: par_http_core::Response, client: Arc<ClientInner>) -> Self {
        Self { inner, client }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The header fields.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The URL of the response: the request's, or the last one redirected to.
    pub fn url(&self) -> &Url {
        self.inner.url()
    }

    /// The method of the request.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The body length from `Content-Length`, if given.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.content_length()
    }

    /// Turns a 4xx or 5xx response into an error ([`Error::is_status`]).
    ///
    /// # Errors
    ///
    /// The status error, naming the request.
    pub fn error_for_status(self) -> Result<Self> {
        let Self { inner, client } = self;
        inner.error_for_status().map(|inner| Self { inner, client })
    }

    /// Reads the whole body.
    ///
    /// # Errors
    ///
    /// A body or protocol error if the body fails or is truncated.
    pub fn bytes(self) -> Result<Bytes> {
        self.client.agent.wait(self.inner.bytes())
    }

    /// Reads the whole body as text (invalid UTF-8 is replaced).
    ///
    /// # Errors
    ///
    /// As for [`bytes`](Self::bytes).
    pub fn text(self) -> Result<String> {
        self.client.agent.wait(self.inner.text())
    }

    /// Reads the whole body and decodes it as JSON into `T` (feature `json`).
    ///
    /// # Errors
    ///
    /// As for [`bytes`](Self::bytes), or [`Error::is_decode`] when the body is not valid
    /// JSON for `T`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        self.client.agent.wait(self.inner.json())
    }

    /// The URLs that answered with a redirect before this response, oldest first; its
    /// length is the number of redirects followed.
    pub fn redirect_history(&self) -> &[Url] {
        self.inner.redirect_history()
    }

    /// The position of the request in its scope, from 0 in start order (the number
    /// [`Pending::index`](crate::Pending::index) gave); `None` outside a scope.
    pub fn index(&self) -> Option<usize> {
        self.inner.index()
    }

    /// How many attempts the request took, the first included (more than 1 when its
    /// [`RetryPolicy`](crate::RetryPolicy) tried it again).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts()
    }

    /// How many extra copies of the request its [`HedgePolicy`](crate::HedgePolicy) sent,
    /// over all its attempts (0 when the first copy answered in time); not counted in
    /// [`attempts`](Self::attempts).
    pub fn hedges(&self) -> u32 {
        self.inner.hedges()
    }

    /// The tag attached to the request when it was started in a scope
    /// ([`ScopedRequest::tag`](crate::ScopedRequest::tag), [`Pending::tag`](crate::Pending::tag)),
    /// if it is of type `T`.
    pub fn tag<T: std::any::Any>(&self) -> Option<&T> {
        self.inner.tag()
    }

    /// The async response inside (its body must then be read from async code).
    pub fn into_async(self) -> par_http_core::Response {
        self.inner
    }
}

impl Read for Response {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.client.agent.wait(self.inner.body_mut().read(buf));
        result.map_err(|err| {
            if !err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
                return err;
            }
            let (method, url) = (self.inner.method(), self.inner.url().as_str());
            match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(err)) => io::Error::from(err.with_request(method, url)),
                _ => io::Error::from(Error::new(ErrorKind::Body).with_request(method, url)),
            }
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}
