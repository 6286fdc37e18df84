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
use par_http_core::{
    AuthHook, Config, CookieStore, Dispatch, Error, ErrorKind, IntoUrl, Proxy, RedirectPolicy,
    Request, Result, Runtime,
};

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
    runtime: Option<Arc<dyn Runtime>>,
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
        let agent = match &parts.runtime {
            Some(runtime) => Agent::with_runtime(runtime.clone()),
            None => Agent::start(parts.executor)?,
        };
        let core = parts.core(agent.runtime().clone());
        Ok(Self::from_parts(core, agent))
    }
}

impl<R: AsyncRuntime> sealed::Sealed for AsyncClientOn<R> {}

impl<R: AsyncRuntime> BuildClient for AsyncClientOn<R> {
    fn build_client(parts: BuildParts) -> Result<Self> {
        let (runtime, executor) = match &parts.runtime {
            Some(runtime) => (runtime.clone(), None),
            None => (R::runtime()?, R::executor()),
        };
        Ok(Self::from_core(parts.core(runtime), executor))
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
    runtime: Option<Arc<dyn Runtime>>,
    error: Option<Error>,
    /// True once `max_idle_per_host` was set; until then it follows the connection cap.
    idle_set: bool,
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
            runtime: None,
            error: None,
            idle_set: false,
            _client: PhantomData,
        }
    }

    /// Open connections per origin, at most (default 100). Further requests wait for a
    /// connection without holding a socket. Unless [`max_idle_per_host`](Self::max_idle_per_host)
    /// is set, a cap above 100 raises the idle cap with it, so that every connection the
    /// client may open can also be kept for reuse.
    pub fn max_connections_per_host(mut self, max: usize) -> Self {
        self.config.max_connections_per_host = max.max(1);
        if !self.idle_set {
            self.config.max_idle_per_host = self
                .config
                .max_connections_per_host
                .max(par_http_core::DEFAULT_MAX_IDLE_PER_HOST);
        }
        self
    }

    /// Idle keep-alive connections kept per origin (default 100, or the connection cap
    /// when that is higher; 0 disables reuse).
    pub fn max_idle_per_host(mut self, max: usize) -> Self {
        self.config.max_idle_per_host = max;
        self.idle_set = true;
        self
    }

    /// How long an idle connection is kept before it is closed (default 90 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    // --- Timeouts -------------------------------------------------------------------
    // Each failure is an error with `is_timeout()`; `Error::timeout_phase` says which
    // limit passed. A limit too long to count (`Duration::MAX`) is no limit. A
    // scope-wide deadline is set per scope: `ParallelConfig::deadline`.

    /// Time allowed to open a connection: name resolution and the TCP connection to
    /// each address together (default 30 s). Past it: [`TimeoutPhase::Connect`].
    ///
    /// [`TimeoutPhase::Connect`]: crate::TimeoutPhase::Connect
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = finite(timeout);
        self
    }

    /// The longest wait for the next byte from the server (default: none): while waiting
    /// for the response head once the request is sent ([`TimeoutPhase::Head`]), and
    /// between two reads of the body that bring bytes ([`TimeoutPhase::Body`]). A
    /// slow but steady server never hits it; one that stalls does.
    ///
    /// [`TimeoutPhase::Head`]: crate::TimeoutPhase::Head
    /// [`TimeoutPhase::Body`]: crate::TimeoutPhase::Body
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = par_http::Client::builder()
    ///     .connect_timeout(Duration::from_secs(5))
    ///     .read_timeout(Duration::from_secs(10))
    ///     .timeout(Duration::from_secs(60))
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.config.read_timeout = finite(timeout);
        self
    }

    /// Time allowed for each request as a whole (default: none): connecting, sending,
    /// the response head and reading the whole body. The deadline travels with the
    /// response: a body still being read when it passes fails with
    /// [`TimeoutPhase::Total`], like a head that has not arrived. A request's own
    /// `.timeout(..)` overrides it. Each redirect hop gets the full time.
    ///
    /// [`TimeoutPhase::Total`]: crate::TimeoutPhase::Total
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = finite(timeout);
        self
    }

    // --- Decompression ----------------------------------------------------------------

    /// Whether response bodies are decompressed (default: on, for the codings enabled by
    /// the crate features `gzip` and `deflate` (default), `brotli` and `zstd`). When on,
    /// requests carry an `Accept-Encoding` naming those codings (unless a request or a
    /// default header sets its own), and a response whose `Content-Encoding` is one of
    /// them is decoded as it is read, without its `Content-Encoding` and
    /// `Content-Length` fields. Off, bodies arrive as sent and no `Accept-Encoding` is
    /// added.
    ///
    /// # Examples
    ///
    /// ```
    /// let raw = par_http::Client::builder().decompress(false).build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn decompress(mut self, enabled: bool) -> Self {
        self.config.set_decompress(enabled);
        self
    }

    /// Turns decompression off: the same as [`decompress(false)`](Self::decompress).
    pub fn no_decompression(self) -> Self {
        self.decompress(false)
    }

    /// The most bytes a decompressed body may have (default 1 GiB,
    /// [`DEFAULT_MAX_DECOMPRESSED_BYTES`](crate::core::DEFAULT_MAX_DECOMPRESSED_BYTES)).
    /// A body that decodes to more fails with an error of kind
    /// [`ErrorKind::Decompress`] whose source is
    /// [`DecompressError::TooLarge`](crate::DecompressError::TooLarge), and its
    /// connection is closed: a small "decompression bomb" cannot fill the memory of
    /// a program that reads the body with `bytes()` or `text()`. It does not limit bodies
    /// sent without compression.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder()
    ///     .max_decompressed_bytes(64 * 1024 * 1024)
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn max_decompressed_bytes(mut self, max: u64) -> Self {
        self.config.max_decompressed_bytes = Some(max);
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

    /// Sends HTTP Basic auth with every request that sets no `Authorization` of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder()
    ///     .basic_auth("ann", Some("secret"))
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn basic_auth(
        mut self,
        user: impl fmt::Display,
        password: Option<impl fmt::Display>,
    ) -> Self {
        let password = password.map(|p| p.to_string());
        let value = par_http_core::basic_auth_header(&user.to_string(), password.as_deref());
        self.config.authorization = Some(value);
        self
    }

    /// Sends a bearer token with every request that sets no `Authorization` of its own.
    /// A token that is not a valid header value makes [`build`](Self::build) fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder().bearer_auth("t0k3n").build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn bearer_auth(mut self, token: impl fmt::Display) -> Self {
        match par_http_core::bearer_auth_header(&token.to_string()) {
            Ok(value) => self.config.authorization = Some(value),
            Err(err) => self.keep_error(err),
        }
        self
    }

    /// Runs `hook` on every request of the client (one-off or in a scope) after its
    /// default headers and credentials are set: it may add or change anything, for
    /// example sign the request. An error it returns becomes that request's error.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder()
    ///     .auth_hook(|request| {
    ///         let token = format!("token-for-{}", request.url.host_str().unwrap_or("none"));
    ///         let value = token.parse().map_err(|_| request.error(par_http::ErrorKind::InvalidRequest))?;
    ///         request.headers.insert("x-api-key", value);
    ///         Ok(())
    ///     })
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn auth_hook(
        mut self,
        hook: impl Fn(&mut Request) -> Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.config.auth_hook = Some(AuthHook::new(hook));
        self
    }

    /// The URL relative request URLs are resolved against (as by [`Url::join`]: keep the
    /// trailing `/` of a base path, `"items"` on `http://h/api/` is `http://h/api/items`,
    /// while `"/items"` is `http://h/items`). An invalid URL makes [`build`](Self::build)
    /// fail.
    ///
    /// [`Url::join`]: par_http_core::Url::join
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let client = par_http::Client::builder()
    ///     .base_url("http://127.0.0.1:8080/api/")
    ///     .build()?;
    /// let user = client.get("users/1").send()?; // http://127.0.0.1:8080/api/users/1
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn base_url(mut self, url: impl IntoUrl) -> Self {
        match url.into_url(None) {
            Ok(url) => self.config.base_url = Some(url),
            Err((_, err)) => self.keep_error(Error::new(ErrorKind::InvalidUrl).with_source(err)),
        }
        self
    }

    /// How redirects are followed: [`RedirectPolicy::limited`] (the default follows 10)
    /// or [`RedirectPolicy::none`]. Every request of the client and of its scopes uses it.
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::RedirectPolicy;
    ///
    /// let strict = par_http::Client::builder().redirect(RedirectPolicy::none()).build()?;
    /// let lenient = par_http::Client::builder()
    ///     .redirect(RedirectPolicy::limited(3).allow_https_downgrade(true))
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn redirect(mut self, policy: RedirectPolicy) -> Self {
        self.config.redirect = policy;
        self
    }

    // --- Proxies and cookies ---

    /// Adds a proxy rule; the first rule that takes a request's URL is its proxy. Once
    /// the builder has a rule, the environment's proxies are not read.
    ///
    /// Without any rule, the client reads the environment once, when it is built, the
    /// way curl does: `http_proxy`, `HTTPS_PROXY` / `https_proxy`, `ALL_PROXY` /
    /// `all_proxy`, limited by `NO_PROXY` / `no_proxy` (see [`Proxy::from_env_with`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use par_http::{NoProxy, Proxy};
    ///
    /// let client = par_http::Client::builder()
    ///     .proxy(Proxy::https("http://proxy.test:3128")?.basic_auth("me", "secret"))
    ///     .proxy(Proxy::all("socks5h://127.0.0.1:1080")?.no_proxy(NoProxy::from_list("localhost")))
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.config.proxies.push(proxy);
        self
    }

    /// No proxy: forgets the rules added so far and does not read the environment.
    pub fn no_proxy(mut self) -> Self {
        self.config.proxies.clear();
        self.config.proxy_from_env = false;
        self
    }

    /// Keeps a cookie store for this client (`true`) or none (`false`, the default): the
    /// `Set-Cookie` fields of every response, each redirect hop included, are stored, and
    /// every request, one-off or in a scope, sends the cookies that match its URL.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder().cookie_store(true).build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    #[cfg(feature = "cookies")]
    pub fn cookie_store(mut self, enabled: bool) -> Self {
        self.config.cookie_store = if enabled {
            Some(Arc::new(par_http_core::Jar::default()))
        } else {
            None
        };
        self
    }

    /// Uses `store` as this client's cookie store: share one between clients, or load and
    /// save it (see [`Jar`](crate::Jar)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "cookies")] {
    /// use std::sync::Arc;
    ///
    /// let jar = Arc::new(par_http::Jar::default());
    /// let one = par_http::Client::builder().cookie_provider(jar.clone()).build()?;
    /// let two = par_http::Client::builder().cookie_provider(jar.clone()).build()?;
    /// # }
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn cookie_provider<S: CookieStore>(mut self, store: Arc<S>) -> Self {
        self.config.cookie_store = Some(store);
        self
    }

    // --- TLS (https) ---

    /// Trusts the certificates in `pem` (one or more `BEGIN CERTIFICATE` blocks) as root
    /// CAs for `https`, in addition to the built-in roots. Use it for a private CA.
    /// Invalid PEM makes [`build`](Self::build) fail with an
    /// [`ErrorKind::TlsConfig`] error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let ca = std::fs::read("company-ca.pem").expect("the CA file");
    /// let client = par_http::Client::builder()
    ///     .add_root_certificate_pem(&ca)
    ///     .build()?;
    /// let response = client.get("https://intranet.example/").send()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        if let Err(err) = self.config.tls.add_root_certificate_pem(pem) {
            self.keep_error(err);
        }
        self
    }

    /// The client certificate chain (leaf first) and private key, both PEM, presented to
    /// servers that ask for one (mutual TLS). The key may be PKCS#8, PKCS#1 (RSA) or SEC1
    /// (EC). Invalid PEM, or a key that does not match the certificate, makes
    /// [`build`](Self::build) fail with an [`ErrorKind::TlsConfig`] error.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let cert = std::fs::read("client.crt").expect("the certificate");
    /// let key = std::fs::read("client.key").expect("the key");
    /// let client = par_http::Client::builder().identity_pem(&cert, &key).build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        if let Err(err) = self.config.tls.set_identity_pem(cert_chain_pem, key_pem) {
            self.keep_error(err);
        }
        self
    }

    /// Whether the built-in root certificates are trusted (default `true`): webpki-roots,
    /// or the operating system's store with the `native-roots` feature. With `false`, only
    /// the roots added by [`add_root_certificate_pem`](Self::add_root_certificate_pem)
    /// are trusted.
    pub fn tls_built_in_root_certs(mut self, enabled: bool) -> Self {
        self.config.tls.built_in_roots = enabled;
        self
    }

    /// Turns off verification of server certificates for `https` (default `false`).
    ///
    /// **Dangerous.** Any certificate is accepted: expired, self-signed, from an unknown
    /// CA, or issued for another host name. The connection is still encrypted, but to
    /// whoever answers, so anyone on the network path can impersonate the server, read
    /// the requests (credentials included) and change the responses. Use it only against
    /// throwaway test servers; to trust a private CA, use
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem) instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder()
    ///     .danger_accept_invalid_certs(true) // test server with a self-signed certificate
    ///     .build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.config.tls.danger_accept_invalid_certs = accept;
        self
    }

    // --- end of TLS ---

    /// Speaks HTTP/1.1 only: ALPN offers `http/1.1` alone, so every request goes over
    /// HTTP/1.1 even to servers that would choose HTTP/2.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder().http1_only().build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn http1_only(mut self) -> Self {
        self.config.http_versions = par_http_core::HttpVersionPolicy::Http1Only;
        self
    }

    /// Speaks HTTP/2 from the first byte, without negotiation: on `http` URLs that is h2c
    /// with prior knowledge (RFC 9113 §3.3), for servers known to accept it. Needs the
    /// `http2` feature (on by default); without it, requests fail with an
    /// invalid-request error.
    ///
    /// By default (neither this nor [`http1_only`](Self::http1_only)), HTTP/2 is used
    /// over TLS when the server chooses it by ALPN, and `http` URLs use HTTP/1.1.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = par_http::Client::builder().http2_prior_knowledge().build()?;
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.config.http_versions = par_http_core::HttpVersionPolicy::Http2PriorKnowledge;
        self
    }

    fn keep_error(&mut self, err: Error) {
        if self.error.is_none() {
            self.error = Some(err);
        }
    }

    /// Retries failed requests under `policy` (default: no retries): connect errors,
    /// timeouts before any response byte and 429/502/503/504 by default, with backoff
    /// and `Retry-After`, within a budget shared by all the client's requests, for
    /// idempotent requests whose body is in memory. A scope
    /// ([`ParallelConfig::retry`](crate::ParallelConfig::retry)) or a request (`.retry(..)`)
    /// may set its own. Responses and errors say how many attempts were made
    /// (`attempts()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http::RetryPolicy;
    ///
    /// let client = par_http::Client::builder()
    ///     .retry(RetryPolicy::new().max_attempts(4).backoff(
    ///         Duration::from_millis(200),
    ///         Duration::from_secs(5),
    ///     ))
    ///     .build()?;
    /// # drop(client);
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn retry(mut self, policy: crate::RetryPolicy) -> Self {
        self.config.retry = Some(Arc::new(policy));
        self
    }

    /// Hedges idempotent requests under `policy` (default: no hedging): when a request's
    /// response head has not arrived after the policy's delay (fixed, or the observed
    /// 95th percentile), another copy goes out on another connection, the first head wins
    /// and the other copy is cancelled (its connection closed). Hedges spend from the
    /// client's retry budget. A scope
    /// ([`ParallelConfig::hedge`](crate::ParallelConfig::hedge)) or a request (`.hedge(..)`)
    /// may set its own. Responses and errors say how many copies were added (`hedges()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use par_http::HedgePolicy;
    ///
    /// let client = par_http::Client::builder()
    ///     .hedge(HedgePolicy::after(Duration::from_millis(50)))
    ///     .build()?;
    /// # drop(client);
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn hedge(mut self, policy: crate::HedgePolicy) -> Self {
        self.config.hedge = Some(Arc::new(policy));
        self
    }

    /// Runs the client's requests on an application's own `runtime` instead of one of
    /// par-http's (see [`Runtime`] for the contract: spawned tasks cancelled on drop, IO
    /// and timers that make progress whichever thread polls them). Scopes, the pool, TLS
    /// and every policy work the same on it. A blocking client starts no thread of its
    /// own then: its calls park until the runtime completes what they wait for.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "smol")] {
    /// use std::sync::Arc;
    ///
    /// // smol's runtime on an executor the application runs on its own threads.
    /// let executor = Arc::new(async_executor::Executor::new());
    /// let runtime = Arc::new(par_http::smol::SmolRuntime::with_executor(executor.clone()));
    /// let client = par_http::smol::AsyncClient::builder().runtime(runtime).build()?;
    /// # drop(client);
    /// # }
    /// # Ok::<(), par_http::Error>(())
    /// ```
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = Some(runtime);
        self
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
            runtime: self.runtime,
        })
    }
}

/// A time limit, or none for one too long to count (such as `Duration::MAX`).
fn finite(limit: Duration) -> Option<Duration> {
    std::time::Instant::now().checked_add(limit).map(|_| limit)
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("dispatch", &self.dispatch)
            .finish_non_exhaustive()
    }
}
