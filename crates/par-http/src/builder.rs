//! [`ClientBuilder`]: every setting a client applies to its requests and scopes.
//!
//! One builder serves both clients: `Client::builder()` gives a `ClientBuilder<Client>`
//! and `AsyncClient::builder()` a `ClientBuilder<AsyncClientOn<R>>`; the settings are the
//! same and only [`build`](ClientBuilder::build) differs.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use par_http_core::{Config, Dispatch, Error, ErrorKind, Result, Runtime};

use crate::agent::Agent;
use crate::async_client::AsyncClientOn;
use crate::blocking::Client;
use crate::runtimes::{AsyncRuntime, Executor};

mod sealed {
    pub trait Sealed {}
}

/// A client that a [`ClientBuilder`] can build: [`Client`] or [`AsyncClientOn`].
pub trait BuildClient: sealed::Sealed + Sized {
    /// Builds the client from the collected settings.
    #[doc(hidden)]
    fn build_client(parts: BuildParts) -> Result<Self>;
}

/// The settings a [`ClientBuilder`] collected (opaque).
#[doc(hidden)]
#[derive(Debug)]
pub struct BuildParts {
    config: Config,
    dispatch: Option<Arc<dyn Dispatch>>,
    executor: Executor,
}

impl BuildParts {
    fn core(self, runtime: Arc<dyn Runtime>) -> par_http_core::Client {
        match self.dispatch {
            Some(dispatch) => par_http_core::Client::with_dispatch(runtime, dispatch, self.config),
            None => par_http_core::Client::new(runtime, self.config),
        }
    }
}

impl sealed::Sealed for Client {}

impl BuildClient for Client {
    fn build_client(parts: BuildParts) -> Result<Self> {
        let agent = Agent::start(parts.executor)?;
        let core = parts.core(agent.runtime().clone());
        Ok(Self::from_parts(core, agent))
    }
}

impl<R: AsyncRuntime> sealed::Sealed for AsyncClientOn<R> {}

impl<R: AsyncRuntime> BuildClient for AsyncClientOn<R> {
    fn build_client(parts: BuildParts) -> Result<Self> {
        let runtime = R::runtime()?;
        Ok(Self::from_core(parts.core(runtime)))
    }
}

/// Configures and builds a [`Client`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let client = par_http::Client::builder()
///     .max_connections_per_host(16)
///     .connect_timeout(Duration::from_secs(5))
///     .default_header("x-team", "search")
///     .build()?;
/// # Ok::<(), par_http::Error>(())
/// ```
pub struct ClientBuilder<C = Client> {
    config: Config,
    dispatch: Option<Arc<dyn Dispatch>>,
    executor: Executor,
    error: Option<Error>,
    _client: PhantomData<fn() -> C>,
}

impl ClientBuilder<Client> {
    /// Selects the executor of the blocking client's background thread (the default is
    /// smol when its feature is on).
    pub fn executor(mut self, executor: Executor) -> Self {
        self.executor = executor;
        self
    }
}

impl<C: BuildClient> ClientBuilder<C> {
    pub(crate) fn new() -> Self {
        Self {
            config: Config::default(),
            dispatch: None,
            executor: Executor::default(),
            error: None,
            _client: PhantomData,
        }
    }

    /// Open connections per origin, at most (default 100). Further requests wait for a
    /// connection without holding a socket.
    pub fn max_connections_per_host(mut self, max: usize) -> Self {
        self.config.max_connections_per_host = max.max(1);
        self
    }

    /// Idle keep-alive connections kept per origin (default 100; 0 disables reuse).
    pub fn max_idle_per_host(mut self, max: usize) -> Self {
        self.config.max_idle_per_host = max;
        self
    }

    /// How long an idle connection is kept before it is closed (default 90 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Time allowed to resolve and connect (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// Time allowed for each request, from start to its response head (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Largest response head accepted (default 64 KiB); larger is a limit error.
    pub fn max_response_head_bytes(mut self, max: usize) -> Self {
        self.config.limits.max_head_bytes = max;
        self
    }

    /// Most header fields accepted in a response (default 100); more is a limit error.
    pub fn max_response_headers(mut self, max: usize) -> Self {
        self.config.limits.max_headers = max;
        self
    }

    /// Adds a header sent with every request that does not set it itself.
    pub fn default_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        let name = name.try_into().map_err(Into::into);
        let value = value.try_into().map_err(Into::into);
        match (name, value) {
            (Ok(name), Ok(value)) => {
                self.config.default_headers.append(name, value);
            }
            (Err(err), _) | (_, Err(err)) => {
                if self.error.is_none() {
                    self.error = Some(Error::new(ErrorKind::InvalidRequest).with_source(err));
                }
            }
        }
        self
    }

    /// Adds every field of `headers` to the default headers.
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                self.config.default_headers.append(name.clone(), value);
            }
        }
        self
    }

    /// The `User-Agent` header (default `par-http/<version>`).
    pub fn user_agent<V>(self, value: V) -> Self
    where
        V: TryInto<HeaderValue>,
        V::Error: Into<http::Error>,
    {
        let mut this = self;
        this.config.default_headers.remove(http::header::USER_AGENT);
        this.default_header(http::header::USER_AGENT, value)
    }

    /// Sends every request through `dispatch` instead of the network (for example a
    /// mock in tests). Scopes of this client use it too.
    pub fn dispatch(mut self, dispatch: impl Dispatch) -> Self {
        self.dispatch = Some(Arc::new(dispatch));
        self
    }

    /// Builds the client (a blocking client starts its background runtime here).
    ///
    /// # Errors
    ///
    /// An invalid default header, or a runtime that could not be started.
    pub fn build(self) -> Result<C> {
        if let Some(err) = self.error {
            return Err(err);
        }
        C::build_client(BuildParts {
            config: self.config,
            dispatch: self.dispatch,
            executor: self.executor,
        })
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("dispatch", &self.dispatch)
            .finish_non_exhaustive()
    }
}
